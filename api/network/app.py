"""The network sub-application, mounted at ``/networking``: Neutron v2.0."""
from __future__ import annotations

from aiohttp import web

from cascade.api.middleware import public
from cascade.api.network import extensions, quotas, resources, zones
from cascade.api.network.keys import EXTENSIONS, FLOATING_IPS, OBJECTS, PORTS, ROUTERS
from cascade.api.urls import network_base
from cascade.jsonutil import json_response
from cascade.networks.extensions import Extensions
from cascade.networks.floating_ips import FloatingIps
from cascade.networks.ports import Ports
from cascade.networks.routers import Routers
from cascade.networks.service import NetworkObjects

__all__ = ["create_network_app"]

#: Collections Cascade implements, as Neutron lists them at /v2.0/.
_RESOURCES = [("network", "networks"), ("subnet", "subnets"), ("port", "ports"),
              ("security_group", "security-groups"),
              ("security_group_rule", "security-group-rules"), ("quota", "quotas"),
              ("availability_zone", "availability_zones"), ("router", "routers"),
              ("floatingip", "floatingips")]


@public
async def versions(request: web.Request) -> web.Response:
    """GET /networking/: Neutron's version list."""
    href = network_base(request) + "/v2.0/"
    return json_response({"versions": [
        {"status": "CURRENT", "id": "v2.0", "links": [{"href": href, "rel": "self"}]}]})


async def collections(request: web.Request) -> web.Response:
    """GET /networking/v2.0/: the collections served."""
    base = network_base(request) + "/v2.0"
    return json_response({"resources": [
        {"name": name, "collection": coll,
         "links": [{"href": f"{base}/{coll}", "rel": "self"}]} for name, coll in _RESOURCES]})


def create_network_app(objects: NetworkObjects, ports: Ports,
                       agreed_extensions: Extensions, routers: Routers,
                       floating_ips: FloatingIps) -> web.Application:
    app = web.Application()
    app[ROUTERS] = routers
    app[FLOATING_IPS] = floating_ips
    app[OBJECTS] = objects
    app[PORTS] = ports
    app[EXTENSIONS] = agreed_extensions
    app.router.add_routes([
        web.get("", versions),
        web.get("/", versions),
        web.get("/v2.0", collections),
        web.get("/v2.0/", collections),
        web.get("/v2.0/extensions", extensions.list_extensions),
        web.get("/v2.0/extensions/{alias}", extensions.show_extension),
        web.get("/v2.0/availability_zones", zones.list_availability_zones),
        *quotas.routes(),
        *resources.routes(),
    ])
    return app
