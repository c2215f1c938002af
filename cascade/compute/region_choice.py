"""Which region a new server goes to.

An availability zone names exactly one region. Without one, ``[api]
default_availability_zone`` wins if usable; otherwise ``[api] placement_policy``
orders the enabled, healthy regions whose flavors include the requested one:
``affinity`` puts the regions where the project already has servers first,
then weight; ``weight`` uses weight alone. Ties go by name.
"""
from __future__ import annotations

import time
from typing import Any

from oslo_config import cfg

from cascade import errors
from cascade.context import RequestContext
from cascade.regions.client import RegionClient
from cascade.regions.fanout import scatter_gather, split_results
from cascade.regions.registry import RegionInfo, RegionRegistry

__all__ = ["RegionChooser"]

#: How long a region's flavor list is trusted for placement decisions.
_FLAVOR_TTL = 60.0
#: Entries (region, project) kept at most; the cache starts over beyond.
_CACHE_MAX = 10_000


class RegionChooser:
    def __init__(self, conf: cfg.ConfigOpts, registry: RegionRegistry,
                 client: RegionClient) -> None:
        self._conf = conf
        self._registry = registry
        self._client = client
        self._flavor_cache: dict[tuple[str, str], tuple[float, dict[str, tuple[int, int]]]] = {}

    def flavors_changed(self, _flavor_id: str = "") -> None:
        """A flavor was made or deleted (through any process): ask the regions again."""
        self._flavor_cache.clear()

    async def _flavors(self, ctx: RequestContext, region: str) -> dict[str, tuple[int, int]]:
        """The region's flavors by id and by name -> (vcpus, ram MiB), briefly cached."""
        key = (region, ctx.project_id)
        hit = self._flavor_cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        resp = await self._client.get(ctx, region, "compute", "/flavors/detail",
                                      params={"is_public": "None"})
        sizes: dict[str, tuple[int, int]] = {}
        for f in (resp.body or {}).get("flavors", []):
            size = (int(f.get("vcpus") or 0), int(f.get("ram") or 0))
            sizes[str(f["id"])] = size
            sizes.setdefault(str(f.get("name")), size)
        if len(self._flavor_cache) >= _CACHE_MAX:
            self._flavor_cache.clear()
        self._flavor_cache[key] = (time.monotonic() + _FLAVOR_TTL, sizes)
        return sizes

    async def flavor_size(self, ctx: RequestContext, region: str,
                          flavor_ref: Any) -> tuple[int, int]:
        """(vcpus, ram MiB) of a flavor in ``region``, for quota admission.

        :raises BadRequest: the region has no such flavor.
        """
        size = (await self._flavors(ctx, region)).get(str(flavor_ref))
        if size is None:
            raise errors.BadRequest(f"Flavor {flavor_ref} could not be found.")
        return size

    def by_zone(self, zone: str) -> RegionInfo:
        """The region serving ``zone``.

        :raises BadRequest: unknown zone.
        :raises ServiceUnavailable: its region is not usable.
        """
        region = self._registry.by_availability_zone(zone)
        if region is None:
            raise errors.BadRequest(f"The requested availability zone is not available: {zone}")
        if not region.usable:
            raise errors.ServiceUnavailable(
                f"Availability zone {zone} (region {region.name}) is "
                f"{'disabled' if not region.enabled else 'down'}; try another zone.")
        return region

    async def candidates(self, ctx: RequestContext, zone: str | None, flavor_ref: Any,
                         project_regions: set[str]) -> list[RegionInfo]:
        """Regions to try, best first (one when a zone is named).

        :raises BadRequest: unknown zone, or no usable region offers the flavor.
        :raises ServiceUnavailable: no usable region at all.
        """
        if zone:
            return [self.by_zone(zone)]
        usable = self._registry.usable()
        if not usable:
            raise errors.ServiceUnavailable("No region is available to place the server.")
        default = self._conf.api.default_availability_zone
        if self._conf.api.placement_policy == "affinity":
            usable.sort(key=lambda r: (r.name not in project_regions, -r.weight, r.name))
        if default:
            usable.sort(key=lambda r: r.availability_zone != default)
        flavor = str(flavor_ref)

        async def offers(region: str) -> bool:
            return flavor in await self._flavors(ctx, region)

        results = await scatter_gather([r.name for r in usable], offers,
                                       timeout=self._conf.api.region_timeout)
        good, _ = split_results(results)
        fitting = [r for r in usable if good.get(r.name)]
        if not fitting:
            if any(r.name in good for r in usable):
                raise errors.BadRequest(f"Flavor {flavor} could not be found.")
            raise errors.ServiceUnavailable("No region answered; cannot place the server.")
        return fitting
