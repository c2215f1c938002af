"""/v1/regions: list, show, add, update, remove regions (admin role only)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cascade.jsonutil import json_response
from sqlalchemy import select

from cascade.api.body import json_body
from cascade import errors
from cascade.appkeys import CTX, HTTP, REGIONS, SERVICE_AUTH, SESSIONS
from cascade.db.models import Region
from cascade.regions import store
from cascade.regions.registry import RegionInfo
from cascade.regions.probe import probe_all

__all__ = ["list_regions", "show_region", "add_region", "update_region", "remove_region"]


def _require(request: web.Request, verb: str) -> None:
    """:raises PolicyForbidden: ``cascade:regions:<verb>`` refused."""
    request[CTX].can(f"cascade:regions:{verb}")


def _view(row: Region, info: RegionInfo | None) -> dict[str, Any]:
    return {
        "name": row.name, "availability_zone": row.availability_zone,
        "local_availability_zone": row.local_availability_zone,
        "enabled": row.enabled, "weight": row.weight, "health": row.health,
        "health_since": row.health_since.isoformat() if row.health_since else None,
        "capabilities": row.capabilities, "source": row.source,
        "endpoint_overrides": {k: v for k, v in (
            ("compute", row.compute_endpoint), ("image", row.image_endpoint),
            ("network", row.network_endpoint)) if v},
        "endpoints": {svc: info.endpoint(svc) for svc in ("compute", "image", "network")}
        if info else {},
    }


async def _refresh(request: web.Request) -> None:
    app = request.config_dict
    registry = app[REGIONS]
    catalog = await app[SERVICE_AUTH].catalog(force=True) if SERVICE_AUTH in app else {}
    await registry.load(app[SESSIONS], catalog)
    if HTTP in app:
        await probe_all(app[HTTP], registry, app[SESSIONS])


def _fields(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("region"), dict):
        raise errors.BadRequest("Body must be {\"region\": {...}}")
    return dict(body["region"])


async def list_regions(request: web.Request) -> web.Response:
    """GET /v1/regions."""
    _require(request, "list")
    async with request.config_dict[SESSIONS]() as session:
        rows = (await session.scalars(select(Region).order_by(Region.name))).all()
    registry = request.config_dict[REGIONS]
    return json_response({"regions": [_view(r, registry.get(r.name)) for r in rows]})


async def show_region(request: web.Request) -> web.Response:
    """GET /v1/regions/{name}."""
    _require(request, "show")
    name = request.match_info["name"]
    async with request.config_dict[SESSIONS]() as session:
        row = await store.get_region(session, name)
        history = await store.health_history(session, name)
        held = await store.placement_count(session, name)
    view = _view(row, request.config_dict[REGIONS].get(name))
    view["health_history"] = [
        {"at": e.at.isoformat(), "from": e.from_state, "to": e.to_state, "reason": e.reason}
        for e in history]
    view["placements"] = held
    return json_response({"region": view})


async def add_region(request: web.Request) -> web.Response:
    """POST /v1/regions -> 201."""
    _require(request, "create")
    fields = _fields(await json_body(request))
    name = fields.pop("name", None)
    async with request.config_dict[SESSIONS].begin() as session:
        await store.add_region(session, name, fields)
    await _refresh(request)
    return await _show_after(request, name, 201)


async def update_region(request: web.Request) -> web.Response:
    """PATCH /v1/regions/{name}: enable, disable, re-weight, re-zone, override endpoints."""
    _require(request, "update")
    name = request.match_info["name"]
    fields = _fields(await json_body(request))
    async with request.config_dict[SESSIONS].begin() as session:
        await store.update_region(session, name, fields)
    await _refresh(request)
    return await _show_after(request, name, 200)


async def remove_region(request: web.Request) -> web.Response:
    """DELETE /v1/regions/{name} -> 204 (409 while it holds placements)."""
    _require(request, "delete")
    async with request.config_dict[SESSIONS].begin() as session:
        await store.remove_region(session, request.match_info["name"])
    await _refresh(request)
    return web.Response(status=204)


async def _show_after(request: web.Request, name: str, status: int) -> web.Response:
    async with request.config_dict[SESSIONS]() as session:
        row = await store.get_region(session, name)
    return json_response({"region": _view(row, request.config_dict[REGIONS].get(name))},
                             status=status)
