"""PATCH /v2/images/{image_id}: the media type is checked here (v2.1, or the older v2.0
dialect, turned into v2.1's form); Glance's patch dialect is applied by
``cascade/images/patch.py``."""
from __future__ import annotations

from aiohttp import hdrs, web

from cascade import errors
from cascade.api.body import json_body
from cascade.appkeys import CTX, SESSIONS
from cascade.images.patch import PATCH_MEDIA_TYPE, PATCH_MEDIA_TYPE_V20, from_draft4
from cascade.images.patch import patch_image as apply_image_patch
from cascade.jsonutil import json_response

__all__ = ["PATCH_MEDIA_TYPE", "UnsupportedMediaType", "patch_image"]


class UnsupportedMediaType(errors.ClientError):
    """415: PATCH bodies must say which patch dialect they speak."""

    status = 415


async def patch_image(request: web.Request) -> web.Response:
    """PATCH /v2/images/{image_id} -> 200 with the updated image.

    :raises UnsupportedMediaType: any Content-Type but Glance's two patch types.
    """
    if request.content_type not in (PATCH_MEDIA_TYPE, PATCH_MEDIA_TYPE_V20):
        sent = request.headers.get(hdrs.CONTENT_TYPE)
        raise UnsupportedMediaType(
            f"The request media type {sent} is not supported by this server.")
    ops = await json_body(request)
    if request.content_type == PATCH_MEDIA_TYPE_V20:
        ops = from_draft4(ops)
    image = await apply_image_patch(request.config_dict[SESSIONS], request[CTX],
                                    request.match_info["image_id"], ops)
    return json_response(image)
