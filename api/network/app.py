"""The network sub-application, mounted at ``/networking``.

Serves the version documents now; the Neutron resources arrive with issue 5.
"""
from __future__ import annotations

from aiohttp import web

from cascade.jsonutil import json_response

from api.middleware import public
from api.urls import network_base

__all__ = ["create_network_app"]

#: Collections Cascade implements, as Neutron lists them at /v2.0/.
_RESOURCES: list[tuple[str, str]] = []


@public
async def versions(request: web.Request) -> web.Response:
    """GET /networking/: Neutron's version list."""
    href = network_base(request) + "/v2.0/"
    return json_response({"versions": [
        {"status": "CURRENT", "id": "v2.0", "links": [{"href": href, "rel": "self"}]}]})


async def resources(request: web.Request) -> web.Response:
    """GET /networking/v2.0/: the collections served."""
    base = network_base(request) + "/v2.0"
    return json_response({"resources": [
        {"name": name, "collection": coll,
         "links": [{"href": f"{base}/{coll}", "rel": "self"}]} for name, coll in _RESOURCES]})


def create_network_app() -> web.Application:
    app = web.Application()
    app.router.add_routes([
        web.get("", versions),
        web.get("/", versions),
        web.get("/v2.0", resources),
        web.get("/v2.0/", resources),
    ])
    return app
