"""GET /v2.0/extensions[/{alias}]: the extensions every region offers and Cascade
implements (``cascade/networks/extensions.py``)."""
from __future__ import annotations

from aiohttp import web

from cascade.api.network.keys import EXTENSIONS
from cascade.appkeys import CTX
from cascade.jsonutil import json_response
from cascade.networks import faults

__all__ = ["list_extensions", "show_extension"]


async def list_extensions(request: web.Request) -> web.Response:
    return json_response({"extensions": await request.app[EXTENSIONS].agreed(request[CTX])})


async def show_extension(request: web.Request) -> web.Response:
    alias = request.match_info["alias"]
    for ext in await request.app[EXTENSIONS].agreed(request[CTX]):
        if ext.get("alias") == alias:
            return json_response({"extension": ext})
    err = faults.NeutronNotFound(f"Extension with alias {alias} does not exist")
    err.neutron_type = "HTTPNotFound"
    raise err
