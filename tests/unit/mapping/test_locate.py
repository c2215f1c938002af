"""The show path's mapping lookup (``store.locate``) on SQLite and PostgreSQL: the same
answer as ``resolve`` on an autocommit connection, and the same isolation between
projects."""
from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import config, errors
from cascade.db import engine as db_engine
from cascade.db.models import Region
from cascade.mapping import store
from tests.conftest import PG_ADMIN_DSN

Sessions = async_sessionmaker[AsyncSession]
VIEW = {"id": "g1", "status": "ACTIVE", "name": "vm"}


@pytest.fixture
async def sessions(db_sessions: Sessions) -> Sessions:
    async with db_sessions.begin() as s:
        s.add(Region(name="R1", availability_zone="R1"))
    async with db_sessions.begin() as s:
        _, placement = store.create_resource(
            s, global_id="g1", type_="server", project_id="p1", user_id="u", region="R1",
            spec={}, attrs={"server": VIEW}, status="ACTIVE")
        placement.local_id, placement.state = "l1", "active"
        store.create_resource(s, global_id="g2", type_="server", project_id="p1",
                              user_id="u", region="R1", spec={}, attrs={}, status="BUILD")
    return db_sessions


async def test_locate_answers_what_resolve_does_without_a_transaction(
        sessions: Sessions) -> None:
    async with db_engine.autocommit(sessions).connect() as conn:
        found = await store.locate(conn, "server", "g1", "p1")
        pending = await store.locate(conn, "server", "g2", None)
    async with sessions() as s:
        res, pl = await store.resolve(s, "server", "g1", "p1")
    assert (found.project_id, found.status, found.region, found.local_id, found.state) == (
        res.project_id, res.status, pl.region, pl.local_id, pl.state) == (
        "p1", "ACTIVE", "R1", "l1", "active")
    assert found.view == VIEW
    assert (pending.local_id, pending.state, pending.view) == (None, "creating", None)


async def test_locate_hides_other_projects_and_other_types(sessions: Sessions) -> None:
    async with db_engine.autocommit(sessions).connect() as conn:
        for type_, gid, project in [("server", "g1", "p2"), ("image", "g1", None),
                                    ("server", "nope", None)]:
            with pytest.raises(errors.MappingNotFound):
                await store.locate(conn, type_, gid, project)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # its own pool there
async def test_the_lookup_pool_outlives_a_database_restart_without_pre_ping(
        sessions: Sessions) -> None:
    """Its connections closed by the database (as a restart does), the next look-up
    gets a fresh one, although that pool never pings before handing one out."""
    engine = sessions.kw["bind"]
    lookups = db_engine.make_lookup_engine(config.load([]), engine)
    try:
        async with lookups.connect() as conn:
            assert (await store.locate(conn, "server", "g1", "p1")).local_id == "l1"
            backend = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", backend)
        finally:
            await admin.close()
        await asyncio.sleep(0.2)
        async with lookups.connect() as conn:
            assert (await store.locate(conn, "server", "g1", "p1")).view == VIEW
            assert (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar() != backend
    finally:
        await db_engine.dispose_lookup_engine(lookups, engine)
