"""mapping.inspect on SQLite and PostgreSQL: one row per placement plus unplaced
resources, filters, key-based pages (composite markers), show in both directions."""
from __future__ import annotations


import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.db.models import PlacementState, Region, Resource
from cascade.mapping import inspect, store

# Fixed ids so the expected order does not depend on uuid4; '0...' < 'a...' in
# every collation.
SERVER = "00000000-0000-4000-8000-000000000001"
IMAGE = "00000000-0000-4000-8000-000000000002"
PORT = "00000000-0000-4000-8000-000000000003"
NETWORK = "00000000-0000-4000-8000-000000000004"


async def _seed(session: AsyncSession) -> None:
    session.add_all([Region(name="RegionOne", availability_zone="one"),
                     Region(name="RegionTwo", availability_zone="two")])
    await session.flush()
    _, pl = store.create_resource(
        session, global_id=SERVER, type_="server", project_id="p1", user_id="u1",
        region="RegionOne", spec={"name": "vm", "user_data": "c2VjcmV0"},
        attrs={"name": "vm", "adminPass": "hunter2", "metadata": {"a": "1"},
               "description": "x" * 200},
        status="ACTIVE")
    await session.flush()
    await store.activate(session, pl.id, "r1-server")
    store.create_resource(session, global_id=IMAGE, type_="image", project_id="p2",
                          user_id="u2", region="RegionOne", spec={"name": "cirros"},
                          attrs={"tags": ["a", "b"]}, status="active")
    await session.flush()
    await store.ensure_placement(session, global_id=IMAGE, type_="image", region="RegionTwo",
                                 local_id="r2-server", state=PlacementState.ACTIVE)
    # A deferred port and a network not needed anywhere yet: no placement at all.
    session.add_all([
        Resource(global_id=PORT, type="port", project_id="p1", spec={},
                 attrs={"name": "deferred-port"}, status="DOWN"),
        Resource(global_id=NETWORK, type="network", project_id="p1", spec={},
                 attrs={"name": "net"}, status="ACTIVE")])


@pytest.fixture
async def sessions(db_sessions: async_sessionmaker[AsyncSession]
                   ) -> async_sessionmaker[AsyncSession]:
    async with db_sessions.begin() as session:
        await _seed(session)
    return db_sessions


def _keys(rows: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(r["global_id"], r["region"]) for r in rows]


async def test_rows_filters_and_deferred(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        rows = await inspect.list_mappings(s)
        assert _keys(rows) == [(SERVER, "RegionOne"), (IMAGE, "RegionOne"),
                               (IMAGE, "RegionTwo"), (PORT, None), (NETWORK, None)]
        server = rows[0]
        assert server["local_id"] == "r1-server" and server["state"] == "active"
        assert server["name"] == "vm" and server["project_id"] == "p1"
        assert server["last_seen"] is not None and server["status"] == "ACTIVE"
        assert rows[1]["name"] == "cirros" and rows[1]["state"] == "creating"
        assert rows[3] | {"created_at": None, "updated_at": None} == {
            "global_id": PORT, "type": "port", "project_id": "p1", "region": None,
            "local_id": None, "state": "deferred", "status": "DOWN", "name": "deferred-port",
            "created_at": None, "updated_at": None, "last_seen": None}
        assert rows[3]["created_at"] is not None

        assert _keys(await inspect.list_mappings(s, type_="image")) == [
            (IMAGE, "RegionOne"), (IMAGE, "RegionTwo")]
        assert _keys(await inspect.list_mappings(s, project_id="p1")) == [
            (SERVER, "RegionOne"), (PORT, None), (NETWORK, None)]
        assert _keys(await inspect.list_mappings(s, region="RegionTwo")) == [
            (IMAGE, "RegionTwo")]
        assert _keys(await inspect.list_mappings(s, state="deferred")) == [
            (PORT, None), (NETWORK, None)]
        assert _keys(await inspect.list_mappings(s, state="creating", type_="image")) == [
            (IMAGE, "RegionOne")]
        assert await inspect.list_mappings(s, type_="flavor") == []


async def test_pages_follow_composite_markers(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        everything = await inspect.list_mappings(s)
        for size in (1, 2, 3):
            seen: list[dict[str, object]] = []
            marker = None
            while True:
                page = await inspect.list_mappings(s, limit=size, marker=marker)
                seen += page
                if len(page) < size:
                    break
                marker = inspect.marker_of(page[-1])
            assert seen == everything
        # A page ending inside a resource's placements continues with the next one.
        assert inspect.marker_of(everything[1]) == f"{IMAGE}@RegionOne"
        assert _keys(await inspect.list_mappings(s, marker=f"{IMAGE}@RegionOne")) == [
            (IMAGE, "RegionTwo"), (PORT, None), (NETWORK, None)]
        # A plain global id names its row without a region.
        assert inspect.marker_of(everything[3]) == PORT
        assert _keys(await inspect.list_mappings(s, marker=PORT)) == [(NETWORK, None)]
        with pytest.raises(errors.BadRequest):
            await inspect.list_mappings(s, marker="@RegionOne")


async def test_show_in_both_directions(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        by_global = await inspect.show_mapping(s, SERVER)
        (res,) = by_global["resources"]
        assert res["matched"] == ["global_id"] and res["type"] == "server"
        assert res["spec_keys"] == ["name", "user_data"]
        assert res["attrs"]["adminPass"] == "***" and res["attrs"]["metadata"] == "<1 keys>"
        assert res["attrs"]["description"].endswith("...")
        assert [(p["region"], p["local_id"], p["state"]) for p in res["placements"]] == [
            ("RegionOne", "r1-server", "active")]

        (back,) = (await inspect.show_mapping(s, "r1-server"))["resources"]
        assert back["global_id"] == SERVER and back["matched"] == ["local_id@RegionOne"]

        (deferred,) = (await inspect.show_mapping(s, PORT))["resources"]
        assert deferred["placements"] == [] and deferred["name"] == "deferred-port"

    # Regional ids are unique per type and region only: every hit is shown.
    async with sessions.begin() as s:
        await store.ensure_placement(s, global_id=NETWORK, type_="network", region="RegionOne",
                                     local_id="r2-server", state=PlacementState.ACTIVE)
    async with sessions() as s:
        both = await inspect.show_mapping(s, "r2-server")
        assert [(r["global_id"], r["matched"]) for r in both["resources"]] == [
            (IMAGE, ["local_id@RegionTwo"]), (NETWORK, ["local_id@RegionOne"])]
        with pytest.raises(errors.MappingNotFound):
            await inspect.show_mapping(s, "nothing-has-this-id")
