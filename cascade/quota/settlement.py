"""Settling quota reservations and giving usage back.

``commit`` moves a reservation from ``reserved`` to ``in_use``, ``release``
gives it back, ``expire`` gives back what a dead owner held, and
``give_back`` subtracts a deleted resource's usage. Whoever deletes the
reservation rows does the accounting, so each is idempotent and nothing is
counted twice. On PostgreSQL settling is one statement (``cascade.quota.pg``).
"""
from __future__ import annotations

import datetime as dt
from typing import Mapping

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cascade.quota import pg, tables
from cascade.quota import resources as catalogue
from cascade.quota.tables import ADD, MOVE, RESERVATIONS, UNRESERVE

__all__ = ["commit", "release", "give_back", "expired", "expire"]


async def _settle(session: AsyncSession, reservation_id: str, how: str) -> bool:
    """Delete the reservation's rows and commit or release each; whether any existed."""
    now = tables.now()
    if tables.postgresql(session):
        return await pg.settle(session, reservation_id, how, now)
    stmt = MOVE if how == "commit" else UNRESERVE
    rows = (await session.execute(
        delete(RESERVATIONS).where(RESERVATIONS.c.id == reservation_id).returning(
            RESERVATIONS.c.project_id, RESERVATIONS.c.resource,
            RESERVATIONS.c.delta))).all()
    for project_id, name, delta in sorted(rows, key=lambda r: (r[0], r[1])):
        await session.execute(stmt, {"p": project_id, "r": name, "d": delta, "now": now})
    return bool(rows)


async def commit(session: AsyncSession, reservation_id: str) -> bool:
    """Move the reservation into ``in_use``; idempotent.

    Call it in the transaction that writes the resource (with its ``usage``).
    False when the reservation was already committed, released or expired:
    then nothing is counted, and a caller that still creates the resource
    should ``charge(..., check=False)`` it.
    """
    return await _settle(session, reservation_id, "commit")


async def release(session: AsyncSession, reservation_id: str) -> bool:
    """Give the reservation back (the create failed); idempotent. Whether it was held."""
    return await _settle(session, reservation_id, "release")


async def give_back(session: AsyncSession, project_id: str,
                    deltas: Mapping[str, int]) -> None:
    """Subtract ``deltas`` from ``in_use`` (a deletion); never below 0."""
    wanted = tables.checked({k: v for k, v in deltas.items() if k in catalogue.COUNTED})
    now = tables.now()
    for name in sorted(wanted):
        await session.execute(ADD["in_use"], {"p": project_id, "r": name,
                                              "d": -wanted[name], "now": now})


async def expired(session: AsyncSession, now: dt.datetime | None = None) -> list[str]:
    """Ids of the reservations past their expiry, sorted."""
    return list((await session.scalars(
        select(RESERVATIONS.c.id).where(RESERVATIONS.c.expires_at < (now or tables.now()))
        .distinct().order_by(RESERVATIONS.c.id))).all())


async def expire(session: AsyncSession, now: dt.datetime | None = None) -> int:
    """Release every reservation past its expiry; how many were released.

    One id at a time through ``release``, so a late commit racing this locks
    the same rows in the same order. This transaction holds them all, though:
    processes that sweep concurrently should rather ``release`` each of
    ``expired()`` in a transaction of its own (``sync.quota_sweep`` does).
    """
    released = 0
    for reservation_id in await expired(session, now):
        released += await release(session, reservation_id)
    return released
