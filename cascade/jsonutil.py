"""Fast JSON for the hot paths (orjson), with the standard library's semantics kept.

Every answer Cascade forwards is decoded (ids rewritten) and encoded again, so
JSON speed is a visible share of the time per request.
"""
from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

__all__ = ["loads", "dumps", "json_response"]

loads = orjson.loads


def dumps(data: Any) -> str:
    """JSON text; non-JSON types (datetimes, sets) fall back to ``str``."""
    return orjson.dumps(data, default=str).decode()


def json_response(data: Any, *, status: int = 200,
                  headers: Any = None) -> web.Response:
    """``web.json_response`` with orjson."""
    return web.Response(body=orjson.dumps(data, default=str), status=status,
                        headers=headers, content_type="application/json")
