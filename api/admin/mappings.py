"""/v1/mappings: where every global object lives (admin role only, every project).

``GET /v1/mappings`` lists mapping rows (one per placement, one per resource
without any) with filters and key-based pages; ``GET /v1/mappings/{id}``
resolves a global or a regional id. Both read only; the queries are in
``mapping/inspect.py``, shared with ``cascade-manage mapping``.
"""
from __future__ import annotations

from aiohttp import web

from cascade.api.urls import public_base
from cascade import errors
from cascade.appkeys import CTX, SESSIONS
from cascade.jsonutil import json_response
from cascade.mapping import inspect

__all__ = ["list_mappings", "show_mapping", "DEFAULT_LIMIT", "MAX_LIMIT"]

#: Rows per page when the caller gives no ``limit``, and the most it may ask for.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

_FILTERS = ("type", "project_id", "region", "state")


def _require(request: web.Request, verb: str) -> None:
    """:raises PolicyForbidden: ``cascade:mappings:<verb>`` refused."""
    request[CTX].can(f"cascade:mappings:{verb}")


def _limit(request: web.Request) -> int:
    try:
        limit = int(request.query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise errors.BadRequest("limit must be an integer") from None
    if limit < 1:
        raise errors.BadRequest("limit must be at least 1")
    return min(limit, MAX_LIMIT)


async def list_mappings(request: web.Request) -> web.Response:
    """GET /v1/mappings?type=&project_id=&region=&state=&limit=&marker=.

    ``{"mappings": [...]}``, plus ``"next"`` (this URL with the last row's
    marker) when more rows follow.
    """
    _require(request, "list")
    q = request.query
    limit = _limit(request)
    async with request.config_dict[SESSIONS]() as session:
        # One row more than asked tells whether a next page exists.
        rows = await inspect.list_mappings(
            session, type_=q.get("type"), project_id=q.get("project_id"),
            region=q.get("region"), state=q.get("state"), limit=limit + 1,
            marker=q.get("marker"))
    body: dict[str, object] = {"mappings": rows[:limit]}
    if len(rows) > limit:
        query = {k: v for k, v in q.items() if k in _FILTERS or k == "limit"}
        query["marker"] = inspect.marker_of(rows[limit - 1])
        body["next"] = public_base(request) + str(request.rel_url.with_query(query))
    return json_response(body)


async def show_mapping(request: web.Request) -> web.Response:
    """GET /v1/mappings/{id}: a global id, or a regional id in any region (404 if none)."""
    _require(request, "show")
    async with request.config_dict[SESSIONS]() as session:
        found = await inspect.show_mapping(session, request.match_info["id"])
    return json_response({"mapping": found})
