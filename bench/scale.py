#!/usr/bin/env python3
"""Cascade at scale: 100 regions and 1,000,000 mappings on PostgreSQL.

What it builds, on a throwaway PostgreSQL database:

* ``--regions`` stub Nova regions (bench/_benchlib.py StubNova), spread over
  ``--stub-processes`` processes serving many ports each, each region answering
  lists after ``--list-delay``;
* ``--mappings`` server mappings (resources and placements, bulk-loaded with
  COPY), spread over the regions and over projects of 100 servers each;
* through Cascade itself (noauth, a ``cascade`` child process): project ``wide``
  with one server in every region, project ``narrow`` with 100 servers in one.

What it measures:

* mapping resolve, p50/p99 over random ids: uncached (``mapping.store.locate`` on
  the lookup pool, autocommit and without pre-ping: the show path's database
  step on a cache miss, one query on 1 M rows), the full-row form
  (``mapping.store.resolve`` in a session, ORM objects, what other paths use),
  and cached (``MappingCache.get``, the in-process hit);
* server show and list through Cascade: ``wide`` (a list fans out to every
  region, each taking ``--list-delay``) and ``narrow`` (one region asked);
* one health probe round over every region: wall time and CPU, times the
  rounds per minute at the default ``[sync] region_probe_interval``;
* the RSS of each process.

Goals (issue 15): resolve p99 <= 2 ms uncached and <= 50 us cached; a list across
100 regions of 50 ms each within 1.2x the slowest region; no process over 1 GiB.

Run from the repository root (about 3 minutes; the load is most of it)::

    .venv/bin/python bench/scale.py
    .venv/bin/python bench/scale.py --regions 100 --mappings 1000000 --list-delay 0.05
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchlib as bl  # noqa: E402

HEADERS = {"X-Auth-Token": "bench-user:wide"}


# -- the stub regions: many in one process ----------------------------------------------

def _role_stubs(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--list-delay", type=float, default=0.0)
    p.add_argument("--kind", choices=["raw", "aiohttp"], default="raw")
    args = p.parse_args(argv)

    async def serve() -> None:
        from aiohttp import web

        import _raw_stub

        ports = []
        for n in range(args.first, args.first + args.count):
            if args.kind == "raw":
                raw = _raw_stub.RawStubNova(f"R{n:03d}", list_delay=args.list_delay)
                port = await _raw_stub.serve(raw)
                raw.base = f"http://127.0.0.1:{port}"
                ports.append(port)
                continue
            stub = bl.StubNova(f"R{n:03d}", list_delay=args.list_delay)
            runner = web.AppRunner(stub.app(), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            stub.base = f"http://127.0.0.1:{port}"
            ports.append(port)
        print("READY " + json.dumps(ports), flush=True)
        await asyncio.Event().wait()

    bl.run(serve())


# -- bulk mappings -----------------------------------------------------------------------

async def _load_mappings(dsn: str, regions: list[str], count: int) -> list[str]:
    """COPY ``count`` active server mappings; a sample of their global ids."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        now = dt.datetime.now(dt.timezone.utc)
        sample: list[str] = []
        batch = 100_000
        for start in range(0, count, batch):
            res, pls = [], []
            for i in range(start, min(count, start + batch)):
                gid = str(uuid.UUID(int=random.getrandbits(128), version=4))
                project = f"p{i // 100:06d}"
                region = regions[i % len(regions)]
                res.append((gid, "server", project, "{}", '{"name": "s"}', "ACTIVE", False,
                            now, now))
                pls.append((gid, "server", region, str(uuid.uuid4()), "active", now, now))
                if i % 500 == 0:
                    sample.append(gid)
            await conn.copy_records_to_table(
                "resources", records=res,
                columns=["global_id", "type", "project_id", "spec", "attrs", "status",
                         "beyond_project", "created_at", "updated_at"])
            await conn.copy_records_to_table(
                "placements", records=pls,
                columns=["global_id", "resource_type", "region", "local_id", "state",
                         "created_at", "updated_at"])
        await conn.execute("ANALYZE")
        return sample
    finally:
        await conn.close()


# -- measurements ---------------------------------------------------------------------------

def _pct(values: list[float], p: float) -> float:
    return bl.percentile(sorted(values), p)


async def _resolve_times(url: str, ids: list[str]) -> dict[str, float]:
    from cascade import config
    from cascade.db import engine as db_engine
    from cascade.mapping import store
    from cascade.mapping.cache import Mapping, MappingCache

    engine = db_engine.make_engine(config.load([]), url)
    sessions = db_engine.make_sessionmaker(engine)
    lookups = db_engine.make_lookup_engine(config.load([]), engine)  # as cascade-api's
    uncached: list[float] = []
    full_row: list[float] = []
    cache = MappingCache()
    try:
        for gid in ids[:50]:  # warm the pool: connections are opened once per process
            async with sessions() as session:
                await store.resolve(session, "server", gid, None)
        for gid in ids:
            # As ServerOps.show on a cache miss: checkout (with its pre-ping), the
            # query, and the checkin, all timed.
            t0 = time.perf_counter()
            async with lookups.connect() as conn:
                pl = await store.locate(conn, "server", gid, None)
            uncached.append(time.perf_counter() - t0)
            cache.put(Mapping(gid, pl.project_id, pl.region, str(pl.local_id)))
        for gid in ids:
            t0 = time.perf_counter()
            async with sessions() as session:
                await store.resolve(session, "server", gid, None)
            full_row.append(time.perf_counter() - t0)
    finally:
        await db_engine.dispose_lookup_engine(lookups, engine)
        await engine.dispose()
    cached: list[float] = []
    for _ in range(5):
        for gid in ids:
            t0 = time.perf_counter()
            cache.get(gid)
            cached.append(time.perf_counter() - t0)
    return {"uncached_p50_ms": 1000 * _pct(uncached, 50),
            "uncached_p99_ms": 1000 * _pct(uncached, 99),
            "full_row_p50_ms": 1000 * _pct(full_row, 50),
            "full_row_p99_ms": 1000 * _pct(full_row, 99),
            "cached_p50_us": 1e6 * _pct(cached, 50), "cached_p99_us": 1e6 * _pct(cached, 99)}


async def _timed_gets(url: str, headers: dict[str, str], n: int) -> list[float]:
    import aiohttp

    times = []
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(n):
            t0 = time.perf_counter()
            async with session.get(url) as resp:
                await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"{url}: {resp.status}")
            times.append(time.perf_counter() - t0)
    return times


async def _probe_round(url: str, regions: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one probe of every region, as the loops do
    (health written to the database)."""
    import aiohttp

    from cascade import config
    from cascade.db import engine as db_engine
    from cascade.regions.probe import probe_all
    from cascade.regions.registry import RegionRegistry

    engine = db_engine.make_engine(config.load([]), url)
    sessions = db_engine.make_sessionmaker(engine)
    registry = RegionRegistry()
    catalog = {name: {"compute": f"{base}/compute/v2.1", "image": f"{base}/image",
                      "network": f"{base}/network"} for name, base in regions.items()}
    try:
        await registry.load(sessions, catalog)
        async with aiohttp.ClientSession() as http:
            await probe_all(http, registry, sessions, down_after=3, up_after=2)  # warm
            c0, t0 = time.process_time(), time.perf_counter()
            await probe_all(http, registry, sessions, down_after=3, up_after=2)
            return time.perf_counter() - t0, time.process_time() - c0
    finally:
        await engine.dispose()


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "stubs":
        _role_stubs(sys.argv[2:])
        return 0
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--regions", type=int, default=100)
    p.add_argument("--mappings", type=int, default=1_000_000)
    p.add_argument("--list-delay", type=float, default=0.05)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--stub-processes", type=int, default=4,
                   help="OS processes the stub regions are spread over (default "
                        "%(default)s; 1 serves every region from one process)")
    p.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--keep-workdir", action="store_true")
    p.add_argument("--aiohttp-get", action="store_true",
                   help="send GETs to the regions through aiohttp ([api] region_lean_get "
                        "= false), to compare with the lean client")
    p.add_argument("--lists", type=int, default=100,
                   help="timed lists per project (default %(default)s)")
    p.add_argument("--stub-kind", choices=["raw", "aiohttp"], default="raw",
                   help="how the stub regions serve HTTP: 'raw' (bench/_raw_stub.py, a bare "
                        "asyncio protocol, about 0.01 ms of CPU per request, so 100 regions "
                        "on one core answer nearly as separate hosts would) or 'aiohttp' "
                        "(about 0.1 ms, so they queue behind each other; earlier rounds)")
    p.add_argument("--pin", action="store_true",
                   help="CPU affinity for the lists: Cascade alone on CPU 1; the stub "
                        "regions and this process (the client) on CPU 0, as regions on "
                        "other hosts would be (as list_fanout.py --pin)")
    p.add_argument("--hold", type=float, default=0.0, metavar="SECONDS",
                   help="after the list rounds, keep everything up this long (to attach a "
                        "profiler to cascade-api)")
    args = p.parse_args(argv)
    info = bl.machine_info()
    print(f"machine: {info['cpus']} CPUs, {info['model']}; load average {info['loadavg']}")
    if args.pin:
        print("lists pinned: Cascade alone on CPU 1, the stub regions and the client on CPU 0")
    results: dict[str, Any] = {}
    with bl.workdir(args.keep_workdir) as wd, \
            bl.Database("postgresql", Path(wd), args.pg_dsn) as db, \
            bl.Children(Path(wd)) as kids:
        wd = Path(wd)
        import subprocess
        stubs_log = wd / "stubs.log"
        per = [args.regions // args.stub_processes
               + (i < args.regions % args.stub_processes) for i in range(args.stub_processes)]
        procs = []
        first = 0
        for count in per:
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "stubs", "--count", str(count), "--first",
                 str(first), "--list-delay", str(args.list_delay), "--kind", args.stub_kind],
                stdout=subprocess.PIPE, stderr=stubs_log.open("a"), text=True))
            first += count
        try:
            ports = []
            for proc in procs:
                assert proc.stdout is not None
                line = proc.stdout.readline().split(" ", 1)
                if line[0] != "READY":
                    raise SystemExit(f"stubs did not start:\n{stubs_log.read_text()[-2000:]}")
                ports += json.loads(line[1])
            regions = {f"R{n:03d}": f"http://127.0.0.1:{port}" for n, port in enumerate(ports)}
            conf = bl.write_cascade_conf(wd / "cascade.conf", db.url, regions,
                                         region_timeout=10.0, lean_get=not args.aiohttp_get)
            cascade = kids.spawn("cascade", ["cascade", "--config", str(conf)], timeout=300)
            t0 = time.perf_counter()
            sample = bl.run(_load_mappings(db.url.replace("+asyncpg", ""), list(regions),
                                           args.mappings))
            results["load_s"] = time.perf_counter() - t0
            print(f"loaded {args.mappings} mappings in {results['load_s']:.0f} s")
            ids = random.Random(1).sample(sample, min(args.samples, len(sample)))
            results["resolve"] = bl.run(_resolve_times(db.url, ids))
            # wide: one server per region; narrow: 100 servers in one region.
            bl.HEADERS["X-Auth-Token"] = "bench-user:wide"
            wide = bl.run(bl.create_servers(cascade.url, dict.fromkeys(regions, 1)))
            bl.HEADERS["X-Auth-Token"] = "bench-user:narrow"
            bl.run(bl.create_servers(cascade.url, {"R000": 100}))
            if args.pin:
                bl.pin(cascade, 1)
                for proc in procs:
                    with contextlib.suppress(OSError):
                        os.sched_setaffinity(proc.pid, {0})
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(0, {0})
            lists = {}
            for project in ("wide", "narrow"):
                headers = {"X-Auth-Token": f"bench-user:{project}"}
                cpu0 = bl.proc_cpu_seconds(cascade.popen.pid)
                times = bl.run(_timed_gets(f"{cascade.url}/compute/v2.1/servers/detail",
                                           headers, args.lists))
                cpu = (bl.proc_cpu_seconds(cascade.popen.pid) - cpu0) / len(times)
                lists[project] = {"p50_ms": 1000 * statistics.median(times),
                                  "max_ms": 1000 * max(times), "cpu_ms": 1000 * cpu}
            if args.hold:
                print(f"holding: cascade at {cascade.url} (pid {cascade.popen.pid}); "
                      "Ctrl-C ends", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    time.sleep(args.hold)
            show = bl.run(_timed_gets(f"{cascade.url}/compute/v2.1/servers/{wide[0]}",
                                      {"X-Auth-Token": "bench-user:wide"}, 200))
            results["lists"] = lists
            results["show_p50_ms"] = 1000 * statistics.median(show)
            results["show_p99_ms"] = 1000 * _pct(show, 99)
            wall, cpu = bl.run(_probe_round(db.url, regions))
            results["probe_round"] = {"wall_s": wall, "cpu_s": cpu,
                                      "cpu_s_per_minute_at_30s": cpu * 2}
            results["rss_mib"] = {"cascade-api": _rss_mib(cascade.popen.pid),
                                  "stubs": max(_rss_mib(proc.pid) for proc in procs)}
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
    r = results["resolve"]
    slowest = args.list_delay * 1000
    print(bl.table(["measure", "value", "goal"], [
        ["resolve uncached p50 / p99", f"{r['uncached_p50_ms']:.2f} / "
         f"{r['uncached_p99_ms']:.2f} ms", "p99 <= 2 ms"],
        ["resolve as a full row (ORM, session) p50 / p99", f"{r['full_row_p50_ms']:.2f} / "
         f"{r['full_row_p99_ms']:.2f} ms", ""],
        ["resolve cached p50 / p99", f"{r['cached_p50_us']:.1f} / {r['cached_p99_us']:.1f} us",
         "p99 <= 50 us"],
        ["show (cached mapping) p50 / p99", f"{results['show_p50_ms']:.1f} / "
         f"{results['show_p99_ms']:.1f} ms", ""],
        [f"list, project in {args.regions} regions, p50",
         f"{results['lists']['wide']['p50_ms']:.1f} ms "
         f"({results['lists']['wide']['p50_ms'] / slowest:.3f}x the slowest region)",
         "<= 1.2x"],
        [f"  Cascade CPU per list, {args.regions} regions",
         f"{results['lists']['wide']['cpu_ms']:.1f} ms", ""],
        ["list, project in 1 region, p50", f"{results['lists']['narrow']['p50_ms']:.1f} ms "
         f"(Cascade CPU {results['lists']['narrow']['cpu_ms']:.1f} ms)", ""],
        [f"probe round, {args.regions} regions", f"{results['probe_round']['wall_s']:.2f} s "
         f"wall, {results['probe_round']['cpu_s']:.2f} s CPU", ""],
        ["probe CPU per minute (every 30 s)",
         f"{results['probe_round']['cpu_s_per_minute_at_30s']:.2f} s", ""],
        ["RSS cascade-api / largest stub process", f"{results['rss_mib']['cascade-api']:.0f} / "
         f"{results['rss_mib']['stubs']:.0f} MiB", "< 1024 MiB"],
    ]))
    (Path.cwd() / "bench-scale.json").write_text(json.dumps(results, indent=2)) \
        if args.keep_workdir else None
    return 0


if __name__ == "__main__":
    sys.exit(main())
