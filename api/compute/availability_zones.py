"""/os-availability-zone: one zone per region, available when the region is healthy."""
from __future__ import annotations

from aiohttp import web

from cascade.jsonutil import json_response

from cascade import errors
from cascade.appkeys import CTX, REGIONS

__all__ = ["list_zones", "list_zones_detail"]


def _zones(request: web.Request) -> list[dict[str, object]]:
    return [{"zoneName": r.availability_zone, "zoneState": {"available": r.usable},
             "hosts": None} for r in request.config_dict[REGIONS].enabled()]


async def list_zones(request: web.Request) -> web.Response:
    """GET /os-availability-zone."""
    return json_response({"availabilityZoneInfo": _zones(request)})


async def list_zones_detail(request: web.Request) -> web.Response:
    """GET /os-availability-zone/detail (admin): the same, hosts not exposed."""
    if not request[CTX].is_admin:
        raise errors.Forbidden("Policy doesn't allow os_compute_api:os-availability-zone:"
                               "detail to be performed.")
    return json_response({"availabilityZoneInfo": _zones(request)})
