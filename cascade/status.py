"""What ``/healthcheck`` and ``/metrics`` report: the database's answer, job queue depth
and age, reconcile lag and region health, read from Cascade's own state."""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import metrics
from cascade.db.models import HealthState, Job, JobState, SyncWatermark
from cascade.regions.registry import RegionInfo

__all__ = ["database_problem", "gauge_lines"]

Labels = tuple[tuple[str, str], ...]


async def database_problem(sessions: async_sessionmaker[AsyncSession]) -> str | None:
    """None while the database answers; what went wrong otherwise."""
    try:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return f"{type(exc).__name__}: {exc}"
    return None


def _utc(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


async def gauge_lines(sessions: async_sessionmaker[AsyncSession],
                      regions: Iterable[RegionInfo]) -> list[str]:
    """Prometheus lines for region health, the job queue and reconcile lag (the
    database's gauges are left out while it does not answer)."""
    now = dt.datetime.now(dt.timezone.utc)
    health: dict[Labels, float] = {
        (("region", r.name),): 1.0 if r.health != HealthState.DOWN else 0.0 for r in regions}
    lines = metrics.gauge_lines("cascade_region_up",
                                "1 while a region is not marked down.", health)
    try:
        async with sessions() as session:
            rows = (await session.execute(
                select(Job.kind, Job.state, func.count(), func.min(Job.created_at))
                .where(Job.state.in_(JobState.ACTIVE)).group_by(Job.kind, Job.state))).all()
            marks = (await session.execute(select(SyncWatermark))).scalars().all()
    except Exception:  # noqa: BLE001 - metrics must answer even without a database
        rows, marks = [], []
    depth: dict[Labels, float] = {(("kind", k), ("state", s)): float(n)
                                  for k, s, n, _ in rows}
    age: dict[Labels, float] = {}
    for kind, _, _, oldest in rows:
        if oldest is not None:
            key = (("kind", kind),)
            age[key] = max(age.get(key, 0.0), (now - _utc(oldest)).total_seconds())
    lag: dict[Labels, float] = {
        (("kind", mark.kind), ("region", mark.region)): (now - _utc(mark.value)).total_seconds()
        for mark in marks}
    lines += metrics.gauge_lines("cascade_jobs", "Jobs queued or running.", depth)
    lines += metrics.gauge_lines("cascade_job_oldest_age_seconds",
                                 "Age of the oldest queued or running job.", age)
    lines += metrics.gauge_lines("cascade_reconcile_lag_seconds",
                                 "Time since the last complete reconciliation pass.", lag)
    return lines
