"""/v1/network-check/{project_id}: the admin view of ``cascade-manage network check``.

Whether every pair of the project's routed subnets reaches the other, computed
from what each regional Neutron holds now (``cascade/networks/reachability.py``).
"""
from __future__ import annotations

from aiohttp import web

from cascade.appkeys import CTX, REGION_CLIENT, SESSIONS
from cascade.jsonutil import json_response
from cascade.networks.reachability import check_project

__all__ = ["network_check"]


async def network_check(request: web.Request) -> web.Response:
    """GET: ``{"network_check": {"routable": ..., "pairs": [...], "missing": [...]}}``."""
    request[CTX].can("cascade:network:check")
    check = await check_project(request.config_dict[SESSIONS], request.config_dict[REGION_CLIENT],
                                request.match_info["project_id"])
    return json_response({"network_check": check.as_dict()})
