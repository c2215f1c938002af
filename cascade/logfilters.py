"""Log noise an unauthenticated caller must not be able to make.

aiohttp logs every malformed HTTP request (bad request line, header, chunk or
length) at ERROR with a 20-line traceback, before any handler or middleware
runs. Anyone can send those, so they become one line at INFO: the caller was
answered 400 by aiohttp already; nothing in Cascade went wrong.
"""
from __future__ import annotations

import logging

from aiohttp import http_exceptions

__all__ = ["MalformedRequestFilter", "install"]


class MalformedRequestFilter(logging.Filter):
    """Rewrites aiohttp's records about malformed requests to one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, http_exceptions.HttpProcessingError) and exc.code == 400:
            record.levelno, record.levelname = logging.INFO, "INFO"
            message = (exc.message or type(exc).__name__).replace("\n", " ").strip()
            record.msg = "malformed HTTP request answered 400: %s: %.200s"
            record.args = (type(exc).__name__, message)
            record.exc_info, record.exc_text = None, None
        return True


def install() -> None:
    """Add the filter to aiohttp's server logger (once)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestFilter) for f in logger.filters):
        logger.addFilter(MalformedRequestFilter())
