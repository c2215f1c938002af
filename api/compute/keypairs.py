"""/os-keypairs handlers: stored by Cascade; present in a region once a server uses them.

Statuses follow Nova per microversion: a create is 200 before 2.2 and 201
from it; a delete 202 before 2.2 and 204 from it.
"""
from __future__ import annotations

from aiohttp import web

from cascade.api.body import json_body
from cascade.api.compute.keys import KEYPAIRS
from cascade.api.compute.microversion import MICROVERSION
from cascade.appkeys import CTX
from cascade.compute.versions import at_least
from cascade.jsonutil import json_response

__all__ = ["list_keypairs", "create_keypair", "show_keypair", "delete_keypair"]


async def list_keypairs(request: web.Request) -> web.Response:
    """GET /os-keypairs."""
    pairs = await request.app[KEYPAIRS].list(request[CTX], request[MICROVERSION],
                                             request.query.get("user_id"))
    return json_response({"keypairs": pairs})


async def create_keypair(request: web.Request) -> web.Response:
    """POST /os-keypairs: import with public_key, else generate (private_key returned once)."""
    mv = request[MICROVERSION]
    pair = await request.app[KEYPAIRS].create(request[CTX], await json_body(request), mv)
    return json_response({"keypair": pair}, status=201 if at_least(mv, "2.2") else 200)


async def show_keypair(request: web.Request) -> web.Response:
    """GET /os-keypairs/{name}."""
    pair = await request.app[KEYPAIRS].show(request[CTX], request.match_info["name"],
                                            request[MICROVERSION],
                                            request.query.get("user_id"))
    return json_response({"keypair": pair})


async def delete_keypair(request: web.Request) -> web.Response:
    """DELETE /os-keypairs/{name}."""
    await request.app[KEYPAIRS].delete(request[CTX], request.match_info["name"],
                                       request.query.get("user_id"))
    return web.Response(status=204 if at_least(request[MICROVERSION], "2.2") else 202)
