"""Cascade's public base URL, as tenants must see it in links and Location headers."""
from __future__ import annotations

from aiohttp import web

__all__ = ["PublicUrls"]


class PublicUrls:
    """Cascade's base URL: ``[api] public_url``, else the request's scheme and host.

    Bases worked out from requests are remembered per (scheme, Host): every
    forwarded answer needs one, and the Host header barely ever varies. The
    memory is bounded, since the header is the caller's to choose.
    """

    _MAX = 64

    def __init__(self, public_url: str | None) -> None:
        self._fixed = public_url.rstrip("/") if public_url else None
        self._seen: dict[tuple[str, str], str] = {}

    def base(self, request: web.Request) -> str:
        if self._fixed is not None:
            return self._fixed
        key = (request.scheme, request.host)
        base = self._seen.get(key)
        if base is None:
            if len(self._seen) >= self._MAX:
                self._seen.clear()
            base = self._seen[key] = f"{key[0]}://{key[1]}"
        return base
