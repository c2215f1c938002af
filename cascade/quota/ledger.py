"""The quota ledger: limits, usage and reservations, kept exact in the database.

Admission is a compare-and-set: one guarded ``UPDATE`` per resource adds the
request to ``reserved`` only if ``in_use + reserved + delta`` stays within the
limit (or the limit is -1). The database serialises concurrent updates of a
row and re-checks the guard on the row it finally updates, so concurrent
creates can never overshoot, whichever process they run in. Rows are always
locked in sorted resource order, so two admissions never deadlock.

A reservation is a set of rows in ``reservations`` (one per resource) that
expire. Completion moves it from ``reserved`` to ``in_use`` (``commit``),
failure gives it back (``release``), and a sweep gives back what a dead owner
held (``expire``). Whoever deletes the reservation rows does the accounting,
so each of these is idempotent and they never count twice.

``in_use`` mirrors the ``usage`` of the project's resources: the resource row
is written with its usage in the transaction that commits the reservation,
and deleting it gives the usage back (``mapping.store.remove``). ``recount``
sets the ledger from that truth, for the periodic sweep and for operators.

On PostgreSQL, reserving and settling are one statement each with the same
guarantees (``cascade.quota.pg``: fewer round trips, half the CPU per
admission); SQLite runs the portable statements below, serialised by its
single writer.

Every function takes the caller's session: the caller decides the
transaction. Run ``reserve`` in its own short transaction (it holds the usage
rows until that transaction ends), and ``commit`` in the transaction that
writes the resource.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from typing import Any, Iterable, Mapping

from sqlalchemy import Table, and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from cascade import errors
from cascade.db.models import Base
from cascade.quota import pg
from cascade.quota import resources as catalogue

__all__ = ["reserve", "commit", "release", "charge", "give_back", "expired", "expire",
           "recount",
           "limits", "usage", "set_limits", "delete_limits", "projects", "custom_projects",
           "Correction"]

_LIMITS: Table = Base.metadata.tables["quota_limits"]
_USAGES: Table = Base.metadata.tables["quota_usages"]
_RESERVATIONS: Table = Base.metadata.tables["reservations"]
_RESOURCES: Table = Base.metadata.tables["resources"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert(session: AsyncSession) -> Any:
    return pg_insert if _postgresql(session) else sqlite_insert


def _checked(deltas: Mapping[str, int], *, negative_ok: bool = False) -> dict[str, int]:
    """The non-zero deltas; :raises ValueError: a resource the ledger does not count."""
    out = {}
    for name, delta in deltas.items():
        if name not in catalogue.COUNTED:
            raise ValueError(f"{name} is not a counted quota resource")
        if delta < 0 and not negative_ok:
            raise ValueError(f"negative quota delta for {name}: {delta}")
        if delta:
            out[name] = int(delta)
    return out


# The guarded statements are built once: compiled once, cached by SQLAlchemy.
_P: BindParameter[str] = bindparam("p")
_R: BindParameter[str] = bindparam("r")
_D: BindParameter[int] = bindparam("d")
_LIMIT = func.coalesce(
    select(_LIMITS.c.hard_limit)
    .where(_LIMITS.c.project_id == _P, _LIMITS.c.resource == _R).scalar_subquery(),
    bindparam("default"))
_ROW = and_(_USAGES.c.project_id == _P, _USAGES.c.resource == _R)
_WITHIN = or_(_LIMIT < 0, _USAGES.c.in_use + _USAGES.c.reserved + _D <= _LIMIT)


def _floor0(expr: Any) -> Any:
    return case((expr < 0, 0), else_=expr)


_GUARDED = {
    "reserved": update(_USAGES).where(_ROW, _WITHIN).values(
        reserved=_USAGES.c.reserved + _D, updated_at=bindparam("now")
    ).returning(_USAGES.c.resource),
    "in_use": update(_USAGES).where(_ROW, _WITHIN).values(
        in_use=_USAGES.c.in_use + _D, updated_at=bindparam("now")
    ).returning(_USAGES.c.resource),
}
_ADD = {  # unguarded: undoing, committing, giving back (never below 0)
    "reserved": update(_USAGES).where(_ROW).values(
        reserved=_floor0(_USAGES.c.reserved + _D), updated_at=bindparam("now")),
    "in_use": update(_USAGES).where(_ROW).values(
        in_use=_floor0(_USAGES.c.in_use + _D), updated_at=bindparam("now")),
}
_MOVE = update(_USAGES).where(_ROW).values(  # reserved -> in_use
    reserved=_floor0(_USAGES.c.reserved - _D), in_use=_USAGES.c.in_use + _D,
    updated_at=bindparam("now"))
_UNRESERVE = update(_USAGES).where(_ROW).values(
    reserved=_floor0(_USAGES.c.reserved - _D), updated_at=bindparam("now"))


async def _ensure_row(session: AsyncSession, project_id: str, resource: str) -> None:
    """Create the usage row on first use (a concurrent creator wins harmlessly)."""
    await session.execute(_insert(session)(_USAGES).values(
        project_id=project_id, resource=resource, in_use=0, reserved=0, updated_at=_now()
    ).on_conflict_do_nothing(index_elements=["project_id", "resource"]))


async def _guarded_add(session: AsyncSession, column: str, project_id: str, resource: str,
                       delta: int, default: int, now: dt.datetime) -> bool:
    """Add ``delta`` to ``column`` if the limit allows; whether it did."""
    params = {"p": project_id, "r": resource, "d": delta, "default": default, "now": now}
    if (await session.execute(_GUARDED[column], params)).first() is not None:
        return True
    # No row yet, or over the limit: create the row (if missing) and try once more,
    # which also covers a row another transaction created meanwhile.
    await _ensure_row(session, project_id, resource)
    return (await session.execute(_GUARDED[column], params)).first() is not None


async def _admit(session: AsyncSession, column: str, project_id: str,
                 deltas: dict[str, int], defaults: Mapping[str, int],
                 message: str | None) -> None:
    """Guarded adds for every resource, all or none. :raises OverQuota:"""
    now = _now()
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
        await session.execute(_ADD[column], {"p": project_id, "r": name,
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
    wanted = _checked(deltas)
    reservation_id = str(uuid.uuid4())
    if not wanted:
        return reservation_id
    now = _now()
    expires = now + dt.timedelta(seconds=ttl)
    if _postgresql(session):
        await _reserve_pg(session, project_id, reservation_id, wanted, defaults, now,
                          expires, message)
        return reservation_id
    # NOTE: the reservation rows first; they lock nothing anyone else wants, so
    # the usage rows stay locked only from the guarded updates to the commit.
    await session.execute(_RESERVATIONS.insert(), [
        {"id": reservation_id, "resource": name, "project_id": project_id,
         "delta": delta, "expires_at": expires, "created_at": now}
        for name, delta in sorted(wanted.items())])
    try:
        await _admit(session, "reserved", project_id, wanted, defaults, message)
    except errors.OverQuota:
        await session.execute(delete(_RESERVATIONS).where(
            _RESERVATIONS.c.id == reservation_id))
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
            await _ensure_row(session, project_id, name)
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


async def _settle(session: AsyncSession, reservation_id: str, how: str) -> bool:
    """Delete the reservation's rows and commit or release each; whether any existed."""
    now = _now()
    if _postgresql(session):
        return await pg.settle(session, reservation_id, how, now)
    stmt = _MOVE if how == "commit" else _UNRESERVE
    rows = (await session.execute(
        delete(_RESERVATIONS).where(_RESERVATIONS.c.id == reservation_id).returning(
            _RESERVATIONS.c.project_id, _RESERVATIONS.c.resource,
            _RESERVATIONS.c.delta))).all()
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


async def charge(session: AsyncSession, project_id: str, deltas: Mapping[str, int], *,
                 defaults: Mapping[str, int], check: bool = True,
                 message: str | None = None) -> None:
    """Add ``deltas`` to ``in_use`` at once, in the caller's transaction.

    For creates that involve no region (keypairs): no reservation, the usage
    row stays locked until the caller's transaction ends. ``check=False``
    counts without checking the limit (a late commit, an adoption).

    :raises OverQuota: over the limit (with ``check``); nothing is charged.
    """
    wanted = _checked(deltas)
    if check:
        await _admit(session, "in_use", project_id, wanted, defaults, message)
        return
    now = _now()
    for name in sorted(wanted):
        await _ensure_row(session, project_id, name)
        await session.execute(_ADD["in_use"], {"p": project_id, "r": name,
                                               "d": wanted[name], "now": now})


async def give_back(session: AsyncSession, project_id: str,
                    deltas: Mapping[str, int]) -> None:
    """Subtract ``deltas`` from ``in_use`` (a deletion); never below 0."""
    wanted = _checked({k: v for k, v in deltas.items() if k in catalogue.COUNTED})
    now = _now()
    for name in sorted(wanted):
        await session.execute(_ADD["in_use"], {"p": project_id, "r": name,
                                               "d": -wanted[name], "now": now})


async def expired(session: AsyncSession, now: dt.datetime | None = None) -> list[str]:
    """Ids of the reservations past their expiry, sorted."""
    return list((await session.scalars(
        select(_RESERVATIONS.c.id).where(_RESERVATIONS.c.expires_at < (now or _now()))
        .distinct().order_by(_RESERVATIONS.c.id))).all())


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


@dataclasses.dataclass(frozen=True, slots=True)
class Correction:
    """One ledger value ``recount`` found wrong and set right."""

    project_id: str
    resource: str
    field: str
    old: int
    new: int


async def projects(session: AsyncSession) -> list[str]:
    """Every project the ledger knows or that holds resources with usage, sorted."""
    known = select(_USAGES.c.project_id).union(
        select(_RESOURCES.c.project_id).where(_RESOURCES.c.usage.is_not(None)),
        select(_LIMITS.c.project_id))
    return sorted((await session.scalars(known)).all())


async def recount(session: AsyncSession, project_id: str | None = None) -> list[Correction]:
    """Set ``in_use`` from the resources' usage and ``reserved`` from the reservations.

    ``project_id`` None recounts every project in this one transaction (a
    sweep should rather recount project by project, see ``projects``).
    Returns the corrections made; none when the ledger was exact.
    """
    if project_id is None:
        out: list[Correction] = []
        for pid in await projects(session):
            out += await recount(session, pid)
        return out
    now = _now()
    # Lock every usage row of the project first, in sorted order, creating the
    # missing ones (one upsert; rows are written in VALUES order). The counts
    # below are read afterwards, so a create or delete committing meanwhile is
    # either fully in them or waits for this transaction.
    stmt = _insert(session)(_USAGES).values([
        {"project_id": project_id, "resource": name, "in_use": 0, "reserved": 0,
         "updated_at": now} for name in catalogue.COUNTED])
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["project_id", "resource"],
        set_={"updated_at": stmt.excluded.updated_at}))
    in_use: dict[str, int] = defaultdict(int)
    for (doc,) in await session.execute(select(_RESOURCES.c.usage).where(
            _RESOURCES.c.project_id == project_id, _RESOURCES.c.usage.is_not(None))):
        for name, amount in (doc or {}).items():
            if name in catalogue.COUNTED and isinstance(amount, int):
                in_use[name] += amount
    reserved = {name: total for name, total in await session.execute(
        select(_RESERVATIONS.c.resource, func.sum(_RESERVATIONS.c.delta))
        .where(_RESERVATIONS.c.project_id == project_id)
        .group_by(_RESERVATIONS.c.resource))}
    current = await usage(session, project_id)
    fixes: list[Correction] = []
    for name in catalogue.COUNTED:
        want = {"in_use": in_use.get(name, 0), "reserved": int(reserved.get(name) or 0)}
        have = dict(zip(("in_use", "reserved"), current[name]))
        changed = {f: v for f, v in want.items() if have[f] != v}
        if not changed:
            continue
        fixes += [Correction(project_id, name, f, have[f], v) for f, v in changed.items()]
        await session.execute(update(_USAGES).where(
            _USAGES.c.project_id == project_id, _USAGES.c.resource == name
        ).values(**changed, updated_at=now))
    return fixes


async def limits(session: AsyncSession, project_id: str, defaults: Mapping[str, int],
                 names: Iterable[str] | None = None) -> dict[str, int]:
    """The project's effective limits (its own, else the defaults), for ``names`` or all."""
    wanted = list(names) if names is not None else list(catalogue.RESOURCES)
    own = {name: limit for name, limit in await session.execute(
        select(_LIMITS.c.resource, _LIMITS.c.hard_limit)
        .where(_LIMITS.c.project_id == project_id))}
    return {n: int(own[n]) if n in own else int(defaults[n]) for n in wanted}


async def usage(session: AsyncSession, project_id: str,
                names: Iterable[str] | None = None) -> dict[str, tuple[int, int]]:
    """(in_use, reserved) per counted resource (zeros when never used)."""
    wanted = list(names) if names is not None else list(catalogue.COUNTED)
    rows = {r: (int(u), int(v)) for r, u, v in await session.execute(
        select(_USAGES.c.resource, _USAGES.c.in_use, _USAGES.c.reserved)
        .where(_USAGES.c.project_id == project_id))}
    return {n: rows.get(n, (0, 0)) for n in wanted}


async def set_limits(session: AsyncSession, project_id: str,
                     values: Mapping[str, int]) -> None:
    """Store the project's own limits for ``values`` (-1: unlimited).

    :raises ValueError: not a quota resource, or below -1.
    """
    rows = []
    for name, value in sorted(values.items()):
        if name not in catalogue.RESOURCES or int(value) < -1:
            raise ValueError(f"bad quota limit {name}={value}")
        rows.append({"project_id": project_id, "resource": name, "hard_limit": int(value)})
    if not rows:
        return
    stmt = _insert(session)(_LIMITS).values(rows)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["project_id", "resource"],
        set_={"hard_limit": stmt.excluded.hard_limit}))


async def delete_limits(session: AsyncSession, project_id: str,
                        names: Iterable[str] | None = None) -> None:
    """Forget the project's own limits (all, or ``names``): the defaults apply again."""
    stmt = delete(_LIMITS).where(_LIMITS.c.project_id == project_id)
    if names is not None:
        stmt = stmt.where(_LIMITS.c.resource.in_(list(names)))
    await session.execute(stmt)


async def custom_projects(session: AsyncSession) -> dict[str, dict[str, int]]:
    """Projects with limits of their own: project -> {resource: limit}."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for pid, name, value in await session.execute(
            select(_LIMITS.c.project_id, _LIMITS.c.resource, _LIMITS.c.hard_limit)
            .order_by(_LIMITS.c.project_id)):
        out[pid][name] = int(value)
    return dict(out)

