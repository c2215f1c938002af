"""Admission into the quota ledger: ``reserve`` holds a create's deltas until it
completes or fails (``cascade.quota.settlement``); ``charge`` counts a create
that involves no region at once.

Admission is a compare-and-set: one guarded ``UPDATE`` per resource adds the
request only if ``in_use + reserved + delta`` stays within the limit (or the
limit is -1), for every resource or none (see ``cascade.quota.ledger``). On
PostgreSQL a reservation is one statement (``cascade.quota.pg``).
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Mapping

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from cascade import errors
from cascade.quota import pg, tables
from cascade.quota.limits import limits, usage
from cascade.quota.tables import ADD, GUARDED, RESERVATIONS

__all__ = ["reserve", "charge"]


async def _guarded_add(session: AsyncSession, column: str, project_id: str, resource: str,
                       delta: int, default: int, now: dt.datetime) -> bool:
    """Add ``delta`` to ``column`` if the limit allows; whether it did."""
    params = {"p": project_id, "r": resource, "d": delta, "default": default, "now": now}
    if (await session.execute(GUARDED[column], params)).first() is not None:
        return True
    # No row yet, or over the limit: create the row (if missing) and try once more,
    # which also covers a row another transaction created meanwhile.
    await tables.ensure_row(session, project_id, resource)
    return (await session.execute(GUARDED[column], params)).first() is not None


async def _admit(session: AsyncSession, column: str, project_id: str,
                 deltas: dict[str, int], defaults: Mapping[str, int],
                 message: str | None) -> None:
    """Guarded adds for every resource, all or none. :raises OverQuota:"""
    now = tables.now()
    done: list[str] = []
    over: list[str] = []
    for name in sorted(deltas):
        if await _guarded_add(session, column, project_id, name, deltas[name],
                              defaults[name], now):
            done.append(name)
        else:
            over.append(name)
    if not over:
        return
    # Undo here rather than trust the caller to roll back: a caller that
    # catches OverQuota and commits must still leave the ledger exact.
    for name in done:
        await session.execute(ADD[column], {"p": project_id, "r": name,
                                            "d": -deltas[name], "now": now})
    raise await _over_quota(session, project_id, over, deltas, defaults, message)


async def _over_quota(session: AsyncSession, project_id: str, over: list[str],
                      deltas: Mapping[str, int], defaults: Mapping[str, int],
                      message: str | None) -> errors.OverQuota:
    held = await usage(session, project_id, over)
    lims = await limits(session, project_id, defaults, over)
    return errors.OverQuota(over, deltas, {n: sum(held[n]) for n in over}, lims,
                            message=message)


async def reserve(session: AsyncSession, project_id: str, deltas: Mapping[str, int], *,
                  ttl: float, defaults: Mapping[str, int],
                  message: str | None = None) -> str:
    """Admit a create: hold ``deltas`` for ``ttl`` seconds; the reservation id.

    ``defaults`` are the limits of projects without their own
    (``resources.defaults(conf)``); ``message`` replaces the over-quota text.

    :raises OverQuota: some resource would exceed its limit; nothing is held.
    :raises ValueError: a resource the ledger does not count, or a negative delta.
    """
    wanted = tables.checked(deltas)
    reservation_id = str(uuid.uuid4())
    if not wanted:
        return reservation_id
    now = tables.now()
    expires = now + dt.timedelta(seconds=ttl)
    if tables.postgresql(session):
        await _reserve_pg(session, project_id, reservation_id, wanted, defaults, now,
                          expires, message)
        return reservation_id
    # NOTE: the reservation rows first; they lock nothing anyone else wants, so
    # the usage rows stay locked only from the guarded updates to the commit.
    await session.execute(RESERVATIONS.insert(), [
        {"id": reservation_id, "resource": name, "project_id": project_id,
         "delta": delta, "expires_at": expires, "created_at": now}
        for name, delta in sorted(wanted.items())])
    try:
        await _admit(session, "reserved", project_id, wanted, defaults, message)
    except errors.OverQuota:
        await session.execute(delete(RESERVATIONS).where(
            RESERVATIONS.c.id == reservation_id))
        raise
    return reservation_id


async def _reserve_pg(session: AsyncSession, project_id: str, reservation_id: str,
                      wanted: dict[str, int], defaults: Mapping[str, int],
                      now: dt.datetime, expires: dt.datetime, message: str | None) -> None:
    """``reserve`` in one statement (cascade.quota.pg). :raises OverQuota:"""
    verdict = await pg.reserve(session, project_id, reservation_id, wanted, defaults, now,
                               expires)
    if verdict.missing:
        # First use of these resources: create their rows (sorted; nothing is
        # locked yet) and ask again, which then finds every row.
        for name in verdict.missing:
            await tables.ensure_row(session, project_id, name)
        verdict = await pg.reserve(session, project_id, reservation_id, wanted, defaults,
                                   now, expires)
    if verdict.admitted:
        return
    if verdict.missing:
        raise RuntimeError(f"quota usage rows vanished for {verdict.missing}")
    over = sorted(n for n, (used, limit) in verdict.held.items()
                  if 0 <= limit < used + wanted[n])
    raise errors.OverQuota(over, wanted, {n: verdict.held[n][0] for n in over},
                           {n: verdict.held[n][1] for n in over}, message=message)


async def charge(session: AsyncSession, project_id: str, deltas: Mapping[str, int], *,
                 defaults: Mapping[str, int], check: bool = True,
                 message: str | None = None) -> None:
    """Add ``deltas`` to ``in_use`` at once, in the caller's transaction.

    For creates that involve no region (keypairs): no reservation, the usage
    row stays locked until the caller's transaction ends. ``check=False``
    counts without checking the limit (a late commit, an adoption).

    :raises OverQuota: over the limit (with ``check``); nothing is charged.
    """
    wanted = tables.checked(deltas)
    if check:
        await _admit(session, "in_use", project_id, wanted, defaults, message)
        return
    now = tables.now()
    for name in sorted(wanted):
        await tables.ensure_row(session, project_id, name)
        await session.execute(ADD["in_use"], {"p": project_id, "r": name,
                                              "d": wanted[name], "now": now})
