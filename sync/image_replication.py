"""Copy one image to one region, verified end to end (job ``image_replication``).

The regional image gets the global id. Data is streamed from a healthy source
replica straight into the target's upload, never held whole: memory stays at
a chunk or two whatever the image size. While it flows, Cascade computes the
MD5 and the image's own hash algorithm; the replica becomes active only if
size and hashes match what the image recorded at upload. Whatever goes wrong,
the target's partial image is deleted: nothing stays queued in a region.
A copy interrupted by a crash is redone by the next worker that claims the job.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any, AsyncIterator

from sqlalchemy import delete, func, select

from cascade import errors, metrics
from cascade.crashpoints import crash_point
from cascade.db.models import Placement, PlacementState, Region, Resource
from cascade.images import records, rowlock, store
from cascade.regions import paths
from cascade.images.replicas import create_regional, is_own_replica
from cascade.sync.worker import JobContext, Outcome, PermanentError

__all__ = ["handle", "delete_replica"]

LOG = logging.getLogger(__name__)

_CHUNK = 1 << 20


async def _remove_regional(ctx: JobContext, region: str, local_id: str) -> None:
    try:
        await ctx.client.delete(None, region, "image", paths.build("v2", "images", local_id))
    except errors.RegionHTTPError as exc:
        if exc.status != 404:
            raise


async def _record(ctx: JobContext, image_id: str, region: str, state: str,
                  failed: bool = False, local_id: str | None = None) -> None:
    async with ctx.sessions.begin() as session:
        try:
            res, placements = await rowlock.load_for_update(session, None, image_id)
        except errors.NotFound:
            return
        for pl in placements:
            if pl.region == region:
                pl.state = state
                if local_id:
                    pl.local_id = local_id
        importing = [r for r in res.attrs.get("importing_to") or [] if r != region]
        failures = [r for r in res.attrs.get("failed_import") or [] if r != region]
        if failed:
            failures.append(region)
        if res.attrs.get("importing_to") is not None:
            res.attrs = {**res.attrs, "importing_to": importing, "failed_import": failures,
                         "updated_at": records.now()}


async def _regional(ctx: JobContext, region: str, local_id: str) -> dict[str, Any] | None:
    try:
        return dict((await ctx.client.get(None, region, "image",
                                          paths.build("v2", "images", local_id))).body)
    except errors.RegionHTTPError as exc:
        if exc.status != 404:
            raise
        return None


async def _target_image(ctx: JobContext, res: Resource, target: str,
                        local_id: str) -> tuple[str, bool]:
    """A queued regional image to upload into: (its id, True if already complete).

    Glance never frees a deleted image's id, so when the global id is burned in
    the target (an earlier partial copy was deleted there) the replica gets a
    fresh regional id and the placement records it.
    """
    existing = await _regional(ctx, target, local_id)
    if existing is not None and not is_own_replica(existing, res, ctx.conf.cascade_id):
        # Planted (another project's image with this id, or one without Cascade's
        # marker): never written into, adopted or deleted; the replica gets its
        # own id below.
        LOG.warning("image %s in %s is not Cascade's copy of %s (owner %s): left alone",
                    local_id, target, res.global_id, existing.get("owner"))
    elif existing is not None:
        status = existing.get("status")
        if status == "active" and _matches(res.attrs, existing):
            return local_id, True
        if status == "queued":
            return local_id, False  # an interrupted attempt: upload into it again
        if status in ("saving", "importing"):
            raise errors.RegionUnavailable(target, f"regional image {local_id} is still "
                                           f"{status}; waiting for it to settle")
        await _remove_regional(ctx, target, local_id)
    try:
        candidate = await create_regional(ctx.client, target, res, ctx.conf.cascade_id,
                                          local_id)
    except errors.RegionUnavailable as exc:
        raise PermanentError(exc.message) from None
    await _record(ctx, res.global_id, target, PlacementState.CREATING, local_id=candidate)
    return candidate, False


async def handle(ctx: JobContext) -> Outcome:
    """Replicate ``payload.image_id`` to ``payload.region``."""
    image_id, target = ctx.payload["image_id"], ctx.payload["region"]
    async with ctx.sessions() as session:
        try:
            res, placements = await store.get_image(session, image_id)
        except errors.NotFound:
            return Outcome.done()  # deleted meanwhile; its delete jobs clean up
    mine = next((p for p in placements if p.region == target), None)
    if mine is None or mine.state == PlacementState.ACTIVE:
        return Outcome.done()
    sources = [p for p in placements
               if p.state == PlacementState.ACTIVE and p.region != target
               and (info := ctx.registry.get(p.region)) is not None and info.usable]
    if not sources:
        if any(p.state == PlacementState.ACTIVE for p in placements):
            raise errors.RegionUnavailable(target, "no source region is reachable now")
        raise PermanentError(f"image {image_id} has no active replica to copy from")
    home = res.attrs.get("home_region")
    source = next((p for p in sources if p.region == home), sources[0])
    info = ctx.registry.get(target)
    if info is None or not info.usable:
        raise errors.RegionUnavailable(target, f"target region {target} is not available")

    local_id, complete = await _target_image(ctx, res, target, mine.local_id or image_id)
    crash_point("replication.target_created")
    if not complete:
        try:
            algo = await _copy(ctx, res.attrs, source.region, source.local_id or image_id,
                               target, local_id)
        except PermanentError:
            await _remove_regional(ctx, target, local_id)
            await _record(ctx, image_id, target, PlacementState.ERROR, failed=True)
            raise
        except errors.CascadeError:
            if ctx.job.attempts >= ctx.conf.sync.job_max_attempts:
                # The last attempt: leave nothing queued in the region.
                await _remove_regional(ctx, target, local_id)
                await _record(ctx, image_id, target, PlacementState.ERROR, failed=True)
            raise
        # Anything else (a region error, a crash): the queued regional image is
        # kept and the next attempt uploads into it again; Glance puts an
        # interrupted upload back to queued, so nothing is left half-written.
        await _learn_algo(ctx, target, algo)
    crash_point("replication.copied")
    await _record(ctx, image_id, target, PlacementState.ACTIVE, local_id=local_id)
    LOG.info("image %s replicated %s -> %s (regional id %s)", image_id, source.region,
             target, local_id)
    return Outcome.done()


def _matches(attrs: dict[str, Any], regional: dict[str, Any]) -> bool:
    if regional.get("size") != attrs.get("size"):
        return False
    if attrs.get("checksum") and regional.get("checksum") != attrs.get("checksum"):
        return False
    if regional.get("os_hash_algo") == attrs.get("os_hash_algo"):
        return bool(regional.get("os_hash_value") == attrs.get("os_hash_value"))
    return True


async def _copy(ctx: JobContext, attrs: dict[str, Any], source: str, source_id: str,
                target: str, local_id: str) -> str | None:
    """Stream the data and verify the replica; the target's hashing algorithm.

    :raises PermanentError: the replica does not match the image.

    The target Glance hashes what it stores (MD5 ``checksum`` and its own
    ``os_hash_algo``); when its algorithm is the image's, comparing its answers
    with what was recorded at upload proves the replica end to end, and the
    copier hashes nothing. Only when the target's algorithm differs (or is not
    known yet) does the copier hash the stream with the image's algorithm.
    """
    size = attrs.get("size")
    algo = attrs.get("os_hash_algo") or "sha512"
    digest = _own_digest(ctx, attrs, target, algo)
    every = ctx.conf.image.progress_every_mib * _CHUNK
    loop = asyncio.get_running_loop()
    done = 0
    await ctx.progress(0, size)
    async with ctx.client.open_stream(None, source, "image", "GET",
                                      f"/v2/images/{source_id}/file") as src:

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal done
            next_report = every
            hashing: asyncio.Future[Any] | None = None
            async for chunk in src.content.iter_chunked(_CHUNK):
                if digest is not None:
                    # hashlib drops the GIL on large buffers: the digest runs in a
                    # worker thread while the chunk is already on its way; the
                    # previous chunk's hashing finishes first so the bytes stay in
                    # order. At most two chunks are in flight: memory stays flat.
                    if hashing is not None:
                        await hashing
                    hashing = loop.run_in_executor(None, digest.update, chunk)
                done += len(chunk)
                metrics.REPLICATION_BYTES.inc(len(chunk), region=target)
                if done >= next_report:
                    next_report += every
                    await ctx.progress(done, size)
                    crash_point("replication.mid_copy")
                yield chunk
            if hashing is not None:
                await hashing

        # NOTE: chunked on purpose: a source that sends fewer bytes than recorded
        # must end the upload (and fail verification), not leave the target waiting.
        headers = {"Content-Type": "application/octet-stream"}
        async with ctx.client.open_stream(None, target, "image", "PUT",
                                          f"/v2/images/{local_id}/file", data=chunks(),
                                          headers=headers):
            pass
    await ctx.progress(done, size)
    return await _verify(ctx, attrs, target, local_id, done, algo, digest)


def _own_digest(ctx: JobContext, attrs: dict[str, Any], target: str, algo: str) -> Any:
    """The hash the copier computes itself with the image's ``algo``: None when the
    target's own hashing proves the replica (or the image recorded no hash)."""
    info = ctx.registry.get(target)
    target_algo = (info.capabilities.get("image_hash_algo") if info else None)
    return hashlib.new(algo) if target_algo != algo and attrs.get("os_hash_value") else None


async def _verify(ctx: JobContext, attrs: dict[str, Any], target: str, local_id: str,
                  done: int, algo: str, digest: Any) -> str | None:
    """Check the replica against the image after ``done`` bytes were copied; the
    target's hashing algorithm.

    :raises PermanentError: the replica does not match the image.
    """
    regional = (await ctx.client.get(None, target, "image",
                                     paths.build("v2", "images", local_id))).body
    problems = _problems(attrs, regional, done, algo, digest)
    if problems:
        raise PermanentError(f"replica {local_id} in {target} rejected: "
                             + "; ".join(problems))
    return str(regional["os_hash_algo"]) if regional.get("os_hash_algo") else None


def _problems(attrs: dict[str, Any], regional: dict[str, Any], done: int, algo: str,
              digest: Any) -> list[str]:
    problems = []
    size = attrs.get("size")
    if size is not None and done != size:
        problems.append(f"read {done} bytes, image has {size}")
    if regional.get("status") != "active":
        problems.append(f"target image is {regional.get('status')}")
    if size is not None and regional.get("size") != size:
        problems.append(f"target size {regional.get('size')} != recorded {size}")
    if attrs.get("checksum") and regional.get("checksum") != attrs["checksum"]:
        problems.append(f"target md5 {regional.get('checksum')} != recorded "
                        f"{attrs['checksum']}")
    if regional.get("os_hash_algo") == algo:
        if attrs.get("os_hash_value") and regional.get("os_hash_value") != attrs[
                "os_hash_value"]:
            problems.append(f"target {algo} differs from the recorded os_hash_value")
    elif digest is None:
        problems.append(f"target hashes with {regional.get('os_hash_algo')}, not {algo}, "
                        "and the stream was not hashed")
    if digest is not None and digest.hexdigest() != attrs.get("os_hash_value"):
        problems.append(f"source data {algo} differs from the recorded os_hash_value")
    return problems


async def _learn_algo(ctx: JobContext, region: str, algo: str | None) -> None:
    """Remember the region's hashing algorithm (so later copies need not hash)."""
    info = ctx.registry.get(region)
    if not algo or info is None or info.capabilities.get("image_hash_algo") == algo:
        return
    async with ctx.sessions.begin() as session:
        row = await session.get(Region, region)
        if row is not None:
            row.capabilities = {**(row.capabilities or {}), "image_hash_algo": algo}
    info.capabilities = {**info.capabilities, "image_hash_algo": algo}


async def delete_replica(ctx: JobContext) -> Outcome:
    """Job ``image_replica_delete``: remove one regional copy, then the mapping row."""
    image_id, region = ctx.payload["image_id"], ctx.payload["region"]
    async with ctx.sessions() as session:
        local_id = await session.scalar(select(Placement.local_id).where(
            Placement.global_id == image_id, Placement.region == region))
        res = await session.get(Resource, image_id)
    if local_id is None and res is not None:
        # No copy recorded (a crash before the id was written): the image of that
        # id is removed only if it proves to be Cascade's copy of this image.
        found = await _regional(ctx, region, image_id)
        if found is not None and is_own_replica(found, res, ctx.conf.cascade_id):
            local_id = image_id
    if local_id is not None:
        await _remove_regional(ctx, region, local_id)
    async with ctx.sessions.begin() as session:
        await session.execute(delete(Placement).where(
            Placement.global_id == image_id, Placement.region == region,
            Placement.resource_type == records.IMAGE))
        left = await session.scalar(select(func.count()).select_from(Placement).where(
            Placement.global_id == image_id))
        res = await session.get(Resource, image_id)
        if not left and res is not None and res.status == "deleted":
            await session.delete(res)
    return Outcome.done()
