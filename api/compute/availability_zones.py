"""/os-availability-zone: one zone per region, available when the region is healthy."""
from __future__ import annotations

from aiohttp import web

from cascade.jsonutil import json_response

from cascade.appkeys import CTX, REGIONS

__all__ = ["list_zones", "list_zones_detail"]


def _zones(request: web.Request) -> list[dict[str, object]]:
    return [{"zoneName": r.availability_zone, "zoneState": {"available": r.usable},
             "hosts": None} for r in request.config_dict[REGIONS].enabled()]


async def list_zones(request: web.Request) -> web.Response:
    """GET /os-availability-zone."""
    request[CTX].can("os_compute_api:os-availability-zone:list")
    return json_response({"availabilityZoneInfo": _zones(request)})


async def list_zones_detail(request: web.Request) -> web.Response:
    """GET /os-availability-zone/detail (admin): the same, hosts not exposed."""
    request[CTX].can("os_compute_api:os-availability-zone:detail")
    return json_response({"availabilityZoneInfo": _zones(request)})
