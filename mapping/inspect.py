"""Read-only inspection of mappings, for operators (``/v1/mappings``, ``cascade-manage
mapping``).

A mapping row is one placement: a global resource and the region, regional id
and state of one of its copies. Resources Cascade holds without any copy yet
(deferred ports, networks no region needed so far, images without data) are
shown too, as one row with no region and state ``deferred``, so that nothing
Cascade holds is invisible to the operator.

Rows are ordered by (global id, region) and paged with a marker naming the
last row seen: ``GLOBAL_ID@REGION``, or ``GLOBAL_ID`` for a row without a
region (global ids are UUIDs, so they never hold ``@``). A marker need not
name a row that still exists: paging is by key, not by position.

Nothing here is project-scoped: callers are admins.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Sequence, Unpack

from sqlalchemy import ColumnElement, Row, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cascade import errors
from cascade.db.models import Placement, Resource

__all__ = ["DEFERRED", "list_mappings", "show_mapping", "marker_of", "parse_marker",
           "attrs_summary"]

#: State shown for a resource that has no placement in any region.
DEFERRED = "deferred"

#: Longest attribute text shown in a ``show``; longer values are cut.
_SUMMARY_TEXT = 80
#: Attribute keys never shown, whatever resource carries them.
_SECRET_HINTS = ("pass", "token", "secret")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _name() -> ColumnElement[str | None]:
    # Networks, ports and servers keep their name in the cached attributes;
    # images in the spec. Extracted in SQL so lists never load the documents.
    return func.coalesce(Resource.attrs["name"].as_string(),
                         Resource.spec["name"].as_string())


def _region_key() -> ColumnElement[str]:
    # NULL sorts first on SQLite and last on PostgreSQL; '' sorts first on both,
    # and no region is named ''.
    return func.coalesce(Placement.region, "")


def marker_of(row: dict[str, Any]) -> str:
    """The marker naming a row of ``list_mappings``."""
    return f"{row['global_id']}@{row['region']}" if row["region"] else str(row["global_id"])


def parse_marker(marker: str) -> tuple[str, str]:
    """(global id, region or '') from a marker.

    :raises BadRequest: an empty marker.
    """
    global_id, _, region = marker.partition("@")
    if not global_id:
        raise errors.BadRequest(f"Invalid marker {marker!r}: expected GLOBAL_ID[@REGION]")
    return global_id, region


def _list_row(row: Row[Unpack[tuple[Any, ...]]]) -> dict[str, Any]:
    placed = row.placement_id is not None
    return {
        "global_id": row.global_id, "type": row.type, "project_id": row.project_id,
        "region": row.region, "local_id": row.local_id,
        "state": row.state if placed else DEFERRED, "status": row.status,
        "name": row.name,
        # A mapping row is the placement: its own times when there is one.
        "created_at": _iso(row.pl_created_at if placed else row.res_created_at),
        "updated_at": _iso(row.pl_updated_at if placed else row.res_updated_at),
        "last_seen": _iso(row.last_seen),
    }


async def list_mappings(session: AsyncSession, *, type_: str | None = None,
                        project_id: str | None = None, region: str | None = None,
                        state: str | None = None, limit: int | None = None,
                        marker: str | None = None) -> list[dict[str, Any]]:
    """Mapping rows (one per placement, one per unplaced resource), filtered and paged.

    ``state`` ``deferred`` selects the resources without any placement; a
    ``region`` filter leaves those out. Empty filters are no filters.

    :raises BadRequest: a malformed marker.
    """
    region_key = _region_key()
    stmt = (select(Resource.global_id, Resource.type, Resource.project_id, Resource.status,
                   Resource.created_at.label("res_created_at"),
                   Resource.updated_at.label("res_updated_at"), _name().label("name"),
                   Placement.id.label("placement_id"), Placement.region, Placement.local_id,
                   Placement.state, Placement.created_at.label("pl_created_at"),
                   Placement.updated_at.label("pl_updated_at"), Placement.last_seen)
            .outerjoin(Placement, Placement.global_id == Resource.global_id)
            .order_by(Resource.global_id, region_key))
    if type_:
        stmt = stmt.where(Resource.type == type_)
    if project_id:
        stmt = stmt.where(Resource.project_id == project_id)
    if region:
        stmt = stmt.where(Placement.region == region)
    if state == DEFERRED:
        stmt = stmt.where(Placement.id.is_(None))
    elif state:
        stmt = stmt.where(Placement.state == state)
    if marker:
        after_id, after_region = parse_marker(marker)
        stmt = stmt.where(or_(Resource.global_id > after_id,
                              and_(Resource.global_id == after_id, region_key > after_region)))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_list_row(r) for r in (await session.execute(stmt)).all()]


def _summary_value(value: Any) -> Any:
    if isinstance(value, dict):
        return f"<{len(value)} keys>"
    if isinstance(value, list):
        if all(isinstance(v, (str, int, float, bool)) or v is None for v in value):
            text = ", ".join(str(v) for v in value)
            if len(text) <= _SUMMARY_TEXT:
                return value
        return f"<{len(value)} items>"
    if isinstance(value, str) and len(value) > _SUMMARY_TEXT:
        return value[:_SUMMARY_TEXT] + "..."
    return value


def attrs_summary(attrs: dict[str, Any] | None) -> dict[str, Any]:
    """The cached attributes, short: scalars (long text cut), sizes of nested values.

    NOTE: keys that look like secrets are masked; cached views should hold
    none, but an inspection tool must not be the place one leaks from.
    """
    return {k: "***" if any(h in k.lower() for h in _SECRET_HINTS) else _summary_value(v)
            for k, v in sorted((attrs or {}).items())}


def _placement_view(pl: Placement) -> dict[str, Any]:
    return {"region": pl.region, "local_id": pl.local_id, "state": pl.state,
            "last_seen": _iso(pl.last_seen), "lease_owner": pl.lease_owner,
            "lease_expires": _iso(pl.lease_expires), "created_at": _iso(pl.created_at),
            "updated_at": _iso(pl.updated_at)}


def _resource_view(res: Resource, placements: Sequence[Placement],
                   matched: list[str]) -> dict[str, Any]:
    name = (res.attrs or {}).get("name") or (res.spec or {}).get("name")
    return {
        "global_id": res.global_id, "type": res.type, "project_id": res.project_id,
        "user_id": res.user_id, "name": name, "status": res.status, "usage": res.usage,
        "created_at": _iso(res.created_at), "updated_at": _iso(res.updated_at),
        "matched": matched,
        # Keys only: the create request may carry user data and other secrets.
        "spec_keys": sorted(res.spec or {}),
        "attrs": attrs_summary(res.attrs),
        "placements": [_placement_view(p) for p in placements],
    }


async def show_mapping(session: AsyncSession, any_id: str) -> dict[str, Any]:
    """Every resource ``any_id`` names: as a global id, or as a regional id in any region.

    Several resources can answer (regional ids are unique only per type and
    region); each lists how it matched (``global_id`` or ``local_id@REGION``)
    and all its placements. Answer: ``{"id": any_id, "resources": [...]}``.

    :raises MappingNotFound: no resource has this id, globally or in any region.
    """
    matched: dict[str, list[str]] = {}
    if await session.scalar(select(Resource.global_id).where(Resource.global_id == any_id)):
        matched[any_id] = ["global_id"]
    local = await session.execute(select(Placement.global_id, Placement.region)
                                  .where(Placement.local_id == any_id)
                                  .order_by(Placement.region))
    for global_id, region in local.all():
        matched.setdefault(global_id, []).append(f"local_id@{region}")
    if not matched:
        raise errors.MappingNotFound(f"No mapping for {any_id}, globally or in any region")
    ids = sorted(matched)
    resources = (await session.scalars(select(Resource).where(Resource.global_id.in_(ids))
                                       .order_by(Resource.global_id))).all()
    placements = (await session.scalars(select(Placement).where(Placement.global_id.in_(ids))
                                        .order_by(Placement.region))).all()
    by_id: dict[str, list[Placement]] = {}
    for pl in placements:
        by_id.setdefault(pl.global_id, []).append(pl)
    return {"id": any_id,
            "resources": [_resource_view(r, by_id.get(r.global_id, []), matched[r.global_id])
                          for r in resources]}
