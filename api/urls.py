"""Cascade's own public URLs, as tenants must see them in links and headers."""
from __future__ import annotations

from aiohttp import web

from cascade.appkeys import PUBLIC_URLS
from cascade.public_urls import PublicUrls

__all__ = ["PublicUrls", "public_base", "compute_base", "image_base", "network_base"]


def public_base(request: web.Request) -> str:
    """Base URL of Cascade (the root middleware hands every request its PublicUrls)."""
    return request[PUBLIC_URLS].base(request)


def compute_base(request: web.Request) -> str:
    return public_base(request) + "/compute/v2.1"


def image_base(request: web.Request) -> str:
    return public_base(request) + "/image"


def network_base(request: web.Request) -> str:
    return public_base(request) + "/networking"
