"""``os-instance-actions`` of a deleted server (microversion 2.21), from its tombstone.

The call goes to the region that held the server, with its regional id; the
region's Nova decides (it answers 404 below 2.21, as for its own deleted
instances). Request ids and links come back as the tenant knew them.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.compute import tombstones
from cascade.compute.server_subresources import actions_to_global
from cascade.context import RequestContext
from cascade.regions import paths
from cascade.regions.client import RegionClient

__all__ = ["forward_deleted"]


async def forward_deleted(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                          ctx: RequestContext, global_id: str, subpath: str, params: Any,
                          microversion: str, cascade_base: str
                          ) -> tuple[int, Any] | None:
    """(status, body) of the region's answer; None when no deleted server of the
    caller's has that id.

    :raises RegionHTTPError: the region's error (404 below 2.21).
    """
    parts = subpath.strip("/").split("/")
    if parts[0] != "os-instance-actions" or len(parts) > 2:
        return None
    async with sessions() as session:
        grave = await tombstones.find(session, ctx, global_id)
    if grave is None:
        return None
    ids = dict(grave.request_ids or {})
    if len(parts) == 2:
        ours = {mine: theirs for theirs, mine in ids.items()}
        subpath = paths.build("os-instance-actions", ours.get(parts[1], parts[1]))
    resp = await client.get(ctx, grave.region, "compute",
                            f"/servers/{grave.local_id}{subpath}", params=params,
                            microversion=microversion)
    body = resp.body
    if isinstance(body, dict):
        body = actions_to_global(body, grave.local_id, global_id,
                                 client.base_url(grave.region, "compute"), cascade_base, ids)
    return resp.status, body
