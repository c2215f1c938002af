"""Change notices between Cascade processes on a real PostgreSQL: what one process
(or anyone) writes, every other process's caches hear about, at once for the
next request and within a second without one; nothing is trusted while the
listening connection is lost."""
from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cascade import appkeys, config
from cascade.coherence import Coherence
from cascade.db import engine as db_engine
from tests.conftest import PG_ADMIN_DSN, pg_url
from tests.functional.gateway import ADMIN, gateway_app, gateway_conf

#: No region answers here: the tests are about Cascade's own state.
DEAD = "http://127.0.0.1:9"


@pytest.fixture
async def pg_db() -> AsyncIterator[str]:
    name = f"cascade_coh_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield pg_url(name)
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def two_processes(pg_db: str, tmp_path: Path
                        ) -> AsyncIterator[tuple[TestClient[Any, Any], TestClient[Any, Any]]]:
    """Two Cascade API applications on one database, each with its own caches and
    listener, as two workers would have."""
    clients = []
    for n in range(2):
        work = tmp_path / f"p{n}"
        work.mkdir()
        conf = gateway_conf(work, pg_db, {"RegionOne": DEAD, "RegionTwo": DEAD})
        app = gateway_app(conf)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
    yield clients[0], clients[1]
    for client in clients:
        await client.close()


def _registry(client: TestClient[Any, Any]) -> Any:
    return client.app[appkeys.REGIONS]


async def _zones(client: TestClient[Any, Any]) -> set[str]:
    resp = await client.get("/compute/v2.1/os-availability-zone", headers=ADMIN)
    assert resp.status == 200, await resp.text()
    return {z["zoneName"] for z in (await resp.json())["availabilityZoneInfo"]}


async def test_a_region_change_through_one_process_is_seen_by_the_next_request_on_another(
        two_processes: Any) -> None:
    one, two = two_processes
    assert "RegionOne" in await _zones(two)
    for n in range(5):
        zone = f"zone-{n}"
        resp = await one.patch("/v1/regions/RegionOne",
                               json={"region": {"availability_zone": zone}}, headers=ADMIN)
        assert resp.status == 200, await resp.text()
        # The very next request, on the other process, with no pause in between.
        assert zone in await _zones(two)
    for enabled in (False, True, False):
        resp = await one.patch("/v1/regions/RegionTwo", json={"region": {"enabled": enabled}},
                               headers=ADMIN)
        assert resp.status == 200
        resp = await two.get("/v1/regions", headers=ADMIN)
        assert resp.status == 200
        assert _registry(two).get("RegionTwo").enabled is enabled


async def test_a_region_added_or_removed_elsewhere_is_known_at_once(two_processes: Any) -> None:
    one, two = two_processes
    resp = await one.post("/v1/regions", headers=ADMIN, json={"region": {
        "name": "RegionThree", "compute_endpoint": f"{DEAD}/compute/v2.1"}})
    assert resp.status in (200, 201), await resp.text()
    assert "RegionThree" in await _zones(two)
    resp = await one.delete("/v1/regions/RegionThree", headers=ADMIN)
    assert resp.status == 204, await resp.text()
    assert "RegionThree" not in await _zones(two)


async def test_other_processes_hear_of_a_change_within_a_second_without_a_request(
        two_processes: Any) -> None:
    one, two = two_processes
    for weight in (7, 3, 9):
        started = time.monotonic()
        resp = await one.patch("/v1/regions/RegionOne", json={"region": {"weight": weight}},
                               headers=ADMIN)
        assert resp.status == 200
        while _registry(two).get("RegionOne").weight != weight:
            assert time.monotonic() - started < 1.0, "not seen within 1 s"
            await asyncio.sleep(0.01)


async def test_a_change_made_with_cascade_manage_or_sql_reaches_the_processes(
        two_processes: Any, pg_db: str) -> None:
    """The triggers see every writer, not only Cascade's API."""
    one, two = two_processes
    engine = db_engine.make_engine(config.load([]), pg_db)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE regions SET weight = 42 WHERE name = 'RegionTwo'"))
        for client in (one, two):
            await client.get("/v1/regions", headers=ADMIN)
            assert _registry(client).get("RegionTwo").weight == 42
    finally:
        await engine.dispose()


# -- the notices themselves -----------------------------------------------------


class _Heard:
    def __init__(self, coherence: Coherence) -> None:
        self.keys: list[tuple[str, str]] = []
        self.resets = 0
        for kind in ("region", "placement", "flavor"):
            coherence.on(kind, lambda key, kind=kind: self.keys.append((kind, key)))
        coherence.on_reset(self._reset)

    def _reset(self) -> None:
        self.resets += 1


@pytest.fixture
async def listening(pg_db: str) -> AsyncIterator[tuple[AsyncEngine, Coherence, _Heard]]:
    conf = config.load([])
    engine = db_engine.make_engine(conf, pg_db)
    from cascade.db import migrate
    await migrate.upgrade(engine)
    coherence = Coherence(conf, engine)
    heard = _Heard(coherence)
    await coherence.start()
    yield engine, coherence, heard
    await coherence.stop()
    await engine.dispose()


async def _sql(engine: AsyncEngine, *statements: str) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def test_only_changes_that_caches_depend_on_are_announced(listening: Any) -> None:
    engine, coherence, heard = listening
    gid = str(uuid.uuid4())
    await _sql(engine,
               "INSERT INTO regions (name, availability_zone, enabled, weight, health, "
               "capabilities, source, probe_failures, probe_successes) VALUES "
               "('R9', 'z9', true, 1, 'up', '{}', 'api', 0, 0)",
               f"INSERT INTO resources (global_id, type, project_id, spec, attrs, status, "
               f"beyond_project) VALUES ('{gid}', 'server', 'p', '{{}}', '{{}}', 'BUILD', "
               f"false)",
               f"INSERT INTO placements (global_id, resource_type, region, local_id, state) "
               f"VALUES ('{gid}', 'server', 'R9', 'l1', 'active')")
    await coherence.barrier()
    assert ("region", "R9") in heard.keys
    assert ("placement", f"server:{gid}") in heard.keys
    heard.keys.clear()
    # Bookkeeping no cache reads: no notice.
    await _sql(engine, "UPDATE regions SET probe_failures = 3 WHERE name = 'R9'",
               f"UPDATE placements SET last_seen = now() WHERE global_id = '{gid}'",
               f"UPDATE resources SET attrs = '{{\"x\": 1}}', status = 'ACTIVE' "
               f"WHERE global_id = '{gid}'")
    await coherence.barrier()
    assert heard.keys == []
    # What caches depend on: each announced.
    await _sql(engine, "UPDATE regions SET health = 'down' WHERE name = 'R9'")
    await _sql(engine, f"UPDATE placements SET local_id = 'l2' WHERE global_id = '{gid}'")
    await _sql(engine, f"UPDATE placements SET state = 'deleting' WHERE global_id = '{gid}'")
    await _sql(engine, f"DELETE FROM resources WHERE global_id = '{gid}'")  # cascades
    await coherence.barrier()
    assert heard.keys == [("region", "R9")] + [("placement", f"server:{gid}")] * 3


async def test_a_rolled_back_change_announces_nothing(listening: Any) -> None:
    engine, coherence, heard = listening
    async with engine.connect() as conn:
        await conn.execute(text(
            "INSERT INTO regions (name, availability_zone, enabled, weight, health, "
            "capabilities, source, probe_failures, probe_successes) VALUES "
            "('R8', 'z8', true, 1, 'up', '{}', 'api', 0, 0)"))
        await conn.rollback()
    await coherence.barrier()
    assert heard.keys == []


async def test_published_changes_reach_every_process(listening: Any, pg_db: str) -> None:
    engine, coherence, heard = listening
    other = Coherence(config.load([]), engine)
    await other.publish("flavor", "f1")
    await coherence.barrier()
    assert heard.keys == [("flavor", "f1")]


async def test_a_lost_listener_drops_the_caches_and_listens_again(listening: Any) -> None:
    engine, coherence, heard = listening
    before = heard.resets
    async with engine.begin() as conn:
        killed = (await conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"))).all()
    assert killed, "the listener's connection was found"
    deadline = time.monotonic() + 10
    while heard.resets < before + 2:  # once when lost, once when back
        assert time.monotonic() < deadline, "did not listen again"
        await asyncio.sleep(0.05)
    # And notices flow again.
    await _sql(engine, "UPDATE regions SET weight = 5 WHERE name IS NOT NULL")
    await _sql(engine,
               "INSERT INTO regions (name, availability_zone, enabled, weight, health, "
               "capabilities, source, probe_failures, probe_successes) VALUES "
               "('R7', 'z7', true, 1, 'up', '{}', 'api', 0, 0)")
    await coherence.barrier()
    assert ("region", "R7") in heard.keys


async def test_the_barrier_waits_for_the_reloads_a_notice_started(listening: Any) -> None:
    engine, coherence, heard = listening
    done: list[int] = []

    async def slow_reload() -> None:
        await asyncio.sleep(0.3)
        done.append(1)

    reloader = coherence.reloader(slow_reload)
    coherence.on("region", reloader.request)
    await _sql(engine, "UPDATE regions SET weight = 2 WHERE name IS NOT NULL",
               "INSERT INTO regions (name, availability_zone, enabled, weight, health, "
               "capabilities, source, probe_failures, probe_successes) VALUES "
               "('R6', 'z6', true, 1, 'up', '{}', 'api', 0, 0)")
    await coherence.barrier()
    assert done, "the request went on before the reload it must see"
