"""``same_host`` and ``different_host`` hints name global servers (two fake regions,
SQLite and PostgreSQL): same_host pins the new server to their region and the
region is told their regional ids; different_host keeps only the servers the
chosen region holds; servers the caller cannot see are 400, never passed on."""
from __future__ import annotations

from typing import Any

from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import ALT, DEMO

IMAGE_ID = "8a1a2f3e-6c1d-4f6b-9a55-2f0e7d1c0a01"


async def _boot(gw: Gateway, hints: dict[str, Any], zone: str | None = None,
                headers: dict[str, str] = DEMO) -> Any:
    server: dict[str, Any] = {"name": "vm", "flavorRef": "1", "imageRef": IMAGE_ID,
                              "networks": "none"}
    if zone:
        server["availability_zone"] = zone
    return await gw.client.post("/compute/v2.1/servers", headers=headers, json={
        "server": server, "os:scheduler_hints": hints})


async def test_same_and_different_host_in_regional_ids(gw: Gateway) -> None:
    one = await gw.create("RegionOne")
    two = await gw.create("RegionTwo")
    one_id = (await one.json())["server"]["id"]
    two_id = (await two.json())["server"]["id"]
    [local_two] = gw.regions["RegionTwo"].servers
    # same_host: the new server goes where that server is, told its regional id.
    resp = await _boot(gw, {"same_host": two_id})
    assert resp.status == 202, await resp.text()
    assert gw.regions["RegionTwo"].create_hints[-1] == {"same_host": [local_two]}
    # different_host: only the servers of the chosen region are named there.
    resp = await _boot(gw, {"different_host": [one_id, two_id]}, zone="RegionTwo")
    assert resp.status == 202, await resp.text()
    assert gw.regions["RegionTwo"].create_hints[-1] == {"different_host": [local_two]}
    resp = await _boot(gw, {"different_host": [one_id]}, zone="RegionTwo")
    assert resp.status == 202, await resp.text()
    assert gw.regions["RegionTwo"].create_hints[-1] is None
    # No host holds servers of two regions.
    resp = await _boot(gw, {"same_host": [one_id, two_id]})
    assert resp.status == 400 and "different regions" in await resp.text()
    # same_host and a zone of another region cannot both hold.
    resp = await _boot(gw, {"same_host": one_id}, zone="RegionTwo")
    assert resp.status == 409, await resp.text()


async def test_another_projects_server_is_not_found(gw: Gateway) -> None:
    mine = (await (await gw.create("RegionOne")).json())["server"]["id"]
    before = len(gw.regions["RegionOne"].create_hints)
    resp = await _boot(gw, {"same_host": mine}, headers=ALT)
    assert resp.status == 400
    assert f"Instance {mine} could not be found." in await resp.text()
    assert len(gw.regions["RegionOne"].create_hints) == before, "nothing reached a region"
