"""Image tag handlers: PUT/DELETE /v2/images/{image_id}/tags/{tag_value} (rules in
``cascade/images/tags.py``)."""
from __future__ import annotations

from aiohttp import web

from cascade.appkeys import CTX, SESSIONS
from cascade.images import tags

__all__ = ["put_tag", "delete_tag"]


async def put_tag(request: web.Request) -> web.Response:
    """PUT /v2/images/{image_id}/tags/{tag_value} -> 204."""
    await tags.put(request.config_dict[SESSIONS], request[CTX],
                   request.match_info["image_id"], request.match_info["tag_value"])
    return web.Response(status=204)


async def delete_tag(request: web.Request) -> web.Response:
    """DELETE /v2/images/{image_id}/tags/{tag_value} -> 204."""
    await tags.delete(request.config_dict[SESSIONS], request[CTX],
                      request.match_info["image_id"], request.match_info["tag_value"])
    return web.Response(status=204)
