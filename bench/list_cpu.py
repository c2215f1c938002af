#!/usr/bin/env python3
"""Cascade's own CPU for one merged server list, without sockets or a database.

``Servers.list_servers`` runs in this process against canned regional pages
(``--regions`` x ``--servers-per-region`` servers of ~2 KB, as bench/_benchlib.py
writes them, all mapped in the in-process cache): the decode, mapping, rewrite,
fingerprints, merge and encoding of a ``GET /servers/detail``, and nothing of
HTTP. What ``list_fanout.py`` measures end to end moves with the host's load;
this moves much less, and under callgrind not at all.

    .venv/bin/python bench/list_cpu.py                       # CPU ms per list
    .venv/bin/python bench/list_cpu.py --src /tmp/old        # another checkout
    # instructions per list: the difference of two counts, divided by --lists
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/list_cpu.py --lists 0 --count
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/list_cpu.py --lists 100 --count
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
import types
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CASCADE_BASE = "http://127.0.0.1:28080/compute/v2.1"
PROJECT = "p" * 32


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--src", default=str(HERE.parent), help="Cascade checkout to measure")
    p.add_argument("--regions", type=int, default=4)
    p.add_argument("--servers-per-region", type=int, default=25)
    p.add_argument("--lists", type=int, default=300, help="lists per timed round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--list-view-cache-mb", type=int, default=64,
                   help="[api] list_view_cache_mb (0: off; 0.02, i.e. 1: every list works "
                        "out every server again, 100 servers do not fit)")
    p.add_argument("--changing", action="store_true",
                   help="every server changes between lists (its `updated` time): no "
                        "list finds a server as an earlier one saw it")
    p.add_argument("--count", action="store_true",
                   help="run --lists lists once and print nothing (for callgrind)")
    return p.parse_args()


def canned_pages(regions: list[str], per_region: int, versions: int
                 ) -> tuple[dict[str, tuple[str, list[bytes]]], list[tuple[str, str, str]]]:
    """Each region's compute base and ``versions`` list answers, each with every
    server's ``updated`` time moved on; (region, local, global) ids."""
    import _benchlib as bl
    pages, ids = {}, []
    for r, region in enumerate(regions):
        base = f"http://127.0.0.1:{25000 + r}"
        docs = []
        for i in range(per_region):
            local, gid = str(uuid.uuid4()), str(uuid.uuid4())
            docs.append(bl._server_doc(
                base, local, f"s{r}-{i}", PROJECT, "u" * 32,
                {"cascade_global_id": gid, "cascade_owner": "cascade"},
                f"2026-01-01T{r:02d}:{i // 60:02d}:{59 - i % 60:02d}Z", "nova"))
            ids.append((region, local, gid))
        texts = []
        for v in range(versions):
            for doc in docs:
                doc["updated"] = f"2026-02-01T00:00:00.{v:06d}Z"
            texts.append(json.dumps({"servers": docs}).encode())
        pages[region] = (f"{base}/compute/v2.1", texts)
    return pages, ids


def main() -> int:
    args = parse_args()
    sys.path.insert(0, args.src)
    sys.path.insert(1, str(HERE))
    import orjson

    import _benchlib as bl
    try:
        from cascade.compute import server_cache
        from cascade.compute.server_ops import Servers
    except ImportError:  # a checkout from before the compute service left api/ (--src)
        from api.compute import server_cache  # type: ignore[no-redef]
        from api.compute.server_ops import Servers  # type: ignore[no-redef]
    from cascade.context import RequestContext
    from cascade.regions.client import RegionResponse
    try:
        from cascade.mapping.cache import Mapping
    except ImportError:  # a checkout from before one import namespace (--src)
        from mapping.cache import Mapping  # type: ignore[no-redef]

    regions = [f"Region{i + 1}" for i in range(args.regions)]
    # Under --count the same pages are built whatever --lists is (up to 200 lists),
    # so that two counts differ by the lists alone.
    versions = 1
    if args.changing:
        versions = 201 if args.count else 1 + args.lists * args.rounds
    pages, ids = canned_pages(regions, args.servers_per_region, versions)
    asked = {r: 0 for r in regions}

    class Client:
        def base_url(self, region: str, service: str) -> str:
            return pages[region][0]

        async def request(self, ctx: Any, region: str, service: str, method: str,
                          path: str, **kw: Any) -> RegionResponse:
            texts = pages[region][1]
            text = texts[asked[region] % len(texts)]
            asked[region] += 1
            body = text if kw.get("decode", True) is False else orjson.loads(text)
            return RegionResponse(region, 200, {}, body, None)

    class Registry:
        def get(self, region: str) -> Any:
            return types.SimpleNamespace(availability_zone=f"zone-{region}")

    class NoDatabase:
        """Sessions that must not be used (the list should need no database here)."""
        kw = {"bind": types.SimpleNamespace(execution_options=lambda **_: None)}

        def __call__(self) -> Any:
            raise AssertionError("the list should need no database here")

        begin = __call__

    no_database = NoDatabase()

    async def stored(sessions: Any, views: Any) -> None:
        return None  # the first list stores every view; the rest store none

    server_cache.store_views = stored
    conf = types.SimpleNamespace(api=types.SimpleNamespace(
        region_timeout=5.0, regions_in_use_cache_seconds=1e9,
        list_view_cache_mb=args.list_view_cache_mb))
    servers = Servers(conf, no_database, Registry(), Client(), None)  # type: ignore[arg-type]
    # Internals, set as a warm Cascade has them: mappings and regions in use cached.
    for region, local, gid in ids:
        servers._cache.put(Mapping(gid, PROJECT, region, local))
    servers._in_use[PROJECT] = (time.monotonic() + 1e9, set(regions), False)
    servers._image_ids.update({(r, bl.IMAGE_ID): bl.IMAGE_ID for r in regions})
    ctx = RequestContext("req-bench", PROJECT, "u" * 32, (), "token")

    async def one() -> Any:
        return await servers.list_servers(ctx, detail=True, params={}, microversion="2.90",
                                          cascade_base=CASCADE_BASE)

    async def run() -> None:
        result = await one()
        assert len(result.servers) == len(ids), "every server listed"
        gc.freeze()
        if args.count:
            for _ in range(args.lists):
                await one()
            return
        rounds = []
        for _ in range(args.rounds):
            started = time.process_time()
            for _ in range(args.lists):
                await one()
            rounds.append((time.process_time() - started) / max(args.lists, 1) * 1e3)
        rounds.sort()
        print(f"{args.src}: {len(ids)} servers in {len(regions)} regions "
              f"(list_view_cache_mb {args.list_view_cache_mb}"
              f"{', every server changing' if args.changing else ''}): CPU per list "
              f"min {rounds[0]:.3f} ms, median {rounds[len(rounds) // 2]:.3f} ms "
              f"({args.rounds} rounds of {args.lists})")

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
