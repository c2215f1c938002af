"""Region rows: add, update, remove, with the checks an operator expects."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cascade import errors
from cascade.regions import paths
from cascade.db.models import HealthState, Placement, Region, RegionHealthEvent

__all__ = ["EDITABLE", "add_region", "update_region", "remove_region", "get_region",
           "health_history", "placement_count"]

#: Fields an operator may set, with their types.
EDITABLE: dict[str, type | tuple[type, ...]] = {
    "availability_zone": str, "local_availability_zone": (str, type(None)),
    "compute_endpoint": (str, type(None)), "image_endpoint": (str, type(None)),
    "network_endpoint": (str, type(None)), "weight": int, "enabled": bool,
}


def _check(fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        if key not in EDITABLE:
            raise errors.BadRequest(f"Unknown region attribute: {key}")
        if not isinstance(value, EDITABLE[key]) or (key == "weight" and isinstance(value, bool)):
            raise errors.BadRequest(f"Invalid value for {key}: {value!r}")
        if key == "availability_zone" and not str(value).strip():
            raise errors.BadRequest("availability_zone must not be empty")
        if key.endswith("_endpoint") and value is not None:
            paths.endpoint_url(str(value))


async def get_region(session: AsyncSession, name: str) -> Region:
    """:raises NotFound: no such region."""
    row = await session.get(Region, name)
    if row is None:
        raise errors.NotFound(f"Region {name} not found")
    return row


async def add_region(session: AsyncSession, name: str, fields: dict[str, Any]) -> Region:
    """Register a region (source "api").

    :raises BadRequest: bad name or fields.
    :raises Conflict: the name or the availability zone is taken.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise errors.BadRequest("Region name must be a non-empty string")
    try:
        paths.segment(name)  # named in /v1/regions/{name} and in config groups
    except paths.UnsafePath:
        raise errors.BadRequest("Region name must not hold '/', '\\' or control "
                                "characters, nor be '.' or '..'") from None
    _check(fields)
    if await session.get(Region, name) is not None:
        raise errors.Conflict(f"Region {name} already exists")
    row = Region(name=name, source="api", health=HealthState.UNKNOWN, capabilities={},
                 enabled=True, weight=1, availability_zone=name)
    for key, value in fields.items():
        setattr(row, key, value)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        raise errors.Conflict(
            f"Availability zone {row.availability_zone} is already used") from None
    return row


async def update_region(session: AsyncSession, name: str, fields: dict[str, Any]) -> Region:
    """Change a region's settings.

    :raises NotFound: no such region.
    :raises Conflict: the availability zone is taken.
    """
    _check(fields)
    row = await get_region(session, name)
    for key, value in fields.items():
        setattr(row, key, value)
    try:
        await session.flush()
    except IntegrityError:
        raise errors.Conflict(
            f"Availability zone {fields.get('availability_zone')} is already used") from None
    return row


async def remove_region(session: AsyncSession, name: str) -> None:
    """Unregister a region that holds nothing of Cascade's.

    :raises NotFound: no such region.
    :raises Conflict: placements still point at it.
    """
    row = await get_region(session, name)
    count = await session.scalar(select(func.count()).select_from(Placement)
                                 .where(Placement.region == name))
    if count:
        raise errors.Conflict(f"Region {name} still holds {count} placements")
    await session.delete(row)


async def health_history(session: AsyncSession, name: str,
                         limit: int = 20) -> list[RegionHealthEvent]:
    """The region's latest health changes, newest first."""
    return list((await session.scalars(
        select(RegionHealthEvent).where(RegionHealthEvent.region == name)
        .order_by(RegionHealthEvent.at.desc(), RegionHealthEvent.id.desc())
        .limit(limit))).all())


async def placement_count(session: AsyncSession, name: str) -> int:
    """How many placements the region holds (a drained region goes to zero)."""
    return int(await session.scalar(select(func.count()).select_from(Placement)
                                    .where(Placement.region == name)) or 0)
