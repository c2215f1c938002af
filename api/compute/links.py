"""Nova's page links, pointing at Cascade."""
from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from cascade.api.urls import compute_base

__all__ = ["next_links"]


def next_links(request: web.Request, path: str, marker: str) -> list[dict[str, str]]:
    """A ``*_links`` list with Nova's next link: the same query, ``marker`` the page's
    last item, at Cascade's ``path`` (under ``/compute/v2.1``)."""
    params = [(k, v) for k, v in request.query.items() if k != "marker"]
    params.append(("marker", marker))
    return [{"rel": "next", "href": f"{compute_base(request)}{path}?{urlencode(params)}"}]
