"""Shared pieces of the Cascade benchmarks (not a benchmark itself).

This module is imported by ``forward_show.py`` and ``list_fanout.py`` and is also
the entry point of every child process they start, so that the load generator
never shares an event loop with the servers it measures::

    python bench/_benchlib.py stub    --name RegionOne [--list-delay 0.05]
    python bench/_benchlib.py bare    --backend http://127.0.0.1:PORT
    python bench/_benchlib.py cascade --config cascade.conf [--log-level warning]
    python bench/_benchlib.py load    --base URL --ids-file F --concurrency 32 ...

Server roles bind an ephemeral loopback port and print ``READY <port> <pid>`` on
stdout once they serve; the load role prints one JSON document with its results.
Only aiohttp (and Cascade itself for the ``cascade`` role) is needed; uvloop is
used when it happens to be installed.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import hashlib
import itertools
import json
import logging
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable

IMAGE_ID = "8a1a2f3e-6c1d-4f6b-9a55-2f0e7d1c0a01"
#: noauth's user:project, or (bench/api_workers.py) a real Keystone token.
TOKEN = os.environ.get("CASCADE_BENCH_TOKEN") or "bench-user:bench-project"
HEADERS = {"X-Auth-Token": TOKEN}


# ---------------------------------------------------------------------------
# event loop
# ---------------------------------------------------------------------------

def loop_name() -> str:
    try:
        import uvloop  # noqa: F401  (probe only)
    except ImportError:
        return "asyncio (uvloop not installed)"
    return "uvloop"


def run(coro: Any) -> Any:
    """asyncio.run, on uvloop when it is installed (never required)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------

def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize_ms(latencies_s: Iterable[float]) -> dict[str, float]:
    lat = sorted(x * 1000.0 for x in latencies_s)
    return {"n": len(lat), "p50": percentile(lat, 50), "p90": percentile(lat, 90),
            "p99": percentile(lat, 99), "max": lat[-1] if lat else float("nan"),
            "min": lat[0] if lat else float("nan"),
            "mean": sum(lat) / len(lat) if lat else float("nan")}


# ---------------------------------------------------------------------------
# the stub regional cloud (Nova subset, plus Keystone token and version docs)
# ---------------------------------------------------------------------------

def _server_doc(base: str, sid: str, name: str, project: str, user: str,
                metadata: dict[str, Any], created: str, zone: str) -> dict[str, Any]:
    """A Nova 2.90-style server, about 2 KB serialized (addresses, links, extensions)."""
    mac = hashlib.md5(sid.encode()).hexdigest()
    octet = int(mac[:2], 16)
    return {
        "id": sid, "name": name, "status": "ACTIVE", "tenant_id": project, "user_id": user,
        "metadata": metadata,
        "hostId": hashlib.sha224((project + "compute-7").encode()).hexdigest(),
        "image": {"id": IMAGE_ID, "links": [
            {"rel": "bookmark", "href": f"{base}/compute/images/{IMAGE_ID}"}]},
        "flavor": {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
                   "original_name": "m1.tiny", "extra_specs": {"hw_rng:allowed": "True"}},
        "created": created, "updated": created,
        "addresses": {"private": [
            {"version": 4, "addr": f"10.0.{octet}.{int(mac[2:4], 16)}",
             "OS-EXT-IPS:type": "fixed",
             "OS-EXT-IPS-MAC:mac_addr": f"fa:16:3e:{mac[4:6]}:{mac[6:8]}:{mac[8:10]}"},
            {"version": 6, "addr": f"fd5e:2c4a:81b3:0:f816:3eff:fe{mac[4:6]}:{mac[6:10]}",
             "OS-EXT-IPS:type": "fixed",
             "OS-EXT-IPS-MAC:mac_addr": f"fa:16:3e:{mac[4:6]}:{mac[6:8]}:{mac[8:10]}"},
            {"version": 4, "addr": f"172.24.4.{octet}", "OS-EXT-IPS:type": "floating",
             "OS-EXT-IPS-MAC:mac_addr": f"fa:16:3e:{mac[4:6]}:{mac[6:8]}:{mac[8:10]}"}]},
        "accessIPv4": "", "accessIPv6": "",
        "links": [{"rel": "self", "href": f"{base}/compute/v2.1/servers/{sid}"},
                  {"rel": "bookmark", "href": f"{base}/compute/servers/{sid}"}],
        "OS-DCF:diskConfig": "MANUAL", "progress": 0,
        "OS-EXT-AZ:availability_zone": zone, "config_drive": "", "key_name": "bench-key",
        "OS-SRV-USG:launched_at": created.replace("Z", ".000000"),
        "OS-SRV-USG:terminated_at": None,
        "security_groups": [{"name": "default"}, {"name": "ssh"}],
        "OS-EXT-STS:task_state": None, "OS-EXT-STS:vm_state": "active",
        "OS-EXT-STS:power_state": 1,
        "os-extended-volumes:volumes_attached": [
            {"id": str(uuid.UUID(mac)), "delete_on_termination": False}],
        "locked": False, "locked_reason": None, "description": f"benchmark server {name}",
        "tags": ["bench", "cascade"], "trusted_image_certificates": None,
        "host_status": "UP", "server_groups": [], "pinned_availability_zone": None,
    }


def json_answer(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    """A stub region's JSON answer, with a request id as OpenStack services send."""
    from aiohttp import web

    hdrs = {"x-openstack-request-id": f"req-{uuid.uuid4()}"}
    if headers:
        hdrs.update(headers)
    return web.Response(body=body, status=status, content_type="application/json",
                        headers=hdrs)


class StubBase:
    """What every stub region answers alike: Nova's version document and a token."""

    base = ""  # the stub's own URL, set once its port is known
    _json = staticmethod(json_answer)

    async def version(self, request: Any) -> Any:
        return self._json(json.dumps({"version": {
            "id": "v2.1", "status": "CURRENT", "version": "2.90", "min_version": "2.1",
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{self.base}/compute/v2.1/"}]}}).encode())

    async def token(self, request: Any) -> Any:
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
        body = json.dumps({"token": {"expires_at": expires, "catalog": []}}).encode()
        return self._json(body, status=201, headers={"X-Subject-Token": "bench-service-token"})


class StubNova(StubBase):
    """A deliberately cheap Nova: bodies are serialized once, at create time."""

    def __init__(self, name: str, list_delay: float = 0.0) -> None:
        self.name = name
        self.list_delay = list_delay
        self.hang = False
        self.base = ""
        self.bodies: dict[str, bytes] = {}          # local id -> '{"server": {...}}'
        self.items: dict[str, bytes] = {}           # local id -> '{...}' (for lists)
        self.owned: dict[str, dict[str, bytes]] = {}  # project -> its items, as Nova lists
        self.global_ids: dict[str, str] = {}        # global id -> local id
        self._clock = itertools.count()
        self._never = asyncio.Event()
        self.list_times: list[tuple[float, float]] = []   # (arrival, answer) wall clock

    def app(self) -> Any:
        from aiohttp import web

        app = web.Application()
        app.router.add_routes([
            web.get("/compute/v2.1", self.version),
            web.post("/compute/v2.1/servers", self.create),
            web.get("/compute/v2.1/servers/detail", self.list_detail),
            web.get("/compute/v2.1/servers/{id}", self.show),
            web.get("/compute/v2.1/flavors/detail", self.flavors),
            web.get("/image/", self.image_versions),
            web.get("/network/", self.network_versions),
            web.post("/identity/v3/auth/tokens", self.token),
            web.get("/_bench/ids", self.ids),
            web.get("/_bench/list_times", self.get_list_times),
            web.post("/_bench/hang", self.set_hang),
        ])
        return app


    async def image_versions(self, request: Any) -> Any:
        return self._json(b'{"versions": [{"id": "v2.17", "status": "CURRENT"}]}', status=300)

    async def network_versions(self, request: Any) -> Any:
        return self._json(b'{"versions": [{"id": "v2.0", "status": "CURRENT"}]}')

    async def flavors(self, request: Any) -> Any:
        # Cascade sizes a new server from its region's flavors (quota admission).
        return self._json(json.dumps({"flavors": [{
            "id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1,
            "OS-FLV-EXT-DATA:ephemeral": 0, "swap": 0, "rxtx_factor": 1.0,
            "os-flavor-access:is_public": True,
            "links": [{"rel": "self", "href": f"{self.base}/compute/v2.1/flavors/1"}]}]}).encode())

    async def create(self, request: Any) -> Any:
        server = (await request.json())["server"]
        token = request.headers.get("X-Auth-Token", "u:p")
        user, _, project = token.partition(":")
        project = project.split(":")[0]
        sid = str(uuid.uuid4())
        tick = next(self._clock)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1767225600 + tick))
        metadata = dict(server.get("metadata") or {})
        doc = _server_doc(self.base, sid, server["name"], project, user, metadata, created,
                          server.get("availability_zone") or "nova")
        item = json.dumps(doc).encode()
        self.items[sid] = item
        self.owned.setdefault(project, {})[sid] = item
        self.bodies[sid] = b'{"server": ' + item + b"}"
        if "cascade_global_id" in metadata:
            self.global_ids[metadata["cascade_global_id"]] = sid
        links = doc["links"]
        return self._json(json.dumps({"server": {
            "id": sid, "links": links, "adminPass": "bench-pw",
            "security_groups": [{"name": "default"}], "OS-DCF:diskConfig": "MANUAL"}}).encode(),
            status=202, headers={"Location": links[0]["href"]})

    async def show(self, request: Any) -> Any:
        body = self.bodies.get(request.match_info["id"])
        if body is None:
            return self._json(b'{"itemNotFound": {"code": 404, "message": '
                              b'"Instance could not be found."}}', status=404)
        return self._json(body)

    async def list_detail(self, request: Any) -> Any:
        arrival = time.time()
        if self.hang:
            await self._never.wait()   # never set: the region hangs forever
        if self.list_delay:
            await asyncio.sleep(self.list_delay)
        # Like Nova: the caller's project's servers (all with all_tenants), newest
        # first (created_at desc, Nova's default order).
        if request.query.get("all_tenants"):
            items = self.items
        else:
            token = request.headers.get("X-Auth-Token", "u:p")
            items = self.owned.get(token.partition(":")[2].split(":")[0], {})
        body = b'{"servers": [' + b", ".join(reversed(list(items.values()))) + b"]}"
        resp = self._json(body)
        self.list_times.append((arrival, time.time()))
        del self.list_times[:-1000]
        return resp

    async def get_list_times(self, request: Any) -> Any:
        return self._json(json.dumps(self.list_times).encode())

    async def ids(self, request: Any) -> Any:
        return self._json(json.dumps(self.global_ids).encode())

    async def set_hang(self, request: Any) -> Any:
        self.hang = bool((await request.json()).get("hang"))
        return self._json(json.dumps({"hang": self.hang}).encode())


# ---------------------------------------------------------------------------
# server child processes
# ---------------------------------------------------------------------------

async def _serve(app: Any, on_bound: Callable[[int], None] | None = None) -> None:
    """Serve ``app`` on 127.0.0.1:<ephemeral>, print READY, run until SIGTERM/SIGINT."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()            # runs the app's start-up (Cascade: migrate, probe)
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if on_bound:
        on_bound(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {port} {os.getpid()}", flush=True)
    await stop.wait()
    await runner.cleanup()


def _role_stub(args: argparse.Namespace) -> None:
    stub = StubNova(args.name, list_delay=args.list_delay)

    def bound(port: int) -> None:
        stub.base = f"http://127.0.0.1:{port}"

    run(_serve(stub.app(), bound))


def _role_bare(args: argparse.Namespace) -> None:
    """The reference: the least an aiohttp proxy can do for GET /servers/{id}."""
    import aiohttp
    from aiohttp import web

    backend = args.backend.rstrip("/")

    async def show(request: web.Request) -> web.Response:
        async with request.app["session"].get(
                f"{backend}/compute/v2.1/servers/{request.match_info['id']}",
                headers={"X-Auth-Token": request.headers.get("X-Auth-Token", "")}) as resp:
            body = await resp.read()
            return web.Response(body=body, status=resp.status,
                                content_type="application/json")

    async def session_ctx(app: web.Application) -> Any:
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200, limit_per_host=50)) as session:
            app["session"] = session
            yield

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/compute/v2.1/servers/{id}", show)
    run(_serve(app))


def _memoize_resolve() -> None:
    """EXPERIMENT ONLY (--what-if cached-resolve): keep each server's (resource,
    placement) lookup in a dict in this process, to measure what Cascade's show path
    would cost without a database round trip. Not a fix: it ignores invalidation."""
    try:
        from cascade.compute import server_ops
    except ImportError:  # a checkout from before the compute service left api/
        from api.compute import server_ops  # type: ignore[no-redef]

    cls = server_ops.Servers
    name = next((n for n in ("resolve", "_resolve") if hasattr(cls, n)), None)
    if name is None:
        print("what-if: Servers.resolve not found; running unpatched", file=sys.stderr)
        return
    orig = getattr(cls, name)
    cache: dict[tuple[str, Any], Any] = {}

    async def memo(self: Any, ctx: Any, global_id: str) -> Any:
        key = (global_id, True if ctx.is_admin else ctx.project_id)
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = await orig(self, ctx, global_id)
        return hit
    setattr(cls, name, memo)


def _role_cascade(args: argparse.Namespace) -> None:
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.path.insert(0, args.src or str(REPO))
    from cascade import config
    from cascade.app import create_app
    from cascade.auth.identity import NoAuth

    conf = config.load(["--config-file", args.config])
    app = create_app(conf, authenticator=NoAuth(), migrate_db=True, background=False)
    # as cascade-api does (cascade/cmd/api.py): start-up objects out of the collector's way
    import gc
    gc.freeze()
    if args.what_if == "cached-resolve":
        _memoize_resolve()
    run(_serve(app))


# ---------------------------------------------------------------------------
# load generator child process
# ---------------------------------------------------------------------------

async def _load(args: argparse.Namespace) -> dict[str, Any]:
    """Closed-loop load: ``concurrency`` workers, each sending its next request on reply.

    Duration mode: replies completing inside the measurement window (after
    ``warmup`` seconds) count. Count mode: the first ``warmup_requests`` sent
    do not count, the next ``requests`` do.
    """
    import aiohttp

    ids = json.loads(Path(args.ids_file).read_text())
    base = args.base.rstrip("/")
    urls = [f"{base}/{i}" for i in ids] if ids else [base]
    cycle = itertools.cycle(urls)
    lat: list[float] = []
    errors: dict[str, int] = {}
    st: dict[str, Any] = {"measuring": False, "done": False, "sent": 0,
                          "t_first": None, "t_last": 0.0}
    perf = time.perf_counter
    count_mode = args.requests > 0
    total = args.requests + args.warmup_requests
    connector = aiohttp.TCPConnector(limit=args.concurrency, limit_per_host=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     headers=HEADERS) as session:
        async def worker() -> None:
            while not st["done"]:
                idx = st["sent"]
                if count_mode and idx >= total:
                    return
                st["sent"] = idx + 1
                url = next(cycle)
                t0 = perf()
                if count_mode and idx == args.warmup_requests:
                    st["t_first"] = t0
                try:
                    async with session.get(url) as resp:
                        await resp.read()
                        status = resp.status
                except Exception as exc:  # noqa: BLE001 - counted, not fatal
                    key = type(exc).__name__
                    errors[key] = errors.get(key, 0) + 1
                    continue
                t1 = perf()
                if status != 200:
                    errors[str(status)] = errors.get(str(status), 0) + 1
                    continue
                if (idx >= args.warmup_requests) if count_mode else st["measuring"]:
                    lat.append(t1 - t0)
                    st["t_last"] = t1

        c_start = time.process_time()
        workers = [asyncio.ensure_future(worker()) for _ in range(args.concurrency)]
        if count_mode:
            await asyncio.gather(*workers)
            elapsed = st["t_last"] - (st["t_first"] or st["t_last"])
            cpu = time.process_time() - c_start
        else:
            await asyncio.sleep(args.warmup)
            st["measuring"] = True
            c0, t0 = time.process_time(), perf()
            await asyncio.sleep(args.duration)
            st["measuring"] = False
            elapsed, cpu = perf() - t0, time.process_time() - c0
            st["done"] = True
            await asyncio.gather(*workers, return_exceptions=True)

    out = {"concurrency": args.concurrency, "elapsed_s": elapsed, "ok": len(lat),
           "errors": errors, "rps": len(lat) / elapsed if elapsed > 0 else 0.0,
           "loadgen_cpu_s": cpu, "total_sent": st["sent"]}
    out.update(summarize_ms(lat))
    return out


def _role_load(args: argparse.Namespace) -> None:
    print(json.dumps(run(_load(args))), flush=True)


def child_main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="benchmark child process (internal)")
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("stub")
    p.add_argument("--name", default="RegionOne")
    p.add_argument("--list-delay", type=float, default=0.0)
    p = sub.add_parser("bare")
    p.add_argument("--backend", required=True)
    p = sub.add_parser("cascade")
    p.add_argument("--config", required=True)
    p.add_argument("--log-level", default="warning")
    p.add_argument("--src", default="", help="source tree to import Cascade from")
    p.add_argument("--what-if", default="", choices=["", "cached-resolve"])
    p = sub.add_parser("load")
    p.add_argument("--base", required=True, help="URL prefix; ids are appended")
    p.add_argument("--ids-file", required=True)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--requests", type=int, default=0, help="count mode instead of duration")
    p.add_argument("--warmup-requests", type=int, default=0)
    p.add_argument("--request-timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    {"stub": _role_stub, "bare": _role_bare, "cascade": _role_cascade,
     "load": _role_load}[args.role](args)


# ---------------------------------------------------------------------------
# parent side: processes, configuration, databases
# ---------------------------------------------------------------------------

def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if the benchmark dies (Linux prctl)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def pin(child: "Child", cpu: int) -> None:
    """Keep ``child`` on one CPU (no-op where affinity is unsupported or the CPU is missing)."""
    with contextlib.suppress(OSError, AttributeError):
        if cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(child.popen.pid, {cpu})


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Child:
    """One started child process."""

    def __init__(self, name: str, popen: subprocess.Popen[str], log: Path) -> None:
        self.name = name
        self.popen = popen
        self.log = log
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""


class Children:
    """Starts and always stops the benchmark's child processes (only those)."""

    def __init__(self, workdir: Path, src: Path | None = None) -> None:
        self.workdir = workdir
        self.src = src or REPO          # where the Cascade code comes from
        self.children: list[Child] = []

    def __enter__(self) -> "Children":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_all()

    def spawn(self, name: str, role_args: Sequence[str], *, ready: bool = True,
              timeout: float = 60.0) -> Child:
        log = self.workdir / f"{name}.log"
        if role_args and role_args[0] == "cascade":
            role_args = [*role_args, "--src", str(self.src)]
        cmd = [PYTHON, str(HERE / "_benchlib.py"), *role_args]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(self.src), os.environ.get("PYTHONPATH", "")) if p))
        with log.open("w") as err:
            popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                     cwd=str(self.workdir), env=env,
                                     preexec_fn=_die_with_parent)
        child = Child(name, popen, log)
        self.children.append(child)
        if ready:
            line = self._readline(child, timeout)
            parts = line.split()
            if len(parts) != 3 or parts[0] != "READY":
                hint = ("\n(Cascade is imported from the working tree, which may be "
                        "mid-edit: try --git-ref HEAD)" if self.src == REPO else "")
                raise RuntimeError(f"{name} did not start (got {line!r}); log:\n"
                                   f"{child.log_tail()}{hint}")
            child.port = int(parts[1])
        return child

    @staticmethod
    def _readline(child: Child, timeout: float) -> str:
        assert child.popen.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([child.popen.stdout], [], [], 0.2)
            if r:
                return child.popen.stdout.readline().strip()
            if child.popen.poll() is not None:
                break
        return ""

    def run_load(self, name: str, role_args: Sequence[str], timeout: float = 300,
                 pin_cpu: int | None = None) -> dict[str, Any]:
        child = self.spawn(name, ["load", *role_args], ready=False)
        if pin_cpu is not None:
            with contextlib.suppress(OSError, AttributeError):
                os.sched_setaffinity(child.popen.pid, {pin_cpu})
        try:
            out, _ = child.popen.communicate(timeout=timeout)
        finally:
            self.stop(child)
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError(f"load generator failed; log:\n{child.log_tail()}") from None

    def stop(self, child: Child, timeout: float = 10.0) -> None:
        if child not in self.children:
            return
        self.children.remove(child)
        if child.popen.poll() is None:
            child.popen.terminate()
            try:
                child.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                child.popen.kill()
                child.popen.wait(5)
        if child.popen.stdout:
            child.popen.stdout.close()

    def kill_hard(self, child: Child) -> None:
        """SIGKILL (a region that dies without goodbye); its port is then closed."""
        child.popen.kill()
        child.popen.wait(10)
        self.children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.children)):
            with contextlib.suppress(Exception):
                self.stop(child)


def write_cascade_conf(path: Path, db_url: str, regions: dict[str, str], *,
                       region_timeout: float = 10.0, connect_timeout: float = 2.0,
                       auth_base: str | None = None, lean_get: bool = True) -> Path:
    """A cascade.conf: noauth, endpoint overrides to the stub regions, given database;
    ``lean_get`` False sends GETs through aiohttp too ([api] region_lean_get)."""
    auth = (auth_base or next(iter(regions.values()))) + "/identity/v3"
    lines = [f"[DEFAULT]\nregions = {','.join(regions)}\nstate_path = {path.parent}\n",
             f"[database]\nconnection = {db_url}\n",
             f"[api]\nauth_strategy = noauth\nregion_timeout = {region_timeout}\n"
             f"region_connect_timeout = {connect_timeout}\n"
             f"region_lean_get = {str(lean_get).lower()}\n",
             f"[service_credentials]\nauth_url = {auth}\npassword = bench\n",
             # the benchmarks create more servers than a project's default quota
             "[quota]\ninstances = -1\ncores = -1\nram = -1\n"]
    for name, base in regions.items():
        lines.append(f"[region_{name}]\ncompute_endpoint = {base}/compute/v2.1\n"
                     f"image_endpoint = {base}/image\nnetwork_endpoint = {base}/network\n")
    path.write_text("\n".join(lines))
    return path


class Database:
    """A throwaway database: SQLite file in the work dir, or a fresh PostgreSQL one."""

    def __init__(self, kind: str, workdir: Path, pg_dsn: str) -> None:
        self.kind = kind
        self.workdir = workdir
        self.pg_dsn = pg_dsn.rstrip("/")
        self.name = f"cascade_bench_{uuid.uuid4().hex[:10]}"
        self.url = ""

    def _admin_dsn(self) -> str:
        return self.pg_dsn + "/postgres"

    def __enter__(self) -> "Database":
        if self.kind == "sqlite":
            self.url = f"sqlite+aiosqlite:///{self.workdir}/cascade.sqlite"
            return self
        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(self._admin_dsn())
            try:
                await conn.execute(f'CREATE DATABASE "{self.name}"')
            finally:
                await conn.close()
        asyncio.run(create())
        host = self.pg_dsn.split("://", 1)[1]
        self.url = f"postgresql+asyncpg://{host}/{self.name}"
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.kind != "postgresql":
            return
        import asyncpg

        async def drop() -> None:
            conn = await asyncpg.connect(self._admin_dsn())
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            finally:
                await conn.close()
        with contextlib.suppress(Exception):
            asyncio.run(drop())


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite",
                        help="Cascade's database: SQLite file (default) or a throwaway "
                             "PostgreSQL database created and dropped on --pg-dsn")
    parser.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server (trust auth) for --db postgresql "
                             "(default: %(default)s)")
    parser.add_argument("--cascade-log-level", default="warning",
                        choices=["debug", "info", "warning"],
                        help="root log level inside the Cascade process (default warning; "
                             "cascade-api under oslo.log logs at info)")
    parser.add_argument("--git-ref", metavar="REF",
                        help="run Cascade from `git archive REF` extracted into the work dir "
                             "(e.g. HEAD) instead of the working tree: reproducible numbers "
                             "while the tree is being edited")
    parser.add_argument("--keep-workdir", action="store_true",
                        help="keep the temporary directory with child logs")


def cascade_source(ref: str | None, workdir: Path) -> tuple[Path, str]:
    """(tree to import Cascade from, description): the working tree, or ``ref``
    extracted with ``git archive`` (read-only for the repository)."""
    if not ref:
        return REPO, describe_working_tree()
    dest = workdir / "cascade-src"
    dest.mkdir()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", ref],
                            capture_output=True, text=True, check=True).stdout.strip()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref,
                              "cascade", "api", "mapping", "sync"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest, f"{commit} ({ref}, from git archive; working tree not used)"


def describe_working_tree() -> str:
    git = "?"
    with contextlib.suppress(Exception):
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                "cascade", "api", "mapping", "sync"],
                               capture_output=True, text=True, timeout=10).stdout.splitlines()
        git = head + (f" + uncommitted changes in {len(dirty)} Cascade files (working tree)"
                      if dirty else " (working tree, clean)")
    return git


def machine_info() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import aiohttp
    import sqlalchemy

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"cpus": str(os.cpu_count()), "model": model, "loadavg": load,
            "python": sys.version.split()[0], "aiohttp": aiohttp.__version__,
            "sqlalchemy": sqlalchemy.__version__, "loop": loop_name()}


def workdir(keep: bool) -> Any:
    if keep:
        path = Path(tempfile.mkdtemp(prefix="cascade-bench-"))
        print(f"work dir (kept): {path}")
        return contextlib.nullcontext(str(path))
    return tempfile.TemporaryDirectory(prefix="cascade-bench-")


async def create_servers(cascade_url: str, per_region: dict[str, int],
                         concurrency: int = 8) -> list[str]:
    """Create servers through Cascade (which writes their mappings); their global ids."""
    import aiohttp

    jobs = [(zone, i) for zone, n in per_region.items() for i in range(n)]
    ids: list[str] = []
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        async def one(zone: str, i: int) -> None:
            body = {"server": {"name": f"bench-{zone}-{i}", "flavorRef": "1",
                               "imageRef": IMAGE_ID, "networks": "none",
                               "availability_zone": zone}}
            async with sem, session.post(f"{cascade_url}/compute/v2.1/servers",
                                         json=body) as resp:
                data = await resp.json(content_type=None)
                if resp.status != 202:
                    raise RuntimeError(f"create via Cascade failed: {resp.status} {data}")
                ids.append(data["server"]["id"])
        await asyncio.gather(*(one(z, i) for z, i in jobs))
    return ids


def fmt_row(cells: Sequence[Any], widths: Sequence[int]) -> str:
    return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (also readable on a terminal)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = [fmt_row(header, widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [fmt_row(r, widths) for r in rows]
    return "\n".join(out)


# ---------------------------------------------------------------------------
# py-spy raw output -> where the time goes
# ---------------------------------------------------------------------------

_PROJECT_DIRS = ("cascade/", "api/", "mapping/", "sync/")


def _short(path: str) -> str:
    if "/cascade-src/" in path:                    # --git-ref snapshot in the work dir
        return path.split("/cascade-src/", 1)[1]
    for marker in ("/site-packages/", "/lib/python3."):
        if marker in path:
            rest = path.split(marker, 1)[1]
            return rest if marker == "/site-packages/" else "stdlib/" + rest.split("/", 1)[1]
    if path.startswith(str(REPO) + "/"):
        return path[len(str(REPO)) + 1:]
    return path


def _frame(raw: str) -> tuple[str, str]:
    """'func (path:line)' -> ('short/path.py:func', package)."""
    func, _, loc = raw.rpartition(" (")
    path = loc.rstrip(")").rsplit(":", 1)[0]
    short = _short(path)
    if short.startswith(_PROJECT_DIRS):
        pkg = "Cascade code"
    elif short.startswith("stdlib/"):
        pkg = "stdlib " + short[7:].split("/", 1)[0].removesuffix(".py")
    elif short.startswith("<sqlalchemy"):
        pkg = "sqlalchemy"
    else:
        pkg = short.split("/", 1)[0].removesuffix(".py")
    return f"{short}:{func or raw}", pkg


def _line(raw: str) -> str:
    func, _, loc = raw.rpartition(" (")
    path, _, line = loc.rstrip(")").rpartition(":")
    return f"{_short(path)}:{line} ({func})"


#: Phases of SQLAlchemy work inside greenlet_spawn, by a function on the stack.
_ORM_PHASES = (
    ("result_processor", "JSON column decode (resources.spec/attrs)"),
    ("loading.py:instances", "ORM rows -> objects"),
    ("_compile_w_cache", "statement compile / cache lookup"),
    ("_connection_for_bind", "session begin, pool checkout"),
    ("Session.close", "session close, pool return (rollback)"),
    ("Session.commit", "commit / flush"),
    ("_execute_context", "execute: DBAPI call through the async adapter"),
)

#: Samples of the event-loop thread with no Cascade frame, by what they are doing.
_LOOP_BUCKETS = (
    ("client_proto.py", "aiohttp client protocol: reading regional responses"),
    ("aiohttp/web_protocol.py", "aiohttp server protocol: parse request / write response"),
    ("aiohttp/", "aiohttp other"),
    ("aiosqlite/", "aiosqlite loop side"),
    ("sqlalchemy", "SQLAlchemy loop side"),
    ("stdlib/asyncio", "asyncio event loop: select, callbacks, task steps"),
    ("stdlib/selectors", "asyncio event loop: select, callbacks, task steps"),
)


class PySpyProfile:
    """``py-spy record --gil -t -f raw`` output, digested.

    Only samples of a thread holding the GIL are recorded, i.e. Python work;
    waiting in epoll or queue.get (idle) and GIL-free C code are not.

    Event-loop thread: samples charged to the innermost Cascade frame (library
    work is billed to the Cascade line that asked for it); SQLAlchemy runs the ORM
    inside greenlets whose stacks do not link back to the calling coroutine, so
    greenlet-rooted stacks get their own bucket. Other threads (aiosqlite's
    worker) are tallied by line.
    """

    def __init__(self, path: Path, rate: float, seconds: float, requests: float) -> None:
        self.rate, self.seconds, self.requests = rate, seconds, max(1.0, requests)
        self.threads: Counter[str] = Counter()
        self.owner: Counter[str] = Counter()
        self.inclusive: Counter[str] = Counter()
        self.leaf_pkg: Counter[str] = Counter()
        self.worker_lines: Counter[str] = Counter()
        self.callee: Counter[str] = Counter()
        self.main = 0
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                self._add(stack.split(";"), int(count))

    def _add(self, raw: list[str], n: int) -> None:
        tname = raw[0].split(": ", 1)[-1] if raw[0].startswith("thread (") else "?"
        raw = raw[1:] if raw[0].startswith("thread (") else raw
        if not raw:
            return
        kind = "MainThread" if tname == "MainThread" else (
            "aiosqlite worker" if any("aiosqlite/" in f for f in raw) else tname)
        self.threads[kind] += n
        if kind != "MainThread":
            self.worker_lines[_line(raw[-1])] += n
            return
        self.main += n
        frames = [_frame(f) for f in raw]
        self.leaf_pkg[frames[-1][1]] += n
        if frames[0][1] == "sqlalchemy":
            bucket = ("SQLAlchemy ORM/Core inside greenlet_spawn (session.execute/get/"
                      "commit called from Cascade)")
            text = ";".join(f for f, _ in frames)
            phase = next((label for key, label in _ORM_PHASES if key in text), "other")
            self.callee[f"greenlet: {phase}"] += n
        elif not raw[0].startswith("<module>"):
            bucket = "(incomplete stack)"
        else:
            bucket = ""
            seen = set()
            inner_at = -1
            for i, (name, pkg) in enumerate(frames):
                if pkg == "Cascade code":
                    bucket, inner_at = name, i
                    if name not in seen:
                        seen.add(name)
                        self.inclusive[name] += n
            if bucket:
                nxt = frames[inner_at + 1][0].rsplit("/", 1)[-1] if inner_at + 1 < len(
                    frames) else "(own code)"
                self.callee[f"{bucket.split(':', 1)[1]} -> {nxt}"] += n
                bucket = "in " + bucket
            else:
                text = ";".join(f for f, _ in frames)
                bucket = next((label for key, label in _LOOP_BUCKETS if key in text),
                              "other (no Cascade frame)")
        self.owner[bucket] += n

    def us_per_req(self, samples: float) -> float:
        return samples / self.rate / self.requests * 1e6

    def rows(self, c: Counter[str], k: int, denom: int) -> list[list[str]]:
        return [[f"{v * 100.0 / denom:5.1f}%", f"{self.us_per_req(v):6.0f}", name]
                for name, v in c.most_common(k)]

    def report(self, top: int = 18) -> str:
        total = sum(self.threads.values())
        if not total:
            return "py-spy recorded no samples"
        wall = self.rate * self.seconds
        main = max(1, self.main)
        parts = [
            f"py-spy --gil: {total} samples holding the GIL at {self.rate:g} Hz over "
            f"{self.seconds:g} s, ~{self.requests:.0f} requests served meanwhile; event-loop "
            f"thread ran Python {self.main * 100.0 / wall:.0f}% of wall time = "
            f"{self.us_per_req(self.main):.0f} us per request (us/req = samples / rate / "
            "requests served while sampling)",
            "\nSamples by thread (share of all samples; us/req = microseconds per request):",
            table(["share", "us/req", "thread"], self.rows(self.threads, 5, total)),
            "\nEvent-loop thread, charged to the innermost Cascade frame:",
            table(["share", "us/req", "where"], self.rows(self.owner, top, main)),
            "\nEvent-loop thread, innermost Cascade frame -> what it was calling "
            "(and SQLAlchemy greenlet work by phase):",
            table(["share", "us/req", "call"], self.rows(self.callee, top, main)),
            "\nEvent-loop thread, inclusive by Cascade function (greenlet work not included):",
            table(["share", "us/req", "function"], self.rows(self.inclusive, 12, main)),
            "\nEvent-loop thread, self time by package of the leaf frame:",
            table(["share", "us/req", "package"], self.rows(self.leaf_pkg, 10, main)),
        ]
        if self.worker_lines:
            parts += ["\nOther threads by line (share of all samples; the SQL itself runs in "
                      "sqlite3 without the GIL and is not sampled):",
                      table(["share", "us/req", "line"], self.rows(self.worker_lines, 6, total))]
        return "\n".join(parts)


def compare_profiles(profiles: dict[str, PySpyProfile]) -> str:
    """Event-loop self time by package, microseconds per request, side by side."""
    names = list(profiles)
    pkgs: Counter[str] = Counter()
    for prof in profiles.values():
        for pkg, v in prof.leaf_pkg.items():
            pkgs[pkg] += v / prof.requests
    rows = []
    for pkg, _ in pkgs.most_common(12):
        rows.append([pkg] + [f"{p.us_per_req(p.leaf_pkg.get(pkg, 0)):.0f}"
                             for p in profiles.values()])
    rows.append(["event-loop thread total"] + [f"{p.us_per_req(p.main):.0f}"
                                               for p in profiles.values()])
    return ("Event-loop thread self time by leaf package, microseconds per request:\n"
            + table(["package", *names], rows))


if __name__ == "__main__":
    child_main()
