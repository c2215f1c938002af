"""/os-server-groups handlers: parse, call ``cascade/compute/server_groups.py``, render."""
from __future__ import annotations

from aiohttp import web

from cascade import errors
from cascade.api.body import json_body
from cascade.api.compute.keys import SERVER_GROUPS
from cascade.api.compute.microversion import MICROVERSION
from cascade.appkeys import CTX
from cascade.jsonutil import json_response

__all__ = ["list_groups", "create_group", "show_group", "delete_group"]


def _int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise errors.BadRequest(f"Invalid input for query parameters {name}. Value: {raw}. "
                                f"'{raw}' does not match '^[0-9]*$'")
    return int(raw)


async def list_groups(request: web.Request) -> web.Response:
    """GET /os-server-groups[?all_projects&limit&offset]."""
    all_projects = "all_projects" in request.query and request.query[
        "all_projects"].lower() not in ("0", "false", "no", "off")
    groups = await request.app[SERVER_GROUPS].list_groups(
        request[CTX], request[MICROVERSION], all_projects=all_projects,
        limit=_int(request, "limit"), offset=_int(request, "offset") or 0)
    return json_response({"server_groups": groups})


async def create_group(request: web.Request) -> web.Response:
    """POST /os-server-groups -> 200 with the group."""
    group = await request.app[SERVER_GROUPS].create(request[CTX], await json_body(request),
                                                    request[MICROVERSION])
    return json_response({"server_group": group})


async def show_group(request: web.Request) -> web.Response:
    """GET /os-server-groups/{group_id}."""
    group = await request.app[SERVER_GROUPS].show(request[CTX], request.match_info["group_id"],
                                                  request[MICROVERSION])
    return json_response({"server_group": group})


async def delete_group(request: web.Request) -> web.Response:
    """DELETE /os-server-groups/{group_id} -> 204."""
    await request.app[SERVER_GROUPS].delete(request[CTX], request.match_info["group_id"])
    return web.Response(status=204)
