"""Quota admission under real concurrency on PostgreSQL: 1000 concurrent creates against
a limit of 500 admit exactly 500 and leave usage exact through creation and deletion;
failures give their share back; a dead owner's reservation expires."""
from __future__ import annotations

import asyncio
import random
from typing import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import config, errors
from cascade.db import engine as db_engine
from cascade.db.models import Region, Reservation, Resource
from cascade.quota import ledger, resources
from cascade.mapping import store
from cascade.quota.forget import forget

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

Sessions = async_sessionmaker[AsyncSession]
DEFAULTS = resources.defaults(config.load([]))
PROJECT = "tenant-a"
SERVER = {"instances": 1, "cores": 2, "ram": 256}


@pytest.fixture
async def sessions(migrated_db: str) -> AsyncIterator[Sessions]:
    # Ten pooled connections plus ten overflow: a thousand tasks share twenty.
    engine = db_engine.make_engine(config.load([]), migrated_db)
    sessions = db_engine.make_sessionmaker(engine)
    async with sessions.begin() as s:
        s.add(Region(name="R1", availability_zone="R1"))
        await ledger.set_limits(s, PROJECT, {"instances": 500, "cores": -1, "ram": -1})
    yield sessions
    await engine.dispose()


async def _create(sessions: Sessions, n: int, *, fail: bool = False) -> bool:
    """What server create does: reserve in its own transaction, then write the resource
    with its usage and commit the reservation together (or release on failure)."""
    try:
        async with sessions.begin() as s:
            rid = await ledger.reserve(s, PROJECT, SERVER, ttl=300, defaults=DEFAULTS)
    except errors.OverQuota:
        return False
    await asyncio.sleep(random.uniform(0, 0.005))  # the regional call
    async with sessions.begin() as s:
        if fail:
            await ledger.release(s, rid)
            return False
        store.create_resource(s, global_id=f"00000000-0000-0000-0000-{n:012d}",
                              type_="server", project_id=PROJECT, user_id="u", region="R1",
                              spec={}, attrs={}, status="ACTIVE", usage=dict(SERVER))
        assert await ledger.commit(s, rid)
    return True


async def _usage(sessions: Sessions) -> dict[str, tuple[int, int]]:
    async with sessions() as s:
        return await ledger.usage(s, PROJECT, ["instances", "cores", "ram"])


async def test_1000_concurrent_creates_against_500_admit_exactly_500(
        sessions: Sessions) -> None:
    admitted = await asyncio.gather(*(_create(sessions, n) for n in range(1000)))
    assert sum(admitted) == 500
    assert await _usage(sessions) == {"instances": (500, 0), "cores": (1000, 0),
                                      "ram": (128000, 0)}
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Resource)) == 500
        assert await s.scalar(select(func.count()).select_from(Reservation)) == 0
        ids = list((await s.scalars(select(Resource.global_id))).all())

    async def delete(gid: str) -> None:
        async with sessions.begin() as s:
            await forget(s, gid)

    # Every resource deleted twice, concurrently: each gives its usage back once.
    await asyncio.gather(*(delete(gid) for gid in ids + ids))
    assert await _usage(sessions) == {"instances": (0, 0), "cores": (0, 0), "ram": (0, 0)}
    async with sessions.begin() as s:
        assert await ledger.recount(s, PROJECT) == [], "nothing for the sweep to repair"


async def test_failed_creates_give_their_share_back(sessions: Sessions) -> None:
    async with sessions.begin() as s:
        await ledger.set_limits(s, PROJECT, {"instances": 50})
    outcomes = await asyncio.gather(*(_create(sessions, n, fail=n % 2 == 0)
                                      for n in range(400)))
    created = sum(outcomes)
    assert 0 < created <= 50
    assert await _usage(sessions) == {"instances": (created, 0), "cores": (2 * created, 0),
                                      "ram": (256 * created, 0)}


async def test_a_dead_owners_reservation_expires(sessions: Sessions) -> None:
    async with sessions.begin() as s:
        await ledger.set_limits(s, PROJECT, {"instances": 1})
        dead = await ledger.reserve(s, PROJECT, SERVER, ttl=0.2, defaults=DEFAULTS)
    # The owner died: it never commits nor releases. Meanwhile the quota is full.
    assert not await _create(sessions, 1)
    await asyncio.sleep(0.3)
    async with sessions.begin() as s:
        assert await ledger.expire(s) == 1
    assert await _usage(sessions) == {"instances": (0, 0), "cores": (0, 0), "ram": (0, 0)}
    assert await _create(sessions, 2)
    async with sessions.begin() as s:
        assert not await ledger.commit(s, dead), "the late owner's commit counts nothing"
    assert await _usage(sessions) == {"instances": (1, 0), "cores": (2, 0), "ram": (256, 0)}
