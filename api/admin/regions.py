"""/v1/regions: list, show, add, update, remove regions (``cascade:regions:*`` policy,
admins by default); the registry's operations are ``cascade/regions/admin.py``."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cascade import errors
from cascade.api.admin.keys import REGION_ADMIN
from cascade.api.body import json_body
from cascade.appkeys import CTX
from cascade.jsonutil import json_response

__all__ = ["list_regions", "show_region", "add_region", "update_region", "remove_region"]


def _require(request: web.Request, verb: str) -> None:
    """:raises PolicyForbidden: ``cascade:regions:<verb>`` refused."""
    request[CTX].can(f"cascade:regions:{verb}")


def _fields(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("region"), dict):
        raise errors.BadRequest("Body must be {\"region\": {...}}")
    return dict(body["region"])


async def list_regions(request: web.Request) -> web.Response:
    """GET /v1/regions."""
    _require(request, "list")
    return json_response({"regions": await request.app[REGION_ADMIN].list_views()})


async def show_region(request: web.Request) -> web.Response:
    """GET /v1/regions/{name}: with its health history and placement count."""
    _require(request, "show")
    return json_response({"region": await request.app[REGION_ADMIN].show(
        request.match_info["name"])})


async def add_region(request: web.Request) -> web.Response:
    """POST /v1/regions -> 201."""
    _require(request, "create")
    fields = _fields(await json_body(request))
    return json_response({"region": await request.app[REGION_ADMIN].add(fields)},
                         status=201)


async def update_region(request: web.Request) -> web.Response:
    """PATCH /v1/regions/{name}: enable, disable, re-weight, re-zone, override endpoints."""
    _require(request, "update")
    fields = _fields(await json_body(request))
    return json_response({"region": await request.app[REGION_ADMIN].update(
        request.match_info["name"], fields)})


async def remove_region(request: web.Request) -> web.Response:
    """DELETE /v1/regions/{name} -> 204 (409 while it holds placements)."""
    _require(request, "delete")
    await request.app[REGION_ADMIN].remove(request.match_info["name"])
    return web.Response(status=204)
