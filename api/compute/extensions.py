"""GET /v2.1/extensions[/{alias}]: Nova's extension list (``cascade/compute/extensions.py``)."""
from __future__ import annotations

from aiohttp import web

from cascade.api.compute.keys import EXTENSIONS
from cascade.appkeys import CTX
from cascade.jsonutil import json_response

__all__ = ["list_extensions", "show_extension"]


async def list_extensions(request: web.Request) -> web.Response:
    request[CTX].can("os_compute_api:extensions")
    return json_response({"extensions": await request.app[EXTENSIONS].listed(request[CTX])})


async def show_extension(request: web.Request) -> web.Response:
    request[CTX].can("os_compute_api:extensions")
    ext = await request.app[EXTENSIONS].show(request[CTX], request.match_info["alias"])
    return json_response({"extension": ext})
