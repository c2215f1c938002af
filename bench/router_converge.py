"""Time from ``add_router_interface`` through Cascade until every region's routes are
complete, with N stub Neutron regions (one process, one port each).

In process (aiohttp test client, noauth, SQLite or PostgreSQL), with the job
worker running as in ``--all-in-one``: for each N, one network per region with a
/24, each made present in its region by a port created there, and one router
with interfaces on all but the last, settled. Then the measure: ``PUT
add_router_interface`` for the last subnet, through the API, the queued converge
job and the worker, until every one of the N regional copies holds its N-1
routes (read from the stubs every 5 ms, all at once). N = 2, 10, 25 and 50 by
default, ``--rounds`` times each (a fresh router per round): the cost should
grow linearly with N. Last, one converge with nothing to change, called
directly: what the audit's check of a project costs.

    .venv/bin/python bench/router_converge.py
    .venv/bin/python bench/router_converge.py --regions 2,50 --db postgresql --rounds 3
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from bench._benchlib import Database, write_cascade_conf  # noqa: E402
from cascade import appkeys, config  # noqa: E402
from cascade.app import create_app  # noqa: E402
from cascade.auth.identity import NoAuth  # noqa: E402
from cascade.networks.placer import Placer  # noqa: E402
from cascade.networks.router_converge import RouterConverger  # noqa: E402

PROJECT = "bench-project"
HEADERS = {"X-Auth-Token": f"u-bench:{PROJECT}"}


def _start_stubs(count: int) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name(
        "_stub_neutron.py")), "--regions", str(count)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line and line[0] == "READY", line
    return proc, [int(p) for p in line[1].split(",")]


async def _route_counts(http: aiohttp.ClientSession, ports: list[int]) -> list[int]:
    """Each stub region's copy of the router: how many routes it holds (-1: no copy)."""
    async def one_region(port: int) -> int:
        async with http.get(f"http://127.0.0.1:{port}/network/v2.0/routers") as resp:
            routers = (await resp.json())["routers"]
        return len(routers[0]["routes"]) if len(routers) == 1 else -1

    return list(await asyncio.gather(*(one_region(p) for p in ports)))


async def _until(http: aiohttp.ClientSession, ports: list[int], want: list[int],
                 timeout: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout
    while await _route_counts(http, ports) != want:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"routes not complete: {await _route_counts(http, ports)}")
        await asyncio.sleep(0.005)


def one(n: int, db_kind: str, pg_dsn: str, rounds: int) -> dict[str, Any]:
    """``rounds`` rounds with ``n`` stub regions, on a throwaway database."""
    stubs, ports = _start_stubs(n)
    try:
        with tempfile.TemporaryDirectory() as work, Database(db_kind, Path(work),
                                                             pg_dsn) as db:
            return asyncio.run(_rounds(n, ports, db.url, Path(work), rounds))
    finally:
        stubs.terminate()
        stubs.wait(10)


async def _rounds(n: int, ports: list[int], db_url: str, work: Path,
                  rounds: int) -> dict[str, Any]:
    regions = {f"R{i:03d}": f"http://127.0.0.1:{p}" for i, p in enumerate(ports)}
    conf_file = write_cascade_conf(work / "cascade.conf", db_url, regions)
    conf = config.load(["--config-file", str(conf_file)])
    app = create_app(conf, authenticator=NoAuth(), migrate_db=True, background=False,
                     run_sync=True, all_in_one=True)
    async with TestClient(TestServer(app)) as client, aiohttp.ClientSession() as http:
        made = [await _measure(client, app, http, n, ports, list(regions), r)
                for r in range(rounds)]
    out: dict[str, Any] = {"regions": n, "rounds": rounds}
    for key in made[0]:
        values = sorted(m[key] for m in made)
        out[key] = values[len(values) // 2] if rounds > 1 else values[0]
    out["per_region_ms"] = round(out["until_routes_complete_ms"] / n, 2)
    return out


async def _measure(client: TestClient, app: Any, http: aiohttp.ClientSession, n: int,
                   ports: list[int], regions: list[str], rnd: int) -> dict[str, Any]:
    async def call(method: str, path: str, body: Any = None) -> Any:
        async with client.request(method, "/networking/v2.0" + path, json=body,
                                  headers=HEADERS) as resp:
            data = await resp.json() if resp.status != 204 else None
            assert resp.status < 300, (resp.status, data)
            return data

    subnets, made = [], []
    for i, region in enumerate(regions):
        net = (await call("POST", "/networks", {"network": {"name": f"n{i}"}}))["network"]
        sub = (await call("POST", "/subnets", {"subnet": {
            "network_id": net["id"], "cidr": f"10.{rnd * 4 + i // 250}.{i % 250}.0/24",
            "ip_version": 4}}))["subnet"]
        port = (await call("POST", "/ports", {"port": {
            "network_id": net["id"], "port_security_enabled": False,
            "binding:profile": {"cascade_region": region}}}))["port"]
        subnets.append(sub["id"])
        made.append((net["id"], port["id"]))
    router = (await call("POST", "/routers", {"router": {"name": f"r{rnd}"}}))["router"]
    for sub in subnets[:-1]:
        await call("PUT", f"/routers/{router['id']}/add_router_interface",
                   {"subnet_id": sub})
    await _until(http, ports, [n - 2] * (n - 1) + [-1])  # settled
    start = time.perf_counter()
    await call("PUT", f"/routers/{router['id']}/add_router_interface",
               {"subnet_id": subnets[-1]})
    answered = time.perf_counter()
    await _until(http, ports, [n - 1] * n)
    done = time.perf_counter()
    placer = Placer(app[appkeys.SESSIONS], app[appkeys.REGION_CLIENT], "cascade")
    converger = RouterConverger(app[appkeys.CONF], app[appkeys.SESSIONS], placer,
                                app[appkeys.REGIONS])
    again = time.perf_counter()
    await converger.converge(PROJECT)  # nothing to change: the cost of a check
    idle = time.perf_counter() - again
    # Leave the stubs empty for the next round: interfaces off, router gone.
    for sub in subnets:
        await call("PUT", f"/routers/{router['id']}/remove_router_interface",
                   {"subnet_id": sub})
    await call("DELETE", f"/routers/{router['id']}")
    await _until(http, ports, [-1] * n)
    for net_id, port_id in made:
        await call("DELETE", f"/ports/{port_id}")
        await call("DELETE", f"/networks/{net_id}")
    return {"api_answer_ms": round((answered - start) * 1000, 1),
            "until_routes_complete_ms": round((done - start) * 1000, 1),
            "converge_when_in_step_ms": round(idle * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regions", default="2,10,25,50",
                        help="comma-separated region counts (default %(default)s)")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds per region count; medians shown (default %(default)s)")
    args = parser.parse_args()
    results = [one(int(n), args.db, args.pg_dsn, args.rounds)
               for n in args.regions.split(",")]
    print(json.dumps({"db": args.db, "results": results}, indent=2))


if __name__ == "__main__":
    main()
