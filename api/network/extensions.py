"""GET /v2.0/extensions: what every enabled region offers and Cascade implements.

Clients read this list to decide what to send (tags on create, quota details,
port security), so an extension one region lacks is not advertised. The
regions' lists are asked for in parallel and kept for a few minutes.
"""
from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from cascade.appkeys import CONF, CTX, REGION_CLIENT, REGIONS
from cascade.jsonutil import json_response
from cascade.networks import faults
from cascade.regions.fanout import scatter_gather, split_results

__all__ = ["IMPLEMENTED", "list_extensions", "show_extension"]

#: Extension aliases whose behaviour Cascade implements.
IMPLEMENTED = frozenset({
    "security-group", "standard-attr-tag", "tag-creation", "quotas", "quota_details",
    "project-id", "pagination", "sorting", "standard-attr-description",
    "standard-attr-timestamp", "standard-attr-revisions", "network_availability_zone",
    "availability_zone", "net-mtu", "port-security", "binding", "allowed-address-pairs",
    "extra_dhcp_opt", "stateful-security-group", "empty-string-filtering",
    "filter-validation", "ip-substring-filtering",
})
_TTL = 300.0
_cache: dict[str, Any] = {}


async def _agreed(request: web.Request) -> list[dict[str, Any]]:
    hit = _cache.get("value")
    if hit is not None and _cache["until"] > time.monotonic():
        return list(hit)
    client = request.config_dict[REGION_CLIENT]
    ctx = request[CTX]
    regions = [r.name for r in request.config_dict[REGIONS].usable()]

    async def ask(region: str) -> list[dict[str, Any]]:
        resp = await client.get(ctx, region, "network", "/v2.0/extensions")
        return list((resp.body or {}).get("extensions") or [])

    good, _ = split_results(await scatter_gather(
        regions, ask, timeout=request.config_dict[CONF].api.region_timeout))
    if not good:
        return []
    common = set(IMPLEMENTED)
    for exts in good.values():
        common &= {e.get("alias") for e in exts}
    first = next(iter(good.values()))
    agreed = sorted((e for e in first if e.get("alias") in common),
                    key=lambda e: str(e.get("alias")))
    if len(good) == len(regions):
        _cache.update(value=agreed, until=time.monotonic() + _TTL)
    return agreed


async def list_extensions(request: web.Request) -> web.Response:
    return json_response({"extensions": await _agreed(request)})


async def show_extension(request: web.Request) -> web.Response:
    alias = request.match_info["alias"]
    for ext in await _agreed(request):
        if ext.get("alias") == alias:
            return json_response({"extension": ext})
    err = faults.NeutronNotFound(f"Extension with alias {alias} does not exist")
    err.neutron_type = "HTTPNotFound"
    raise err


