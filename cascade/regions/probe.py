"""Health and capability probes of regions (unauthenticated version documents)."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.db.models import HealthState, Region, RegionHealthEvent
from cascade.regions.fanout import scatter_gather
from cascade.regions.registry import RegionInfo, RegionRegistry

__all__ = ["probe_region", "probe_all", "next_health"]

LOG = logging.getLogger(__name__)

_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=5, sock_connect=2)


async def _get_json(session: aiohttp.ClientSession, url: str) -> Any:
    # NOTE: not through RegionClient, on purpose: a probe reads the unauthenticated
    # version document at an endpoint's root (a path RegionClient refuses to
    # build), must reach regions marked down (that is how they come back up),
    # and has its own short deadline. It shares the client's HTTP session.
    async with session.get(url, timeout=_PROBE_TIMEOUT,
                           headers={"Accept": "application/json"}) as resp:
        if resp.status >= 400 and resp.status != 300:
            raise aiohttp.ClientResponseError(resp.request_info, resp.history,
                                              status=resp.status, message=resp.reason or "")
        return await resp.json(content_type=None)


async def probe_region(session: aiohttp.ClientSession,
                       region: RegionInfo) -> tuple[str, dict[str, Any]]:
    """(health, capabilities) of one region, from its version documents.

    Compute answering is what makes a region up; image and network versions are
    recorded when they answer.
    """
    caps: dict[str, Any] = dict(region.capabilities)
    compute = region.endpoint("compute")
    if not compute:
        return HealthState.DOWN, caps
    try:
        doc = await _get_json(session, compute.rstrip("/"))
        version = doc.get("version") or {}
        caps["compute"] = {"min_version": version.get("min_version") or "2.1",
                           "max_version": version.get("version") or "2.1"}
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, AttributeError) as exc:
        LOG.warning("region %s compute probe failed: %s", region.name, exc)
        return HealthState.DOWN, caps
    for service in ("image", "network"):
        url = region.endpoint(service)
        if not url:
            continue
        try:
            doc = await _get_json(session, url.rstrip("/") + "/")
            caps[service] = {"versions": sorted(
                v.get("id") for v in doc.get("versions", [])
                if v.get("status") in ("CURRENT", "SUPPORTED", "current", "supported"))}
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, AttributeError) as exc:
            LOG.warning("region %s %s probe failed: %s", region.name, service, exc)
    return HealthState.UP, caps


def next_health(current: str, failures: int, successes: int, ok: bool, *,
                down_after: int, up_after: int) -> tuple[str, int, int]:
    """(health, failures in a row, successes in a row) after one probe.

    Hysteresis: a healthy region that fails a probe is only *degraded* (still
    takes placements) until ``down_after`` failures in a row; a down region
    needs ``up_after`` good probes in a row to be up again. A region never
    probed before takes the first answer as it is.
    """
    if ok:
        successes, failures = successes + 1, 0
        if current == HealthState.DOWN and successes < up_after:
            return HealthState.DOWN, failures, successes
        return HealthState.UP, failures, successes
    failures, successes = failures + 1, 0
    if current in (HealthState.UNKNOWN, HealthState.DOWN) or failures >= down_after:
        return HealthState.DOWN, failures, successes
    return HealthState.DEGRADED, failures, successes


async def probe_all(session: aiohttp.ClientSession, registry: RegionRegistry,
                    sessions: async_sessionmaker[AsyncSession], *, down_after: int = 1,
                    up_after: int = 1) -> None:
    """Probe every region in parallel; store and apply what was learned.

    Health moves with hysteresis (:func:`next_health`); every change is kept
    in ``region_health_events``. The defaults (1, 1) apply a probe at once,
    as an operator's explicit probe should.
    """
    regions = list(registry)
    by_name = {r.name: r for r in regions}

    async def one(name: str) -> tuple[str, dict[str, Any]]:
        return await probe_region(session, by_name[name])

    results = await scatter_gather(by_name, one, timeout=10)
    now = dt.datetime.now(dt.timezone.utc)
    async with sessions.begin() as db:
        for name in sorted(results):
            result = results[name]
            probed, caps = result if isinstance(result, tuple) else (HealthState.DOWN, {})
            # Locked: cascade-api and cascade-sync may probe at the same moment.
            row = (await db.scalars(select(Region).where(Region.name == name)
                                    .with_for_update())).first()
            if row is None:
                continue
            health, row.probe_failures, row.probe_successes = next_health(
                row.health, row.probe_failures or 0, row.probe_successes or 0,
                probed == HealthState.UP, down_after=down_after, up_after=up_after)
            if row.health != health:
                LOG.info("region %s health %s -> %s", name, row.health, health)
                db.add(RegionHealthEvent(
                    region=name, at=now, from_state=row.health, to_state=health,
                    reason=("probe answered" if probed == HealthState.UP else
                            f"{row.probe_failures} probe(s) failed in a row")))
                row.health, row.health_since = health, now
            if caps:
                row.capabilities = caps
            info = by_name[name]
            info.health, info.capabilities = row.health, dict(row.capabilities or {})
            info.health_since = row.health_since
    registry.changed()
