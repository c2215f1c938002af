"""Lists remember each server's entry by its region's exact text: a server that
has not changed is shown as before, one that changed in any way is worked out
again, and a remembered entry never reaches a caller it was not for."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from cascade.compute.server_pages import ServerPages

from cascade.appkeys import SESSIONS
from cascade.db.models import Resource
from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import ADMIN, ALT, DEMO

DETAIL = "/compute/v2.1/servers/detail"


async def _listed(gw: Gateway, path: str = DETAIL, headers: dict[str, str] = DEMO
                  ) -> list[dict[str, Any]]:
    resp = await gw.client.get(path, headers=headers)
    assert resp.status == 200
    return list((await resp.json())["servers"])


async def _local_id(gw: Gateway, region: str, gid: str) -> str:
    return next(lid for lid, s in gw.regions[region].servers.items()
                if s["metadata"]["cascade_global_id"] == gid)


async def test_an_unchanged_list_is_the_same_and_a_changed_server_shows_its_change(
        gw: Gateway) -> None:
    gid = (await (await gw.create("RegionOne")).json())["server"]["id"]
    await gw.create("RegionTwo")
    first = await _listed(gw)
    assert await _listed(gw) == first, "remembered entries: the same answer"
    local = await _local_id(gw, "RegionOne", gid)
    gw.regions["RegionOne"].servers[local]["OS-EXT-STS:power_state"] = 4
    gw.regions["RegionOne"].servers[local]["status"] = "SHUTOFF"
    again = {s["id"]: s for s in await _listed(gw)}
    assert again[gid]["status"] == "SHUTOFF" and again[gid]["OS-EXT-STS:power_state"] == 4
    # ... and the view Cascade keeps for a sick region has the change too.
    async with gw.app[SESSIONS]() as s:
        res = (await s.execute(select(Resource).where(Resource.global_id == gid))).scalar_one()
    assert res.attrs["server"]["status"] == "SHUTOFF"
    assert res.attrs["server"]["OS-EXT-STS:power_state"] == 4


async def test_links_follow_each_callers_host(gw: Gateway) -> None:
    gid = (await (await gw.create("RegionOne")).json())["server"]["id"]
    for host in ("cascade.example:8774", "10.0.0.9:28080", "cascade.example:8774"):
        listed = await _listed(gw, headers={**DEMO, "Host": host})
        assert listed[0]["links"][0]["href"] == f"http://{host}/compute/v2.1/servers/{gid}"


async def test_summary_lists_from_remembered_entries(gw: Gateway) -> None:
    gid = (await (await gw.create("RegionTwo")).json())["server"]["id"]
    detail = await _listed(gw)
    for _ in range(2):
        summary = await _listed(gw, "/compute/v2.1/servers")
        assert summary == [{k: detail[0][k] for k in ("id", "name", "links")}]
        assert summary[0]["id"] == gid


async def test_a_remembered_entry_is_not_shown_to_another_project(gw: Gateway) -> None:
    mine = (await (await gw.create("RegionOne")).json())["server"]["id"]
    theirs = (await (await gw.create("RegionOne", headers=ALT)).json())["server"]["id"]
    # The admin's list across projects remembers both entries.
    everyone = await _listed(gw, f"{DETAIL}?all_tenants=1", ADMIN)
    assert {s["id"] for s in everyone} == {mine, theirs}
    # The fake region answers every project's servers: Cascade must still hide them.
    assert [s["id"] for s in await _listed(gw, headers=ALT)] == [theirs]
    assert [s["id"] for s in await _listed(gw, headers=DEMO)] == [mine]


async def test_a_deleted_server_is_not_listed_from_memory(gw: Gateway) -> None:
    gid = (await (await gw.create("RegionOne")).json())["server"]["id"]
    keep = (await (await gw.create("RegionOne")).json())["server"]["id"]
    assert {s["id"] for s in await _listed(gw)} == {gid, keep}
    assert (await gw.client.delete(f"/compute/v2.1/servers/{gid}", headers=DEMO)).status == 204
    assert [s["id"] for s in await _listed(gw)] == [keep]


async def test_unchanged_servers_are_not_worked_out_again(
        gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of remembering: a list of servers that did not change decodes,
    rewrites and encodes none of them; a changed one is the only one redone."""
    gid = (await (await gw.create("RegionOne")).json())["server"]["id"]
    await gw.create("RegionTwo")
    worked: list[int] = []
    real = ServerPages._work_out

    async def counted(self: ServerPages, region: str, servers: list[dict[str, Any]],
                      *args: Any) -> Any:
        worked.append(len(servers))
        return await real(self, region, servers, *args)

    monkeypatch.setattr(ServerPages, "_work_out", counted)
    first = await _listed(gw)
    assert sum(worked) == 2
    worked.clear()
    assert await _listed(gw) == first
    assert await _listed(gw, "/compute/v2.1/servers") == [
        {k: s[k] for k in ("id", "name", "links")} for s in first]
    assert worked == [], "nothing unchanged is worked out again"
    local = await _local_id(gw, "RegionOne", gid)
    gw.regions["RegionOne"].servers[local]["status"] = "SHUTOFF"
    await _listed(gw)
    assert worked == [1], "only the changed server"
