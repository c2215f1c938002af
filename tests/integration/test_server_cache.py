"""Cached server views written by lists and shows, racing deletes and other writers:
on a real PostgreSQL (row locks are what the race is about there), and on SQLite,
where a delete can land between the read and the write."""
from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Any, AsyncIterator

import pytest
from sqlalchemy import delete, event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.compute import server_cache
from cascade.db.models import Resource


ON_POSTGRESQL = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
ON_SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def sessions(db_sessions: async_sessionmaker[AsyncSession]
             ) -> async_sessionmaker[AsyncSession]:
    return db_sessions


async def _servers(sessions: async_sessionmaker[AsyncSession], n: int) -> list[str]:
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]
    async with sessions.begin() as session:
        for gid in ids:
            session.add(Resource(global_id=gid, type="server", project_id="p", user_id="u",
                                 spec={}, attrs={"name": "old"}, status="BUILD"))
    return ids


@contextlib.asynccontextmanager
async def _held(sessions: async_sessionmaker[AsyncSession], statement: Any
                ) -> AsyncIterator[None]:
    """``statement`` run in a transaction left open (its row locks held) meanwhile."""
    async with sessions.begin() as session:
        await session.execute(statement)
        yield


def _view(gid: str, status: str = "ACTIVE") -> tuple[str, dict[str, Any]]:
    return gid, {"id": gid, "name": "new", "status": status}


@ON_POSTGRESQL
async def test_a_view_of_a_server_being_deleted_does_not_fail_the_write(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    kept, gone = await _servers(sessions, 2)
    async with sessions.begin() as session:
        await session.execute(delete(Resource).where(Resource.global_id == gone))
        writing = asyncio.create_task(
            server_cache.store_views(sessions, [_view(kept), _view(gone)]))
        await asyncio.sleep(0.3)
    # The delete committed while the write was under way.
    await asyncio.wait_for(writing, 10)
    async with sessions() as session:
        rows = {r.global_id: r for r in await session.scalars(select(Resource))}
    assert set(rows) == {kept}
    assert rows[kept].status == "ACTIVE" and rows[kept].attrs["name"] == "new"


@ON_POSTGRESQL
async def test_a_row_another_writer_holds_is_left_to_it_without_waiting(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    free, held = await _servers(sessions, 2)
    async with _held(sessions, update(Resource).where(Resource.global_id == held)
                     .values(status="DELETED")):
        # Answers at once although the other transaction is still open.
        await asyncio.wait_for(
            server_cache.store_views(sessions, [_view(free), _view(held)]), 5)
    async with sessions() as session:
        rows = {r.global_id: r.status for r in await session.scalars(select(Resource))}
    assert rows == {free: "ACTIVE", held: "DELETED"}, "the other writer's status stands"


@ON_SQLITE
async def test_on_sqlite_a_server_deleted_between_read_and_write_fails_nothing(
        sessions: async_sessionmaker[AsyncSession], db_url: str) -> None:
    """pysqlite begins the transaction only at the first write: another connection
    deletes a server right after the views were read (as a concurrent delete
    would). The write is dropped, not raised; the next answer stores it again."""
    kept, gone = await _servers(sessions, 2)
    engine = sessions.kw["bind"].sync_engine
    path = db_url.split("///", 1)[1]
    deleted: list[str] = []

    def delete_after_the_read(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not deleted and statement.lstrip().upper().startswith("SELECT") \
                and "resources" in statement:
            other = sqlite3.connect(path)
            with other:
                other.execute("DELETE FROM resources WHERE global_id = ?", (gone,))
            other.close()
            deleted.append(gone)

    event.listen(engine, "after_cursor_execute", delete_after_the_read)
    try:
        await server_cache.store_views(sessions, [_view(kept), _view(gone)])
    finally:
        event.remove(engine, "after_cursor_execute", delete_after_the_read)
    assert deleted == [gone], "the delete ran between the read and the write"
    async with sessions() as session:
        assert [r.global_id for r in await session.scalars(select(Resource))] == [kept]
    await server_cache.store_views(sessions, [_view(kept)])
    async with sessions() as session:
        row = await session.get(Resource, kept)
        assert row is not None and row.status == "ACTIVE"
