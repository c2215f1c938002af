#!/usr/bin/env python3
"""Forwarded GET /compute/v2.1/servers/{id}: Cascade versus a bare aiohttp forwarder.

Both proxies sit in front of the SAME stub Nova (bench/_benchlib.py:StubNova, ~2 KB
server bodies serialized once). Every party is its own OS process on loopback:

    load generator --> bare forwarder (aiohttp, shared ClientSession) --> stub Nova
    load generator --> Cascade (noauth, mapping lookup, id rewrite)   --> stub Nova

Phases: create ``--servers`` servers through Cascade (so their mappings exist);
throughput at fixed ``--concurrency`` for ``--duration`` seconds after a
``--warmup`` (``--rounds`` times, alternating targets; the median round is
reported); then unloaded latency with one request at a time (the meaningful
"added p50"); optionally profile Cascade under load (``--profile py-spy``,
``pip install py-spy`` into the venv; an extra run, not counted in the results).

Goals printed next to the results: Cascade >= 0.7x bare throughput and
<= 0.3 ms added p50.

Run from the repository root::

    .venv/bin/python bench/forward_show.py                 # SQLite, ~1 min
    .venv/bin/python bench/forward_show.py --db postgresql # throwaway PG database
    .venv/bin/python bench/forward_show.py --profile py-spy

On a 2-core machine the load generator, the proxy and the stub compete for
the CPUs; the output shows each process's CPU time per request so that the
comparison can be read independently of that contention. ``--pin`` puts the
proxy alone on CPU 1 (load generator and stub on CPU 0).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchlib as bl  # noqa: E402

GOAL_RATIO = 0.7
GOAL_ADDED_P50_MS = 0.3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    bl.add_common_args(p)
    p.add_argument("--servers", type=int, default=100,
                   help="servers created through Cascade and shown in rotation (default 100)")
    p.add_argument("--concurrency", type=int, default=32, help="in-flight requests (default 32)")
    p.add_argument("--duration", type=float, default=5.0,
                   help="measured seconds per throughput round (default 5)")
    p.add_argument("--warmup", type=float, default=1.0,
                   help="warm-up seconds before each round (default 1)")
    p.add_argument("--rounds", type=int, default=3,
                   help="throughput rounds per target, alternating (default 3; median reported)")
    p.add_argument("--latency-requests", type=int, default=2000,
                   help="sequential requests for the unloaded latency phase (default 2000)")
    p.add_argument("--latency-warmup", type=int, default=200)
    p.add_argument("--pin", action="store_true",
                   help="CPU affinity: proxy on CPU 1, stub and load generator on CPU 0")
    p.add_argument("--profile", choices=["none", "py-spy"], default="none",
                   help="extra Cascade run under load with py-spy attached; prints where "
                        "Cascade's time goes")
    p.add_argument("--profile-seconds", type=float, default=8.0)
    p.add_argument("--profile-targets", default="cascade,bare",
                   help="comma list of processes to profile: cascade, bare, cascade+memo "
                        "(needs --what-if); default %(default)s")
    p.add_argument("--what-if", action="store_true",
                   help="EXPERIMENT: also measure a second Cascade process whose mapping "
                        "lookup (Servers.resolve) is memoized in memory, to show what the "
                        "show path costs without a database round trip")
    p.add_argument("--json", metavar="FILE", help="also write all results as JSON")
    return p.parse_args(argv)


def run_throughput(kids: bl.Children, target: str, url: str, ids_file: Path,
                   args: argparse.Namespace, watch: dict[str, bl.Child]) -> dict[str, Any]:
    before = {k: bl.proc_cpu_seconds(c.popen.pid) for k, c in watch.items()}
    res = kids.run_load(f"load-{target}", [
        "--base", url, "--ids-file", str(ids_file), "--concurrency", str(args.concurrency),
        "--duration", str(args.duration), "--warmup", str(args.warmup)],
        pin_cpu=0 if args.pin else None)
    after = {k: bl.proc_cpu_seconds(c.popen.pid) for k, c in watch.items()}
    sent = max(1, res["total_sent"])
    # CPU per request over the whole run (warm-up included): independent of contention
    res["cpu_ms_per_req"] = {k: (after[k] - before[k]) * 1000.0 / sent for k in watch}
    res["cpu_ms_per_req"]["loadgen"] = res["loadgen_cpu_s"] * 1000.0 / max(1, res["ok"])
    return res


def run_latency(kids: bl.Children, target: str, url: str, ids_file: Path,
                args: argparse.Namespace) -> dict[str, Any]:
    return kids.run_load(f"lat-{target}", [
        "--base", url, "--ids-file", str(ids_file), "--concurrency", "1",
        "--requests", str(args.latency_requests),
        "--warmup-requests", str(args.latency_warmup)], pin_cpu=0 if args.pin else None)


async def fetch_json(url: str) -> Any:
    import aiohttp

    async with aiohttp.ClientSession(headers=bl.HEADERS) as s, s.get(url) as r:
        return r.status, await r.read(), dict(r.headers)


def median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(rounds, key=lambda r: r["rps"])
    return ordered[(len(ordered) - 1) // 2]


def profile_target(kids: bl.Children, proc: bl.Child, name: str, url: str, ids_file: Path,
                   args: argparse.Namespace, workdir: Path) -> bl.PySpyProfile | str:
    """py-spy attached to ``proc`` for --profile-seconds while it is under load."""
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(pyspy).exists():
        return "py-spy not found: .venv/bin/pip install py-spy"
    out = workdir / f"{name}.pyspy.raw"
    seconds = max(1, round(args.profile_seconds))
    rate = 200
    load = kids.spawn(f"load-profile-{name}", [
        "load", "--base", url, "--ids-file", str(ids_file), "--concurrency",
        str(args.concurrency), "--duration", str(seconds + 1.5), "--warmup", "1"], ready=False)
    time.sleep(1.5)
    spy = subprocess.run([pyspy, "record", "-p", str(proc.popen.pid), "-d", str(seconds),
                          "-r", str(rate), "-f", "raw", "--full-filenames", "-t", "--gil",
                          "-o", str(out)], capture_output=True, text=True)
    res_out, _ = load.popen.communicate(timeout=120)
    kids.stop(load)
    if spy.returncode != 0 or not out.exists():
        return f"py-spy failed ({spy.returncode}): {spy.stderr.strip()[-500:]}"
    if args.keep_workdir:
        print(f"py-spy raw stacks: {out}")
    rps = json.loads(res_out.strip().splitlines()[-1])["rps"]
    return bl.PySpyProfile(out, rate, seconds, rps * seconds)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = bl.machine_info()
    print(f"machine: {info['cpus']} CPUs, {info['model']}; Python {info['python']}, "
          f"aiohttp {info['aiohttp']}, SQLAlchemy {info['sqlalchemy']}, loop {info['loop']}; "
          f"load average {info['loadavg']}")
    print(f"db={args.db} servers={args.servers} concurrency={args.concurrency} "
          f"duration={args.duration}s warmup={args.warmup}s rounds={args.rounds} "
          f"pin={args.pin} cascade-log-level={args.cascade_log_level}")
    results: dict[str, Any] = {"machine": info, "args": vars(args)}

    # exit order: children stop first, then the throwaway database is dropped
    with bl.workdir(args.keep_workdir) as wd, bl.Database(args.db, Path(wd), args.pg_dsn) as db, \
            bl.Children(Path(wd)) as kids:
        wd = Path(wd)
        kids.src, code = bl.cascade_source(args.git_ref, wd)
        info["code"] = code
        print(f"Cascade code: {code}")
        stub = kids.spawn("stub", ["stub", "--name", "RegionOne"])
        bare = kids.spawn("bare", ["bare", "--backend", stub.url])
        conf = bl.write_cascade_conf(wd / "cascade.conf", db.url, {"RegionOne": stub.url})
        cascade = kids.spawn("cascade", ["cascade", "--config", str(conf),
                                         "--log-level", args.cascade_log_level])
        memo = None
        if args.what_if:
            memo = kids.spawn("cascade-memo", ["cascade", "--config", str(conf),
                                               "--log-level", args.cascade_log_level,
                                               "--what-if", "cached-resolve"])
        if args.pin:
            bl.pin(stub, 0)
            for proxy in (bare, cascade, memo):
                if proxy is not None:
                    bl.pin(proxy, 1)
        print(f"stub nova :{stub.port}  bare forwarder :{bare.port}  cascade :{cascade.port}")

        t0 = time.perf_counter()
        global_ids = asyncio.run(bl.create_servers(cascade.url, {"RegionOne": args.servers}))
        print(f"created {len(global_ids)} servers through Cascade in "
              f"{time.perf_counter() - t0:.1f}s")
        _, raw_map, _ = asyncio.run(fetch_json(f"{stub.url}/_bench/ids"))
        g2l = json.loads(raw_map)
        local_ids = [g2l[g] for g in global_ids]
        (wd / "global.json").write_text(json.dumps(global_ids))
        (wd / "local.json").write_text(json.dumps(local_ids))

        # sanity: both answer 200 with the same server, Cascade with the global id
        sc, body_c, hdr_c = asyncio.run(fetch_json(
            f"{cascade.url}/compute/v2.1/servers/{global_ids[0]}"))
        sb, body_b, _ = asyncio.run(fetch_json(f"{bare.url}/compute/v2.1/servers/{local_ids[0]}"))
        if sc != 200 or sb != 200:
            raise SystemExit(f"sanity check failed: cascade {sc} {body_c[:300]!r}, "
                             f"bare {sb} {body_b[:300]!r}")
        server_c = json.loads(body_c)["server"]
        assert server_c["id"] == global_ids[0], server_c["id"]
        assert "cascade_global_id" not in server_c["metadata"]
        assert all(f":{cascade.port}/" in ln["href"] for ln in server_c["links"])
        print(f"body sizes: stub/bare {len(body_b)} B, Cascade {len(body_c)} B "
              f"(global id, Cascade links, metadata key hidden: OK)")
        results["body_bytes"] = {"bare": len(body_b), "cascade": len(body_c)}

        targets = {
            "bare": (f"{bare.url}/compute/v2.1/servers", wd / "local.json", bare),
            "cascade": (f"{cascade.url}/compute/v2.1/servers", wd / "global.json", cascade),
        }
        if memo is not None:
            targets["cascade+memo"] = (f"{memo.url}/compute/v2.1/servers", wd / "global.json",
                                       memo)
        rounds: dict[str, list[dict[str, Any]]] = {k: [] for k in targets}
        for r in range(args.rounds):
            for name, (url, ids, proxy) in targets.items():
                res = run_throughput(kids, name, url, ids, args,
                                     {"proxy": proxy, "stub": stub})
                rounds[name].append(res)
                print(f"  round {r + 1} {name:12s} {res['rps']:8.0f} req/s  "
                      f"p50 {res['p50']:.2f} ms  p99 {res['p99']:.2f} ms  "
                      f"errors {res['errors'] or 0}")
        lat = {}
        for name, (url, ids, _) in targets.items():
            lat[name] = run_latency(kids, name, url, ids, args)
        results.update(throughput_rounds=rounds, latency=lat)

        report(args, rounds, lat, results)

        if args.profile == "py-spy":
            print("\nProfiling under load (py-spy attached; extra runs, not in the tables)")
            profiles: dict[str, bl.PySpyProfile] = {}
            texts = []
            for tname in args.profile_targets.split(","):
                if tname not in targets:
                    continue
                url, ids, proc = targets[tname]
                prof = profile_target(kids, proc, tname, url, ids, args, wd)
                if isinstance(prof, str):
                    texts.append(f"{tname}: {prof}")
                    continue
                profiles[tname] = prof
                if tname != "bare":
                    texts.append(f"\n=== {tname} ===\n" + prof.report())
            if len(profiles) > 1:
                texts.append("\n" + bl.compare_profiles(profiles))
            summary = "\n".join(texts)
            results["profile"] = summary
            print(summary)
        for name, child in (("cascade", cascade), ("bare", bare), ("stub", stub)):
            tail = child.log_tail(200)
            problems = [ln for ln in tail.splitlines() if "ERROR" in ln or "Traceback" in ln]
            if problems:
                print(f"\n{name} logged errors:\n" + "\n".join(problems[:10]))

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


def report(args: argparse.Namespace, rounds: dict[str, list[dict[str, Any]]],
           lat: dict[str, dict[str, Any]], results: dict[str, Any]) -> None:
    tp = {k: median_round(v) for k, v in rounds.items()}
    rows = []
    for name in rounds:
        t = tp[name]
        cpu = t["cpu_ms_per_req"]
        rows.append([name, f"{t['rps']:.0f}", f"{t['p50']:.2f}", f"{t['p90']:.2f}",
                     f"{t['p99']:.2f}", f"{cpu['proxy']:.3f}", f"{cpu['stub']:.3f}",
                     f"{cpu['loadgen']:.3f}",
                     sum(t["errors"].values()) if t["errors"] else 0])
    print(f"\nThroughput, concurrency {args.concurrency}, median of {args.rounds} rounds "
          f"of {args.duration:g}s (latencies in ms; CPU ms per request by process):")
    print(bl.table(["target", "req/s", "p50", "p90", "p99", "CPU proxy", "CPU stub",
                    "CPU loadgen", "errors"], rows))
    rows = []
    for name in lat:
        t = lat[name]
        rows.append([name, t["n"], f"{t['rps']:.0f}", f"{t['p50']:.3f}", f"{t['p90']:.3f}",
                     f"{t['p99']:.3f}", f"{t['mean']:.3f}"])
    print(f"\nUnloaded latency, one request at a time ({args.latency_requests} requests "
          f"after {args.latency_warmup} warm-up; ms):")
    print(bl.table(["target", "n", "req/s", "p50", "p90", "p99", "mean"], rows))

    ratio = tp["cascade"]["rps"] / tp["bare"]["rps"] if tp["bare"]["rps"] else 0.0
    added_p50 = lat["cascade"]["p50"] - lat["bare"]["p50"]
    added_p50_loaded = tp["cascade"]["p50"] - tp["bare"]["p50"]
    cpu_ratio = (tp["bare"]["cpu_ms_per_req"]["proxy"] / tp["cascade"]["cpu_ms_per_req"]["proxy"]
                 if tp["cascade"]["cpu_ms_per_req"]["proxy"] else 0.0)
    ok_ratio, ok_p50 = ratio >= GOAL_RATIO, added_p50 <= GOAL_ADDED_P50_MS
    print("\nGoals:")
    print(f"  throughput Cascade/bare = {ratio:.2f}x   (goal >= {GOAL_RATIO}x)  "
          f"{'MET' if ok_ratio else 'MISSED'}")
    print(f"  added p50 (unloaded)    = {added_p50:+.3f} ms (goal <= {GOAL_ADDED_P50_MS} ms) "
          f"{'MET' if ok_p50 else 'MISSED'}")
    print(f"  for reference: added p50 at concurrency {args.concurrency} = "
          f"{added_p50_loaded:+.2f} ms; proxy CPU per request bare/Cascade = "
          f"{cpu_ratio:.2f}x (the throughput ratio a CPU-bound proxy with a core of its "
          f"own would approach)")
    results["summary"] = {"ratio": ratio, "added_p50_ms": added_p50,
                          "added_p50_loaded_ms": added_p50_loaded,
                          "cpu_ratio": cpu_ratio, "goal_ratio_met": ok_ratio,
                          "goal_p50_met": ok_p50,
                          "tp_median": {k: {x: v[x] for x in ("rps", "p50", "p90", "p99")}
                                        for k, v in tp.items()}}
    if "cascade+memo" in tp:
        m_ratio = tp["cascade+memo"]["rps"] / tp["bare"]["rps"] if tp["bare"]["rps"] else 0.0
        m_added = lat["cascade+memo"]["p50"] - lat["bare"]["p50"]
        print(f"  what-if (mapping lookup memoized, experiment): {m_ratio:.2f}x throughput, "
              f"{m_added:+.3f} ms added p50")
        results["summary"].update(memo_ratio=m_ratio, memo_added_p50_ms=m_added)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
