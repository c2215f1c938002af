"""What a regional notification triggers: an immediate look at the object concerned.

Servers get their cached status refreshed (and deletes finished) by the
reconciler's own code; ports their cached status and addresses (used when the
region is down); image replicas are marked *missing* when the region's copy is
gone. Networks, subnets and groups are Cascade's own: nothing to refresh.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.db.models import Placement, Resource
from cascade.notify.events import Change
from cascade.regions.client import RegionClient
from cascade.sync.reconcile import MISSING, refresh_server

__all__ = ["refresher"]

LOG = logging.getLogger(__name__)

_PATHS = {"port": ("network", "/v2.0/ports/{}", "port"),
          "image": ("image", "/v2/images/{}", None)}


async def _placement(sessions: async_sessionmaker[AsyncSession], kind: str, region: str,
                     local_id: str) -> Placement | None:
    async with sessions() as session:
        return (await session.scalars(select(Placement).where(
            Placement.resource_type == kind, Placement.region == region,
            Placement.local_id == local_id))).first()


async def _refresh_other(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                         change: Change) -> None:
    pl = await _placement(sessions, change.kind, change.region, change.local_id)
    if pl is None:
        return  # not Cascade's, or not mapped yet
    service, path, key = _PATHS[change.kind]
    try:
        resp = await client.get(None, change.region, service, path.format(change.local_id))
        raw = resp.body or {}
        body: dict[str, Any] = dict((raw.get(key) or {}) if key else raw)
    except errors.RegionHTTPError as exc:
        if exc.status != 404:
            raise
        body = {"status": "deleted"}
    async with sessions.begin() as session:
        if body.get("status") == "deleted":
            await session.execute(update(Placement).where(Placement.id == pl.id)
                                  .values(state=MISSING))
            return
        if change.kind == "port":
            res = await session.get(Resource, pl.global_id)
            if res is not None:
                # Only the status: addresses name regional subnets, and a read
                # through the API (which maps them) refreshes those.
                res.attrs = {**res.attrs, "cached": {**res.attrs.get("cached", {}),
                                                     "status": body.get("status")}}


def refresher(sessions: async_sessionmaker[AsyncSession], client: RegionClient
              ) -> Callable[[Change], Awaitable[None]]:
    """The callback the notification listener hands each change to."""
    async def on_change(change: Change) -> None:
        try:
            if change.kind == "server":
                await refresh_server(sessions, client, change.region, change.local_id)
            elif change.kind in _PATHS:
                await _refresh_other(sessions, client, change)
        except errors.RegionError as exc:
            LOG.info("refresh of %s %s in %s failed: %s", change.kind, change.local_id,
                     change.region, exc.message)
    return on_change
