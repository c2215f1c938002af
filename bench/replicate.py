#!/usr/bin/env python3
"""Image replication: Cascade's verified copy versus a raw streaming copy of the same bytes.

Two stub Glance servers and a copier, each its own OS process on loopback::

    source Glance --GET /v2/images/{id}/file--> copier --PUT /v2/images/{id}/file--> target Glance

* The source serves images of the requested sizes, generated on the fly from a
  repeating 1 MiB random block (nothing is held whole). Their size, MD5
  ``checksum`` and sha512 ``os_hash_value`` are computed once at start-up.
* The target accepts ``POST /v2/images`` (queued), then ``PUT .../file``. It
  reads the body as it arrives and counts and hashes it (MD5 + sha512) as
  Glance does, then discards it. ``GET`` shows it ``active`` with size and
  hashes; ``DELETE`` removes it.
* The copier is a fresh process per run, in one of two modes:

  ``raw``: aiohttp GET of the source file piped chunk by chunk (1 MiB) into an
  aiohttp chunked PUT to the target. There is no hashing in the copier. This is
  the reference.

  ``cascade``: ``sync.image_replication._copy`` itself with a real
  ``RegionClient`` on a ``RegionRegistry`` whose regions override the image
  endpoint to the stubs, a real oslo.config conf (``[image]
  progress_every_mib`` default), and a job context whose ``progress`` is a
  no-op. The copy is the code path of the ``image_replication`` job without its
  database bookkeeping.

  Both use the ClientSession that Cascade's processes use
  (``TCPConnector(limit=200, limit_per_host=50)``). The image metadata GET and
  the POST that creates the queued target image are not timed. Cascade's timed
  section includes its final metadata GET and verification.

The measured runs alternate between the modes (``--rounds``, default 3 of each)
at ``--size-mib`` (default 1024). Then Cascade copies the ``--mem-sizes-mib``
images too, to show that memory does not grow with the image size.

Memory is the copier process's peak RSS growth during the copy. The baseline is
``VmRSS`` after start-up, session set-up and ``gc.collect()``. Then
``/proc/self/clear_refs`` resets ``VmHWM``, and after the copy ``VmHWM`` minus
the baseline is reported. A thread sampling ``VmRSS`` every 20 ms gives a second
figure.

CPU is read per thread from ``/proc`` (the copier's event loop, the copier's
worker threads) and per process (the stubs). These figures do not depend on
contention. "Other load" is what the rest of the machine used during the copy,
from ``/proc/stat``. Before each copy the script waits up to ``--wait-idle``
seconds for the machine to be quiet.

In Cascade mode, every hashing hop through the executor is timed:
submitted, started in a worker, hashed, completion seen by the loop. This gives
a timeline of where the copy's wall time goes.

Goals: Cascade >= 0.9x the raw copy's throughput (median of the rounds), and peak
RSS growth <= 64 MiB whatever the size.

Run from the repository root::

    .venv/bin/python bench/replicate.py                       # 1 GiB, ~1 min when idle
    .venv/bin/python bench/replicate.py --size-mib 4096 --rounds 1
    .venv/bin/python bench/replicate.py --pin                 # copier on a core of its own
    .venv/bin/python bench/replicate.py --profile py-spy      # + where the time goes
    .venv/bin/python bench/replicate.py --what-if             # + experimental variants

On a 2-core machine the stubs and the copier share the CPUs, so the target's
hashing (as Glance does it) and Cascade's hashing compete for them. ``--pin``
puts the stubs on CPU 0 and the copier on CPU 1. ``--target-hash off`` takes
the target's hashing away. Each shows one factor on its own.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchlib as bl  # noqa: E402

MiB = 1 << 20
BLOCK = MiB                       # the repeating random block of the generated images
CHUNK = 1 << 20                   # the copier's read size (as sync.image_replication._CHUNK)
SEED = 20260101
GOAL_RATIO = 0.9
GOAL_RSS_MIB = 64.0
_NS = uuid.UUID("6b0e7c52-3c1f-4c51-9d1e-0a5e2f1b7c10")
TOKEN_HDR = {"X-Auth-Token": bl.TOKEN}


def image_id(size: int) -> str:
    """The source image of ``size`` bytes (the parent and the stub agree on it)."""
    return str(uuid.uuid5(_NS, f"bench-image-{size}"))


def _block() -> bytes:
    return random.Random(SEED).randbytes(BLOCK)


def pieces(block: bytes, start: int, end: int, step: int) -> Iterator[memoryview]:
    """The bytes [start, end) of the endless repetition of ``block``, in <= step slices."""
    view = memoryview(block)
    pos = start
    while pos < end:
        off = pos % len(block)
        n = min(step, len(block) - off, end - pos)
        yield view[off:off + n]
        pos += n


# ---------------------------------------------------------------------------
# stub Glance: source
# ---------------------------------------------------------------------------

class SourceGlance:
    """Serves generated images: metadata, and the data streamed from one 1 MiB block."""

    def __init__(self, sizes: Sequence[int], write_size: int) -> None:
        self.block = _block()
        self.write_size = write_size
        self.images: dict[str, dict[str, Any]] = {}
        self.downloads = 0
        self._hash(sorted(set(sizes)))

    def _hash(self, sizes: list[int]) -> None:
        """MD5 and sha512 of every size, streaming once to the largest (one thread each)."""
        found: dict[str, dict[int, str]] = {"md5": {}, "sha512": {}}

        def run(algo: str) -> None:
            h = hashlib.new(algo)
            pos = 0
            for size in sizes:
                for piece in pieces(self.block, pos, size, 8 * MiB):
                    h.update(piece)
                pos = size
                found[algo][size] = h.copy().hexdigest()

        threads = [threading.Thread(target=run, args=(a,)) for a in found]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for size in sizes:
            iid = image_id(size)
            self.images[iid] = {
                "id": iid, "name": f"bench-{size // MiB}MiB", "status": "active",
                "disk_format": "raw", "container_format": "bare", "visibility": "shared",
                "size": size, "checksum": found["md5"][size], "os_hash_algo": "sha512",
                "os_hash_value": found["sha512"][size], "min_disk": 0, "min_ram": 0,
                "tags": []}

    def app(self) -> Any:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/image/v2/images", self.list)
        app.router.add_get("/image/v2/images/{id}", self.show)
        app.router.add_get("/image/v2/images/{id}/file", self.download)
        return app

    async def list(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"images": list(self.images.values())})

    async def show(self, request: Any) -> Any:
        from aiohttp import web

        img = self.images.get(request.match_info["id"])
        if img is None:
            return web.Response(status=404, text="404 Not Found\n\nNo image found")
        return web.json_response(img, headers={"x-openstack-request-id": f"req-{uuid.uuid4()}"})

    async def download(self, request: Any) -> Any:
        from aiohttp import web

        img = self.images.get(request.match_info["id"])
        if img is None:
            return web.Response(status=404, text="404 Not Found\n\nNo image found")
        self.downloads += 1
        resp = web.StreamResponse(headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(img["size"]),
            "Content-MD5": img["checksum"], "x-openstack-request-id": f"req-{uuid.uuid4()}"})
        await resp.prepare(request)
        for piece in pieces(self.block, 0, img["size"], self.write_size):
            await resp.write(piece)
        await resp.write_eof()
        return resp


# ---------------------------------------------------------------------------
# stub Glance: target
# ---------------------------------------------------------------------------

class TargetGlance:
    """Takes uploads like Glance: reads the body as it comes, counts and hashes it, drops it."""

    def __init__(self, hash_upload: bool) -> None:
        self.hash_upload = hash_upload
        self.images: dict[str, dict[str, Any]] = {}
        self.expect: dict[str, dict[str, Any]] = {}
        self.uploads: list[dict[str, Any]] = []

    def app(self) -> Any:
        from aiohttp import web

        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/image/v2/images", self.create)
        app.router.add_get("/image/v2/images/{id}", self.show)
        app.router.add_delete("/image/v2/images/{id}", self.delete)
        app.router.add_put("/image/v2/images/{id}/file", self.upload)
        app.router.add_get("/_bench/uploads", self.get_uploads)
        return app

    @staticmethod
    def _404(iid: str) -> Any:
        from aiohttp import web

        return web.Response(status=404, text=f"404 Not Found\n\nNo image found with ID {iid}\n",
                            content_type="text/plain")

    async def create(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.json()
        iid = body.get("id") or str(uuid.uuid4())
        if iid in self.images:
            return web.Response(status=409, text="409 Conflict\n\nImage exists")
        # --target-hash off: the copier passes the expected hashes, reported if the size fits
        self.expect[iid] = {k: body.pop(f"_bench_{k}", None)
                            for k in ("size", "checksum", "os_hash_value")}
        self.images[iid] = {**body, "id": iid, "status": "queued", "size": None,
                            "checksum": None, "os_hash_algo": None, "os_hash_value": None}
        return web.json_response(self.images[iid], status=201)

    async def show(self, request: Any) -> Any:
        from aiohttp import web

        img = self.images.get(request.match_info["id"])
        return web.json_response(img) if img else self._404(request.match_info["id"])

    async def delete(self, request: Any) -> Any:
        from aiohttp import web

        self.expect.pop(request.match_info["id"], None)
        if self.images.pop(request.match_info["id"], None) is None:
            return self._404(request.match_info["id"])
        return web.Response(status=204)

    async def upload(self, request: Any) -> Any:
        from aiohttp import web

        img = self.images.get(request.match_info["id"])
        if img is None:
            return self._404(request.match_info["id"])
        img["status"] = "saving"
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()
        n = reads = 0
        t0 = time.perf_counter()
        async for data in request.content.iter_any():
            n += len(data)
            reads += 1
            if self.hash_upload:
                md5.update(data)
                sha.update(data)
        elapsed = time.perf_counter() - t0
        img.update(status="active", size=n)
        if self.hash_upload:
            img.update(checksum=md5.hexdigest(), os_hash_algo="sha512",
                       os_hash_value=sha.hexdigest())
        elif self.expect.get(img["id"], {}).get("size") == n:
            exp = self.expect[img["id"]]
            img.update(checksum=exp["checksum"], os_hash_algo="sha512",
                       os_hash_value=exp["os_hash_value"])
        self.uploads.append({"id": img["id"], "bytes": n, "reads": reads,
                             "seconds": elapsed,
                             "chunked": request.headers.get("Transfer-Encoding", "")})
        del self.uploads[:-50]
        return web.Response(status=204)

    async def get_uploads(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response(self.uploads)


# ---------------------------------------------------------------------------
# the copier (one process per run)
# ---------------------------------------------------------------------------

_CLK = os.sysconf("SC_CLK_TCK")


def _status_kib(field: str) -> int:
    m = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(m.group(1)) if m else 0


def _thread_cpu() -> dict[int, float]:
    out: dict[int, float] = {}
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            f = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            out[int(tid)] = (int(f[11]) + int(f[12])) / _CLK
    return out


def _machine_busy() -> float:
    """CPU seconds all CPUs spent busy since boot (/proc/stat: all but idle and iowait)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / _CLK


class RssSampler(threading.Thread):
    """VmRSS every ``interval`` seconds (its own thread: a busy event loop cannot delay it)."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self.tid = 0
        self._stop_evt = threading.Event()

    def run(self) -> None:
        self.tid = threading.get_native_id()
        while not self._stop_evt.is_set():
            self.peak = max(self.peak, _status_kib("VmRSS"))
            self.samples += 1
            self._stop_evt.wait(self.interval)

    def stop(self) -> None:
        self._stop_evt.set()
        self.join()


async def _raw_copy(session: Any, source: str, target: str, src_id: str,
                    dst_id: str) -> dict[str, Any]:
    """The reference: download piped into upload, nothing else."""
    done = n = 0
    async with session.get(f"{source}/image/v2/images/{src_id}/file",
                           headers=TOKEN_HDR) as src:
        src.raise_for_status()

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal done, n
            async for chunk in src.content.iter_chunked(CHUNK):
                done += len(chunk)
                n += 1
                yield chunk

        async with session.put(f"{target}/image/v2/images/{dst_id}/file", data=chunks(),
                               headers={**TOKEN_HDR,
                                        "Content-Type": "application/octet-stream"}) as up:
            await up.read()
            up.raise_for_status()
    return {"chunks": n}


class HashMeter:
    """Times each hashing hop of the copy through the executor.

    ``loop.run_in_executor`` is wrapped on this loop's instance. For every call
    that hashes (``_update``, or a digest's ``update`` when MD5 and sha512 are
    submitted apart), it records four
    times: submitted by the loop, started in a worker thread, finished there,
    and completion seen by the loop (done callback). The overhead is a few
    microseconds per chunk.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.recs: list[list[float]] = []
        self.chunk_ids: list[int] = []      # the chunk each call hashes (calls may split)
        orig = loop.run_in_executor
        perf = time.perf_counter

        def run_in_executor(executor: Any, func: Any, *args: Any) -> Any:
            if getattr(func, "__name__", "") not in ("_update", "update") or not args:
                return orig(executor, func, *args)
            rec = [perf(), 0.0, 0.0, 0.0]
            self.recs.append(rec)
            self.chunk_ids.append(id(args[-1]))

            def timed(*a: Any) -> Any:
                rec[1] = perf()
                try:
                    return func(*a)
                finally:
                    rec[2] = perf()
            fut = orig(executor, timed, *args)
            fut.add_done_callback(lambda _f: rec.__setitem__(3, perf()))
            return fut
        setattr(loop, "run_in_executor", run_in_executor)  # noqa: B010 (this loop only)

    def report(self, t0: float, t1: float) -> dict[str, Any]:
        """Per chunk (calls on the same chunk, e.g. MD5 and sha512 apart, merged: first
        submit and start, last finish and completion), summed over the copy."""
        r: list[list[float]] = []
        last = None
        for rec, cid in zip(self.recs, self.chunk_ids):
            if r and cid == last:
                m = r[-1]
                r[-1] = [min(m[0], rec[0]), min(m[1], rec[1]), max(m[2], rec[2]),
                         max(m[3], rec[3])]
            else:
                r.append(list(rec))
            last = cid
        if not r:
            return {}
        gaps = [max(0.0, b[0] - a[3]) for a, b in zip(r, r[1:])]
        return {"hash_calls": len(self.recs), "chunks": len(r),
                "hash_busy_s": sum(x[2] - x[1] for x in r),
                "hop_queue_s": sum(x[1] - x[0] for x in r),
                "hop_wake_s": sum(x[3] - x[2] for x in r),
                "between_hashes_s": sum(gaps),
                "before_first_s": r[0][0] - t0, "after_last_s": t1 - r[-1][3]}


class _Ctx:
    """What ``_copy`` uses of a JobContext: conf, client, progress (no database here)."""

    def __init__(self, conf: Any, client: Any, registry: Any = None) -> None:
        self.conf = conf
        self.client = client
        self.registry = registry
        self.progress_calls = 0

    async def progress(self, done: int, total: int | None) -> None:
        self.progress_calls += 1


async def _whatif_copy(ctx: Any, attrs: dict[str, Any], source: str, source_id: str,
                       target: str, local_id: str, variant: str) -> int:
    """EXPERIMENT ONLY (--what-if): variants of ``sync.image_replication._copy``.

    The base is ``_copy`` as of a43e7a9: each chunk hashed (MD5, then the
    os_hash_algo, one worker call), then forwarded. Since e99e296, ``_copy``
    itself does ``overlap+split``. ``variant`` is a "+"-joined set of:

    ``overlap``: a chunk goes to the upload at once and is hashed meanwhile; its
    hash is awaited before the next chunk is read. The original hashes a chunk
    before it forwards it.
    ``split``: MD5 and the os_hash_algo on two worker threads at once.
    ``4m``: read up to 4 MiB at a time instead of 1 MiB (fewer executor hops).
    ``nomd5``: the copier hashes only the os_hash_algo. MD5 is left to the
    target's ``checksum``, which ``_matches`` compares with the recorded one.
    ``target-verify``: no hashing in the copier. The replica is accepted on the
    target Glance's own size, checksum and os_hash_value (``_matches``, which
    ``_copy`` checks as well).

    The checks at the end are the original's, kept short. Returns the chunk count.
    """
    from cascade.sync.image_replication import _matches
    from cascade.sync.worker import PermanentError

    def _update(md5: Any, digest: Any, chunk: bytes) -> None:   # as at a43e7a9
        md5.update(chunk)
        digest.update(chunk)

    size = attrs.get("size")
    algo = attrs.get("os_hash_algo") or "sha512"
    md5 = hashlib.md5(usedforsecurity=False)
    digest = hashlib.new(algo)
    every = ctx.conf.image.progress_every_mib * MiB
    loop = asyncio.get_running_loop()
    opts = set(variant.split("+"))
    hashing = "target-verify" not in opts
    overlap = "overlap" in opts
    read_size = 4 * MiB if "4m" in opts else CHUNK
    done = nchunks = 0
    await ctx.progress(0, size)
    async with ctx.client.open_stream(None, source, "image", "GET",
                                      f"/v2/images/{source_id}/file") as src:

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal done, nchunks
            next_report = every
            pending: list[asyncio.Future[Any]] = []
            async for chunk in src.content.iter_chunked(read_size):
                if pending:
                    await asyncio.gather(*pending)
                    pending = []
                if "nomd5" in opts:
                    pending = [loop.run_in_executor(None, digest.update, chunk)]
                elif "split" in opts:
                    pending = [loop.run_in_executor(None, md5.update, chunk),
                               loop.run_in_executor(None, digest.update, chunk)]
                elif hashing:
                    pending = [loop.run_in_executor(None, _update, md5, digest, chunk)]
                if not overlap and pending:
                    await asyncio.gather(*pending)
                    pending = []
                done += len(chunk)
                nchunks += 1
                if done >= next_report:
                    next_report += every
                    await ctx.progress(done, size)
                yield chunk
            if pending:
                await asyncio.gather(*pending)

        async with ctx.client.open_stream(None, target, "image", "PUT",
                                          f"/v2/images/{local_id}/file", data=chunks(),
                                          headers={"Content-Type": "application/octet-stream"}):
            pass
    await ctx.progress(done, size)
    regional = (await ctx.client.get(None, target, "image", f"/v2/images/{local_id}")).body
    bad = done != size or regional.get("status") != "active" or not _matches(attrs, regional)
    if hashing:
        bad = bad or digest.hexdigest() != attrs["os_hash_value"]
        if "nomd5" in opts:
            bad = bad or regional.get("checksum") != attrs["checksum"]
        else:
            bad = bad or md5.hexdigest() != attrs["checksum"]
    elif regional.get("os_hash_algo") != algo:
        bad = True          # the target did not vouch for the strong hash: not acceptable
    if bad:
        raise PermanentError(f"what-if copy {variant} rejected")
    return nchunks


async def _copier(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    mode = args.mode
    out: dict[str, Any] = {"mode": mode, "size": args.size}
    if mode != "raw":
        import warnings

        warnings.simplefilter("ignore")
        from cascade import config
        from cascade.regions.client import RegionClient
        from cascade.regions.registry import RegionInfo, RegionRegistry
        from cascade.sync import image_replication

        out["cascade_from"] = str(Path(image_replication.__file__).resolve())
        conf = config.load([], default_config_files=[])
        registry = RegionRegistry([
            RegionInfo(name="Source", availability_zone="source",
                       overrides={"image": f"{args.source}/image"}),
            RegionInfo(name="Target", availability_zone="target",
                       overrides={"image": f"{args.target}/image"},
                       # Steady state: Cascade learnt the target's algorithm from an
                       # earlier replica (the first copy to a region hashes in the copier).
                       capabilities={"image_hash_algo": "sha512"})])
        out["progress_every_mib"] = conf.image.progress_every_mib

    src_id = image_id(args.size)
    dst_id = str(uuid.uuid4())
    connector = aiohttp.TCPConnector(limit=200, limit_per_host=50)   # as cascade/app.py
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(f"{args.source}/image/v2/images/{src_id}",
                               headers=TOKEN_HDR) as r:
            r.raise_for_status()
            attrs = await r.json()
        body = {"id": dst_id, "name": attrs["name"], "disk_format": attrs["disk_format"],
                "container_format": attrs["container_format"], "visibility": "shared",
                "cascade_global_id": src_id, "_bench_size": attrs["size"],
                "_bench_checksum": attrs["checksum"],
                "_bench_os_hash_value": attrs["os_hash_value"]}
        async with session.post(f"{args.target}/image/v2/images", json=body,
                                headers=TOKEN_HDR) as r:
            r.raise_for_status()
        ctx = None
        if mode != "raw":
            client = RegionClient(conf, registry)
            client.attach(session, None)
            ctx = _Ctx(conf, client, registry)

        if args.wait_go:                          # --profile: py-spy attaches meanwhile
            print("WAITING", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

        gc.collect()
        base_kib = _status_kib("VmRSS")
        hwm_reset = True
        try:
            Path("/proc/self/clear_refs").write_text("5")   # VmHWM := VmRSS
        except OSError:
            hwm_reset = False
        sampler = RssSampler()
        sampler.start()
        cpu0 = _thread_cpu()
        busy0 = _machine_busy()
        t0 = time.perf_counter()
        meter = HashMeter(asyncio.get_running_loop()) if mode != "raw" else None
        if mode == "raw":
            out.update(await _raw_copy(session, args.source, args.target, src_id, dst_id))
        elif mode == "cascade":
            await image_replication._copy(ctx, attrs, "Source", src_id,  # type: ignore[arg-type]
                                          "Target", dst_id)
        else:
            out["chunks"] = await _whatif_copy(ctx, attrs, "Source", src_id, "Target", dst_id,
                                               mode.split("+", 1)[1])
        elapsed = time.perf_counter() - t0
        busy1 = _machine_busy()
        cpu1 = _thread_cpu()
        sampler.stop()
        hwm_kib = _status_kib("VmHWM")
        after_kib = _status_kib("VmRSS")

        async with session.get(f"{args.target}/image/v2/images/{dst_id}",
                               headers=TOKEN_HDR) as r:
            landed = await r.json()
        async with session.delete(f"{args.target}/image/v2/images/{dst_id}",
                                  headers=TOKEN_HDR) as r:
            await r.read()

    main_tid = os.getpid()
    others = {t: cpu1[t] - cpu0.get(t, 0.0) for t in cpu1
              if t not in (main_tid, sampler.tid)}
    ok = (landed.get("status") == "active" and landed.get("size") == attrs["size"]
          and landed.get("checksum") == attrs["checksum"]
          and landed.get("os_hash_value") == attrs["os_hash_value"])
    out.update({
        "seconds": elapsed, "mib_s": args.size / MiB / elapsed, "verified": ok,
        "target_status": landed.get("status"), "target_size": landed.get("size"),
        "cpu_main_s": cpu1.get(main_tid, 0.0) - cpu0.get(main_tid, 0.0),
        "cpu_threads_s": sum(others.values()), "threads": len(others),
        "rss_base_mib": base_kib / 1024, "rss_after_mib": after_kib / 1024,
        "hwm_growth_mib": (hwm_kib - base_kib) / 1024 if hwm_reset else None,
        "sampled_growth_mib": (max(sampler.peak, after_kib) - base_kib) / 1024,
        "rss_samples": sampler.samples, "machine_busy_s": busy1 - busy0,
        "cpu_sampler_s": cpu1.get(sampler.tid, 0.0) - cpu0.get(sampler.tid, 0.0),
        "progress_calls": ctx.progress_calls if ctx else 0})
    if meter is not None:
        out.update(meter.report(t0, t0 + elapsed))
    return out


# ---------------------------------------------------------------------------
# child entry point
# ---------------------------------------------------------------------------

def child_main(argv: Sequence[str]) -> None:
    p = argparse.ArgumentParser(prog="replicate.py _child")
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("source")
    s.add_argument("--sizes", required=True, help="comma list of image sizes in bytes")
    s.add_argument("--write-kib", type=int, default=1024)
    s = sub.add_parser("target")
    s.add_argument("--hash", choices=["on", "off"], default="on")
    s = sub.add_parser("copier")
    s.add_argument("--mode", required=True)
    s.add_argument("--source", required=True)
    s.add_argument("--target", required=True)
    s.add_argument("--size", type=int, required=True)
    s.add_argument("--wait-go", action="store_true")
    s.add_argument("--src", default="")
    args = p.parse_args(argv)
    if getattr(args, "src", ""):
        sys.path.insert(0, args.src)
    if args.role == "source":
        stub: Any = SourceGlance([int(x) for x in args.sizes.split(",")], args.write_kib * 1024)
        bl.run(bl._serve(stub.app()))
    elif args.role == "target":
        bl.run(bl._serve(TargetGlance(args.hash == "on").app()))
    else:
        print(json.dumps(bl.run(_copier(args))), flush=True)


# ---------------------------------------------------------------------------
# parent
# ---------------------------------------------------------------------------

class Procs(bl.Children):
    """bl.Children, with this script (not _benchlib.py) as the children's entry point."""

    def __enter__(self) -> "Procs":
        super().__enter__()
        return self

    def spawn(self, name: str, role_args: Sequence[str], *, ready: bool = True,
              timeout: float = 120.0, stdin: bool = False) -> bl.Child:
        log = self.workdir / f"{name}.log"
        cmd = [bl.PYTHON, str(Path(__file__).resolve()), "_child", *role_args]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(self.src), os.environ.get("PYTHONPATH", "")) if p))
        with log.open("w") as err:
            popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     cwd=str(self.workdir), env=env,
                                     preexec_fn=bl._die_with_parent)
        child = bl.Child(name, popen, log)
        self.children.append(child)
        if ready:
            parts = self._readline(child, timeout).split()
            if len(parts) != 3 or parts[0] != "READY":
                raise RuntimeError(f"{name} did not start; log:\n{child.log_tail()}")
            child.port = int(parts[1])
        return child


def wait_idle(max_wait: float, threshold: float = 0.3) -> tuple[float, float]:
    """Wait (at most ``max_wait`` s) until the rest of the machine uses < ``threshold``
    cores over half a second (the stubs are idle between runs). (load seen, s waited)."""
    t0 = time.monotonic()
    while True:
        b0, w0 = _machine_busy(), time.monotonic()
        time.sleep(0.5)
        load = (_machine_busy() - b0) / (time.monotonic() - w0)
        waited = time.monotonic() - t0
        if load < threshold or waited >= max_wait:
            return load, waited


def pin(pid: int, cpu: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        if cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(pid, {cpu})


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Procs, source: bl.Child,
                 target: bl.Child) -> None:
        self.args, self.procs, self.source, self.target = args, procs, source, target
        self.n = 0

    def copy(self, mode: str, size: int, *, profile: str = "") -> dict[str, Any]:
        """One copy in a fresh copier process; with ``profile`` under py-spy."""
        self.n += 1
        pre_load, waited = wait_idle(self.args.wait_idle) if self.args.wait_idle > 0 else (
            float("nan"), 0.0)
        role = ["copier", "--mode", mode, "--source", self.source.url,
                "--target", self.target.url, "--size", str(size), "--src", str(self.procs.src)]
        if profile:
            role.append("--wait-go")
        child = self.procs.spawn(f"copier-{self.n}-{mode}", role, ready=False, stdin=bool(profile))
        if self.args.pin:
            pin(child.popen.pid, 1)
        spy = None
        try:
            if profile:
                line = self.procs._readline(child, 60)
                if line != "WAITING":
                    raise RuntimeError(f"copier did not start; log:\n{child.log_tail()}")
                spy = subprocess.Popen(
                    [self.args.pyspy, "record", "-p", str(child.popen.pid), "-r", "200", "-t",
                     "--nonblocking", "-f", "raw", "-o", profile],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1.5)
            stubs0 = {k: bl.proc_cpu_seconds(c.popen.pid)
                      for k, c in (("source", self.source), ("target", self.target))}
            if profile:
                assert child.popen.stdin is not None
                child.popen.stdin.write("go\n")
                child.popen.stdin.flush()
            out, _ = child.popen.communicate(timeout=self.args.run_timeout)
            stubs1 = {k: bl.proc_cpu_seconds(c.popen.pid)
                      for k, c in (("source", self.source), ("target", self.target))}
        finally:
            self.procs.stop(child)
            if spy is not None:
                try:
                    spy.wait(30)
                except subprocess.TimeoutExpired:
                    spy.terminate()
                    spy.wait(10)
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError(f"copier ({mode}) failed; log:\n{child.log_tail()}") from None
        # stub CPU over the copier's whole life (its untimed set-up costs them ~nothing)
        res["pre_load_cores"], res["idle_wait_s"] = pre_load, waited
        res["cpu_source_s"] = stubs1["source"] - stubs0["source"]
        res["cpu_target_s"] = stubs1["target"] - stubs0["target"]
        # what the rest of the machine used meanwhile, in cores (the copy window only;
        # the stubs idle outside it)
        ours = (res["cpu_main_s"] + res["cpu_threads_s"] + res["cpu_sampler_s"]
                + res["cpu_source_s"] + res["cpu_target_s"])
        res["other_cores"] = max(0.0, res["machine_busy_s"] - ours) / res["seconds"]
        if not res["verified"]:
            raise RuntimeError(f"copy did not land intact: {res}")
        return res


def fmt(v: Any, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def run_rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in runs:
        gib = r["size"] / (1 << 30)
        rows.append([r["label"], f"{r['size'] // MiB}", f"{r['seconds']:.2f}",
                     f"{r['mib_s']:.0f}",
                     f"{r['cpu_main_s'] / gib:.2f}", f"{r['cpu_threads_s'] / gib:.2f}",
                     f"{r['cpu_source_s'] / gib:.2f}", f"{r['cpu_target_s'] / gib:.2f}",
                     fmt(r["hwm_growth_mib"]), fmt(r["sampled_growth_mib"]),
                     f"{r['other_cores']:.2f}"])
    return rows


RUN_HEADER = ["run", "MiB", "s", "MiB/s", "CPU loop s/GiB", "CPU threads s/GiB",
              "CPU source s/GiB", "CPU target s/GiB", "peak RSS growth MiB (VmHWM)",
              "(sampled)", "other load (cores)"]


def summarize(runs: list[dict[str, Any]], modes: Sequence[str]) -> list[list[str]]:
    rows = []
    raw = statistics.median(r["mib_s"] for r in runs if r["mode"] == "raw")
    raw_by_round = {r["round"]: r["mib_s"] for r in runs if r["mode"] == "raw"}
    raw_best = max(raw_by_round.values())
    for mode in modes:
        rs = [r for r in runs if r["mode"] == mode]
        if not rs:
            continue
        med = statistics.median(r["mib_s"] for r in rs)
        gib = [r["size"] / (1 << 30) for r in rs]
        mem = [r["hwm_growth_mib"] if r["hwm_growth_mib"] is not None
               else r["sampled_growth_mib"] for r in rs]
        pairs = [r["mib_s"] / raw_by_round[r["round"]] for r in rs if r["round"] in raw_by_round]
        total = [(r["cpu_main_s"] + r["cpu_threads_s"] + r["cpu_source_s"] + r["cpu_target_s"])
                 / g for r, g in zip(rs, gib)]
        best = max(r["mib_s"] for r in rs)
        rows.append([mode, str(len(rs)), f"{med:.0f}",
                     f"{min(r['mib_s'] for r in rs):.0f}-{best:.0f}",
                     f"{med / raw:.2f}x", f"{best / raw_best:.2f}x",
                     f"{statistics.median(pairs):.2f}x" if pairs else "-",
                     f"{statistics.median(r['cpu_main_s'] / g for r, g in zip(rs, gib)):.2f}",
                     f"{statistics.median(r['cpu_threads_s'] / g for r, g in zip(rs, gib)):.2f}",
                     f"{statistics.median(r['cpu_target_s'] / g for r, g in zip(rs, gib)):.2f}",
                     f"{statistics.median(total):.2f}",
                     f"{statistics.median(r['other_cores'] for r in rs):.2f}",
                     f"{max(mem):.1f}"])
    return rows


SUMMARY_HEADER = ["mode", "runs", "MiB/s (median)", "range", "vs raw (medians)",
                  "vs raw (best of each)",
                  "vs raw (same round, median)", "CPU loop s/GiB", "CPU threads s/GiB",
                  "CPU target s/GiB", "CPU all 4 s/GiB", "other load (cores)",
                  "max RSS growth MiB"]


#: Leaf frames of a thread that waits (epoll, the executor's queue, the RSS sampler).
_IDLE_LEAF = re.compile(r"EpollSelector\.select |_worker \(.*concurrent/futures/thread\.py:81\)"
                        r"|Event\.wait |Condition\.wait ")


def timeline_rows(runs: list[dict[str, Any]], modes: Sequence[str]) -> list[list[str]]:
    """Where a Cascade copy's wall time goes, per GiB (median over runs)."""
    rows = []
    for mode in modes:
        rs = [r for r in runs if r["mode"] == mode and "hash_busy_s" in r]
        if not rs:
            continue

        def med(key: str) -> str:
            return f"{statistics.median(r[key] / (r['size'] / (1 << 30)) for r in rs):.2f}"
        rows.append([mode, med("seconds"), med("hash_busy_s"), med("hop_queue_s"),
                     med("hop_wake_s"), med("between_hashes_s"),
                     f"{statistics.median(r['size'] / r['chunks'] / 1024 for r in rs):.0f}"])
    return rows


TIMELINE_HEADER = ["mode", "wall s/GiB", "hashing (worker)", "hop: queue", "hop: back to loop",
                   "loop between hashes (forward + read)", "KiB/chunk"]


def digest_pyspy(path: Path, rate: float, seconds: float) -> str:
    """py-spy raw stacks (all active threads, --idle off) -> share of wall time per thread
    and the top leaf frames of each."""
    threads: Counter[str] = Counter()
    idle: Counter[str] = Counter()
    leaves: dict[str, Counter[str]] = {}
    incl: dict[str, Counter[str]] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        n = int(count)
        tname = "?"
        if frames[0].startswith("thread ("):
            head = frames.pop(0)
            tname = head.split(": ", 1)[-1] if ": " in head else head
        kind = "event loop (MainThread)" if tname == "MainThread" else (
            "RSS sampler" if tname == "rss-sampler"
            or any("RssSampler" in f or "_status_kib" in f for f in frames)
            else f"worker threads ({re.sub(r'_[0-9]+$', '_N', tname)})")
        if not frames:
            continue
        if frames and _IDLE_LEAF.search(frames[-1]):
            idle[kind] += n            # blocked, though py-spy took it for running
            continue
        threads[kind] += n
        leaf = re.sub(r" \(/.*/(site-packages|lib/python3\.\d+|main|cascade-src)/", " (",
                      frames[-1]) if frames else "?"
        leaves.setdefault(kind, Counter())[leaf] += n
        seen = set()
        for f in frames:
            fn = f.split(" (", 1)[0]
            if fn in seen:
                continue
            seen.add(fn)
            incl.setdefault(kind, Counter())[fn] += n
    wall = rate * seconds
    parts = [f"py-spy: {sum(threads.values())} samples at {rate:g} Hz over {seconds:.2f} s "
             "of copy (a thread's share of wall time = how busy it was; samples blocked in "
             "epoll or on the executor queue are left out)",
             bl.table(["busy % of wall", "left out as blocked", "thread"],
                      [[f"{v * 100 / wall:.0f}%", f"{idle[k] * 100 / wall:.0f}%", k]
                       for k, v in threads.most_common()])]
    for kind, _ in threads.most_common(3):
        if kind == "RSS sampler":
            continue
        parts.append(f"\n{kind}: top leaf frames (% of wall time)")
        parts.append(bl.table(["%", "leaf frame (file:line)"],
                              [[f"{v * 100 / wall:.1f}", k[:110]]
                               for k, v in leaves.get(kind, Counter()).most_common(12)]))
        parts.append(f"{kind}: inclusive by function (% of wall time)")
        parts.append(bl.table(["%", "function"],
                              [[f"{v * 100 / wall:.1f}", k[:110]]
                               for k, v in incl.get(kind, Counter()).most_common(16)]))
    return "\n".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--size-mib", type=int, default=1024,
                   help="image size for the throughput rounds (default 1024 = 1 GiB)")
    p.add_argument("--rounds", type=int, default=3,
                   help="copies per mode, alternating raw/Cascade (default 3; median reported)")
    p.add_argument("--mem-sizes-mib", default="64",
                   help="further sizes Cascade copies (twice each) to show memory does not "
                        "grow with size (comma list, default %(default)s; '' for none)")
    p.add_argument("--target-hash", choices=["on", "off"], default="on",
                   help="the target hashes uploads (MD5 + sha512) as Glance does (default on)")
    p.add_argument("--source-write-kib", type=int, default=1024,
                   help="source stub's write size (default 1024 KiB)")
    p.add_argument("--pin", action="store_true",
                   help="CPU affinity: both stubs on CPU 0, the copier on CPU 1")
    p.add_argument("--what-if", action="store_true",
                   help="EXPERIMENT: also measure variants of _copy defined in this script "
                        "(see --what-if-variants)")
    p.add_argument("--what-if-variants", default="overlap,nomd5,overlap+nomd5,target-verify",
                   help="comma list of variants, each a '+'-joined set of: overlap (hash a "
                        "chunk while it is uploaded), split (MD5 and sha512 on two threads), "
                        "4m (read 4 MiB at a time), nomd5 (the copier hashes only sha512; MD5 "
                        "is the target's checksum), target-verify (no hashing in the copier; "
                        "the target Glance's own hashes are checked). Default %(default)s")
    p.add_argument("--profile", choices=["none", "py-spy"], default="none",
                   help="extra runs of each mode under py-spy (not counted); where the "
                        "copier's time goes")
    p.add_argument("--git-ref", metavar="REF",
                   help="run Cascade from `git archive REF` instead of the working tree")
    p.add_argument("--wait-idle", type=float, default=5.0, metavar="S",
                   help="before each copy, wait up to S seconds for the rest of the machine "
                        "to use < 0.3 cores (default 5; 0: do not wait)")
    p.add_argument("--run-timeout", type=float, default=600.0)
    p.add_argument("--keep-workdir", action="store_true")
    p.add_argument("--json", metavar="FILE", help="also write all results as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    size = args.size_mib * MiB
    mem_sizes = [int(x) * MiB for x in args.mem_sizes_mib.split(",") if x.strip()]
    info = bl.machine_info()
    print(f"machine: {info['cpus']} CPUs, {info['model']}; Python {info['python']}, "
          f"aiohttp {info['aiohttp']}, loop {info['loop']}; load average {info['loadavg']}")
    print(f"size={args.size_mib} MiB rounds={args.rounds} mem-sizes={args.mem_sizes_mib or '-'} "
          f"target-hash={args.target_hash} pin={args.pin} source-write={args.source_write_kib} KiB")
    if (os.cpu_count() or 1) <= 2:
        print("note: the source, the target and the copier share "
              f"{os.cpu_count()} CPUs; the target hashes like Glance")
    results: dict[str, Any] = {"machine": info, "args": vars(args), "runs": []}
    modes = ["raw", "cascade"] + ([f"cascade+{v}" for v in args.what_if_variants.split(",")]
                                  if args.what_if else [])
    if args.profile == "py-spy":
        args.pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(args.pyspy).exists():
            raise SystemExit("py-spy not found: .venv/bin/pip install py-spy")

    with bl.workdir(args.keep_workdir) as wd, Procs(Path(wd)) as procs:
        wd = Path(wd)
        procs.src, code = bl.cascade_source(args.git_ref, wd)
        info["code"] = code
        print(f"Cascade code: {code}")
        t0 = time.perf_counter()
        warm = min(size, 64 * MiB)
        sizes = sorted({size, warm, *mem_sizes})
        source = procs.spawn("source", ["source", "--sizes", ",".join(map(str, sizes)),
                                        "--write-kib", str(args.source_write_kib)])
        target = procs.spawn("target", ["target", "--hash", args.target_hash])
        if args.pin:
            pin(source.popen.pid, 0)
            pin(target.popen.pid, 0)
        print(f"source Glance :{source.port}, target Glance :{target.port} "
              f"(source hashed {len(sizes)} images in {time.perf_counter() - t0:.1f}s)")
        bench = Bench(args, procs, source, target)
        runs: list[dict[str, Any]] = results["runs"]

        def one(mode: str, sz: int, label: str, rnd: int = 0) -> None:
            r = bench.copy(mode, sz)
            r["label"], r["round"] = label, rnd
            runs.append(r)
            print(f"  {label:<22} {sz // MiB:>5} MiB {r['seconds']:6.2f} s "
                  f"{r['mib_s']:6.0f} MiB/s  RSS growth {fmt(r['hwm_growth_mib'])} MiB "
                  f"(sampled {fmt(r['sampled_growth_mib'])})  "
                  f"loop {r['cpu_main_s']:.2f}s threads {r['cpu_threads_s']:.2f}s "
                  f"source {r['cpu_source_s']:.2f}s target {r['cpu_target_s']:.2f}s "
                  f"chunks {r.get('chunks', 0)} ({sz / max(1, r.get('chunks', 0)) / 1024:.0f} KiB "
                  f"avg) other load {r['other_cores']:.2f} cores"
                  + (f" | hashing {r['hash_busy_s']:.2f}s hop {r['hop_queue_s']:.2f}+"
                     f"{r['hop_wake_s']:.2f}s between {r['between_hashes_s']:.2f}s"
                     if "hash_busy_s" in r else ""),
                  flush=True)

        one("raw", warm, "warm-up (raw, not counted)")
        runs.pop()
        for i in range(args.rounds):
            order = modes if i % 2 == 0 else list(reversed(modes))
            for mode in order:
                one(mode, size, f"{mode} #{i + 1}", i + 1)
        measured = list(runs)
        mem_runs: list[dict[str, Any]] = []
        for sz in mem_sizes:
            if sz == size:
                continue
            for k in range(2):
                one("cascade", sz, f"cascade {sz // MiB} MiB #{k + 1}")
                mem_runs.append(runs[-1])
            one("raw", sz, f"raw {sz // MiB} MiB")
            mem_runs.append(runs[-1])

        profiles: dict[str, str] = {}
        if args.profile == "py-spy":
            for mode in modes:
                path = wd / f"{mode}.pyspy.raw"
                r = bench.copy(mode, size, profile=str(path))
                print(f"  profiled {mode}: {r['mib_s']:.0f} MiB/s under py-spy")
                profiles[mode] = (digest_pyspy(path, 200, r["seconds"]) if path.exists()
                                  else "py-spy wrote nothing")
        with contextlib.suppress(Exception):
            results["target_uploads"] = asyncio.run(_get_json(f"{target.url}/_bench/uploads"))

    print("\nAll runs (CPU columns: seconds of CPU per GiB copied, from /proc; the loop is "
          "the copier's event-loop thread, threads its worker threads):\n")
    print(bl.table(RUN_HEADER, run_rows(measured + mem_runs)))
    summary = summarize(measured, modes)
    print(f"\nThroughput at {args.size_mib} MiB, median of {args.rounds} alternating rounds:\n")
    print(bl.table(SUMMARY_HEADER, summary))
    tl = timeline_rows(measured, modes)
    if tl:
        print("\nCascade copy timeline, seconds per GiB (median). Each chunk is hashed in a "
              "worker thread: submitted -> started (queue) -> hashed -> completion seen by the "
              "loop (back to loop); between two hashes the loop forwards the chunk and reads "
              "the next:\n")
        print(bl.table(TIMELINE_HEADER, tl))
    raw = statistics.median(r["mib_s"] for r in measured if r["mode"] == "raw")
    cas = statistics.median(r["mib_s"] for r in measured if r["mode"] == "cascade")
    ratio = cas / raw
    growth: dict[int, float] = {}
    for r in measured + mem_runs:
        if r["mode"] == "cascade":
            g = r["hwm_growth_mib"] if r["hwm_growth_mib"] is not None else r["sampled_growth_mib"]
            growth[r["size"] // MiB] = max(growth.get(r["size"] // MiB, 0.0), g)
    worst = max(growth.values())
    print("\nCascade peak RSS growth by size (max over runs): "
          + ", ".join(f"{k} MiB -> {v:.1f} MiB" for k, v in sorted(growth.items())))
    print(f"\nGOAL throughput >= {GOAL_RATIO}x raw: {ratio:.3f}x "
          f"({cas:.0f} vs {raw:.0f} MiB/s) -> {'MET' if ratio >= GOAL_RATIO else 'MISSED'}")
    print(f"GOAL peak RSS growth <= {GOAL_RSS_MIB:.0f} MiB: {worst:.1f} MiB -> "
          f"{'MET' if worst <= GOAL_RSS_MIB else 'MISSED'}")
    results.update({"ratio": ratio, "raw_mib_s": raw, "cascade_mib_s": cas,
                    "rss_growth_by_size_mib": growth, "profiles": profiles})
    for mode, text in profiles.items():
        print(f"\n=== where the copier's time goes: {mode} ===\n{text}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


async def _get_json(url: str) -> Any:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return await r.json()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child_main(sys.argv[2:])
    else:
        sys.exit(main())
