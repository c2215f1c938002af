"""Jobs ``image_snapshot`` and ``image_import``: follow a regional image the region
itself is filling until it is active, then record what Glance says of it.

- ``image_snapshot``: an image a region's Nova is making (``createImage``,
  queued by ``cascade/images/snapshots.py``); if the region gives up, the image
  is forgotten.
- ``image_import``: a ``glance-direct`` or ``web-download`` import Cascade asked
  the image's home region to run (``cascade/images/importing.py``); if the region
  gives up (Glance puts the image back to ``queued``), the image is queued
  again, the failure recorded, and the regional copy removed. An import that
  named several ``stores`` (or ``all_stores``) then replicates the image to the
  others.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cascade import errors
from cascade.compute.server_cache import SERVER
from cascade.db.models import Placement, PlacementState, Resource
from cascade.images import records, replicas
from cascade.mapping import store
from cascade.regions import paths
from cascade.sync.worker import JobContext, Outcome

__all__ = ["handle"]

#: How long to wait before looking again while the region still saves the image.
_POLL_SECONDS = 3.0
_NOT_PROPERTIES = records.READ_ONLY | records.BASE_KEYS | {
    "owner", "stores", "locations", "direct_url", "cascade_global_id", "cascade_owner"}


async def handle(ctx: JobContext) -> Outcome:
    image_id = ctx.payload["image_id"]
    region, local_id = ctx.payload["region"], ctx.payload["local_id"]
    async with ctx.sessions() as session:
        res = await session.get(Resource, image_id)
    if res is None or res.status == "deleted":
        return Outcome.done()  # deleted meanwhile: its replica delete job follows
    try:
        resp = await ctx.client.get(None, region, "image",
                                    paths.build("v2", "images", local_id))
        regional: dict[str, Any] | None = resp.body or {}
    except errors.RegionHTTPError as exc:
        if exc.status != 404:
            raise
        regional = None
    status = (regional or {}).get("status")
    importing = ctx.job.kind == "image_import"
    if importing and status == "queued":
        await _import_failed(ctx, image_id, region, local_id)
        return Outcome.done()
    if status in ("queued", "saving", "importing", "uploading"):
        return Outcome.wait(_next_look(ctx))
    if status != "active":
        if importing:
            await _import_failed(ctx, image_id, region, local_id)
        else:
            await _gone(ctx, image_id, region)
        return Outcome.done()
    assert regional is not None
    server = await _server_of(ctx, region, regional.get("instance_uuid"))
    async with ctx.sessions.begin() as session:
        res = await session.get(Resource, image_id)
        if res is None or res.status == "deleted":
            return Outcome.done()  # deleted meanwhile: its replica delete job follows
        props = {k: v for k, v in regional.items() if k not in _NOT_PROPERTIES
                 and not k.startswith("os_glance") and isinstance(v, str)}
        if server:
            props["instance_uuid"] = server
        props.update(res.spec.get("properties") or {})
        res.spec = {**res.spec, **{k: regional.get(k) for k in (
            "disk_format", "container_format", "min_disk", "min_ram")},
            "properties": props}
        res.attrs = {**res.attrs, **{k: regional.get(k) for k in (
            "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value")},
            "updated_at": records.now()}
        res.status = "active"
        pl = (await session.scalars(select(Placement).where(
            Placement.global_id == image_id, Placement.region == region))).first()
        if pl is not None:
            pl.state = PlacementState.ACTIVE
        if importing:
            await _copy_to_other_stores(session, res, region)
    if importing:
        await ctx.wake("jobs")
    return Outcome.done()


async def _copy_to_other_stores(session: AsyncSession, res: Resource, region: str) -> None:
    """An import asked for several stores: the region that imported is done; the
    others get the image by replication (``os_glance_importing_to_stores``
    lists them until each is there)."""
    others = [r for r in res.attrs.get("import_then") or [] if r != region]
    must_succeed = bool(res.attrs.get("import_must_succeed", True))
    res.attrs = {**{k: v for k, v in res.attrs.items()
                    if k not in ("import_then", "import_must_succeed")},
                 "importing_to": []}
    if others:
        placements = list((await session.scalars(select(Placement).where(
            Placement.global_id == res.global_id))).all())
        await replicas.queue(session, res, placements, others,
                             must_succeed=must_succeed)


def _next_look(ctx: JobContext) -> float:
    """Seconds until the next look: soon for a fresh snapshot, at most a minute apart
    for one the region takes long over (a tenth of its age)."""
    created = ctx.job.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.timezone.utc)
    age = (dt.datetime.now(dt.timezone.utc) - created).total_seconds()
    return max(_POLL_SECONDS, min(60.0, age / 10))


async def _server_of(ctx: JobContext, region: str, local: Any) -> str | None:
    if not local:
        return None
    async with ctx.sessions() as session:
        found = await store.map_local_ids(session, SERVER, region, [str(local)], None)
    hit = found.get(str(local))
    return hit[0] if hit else None


async def _import_failed(ctx: JobContext, image_id: str, region: str, local_id: str) -> None:
    """The region's import failed: the image is queued again (as in Glance), the region
    recorded as failed, and the regional copy removed."""
    async with ctx.sessions.begin() as session:
        res = await session.get(Resource, image_id)
        if res is not None and res.status == "importing":
            res.status = "queued"
            failed = sorted({*(res.attrs.get("failed_import") or []), region})
            res.attrs = {**res.attrs, "failed_import": failed, "importing_to": [],
                         "updated_at": records.now()}
        await session.execute(delete(Placement).where(
            Placement.global_id == image_id, Placement.region == region))
    try:
        await ctx.client.delete(None, region, "image", paths.build("v2", "images", local_id))
    except errors.RegionHTTPError as exc:
        if exc.status != 404:
            raise


async def _gone(ctx: JobContext, image_id: str, region: str) -> None:
    """The region gave up (or someone deleted the image there): the image is gone."""
    async with ctx.sessions.begin() as session:
        await session.execute(delete(Placement).where(
            Placement.global_id == image_id, Placement.region == region))
        res = await session.get(Resource, image_id)
        if res is not None:
            await session.delete(res)
