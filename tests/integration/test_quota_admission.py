"""Quota admission under real concurrency on PostgreSQL: 1000 concurrent creates against
a limit of 500 admit exactly 500 and leave usage exact through creation and deletion;
failures give their share back; a dead owner's reservation expires; admissions batched
in one process stay exact, all or none per request, and a caller gone holds nothing."""
from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import config, errors
from cascade.db.models import Region, Reservation, Resource
from cascade.quota import ledger, resources
from cascade.quota.batching import AdmissionBatcher
from cascade.mapping import store
from cascade.quota.forget import forget

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

Sessions = async_sessionmaker[AsyncSession]
DEFAULTS = resources.defaults(config.load([]))
PROJECT = "tenant-a"
SERVER = {"instances": 1, "cores": 2, "ram": 256}


@pytest.fixture
async def sessions(db_sessions: Sessions) -> Sessions:
    # Ten pooled connections plus ten overflow: a thousand tasks share twenty.
    async with db_sessions.begin() as s:
        s.add(Region(name="R1", availability_zone="R1"))
        await ledger.set_limits(s, PROJECT, {"instances": 500, "cores": -1, "ram": -1})
    return db_sessions


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
        assert await s.scalar(select(func.count()).select_from(Reservation).where(
            Reservation.committed.is_(False))) == 0, "nothing is still held"
        ids = list((await s.scalars(select(Resource.global_id))).all())

    async def delete(gid: str) -> None:
        async with sessions.begin() as s:
            await forget(s, gid)

    # Every resource deleted twice, concurrently: each gives its usage back once.
    await asyncio.gather(*(delete(gid) for gid in ids + ids))
    assert await _usage(sessions) == {"instances": (0, 0), "cores": (0, 0), "ram": (0, 0)}
    async with sessions.begin() as s:
        assert await ledger.recount(s, PROJECT) == [], "nothing for the sweep to repair"
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Reservation)) == 0, \
            "every committed reservation was folded"


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


async def test_batched_admissions_are_exact_and_share_transactions(
        sessions: Sessions) -> None:
    """1000 concurrent admissions of one project in one process, as server create makes
    them: exactly 500 fit, and they took far fewer reserve transactions than 1000."""
    statements = 0

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        nonlocal statements
        statements += "INSERT INTO reservations" in statement

    engine = sessions.kw["bind"]
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    batcher = AdmissionBatcher(sessions)

    async def admit() -> bool:
        try:
            await batcher.reserve(PROJECT, SERVER, ttl=300, defaults=DEFAULTS)
        except errors.OverQuota:
            return False
        return True

    try:
        admitted = await asyncio.gather(*(admit() for _ in range(1000)))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert sum(admitted) == 500
    assert await _usage(sessions) == {"instances": (0, 500), "cores": (0, 1000),
                                      "ram": (0, 128000)}
    assert statements <= 100, f"{statements} reserve statements for 1000 admissions"


async def test_a_batched_multi_create_is_all_or_none(sessions: Sessions) -> None:
    async with sessions.begin() as s:
        await ledger.set_limits(s, PROJECT, {"instances": 4})
    batcher = AdmissionBatcher(sessions)
    outcomes = await asyncio.gather(
        *(batcher.reserve(PROJECT, {"instances": 1}, count=n, ttl=300, defaults=DEFAULTS)
          for n in (3, 2, 1)), return_exceptions=True)
    assert [len(o) if isinstance(o, list) else type(o) for o in outcomes] == [
        3, errors.OverQuota, 1], "each request in turn, as if alone"
    assert await _usage(sessions) == {"instances": (0, 4), "cores": (0, 0), "ram": (0, 0)}


async def test_an_abandoned_admission_is_given_back_at_once(sessions: Sessions) -> None:
    """A caller that goes away while its batch waits for the rows holds nothing after:
    with a limit of 1, the next admission fits."""
    async with sessions.begin() as s:
        await ledger.set_limits(s, PROJECT, {"instances": 1})
        await ledger.release(s, await ledger.reserve(s, PROJECT, {"instances": 1}, ttl=1,
                                                     defaults=DEFAULTS))
    batcher = AdmissionBatcher(sessions)
    async with sessions.begin() as blocker:
        # Hold the project's usage rows, so the batch's transaction waits for them.
        await blocker.execute(text(
            "SELECT 1 FROM quota_usages WHERE project_id = :p FOR UPDATE"), {"p": PROJECT})
        caller = asyncio.create_task(batcher.reserve(PROJECT, {"instances": 1}, ttl=300,
                                                     defaults=DEFAULTS))
        for _ in range(100):  # until the batch waits for the rows
            async with sessions() as probe:  # (a transaction sees one activity snapshot)
                if await probe.scalar(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                        "'Lock' AND datname = current_database()")):
                    break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the batch never waited for the usage rows")
        caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    # The next admission queues behind the abandoned one (or comes after it was
    # given back): with a limit of 1 it fits only if that one was released.
    assert len(await batcher.reserve(PROJECT, {"instances": 1}, ttl=300,
                                     defaults=DEFAULTS)) == 1
    assert await _usage(sessions) == {"instances": (0, 1), "cores": (0, 0), "ram": (0, 0)}
