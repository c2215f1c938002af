"""/os-keypairs handlers: stored by Cascade; present in a region once a server uses them."""
from __future__ import annotations

from aiohttp import web

from cascade.jsonutil import json_response

from cascade.api.body import json_body
from cascade.api.compute.keys import KEYPAIRS
from cascade.appkeys import CTX

__all__ = ["list_keypairs", "create_keypair", "show_keypair", "delete_keypair"]


async def list_keypairs(request: web.Request) -> web.Response:
    """GET /os-keypairs."""
    pairs = await request.app[KEYPAIRS].list(request[CTX], request.query.get("user_id"))
    return json_response({"keypairs": pairs})


async def create_keypair(request: web.Request) -> web.Response:
    """POST /os-keypairs: import with public_key, else generate (private_key returned once)."""
    pair = await request.app[KEYPAIRS].create(request[CTX], await json_body(request))
    return json_response({"keypair": pair}, status=201)


async def show_keypair(request: web.Request) -> web.Response:
    """GET /os-keypairs/{name}."""
    pair = await request.app[KEYPAIRS].show(request[CTX], request.match_info["name"],
                                            request.query.get("user_id"))
    return json_response({"keypair": pair})


async def delete_keypair(request: web.Request) -> web.Response:
    """DELETE /os-keypairs/{name} -> 202, as Nova answers."""
    await request.app[KEYPAIRS].delete(request[CTX], request.match_info["name"],
                                       request.query.get("user_id"))
    return web.Response(status=202)
