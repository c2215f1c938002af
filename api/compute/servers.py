"""Server handlers: parse, call ``Servers``, render. No SQL, no region client here."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from cascade.jsonutil import json_response

from cascade.api.body import json_body
from cascade.compute import server_schema
from cascade.api.compute.keys import SERVERS
from cascade.api.compute.microversion import MICROVERSION
from cascade.api.urls import compute_base
from cascade import errors
from cascade.appkeys import CONF, CTX
from cascade.regions import paths
from cascade.mapping.rewrite import GLOBAL_ID_KEY, OWNER_KEY

__all__ = ["create_server", "show_server", "list_servers", "list_servers_detail",
           "delete_server", "update_server", "server_action", "server_subresource",
           "PARTIAL_HEADER"]

#: Names the regions that did not answer a list; their servers come from cache.
PARTIAL_HEADER = "X-Cascade-Partial"

#: Actions that delete: the mapping must follow them.
_DELETE_ACTIONS = {"forceDelete"}


async def create_server(request: web.Request) -> web.Response:
    """POST /servers -> 202 with the new server's global id and a Location header."""
    request[CTX].can("os_compute_api:servers:create")
    body = await json_body(request)
    base = compute_base(request)
    server = await request.app[SERVERS].create(request[CTX], body, request[MICROVERSION], base)
    if "reservation_id" in server:
        return json_response(server, status=202)
    location = f"{base}/servers/{server['id']}"
    return json_response({"server": server}, status=202, headers={"Location": location})


async def show_server(request: web.Request) -> web.Response:
    """GET /servers/{id}."""
    request[CTX].can("os_compute_api:servers:show")
    server = await request.app[SERVERS].show(request[CTX], request.match_info["server_id"],
                                             request[MICROVERSION], compute_base(request))
    return json_response({"server": server})


async def _list(request: web.Request, detail: bool) -> web.Response:
    request[CTX].can(f"os_compute_api:servers:{'detail' if detail else 'index'}")
    params: dict[str, list[str]] = {}
    for key, value in request.query.items():
        params.setdefault(key, []).append(value)
    base = compute_base(request)
    result = await request.app[SERVERS].list_servers(
        request[CTX], detail=detail, params=params, microversion=request[MICROVERSION],
        cascade_base=base)
    headers = {PARTIAL_HEADER: ",".join(result.failed)} if result.failed else None
    # The servers are JSON already (worked out as their regions answered): the
    # same bytes json_response would write, without encoding 100s of servers again.
    raw = b'{"servers":[' + b",".join(result.encoded) + b"]"
    if result.next_marker:
        query = [(k, v) for k, v in request.query.items() if k != "marker"]
        query.append(("marker", result.next_marker))
        path = "/servers/detail" if detail else "/servers"
        raw += b',"servers_links":' + orjson.dumps(
            [{"rel": "next", "href": f"{base}{path}?{urlencode(query)}"}])
    return web.Response(body=raw + b"}", headers=headers, content_type="application/json")


async def list_servers(request: web.Request) -> web.Response:
    """GET /servers."""
    return await _list(request, detail=False)


async def list_servers_detail(request: web.Request) -> web.Response:
    """GET /servers/detail."""
    return await _list(request, detail=True)


async def delete_server(request: web.Request) -> web.Response:
    """DELETE /servers/{id} -> 204."""
    request[CTX].can("os_compute_api:servers:delete")
    await request.app[SERVERS].delete(request[CTX], request.match_info["server_id"],
                                      request[MICROVERSION])
    return web.Response(status=204)


async def update_server(request: web.Request) -> web.Response:
    """PUT /servers/{id}: name, description and the other updatable fields."""
    request[CTX].can("os_compute_api:servers:update")
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("server"), dict):
        raise errors.BadRequest("Invalid input for field/attribute server.")
    return await _forward(request, "PUT", "", body)


async def server_action(request: web.Request) -> web.Response:
    """POST /servers/{id}/action: forwarded with the regional id."""
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise errors.BadRequest("There is no such action: " + ",".join(
            body if isinstance(body, dict) else []))
    if next(iter(body)) in _DELETE_ACTIONS:
        request[CTX].can("os_compute_api:servers:delete")
        await request.app[SERVERS].delete(request[CTX], request.match_info["server_id"],
                                          request[MICROVERSION], force=True)
        return web.Response(status=202)
    request[CTX].can("cascade:compute:server_action")
    return await _forward(request, "POST", "/action", body)


def _metadata_body(request: web.Request, tail: str, body: Any) -> Any:
    """Tenants cannot set or remove the key that ties a regional server to Cascade;
    replacing all metadata keeps it in the region.

    :raises BadRequest: the reserved key is named.
    """
    key = tail.partition("/")[2]
    items = (body.get("metadata") or body.get("meta")) if isinstance(body, dict) else None
    for reserved in (GLOBAL_ID_KEY, OWNER_KEY):
        if key == reserved or (isinstance(items, dict) and reserved in items):
            raise errors.BadRequest(f"Metadata key {reserved} is reserved by Cascade.")
    if request.method == "PUT" and tail == "metadata" and isinstance(items, dict):
        return {"metadata": {**items, GLOBAL_ID_KEY: request.match_info["server_id"],
                             OWNER_KEY: request.config_dict[CONF].cascade_id}}
    return body


#: Nova's server sub-resources: methods on the collection, and on one member.
_SUBRESOURCES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "metadata": (frozenset({"GET", "POST", "PUT"}), frozenset({"GET", "PUT", "DELETE"})),
    "tags": (frozenset({"GET", "PUT", "DELETE"}), frozenset({"GET", "PUT", "DELETE"})),
    "ips": (frozenset({"GET"}), frozenset({"GET"})),
    "os-interface": (frozenset({"GET", "POST"}), frozenset({"GET", "DELETE"})),
    "os-instance-actions": (frozenset({"GET"}), frozenset({"GET"})),
    "os-server-password": (frozenset({"GET", "DELETE"}), frozenset()),
}


def _subresource_path(method: str, tail: str) -> str:
    """The regional sub-path for ``tail``, built from Nova's grammar only.

    :raises UnsafePath: not a sub-resource Nova has (404, before any region).
    :raises HTTPMethodNotAllowed: a known sub-resource, another method.
    """
    parts = tail.split("/")
    allowed = _SUBRESOURCES.get(parts[0])
    if allowed is None or len(parts) > 2:
        raise paths.UnsafePath()
    methods = allowed[len(parts) - 1]
    if not methods:
        raise paths.UnsafePath()  # no such sub-resource below this one
    if method not in methods:
        raise web.HTTPMethodNotAllowed(method, sorted(methods))
    return paths.build(*parts)


async def server_subresource(request: web.Request) -> web.Response:
    """metadata, tags, ips, os-interface, os-instance-actions, os-server-password:
    forwarded with the regional id (ids in bodies translated both ways)."""
    tail = request.match_info["tail"]
    subpath = _subresource_path(request.method, tail)
    request[CTX].can("cascade:compute:server_subresource_"
                     + ("read" if request.method == "GET" else "write"))
    body = None
    if request.method in ("PUT", "POST"):
        raw = await request.read()
        body = await json_body(request) if raw else None
    server_schema.validate_subresource(request.method, tail, body)
    if tail == "metadata" or tail.startswith("metadata/"):
        body = _metadata_body(request, tail, body)
    return await _forward(request, request.method, subpath, body)


async def _forward(request: web.Request, method: str, subpath: str, body: Any) -> web.Response:
    result = await request.app[SERVERS].forward(
        request[CTX], request.match_info["server_id"], method, subpath, body=body,
        params=list(request.query.items()) or None, microversion=request[MICROVERSION],
        cascade_base=compute_base(request))
    if result.body is None:
        return web.Response(status=result.status, headers=result.headers)
    return json_response(result.body, status=result.status, headers=result.headers)
