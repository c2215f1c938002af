"""Cached server views: what Cascade last saw of each server, for down-region answers.

The whole rewritten (global) server body is kept in ``resources.attrs["server"]``
and refreshed whenever a regional answer shows it changed. When a region cannot
answer, the cached body is served with status ``UNKNOWN`` (Nova 2.69 semantics
for down cells); older microversions get the cached body unchanged.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from cascade.db.models import Resource

__all__ = ["SERVER", "store_views", "cached_view", "spec_view", "UNKNOWN_MICROVERSION",
           "supports_unknown"]

LOG = logging.getLogger(__name__)

#: The mapping type (``resources.type``) of a server.
SERVER = "server"

#: First compute microversion whose clients understand status UNKNOWN.
UNKNOWN_MICROVERSION = (2, 69)

def supports_unknown(microversion: str) -> bool:
    major, _, minor = microversion.partition(".")
    return (int(major), int(minor or 0)) >= UNKNOWN_MICROVERSION


async def store_views(sessions: async_sessionmaker[AsyncSession],
                      views: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Store fresh views ``(global_id, server)``; one transaction for all.

    Best effort, and never in the way: the rows are read locked (in one
    statement, in key order), a row another transaction holds (a delete, the
    reconciler) is skipped rather than waited for, and a row deleted meanwhile
    is simply not there. Without the lock, a delete committed between the read
    and the write left the write matching no row, and the list that carried it
    failed. SQLite takes no row locks (and pysqlite begins its transaction only
    at the first write): there the batch is dropped when a row went meanwhile,
    and the next answer stores it again.
    """
    fresh = dict(views)
    if not fresh:
        return
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    try:
        async with sessions.begin() as session:
            rows = await session.scalars(
                select(Resource).where(Resource.global_id.in_(sorted(fresh)))
                .order_by(Resource.global_id).with_for_update(skip_locked=True))
            for res in rows:
                server = fresh[res.global_id]
                res.attrs = {**res.attrs, "server": server, "seen_at": now,
                             "created": server.get("created", res.attrs.get("created")),
                             "name": server.get("name", res.attrs.get("name"))}
                res.status = str(server.get("status", res.status))
    except StaleDataError:
        LOG.debug("server views not cached: a server went meanwhile")


def spec_view(res: Resource, cascade_base: str) -> dict[str, Any]:
    """A server built from its create request (regional create not answered yet)."""
    link = f"{cascade_base}/servers/{res.global_id}"
    body: dict[str, Any] = {
        "id": res.global_id, "name": res.attrs.get("name", ""), "status": res.status,
        "tenant_id": res.project_id, "user_id": res.user_id,
        "metadata": res.spec.get("metadata", {}), "created": res.attrs.get("created"),
        "updated": res.attrs.get("created"), "addresses": {},
        "image": {"id": res.attrs.get("image_id")} if res.attrs.get("image_id") else "",
        "flavor": {"id": res.attrs.get("flavor_id")},
        "OS-EXT-AZ:availability_zone": res.attrs.get("availability_zone", ""),
        "key_name": res.spec.get("key_name"),
        "links": [{"rel": "self", "href": link},
                  {"rel": "bookmark", "href": link.replace("/v2.1/", "/")}],
    }
    if "fault" in res.attrs:
        body["fault"] = res.attrs["fault"]
    return body


def cached_view(res: Resource, cascade_base: str, microversion: str,
                max_age: float | None = None) -> dict[str, Any]:
    """What to answer for a server whose region cannot be asked now.

    From 2.69 the status is ``UNKNOWN``; older microversions get the cached
    status, unless it was last seen more than ``max_age`` seconds ago: a stale
    status is never shown as current, so it becomes ``UNKNOWN`` too. The view
    says when Cascade last saw the server (``cascade:cached_at``).
    """
    view = dict(res.attrs.get("server") or spec_view(res, cascade_base))
    seen = res.attrs.get("seen_at")
    view["cascade:cached_at"] = seen
    if supports_unknown(microversion) or (max_age is not None and _older(seen, max_age)):
        view["status"] = "UNKNOWN"
    return view


def _older(seen: str | None, max_age: float) -> bool:
    if not seen:
        return True
    try:
        when = dt.datetime.fromisoformat(seen)
    except ValueError:
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (dt.datetime.now(dt.timezone.utc) - when).total_seconds() > max_age
