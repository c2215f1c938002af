"""What every part of the quota ledger shares: its tables, the statements that
move its counts, the clock, the dialect, and the check of a request's deltas.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from sqlalchemy import Table, and_, bindparam, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from cascade.db.models import Base
from cascade.quota import resources as catalogue

__all__ = ["LIMITS", "USAGES", "RESERVATIONS", "RESOURCES", "GUARDED", "ADD", "MOVE",
           "UNRESERVE", "now", "postgresql", "insert", "checked", "ensure_row"]

LIMITS: Table = Base.metadata.tables["quota_limits"]
USAGES: Table = Base.metadata.tables["quota_usages"]
RESERVATIONS: Table = Base.metadata.tables["reservations"]
RESOURCES: Table = Base.metadata.tables["resources"]


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert(session: AsyncSession) -> Any:
    return pg_insert if postgresql(session) else sqlite_insert


def checked(deltas: Mapping[str, int], *, negative_ok: bool = False) -> dict[str, int]:
    """The non-zero deltas; :raises ValueError: a resource the ledger does not count."""
    out = {}
    for name, delta in deltas.items():
        if name not in catalogue.COUNTED:
            raise ValueError(f"{name} is not a counted quota resource")
        if delta < 0 and not negative_ok:
            raise ValueError(f"negative quota delta for {name}: {delta}")
        if delta:
            out[name] = int(delta)
    return out


# The guarded statements are built once: compiled once, cached by SQLAlchemy.
_P: BindParameter[str] = bindparam("p")
_R: BindParameter[str] = bindparam("r")
_D: BindParameter[int] = bindparam("d")
_LIMIT = func.coalesce(
    select(LIMITS.c.hard_limit)
    .where(LIMITS.c.project_id == _P, LIMITS.c.resource == _R).scalar_subquery(),
    bindparam("default"))
_ROW = and_(USAGES.c.project_id == _P, USAGES.c.resource == _R)
_WITHIN = or_(_LIMIT < 0, USAGES.c.in_use + USAGES.c.reserved + _D <= _LIMIT)


def _floor0(expr: Any) -> Any:
    return case((expr < 0, 0), else_=expr)


GUARDED = {
    "reserved": update(USAGES).where(_ROW, _WITHIN).values(
        reserved=USAGES.c.reserved + _D, updated_at=bindparam("now")
    ).returning(USAGES.c.resource),
    "in_use": update(USAGES).where(_ROW, _WITHIN).values(
        in_use=USAGES.c.in_use + _D, updated_at=bindparam("now")
    ).returning(USAGES.c.resource),
}
ADD = {  # unguarded: undoing, committing, giving back (never below 0)
    "reserved": update(USAGES).where(_ROW).values(
        reserved=_floor0(USAGES.c.reserved + _D), updated_at=bindparam("now")),
    "in_use": update(USAGES).where(_ROW).values(
        in_use=_floor0(USAGES.c.in_use + _D), updated_at=bindparam("now")),
}
MOVE = update(USAGES).where(_ROW).values(  # reserved -> in_use
    reserved=_floor0(USAGES.c.reserved - _D), in_use=USAGES.c.in_use + _D,
    updated_at=bindparam("now"))
UNRESERVE = update(USAGES).where(_ROW).values(
    reserved=_floor0(USAGES.c.reserved - _D), updated_at=bindparam("now"))


async def ensure_row(session: AsyncSession, project_id: str, resource: str) -> None:
    """Create the usage row on first use (a concurrent creator wins harmlessly)."""
    await session.execute(insert(session)(USAGES).values(
        project_id=project_id, resource=resource, in_use=0, reserved=0, updated_at=now()
    ).on_conflict_do_nothing(index_elements=["project_id", "resource"]))
