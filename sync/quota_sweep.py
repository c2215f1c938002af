"""The quota sweep: release what dead owners reserved, recount usage, refresh regions.

The ledger is exact by construction (admissions, completions and deletions
all go through it in the transactions that change the resources); this
sweep is the safety net. Expired reservations are given back, every
project's usage is recounted from the resources Cascade holds (one short
transaction per project, so admissions wait for at most one project's
recount), and every correction is logged, since each one means some path
missed the ledger. With ``[quota] push_to_regions`` it then refreshes the
regional limits, as usage moved since they were last set.
"""
from __future__ import annotations

import dataclasses
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.quota import ledger
from cascade.quota.service import QuotaService

__all__ = ["SweepResult", "sweep", "release_expired"]

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class SweepResult:
    released: int
    corrections: list[ledger.Correction]
    projects: int


async def release_expired(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Give back every expired reservation, each in a transaction of its own (so
    sweeps in several processes never hold one another's rows); how many."""
    async with sessions() as session:
        ids = await ledger.expired(session)
    released = 0
    for reservation_id in ids:
        async with sessions.begin() as session:
            released += await ledger.release(session, reservation_id)
    return released


async def sweep(sessions: async_sessionmaker[AsyncSession],
                quotas: QuotaService) -> SweepResult:
    """One round over every project the ledger knows."""
    released = await release_expired(sessions)
    if released:
        LOG.info("quota sweep released %d expired reservations", released)
    async with sessions() as session:
        projects = await ledger.projects(session)
    corrections: list[ledger.Correction] = []
    for project_id in projects:
        async with sessions.begin() as session:
            fixes = await ledger.recount(session, project_id)
        for fix in fixes:
            LOG.warning("quota ledger of project %s corrected: %s %s %d -> %d",
                        fix.project_id, fix.resource, fix.field, fix.old, fix.new)
        corrections += fixes
    if quotas.push_enabled:
        for project_id in projects:
            await quotas.push(project_id)
    return SweepResult(released, corrections, len(projects))
