"""Nova's image proxy (``/images``, up to microversion 2.35; 404 after, as in Nova):
parse, call ``cascade/compute/image_proxy.py``, render."""
from __future__ import annotations

from typing import Any
from aiohttp import web

from cascade import errors
from cascade.api.body import json_body
from cascade.api.compute.keys import IMAGE_PROXY
from cascade.api.compute.links import next_links
from cascade.api.compute.microversion import MICROVERSION
from cascade.api.urls import compute_base, image_base
from cascade.appkeys import CTX
from cascade.compute.image_proxy import LAST_MICROVERSION
from cascade.compute.versions import at_least
from cascade.jsonutil import json_response

__all__ = ["list_images", "list_images_detail", "show_image", "delete_image",
           "show_metadata", "update_metadata", "replace_metadata", "show_metadata_item",
           "set_metadata_item", "delete_metadata_item"]


def _served(request: web.Request) -> None:
    """:raises NotFound: past microversion 2.35, where Nova removed the proxy."""
    mv = request[MICROVERSION]
    if mv != LAST_MICROVERSION and at_least(mv, LAST_MICROVERSION):
        raise errors.NotFound("The resource could not be found.")


async def _list(request: web.Request, detail: bool) -> web.Response:
    _served(request)
    proxy = request.app[IMAGE_PROXY]
    images, full = await proxy.list_page(request[CTX], request.query)
    base, glance = compute_base(request), image_base(request)
    body: dict[str, Any] = {"images": [proxy.view(i, base, glance, detail) for i in images]}
    if full:
        path = "/images/detail" if detail else "/images"
        body["images_links"] = next_links(request, path, images[-1]["id"])
    return json_response(body)


async def list_images(request: web.Request) -> web.Response:
    """GET /images."""
    return await _list(request, detail=False)


async def list_images_detail(request: web.Request) -> web.Response:
    """GET /images/detail."""
    return await _list(request, detail=True)


async def show_image(request: web.Request) -> web.Response:
    """GET /images/{image_id}."""
    _served(request)
    proxy = request.app[IMAGE_PROXY]
    image = await proxy.show(request[CTX], request.match_info["image_id"])
    return json_response({"image": proxy.view(image, compute_base(request),
                                              image_base(request))})


async def delete_image(request: web.Request) -> web.Response:
    """DELETE /images/{image_id} -> 204."""
    _served(request)
    await request.app[IMAGE_PROXY].delete(request[CTX], request.match_info["image_id"])
    return web.Response(status=204)


async def _metadata(request: web.Request) -> dict[str, Any]:
    proxy = request.app[IMAGE_PROXY]
    image = await proxy.show(request[CTX], request.match_info["image_id"])
    return dict(proxy.view(image, "", "")["metadata"])


async def show_metadata(request: web.Request) -> web.Response:
    """GET /images/{image_id}/metadata."""
    _served(request)
    return json_response({"metadata": await _metadata(request)})


def _items(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise errors.BadRequest(f"Malformed request body: expected '{key}'")
    return dict(body[key])


async def _set_metadata(request: web.Request, replace_all: bool) -> web.Response:
    _served(request)
    items = _items(await json_body(request), "metadata")
    meta = await request.app[IMAGE_PROXY].set_metadata(
        request[CTX], request.match_info["image_id"], items, replace_all=replace_all)
    return json_response({"metadata": meta})


async def update_metadata(request: web.Request) -> web.Response:
    """POST /images/{image_id}/metadata: merge items."""
    return await _set_metadata(request, replace_all=False)


async def replace_metadata(request: web.Request) -> web.Response:
    """PUT /images/{image_id}/metadata: replace all items."""
    return await _set_metadata(request, replace_all=True)


async def show_metadata_item(request: web.Request) -> web.Response:
    """GET /images/{image_id}/metadata/{key}."""
    _served(request)
    meta = await _metadata(request)
    key = request.match_info["key"]
    if key not in meta:
        raise errors.NotFound("Image not found.")
    return json_response({"meta": {key: meta[key]}})


async def set_metadata_item(request: web.Request) -> web.Response:
    """PUT /images/{image_id}/metadata/{key} {"meta": {key: value}}."""
    _served(request)
    items = _items(await json_body(request), "meta")
    key = request.match_info["key"]
    if key not in items:
        raise errors.BadRequest("Request body and URI mismatch")
    if len(items) > 1:
        raise errors.BadRequest("Request body contains too many items")
    await request.app[IMAGE_PROXY].set_metadata(
        request[CTX], request.match_info["image_id"], items, replace_all=False)
    return json_response({"meta": {key: str(items[key])}})


async def delete_metadata_item(request: web.Request) -> web.Response:
    """DELETE /images/{image_id}/metadata/{key} -> 204."""
    _served(request)
    await request.app[IMAGE_PROXY].delete_metadata(
        request[CTX], request.match_info["image_id"], request.match_info["key"])
    return web.Response(status=204)
