"""Reading request bodies: bounded (the app's client_max_size) and JSON-checked.

A body is accepted only if every later step can handle it: strict JSON (no
``NaN``/``Infinity``, valid UTF-8, no lone surrogates, no NUL characters),
nested at most ``MAX_DEPTH`` deep, and numbers within 64 signed bits (what
the services' databases hold). Anything else is the caller's 400, before any handler runs.
"""
from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from cascade import errors

__all__ = ["json_body", "parse_json", "MAX_DEPTH"]

#: Deepest nesting a body may have. The services' bodies stay under 6 levels
#: (Neutron's ``binding:profile`` is the deepest); 32 leaves room, and keeps
#: every recursive walk over a body far from Python's recursion limit.
MAX_DEPTH = 32
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
_FLOAT_MAX = float(1 << 62)

_MALFORMED = "Malformed request body"


def _check(value: Any, depth: int) -> bool:
    """Whether ``value`` is within the depth and integer limits."""
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return False
        return all(_check(v, depth + 1) and "\x00" not in k for k, v in value.items())
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            return False
        return all(_check(v, depth + 1) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _INT_MIN <= value <= _INT_MAX
    if isinstance(value, float):
        # orjson reads integers past 64 bits as floats, and PostgreSQL's JSONB
        # gives a float back as the integer its decimal form spells (-9.2e18
        # comes back past 64 bits): floats stay well inside that range.
        return -_FLOAT_MAX <= value <= _FLOAT_MAX
    if isinstance(value, str):
        return "\x00" not in value  # PostgreSQL's text cannot hold NUL
    return True


def parse_json(raw: bytes, message: str = _MALFORMED) -> Any:
    """``raw`` as JSON within Cascade's limits.

    :raises BadRequest: empty, malformed, too deep, or an integer out of range.
    """
    if not raw:
        raise errors.BadRequest(message)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.BadRequest(message) from None
    if not _check(value, 0):
        raise errors.BadRequest(message)
    return value


async def json_body(request: web.Request) -> Any:
    """The parsed JSON body.

    :raises BadRequest: empty or malformed body ("Malformed request body", as Nova says).
    """
    return parse_json(await request.read())
