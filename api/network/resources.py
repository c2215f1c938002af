"""Neutron v2.0 handlers: networks, subnets, ports, security groups, rules and tags."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cascade.api.body import json_body
from cascade.api.network.keys import FLOATING_IPS, OBJECTS, PORTS, ROUTERS
from cascade.api.urls import network_base
from cascade.appkeys import CTX
from cascade.jsonutil import json_response
from cascade.networks import bulk
from cascade.networks import query as neutron_query
from cascade.networks import records
from cascade.networks.records import (FLOATINGIP, NETWORK, PORT, ROUTER, RULE,
                                      SECURITY_GROUP, SUBNET)

__all__ = ["PATHS", "routes"]

#: URL path segment -> type.
PATHS = {"networks": NETWORK, "subnets": SUBNET, "ports": PORT,
         "security-groups": SECURITY_GROUP, "security-group-rules": RULE,
         "routers": ROUTER, "floatingips": FLOATINGIP}
_SORT_KEYS = frozenset({"id", "name", "created_at", "updated_at", "status", "network_id",
                        "cidr", "ip_version", "mac_address", "device_id", "device_owner",
                        "admin_state_up", "shared", "mtu", "project_id", "tenant_id",
                        "direction", "ethertype", "protocol", "security_group_id",
                        "description", "revision_number", "floating_ip_address",
                        "floating_network_id", "fixed_ip_address", "port_id", "router_id"})
_PARTIAL = "X-Cascade-Partial"


def _type(request: web.Request) -> str:
    return PATHS[request.match_info["collection"]]


async def list_objects(request: web.Request) -> web.Response:
    """GET /v2.0/{collection} with Neutron's filters, fields, sort and pages."""
    type_ = _type(request)
    ctx = request[CTX]
    ctx.can(f"get_{type_}")
    query = neutron_query.parse_query(request.query, _SORT_KEYS)
    collection = records.COLLECTION[type_]
    base = f"{network_base(request)}/v2.0/{request.match_info['collection']}"
    if type_ == PORT:
        query.check_filters(type_)  # before asking any region
        if query.marker:
            # Neutron answers 404 for a port marker the caller cannot see.
            await request.app[PORTS].show(ctx, query.marker)
        answers, failed = await request.app[PORTS].list_ports(ctx, query.filters)
        headers = {_PARTIAL: ",".join(failed)} if failed else {}
        return json_response(query.page_streams(answers, collection, base), headers=headers)
    if type_ == ROUTER:
        items = await request.app[ROUTERS].list_all(ctx, query.narrow(type_))
    elif type_ == FLOATINGIP:
        items = await request.app[FLOATING_IPS].list_all(ctx, query.narrow(type_))
    else:
        items = await request.app[OBJECTS].list_all(ctx, type_, query.narrow(type_))
    query.check_filters(type_, items)
    marker_obj = None
    if type_ == NETWORK and query.marker and all(o["id"] != query.marker for o in items):
        # Neutron reads a network marker itself: 404 when the caller cannot see it.
        marker_obj = await request.app[OBJECTS].show(ctx, NETWORK, query.marker)
    return json_response(query.page(items, collection, base, marker_obj))


async def create_object(request: web.Request) -> web.Response:
    """POST /v2.0/{collection} -> 201 with the object; a bulk body
    (``{"networks": [...]}``) makes all of them or none."""
    type_ = _type(request)
    body = await json_body(request)
    collection = records.COLLECTION[type_]
    items = bulk.split_bulk(type_, collection, body)
    if items is None:
        return json_response({type_: await _create_one(request, type_, body)}, status=201)

    async def create(item: dict[str, Any]) -> dict[str, Any]:
        return await _create_one(request, type_, item)

    async def delete(global_id: str) -> None:
        await _delete_one(request, type_, global_id)

    made = await bulk.create_all(items, create, delete)
    return json_response({collection: made}, status=201)


async def _create_one(request: web.Request, type_: str, body: Any) -> dict[str, Any]:
    ctx = request[CTX]
    objects = request.app[OBJECTS]
    if type_ == PORT:
        return await request.app[PORTS].create(ctx, body)
    if type_ == NETWORK:
        return await objects.create_network(ctx, body)
    if type_ == SUBNET:
        return await objects.create_subnet(ctx, body)
    if type_ == SECURITY_GROUP:
        return await objects.create_security_group(ctx, body)
    if type_ == ROUTER:
        return await request.app[ROUTERS].create(ctx, body)
    if type_ == FLOATINGIP:
        return await request.app[FLOATING_IPS].create(ctx, body)
    return await objects.create_rule(ctx, body)


async def _delete_one(request: web.Request, type_: str, global_id: str) -> None:
    if type_ == PORT:
        await request.app[PORTS].delete(request[CTX], global_id)
    elif type_ == ROUTER:
        await request.app[ROUTERS].delete(request[CTX], global_id)
    elif type_ == FLOATINGIP:
        await request.app[FLOATING_IPS].delete(request[CTX], global_id)
    else:
        await request.app[OBJECTS].delete(request[CTX], type_, global_id)


async def show_object(request: web.Request) -> web.Response:
    type_ = _type(request)
    ctx = request[CTX]
    ctx.can(f"get_{type_}")
    gid = request.match_info["id"]
    if type_ == PORT:
        obj = await request.app[PORTS].show(ctx, gid)
    elif type_ == ROUTER:
        obj = await request.app[ROUTERS].show(ctx, gid)
    elif type_ == FLOATINGIP:
        obj = await request.app[FLOATING_IPS].show(ctx, gid)
    else:
        obj = await request.app[OBJECTS].show(ctx, type_, gid)
    fields = [f for v in request.query.getall("fields", []) for f in v.split(",") if f]
    if fields:
        obj = {k: v for k, v in obj.items() if k in fields}
    return json_response({type_: obj})


async def update_object(request: web.Request) -> web.Response:
    type_ = _type(request)
    ctx = request[CTX]
    gid = request.match_info["id"]
    body = await json_body(request)
    if type_ == PORT:
        obj = await request.app[PORTS].update(ctx, gid, body)
    elif type_ == ROUTER:
        obj = await request.app[ROUTERS].update(ctx, gid, body)
    elif type_ == FLOATINGIP:
        obj = await request.app[FLOATING_IPS].update(ctx, gid, body)
    else:
        obj = await request.app[OBJECTS].update(ctx, type_, gid, body)
    return json_response({type_: obj})


async def delete_object(request: web.Request) -> web.Response:
    await _delete_one(request, _type(request), request.match_info["id"])
    return web.Response(status=204)


def _tag_target(request: web.Request) -> tuple[str, str]:
    type_ = _type(request)
    if type_ == RULE:
        raise web.HTTPNotFound()
    return type_, request.match_info["id"]


async def _current_tags(request: web.Request, type_: str, gid: str) -> list[str]:
    if type_ == PORT:
        await request.app[PORTS].show(request[CTX], gid)  # visibility
    return await request.app[OBJECTS].tags(request[CTX], type_, gid)


async def get_tags(request: web.Request) -> web.Response:
    type_, gid = _tag_target(request)
    request[CTX].can(f"get_{type_}")
    return json_response({"tags": await _current_tags(request, type_, gid)})


async def replace_tags(request: web.Request) -> web.Response:
    type_, gid = _tag_target(request)
    body: Any = await json_body(request)
    tags = body.get("tags") if isinstance(body, dict) else None
    if not isinstance(tags, list):
        from cascade.networks import faults

        raise faults.bad_request("Invalid tags body")
    done = await request.app[OBJECTS].set_tags(request[CTX], type_, gid, tags)
    return json_response({"tags": done})


async def add_tag(request: web.Request) -> web.Response:
    type_, gid = _tag_target(request)
    tags = await _current_tags(request, type_, gid)
    await request.app[OBJECTS].set_tags(request[CTX], type_, gid,
                                        [*tags, request.match_info["tag"]])
    return web.Response(status=201)


async def remove_tag(request: web.Request) -> web.Response:
    type_, gid = _tag_target(request)
    tags = await _current_tags(request, type_, gid)
    tag = request.match_info["tag"]
    if tag not in tags:
        from cascade.networks import faults

        raise faults.conflict("TagNotFound", f"Tag {tag} could not be found.")
    await request.app[OBJECTS].set_tags(request[CTX], type_, gid,
                                        [t for t in tags if t != tag])
    return web.Response(status=204)


async def remove_all_tags(request: web.Request) -> web.Response:
    type_, gid = _tag_target(request)
    await request.app[OBJECTS].set_tags(request[CTX], type_, gid, [])
    return web.Response(status=204)


async def add_router_interface(request: web.Request) -> web.Response:
    """PUT /v2.0/routers/{id}/add_router_interface: by subnet or by port."""
    body = await json_body(request)
    return json_response(await request.app[ROUTERS].add_interface(
        request[CTX], request.match_info["id"], body))


async def remove_router_interface(request: web.Request) -> web.Response:
    body = await json_body(request)
    return json_response(await request.app[ROUTERS].remove_interface(
        request[CTX], request.match_info["id"], body))


def routes() -> list[web.RouteDef]:
    coll = "/v2.0/{collection:" + "|".join(PATHS) + "}"
    one = coll + "/{id}"
    return [
        web.put("/v2.0/routers/{id}/add_router_interface", add_router_interface),
        web.put("/v2.0/routers/{id}/remove_router_interface", remove_router_interface),
        web.get(coll, list_objects),
        web.post(coll, create_object),
        web.get(one, show_object),
        web.put(one, update_object),
        web.delete(one, delete_object),
        web.get(one + "/tags", get_tags),
        web.put(one + "/tags", replace_tags),
        web.delete(one + "/tags", remove_all_tags),
        web.put(one + "/tags/{tag}", add_tag),
        web.delete(one + "/tags/{tag}", remove_tag),
    ]
