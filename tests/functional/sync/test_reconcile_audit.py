"""Status reconciliation and the drift audit against fake regions (SQLite and PostgreSQL):
what each decides, that nothing is decided for an unreachable region, and that
untagged regional objects are never touched."""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select

from cascade.appkeys import REGION_CLIENT, SESSIONS
from cascade.db.models import Placement, PlacementState, Resource, SyncWatermark
from cascade.quota import ledger
from cascade.sync.audit import audit
from cascade.sync.reconcile import MISSING, reconcile_servers, refresh_server
from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import DEMO


async def _server(gw: Gateway, zone: str = "RegionTwo") -> tuple[str, str]:
    resp = await gw.create(zone)
    assert resp.status == 202, await resp.text()
    gid = (await resp.json())["server"]["id"]
    async with gw.app[SESSIONS]() as session:
        pl = (await session.scalars(select(Placement).where(Placement.global_id == gid))).one()
    assert pl.local_id
    return gid, pl.local_id


async def _placement(gw: Gateway, gid: str) -> Placement | None:
    async with gw.app[SESSIONS]() as session:
        return (await session.scalars(select(Placement).where(
            Placement.global_id == gid))).first()


async def _in_use(gw: Gateway, resource: str = "instances") -> int:
    async with gw.app[SESSIONS]() as session:
        return (await ledger.usage(session, "demo")).get(resource, (0, 0))[0]


async def test_incremental_pass_updates_status_and_finishes_deletes(gw: Gateway) -> None:
    sessions, client = gw.app[SESSIONS], gw.app[REGION_CLIENT]
    gid, local = await _server(gw)
    first = await reconcile_servers(sessions, client, "RegionTwo", margin=0)
    assert first.full and first.seen == 1
    region = gw.regions["RegionTwo"]
    region.servers[local].update(status="SHUTOFF", updated=region.now())
    second = await reconcile_servers(sessions, client, "RegionTwo", margin=60)
    assert not second.full and (second.seen, second.updated) == (1, 1)
    async with sessions() as session:
        res = await session.get(Resource, gid)
        assert res is not None and res.status == "SHUTOFF"
        assert res.attrs["server"]["status"] == "SHUTOFF"
        assert await session.get(SyncWatermark, ("RegionTwo", "server")) is not None
    # A server deleted through Cascade: the pass finalises the mapping and the quota.
    assert await _in_use(gw) == 1
    resp = await gw.client.delete(f"/compute/v2.1/servers/{gid}", headers=DEMO)
    assert resp.status == 204
    third = await reconcile_servers(sessions, client, "RegionTwo", margin=60)
    assert third.finalised == 1
    assert await _placement(gw, gid) is None and await _in_use(gw) == 0


async def test_a_server_deleted_behind_cascades_back_is_marked_missing(gw: Gateway) -> None:
    sessions, client = gw.app[SESSIONS], gw.app[REGION_CLIENT]
    gid, local = await _server(gw)
    await reconcile_servers(sessions, client, "RegionTwo", margin=0)
    region = gw.regions["RegionTwo"]
    gone = region.servers.pop(local)
    region.deleted[local] = {**gone, "status": "DELETED", "updated": region.now()}
    result = await refresh_server(sessions, client, "RegionTwo", local)
    assert result.missing == 1
    pl = await _placement(gw, gid)
    assert pl is not None and pl.state == MISSING


async def test_audit_adopts_removes_marks_and_deletes_only_tagged_orphans(
        gw: Gateway) -> None:
    sessions, client = gw.app[SESSIONS], gw.app[REGION_CLIENT]
    region = gw.regions["RegionOne"]
    # 1. A crash after the regional create: the placement has no regional id yet.
    adopted, local = await _server(gw, "RegionOne")
    async with sessions.begin() as session:
        pl = (await session.scalars(select(Placement).where(
            Placement.global_id == adopted))).one()
        pl.local_id, pl.state = None, PlacementState.CREATING
    # 2. A crash before the regional create: nothing in the region.
    never, never_local = await _server(gw, "RegionOne")
    region.servers.pop(never_local)
    async with sessions.begin() as session:
        pl = (await session.scalars(select(Placement).where(
            Placement.global_id == never))).one()
        pl.local_id, pl.state = None, PlacementState.CREATING
        (await session.get(Resource, never)).status = "BUILD"  # type: ignore[union-attr]
    # 3. Deleted in the region directly.
    missing, missing_local = await _server(gw, "RegionOne")
    region.servers.pop(missing_local)
    # 4. Tagged by Cascade but mapped by nothing (an orphan), and 5. someone else's.
    orphan_gid = str(uuid.uuid4())
    old = "2020-01-01T00:00:00Z"
    region.servers["orphan"] = {"id": "orphan", "name": "o", "status": "ACTIVE",
                                "metadata": {"cascade_global_id": orphan_gid,
                                             "cascade_owner": "cascade"},
                                "created": old, "updated": old}
    # 6. Tagged by another Cascade deployment sharing the region: never ours to delete.
    theirs = str(uuid.uuid4())
    region.servers["theirs"] = {"id": "theirs", "name": "t", "status": "ACTIVE",
                                "metadata": {"cascade_global_id": theirs,
                                             "cascade_owner": "elsewhere"},
                                "created": old, "updated": old}
    region.servers["foreign"] = {"id": "foreign", "name": "f", "status": "ACTIVE",
                                 "metadata": {}, "created": old, "updated": old}
    assert await _in_use(gw) == 3

    dry = await audit(sessions, client, ["RegionOne"], types=["server"], grace=0,
                      repair=False)
    actions = sorted((f.action, f.global_id) for f in dry.findings)
    assert actions == sorted([("adopted", adopted), ("removed", never),
                              ("missing", missing), ("orphan", orphan_gid),
                              ("orphan_foreign", theirs)])
    assert "orphan" in region.servers  # a report changes nothing

    report = await audit(sessions, client, ["RegionOne"], types=["server"], grace=0)
    assert {f.action for f in report.findings} == {"adopted", "removed", "missing",
                                                  "orphan_deleted", "orphan_foreign"}
    assert "theirs" in region.servers
    assert report.foreign["server"] == 1
    pl = await _placement(gw, adopted)
    assert pl is not None and (pl.local_id, pl.state) == (local, PlacementState.ACTIVE)
    assert await _placement(gw, never) is None
    pl = await _placement(gw, missing)
    assert pl is not None and pl.state == MISSING
    assert "orphan" not in region.servers and "foreign" in region.servers
    assert await _in_use(gw) == 2  # the create that never happened gave its quota back
    # A second audit finds nothing new to do.
    again = await audit(sessions, client, ["RegionOne"], types=["server"], grace=0)
    assert sorted(f.action for f in again.findings) == ["missing", "orphan_foreign"]


async def test_audit_never_acts_on_an_unreachable_region_or_young_objects(
        gw: Gateway) -> None:
    sessions, client = gw.app[SESSIONS], gw.app[REGION_CLIENT]
    gid, local = await _server(gw, "RegionOne")
    region = gw.regions["RegionOne"]
    region.down = True
    report = await audit(sessions, client, ["RegionOne"], types=["server"], grace=0)
    assert report.unreachable == ["RegionOne"] and report.drift == []
    region.down = False
    young = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    region.servers["young"] = {"id": "young", "name": "y", "status": "BUILD",
                               "metadata": {"cascade_global_id": str(uuid.uuid4())},
                               "created": young, "updated": young}
    report = await audit(sessions, client, ["RegionOne"], types=["server"], grace=300)
    assert [f.action for f in report.findings] == ["orphan_young"]
    assert "young" in region.servers and local in region.servers
    async with sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Placement))
    assert count == 1


