"""Network availability zones: one per enabled region, as for compute.

Neutron lists a zone per agent zone and resource; Cascade's zones are its
regions' (``[regions] availability_zone``), each ``available`` while its region
is usable. The resource is ``network`` (routers come with them once Cascade
serves routers).
"""
from __future__ import annotations

from typing import Any

from cascade.regions.registry import RegionRegistry

__all__ = ["availability_zones"]


def availability_zones(registry: RegionRegistry) -> list[dict[str, Any]]:
    """Neutron's ``availability_zones`` entries for the enabled regions."""
    return [{"name": r.availability_zone, "resource": "network",
             "state": "available" if r.usable else "unavailable"}
            for r in registry.enabled()]
