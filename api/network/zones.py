"""GET /v2.0/availability_zones: Neutron's list, with its filters, fields and sorting."""
from __future__ import annotations

from aiohttp import web

from cascade.api.urls import network_base
from cascade.appkeys import CTX, REGIONS
from cascade.jsonutil import json_response
from cascade.networks import query as neutron_query
from cascade.networks.zones import availability_zones

__all__ = ["list_availability_zones"]

_SORT_KEYS = frozenset({"name", "resource", "state"})


async def list_availability_zones(request: web.Request) -> web.Response:
    request[CTX].can("get_availability_zone")
    query = neutron_query.parse_query(request.query, _SORT_KEYS, id_key="name")
    query.check_filters("availability_zone")
    zones = availability_zones(request.config_dict[REGIONS])
    base = f"{network_base(request)}/v2.0/availability_zones"
    return json_response(query.page(zones, "availability_zones", base))
