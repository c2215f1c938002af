"""Flavor handlers: parse, authorize, call the flavor service, render."""
from __future__ import annotations

from aiohttp import web

from cascade.api.body import json_body
from cascade.api.compute.keys import FLAVORS
from cascade.api.compute.links import next_links
from cascade.api.compute.microversion import MICROVERSION
from cascade.api.urls import compute_base
from cascade.appkeys import CTX
from cascade.compute import flavors as flavor_service
from cascade.jsonutil import json_response

__all__ = ["list_flavors", "list_flavors_detail", "show_flavor", "create_flavor",
           "delete_flavor"]


async def _list(request: web.Request, detail: bool) -> web.Response:
    query = flavor_service.parse_query(request.query)
    page, full = await request.app[FLAVORS].list_page(request[CTX], request[MICROVERSION], query,
                                                      compute_base(request))
    body: dict[str, object] = {
        "flavors": page if detail else [flavor_service.summary(f) for f in page]}
    if full:
        path = "/flavors/detail" if detail else "/flavors"
        body["flavors_links"] = next_links(request, path, str(page[-1]["id"]))
    return json_response(body)


async def list_flavors(request: web.Request) -> web.Response:
    """GET /flavors: the regions' flavors merged by id, Nova's sort and pages."""
    return await _list(request, detail=False)


async def list_flavors_detail(request: web.Request) -> web.Response:
    """GET /flavors/detail."""
    return await _list(request, detail=True)


async def show_flavor(request: web.Request) -> web.Response:
    """GET /flavors/{id}: from the first region (by weight) that has it."""
    flavor = await request.app[FLAVORS].show(request[CTX], request[MICROVERSION],
                                             request.match_info["flavor_id"],
                                             compute_base(request))
    return json_response({"flavor": flavor})


async def create_flavor(request: web.Request) -> web.Response:
    """POST /flavors (admin): the same flavor, same id, in every enabled region."""
    request[CTX].can("os_compute_api:os-flavor-manage:create")
    body = await json_body(request)
    flavor = await request.app[FLAVORS].create(request[CTX], request[MICROVERSION], body,
                                               compute_base(request))
    return json_response({"flavor": flavor})


async def delete_flavor(request: web.Request) -> web.Response:
    """DELETE /flavors/{id} (admin): removed from every enabled region that has it."""
    request[CTX].can("os_compute_api:os-flavor-manage:delete")
    await request.app[FLAVORS].delete(request[CTX], request[MICROVERSION],
                                      request.match_info["flavor_id"])
    return web.Response(status=202)
