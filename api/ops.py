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

from aiohttp import web

from cascade import errors, metrics, status
from cascade.api.middleware import public
from cascade.appkeys import AUTH, POLICY, REGIONS, SESSIONS
from cascade.jsonutil import json_response

__all__ = ["healthcheck", "prometheus"]


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
    problem = await status.database_problem(request.config_dict[SESSIONS])
    code = 503 if problem else 200
    wants = "detail" in request.query or "json" in request.headers.get("Accept", "")
    if wants and await _is_admin(request):
        regions = {r.name: {"health": r.health, "enabled": r.enabled}
                   for r in request.config_dict[REGIONS]}
        return json_response({"status": "DOWN" if problem else "OK",
                              "database": problem or "OK", "regions": regions},
                             status=code)
    return web.Response(status=code, text="DOWN" if problem else "OK",
                        content_type="text/plain")


@public
async def prometheus(request: web.Request) -> web.Response:
    """GET /metrics."""
    registry = request.config_dict[REGIONS]
    regions = [region for region in registry]
    extra = await status.gauge_lines(request.config_dict[SESSIONS], regions)
    return web.Response(text=metrics.render(extra),
                        content_type="text/plain", charset="utf-8",
                        headers={"X-Prometheus-Format": "0.0.4"})
