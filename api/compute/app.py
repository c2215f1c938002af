"""The compute sub-application, mounted at ``/compute``."""
from __future__ import annotations

from aiohttp import web

from api.compute import flavors, servers, versions
from api.compute.keys import SERVERS
from api.compute.microversion import microversion_middleware
from api.compute.server_ops import Servers

__all__ = ["create_compute_app"]

V = "/v2.1"


def create_compute_app(ops: Servers) -> web.Application:
    """Routes of the Nova API Cascade serves; microversions apply to all of them."""
    app = web.Application(middlewares=[microversion_middleware])
    app[SERVERS] = ops
    app.router.add_routes([
        web.get("", versions.versions),
        web.get("/", versions.versions),
        web.get(V, versions.version_v21),
        web.get(V + "/", versions.version_v21),
        web.get(V + "/servers", servers.list_servers),
        web.post(V + "/servers", servers.create_server),
        web.get(V + "/servers/detail", servers.list_servers_detail),
        web.get(V + "/servers/{server_id}", servers.show_server),
        web.delete(V + "/servers/{server_id}", servers.delete_server),
        web.get(V + "/flavors", flavors.list_flavors),
        web.get(V + "/flavors/detail", flavors.list_flavors_detail),
        web.get(V + "/flavors/{flavor_id}", flavors.show_flavor),
    ])
    return app
