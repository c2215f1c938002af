"""Settling quota reservations, folding committed ones, and giving usage back.

``commit`` marks a reservation committed: the resource it admitted now
counts as in use. It touches no usage row, so the transaction that writes the
resource never holds the project's usage rows (for one busy project those
rows are what every admission waits for). ``in_use + reserved`` is what
admission checks, and a commit does not change it, so admission stays exact;
the usage row keeps the committed delta in ``reserved`` until a ``fold``
moves it into ``in_use``, under the usage rows' locks. ``usage`` reports
committed reservations as in use whether folded or not.

``release`` gives back a reservation not committed, ``expire`` gives back
what a dead owner held, and ``give_back`` subtracts a deleted resource's
usage (folding first, so that the floor at 0 sees the true ``in_use``).
Whoever deletes the reservation rows does the accounting, so each of these
is idempotent and nothing is counted twice. Folds happen in ``give_back``,
in ``recount`` (the quota sweep, every ``[quota] reconcile_interval``) and
wherever an operator recounts.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Iterable, Mapping

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cascade.quota import pg, tables
from cascade.quota import resources as catalogue
from cascade.quota.tables import ADD, MOVE, RESERVATIONS, UNRESERVE, USAGES

__all__ = ["commit", "release", "fold", "give_back", "expired", "expire"]


async def commit(session: AsyncSession, reservation_id: str) -> bool:
    """Count the reservation as in use; idempotent.

    Call it in the transaction that writes the resource (with its ``usage``).
    False when the reservation was already committed, released or expired:
    then nothing is counted, and a caller that still creates the resource
    should ``charge(..., check=False)`` it.
    """
    rows = (await session.execute(
        update(RESERVATIONS)
        .where(RESERVATIONS.c.id == reservation_id, RESERVATIONS.c.committed.is_(False))
        .values(committed=True).returning(RESERVATIONS.c.resource))).all()
    return bool(rows)


async def release(session: AsyncSession, reservation_id: str) -> bool:
    """Give the reservation back (the create failed); idempotent. Whether it was held.

    A committed reservation is not released: its resource exists.
    """
    now = tables.now()
    if tables.postgresql(session):
        return await pg.release(session, reservation_id, now)
    rows = (await session.execute(
        delete(RESERVATIONS)
        .where(RESERVATIONS.c.id == reservation_id, RESERVATIONS.c.committed.is_(False))
        .returning(RESERVATIONS.c.project_id, RESERVATIONS.c.resource,
                   RESERVATIONS.c.delta))).all()
    for project_id, name, delta in sorted(rows, key=lambda r: (r[0], r[1])):
        await session.execute(UNRESERVE, {"p": project_id, "r": name, "d": delta,
                                          "now": now})
    return bool(rows)


async def fold(session: AsyncSession, project_id: str,
               names: Iterable[str] | None = None) -> dict[str, int]:
    """Move the project's committed reservations into ``in_use``; what moved.

    Locks the usage rows (``names``, or all of the project's) in sorted order
    before it deletes any reservation row, as admission does, so folds never
    deadlock and two folds never move the same reservation.
    """
    wanted = sorted(names) if names is not None else None
    if tables.postgresql(session):
        lock = select(USAGES.c.resource).where(USAGES.c.project_id == project_id)
        if wanted is not None:
            lock = lock.where(USAGES.c.resource.in_(wanted))
        await session.execute(lock.order_by(USAGES.c.resource).with_for_update())
    gone = delete(RESERVATIONS).where(RESERVATIONS.c.project_id == project_id,
                                      RESERVATIONS.c.committed.is_(True))
    if wanted is not None:
        gone = gone.where(RESERVATIONS.c.resource.in_(wanted))
    moved: dict[str, int] = defaultdict(int)
    for name, delta in await session.execute(
            gone.returning(RESERVATIONS.c.resource, RESERVATIONS.c.delta)):
        moved[name] += int(delta)
    now = tables.now()
    for name in sorted(moved):
        await session.execute(MOVE, {"p": project_id, "r": name, "d": moved[name],
                                     "now": now})
    return dict(moved)


async def give_back(session: AsyncSession, project_id: str,
                    deltas: Mapping[str, int]) -> None:
    """Subtract ``deltas`` from ``in_use`` (a deletion); never below 0."""
    wanted = tables.checked({k: v for k, v in deltas.items() if k in catalogue.COUNTED})
    if not wanted:
        return
    await fold(session, project_id, wanted)
    now = tables.now()
    for name in sorted(wanted):
        await session.execute(ADD["in_use"], {"p": project_id, "r": name,
                                              "d": -wanted[name], "now": now})


async def expired(session: AsyncSession, now: dt.datetime | None = None) -> list[str]:
    """Ids of the reservations past their expiry and not committed, sorted."""
    return list((await session.scalars(
        select(RESERVATIONS.c.id).where(RESERVATIONS.c.expires_at < (now or tables.now()),
                                        RESERVATIONS.c.committed.is_(False))
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
