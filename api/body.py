"""Reading request bodies: bounded (the app's client_max_size) and JSON-checked."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from cascade import errors

__all__ = ["json_body"]


async def json_body(request: web.Request) -> Any:
    """The parsed JSON body.

    :raises BadRequest: empty or malformed body ("Malformed request body", as Nova says).
    """
    raw = await request.read()
    if not raw:
        raise errors.BadRequest("Malformed request body")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise errors.BadRequest("Malformed request body") from None
