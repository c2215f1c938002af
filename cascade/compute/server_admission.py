"""Server create admission, before anything is written: the metadata limit, the
regions that can take the server, and one quota reservation per server (all or
none).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.compute.region_choice import RegionChooser
from cascade.compute.server_cache import SERVER
from cascade.networks.ports import Ports
from cascade.quota import ledger
from cascade.quota.service import QuotaService
from cascade import errors
from cascade.context import RequestContext
from cascade.regions.registry import RegionInfo
from cascade.mapping import store

__all__ = ["Admission"]


class Admission:
    """Whether, where and at what quota cost a server create may go ahead."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], chooser: RegionChooser,
                 ports: Ports, quotas: QuotaService) -> None:
        self._sessions = sessions
        self._chooser = chooser
        self._ports = ports
        self._quotas = quotas

    async def check_metadata(self, ctx: RequestContext, metadata: dict[str, Any]) -> None:
        """:raises Forbidden: more metadata items than the project's limit."""
        limit = (await self._quotas.limits(ctx.project_id)).get("metadata_items", -1)
        if 0 <= limit < len(metadata):
            raise errors.Forbidden("Quota exceeded for metadata_items: Requested "
                                   f"{len(metadata)}, but already used 0 of {limit} "
                                   "metadata_items")

    async def candidates(self, ctx: RequestContext, server: dict[str, Any]
                         ) -> list[RegionInfo]:
        """The regions that can take the server (its zone, flavor, networks and
        ports), best first.

        :raises Conflict: none holds the requested networks or ports.
        """
        async with self._sessions() as session:
            project_regions = await store.regions_of_project(session, SERVER, ctx.project_id)
        allowed = await self._ports.boot.regions_for(ctx, server.get("networks"))
        candidates = await self._chooser.candidates(
            ctx, server.get("availability_zone"), server.get("flavorRef"), project_regions)
        if allowed is not None:
            candidates = [c for c in candidates if c.name in allowed]
            if not candidates:
                raise errors.Conflict("The requested networks or ports are not available "
                                      "in any usable region that can take this server"
                                      + (" in that availability zone."
                                         if server.get("availability_zone") else "."))
        return candidates

    async def usage(self, ctx: RequestContext, region: str, flavor: Any) -> dict[str, int]:
        """What one server of ``flavor`` counts against the quota."""
        vcpus, ram = await self._chooser.flavor_size(ctx, region, flavor)
        return {"instances": 1, "cores": vcpus, "ram": ram}

    async def reserve(self, ctx: RequestContext, per_server: dict[str, int], low: int,
                      high: int) -> list[str]:
        """One reservation per server, all or none; ``high`` servers if they fit, else
        ``low`` (Nova creates fewer than max_count when only min_count fits).

        :raises OverQuota: not even ``low`` servers fit.
        """
        for count in dict.fromkeys((high, low)):
            try:
                return await self._quotas.admit(ctx.project_id, per_server, count=count)
            except errors.OverQuota as exc:
                failure = exc
        raise failure

    async def release(self, reservations: list[str]) -> None:
        async with self._sessions.begin() as session:
            for reservation in reservations:
                await ledger.release(session, reservation)
