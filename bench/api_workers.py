#!/usr/bin/env python3
"""Forwarded GET /compute/v2.1/servers/{id} with 1 and with 2 cascade-api workers,
Keystone auth on.

Cascade runs as the real ``cascade-api`` (``[api] workers`` = 1: one process;
2: gunicorn's arbiter and two workers sharing the port) on a throwaway
PostgreSQL database, in front of one stub Nova (bench/_benchlib.py); tenants'
tokens are validated by keystonemiddleware against the kit's real Keystone
(``devstack/lite/regions up``), each worker validating the token once and then
reusing the identity (``[api] auth_cache_seconds``). The load generator is a
closed loop of ``--concurrency`` clients in its own process.

Reported per worker count: requests per second, latency, and the CPU the
Cascade processes used per request; "per CPU" is requests per second divided
by the CPUs Cascade kept busy (its CPU seconds over the window). On this
2-core machine the load generator and the stub share the cores with Cascade,
so 2 workers cannot double the total; the per-CPU figure shows what each
core of Cascade delivers.

Run from the repository root (the kit's regions up, for Keystone)::

    .venv/bin/python bench/api_workers.py
    .venv/bin/python bench/api_workers.py --workers 1,2 --concurrency 32 --duration 10
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchlib as bl  # noqa: E402

KEYSTONE = "http://127.0.0.1:25000/v3"


def keystone_token(user: str = "demo") -> str:
    body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": "secret", "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": user, "domain": {"name": "Default"}}}}})
    req = urllib.request.Request(f"{KEYSTONE}/auth/tokens", data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return str(resp.headers["X-Subject-Token"])


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    out = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for kid in kids:
        out.extend(_descendants(int(kid)))
    return out


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += bl.proc_cpu_seconds(pid)
        except OSError:
            pass
    return total


def _start_cascade(conf: Path, workers: int, log: Path) -> subprocess.Popen[bytes]:
    extra = conf.with_name(f"workers-{workers}.conf")
    extra.write_text(f"[api]\nworkers = {workers}\n")
    entry = "import sys; from cascade.cmd.api import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", entry, "--config-file", str(conf),
                             "--config-file", str(extra), "--log-file", str(log)],
                            cwd=str(bl.REPO), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], workers: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemExit("cascade-api exited at start")
        try:
            urllib.request.urlopen(f"{url}/healthcheck", timeout=2).read()
            if workers == 1 or len(_descendants(proc.pid)) > workers:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("cascade-api did not start")
        time.sleep(0.3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--servers", type=int, default=200)
    p.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--keep-workdir", action="store_true")
    args = p.parse_args(argv)
    token = keystone_token()
    os.environ["CASCADE_BENCH_TOKEN"] = token
    bl.TOKEN = token
    bl.HEADERS["X-Auth-Token"] = token
    info = bl.machine_info()
    print(f"machine: {info['cpus']} CPUs, {info['model']}; load average {info['loadavg']}")
    rows = []
    with bl.workdir(args.keep_workdir) as wd, \
            bl.Database("postgresql", Path(wd), args.pg_dsn) as db, \
            bl.Children(Path(wd)) as kids:
        wd = Path(wd)
        stub = kids.spawn("stub", ["stub", "--name", "RegionOne"])
        port = _free_port()
        conf = bl.write_cascade_conf(wd / "cascade.conf", db.url, {"RegionOne": stub.url})
        text = conf.read_text().replace("auth_strategy = noauth", "auth_strategy = keystone")
        text = text.replace("[api]\n", f"[api]\nbind_port = {port}\n", 1)
        text += (f"\n[keystone_authtoken]\nwww_authenticate_uri = {KEYSTONE}\n"
                 f"auth_url = {KEYSTONE}\nauth_type = password\nusername = cascade\n"
                 "password = secret\nproject_name = service\nuser_domain_name = Default\n"
                 "project_domain_name = Default\n")
        conf.write_text(text)
        entry = "import sys; from cascade.cmd.manage import main; sys.exit(main())"
        subprocess.run([sys.executable, "-c", entry, "--config-file", str(conf), "db", "sync"],
                       cwd=str(bl.REPO), check=True, capture_output=True)
        url = f"http://127.0.0.1:{port}"
        ids: list[str] = []
        for workers in [int(w) for w in args.workers.split(",")]:
            proc = _start_cascade(conf, workers, wd / f"cascade-{workers}.log")
            try:
                _wait_ready(url, proc, workers)
                if not ids:
                    ids = asyncio.run(bl.create_servers(url, {"RegionOne": args.servers}))
                    (wd / "ids.json").write_text(json.dumps(ids))
                pids = _descendants(proc.pid)
                # Warm every worker (token validated, mappings cached), then measure.
                kids.run_load(f"warm-{workers}", [
                    "--base", f"{url}/compute/v2.1/servers", "--ids-file",
                    str(wd / "ids.json"), "--concurrency", str(args.concurrency),
                    "--duration", "3", "--warmup", "0"])
                before = _cpu(pids)
                started = time.monotonic()
                out = kids.run_load(f"load-{workers}", [
                    "--base", f"{url}/compute/v2.1/servers", "--ids-file",
                    str(wd / "ids.json"), "--concurrency", str(args.concurrency),
                    "--duration", str(args.duration), "--warmup", str(args.warmup)])
                window = time.monotonic() - started
                cpu = _cpu(pids) - before
                busy = cpu / window
                rows.append([workers, f"{out['rps']:.0f}", f"{out['p50']:.1f}",
                             f"{out['p99']:.1f}", f"{busy:.2f}",
                             f"{out['rps'] / busy:.0f}" if busy else "-",
                             f"{1000 * cpu / max(out['total_sent'], 1):.2f}",
                             sum(out["errors"].values())])
            finally:
                proc.terminate()
                proc.wait(30)
    print(bl.table(["workers", "req/s", "p50 ms", "p99 ms", "CPUs busy", "req/s per CPU",
                    "CPU ms/req", "errors"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
