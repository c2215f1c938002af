"""Operations endpoints: ``/healthcheck`` and ``/metrics`` (no token needed).

``/healthcheck`` answers 200 ``OK`` while the database answers (503 otherwise),
as oslo.middleware's healthcheck does; ``?detail`` (or an ``Accept:
application/json``) from a caller with an admin token adds the database's
error and each region's health. Anonymous callers (a load balancer) get the
plain answer only: database errors and region names are not theirs to read. ``/metrics``
is Prometheus' text format: regional call latency and errors, replication
bytes, job queue depth and age, reconcile lag and region health.
"""
from __future__ import annotations

import datetime as dt

from aiohttp import web
from sqlalchemy import func, select, text

from cascade.api.middleware import public
from cascade import metrics
from cascade import errors
from cascade.appkeys import AUTH, POLICY, REGIONS, SESSIONS
from cascade.db.models import HealthState, Job, JobState, SyncWatermark
from cascade.jsonutil import json_response

__all__ = ["healthcheck", "prometheus"]


async def _database_ok(request: web.Request) -> str | None:
    try:
        async with request.config_dict[SESSIONS]() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return f"{type(exc).__name__}: {exc}"
    return None


async def _is_admin(request: web.Request) -> bool:
    """Whether the caller sent a valid token that policy lets see the details
    (``cascade:healthcheck:detail``; admins by default)."""
    token = request.headers.get("X-Auth-Token")
    if not token:
        return False
    try:
        identity = await request.config_dict[AUTH].authenticate(token)
    except errors.CascadeError:
        return False  # Keystone is slow: the plain answer, at once
    return identity is not None and bool(identity.project_id) and request.config_dict[
        POLICY].allowed("cascade:healthcheck:detail", identity.roles, identity.project_id,
                        identity.user_id)


@public
async def healthcheck(request: web.Request) -> web.Response:
    """GET /healthcheck."""
    problem = await _database_ok(request)
    status = 503 if problem else 200
    wants = "detail" in request.query or "json" in request.headers.get("Accept", "")
    if wants and await _is_admin(request):
        regions = {r.name: {"health": r.health, "enabled": r.enabled}
                   for r in request.config_dict[REGIONS]}
        return json_response({"status": "DOWN" if problem else "OK",
                              "database": problem or "OK", "regions": regions},
                             status=status)
    return web.Response(status=status, text="DOWN" if problem else "OK",
                        content_type="text/plain")


@public
async def prometheus(request: web.Request) -> web.Response:
    """GET /metrics."""
    now = dt.datetime.now(dt.timezone.utc)
    extra: list[str] = []
    health: dict[tuple[tuple[str, str], ...], float] = {
        (("region", r.name),): 1.0 if r.health != HealthState.DOWN else 0.0
        for r in request.config_dict[REGIONS]}
    extra += metrics.gauge_lines("cascade_region_up",
                                 "1 while a region is not marked down.", health)
    try:
        async with request.config_dict[SESSIONS]() as session:
            rows = (await session.execute(
                select(Job.kind, Job.state, func.count(), func.min(Job.created_at))
                .where(Job.state.in_(JobState.ACTIVE)).group_by(Job.kind, Job.state))).all()
            marks = (await session.execute(select(SyncWatermark))).scalars().all()
    except Exception:  # noqa: BLE001 - metrics must answer even without a database
        rows, marks = [], []
    Labels = tuple[tuple[str, str], ...]
    depth: dict[Labels, float] = {(("kind", k), ("state", s)): float(n)
                                  for k, s, n, _ in rows}
    age: dict[Labels, float] = {}
    for kind, _, _, oldest in rows:
        if oldest is not None:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.timezone.utc)
            key = (("kind", kind),)
            age[key] = max(age.get(key, 0.0), (now - oldest).total_seconds())
    lag: dict[Labels, float] = {}
    for mark in marks:
        value = mark.value if mark.value.tzinfo else mark.value.replace(tzinfo=dt.timezone.utc)
        lag[(("kind", mark.kind), ("region", mark.region))] = (now - value).total_seconds()
    extra += metrics.gauge_lines("cascade_jobs", "Jobs queued or running.", depth)
    extra += metrics.gauge_lines("cascade_job_oldest_age_seconds",
                                 "Age of the oldest queued or running job.", age)
    extra += metrics.gauge_lines("cascade_reconcile_lag_seconds",
                                 "Time since the last complete reconciliation pass.", lag)
    return web.Response(text=metrics.render(extra),
                        content_type="text/plain", charset="utf-8",
                        headers={"X-Prometheus-Format": "0.0.4"})
