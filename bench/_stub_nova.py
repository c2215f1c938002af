"""A stub regional Nova with many servers, for the reconciliation benchmark.

Run as its own process (``bench/reconcile.py`` starts one per region)::

    python bench/_stub_nova.py --name Region1 --servers 25000

It binds an ephemeral loopback port and prints ``READY <port> <pid>`` once it
serves, then runs until SIGTERM or SIGINT (or the parent dies: PR_SET_PDEATHSIG).

Served:

* ``GET /compute/v2.1`` (the version document) and ``POST /identity/v3/auth/tokens``
  (Cascade's service token; any credentials are accepted);
* ``GET /compute/v2.1/servers/detail`` with Nova's paging and filtering as the
  reconciliation uses them: ``changes-since`` (servers whose ``updated`` is at
  or after it), ``limit`` (capped at 1000 like Nova's default ``[api] max_limit``),
  ``marker`` (the server after which to go on), in Nova's default order
  (``created`` descending, then id), with ``servers_links`` when a page is full;
* control routes for the benchmark: ``POST /_bench/change`` (change a fraction of
  the servers now: status flips between ACTIVE and SHUTOFF, ``updated`` is now),
  ``POST /_bench/age`` (the changes made so far happened long ago: their
  ``updated`` moves back to :data:`AGED`, so that a later incremental pass does
  not see them again), ``GET /_bench/stats`` (list requests served),
  ``GET /_bench/state`` (every server's status and ``updated``).

The servers, their regional ids and the global ids Cascade gave them are a pure
function of the region name and the index (:func:`local_id`, :func:`global_id`,
:func:`server_doc`), so the benchmark can write the matching mappings itself
without asking the stub. Each server body is serialized once (about 1.3 KB) and
again only when it changes, so that the stub costs little next to Cascade.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import hashlib
import json
import os
import signal
import time
import uuid
from typing import Any

from _benchlib import StubBase

#: Nova's default ``[api] max_limit``: a larger ``limit`` is cut down to it.
MAX_LIMIT = 1000
#: Servers were created one second apart from here on.
EPOCH = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
#: Where ``/_bench/age`` moves earlier changes to (long before any pass).
AGED = "2025-12-01T00:00:00Z"
IMAGE_ID = "8a1a2f3e-6c1d-4f6b-9a55-2f0e7d1c0a01"
FLAVOR_ID = "1"
#: The deployment id (``[DEFAULT] cascade_id``) the servers are tagged with.
OWNER = "cascade"
_NS = uuid.UUID("5b0c3c1e-3b7e-4d59-8d7c-0e4a6f0c2a11")
_STATES = {"ACTIVE": ("active", 1), "SHUTOFF": ("stopped", 4), "BUILD": ("building", 0)}


def local_id(region: str, i: int) -> str:
    """The region's id of server ``i``."""
    return str(uuid.uuid5(_NS, f"{region}/local/{i}"))


def global_id(region: str, i: int) -> str:
    """The global id Cascade gave server ``i`` of ``region``."""
    return str(uuid.uuid5(_NS, f"{region}/global/{i}"))


def project_of(i: int) -> str:
    return f"project-{i % 50:02d}"


def created_of(i: int) -> str:
    return (EPOCH + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")


def server_doc(region: str, i: int, base: str, *, status: str = "ACTIVE",
               updated: str | None = None, sid: str | None = None) -> dict[str, Any]:
    """Server ``i`` as Nova 2.90 shows it in ``/servers/detail`` (~1.3 KB as JSON).

    ``sid`` replaces the regional id (Cascade's cached view holds the global one).
    """
    lid = local_id(region, i)
    sid = sid or lid
    digest = hashlib.md5(lid.encode()).hexdigest()
    created = created_of(i)
    vm_state, power = _STATES[status]
    project = project_of(i)
    return {
        "id": sid, "name": f"vm-{region.lower()}-{i:05d}", "status": status,
        "tenant_id": project, "user_id": f"user-{i % 200:03d}",
        "metadata": {"cascade_global_id": global_id(region, i), "cascade_owner": OWNER},
        "hostId": hashlib.sha224(f"{project}/compute-{i % 40}".encode()).hexdigest(),
        "image": {"id": IMAGE_ID},
        "flavor": {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
                   "original_name": "m1.tiny", "extra_specs": {}},
        "created": created, "updated": updated or created,
        "addresses": {"private": [
            {"version": 4, "addr": f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}",
             "OS-EXT-IPS:type": "fixed",
             "OS-EXT-IPS-MAC:mac_addr": f"fa:16:3e:{digest[0:2]}:{digest[2:4]}:{digest[4:6]}"}]},
        "links": [{"rel": "self", "href": f"{base}/v2.1/servers/{sid}"},
                  {"rel": "bookmark", "href": f"{base}/servers/{sid}"}],
        "OS-DCF:diskConfig": "MANUAL", "progress": 0,
        "OS-EXT-AZ:availability_zone": "nova", "key_name": None,
        "OS-SRV-USG:launched_at": created.replace("Z", ".000000"),
        "OS-SRV-USG:terminated_at": None,
        "security_groups": [{"name": "default"}],
        "OS-EXT-STS:task_state": None, "OS-EXT-STS:vm_state": vm_state,
        "OS-EXT-STS:power_state": power,
        "os-extended-volumes:volumes_attached": [],
        "locked": False, "description": None, "tags": [],
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class StubRegion(StubBase):
    """``n`` servers of one region; bodies kept serialized."""

    def __init__(self, name: str, n: int) -> None:
        self.name = name
        self.n = n
        self.base = ""
        self.status = ["ACTIVE"] * n
        self.updated = [created_of(i) for i in range(n)]
        self.items: list[bytes] = []
        #: position in Nova's default order (created desc: the newest first)
        self.order = list(range(n - 1, -1, -1))
        self.pos = {local_id(name, i): p for p, i in enumerate(self.order)}
        self.changed: set[int] = set()
        self.lists = 0
        self.listed = 0

    def build(self) -> None:
        compute = f"{self.base}/compute"
        self.items = [json.dumps(server_doc(self.name, i, compute)).encode()
                      for i in range(self.n)]

    def _encode(self, i: int) -> None:
        self.items[i] = json.dumps(server_doc(
            self.name, i, f"{self.base}/compute", status=self.status[i],
            updated=self.updated[i])).encode()

    def app(self) -> Any:
        from aiohttp import web

        app = web.Application()
        app.router.add_routes([
            web.get("/compute/v2.1", self.version),
            web.get("/compute/v2.1/servers/detail", self.list_detail),
            web.post("/identity/v3/auth/tokens", self.token),
            web.post("/_bench/change", self.change),
            web.post("/_bench/age", self.age),
            web.get("/_bench/stats", self.stats),
            web.get("/_bench/state", self.state),
        ])
        return app

    async def list_detail(self, request: Any) -> Any:
        q = request.query
        limit = min(int(q.get("limit", MAX_LIMIT)), MAX_LIMIT)
        start = 0
        if "marker" in q:
            if q["marker"] not in self.pos:
                return self._json(b'{"badRequest": {"code": 400, "message": '
                                  b'"marker not found"}}', status=400)
            start = self.pos[q["marker"]] + 1
        since = q.get("changes-since")
        if since is None:
            page = self.order[start:start + limit]
        else:
            # NOTE: the same timestamp format on both sides: string order is time order.
            updated = self.updated
            page = []
            for i in self.order[start:]:
                if updated[i] >= since:
                    page.append(i)
                    if len(page) == limit:
                        break
        items = self.items
        body = b'{"servers": [' + b", ".join([items[i] for i in page]) + b"]"
        if len(page) == limit:
            nxt = dict(q, marker=local_id(self.name, page[-1]))
            query = "&".join(f"{k}={v}" for k, v in nxt.items())
            body += (b', "servers_links": [{"rel": "next", "href": "'
                     + f"{self.base}/compute/v2.1/servers/detail?{query}".encode() + b'"}]')
        self.lists += 1
        self.listed += len(page)
        return self._json(body + b"}")

    async def change(self, request: Any) -> Any:
        """Change every ``1/fraction``-th server (from ``offset``) now."""
        req = await request.json()
        step = max(1, round(1 / float(req.get("fraction", 0.01))))
        offset = int(req.get("offset", 0)) % step
        now = _now()
        done = 0
        for i in range(offset, self.n, step):
            self.status[i] = "SHUTOFF" if self.status[i] == "ACTIVE" else "ACTIVE"
            self.updated[i] = now
            self.changed.add(i)
            self._encode(i)
            done += 1
        return self._json(json.dumps({"changed": done, "updated": now}).encode())

    async def age(self, request: Any) -> Any:
        aged = sorted(self.changed)
        for i in aged:
            self.updated[i] = AGED
            self._encode(i)
        self.changed.clear()
        return self._json(json.dumps({"aged": len(aged)}).encode())

    async def stats(self, request: Any) -> Any:
        return self._json(json.dumps({"lists": self.lists, "listed": self.listed,
                                      "bytes_per_server": sum(map(len, self.items[:100]))
                                      / min(100, max(1, self.n))}).encode())


    async def state(self, request: Any) -> Any:
        """Every server's status and ``updated``, by regional id (to check Cascade)."""
        return self._json(json.dumps({local_id(self.name, i): [self.status[i], self.updated[i]]
                                      for i in range(self.n)}).encode())


async def _serve(region: StubRegion) -> None:
    from aiohttp import web

    runner = web.AppRunner(region.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    region.base = f"http://127.0.0.1:{port}"
    region.build()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {port} {os.getpid()}", flush=True)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="stub Nova with many servers (benchmark child)")
    p.add_argument("--name", required=True)
    p.add_argument("--servers", type=int, default=25000)
    args = p.parse_args(argv)
    with contextlib.suppress(Exception):     # die with the benchmark (Linux)
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    asyncio.run(_serve(StubRegion(args.name, args.servers)))


if __name__ == "__main__":
    main()
