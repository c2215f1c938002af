"""Admission into the quota ledger: ``reserve`` holds a create's deltas until it
completes or fails (``cascade.quota.settlement``); ``charge`` counts a create
that involves no region at once.

Admission is a compare-and-set: one guarded ``UPDATE`` per resource adds the
request only if ``in_use + reserved + delta`` stays within the limit (or the
limit is -1), for every resource or none (see ``cascade.quota.ledger``). On
PostgreSQL a reservation is one statement (``cascade.quota.pg``), and so are
several admissions of one project that fit together (``reserve_many``).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Mapping, Sequence

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from cascade import errors
from cascade.quota import pg, settlement, tables
from cascade.quota.limits import limits, usage
from cascade.quota.tables import ADD, GUARDED, RESERVATIONS

__all__ = ["Request", "reserve", "reserve_many", "charge"]


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


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """One admission of ``reserve_many``: ``count`` reservations of ``deltas``, all or
    none (a multi-create); ``message`` replaces the over-quota text."""

    deltas: Mapping[str, int]
    count: int = 1
    message: str | None = None


async def reserve(session: AsyncSession, project_id: str, deltas: Mapping[str, int], *,
                  ttl: float, defaults: Mapping[str, int],
                  message: str | None = None) -> str:
    """Admit a create: hold ``deltas`` for ``ttl`` seconds; the reservation id.

    ``defaults`` are the limits of projects without their own
    (``resources.defaults(conf)``); ``message`` replaces the over-quota text.

    :raises OverQuota: some resource would exceed its limit; nothing is held.
    :raises ValueError: a resource the ledger does not count, or a negative delta.
    """
    (outcome,) = await reserve_many(session, project_id, [Request(deltas, 1, message)],
                                    ttl=ttl, defaults=defaults)
    if isinstance(outcome, errors.OverQuota):
        raise outcome
    return outcome[0]


async def reserve_many(session: AsyncSession, project_id: str, requests: Sequence[Request],
                       *, ttl: float, defaults: Mapping[str, int]
                       ) -> list[list[str] | errors.OverQuota]:
    """Admit several requests of one project in the caller's transaction; per request,
    its reservation ids or the ``OverQuota`` that refused it (nothing held for it).

    Each request is admitted as if alone after the ones before it. On PostgreSQL
    all of them are first tried in one statement, which admits them together when
    their sum fits (the usual case: one lock of the usage rows for all); otherwise
    the rows it locked and read tell which fit, and a second statement admits those.

    :raises ValueError: a resource the ledger does not count, or a negative delta.
    """
    wanted = [tables.checked(r.deltas) for r in requests]
    ids = [[str(uuid.uuid4()) for _ in range(max(0, r.count))] for r in requests]
    now = tables.now()
    expires = now + dt.timedelta(seconds=ttl)
    out: list[list[str] | errors.OverQuota] = list(ids)
    live = [i for i, w in enumerate(wanted) if w and ids[i]]
    if not live:
        return out
    if tables.postgresql(session):
        verdict = await _admit_pg(session, project_id,
                                  {rid: wanted[i] for i in live for rid in ids[i]},
                                  defaults, now, expires)
        if verdict.admitted:
            return out
        # Refused together: the statement locked every row and read it, so pick,
        # in order, the requests that fit, then admit just those (they must fit:
        # this transaction holds the rows).
        used = {n: held for n, (held, _) in verdict.held.items()}
        limit = {n: lim for n, (_, lim) in verdict.held.items()}
        chosen = []
        for i in live:
            total = _times(wanted[i], len(ids[i]))
            over = sorted(n for n in total if 0 <= limit[n] < used[n] + total[n])
            if over:
                out[i] = errors.OverQuota(over, total, used, limit,
                                          message=requests[i].message)
                continue
            chosen.append(i)
            for name, delta in total.items():
                used[name] += delta
        if chosen and not (await _admit_pg(
                session, project_id, {rid: wanted[i] for i in chosen for rid in ids[i]},
                defaults, now, expires)).admitted:
            raise RuntimeError("quota rows changed under this transaction's locks")
        return out
    for i in live:
        try:
            for rid in ids[i]:
                await _reserve_portable(session, project_id, rid, wanted[i], defaults, now,
                                        expires, requests[i].message)
        except errors.OverQuota as exc:
            for rid in ids[i]:
                await settlement.release(session, rid)
            out[i] = exc if len(ids[i]) == 1 else await _over_quota(
                session, project_id, exc.resources, _times(wanted[i], len(ids[i])),
                defaults, requests[i].message)
    return out


def _times(deltas: Mapping[str, int], count: int) -> dict[str, int]:
    return {name: delta * count for name, delta in deltas.items()}


async def _reserve_portable(session: AsyncSession, project_id: str, reservation_id: str,
                            wanted: dict[str, int], defaults: Mapping[str, int],
                            now: dt.datetime, expires: dt.datetime,
                            message: str | None) -> None:
    """One reservation by guarded updates. :raises OverQuota: nothing held for it."""
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


async def _admit_pg(session: AsyncSession, project_id: str,
                    holds: Mapping[str, Mapping[str, int]], defaults: Mapping[str, int],
                    now: dt.datetime, expires: dt.datetime) -> pg.Verdict:
    """One reserve statement (cascade.quota.pg), creating missing usage rows first."""
    verdict = await pg.reserve(session, project_id, holds, defaults, now, expires)
    if verdict.missing:
        # First use of these resources: create their rows (sorted; nothing is
        # locked yet) and ask again, which then finds every row.
        for name in verdict.missing:
            await tables.ensure_row(session, project_id, name)
        verdict = await pg.reserve(session, project_id, holds, defaults, now, expires)
        if verdict.missing:
            raise RuntimeError(f"quota usage rows vanished for {verdict.missing}")
    return verdict


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
