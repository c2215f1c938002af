#!/usr/bin/env python3
"""Quota admission rate: reserve + commit through ``cascade.quota.ledger``, as server
create uses them, on a throwaway database with N concurrent clients.

Each client is a closed loop of admissions. One admission is what server create
does around the regional call::

    quotas.admit(project, {"instances": 1, "cores": 2, "ram": 512})
        # AdmissionBatcher: concurrent admissions of one project in this process
        # share one transaction (ledger.reserve_many); --no-batch reserves each in
        # its own transaction (ledger.reserve)
    async with sessions.begin():  ledger.commit(reservation)

(the second transaction is the one that writes the server in Cascade; here it
writes nothing else, so the figure is the ledger's cost alone; a commit only
marks the reservation, it takes no usage row). Sessions come
from ``cascade.db.engine`` exactly as the API builds them (pool size = clients
per process, ``pool_pre_ping`` as configured there).

Clients run in ``--processes`` OS processes (as several ``cascade-api`` workers
would), started together; every process reports admissions, latencies and its
own CPU time, and the PostgreSQL server's CPU time is read from /proc around
the measured window. After each round the ledger is checked: ``in_use`` must
equal the admissions the clients counted, and nothing may stay reserved.

Run from the repository root::

    .venv/bin/python bench/quota_admission.py                      # PostgreSQL, ~1 min
    .venv/bin/python bench/quota_admission.py --clients 1,8,32 --processes 1,2
    .venv/bin/python bench/quota_admission.py --projects 1        # one hot project
    .venv/bin/python bench/quota_admission.py --db sqlite --processes 1
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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]

import _benchlib as lib  # noqa: E402

SERVER = {"instances": 1, "cores": 2, "ram": 512}
#: Limits high enough never to refuse; the guard is still evaluated on every update.
LIMIT = 10 ** 9


def _engine(url: str, pool: int, *, pre_ping: bool = True) -> Any:
    """The engine Cascade builds (``cascade.db.engine.make_engine``); ``pre_ping``
    False is a what-if: the same pool without its per-checkout liveness probe."""
    from cascade import config
    from cascade.db import engine as db_engine

    conf = config.load([])
    conf.set_override("pool_size", max(1, pool), "database")
    if pre_ping or not url.startswith("postgresql"):
        return db_engine.make_engine(conf, url)
    from sqlalchemy.ext.asyncio import create_async_engine

    return create_async_engine(url, pool_size=pool, max_overflow=pool, pool_pre_ping=False)


async def _prepare(url: str, projects: int) -> None:
    from cascade.db import migrate
    from cascade.db import engine as db_engine
    from cascade.quota import ledger

    engine = _engine(url, 1)
    await migrate.upgrade(engine)
    sessions = db_engine.make_sessionmaker(engine)
    async with sessions.begin() as s:
        for p in range(projects):
            await ledger.set_limits(s, f"project-{p}", dict.fromkeys(SERVER, LIMIT))
    await engine.dispose()


async def _ledger_state(url: str) -> tuple[int, int]:
    """(sum of in_use for instances, sum of reserved) over every project."""
    from sqlalchemy import func, select

    from cascade.db import engine as db_engine
    from cascade.db.models import QuotaUsage, Reservation

    engine = _engine(url, 1)
    async with db_engine.make_sessionmaker(engine)() as s:
        in_use = await s.scalar(select(func.coalesce(func.sum(QuotaUsage.in_use), 0)).where(
            QuotaUsage.resource == "instances"))
        reserved = await s.scalar(select(func.coalesce(func.sum(QuotaUsage.reserved), 0)))
        # Committed reservations count as in use until folded (cascade.quota.settlement).
        committed = await s.scalar(select(func.coalesce(func.sum(Reservation.delta), 0))
                                   .where(Reservation.committed.is_(True)))
        committed_instances = await s.scalar(
            select(func.coalesce(func.sum(Reservation.delta), 0))
            .where(Reservation.committed.is_(True), Reservation.resource == "instances"))
    await engine.dispose()
    return (int(in_use or 0) + int(committed_instances or 0),
            int(reserved or 0) - int(committed or 0))


async def _worker(args: argparse.Namespace) -> dict[str, Any]:
    """One process: ``--clients`` closed loops from ``--start`` (wall clock)."""
    from cascade import config
    from cascade.db import engine as db_engine
    from cascade.quota import ledger, resources
    from cascade.quota.batching import AdmissionBatcher

    engine = _engine(args.url, args.clients, pre_ping=not args.no_pre_ping)
    sessions = db_engine.make_sessionmaker(engine)
    batcher = AdmissionBatcher(sessions)
    defaults = resources.defaults(config.load([]))
    begin = args.start + args.warmup
    end = begin + args.duration
    latencies: list[float] = []
    total = 0

    async def client(i: int) -> None:
        nonlocal total
        project = f"project-{(args.first + i) % args.projects}"
        while time.time() < end:
            t0 = time.perf_counter()
            if args.no_batch:
                async with sessions.begin() as s:
                    rid = await ledger.reserve(s, project, SERVER, ttl=300,
                                               defaults=defaults)
            else:
                (rid,) = await batcher.reserve(project, SERVER, ttl=300, defaults=defaults)
            async with sessions.begin() as s:
                await ledger.commit(s, rid)
            total += 1
            if begin <= time.time() < end:
                latencies.append(time.perf_counter() - t0)

    await asyncio.sleep(max(0.0, args.start - time.time()))
    tasks = [asyncio.create_task(client(i)) for i in range(args.clients)]
    await asyncio.sleep(max(0.0, begin - time.time()))
    cpu0 = time.process_time()
    await asyncio.sleep(max(0.0, end - time.time()))
    cpu1 = time.process_time()
    await asyncio.gather(*tasks)
    await engine.dispose()
    return {"measured": len(latencies), "total": total, "cpu": cpu1 - cpu0,
            "latencies": latencies}


async def _backend_pids(url: str, dbname: str) -> list[int]:
    """PostgreSQL backends serving the benchmark's database (the clients' pools)."""
    from sqlalchemy import text

    engine = _engine(url, 1)
    async with engine.connect() as conn:
        pids = (await conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> "
            "pg_backend_pid()"), {"d": dbname})).scalars().all()
    await engine.dispose()
    return [int(p) for p in pids]


def _cpu(pids: list[int]) -> dict[int, float]:
    return {pid: lib.proc_cpu_seconds(pid) for pid in pids}


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _round(url: str, clients: int, processes: int, args: argparse.Namespace,
           logdir: Path) -> dict[str, Any]:
    before = lib.run(_ledger_state(url))
    start = time.time() + 2.0  # every process imported and connected by then
    per = [clients // processes + (i < clients % processes) for i in range(processes)]
    procs = []
    first = 0
    for i, n in enumerate(per):
        cmd = [lib.PYTHON, str(Path(__file__).resolve()), "--worker", "--url", url,
               "--clients", str(n), "--first", str(first), "--projects",
               str(args.projects), "--start", str(start), "--warmup", str(args.warmup),
               "--duration", str(args.duration)] + (
                   ["--no-pre-ping"] if args.no_pre_ping else []) + (
                   ["--no-batch"] if args.no_batch else [])
        first += n
        log = open(logdir / f"worker-{clients}-{processes}-{i}.log", "w")
        procs.append((subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                                       cwd=REPO, preexec_fn=lib._die_with_parent), log))
    time.sleep(max(0.0, start + args.warmup - time.time()))
    pids = lib.run(_backend_pids(url, url.rsplit("/", 1)[1])) if args.db == "postgresql" else []
    pg0, busy0 = _cpu(pids), _machine_busy()
    time.sleep(max(0.0, start + args.warmup + args.duration - time.time()))
    pg1, busy1 = _cpu(pids), _machine_busy()
    results = []
    for proc, log in procs:
        out, _ = proc.communicate(timeout=args.duration + 120)
        log.close()
        if proc.returncode != 0:
            raise RuntimeError(f"worker failed ({proc.returncode}); see {log.name}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    after = lib.run(_ledger_state(url))
    measured = sum(r["measured"] for r in results)
    lat = lib.summarize_ms(x for r in results for x in r["latencies"])
    return {"clients": clients, "processes": processes, "projects": args.projects,
            "rate": measured / args.duration, "p50": lat["p50"], "p99": lat["p99"],
            "client_cpu_ms": 1000 * sum(r["cpu"] for r in results) / max(1, measured),
            "pg_cpu_ms": 1000 * sum(pg1[p] - pg0[p] for p in pids) / max(1, measured),
            "machine_busy": (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
            "ledger_exact": (after[0] - before[0] == sum(r["total"] for r in results)
                             and after[1] == 0)}


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--start", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    p.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1:5432",
                   help="PostgreSQL server, trust auth (default: %(default)s)")
    p.add_argument("--clients", default="1,8,32",
                   help="concurrent clients in total, one round each (default: %(default)s)")
    p.add_argument("--processes", default="1,2",
                   help="OS processes the clients are spread over (default: %(default)s)")
    p.add_argument("--projects", type=int, default=32,
                   help="projects the clients admit into, round robin (default: "
                        "%(default)s; 1 makes every admission contend for the same rows)")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per round")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per round")
    p.add_argument("--no-pre-ping", action="store_true",
                   help="what-if: clients' pools without pool_pre_ping (Cascade's engine "
                        "pings each checkout: BEGIN, a probe and ROLLBACK, 3 round trips)")
    p.add_argument("--no-batch", action="store_true",
                   help="each admission in its own transaction (ledger.reserve), not "
                        "batched with the process's concurrent admissions of the project")
    p.add_argument("--json", help="write every result to this file")
    args = p.parse_args(argv)
    if args.worker:
        args.clients = int(args.clients)
        print(json.dumps(lib.run(_worker(args))))
        return 0

    info = lib.machine_info()
    print(f"machine: {info['cpus']} CPUs {info['model']}, load {info['loadavg']}, python "
          f"{info['python']}, sqlalchemy {info['sqlalchemy']}, {info['loop']}")
    print(f"cascade: {lib.describe_working_tree()}; database {args.db}, "
          f"{args.projects} projects{', pools without pre-ping' if args.no_pre_ping else ''}"
          f"{', no batching' if args.no_batch else ''}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="cascade-bench-") as tmp, \
            lib.Database(args.db, Path(tmp), args.pg_dsn) as db:
        lib.run(_prepare(db.url, args.projects))
        for processes in _ints(args.processes):
            for clients in _ints(args.clients):
                if clients < processes:
                    continue
                res = _round(db.url, clients, processes, args, Path(tmp))
                rows.append(res)
                print(f"  {processes} proc x {clients:3d} clients: {res['rate']:7.0f}/s "
                      f"p50 {res['p50']:6.2f} ms p99 {res['p99']:6.2f} ms, CPU per "
                      f"admission: clients {res['client_cpu_ms']:.2f} ms, PostgreSQL "
                      f"{res['pg_cpu_ms']:.2f} ms; machine busy {res['machine_busy']:.0%}; "
                      f"ledger exact: {res['ledger_exact']}",
                      flush=True)
    print()
    print(lib.table(["processes", "clients", "projects", "admissions/s", "p50 ms", "p99 ms",
                     "client CPU ms/adm", "PG backends CPU ms/adm", "machine busy",
                     "ledger exact"],
                    [[r["processes"], r["clients"], r["projects"], f"{r['rate']:.0f}",
                      f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{r['client_cpu_ms']:.2f}",
                      f"{r['pg_cpu_ms']:.2f}", f"{r['machine_busy']:.0%}", r["ledger_exact"]]
                     for r in rows]))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "results": rows}, indent=2))
    return 0 if all(r["ledger_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
