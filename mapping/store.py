"""Reading and writing mappings (resources and their placements).

Every function takes the caller's ``AsyncSession``; none opens its own, so the
caller decides the transaction. Lookups by tenants are always project-scoped.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any, Iterable, Sequence

from sqlalchemy import bindparam, case, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cascade import errors, jsonutil
from cascade.db.models import Placement, PlacementState, Resource

__all__ = ["new_global_id", "create_resource", "ensure_placement", "map_local_ids",
           "regions_in_use",
           "Located", "locate", "resolve", "resolve_local_ids",
           "regions_of_project", "pending_of_project", "activate", "remove_rows",
           "resources_in_region",
           "placements_in_state"]


def new_global_id() -> str:
    """A fresh global UUID."""
    return str(uuid.uuid4())


def create_resource(session: AsyncSession, *, global_id: str, type_: str, project_id: str,
                    user_id: str | None, region: str, spec: dict[str, Any],
                    attrs: dict[str, Any], status: str,
                    usage: dict[str, int] | None = None) -> tuple[Resource, Placement]:
    """Add a resource and its placement in state *creating* (no local id yet).

    ``usage`` is what the resource counts against its project's quota (e.g.
    ``{"instances": 1, "cores": 2, "ram": 512}``); write it in the transaction
    that commits the quota reservation, and ``cascade.quota.forget`` gives it back.
    """
    res = Resource(global_id=global_id, type=type_, project_id=project_id, user_id=user_id,
                   spec=spec, attrs=attrs, status=status, usage=usage)
    pl = Placement(global_id=global_id, resource_type=type_, region=region,
                   state=PlacementState.CREATING)
    session.add_all([res, pl])
    return res, pl


async def ensure_placement(session: AsyncSession, *, global_id: str, type_: str,
                           region: str, local_id: str | None, state: str) -> None:
    """Add a placement unless one exists for (resource, region); safe under concurrency.

    Many requests may want the same replica at once; the unique (global_id,
    region) constraint picks one writer and the others carry on.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = dt.datetime.now(dt.timezone.utc)
    await session.execute(insert(Placement).values(
        global_id=global_id, resource_type=type_, region=region, local_id=local_id,
        state=state, created_at=now, updated_at=now,
    ).on_conflict_do_nothing(index_elements=[Placement.global_id, Placement.region]))


async def resolve(session: AsyncSession, type_: str, global_id: str,
                  project_id: str | None) -> tuple[Resource, Placement]:
    """The resource and its (first) placement; ``project_id`` None means any project.

    :raises MappingNotFound: no such id of that type visible to the project.
    """
    stmt = (select(Resource, Placement).join(Placement, Placement.global_id == Resource.global_id)
            .where(Resource.global_id == global_id, Resource.type == type_)
            .order_by(Placement.id).limit(1))
    if project_id is not None:
        stmt = stmt.where(Resource.project_id == project_id)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise errors.MappingNotFound(f"{type_} {global_id} not found")
    return row[0], row[1]


@dataclasses.dataclass(frozen=True, slots=True)
class Located:
    """Where a resource lives, with the view Cascade cached of it: what the show path
    needs, read as columns (no ORM objects)."""

    global_id: str
    project_id: str
    status: str
    region: str
    local_id: str | None
    state: str
    #: The cached regional view (``attrs["server"]`` for servers), if any.
    view: dict[str, Any] | None


def _locate_stmt(with_project: bool) -> Any:
    stmt = (select(Resource.project_id, Resource.status, Resource.attrs["server"],
                   Placement.region, Placement.local_id, Placement.state)
            .join(Placement, Placement.global_id == Resource.global_id)
            .where(Resource.global_id == bindparam("gid"), Resource.type == bindparam("type"))
            .order_by(Placement.id).limit(1))
    return stmt.where(Resource.project_id == bindparam("project")) if with_project else stmt


#: Built once: SQLAlchemy then compiles each form once.
_LOCATE = {True: _locate_stmt(True), False: _locate_stmt(False)}

#: The same statements, compiled once for asyncpg itself (its own prepared-statement
#: cache): on PostgreSQL the show path skips SQLAlchemy's statement layer, about
#: half of the look-up's time. (SQL, the constant parameters, the parameters' order).
_LOCATE_PG = {with_project: (c.string, dict(c.params), tuple(c.positiontup or ()))
              for with_project, c in ((w, stmt.compile(dialect=asyncpg_dialect()))
                                      for w, stmt in _LOCATE.items())}


async def locate(conn: AsyncConnection | AsyncSession, type_: str, global_id: str,
                 project_id: str | None) -> Located:
    """``resolve`` for the hot path: one Core statement, columns only; ``conn`` is
    best an autocommit connection (``cascade.db.engine.autocommit``).

    :raises MappingNotFound: no such id of that type visible to the project.
    """
    row: Any
    params = {"gid": global_id, "type": type_}
    if project_id is not None:
        params["project"] = project_id
    if isinstance(conn, AsyncConnection) and conn.dialect.name == "postgresql":
        sql, constants, order = _LOCATE_PG[project_id is not None]
        values = {**constants, **params}
        row = await _fetchrow_pg(conn, sql, [values[name] for name in order])
    else:
        row = (await conn.execute(_LOCATE[project_id is not None], params)).first()
    if row is None:
        raise errors.MappingNotFound(f"{type_} {global_id} not found")
    project, status, view, region, local_id, state = row
    if isinstance(view, (str, bytes)):  # asyncpg hands JSON over as text
        view = jsonutil.loads(view)
    return Located(global_id, project, status, region, local_id, state,
                   view if isinstance(view, dict) else None)


async def _fetchrow_pg(conn: AsyncConnection, sql: str, args: Sequence[Any]) -> Any:
    """One row through asyncpg itself, on ``conn``'s connection.

    A connection the database closed (a restart) is replaced first: the driver
    knows without a round trip, so pools without pre-ping stay safe. One that
    fails mid-statement is dropped from the pool (the error goes on: a 503).
    """
    import asyncpg

    driver: Any = (await conn.get_raw_connection()).driver_connection
    if driver.is_closed():
        await conn.invalidate()
        driver = (await conn.get_raw_connection()).driver_connection
    try:
        return await driver.fetchrow(sql, *args)
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
        await conn.invalidate()
        raise


async def resolve_local_ids(session: AsyncSession, type_: str, region: str,
                            local_ids: Iterable[str],
                            project_id: str | None) -> dict[str, tuple[Resource, Placement]]:
    """Map regional ids to their resource and placement; unmapped ids are absent."""
    ids = list(local_ids)
    if not ids:
        return {}
    stmt = (select(Resource, Placement).join(Placement, Placement.global_id == Resource.global_id)
            .where(Placement.resource_type == type_, Placement.region == region,
                   Placement.local_id.in_(ids)))
    if project_id is not None:
        stmt = stmt.where(Resource.project_id == project_id)
    return {pl.local_id: (res, pl) for res, pl in (await session.execute(stmt)).all()
            if pl.local_id is not None}


async def map_local_ids(session: AsyncSession, type_: str, region: str,
                        local_ids: Iterable[str], project_id: str | None
                        ) -> dict[str, tuple[str, str, str]]:
    """Regional id -> (global id, project, placement state); columns only, no documents.

    The list hot path needs just the ids; loading whole rows would decode every
    cached view for nothing.
    """
    ids = list(local_ids)
    if not ids:
        return {}
    stmt = (select(Placement.local_id, Placement.global_id, Resource.project_id,
                   Placement.state)
            .join(Resource, Resource.global_id == Placement.global_id)
            .where(Placement.resource_type == type_, Placement.region == region,
                   Placement.local_id.in_(ids)))
    if project_id is not None:
        stmt = stmt.where(Resource.project_id == project_id)
    return {str(lid): (gid, proj, state)
            for lid, gid, proj, state in (await session.execute(stmt)).all()}


async def regions_in_use(session: AsyncSession, type_: str,
                         project_id: str | None) -> tuple[set[str], bool]:
    """(regions holding the project's objects of this type, whether any is pending).

    One query for the list hot path; pending rows are loaded only when present.
    """
    pending = func.max(case((Placement.local_id.is_(None), 1), else_=0))
    stmt = (select(Placement.region, pending).where(Placement.resource_type == type_)
            .group_by(Placement.region))
    if project_id is not None:
        stmt = stmt.join(Resource, Resource.global_id == Placement.global_id).where(
            Resource.project_id == project_id)
    rows = (await session.execute(stmt)).all()
    return {r for r, _ in rows}, any(p for _, p in rows)


async def regions_of_project(session: AsyncSession, type_: str,
                             project_id: str | None) -> set[str]:
    """Regions where the project (or anyone, for None) has a placement of this type."""
    stmt = select(Placement.region).where(Placement.resource_type == type_).distinct()
    if project_id is not None:
        stmt = stmt.join(Resource, Resource.global_id == Placement.global_id).where(
            Resource.project_id == project_id)
    return set((await session.scalars(stmt)).all())


async def pending_of_project(session: AsyncSession, type_: str,
                             project_id: str | None) -> Sequence[tuple[Resource, Placement]]:
    """Placements still creating (no local id): shown from their spec."""
    stmt = (select(Resource, Placement).join(Placement, Placement.global_id == Resource.global_id)
            .where(Placement.resource_type == type_, Placement.local_id.is_(None)))
    if project_id is not None:
        stmt = stmt.where(Resource.project_id == project_id)
    return [(res, pl) for res, pl in (await session.execute(stmt)).all()]


async def resources_in_region(session: AsyncSession, type_: str, region: str,
                              project_id: str | None) -> Sequence[tuple[Resource, Placement]]:
    """Every resource of a type placed in ``region`` (for the project, or all)."""
    stmt = (select(Resource, Placement).join(Placement, Placement.global_id == Resource.global_id)
            .where(Placement.resource_type == type_, Placement.region == region))
    if project_id is not None:
        stmt = stmt.where(Resource.project_id == project_id)
    return [(res, pl) for res, pl in (await session.execute(stmt)).all()]


async def placements_in_state(session: AsyncSession, type_: str,
                              state: str) -> Sequence[Placement]:
    """Every placement of a type in ``state`` (for sweeps)."""
    stmt = select(Placement).where(Placement.resource_type == type_, Placement.state == state)
    return (await session.scalars(stmt)).all()


async def activate(session: AsyncSession, placement_id: int, local_id: str,
                   *, status: str | None = None, attrs: dict[str, Any] | None = None) -> None:
    """Record the regional id; the placement becomes active."""
    pl = await session.get(Placement, placement_id)
    if pl is None:
        raise errors.MappingNotFound(f"placement {placement_id} vanished")
    pl.local_id, pl.state = local_id, PlacementState.ACTIVE
    pl.last_seen = dt.datetime.now(dt.timezone.utc)
    res = await session.get(Resource, pl.global_id)
    if res is not None:
        if status:
            res.status = status
        if attrs:
            res.attrs = {**res.attrs, **attrs}


async def remove_rows(session: AsyncSession, global_id: str
                      ) -> tuple[str, dict[str, Any]] | None:
    """Delete a resource and all its placements.

    :returns: (project, usage) of the row this call deleted; None when it was
        gone already (a concurrent remove), so only one caller gives the usage
        back (``cascade.quota.forget``).
    """
    await session.execute(delete(Placement).where(Placement.global_id == global_id))
    gone = (await session.execute(delete(Resource).where(Resource.global_id == global_id)
                                  .returning(Resource.project_id, Resource.usage))).first()
    if gone is None:
        return None
    return str(gone.project_id), dict(gone.usage or {})
