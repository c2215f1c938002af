"""Compute beyond the slice: pages across regions, actions, keypairs, flavors, zones,
region choice and NoValidHost fallback (fake regions; SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio

from cascade.compute.keypair_ops import fingerprint
from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import ADMIN, ALT, DEMO

PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBw9dGY4m6Yw0Jm3sY9Zc1lqvGkXq0cH3cVd"
              "3y2mD8lP demo@example")


async def _make(gw: Gateway, zones: list[str]) -> list[str]:
    out = []
    for zone in zones:
        resp = await gw.create(zone)
        assert resp.status == 202, await resp.text()
        out.append((await resp.json())["server"]["id"])
    return out


async def test_pages_across_regions_follow_global_markers(gw: Gateway) -> None:
    await _make(gw, ["RegionOne", "RegionTwo", "RegionOne", "RegionTwo", "RegionOne"])
    everything = (await (await gw.client.get("/compute/v2.1/servers/detail",
                                             headers=DEMO)).json())["servers"]
    expected = [s["id"] for s in everything]
    for limit in (1, 2, 3):
        assert await gw.walk(f"/compute/v2.1/servers/detail?limit={limit}", "servers") == expected
    assert await gw.walk("/compute/v2.1/servers?limit=2", "servers") == expected


async def test_pages_stay_exact_when_creation_times_tie(gw: Gateway) -> None:
    for fake in gw.regions.values():
        fake.tick = 0
    await _make(gw, ["RegionOne"] * 3 + ["RegionTwo"] * 3)
    expected = await gw.walk("/compute/v2.1/servers/detail", "servers")
    assert len(expected) == 6
    got = await gw.walk("/compute/v2.1/servers/detail?limit=1", "servers")
    assert sorted(got) == sorted(expected) and len(got) == 6


async def test_bad_marker_limit_and_sort_are_400(gw: Gateway) -> None:
    for query in ("marker=nope", "limit=-1", "limit=x", "sort_key=flavor"):
        resp = await gw.client.get(f"/compute/v2.1/servers?{query}", headers=DEMO)
        assert resp.status == 400, query
        assert "badRequest" in await resp.json()


async def test_sort_by_name_ascending_across_regions(gw: Gateway) -> None:
    for name, zone in (("c", "RegionOne"), ("a", "RegionTwo"), ("b", "RegionOne")):
        await gw.create(zone, name=name)
    names = [s["name"] for s in (await (await gw.client.get(
        "/compute/v2.1/servers/detail?sort_key=display_name&sort_dir=asc",
        headers=DEMO)).json())["servers"]]
    assert names == ["a", "b", "c"]


async def test_update_and_actions_are_forwarded_with_global_ids(gw: Gateway) -> None:
    (gid,) = await _make(gw, ["RegionTwo"])
    resp = await gw.client.put(f"/compute/v2.1/servers/{gid}", headers=DEMO,
                               json={"server": {"name": "renamed"}})
    assert resp.status == 200
    assert (await resp.json())["server"] == {**(await resp.json())["server"], "id": gid,
                                             "name": "renamed"}
    act = f"/compute/v2.1/servers/{gid}/action"
    assert (await gw.client.post(act, json={"os-stop": None}, headers=DEMO)).status == 202
    shown = await (await gw.client.get(f"/compute/v2.1/servers/{gid}", headers=DEMO)).json()
    assert shown["server"]["status"] == "SHUTOFF"
    resp = await gw.client.post(act, json={"os-stop": None}, headers=DEMO)
    assert resp.status == 409
    message = (await resp.json())["conflictingRequest"]["message"]
    assert gid in message
    local = next(iter(gw.regions["RegionTwo"].servers))
    assert local not in message
    assert (await gw.client.post(act, json={"os-stop": None}, headers=ALT)).status == 404


async def test_metadata_keeps_cascade_key_regionally_and_refuses_it(gw: Gateway) -> None:
    (gid,) = await _make(gw, ["RegionOne"])
    url = f"/compute/v2.1/servers/{gid}/metadata"
    resp = await gw.client.put(url, json={"metadata": {"a": "1"}}, headers=DEMO)
    assert resp.status == 200 and (await resp.json())["metadata"] == {"a": "1"}
    regional = next(iter(gw.regions["RegionOne"].servers.values()))
    assert regional["metadata"] == {"a": "1", "cascade_global_id": gid,
                                    "cascade_owner": "cascade"}
    for key in ("cascade_global_id", "cascade_owner"):
        resp = await gw.client.put(url, json={"metadata": {key: "x"}}, headers=DEMO)
        assert resp.status == 400


async def test_keypairs_are_stored_and_pushed_to_the_boot_region(gw: Gateway) -> None:
    resp = await gw.client.post("/compute/v2.1/os-keypairs", headers=DEMO, json={
        "keypair": {"name": "k1", "public_key": PUBLIC_KEY}})
    assert resp.status == 200  # microversion 2.1: Nova answers 200
    assert (await resp.json())["keypair"]["fingerprint"] == fingerprint(PUBLIC_KEY)
    resp = await gw.client.post("/compute/v2.1/os-keypairs", headers=DEMO, json={
        "keypair": {"name": "k1", "public_key": PUBLIC_KEY}})
    assert resp.status == 409
    generated = await (await gw.client.post("/compute/v2.1/os-keypairs", headers=DEMO, json={
        "keypair": {"name": "k2"}})).json()
    assert generated["keypair"]["private_key"].startswith("-----BEGIN")
    listed = await (await gw.client.get("/compute/v2.1/os-keypairs", headers=DEMO)).json()
    assert [k["keypair"]["name"] for k in listed["keypairs"]] == ["k1", "k2"]
    assert (await (await gw.client.get("/compute/v2.1/os-keypairs",
                                       headers=ALT)).json())["keypairs"] == []
    assert gw.regions["RegionTwo"].keypairs == {}
    resp = await gw.create("RegionTwo", key_name="k1")
    assert resp.status == 202, await resp.text()
    assert gw.regions["RegionTwo"].keypairs["k1"]["public_key"] == PUBLIC_KEY
    assert "k1" not in gw.regions["RegionOne"].keypairs
    resp = await gw.create("RegionOne", key_name="nope")
    assert resp.status == 400
    assert (await gw.client.delete("/compute/v2.1/os-keypairs/k1", headers=DEMO)).status == 202
    assert (await gw.client.get("/compute/v2.1/os-keypairs/k1", headers=DEMO)).status == 404


async def test_admin_flavor_create_reaches_every_region(gw: Gateway) -> None:
    body = {"flavor": {"name": "m9", "ram": 64, "vcpus": 1, "disk": 0}}
    assert (await gw.client.post("/compute/v2.1/flavors", json=body,
                                 headers=DEMO)).status == 403
    resp = await gw.client.post("/compute/v2.1/flavors", json=body, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    fid = (await resp.json())["flavor"]["id"]
    for fake in gw.regions.values():
        assert fid in {f["id"] for f in fake.flavors}
    assert (await gw.client.delete(f"/compute/v2.1/flavors/{fid}",
                                   headers=ADMIN)).status == 202
    for fake in gw.regions.values():
        assert fid not in {f["id"] for f in fake.flavors}


async def test_flavor_in_one_region_restricts_region_choice(gw: Gateway) -> None:
    gw.regions["RegionTwo"].flavors.append({"id": "77", "name": "only-two", "ram": 1,
                                            "disk": 0, "vcpus": 1})
    resp = await gw.create(None, flavorRef="77")
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["server"]["id"]
    assert len(gw.regions["RegionTwo"].servers) == 1 and not gw.regions["RegionOne"].servers


async def test_zones_list_regions_with_health(gw: Gateway) -> None:
    body = await (await gw.client.get("/compute/v2.1/os-availability-zone",
                                      headers=DEMO)).json()
    assert {z["zoneName"]: z["zoneState"]["available"]
            for z in body["availabilityZoneInfo"]} == {"RegionOne": True, "RegionTwo": True}


async def test_project_affinity_then_no_valid_host_fallback(gw: Gateway) -> None:
    await _make(gw, ["RegionTwo"])
    resp = await gw.create(None)
    assert len(gw.regions["RegionTwo"].servers) == 2, "the project's region comes first"
    gw.regions["RegionTwo"].no_valid_host = True
    resp = await gw.create(None, name="moved")
    gid = (await resp.json())["server"]["id"]
    for _ in range(40):
        shown = (await (await gw.client.get(f"/compute/v2.1/servers/{gid}",
                                            headers=DEMO)).json())["server"]
        if shown["status"] == "ACTIVE":
            break
        await asyncio.sleep(0.25)
    assert shown["status"] == "ACTIVE"
    assert shown["OS-EXT-AZ:availability_zone"] == "RegionOne"
    assert [s["name"] for s in gw.regions["RegionOne"].servers.values()] == ["moved"]
    assert "moved" not in [s["name"] for s in gw.regions["RegionTwo"].servers.values()]


async def test_no_valid_host_move_never_shows_a_server_the_region_deleted(
        gw: Gateway) -> None:
    """While the failed copy is being deleted, a show answers the building server
    (the placement already points at the next region), never 404."""
    await _make(gw, ["RegionTwo"])
    two = gw.regions["RegionTwo"]
    two.no_valid_host = True
    shown: list[tuple[int, str]] = []
    gid = ""

    async def show_meanwhile(_: str) -> None:
        resp = await gw.client.get(f"/compute/v2.1/servers/{gid}", headers=DEMO)
        shown.append((resp.status, (await resp.json()).get("server", {}).get("status", "")))

    two.on_delete = show_meanwhile
    gid = (await (await gw.create(None, name="moved")).json())["server"]["id"]
    for _ in range(40):
        if gw.regions["RegionOne"].servers:
            break
        await asyncio.sleep(0.25)
    assert [s["name"] for s in gw.regions["RegionOne"].servers.values()] == ["moved"]
    assert shown == [(200, "BUILD")]


async def test_max_count_creates_named_servers_with_one_reservation(gw: Gateway) -> None:
    resp = await gw.create("RegionOne", max_count=3, return_reservation_id=True)
    assert resp.status == 202
    assert (await resp.json())["reservation_id"].startswith("r-")
    names = sorted(s["name"] for s in gw.regions["RegionOne"].servers.values())
    assert names == ["vm-1", "vm-2", "vm-3"]
    assert len(await gw.mappings()) == 3


async def test_other_tenants_need_admin_all_tenants(gw: Gateway) -> None:
    await _make(gw, ["RegionOne"])
    resp = await gw.client.get("/compute/v2.1/servers?all_tenants=1", headers=ALT)
    assert resp.status == 403 and "forbidden" in await resp.json()
    listed = (await (await gw.client.get("/compute/v2.1/servers?all_tenants=1",
                                         headers=ADMIN)).json())["servers"]
    assert len(listed) == 1


async def test_concurrent_deletes_of_one_server_never_answer_500(gw: Gateway) -> None:
    """Deletes racing on one server (the region answers one 204, the rest 404 as the
    mapping goes): each answers 204 or 404, and the mapping ends removed."""
    import asyncio

    from tests.functional.gateway import DEMO as demo

    async def slow_delete(_: str) -> None:
        await asyncio.sleep(0.02)  # widen the window between the region and the rows

    gw.regions["RegionOne"].on_delete = slow_delete
    for _ in range(4):
        resp = await gw.create("RegionOne")
        sid = (await resp.json())["server"]["id"]
        answers = await asyncio.gather(*(
            gw.client.delete(f"/compute/v2.1/servers/{sid}", headers=demo)
            for _ in range(8)))
        statuses = [a.status for a in answers]
        texts = [await a.text() for a in answers]
        assert all(s in (202, 204, 404, 409) for s in statuses), (statuses, texts)
        assert any(s in (202, 204) for s in statuses), statuses


async def test_a_regions_400_on_a_flavor_list_is_the_callers_error(gw: Gateway) -> None:
    """A bad filter is refused by the regions with 400: the caller gets that 400 in
    Nova's format, not a 503 as if the regions were down."""
    from tests.functional.gateway import DEMO as demo

    resp = await gw.client.get("/compute/v2.1/flavors/detail?minRam=abc", headers=demo)
    body = await resp.json()
    assert resp.status == 400, body
    assert body["badRequest"]["code"] == 400 and "minRam" in body["badRequest"]["message"]


async def test_unshelve_names_cascades_zone_and_the_region_gets_its_own(gw: Gateway) -> None:
    [server_id] = await _make(gw, ["RegionOne"])
    fake = gw.regions["RegionOne"]
    for server in fake.servers.values():
        server["status"] = "SHELVED_OFFLOADED"
    listed = await (await gw.client.get("/compute/v2.1/os-availability-zone",
                                        headers=DEMO)).json()
    zones = [z["zoneName"] for z in listed["availabilityZoneInfo"]]
    url = f"/compute/v2.1/servers/{server_id}/action"
    at = {**DEMO, "OpenStack-API-Version": "compute 2.77"}
    other = next(z for z in zones if z != "RegionOne")
    resp = await gw.client.post(url, headers=at, json={"unshelve": {
        "availability_zone": other}})
    assert resp.status == 400
    assert "availability zone is not available" in await resp.text()
    resp = await gw.client.post(url, headers=at, json={"unshelve": {
        "availability_zone": "RegionOne"}})
    assert resp.status == 202, await resp.text()
    assert fake.last_action == {"unshelve": {}}, "the region's only zone: nothing pinned"
