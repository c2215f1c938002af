"""Operators' changes to the region registry, as the admin API (``/v1/regions``) makes
them: list, show, add, update, remove; every change reloads the registry and
probes the regions at once (``refresh``), so the next request sees it."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.db.models import Region
from cascade.regions import store
from cascade.regions.registry import RegionInfo, RegionRegistry

__all__ = ["RegionAdmin", "region_view"]


def region_view(row: Region, info: RegionInfo | None) -> dict[str, Any]:
    """A region as the admin API shows it: its row, and the endpoints in use."""
    return {
        "name": row.name, "availability_zone": row.availability_zone,
        "local_availability_zone": row.local_availability_zone,
        "enabled": row.enabled, "weight": row.weight, "health": row.health,
        "health_since": row.health_since.isoformat() if row.health_since else None,
        "capabilities": row.capabilities, "source": row.source,
        "endpoint_overrides": {k: v for k, v in (
            ("compute", row.compute_endpoint), ("image", row.image_endpoint),
            ("network", row.network_endpoint)) if v},
        "endpoints": {svc: info.endpoint(svc) for svc in ("compute", "image", "network")}
        if info else {},
    }


class RegionAdmin:
    """The region registry's admin operations."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], registry: RegionRegistry,
                 refresh: Callable[[], Awaitable[None]]) -> None:
        self._sessions = sessions
        self._registry = registry
        self._refresh = refresh

    async def list_views(self) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(Region).order_by(Region.name))).all()
        return [region_view(r, self._registry.get(r.name)) for r in rows]

    async def show(self, name: str, history: bool = True) -> dict[str, Any]:
        """The region, with its health history and how many placements it holds.

        :raises NotFound: no such region.
        """
        async with self._sessions() as session:
            row = await store.get_region(session, name)
            view = region_view(row, self._registry.get(name))
            if history:
                events = await store.health_history(session, name)
                view["health_history"] = [
                    {"at": e.at.isoformat(), "from": e.from_state, "to": e.to_state,
                     "reason": e.reason} for e in events]
                view["placements"] = await store.placement_count(session, name)
        return view

    async def add(self, fields: dict[str, Any]) -> dict[str, Any]:
        """:raises BadRequest, Conflict: a bad value, or the name or zone is taken."""
        fields = dict(fields)
        name = fields.pop("name", None)
        async with self._sessions.begin() as session:
            await store.add_region(session, name, fields)
        await self._refresh()
        return await self.show(str(name), history=False)

    async def update(self, name: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Enable, disable, re-weight, re-zone, override endpoints."""
        async with self._sessions.begin() as session:
            await store.update_region(session, name, fields)
        await self._refresh()
        return await self.show(name, history=False)

    async def remove(self, name: str) -> None:
        """:raises Conflict: the region still holds placements."""
        async with self._sessions.begin() as session:
            await store.remove_region(session, name)
        await self._refresh()
