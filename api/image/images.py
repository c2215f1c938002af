"""Glance v2 image handlers: create, show, list, delete, data, import, stores."""
from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web

from cascade.jsonutil import json_response

from cascade.api.body import json_body
from cascade.api.image.keys import IMAGES
from cascade.api.urls import image_base
from cascade import errors
from cascade.images import importing
from cascade.appkeys import CTX, REGIONS

__all__ = ["create_image", "show_image", "delete_image", "delete_from_store", "upload_data",
           "download_data",
           "stage_data", "deactivate_image", "reactivate_image",
           "import_image", "info_stores", "info_import"]

#: Upload and download chunk size: memory per transfer stays around this.
_CHUNK = 1 << 20


async def create_image(request: web.Request) -> web.Response:
    """POST /v2/images -> 201 with the queued image (and a Location header)."""
    image = await request.app[IMAGES].create(request[CTX], await json_body(request))
    return json_response(image, status=201, headers={
        "Location": f"{image_base(request)}/v2/images/{image['id']}"})


async def show_image(request: web.Request) -> web.Response:
    """GET /v2/images/{image_id}."""
    request[CTX].can("get_image")
    return json_response(await request.app[IMAGES].show(
        request[CTX], request.match_info["image_id"]))


async def delete_image(request: web.Request) -> web.Response:
    """DELETE /v2/images/{image_id} -> 204; replicas go through jobs."""
    await request.app[IMAGES].delete(request[CTX], request.match_info["image_id"])
    return web.Response(status=204)


def _data(request: web.Request) -> AsyncIterator[bytes]:
    """The request body as chunks, never buffered whole.

    :raises CascadeError: 415 for a body that is not octet-stream.
    """
    if request.content_type not in ("application/octet-stream", ""):
        raise errors.CascadeError.with_status(415, "Content-Type must be "
                                              "application/octet-stream")

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in request.content.iter_chunked(_CHUNK):
            yield chunk
    return chunks()


async def upload_data(request: web.Request) -> web.Response:
    """PUT /v2/images/{image_id}/file: streamed to the home region, never buffered whole."""
    await request.app[IMAGES].upload(
        request[CTX], request.match_info["image_id"], _data(request), request.content_length,
        request.headers.get("X-Image-Meta-Store"))
    return web.Response(status=204)


async def stage_data(request: web.Request) -> web.Response:
    """PUT /v2/images/{image_id}/stage: glance-direct's data, streamed to the home
    region's staging area."""
    await request.app[IMAGES].stage(request[CTX], request.match_info["image_id"],
                                    _data(request), request.content_length)
    return web.Response(status=204)


async def download_data(request: web.Request) -> web.StreamResponse:
    """GET /v2/images/{image_id}/file: streamed from a healthy replica (204: no data)."""
    request[CTX].can("download_image")
    async with request.app[IMAGES].download(request[CTX],
                                            request.match_info["image_id"]) as found:
        if found is None:
            return web.Response(status=204)
        headers, chunks = found
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
        return response


async def import_image(request: web.Request) -> web.Response:
    """POST /v2/images/{image_id}/import (glance-direct, web-download, copy-image) -> 202."""
    await request.app[IMAGES].import_image(request[CTX], request.match_info["image_id"],
                                           await json_body(request))
    return web.Response(status=202)


async def deactivate_image(request: web.Request) -> web.Response:
    """POST /v2/images/{image_id}/actions/deactivate -> 204."""
    await request.app[IMAGES].set_active(request[CTX], request.match_info["image_id"], False)
    return web.Response(status=204)


async def reactivate_image(request: web.Request) -> web.Response:
    """POST /v2/images/{image_id}/actions/reactivate -> 204."""
    await request.app[IMAGES].set_active(request[CTX], request.match_info["image_id"], True)
    return web.Response(status=204)


async def delete_from_store(request: web.Request) -> web.Response:
    """DELETE /v2/stores/{store_id}/{image_id} -> 204 (the copy goes by a job)."""
    await request.app[IMAGES].delete_from_store(request[CTX], request.match_info["store_id"],
                                                request.match_info["image_id"])
    return web.Response(status=204)


async def info_stores(request: web.Request) -> web.Response:
    """GET /v2/info/stores: every enabled region is a store."""
    regions = request.config_dict[REGIONS].enabled()
    default = request.app[IMAGES].home_region(None) if regions else None
    stores = [{"id": r.name, "description": f"Region {r.name}",
               **({"default": True} if r.name == default else {})} for r in regions]
    return json_response({"stores": stores})


async def info_import(request: web.Request) -> web.Response:
    """GET /v2/info/import: the methods Glance offers, each served."""
    return json_response({"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": list(importing.METHODS)}})
