"""Cascade's own public URLs, as tenants must see them in links and headers."""
from __future__ import annotations

from aiohttp import web

from cascade.appkeys import CONF

__all__ = ["public_base", "compute_base", "image_base", "network_base"]


def public_base(request: web.Request) -> str:
    """Base URL of Cascade: ``[api] public_url`` or the request's scheme and host."""
    conf = request.config_dict[CONF]
    if conf.api.public_url:
        return str(conf.api.public_url).rstrip("/")
    return f"{request.scheme}://{request.host}"


def compute_base(request: web.Request) -> str:
    return public_base(request) + "/compute/v2.1"


def image_base(request: web.Request) -> str:
    return public_base(request) + "/image"


def network_base(request: web.Request) -> str:
    return public_base(request) + "/networking"
