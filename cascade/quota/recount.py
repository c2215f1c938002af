"""Recounting the quota ledger from the truth: ``in_use`` from the usage the
project's resources record, ``reserved`` from its reservations; for the
periodic sweep (``sync.quota_sweep``) and for operators (``cascade-manage``).
"""
from __future__ import annotations

import dataclasses
import json
from collections import defaultdict

from sqlalchemy import (Boolean, Integer, Text, cast, func, literal, null, select, union_all,
                        update)
from sqlalchemy.ext.asyncio import AsyncSession

from cascade.quota import resources as catalogue
from cascade.quota import tables
from cascade.quota.settlement import fold
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
    # missing ones (one upsert; rows are written in VALUES order). Admissions,
    # releases and deletions wait for this transaction; a create's commit does
    # not (it takes no usage row), and the one-snapshot read counts it once.
    stmt = tables.insert(session)(USAGES).values([
        {"project_id": project_id, "resource": name, "in_use": 0, "reserved": 0,
         "updated_at": now} for name in catalogue.COUNTED])
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["project_id", "resource"],
        set_={"updated_at": stmt.excluded.updated_at}))
    # Fold what is committed now; commits landing later stay committed rows
    # (a commit takes no usage row), which the one-snapshot read below sees.
    await fold(session, project_id)
    in_use, reserved, pending = await _truth(session, project_id)
    current = {name: (int(u), int(v)) for name, u, v in await session.execute(
        select(USAGES.c.resource, USAGES.c.in_use, USAGES.c.reserved)
        .where(USAGES.c.project_id == project_id))}
    fixes: list[Correction] = []
    for name in catalogue.COUNTED:
        held, late = current.get(name, (0, 0)), pending.get(name, 0)
        have = {"in_use": held[0] + late, "reserved": held[1] - late}
        want = {"in_use": in_use.get(name, 0), "reserved": reserved.get(name, 0)}
        changed = [f for f in ("in_use", "reserved") if have[f] != want[f]]
        if not changed:
            continue
        fixes += [Correction(project_id, name, f, have[f], want[f]) for f in changed]
        await session.execute(update(USAGES).where(
            USAGES.c.project_id == project_id, USAGES.c.resource == name
        ).values(in_use=want["in_use"] - late, reserved=want["reserved"] + late,
                 updated_at=now))
    return fixes


async def _truth(session: AsyncSession, project_id: str
                 ) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(usage the resources record, reservations held, reservations committed) per
    resource, read in one statement: a create committing meanwhile (which writes its
    resource and marks its reservation together) is counted exactly once."""
    resources = select(
        literal("usage").label("kind"), cast(RESOURCES.c.usage, Text).label("what"),
        cast(null(), Integer).label("n"), cast(null(), Boolean).label("committed")
    ).where(RESOURCES.c.project_id == project_id, RESOURCES.c.usage.is_not(None))
    held = select(
        literal("held"), RESERVATIONS.c.resource, func.sum(RESERVATIONS.c.delta),
        RESERVATIONS.c.committed
    ).where(RESERVATIONS.c.project_id == project_id).group_by(
        RESERVATIONS.c.resource, RESERVATIONS.c.committed)
    in_use: dict[str, int] = defaultdict(int)
    reserved: dict[str, int] = defaultdict(int)
    pending: dict[str, int] = defaultdict(int)
    for kind, what, n, committed in await session.execute(union_all(resources, held)):
        if kind == "held":
            (pending if committed else reserved)[what] += int(n or 0)
            continue
        doc = json.loads(what) if isinstance(what, str) else what
        for name, amount in (doc or {}).items():
            if name in catalogue.COUNTED and isinstance(amount, int):
                in_use[name] += amount
    return in_use, reserved, pending
