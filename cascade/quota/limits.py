"""The quota ledger's limits and usage: effective limits, usage per resource,
and the limits of their own that operators set for projects and forget.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cascade.quota import resources as catalogue
from cascade.quota import tables
from cascade.quota.tables import LIMITS, RESERVATIONS, USAGES

__all__ = ["limits", "usage", "set_limits", "delete_limits", "custom_projects"]


async def limits(session: AsyncSession, project_id: str, defaults: Mapping[str, int],
                 names: Iterable[str] | None = None) -> dict[str, int]:
    """The project's effective limits (its own, else the defaults), for ``names`` or all."""
    wanted = list(names) if names is not None else list(catalogue.RESOURCES)
    own = {name: limit for name, limit in await session.execute(
        select(LIMITS.c.resource, LIMITS.c.hard_limit)
        .where(LIMITS.c.project_id == project_id))}
    return {n: int(own[n]) if n in own else int(defaults[n]) for n in wanted}


async def usage(session: AsyncSession, project_id: str,
                names: Iterable[str] | None = None) -> dict[str, tuple[int, int]]:
    """(in_use, reserved) per counted resource (zeros when never used).

    Committed reservations not folded yet count as in use, not reserved
    (``cascade.quota.settlement``); one statement, so one snapshot.
    """
    wanted = list(names) if names is not None else list(catalogue.COUNTED)
    committed = (
        select(RESERVATIONS.c.resource, func.sum(RESERVATIONS.c.delta).label("n"))
        .where(RESERVATIONS.c.project_id == project_id, RESERVATIONS.c.committed.is_(True))
        .group_by(RESERVATIONS.c.resource).subquery())
    rows = {}
    for name, in_use, reserved, pending in await session.execute(
            select(USAGES.c.resource, USAGES.c.in_use, USAGES.c.reserved,
                   func.coalesce(committed.c.n, 0))
            .outerjoin(committed, committed.c.resource == USAGES.c.resource)
            .where(USAGES.c.project_id == project_id)):
        rows[name] = (int(in_use) + int(pending), max(int(reserved) - int(pending), 0))
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
    stmt = tables.insert(session)(LIMITS).values(rows)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["project_id", "resource"],
        set_={"hard_limit": stmt.excluded.hard_limit}))


async def delete_limits(session: AsyncSession, project_id: str,
                        names: Iterable[str] | None = None) -> None:
    """Forget the project's own limits (all, or ``names``): the defaults apply again."""
    stmt = delete(LIMITS).where(LIMITS.c.project_id == project_id)
    if names is not None:
        stmt = stmt.where(LIMITS.c.resource.in_(list(names)))
    await session.execute(stmt)


async def custom_projects(session: AsyncSession) -> dict[str, dict[str, int]]:
    """Projects with limits of their own: project -> {resource: limit}."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for pid, name, value in await session.execute(
            select(LIMITS.c.project_id, LIMITS.c.resource, LIMITS.c.hard_limit)
            .order_by(LIMITS.c.project_id)):
        out[pid][name] = int(value)
    return dict(out)
