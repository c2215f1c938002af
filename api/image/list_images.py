"""GET /v2/images: answered from Cascade's database, no fan-out."""
from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from cascade.appkeys import CTX, SESSIONS
from cascade.images import query as image_query
from cascade.jsonutil import json_response

__all__ = ["list_images"]


async def list_images(request: web.Request) -> web.Response:
    """GET /v2/images with Glance's filters, sort, limit and marker."""
    ctx = request[CTX]
    ctx.can("get_images")
    page, next_marker = await image_query.list_images(request.config_dict[SESSIONS], ctx,
                                                      request.query)
    query = [(k, v) for k, v in request.query.items() if k != "marker"]
    body: dict[str, object] = {"images": page, "schema": "/v2/schemas/images",
                               "first": "/v2/images" + (f"?{urlencode(query)}" if query
                                                        else "")}
    if next_marker:
        body["next"] = "/v2/images?" + urlencode(query + [("marker", next_marker)])
    return json_response(body)
