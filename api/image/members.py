"""Image member handlers: /v2/images/{image_id}/members[/{member_id}] (rules in
``cascade/images/members.py``)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cascade import errors
from cascade.api.body import json_body
from cascade.appkeys import CTX, SESSIONS
from cascade.images import members
from cascade.jsonutil import json_response

__all__ = ["list_members", "create_member", "show_member", "update_member", "delete_member"]


def _field(body: Any, key: str, form: str, missing: str) -> Any:
    if not isinstance(body, dict):
        raise errors.BadRequest(f"Expected a {key} in the form: {form}")
    if key not in body:
        raise errors.BadRequest(missing)
    return body[key]


async def list_members(request: web.Request) -> web.Response:
    """GET /v2/images/{image_id}/members."""
    request[CTX].can("get_members")
    seen = await members.list_for(request.config_dict[SESSIONS], request[CTX],
                                  request.match_info["image_id"])
    return json_response({"members": seen, "schema": "/v2/schemas/members"})


async def create_member(request: web.Request) -> web.Response:
    """POST /v2/images/{image_id}/members {"member": project} -> 200 (as Glance)."""
    request[CTX].can("add_member")
    member_id = _field(await json_body(request), "member", '{"member": "image_id"}',
                       "Member to be added not specified")
    view = await members.add(request.config_dict[SESSIONS], request[CTX],
                             request.match_info["image_id"], member_id)
    return json_response(view)


async def show_member(request: web.Request) -> web.Response:
    """GET /v2/images/{image_id}/members/{member_id}."""
    request[CTX].can("get_members")
    view = await members.show_for(request.config_dict[SESSIONS], request[CTX],
                                  request.match_info["image_id"],
                                  request.match_info["member_id"])
    return json_response(view)


async def update_member(request: web.Request) -> web.Response:
    """PUT /v2/images/{image_id}/members/{member_id} {"status": ...}."""
    request[CTX].can("modify_member")
    status = _field(await json_body(request), "status", '{"status": "status"}',
                    "Status not specified")
    view = await members.update(request.config_dict[SESSIONS], request[CTX],
                                request.match_info["image_id"],
                                request.match_info["member_id"], status)
    return json_response(view)


async def delete_member(request: web.Request) -> web.Response:
    """DELETE /v2/images/{image_id}/members/{member_id} -> 204."""
    request[CTX].can("delete_member")
    await members.remove(request.config_dict[SESSIONS], request[CTX],
                         request.match_info["image_id"], request.match_info["member_id"])
    return web.Response(status=204)
