"""Status reconciliation: per region, the servers changed since a persisted watermark.

Each pass asks the region (as Cascade, ``all_tenants``) for servers changed
since the watermark minus a margin for clock skew, page by page, updates the
cached status of the mapped ones, and finishes deletes: a server the region
reports deleted whose placement was *deleting* loses its mapping (its quota
goes back in the same transaction); one Cascade did not delete is marked
*missing* for the audit and the operator. The watermark then moves to the
pass's start. The cost of a pass grows with the number of changes, not with
the number of servers. A notification makes :func:`refresh_server` look at
one server at once.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from typing import Any, Iterable, cast

from sqlalchemy import String, Table, any_, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors, jsonutil
from cascade.compute import tombstones
from cascade.db.models import Placement, PlacementState, Resource, SyncWatermark
from cascade.regions.client import RegionClient
from cascade.quota.forget import forget

__all__ = ["Pass", "reconcile_servers", "reconcile_all", "refresh_server", "MISSING"]

LOG = logging.getLogger(__name__)

SERVER = "server"
#: Placement state of a mapping whose regional object is gone without Cascade
#: deleting it (deleted in the region directly): reported, never silently dropped.
MISSING = "missing"
#: Cached server fields a status change touches.
_STATUS_FIELDS = ("status", "updated", "OS-EXT-STS:vm_state", "OS-EXT-STS:task_state",
                  "OS-EXT-STS:power_state", "progress")


@dataclasses.dataclass
class Pass:
    region: str
    seen: int = 0
    updated: int = 0
    finalised: int = 0
    missing: int = 0
    full: bool = False


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _deleted(server: dict[str, Any]) -> bool:
    return (server.get("status") in ("DELETED", "SOFT_DELETED")
            or server.get("OS-EXT-STS:vm_state") in ("deleted", "soft-delete"))


async def _watermark(session: AsyncSession, region: str, kind: str) -> dt.datetime | None:
    row = await session.get(SyncWatermark, (region, kind))
    if row is None:
        return None
    value = row.value
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


async def _set_watermark(session: AsyncSession, region: str, kind: str,
                         value: dt.datetime) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(SyncWatermark).values(region=region, kind=kind, value=value)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[SyncWatermark.region, SyncWatermark.kind],
        set_={"value": stmt.excluded.value}))


def _as_text(value: Any) -> str | None:
    """A JSON value as the database answers a text path lookup (``#>>``), None for null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return jsonutil.dumps(value)


def _cached_status(postgresql: bool) -> Any:
    """(placement id, local id, state, global id, status, *cached status fields as text)
    of the servers ``:ids`` in ``:region``.

    The fields are read without loading the ``attrs`` document (~1.5 KB of JSON
    per server, most of which a pass never needs). On PostgreSQL the ids are one
    array parameter (``= ANY``) instead of one bound parameter per id.
    """
    # NOTE: the inner query takes ``attrs -> 'server'`` once per row, and OFFSET 0
    # keeps PostgreSQL from folding it into the outer one, which would unpack the
    # (compressed) document again for every field. ``as_string`` casts, so SQLite
    # answers text too.
    ids = (Placement.local_id == any_(bindparam("ids", type_=ARRAY(String))) if postgresql
           else Placement.local_id.in_(bindparam("ids", expanding=True)))
    inner = (select(Placement.id, Placement.local_id, Placement.state, Resource.global_id,
                    Resource.status, Resource.attrs["server"].label("server"))
             .join(Resource, Resource.global_id == Placement.global_id)
             .where(Placement.resource_type == SERVER, Placement.region == bindparam("region"),
                    ids)
             .offset(0).subquery())
    return select(inner.c.id, inner.c.local_id, inner.c.state, inner.c.global_id,
                  inner.c.status,
                  *(inner.c.server[k].as_string() for k in _STATUS_FIELDS))


#: The statement above, built once (per page it would cost more than the query).
_CACHED_STATUS = {True: _cached_status(True), False: _cached_status(False)}

#: PostgreSQL: the status fields merged into the cached views in the database, one
#: statement per page, the documents neither read nor sent (``attrs.server`` ||
#: patch, ``seen_at``), as the ORM path below does in Python.
_MERGE_PG = text("""
UPDATE resources AS r SET
    status = COALESCE(v.status, r.status),
    attrs = r.attrs || jsonb_build_object(
        'server', CASE WHEN jsonb_typeof(r.attrs -> 'server') = 'object'
                       THEN r.attrs -> 'server' ELSE '{}'::jsonb END || v.patch,
        'seen_at', CAST(:seen_at AS text)),
    updated_at = :now
FROM unnest(CAST(:gids AS varchar[]), CAST(:statuses AS varchar[]),
            CAST(:patches AS jsonb[])) AS v(global_id, status, patch)
WHERE r.global_id = v.global_id
RETURNING r.global_id""")


async def apply_servers(sessions: async_sessionmaker[AsyncSession], region: str,
                        servers: Iterable[dict[str, Any]], result: Pass) -> None:
    """Bring the mappings of these regional servers up to date (one transaction)."""
    by_local = {str(s["id"]): s for s in servers if s.get("id")}
    if not by_local:
        return
    result.seen += len(by_local)
    fields = _STATUS_FIELDS
    async with sessions.begin() as session:
        postgresql = session.get_bind().dialect.name == "postgresql"
        rows = (await session.execute(_CACHED_STATUS[postgresql],
                                      {"region": region, "ids": list(by_local)})).all()
        stale: dict[str, dict[str, Any]] = {}
        for pl_id, local_id, state, gid, status, *cached in rows:
            server = by_local[str(local_id)]
            if _deleted(server):
                if state == PlacementState.DELETING:
                    await tombstones.bury(session, gid)
                    await forget(session, gid)
                    result.finalised += 1
                elif state != MISSING:
                    await session.execute(update(Placement).where(Placement.id == pl_id)
                                          .values(state=MISSING))
                    result.missing += 1
                continue
            # NOTE: compared as text, a value can only look changed when it is not
            # (1.0 against 1): that costs an update, never a missed change.
            if status == server.get("status") and cached == [
                    _as_text(server[k]) if k in server else have
                    for k, have in zip(fields, cached)]:
                continue
            stale[gid] = server
        if stale:
            write = _merge_pg if postgresql else _merge_orm
            result.updated += await write(session, stale)


async def _merge_pg(session: AsyncSession, stale: dict[str, dict[str, Any]]) -> int:
    """Merge the regional status fields into the cached views of ``stale`` (by global id)."""
    now = _now()
    gids = list(stale)
    done = await session.execute(_MERGE_PG, {
        "seen_at": now.isoformat(), "now": now, "gids": gids,
        "statuses": [str(stale[g]["status"]) if "status" in stale[g] else None
                     for g in gids],
        "patches": [jsonutil.dumps({k: stale[g][k] for k in _STATUS_FIELDS if k in stale[g]})
                    for g in gids]})
    return len(done.all())


async def _merge_orm(session: AsyncSession, stale: dict[str, dict[str, Any]]) -> int:
    """:func:`_merge_pg` for other databases: read each view, merge, write it back."""
    seen_at = _now().isoformat()
    docs = (await session.execute(select(Resource.global_id, Resource.status, Resource.attrs)
                                  .where(Resource.global_id.in_(list(stale))))).all()
    changed: list[dict[str, Any]] = []
    for gid, status, attrs in docs:
        server = stale[gid]
        cached = dict((attrs or {}).get("server") or {})
        cached.update({k: server[k] for k in _STATUS_FIELDS if k in server})
        changed.append({"gid": gid, "new_status": str(server.get("status", status)),
                        "new_attrs": {**(attrs or {}), "server": cached,
                                      "seen_at": seen_at}})
    if changed:
        # NOTE: a table UPDATE, not the ORM's bulk update by key: a server deleted
        # since the read above (pysqlite begins the transaction only at the first
        # write) is simply not updated, where the ORM would fail the whole pass.
        table = cast(Table, Resource.__table__)
        await session.execute(
            update(table).where(table.c.global_id == bindparam("gid"))
            .values(status=bindparam("new_status"), attrs=bindparam("new_attrs")), changed)
    return len(changed)


async def reconcile_servers(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                            region: str, *, margin: float, page: int = 1000) -> Pass:
    """One pass over a region's changed servers; the watermark moves only if it completes.

    :raises RegionError: the region could not be asked (the watermark stays).
    """
    async with sessions() as session:
        mark = await _watermark(session, region, SERVER)
    started = _now()
    result = Pass(region, full=mark is None)
    params: dict[str, str] = {"all_tenants": "1", "limit": str(page)}
    if mark is not None:
        params["changes-since"] = (mark - dt.timedelta(seconds=margin)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")

    async def fetch(marker: str | None) -> tuple[list[dict[str, Any]], bool]:
        """A page, and whether the region says more follow (a region whose
        ``max_limit`` is below ``page`` answers short pages with a next link)."""
        query = dict(params, **({"marker": marker} if marker else {}))
        resp = await client.get(None, region, "compute", "/servers/detail", params=query)
        body = resp.body or {}
        servers = list(body.get("servers") or [])
        linked = any(link.get("rel") == "next" for link in body.get("servers_links") or [])
        return servers, bool(servers) and (linked or len(servers) >= page)

    # NOTE: the next page is asked for while this one is written, so the region's
    # answer and the database overlap instead of adding up. A failure on either
    # side ends the pass before the watermark moves, as without the overlap.
    ahead = asyncio.ensure_future(fetch(None))
    try:
        while True:
            servers, more = await ahead
            if more:
                ahead = asyncio.ensure_future(fetch(str(servers[-1]["id"])))
            await apply_servers(sessions, region, servers, result)
            if not more:
                break
    finally:
        ahead.cancel()                  # nothing when it is done
        await asyncio.wait({ahead})
        if not ahead.cancelled():
            ahead.exception()           # retrieved: raised above, or moot after a failure
    async with sessions.begin() as session:
        await _set_watermark(session, region, SERVER, started)
    return result


async def reconcile_all(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                        regions: Iterable[str], *, margin: float) -> list[Pass]:
    """One pass per region, all regions at once (a region's fixed cost then does not
    add up); a region that fails is skipped until the next round."""
    async def one(region: str) -> Pass | None:
        try:
            return await reconcile_servers(sessions, client, region, margin=margin)
        except errors.RegionError as exc:
            LOG.info("reconcile: skipping %s: %s", region, exc.message)
            return None

    done = await asyncio.gather(*(one(r) for r in regions))
    return [p for p in done if p is not None]


async def refresh_server(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                         region: str, local_id: str) -> Pass:
    """Look at one server now (a notification said it changed)."""
    result = Pass(region)
    try:
        resp = await client.get(None, region, "compute", f"/servers/{local_id}")
        server = dict((resp.body or {}).get("server") or {})
    except errors.RegionHTTPError as exc:
        if exc.status != 404:
            raise
        server = {"id": local_id, "status": "DELETED"}
    await apply_servers(sessions, region, [server], result)
    return result
