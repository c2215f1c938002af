"""Server handlers: parse, call ``Servers``, render. No SQL, no region client here."""
from __future__ import annotations

from aiohttp import web

from api.body import json_body
from api.compute.keys import SERVERS
from api.compute.microversion import MICROVERSION
from api.urls import compute_base
from cascade.appkeys import CTX

__all__ = ["create_server", "show_server", "list_servers", "list_servers_detail",
           "delete_server"]

PARTIAL_HEADER = "X-Cascade-Partial"


async def create_server(request: web.Request) -> web.Response:
    """POST /servers -> 202 with the new server's global id and a Location header."""
    body = await json_body(request)
    base = compute_base(request)
    server = await request.app[SERVERS].create(request[CTX], body, request[MICROVERSION], base)
    location = f"{base}/servers/{server['id']}"
    return web.json_response({"server": server}, status=202, headers={"Location": location})


async def show_server(request: web.Request) -> web.Response:
    """GET /servers/{id}."""
    server = await request.app[SERVERS].show(request[CTX], request.match_info["server_id"],
                                             request[MICROVERSION], compute_base(request))
    return web.json_response({"server": server})


async def _list(request: web.Request, detail: bool) -> web.Response:
    result = await request.app[SERVERS].list_servers(
        request[CTX], detail=detail, params=dict(request.query),
        microversion=request[MICROVERSION], cascade_base=compute_base(request))
    headers = {PARTIAL_HEADER: ",".join(result.failed)} if result.failed else None
    return web.json_response({"servers": result.servers}, headers=headers)


async def list_servers(request: web.Request) -> web.Response:
    """GET /servers."""
    return await _list(request, detail=False)


async def list_servers_detail(request: web.Request) -> web.Response:
    """GET /servers/detail."""
    return await _list(request, detail=True)


async def delete_server(request: web.Request) -> web.Response:
    """DELETE /servers/{id} -> 204."""
    await request.app[SERVERS].delete(request[CTX], request.match_info["server_id"],
                                      request[MICROVERSION])
    return web.Response(status=204)
