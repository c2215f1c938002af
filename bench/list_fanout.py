#!/usr/bin/env python3
"""GET /compute/v2.1/servers/detail fanned out by Cascade to slow and dead regions.

Cascade sits in front of ``--regions`` stub Novas (bench/_benchlib.py:StubNova),
each its own OS process, each answering GET /servers/detail after
``--delay`` seconds (asyncio.sleep) with ``--servers-per-region`` servers of
~2 KB that were created through Cascade (so they are mapped).

Phases, each with sequential requests from this process:

1. reference: the slowest region asked directly (delay + its own HTTP cost);
2. healthy: Cascade's merged list; goal p50 <= 1.15 x the region delay;
3. hung region: the last region never answers the list (``/_bench/hang``);
   with ``[api] region_timeout = --region-timeout`` the answer must still come
   within the deadline (plus a small overhead, goal <= 1.15 x the deadline), with
   ``X-Cascade-Partial`` naming the region and the other regions' servers;
4. dead region: the last region's process is killed (its port is closed); same
   checks.

Run from the repository root::

    .venv/bin/python bench/list_fanout.py                  # SQLite, ~30 s
    .venv/bin/python bench/list_fanout.py --db postgresql
    .venv/bin/python bench/list_fanout.py --profile py-spy # where Cascade spends CPU

Cascade runs with ``background=False`` (no periodic region probe), so a region
that dies after start-up is still believed up and is asked on every request:
this measures the deadline path, not the probe's "known down" short cut.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchlib as bl  # noqa: E402

GOAL_FANOUT = 1.15          # x the slowest region's delay
GOAL_DEADLINE = 1.15        # x region_timeout, when a region is dead or hangs
PARTIAL = "X-Cascade-Partial"
#: Requested compute microversion: 2.69+ marks servers served from cache as UNKNOWN.
MICROVERSION = "2.90"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    bl.add_common_args(p)
    p.add_argument("--regions", type=int, default=4, help="stub regions (default 4)")
    p.add_argument("--servers-per-region", type=int, default=25, help="default 25")
    p.add_argument("--delay", type=float, default=0.05,
                   help="seconds each region takes to answer the list (default 0.05)")
    p.add_argument("--requests", type=int, default=50,
                   help="measured sequential requests, healthy phase (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up requests (default 5)")
    p.add_argument("--region-timeout", type=float, default=0.5,
                   help="[api] region_timeout in seconds (default 0.5)")
    p.add_argument("--dead-requests", type=int, default=10,
                   help="sequential requests per dead-region phase (default 10)")
    p.add_argument("--profile", choices=["none", "py-spy"], default="none",
                   help="extra healthy run with py-spy attached to Cascade")
    p.add_argument("--profile-seconds", type=float, default=6.0)
    p.add_argument("--pin", action="store_true",
                   help="CPU affinity: Cascade alone on CPU 1; the stub regions and this "
                        "process (the client) on CPU 0, as regions on other hosts would be")
    p.add_argument("--json", metavar="FILE", help="also write all results as JSON")
    return p.parse_args(argv)


async def timed_gets(url: str, n: int, warmup: int) -> dict[str, Any]:
    """Sequential GETs; latencies, statuses, partial headers and server counts."""
    import aiohttp

    lat: list[float] = []
    wall: list[tuple[float, float]] = []
    statuses: set[int] = set()
    partial: set[str] = set()
    counts: set[int] = set()
    unknown: set[int] = set()
    perf = time.perf_counter
    headers = {**bl.HEADERS, "OpenStack-API-Version": f"compute {MICROVERSION}"}
    async with aiohttp.ClientSession(headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        for i in range(warmup + n):
            w0, t0 = time.time(), perf()
            async with session.get(url) as resp:
                body = await resp.read()
                dt = perf() - t0
                w1 = time.time()
                status, hdr = resp.status, resp.headers.get(PARTIAL)
            if i < warmup:
                continue
            lat.append(dt)
            wall.append((w0, w1))
            statuses.add(status)
            partial.add(hdr or "")
            with contextlib.suppress(ValueError, KeyError):
                servers = json.loads(body)["servers"]
                counts.add(len(servers))
                unknown.add(sum(1 for s in servers if s.get("status") == "UNKNOWN"))
    out = bl.summarize_ms(lat)
    out.update(statuses=sorted(statuses), partial=sorted(partial), counts=sorted(counts),
               unknown=sorted(unknown), body_bytes=len(body), wall=wall,
               lat_ms=[round(x * 1000.0, 3) for x in lat])
    return out


async def get_json(url: str) -> Any:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return await r.json(content_type=None)


def timeline(requests: list[tuple[float, float]],
             regions: dict[str, list[tuple[float, float]]]) -> dict[str, float] | None:
    """Median split of each Cascade list request, from the stubs' wall-clock stamps:
    before the first region is asked, the regional span, after the last answer."""
    before, span, after, arrivals, answers = [], [], [], [], []
    for w0, w1 in requests:
        hits = [(a, d) for times in regions.values() for a, d in times if w0 <= a <= w1]
        if len(hits) != len(regions):
            continue
        first = min(a for a, _ in hits)
        last = max(d for _, d in hits)
        before.append(first - w0)
        span.append(last - first)
        after.append(w1 - last)
        arrivals.append(max(a for a, _ in hits) - first)
        answers.append(last - min(d for _, d in hits))
    if not before:
        return None

    def med(xs: list[float]) -> float:
        return sorted(xs)[len(xs) // 2] * 1000.0
    return {"n": len(before), "before_ms": med(before), "regions_ms": med(span),
            "after_ms": med(after), "arrivals_ms": med(arrivals), "answers_ms": med(answers)}


async def post_json(url: str, body: Any) -> Any:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.post(url, json=body) as r:
        return await r.json(content_type=None)


def profile(kids: bl.Children, cascade: bl.Child, url: str, args: argparse.Namespace,
            wd: Path) -> str:
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(pyspy).exists():
        return "py-spy not found: .venv/bin/pip install py-spy"
    out = wd / "cascade-list.pyspy.raw"
    seconds = max(1, round(args.profile_seconds))
    rate = 200
    spy = subprocess.Popen([pyspy, "record", "-p", str(cascade.popen.pid), "-d", str(seconds),
                            "-r", str(rate), "-f", "raw", "--full-filenames", "-t", "--gil",
                            "-o", str(out)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    served = 0
    while spy.poll() is None:      # keep Cascade busy for the whole sampling window
        served += asyncio.run(timed_gets(url, 3, 0))["n"]
    _, err = spy.communicate(timeout=60)
    if spy.returncode != 0 or not out.exists():
        return f"py-spy failed ({spy.returncode}): {err.strip()[-500:]}"
    if args.keep_workdir:
        print(f"py-spy raw stacks: {out}")
    # requests served during the sampled window (sequential, so nearly all of them)
    return bl.PySpyProfile(out, rate, seconds, served).report()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = bl.machine_info()
    print(f"machine: {info['cpus']} CPUs, {info['model']}; Python {info['python']}, "
          f"aiohttp {info['aiohttp']}, SQLAlchemy {info['sqlalchemy']}, loop {info['loop']}; "
          f"load average {info['loadavg']}")
    print(f"db={args.db} regions={args.regions} servers/region={args.servers_per_region} "
          f"delay={args.delay * 1000:g}ms region_timeout={args.region_timeout}s "
          f"cascade-log-level={args.cascade_log_level}")
    names = [f"Region{i + 1}" for i in range(args.regions)]
    victim = names[-1]
    results: dict[str, Any] = {"machine": info, "args": vars(args)}

    # exit order: children stop first, then the throwaway database is dropped
    with bl.workdir(args.keep_workdir) as wd, bl.Database(args.db, Path(wd), args.pg_dsn) as db, \
            bl.Children(Path(wd)) as kids:
        wd = Path(wd)
        kids.src, code = bl.cascade_source(args.git_ref, wd)
        info["code"] = code
        print(f"Cascade code: {code}")
        stubs = {n: kids.spawn(f"stub-{n}", ["stub", "--name", n, "--list-delay",
                                               str(args.delay)]) for n in names}
        conf = bl.write_cascade_conf(
            wd / "cascade.conf", db.url, {n: s.url for n, s in stubs.items()},
            region_timeout=args.region_timeout,
            connect_timeout=min(args.region_timeout, 0.5), auth_base=stubs[names[0]].url)
        cascade = kids.spawn("cascade", ["cascade", "--config", str(conf),
                                         "--log-level", args.cascade_log_level])
        if args.pin:
            bl.pin(cascade, 1)
            for stub in stubs.values():
                bl.pin(stub, 0)
            with contextlib.suppress(OSError, AttributeError):
                os.sched_setaffinity(0, {0})
        t0 = time.perf_counter()
        ids = asyncio.run(bl.create_servers(cascade.url, {n: args.servers_per_region
                                                          for n in names}))
        print(f"created {len(ids)} servers through Cascade ({args.servers_per_region} in each "
              f"of {args.regions} regions) in {time.perf_counter() - t0:.1f}s")
        list_url = f"{cascade.url}/compute/v2.1/servers/detail"
        total = args.regions * args.servers_per_region

        ref = asyncio.run(timed_gets(f"{stubs[names[0]].url}/compute/v2.1/servers/detail",
                                     args.requests, args.warmup))
        # warm-up apart: the first list after the creates maps every server from the
        # database and stores every view, which is not the steady state measured here
        if args.warmup:
            asyncio.run(timed_gets(list_url, 0, args.warmup))
        cpu0 = bl.proc_cpu_seconds(cascade.popen.pid)
        healthy = asyncio.run(timed_gets(list_url, args.requests, 0))
        healthy["cascade_cpu_ms_per_req"] = ((bl.proc_cpu_seconds(cascade.popen.pid) - cpu0)
                                             * 1000.0 / args.requests)
        print(f"  reference (one region directly): p50 {ref['p50']:.1f} ms, "
              f"{ref['body_bytes']} B")
        times = {n: asyncio.run(get_json(f"{s.url}/_bench/list_times"))
                 for n, s in stubs.items()}
        healthy["timeline"] = timeline(healthy.pop("wall"), times)
        print(f"  Cascade, healthy: p50 {healthy['p50']:.1f} ms p90 {healthy['p90']:.1f} ms, "
              f"{healthy['counts']} servers, {healthy['body_bytes']} B, Cascade CPU "
              f"{healthy['cascade_cpu_ms_per_req']:.1f} ms per request")

        profile_text = ""
        if args.profile == "py-spy":
            print(f"  profiling Cascade on the healthy list for {args.profile_seconds:g}s "
                  "(py-spy; extra run, not in the tables)...")
            profile_text = profile(kids, cascade, list_url, args, wd)

        asyncio.run(post_json(f"{stubs[victim].url}/_bench/hang", {"hang": True}))
        hung = asyncio.run(timed_gets(list_url, args.dead_requests, 1))
        asyncio.run(post_json(f"{stubs[victim].url}/_bench/hang", {"hang": False}))
        print(f"  {victim} hangs: p50 {hung['p50']:.1f} ms max {hung['max']:.1f} ms, "
              f"partial={hung['partial']}")

        kids.kill_hard(stubs[victim])
        refused = _port_closed(stubs[victim].port)
        dead = asyncio.run(timed_gets(list_url, args.dead_requests, 1))
        print(f"  {victim} killed (connection refused: {refused}): p50 {dead['p50']:.1f} ms "
              f"max {dead['max']:.1f} ms, partial={dead['partial']}")

        for r in (ref, hung, dead):
            r.pop("wall", None)
        results.update(reference=ref, healthy=healthy, hung=hung, dead=dead)
        report(args, victim, total, ref, healthy, hung, dead, results)
        if profile_text:
            print(f"\nWhere Cascade spends its time on the healthy list ({args.regions} regions, "
                  f"{total} servers):")
            print(profile_text)
            results["profile"] = profile_text

        tail = cascade.log_tail(400)
        problems = [ln for ln in tail.splitlines() if "ERROR" in ln or "Traceback" in ln]
        if problems:
            print("\ncascade logged errors:\n" + "\n".join(problems[:10]))

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


def _port_closed(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
    return False


def report(args: argparse.Namespace, victim: str, total: int, ref: dict[str, Any],
           healthy: dict[str, Any], hung: dict[str, Any], dead: dict[str, Any],
           results: dict[str, Any]) -> None:
    delay_ms = args.delay * 1000
    deadline_ms = args.region_timeout * 1000
    rows = []
    for label, r in ((f"one region directly ({args.delay * 1000:g} ms delay)", ref),
                     (f"Cascade, {args.regions} healthy regions", healthy),
                     (f"Cascade, {victim} hangs", hung),
                     (f"Cascade, {victim} killed (port closed)", dead)):
        rows.append([label, r["n"], f"{r['p50']:.1f}", f"{r['p90']:.1f}", f"{r['max']:.1f}",
                     ",".join(map(str, r["statuses"])), ",".join(map(str, r["counts"])),
                     ",".join(map(str, r["unknown"])),
                     ",".join(p or "-" for p in r["partial"])])
    print(f"\nGET /compute/v2.1/servers/detail, sequential requests (ms); region_timeout "
          f"{args.region_timeout:g}s:")
    print(bl.table(["case", "n", "p50", "p90", "max", "status", "servers", "UNKNOWN",
                    PARTIAL], rows))

    fan_ratio = healthy["p50"] / delay_ms
    fan_ratio90 = healthy["p90"] / delay_ms
    ok_fan = fan_ratio <= GOAL_FANOUT and healthy["counts"] == [total] \
        and healthy["partial"] == [""]

    live = total - args.servers_per_region
    bound = deadline_ms * GOAL_DEADLINE

    def dead_verdict(r: dict[str, Any]) -> str:
        # the dead region's servers are either omitted or served from Cascade's cache
        # (status UNKNOWN from 2.69); the live regions' servers must all be there
        if not (r["statuses"] == [200] and r["partial"] == [victim]
                and all(c - u >= live for c, u in zip(r["counts"], r["unknown"]))):
            return "MISSED (wrong answer)"
        if r["max"] <= bound:
            return "MET"
        if r["p90"] <= bound:
            return f"MET at p90; {sum(1 for x in r['lat_ms'] if x > bound)} of {r['n']} over"
        return "MISSED"
    v_hung, v_dead = dead_verdict(hung), dead_verdict(dead)
    ok_hung, ok_dead = v_hung.startswith("MET"), v_dead.startswith("MET")
    print("\nGoals:")
    print(f"  healthy fan-out p50 = {fan_ratio:.2f}x the slowest region's {delay_ms:g} ms "
          f"(p90 {fan_ratio90:.2f}x; goal p50 <= {GOAL_FANOUT}x, all {total} servers, "
          f"no {PARTIAL})  {'MET' if ok_fan else 'MISSED'}")
    print(f"      (vs the region measured directly, p50 {ref['p50']:.1f} ms: "
          f"{healthy['p50'] / ref['p50']:.2f}x; Cascade process CPU "
          f"{healthy['cascade_cpu_ms_per_req']:.1f} ms per list request)")
    tl = healthy.get("timeline")
    if tl:
        print(f"      timeline, medians over {tl['n']} requests: {tl['before_ms']:.1f} ms in "
              f"Cascade before the first region is asked, {tl['regions_ms']:.1f} ms from the "
              f"first regional arrival to the last regional answer, {tl['after_ms']:.1f} ms "
              "after the last regional answer until the client has the whole body "
              f"(the regions' arrivals spread over {tl['arrivals_ms']:.1f} ms, their answers "
              f"over {tl['answers_ms']:.1f} ms)")
    for label, r, verdict in (("hung region", hung, v_hung), ("dead region", dead, v_dead)):
        print(f"  {label}: p50 {r['p50']:.0f} ms, p90 {r['p90']:.0f} ms, max {r['max']:.0f} ms "
              f"vs deadline {deadline_ms:g} ms (goal <= {bound:.0f} ms, 200, {PARTIAL}: "
              f"{victim}, the {live} live servers)  {verdict}")
    results["summary"] = {"fanout_ratio_p50": fan_ratio, "fanout_ratio_p90": fan_ratio90,
                          "goal_fanout_met": ok_fan, "goal_hung_met": ok_hung,
                          "goal_dead_met": ok_dead, "hung_verdict": v_hung,
                          "dead_verdict": v_dead}


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
