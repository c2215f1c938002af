"""The region registry: app state loaded from the database, never a module global.

Regions named in configuration are upserted at start-up; regions added through
the admin API live only in the database. Endpoints come from the Keystone
catalog unless the region overrides them.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any, Callable, Iterable, TypeVar, cast

from oslo_config import cfg
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import config, errors
from cascade.db.models import HealthState, Region
from cascade.regions.service_auth import Catalog

__all__ = ["RegionInfo", "RegionRegistry", "SERVICES"]

LOG = logging.getLogger(__name__)

T = TypeVar("T")

#: Service types Cascade forwards to, as named in the Keystone catalog.
SERVICES = ("compute", "image", "network")


@dataclasses.dataclass
class RegionInfo:
    """What the API needs to know about one region, without a database round trip."""

    name: str
    availability_zone: str
    local_availability_zone: str | None = None
    enabled: bool = True
    weight: int = 1
    health: str = HealthState.UNKNOWN
    health_since: dt.datetime | None = None
    capabilities: dict[str, Any] = dataclasses.field(default_factory=dict)
    overrides: dict[str, str] = dataclasses.field(default_factory=dict)
    endpoints: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Where the region's services publish notifications (None: not listened to).
    notification_transport_url: str | None = None

    @property
    def usable(self) -> bool:
        """Enabled and not known to be down: may take new placements."""
        return self.enabled and self.health != HealthState.DOWN

    def endpoint(self, service: str) -> str | None:
        """The base URL for ``service`` (override first, then catalog)."""
        return self.overrides.get(service) or self.endpoints.get(service)

    def compute_versions(self) -> tuple[str, str] | None:
        """(min, max) compute microversions the region advertised, if known."""
        comp = self.capabilities.get("compute") or {}
        if comp.get("min_version") and comp.get("max_version"):
            return comp["min_version"], comp["max_version"]
        return None

    @classmethod
    def from_row(cls, row: Region) -> "RegionInfo":
        overrides = {svc: url for svc, url in (
            ("compute", row.compute_endpoint), ("image", row.image_endpoint),
            ("network", row.network_endpoint)) if url}
        return cls(name=row.name, availability_zone=row.availability_zone,
                   local_availability_zone=row.local_availability_zone,
                   enabled=row.enabled, weight=row.weight, health=row.health,
                   health_since=row.health_since, capabilities=dict(row.capabilities or {}),
                   overrides=overrides,
                   notification_transport_url=row.notification_transport_url)


class RegionRegistry:
    """Regions by name, refreshed from the database and the catalog."""

    def __init__(self, regions: Iterable[RegionInfo] = ()) -> None:
        self._regions: dict[str, RegionInfo] = {r.name: r for r in regions}
        self._memo: dict[str, Any] = {}
        self._catalog: Catalog = {}

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per state of the regions (hot-path derived values)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(T, self._memo[key])

    def changed(self) -> None:
        """Forget derived values: a region's settings, health or capabilities changed."""
        self._memo.clear()

    def __iter__(self) -> Any:
        return iter(sorted(self._regions.values(), key=lambda r: r.name))

    def __len__(self) -> int:
        return len(self._regions)

    def get(self, name: str) -> RegionInfo | None:
        return self._regions.get(name)

    def by_availability_zone(self, zone: str) -> RegionInfo | None:
        """The region serving Cascade availability zone ``zone``."""
        for region in self._regions.values():
            if region.availability_zone == zone:
                return region
        return None

    def enabled(self) -> list[RegionInfo]:
        return [r for r in self if r.enabled]

    def usable(self) -> list[RegionInfo]:
        """Regions that may take new placements, best first (weight, then name)."""
        return sorted((r for r in self if r.usable), key=lambda r: (-r.weight, r.name))

    def replace(self, regions: Iterable[RegionInfo], catalog: Catalog) -> None:
        """Swap in a fresh view (health and capabilities come with the rows)."""
        fresh: dict[str, RegionInfo] = {}
        self._catalog = catalog
        for region in regions:
            region.endpoints = dict(catalog.get(region.name, {}))
            fresh[region.name] = region
        self._regions = fresh
        self.changed()

    async def load(self, sessions: async_sessionmaker[AsyncSession], catalog: Catalog) -> None:
        """Reload every region from the database, endpoints from ``catalog``."""
        async with sessions() as session:
            rows = (await session.scalars(select(Region))).all()
        self.replace([RegionInfo.from_row(r) for r in rows], catalog)

    async def reload(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Reload every region from the database, with the catalog last given."""
        await self.load(sessions, self._catalog)


async def register_from_config(conf: cfg.ConfigOpts,
                               sessions: async_sessionmaker[AsyncSession]) -> None:
    """Upsert the regions named in ``[DEFAULT] regions`` with their ``[region_*]`` settings.

    Settings given in configuration win over what the database holds; health and
    capabilities are left to the probes.
    """
    async with sessions.begin() as session:
        insert = (pg_insert if session.get_bind().dialect.name == "postgresql"
                  else sqlite_insert)
        for name in conf.regions:
            group = conf[config.region_group(name)]
            # cascade-api and cascade-sync start together and both register the
            # configured regions: the insert must not fail when the other won.
            now = dt.datetime.now(dt.timezone.utc)
            await session.execute(insert(Region).values(
                name=name, availability_zone=group.availability_zone or name,
                source="config", health=HealthState.UNKNOWN, capabilities={},
                enabled=group.enabled, weight=group.weight, created_at=now,
                updated_at=now).on_conflict_do_nothing())
            # NOTE: no conflict target: when both processes insert the same row at
            # once, PostgreSQL may report the zone's unique index before the name's,
            # and a targeted DO NOTHING would raise for it.
            row = (await session.scalars(select(Region).where(Region.name == name)
                                         .with_for_update())).first()
            if row is None:
                raise errors.Conflict(f"Region {name}: availability zone "
                                      f"{group.availability_zone or name} is already used "
                                      "by another region")
            row.availability_zone = group.availability_zone or name
            row.local_availability_zone = group.local_availability_zone
            row.compute_endpoint = group.compute_endpoint
            row.image_endpoint = group.image_endpoint
            row.network_endpoint = group.network_endpoint
            row.notification_transport_url = group.notification_transport_url
            row.weight = group.weight
            row.enabled = group.enabled
            row.source = "config"
