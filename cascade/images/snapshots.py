"""Images a region's Nova makes for Cascade's servers (``createImage``) become Cascade
images: global id, the caller's project, the region as their home.

Nova answers the action with the new regional image's id; Cascade records the
image (``saving``) with its regional copy in the same transaction as an
``image_snapshot`` job, which follows the regional image until it is active
(then its size, hashes and properties are recorded and it can be listed,
downloaded, and replicated to boot elsewhere) or gone. The regional image
proves to be Cascade's to adopt: its id came from Nova's answer to Cascade's
own call, for a server Cascade placed.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.context import RequestContext
from cascade.db.models import PlacementState, Resource
from cascade.images import records
from cascade.jobs import queue as jobs
from cascade.mapping import store

__all__ = ["SNAPSHOT_JOB", "record_snapshot"]

SNAPSHOT_JOB = "image_snapshot"


async def record_snapshot(sessions: async_sessionmaker[AsyncSession], ctx: RequestContext,
                          region: str, local_id: str, request: dict[str, Any]) -> str:
    """Record the regional image Nova is making; its global id (the regional one when
    free, as for uploads)."""
    now = records.now()
    raw = request.get("metadata")
    metadata: dict[str, Any] = raw if isinstance(raw, dict) else {}
    spec: dict[str, Any] = {
        "name": request.get("name"), "visibility": "private", "protected": False,
        "os_hidden": False, "min_disk": 0, "min_ram": 0, "tags": [], "disk_format": None,
        "container_format": None, "properties": {str(k): str(v) for k, v in metadata.items()}}
    async with sessions.begin() as session:
        global_id = local_id if await session.get(Resource, local_id) is None \
            else str(uuid.uuid4())
        session.add(Resource(global_id=global_id, type=records.IMAGE,
                             project_id=ctx.project_id, user_id=ctx.user_id, spec=spec,
                             status="saving", attrs={"created_at": now, "updated_at": now,
                                                     "members": {}, "home_region": region}))
        await session.flush()
        await store.ensure_placement(session, global_id=global_id, type_=records.IMAGE,
                                     region=region, local_id=local_id,
                                     state=PlacementState.CREATING)
        await jobs.enqueue(session, SNAPSHOT_JOB, {"image_id": global_id, "region": region,
                                                   "local_id": local_id},
                           dedupe_key=f"{SNAPSHOT_JOB}:{global_id}")
    return global_id
