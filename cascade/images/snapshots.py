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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.context import RequestContext
from cascade.db.models import PlacementState, Resource
from cascade.images import records
from cascade.jobs import queue as jobs
from cascade.mapping import store
from cascade.regions.client import RegionClient

__all__ = ["SNAPSHOT_JOB", "SHELVED_KEY", "SHELVE_RELEASE_JOB", "record_snapshot",
           "shelve_image", "release_after_unshelve"]

SNAPSHOT_JOB = "image_snapshot"
#: Job: the shelve image goes once its server is no longer shelved.
SHELVE_RELEASE_JOB = "shelve_image_release"
#: Where an image made by a shelve names its server (image attrs).
SHELVED_KEY = "shelved_server"


async def record_snapshot(sessions: async_sessionmaker[AsyncSession], ctx: RequestContext,
                          region: str, local_id: str, request: dict[str, Any],
                          shelved_server: str | None = None) -> str:
    """Record the regional image Nova is making; its global id (the regional one when
    free, as for uploads). ``shelved_server``: the server whose shelve made it."""
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
                             status="saving", attrs={
                                 "created_at": now, "updated_at": now, "members": {},
                                 "home_region": region,
                                 **({SHELVED_KEY: shelved_server} if shelved_server else {})}))
        await session.flush()
        await store.ensure_placement(session, global_id=global_id, type_=records.IMAGE,
                                     region=region, local_id=local_id,
                                     state=PlacementState.CREATING)
        await jobs.enqueue(session, SNAPSHOT_JOB, {"image_id": global_id, "region": region,
                                                   "local_id": local_id},
                           dedupe_key=f"{SNAPSHOT_JOB}:{global_id}")
    return global_id


async def shelve_image(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                       ctx: RequestContext, region: str, server: Resource,
                       local_server: str) -> str | None:
    """After a shelve: the image Nova made for it (named ``<server>-shelved``, with
    the regional server as ``instance_uuid``, the project's own) becomes a
    Cascade image; its global id, or None when the region made none (a
    volume-backed server).

    Nova creates that image before it answers the shelve, so it is there to find.
    """
    found = await client.get(ctx, region, "compute", f"/servers/{local_server}")
    name = f"{(found.body or {}).get('server', {}).get('name', '')}-shelved"
    listed = await client.get(ctx, region, "image", "/v2/images",
                              params={"name": name, "owner": server.project_id})
    mine = [i for i in (listed.body or {}).get("images") or []
            if i.get("instance_uuid") == local_server
            and i.get("owner") == server.project_id]
    if not mine:
        return None
    newest = max(mine, key=lambda i: str(i.get("created_at") or ""))
    return await record_snapshot(sessions, ctx, region, str(newest["id"]), {"name": name},
                                 shelved_server=server.global_id)


async def release_after_unshelve(sessions: async_sessionmaker[AsyncSession],
                                 server: Resource, region: str, local_server: str) -> None:
    """The server's shelve images are Nova's to delete once the server is unshelved
    (or deleted); a job deletes each Cascade image then, with its replicas."""
    async with sessions.begin() as session:
        # The filter is SQL's: a server delete reads no image rows of the project
        # unless the server was shelved.
        images = (await session.scalars(select(Resource.global_id).where(
            Resource.type == records.IMAGE, Resource.project_id == server.project_id,
            Resource.status != "deleted",
            Resource.attrs[SHELVED_KEY].as_string() == server.global_id))).all()
        for image_id in images:
            await jobs.enqueue(session, SHELVE_RELEASE_JOB,
                               {"image_id": image_id, "server_id": server.global_id,
                                "region": region, "local_server": local_server},
                               dedupe_key=f"{SHELVE_RELEASE_JOB}:{image_id}")
