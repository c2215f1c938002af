"""Network availability zones: one per enabled region, as for compute.

Neutron lists a zone per agent zone and resource; Cascade's zones are its
regions' (``[regions] availability_zone``), each ``available`` while its region
is usable. The resource is ``network`` (routers come with them once Cascade
serves routers).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from cascade.regions.registry import RegionRegistry

__all__ = ["availability_zones", "hinted_regions"]


def hinted_regions(zones: Mapping[str, str], hints: Iterable[str]) -> set[str]:
    """The regions (of region -> zone) an object with these
    ``availability_zone_hints`` may live in: every region when there are none."""
    wanted = set(hints)
    return {region for region, zone in zones.items() if not wanted or zone in wanted}


def availability_zones(registry: RegionRegistry) -> list[dict[str, Any]]:
    """Neutron's ``availability_zones`` entries for the enabled regions."""
    return [{"name": r.availability_zone, "resource": "network",
             "state": "available" if r.usable else "unavailable"}
            for r in registry.enabled()]
