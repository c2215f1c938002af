"""Cached server views written by lists and shows, racing deletes and other writers
on a real PostgreSQL (row locks are what the race is about)."""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.compute import server_cache
from cascade.db.models import Resource


@pytest.fixture
def sessions(db_sessions: async_sessionmaker[AsyncSession], db_url: str
             ) -> async_sessionmaker[AsyncSession]:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks: PostgreSQL")
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
