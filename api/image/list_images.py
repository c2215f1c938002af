"""GET /v2/images: answered from Cascade's database, no fan-out."""
from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from cascade.jsonutil import json_response

from cascade.api.image.listing import filter_sort_page
from cascade.appkeys import CTX, SESSIONS
from cascade.images import store

__all__ = ["list_images"]


async def list_images(request: web.Request) -> web.Response:
    """GET /v2/images with Glance's filters, sort, limit and marker."""
    request[CTX].can("get_images")
    ctx = request[CTX]
    async with request.config_dict[SESSIONS]() as session:
        rows = await store.list_candidates(session, ctx)
    page, next_marker = filter_sort_page(ctx, rows, request.query)
    query = [(k, v) for k, v in request.query.items() if k != "marker"]
    body: dict[str, object] = {"images": page, "schema": "/v2/schemas/images",
                               "first": "/v2/images" + (f"?{urlencode(query)}" if query
                                                        else "")}
    if next_marker:
        body["next"] = "/v2/images?" + urlencode(query + [("marker", next_marker)])
    return json_response(body)
