"""The NoValidHost fallback of a server create: for ``[api] build_watch_seconds``
a new server is watched; if its region has no valid host for it, the server
moves to the next candidate region (and the failed regional copy is deleted).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.compute.keypair_ops import Keypairs
from cascade.compute.regional_create import regional_create
from cascade.compute.server_cache import SERVER
from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Placement, Resource
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionInfo
from cascade.mapping import store

__all__ = ["BuildWatcher"]

LOG = logging.getLogger(__name__)

_NO_VALID_HOST = "No valid host was found"
_WATCH_INTERVAL = 1.0


class BuildWatcher:
    """Watches the builds that have other regions to fall back on."""

    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 client: RegionClient, keypairs: Keypairs) -> None:
        self._conf = conf
        self._sessions = sessions
        self._client = client
        self._keypairs = keypairs
        self._watchers: set[asyncio.Task[None]] = set()

    def watch(self, ctx: RequestContext, global_id: str, server: dict[str, Any],
              fallbacks: list[RegionInfo], microversion: str) -> None:
        """Watch the server's build in the background, until ``close``."""
        task = asyncio.create_task(self._watch(ctx, global_id, server, fallbacks,
                                               microversion))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def close(self) -> None:
        """Stop build watchers (their servers keep their current region)."""
        for task in list(self._watchers):
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)

    async def _watch(self, ctx: RequestContext, global_id: str, server: dict[str, Any],
                           fallbacks: list[RegionInfo], microversion: str) -> None:
        """Move the server to the next candidate region if its region has no host."""
        deadline = asyncio.get_running_loop().time() + self._conf.api.build_watch_seconds
        remaining = list(fallbacks)
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(_WATCH_INTERVAL)
            async with self._sessions() as session:
                try:
                    res, pl = await store.resolve(session, SERVER, global_id, None)
                except errors.MappingNotFound:
                    return  # deleted meanwhile
            if pl.local_id is None:
                continue
            try:
                resp = await self._client.get(ctx, pl.region, "compute",
                                              f"/servers/{pl.local_id}")
            except errors.RegionError:
                continue
            body = (resp.body or {}).get("server", {})
            status = body.get("status")
            if status == "BUILD":
                continue
            fault = (body.get("fault") or {}).get("message", "")
            if status != "ERROR" or _NO_VALID_HOST not in fault or not remaining:
                return
            nxt = remaining.pop(0)
            LOG.info("server %s: %s has no valid host; moving to %s", global_id, pl.region,
                     nxt.name)
            try:
                await self._move(ctx, global_id, pl, nxt, server, microversion)
            except errors.CascadeError as exc:
                LOG.warning("server %s could not move to %s: %s", global_id, nxt.name,
                            exc.message)
                return

    async def _move(self, ctx: RequestContext, global_id: str, old: Placement,
                    region: RegionInfo, server: dict[str, Any], microversion: str) -> None:
        if server.get("key_name"):
            await self._keypairs.ensure_in_region(ctx, server["key_name"], region.name)
        # NOTE: the placement moves first (new region, no local id, creating), then
        # the failed regional server is deleted. A read in between sees a building
        # server, never a local id the region no longer has; a crash in between
        # leaves a tagged copy no placement maps, which the audit deletes as an orphan.
        async with self._sessions.begin() as session:
            row = await session.get(Placement, old.id)
            res = await session.get(Resource, global_id)
            if row is None or res is None:
                return
            row.region, row.local_id, row.state = region.name, None, "creating"
            res.status = "BUILD"
            res.attrs = {**res.attrs, "availability_zone": region.availability_zone}
        try:
            await self._client.delete(ctx, old.region, "compute", f"/servers/{old.local_id}")
        except errors.RegionError as exc:
            if not (isinstance(exc, errors.RegionHTTPError) and exc.status == 404):
                LOG.warning("server %s: the failed copy %s in %s stays for the audit: %s",
                            global_id, old.local_id, old.region, exc.message)
        await regional_create(self._sessions, self._client, ctx, global_id, old.id, region,
                              server, microversion, owner=self._conf.cascade_id)
