"""Deleted servers' last mappings, kept a while for their action logs.

Nova keeps a deleted instance (until an operator archives it) and shows its
actions from microversion 2.21. Cascade forgets a server's mapping when its
delete is done, so it writes a tombstone first, in the same transaction:
global id, project, region, regional id and the request-id pairs
(``action_ids.py``). ``os-instance-actions`` on an id no live server has looks
here; the delete sweep purges tombstones older than
``[sync] deleted_server_retention``.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cascade.compute.server_cache import SERVER
from cascade.context import RequestContext
from cascade.db.models import Placement, Resource, ServerTombstone

__all__ = ["bury", "find", "purge"]


async def bury(session: AsyncSession, global_id: str) -> None:
    """Before a server's mapping is forgotten (same transaction): its tombstone."""
    res = await session.get(Resource, global_id)
    if res is None or res.type != SERVER:
        return
    pl = (await session.scalars(select(Placement).where(
        Placement.global_id == global_id, Placement.local_id.is_not(None))
        .order_by(Placement.id))).first()
    if pl is None or pl.local_id is None:
        return  # never made in a region: it has no action log
    # Concurrent deletes of one server may both get here: the first tombstone stays.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(ServerTombstone).values(
        global_id=global_id, project_id=res.project_id, region=pl.region,
        local_id=pl.local_id, request_ids=dict(res.attrs.get("request_ids") or {}),
    ).on_conflict_do_nothing(index_elements=[ServerTombstone.global_id]))


async def find(session: AsyncSession, ctx: RequestContext,
               global_id: str) -> ServerTombstone | None:
    """The deleted server's tombstone if the caller may see it (its project, or admin)."""
    found = await session.get(ServerTombstone, global_id)
    if found is None or (not ctx.is_admin and found.project_id != ctx.project_id):
        return None
    return found


async def purge(session: AsyncSession, retention: float) -> int:
    """Tombstones older than ``retention`` seconds go; how many."""
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=retention)
    gone = await session.execute(delete(ServerTombstone)
                                 .where(ServerTombstone.deleted_at < cutoff)
                                 .returning(ServerTombstone.global_id))
    return len(gone.all())
