"""The regional half of a server create: the create sent to the server's region
and the regional id recorded; on failure the mapping removed, or the server
marked ERROR with a fault as Nova shows a failed build.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.compute import action_ids
from cascade.compute import server_schema
from cascade.crashpoints import crash_point
from cascade.context import RequestContext
from cascade.db.models import Placement, Resource
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionInfo
from cascade.mapping import rewrite, store
from cascade.quota.forget import forget

__all__ = ["regional_create", "mark_error", "forget_server", "now_iso"]


def now_iso() -> str:
    """Nova's timestamp format."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def forget_server(sessions: async_sessionmaker[AsyncSession], global_id: str) -> None:
    """The server's mapping gone, and its quota given back (``quota.forget``)."""
    async with sessions.begin() as session:
        await forget(session, global_id)


async def mark_error(sessions: async_sessionmaker[AsyncSession], global_id: str,
                     message: str, code: int = 500) -> None:
    """The server failed to build: ERROR with a fault, as Nova shows it."""
    async with sessions.begin() as session:
        res = await session.get(Resource, global_id)
        if res is not None:
            res.status = "ERROR"
            res.attrs = {**res.attrs, "fault": {"code": code, "message": message,
                                                "created": now_iso()}}


async def regional_create(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                          ctx: RequestContext, global_id: str, placement_id: int,
                          region: RegionInfo, server: dict[str, Any],
                          microversion: str, *, answered: bool = False,
                          owner: str = "cascade") -> dict[str, Any]:
    """Create the server in its region and record the regional id.

    On a definite refusal the mapping is removed, unless the tenant was already
    ``answered`` 202 (a deferred build): then the server stays, in ERROR. When
    the outcome is unknown the server is marked ERROR and its placement stays
    *creating* for the audit.
    """
    regional = dict(server)
    regional["metadata"] = {**server.get("metadata", {}), rewrite.GLOBAL_ID_KEY: global_id,
                            rewrite.OWNER_KEY: owner}
    asked_zone = regional.pop("availability_zone", None)
    regional.pop("min_count", None)
    regional.pop("max_count", None)
    hints = regional.pop(server_schema.HINTS_KEY, None)
    if region.local_availability_zone or asked_zone:
        # A zone the tenant named pins the server there (2.96's
        # pinned_availability_zone), so the region is told its own zone: the
        # one it is known by, else Nova's default.
        regional["availability_zone"] = region.local_availability_zone or "nova"
    body: dict[str, Any] = {"server": regional}
    if hints:
        body["os:scheduler_hints"] = hints  # a group's id already the region's
    try:
        resp = await client.post(ctx, region.name, "compute", "/servers",
                                 json=body, microversion=microversion)
    except errors.RegionHTTPError as exc:
        if exc.status < 500 and not answered:
            # The region refused the request itself: nothing was created there.
            await forget_server(sessions, global_id)
        elif exc.status < 500:
            await mark_error(sessions, global_id, exc.message, code=exc.status)
            async with sessions.begin() as session:
                row = await session.get(Placement, placement_id)
                if row is not None:
                    row.state = "error"
        else:
            await mark_error(sessions, global_id, exc.message)
        raise
    except errors.RegionError as exc:
        if not exc.request_sent:
            await forget_server(sessions, global_id)
        else:
            # Whether the region created it is unknown: the placement stays
            # *creating* so the audit can adopt or clean up what the region holds.
            await mark_error(sessions, global_id, exc.message)
        raise errors.ServiceUnavailable(
            f"Region {region.name} did not complete the create: {exc.message}") from exc
    created: dict[str, Any] = (resp.body or {}).get("server") or {}
    crash_point("server_create.regional_created")
    local_id = created.get("id")
    if not local_id:
        await mark_error(sessions, global_id, "region answered without a server id")
        raise errors.ServiceUnavailable(f"Region {region.name} answered without an id")
    async with sessions.begin() as session:
        await store.activate(session, placement_id, local_id)
    await action_ids.remember(sessions, global_id, resp.request_id, ctx.request_id)
    return created
