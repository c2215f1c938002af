"""A server's actions by Cascade's request ids.

Nova records each action on a server (``os-instance-actions``) under the
request id of the call that made it, which is the region's own id for
Cascade's call, not the one Cascade answered the tenant with. Cascade keeps
the pair for each call it forwards that Nova records as an action (create,
actions, updates, interface changes), on the server's row, so the action list
shows the ids the tenant was given and a tenant's id finds its action.
"""
from __future__ import annotations

from typing import Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.db.models import Resource

__all__ = ["remember", "known"]

_KEY = "request_ids"
#: Pairs kept per server (the oldest go first); Nova lists actions newest first.
_KEEP = 200


async def remember(sessions: async_sessionmaker[AsyncSession], global_id: str,
                   regional: str | None, ours: str | None) -> None:
    """The region's request id ``regional`` was Cascade's ``ours`` for this server."""
    if not regional or not ours or regional == ours:
        return
    async with sessions.begin() as session:
        row = await session.get(Resource, global_id)
        if row is None:
            return
        pairs = dict(row.attrs.get(_KEY) or {})
        pairs[regional] = ours
        if len(pairs) > _KEEP:
            pairs = dict(list(pairs.items())[-_KEEP:])
        row.attrs = {**row.attrs, _KEY: pairs}


async def known(sessions: async_sessionmaker[AsyncSession], global_id: str
                ) -> Mapping[str, str]:
    """Regional request id -> Cascade's, for this server."""
    async with sessions() as session:
        row = await session.get(Resource, global_id)
        return dict((row.attrs.get(_KEY) or {}) if row is not None else {})
