"""Recounting the quota ledger from the truth: ``in_use`` from the usage the
project's resources record, ``reserved`` from its reservations; for the
periodic sweep (``sync.quota_sweep``) and for operators (``cascade-manage``).
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cascade.quota import resources as catalogue
from cascade.quota import tables
from cascade.quota.limits import usage
from cascade.quota.tables import LIMITS, RESERVATIONS, RESOURCES, USAGES

__all__ = ["Correction", "projects", "recount"]


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
    known = select(USAGES.c.project_id).union(
        select(RESOURCES.c.project_id).where(RESOURCES.c.usage.is_not(None)),
        select(LIMITS.c.project_id))
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
    now = tables.now()
    # Lock every usage row of the project first, in sorted order, creating the
    # missing ones (one upsert; rows are written in VALUES order). The counts
    # below are read afterwards, so a create or delete committing meanwhile is
    # either fully in them or waits for this transaction.
    stmt = tables.insert(session)(USAGES).values([
        {"project_id": project_id, "resource": name, "in_use": 0, "reserved": 0,
         "updated_at": now} for name in catalogue.COUNTED])
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["project_id", "resource"],
        set_={"updated_at": stmt.excluded.updated_at}))
    in_use: dict[str, int] = defaultdict(int)
    for (doc,) in await session.execute(select(RESOURCES.c.usage).where(
            RESOURCES.c.project_id == project_id, RESOURCES.c.usage.is_not(None))):
        for name, amount in (doc or {}).items():
            if name in catalogue.COUNTED and isinstance(amount, int):
                in_use[name] += amount
    reserved = {name: total for name, total in await session.execute(
        select(RESERVATIONS.c.resource, func.sum(RESERVATIONS.c.delta))
        .where(RESERVATIONS.c.project_id == project_id)
        .group_by(RESERVATIONS.c.resource))}
    current = await usage(session, project_id)
    fixes: list[Correction] = []
    for name in catalogue.COUNTED:
        want = {"in_use": in_use.get(name, 0), "reserved": int(reserved.get(name) or 0)}
        have = dict(zip(("in_use", "reserved"), current[name]))
        changed = {f: v for f, v in want.items() if have[f] != v}
        if not changed:
            continue
        fixes += [Correction(project_id, name, f, have[f], v) for f, v in changed.items()]
        await session.execute(update(USAGES).where(
            USAGES.c.project_id == project_id, USAGES.c.resource == name
        ).values(**changed, updated_at=now))
    return fixes
