"""Server groups: recorded by Cascade, placed in the region of their first member, later
members sent there with the regional group in their hints, members shown by global
ids, quota on groups and members, views per microversion (fake regions; SQLite, PG)."""
from __future__ import annotations

from typing import Any

from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import ALT, DEMO

G = "/compute/v2.1/os-server-groups"
IMAGE_ID = "8a1a2f3e-6c1d-4f6b-9a55-2f0e7d1c0a01"


def _at(version: str) -> dict[str, str]:
    return {**DEMO, "OpenStack-API-Version": f"compute {version}"}


async def _boot(gw: Gateway, group: str, zone: str | None = None) -> Any:
    server: dict[str, Any] = {"name": "vm", "flavorRef": "1", "imageRef": IMAGE_ID,
                              "networks": "none"}
    if zone:
        server["availability_zone"] = zone
    return await gw.client.post("/compute/v2.1/servers", headers=DEMO, json={
        "server": server, "os:scheduler_hints": {"group": group}})


async def test_a_group_lives_where_its_first_member_boots(gw: Gateway) -> None:
    resp = await gw.client.post(G, headers=_at("2.64"), json={"server_group": {
        "name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}})
    assert resp.status == 200, await resp.text()
    group = (await resp.json())["server_group"]
    assert (group["policy"], group["rules"], group["members"]) == (
        "anti-affinity", {"max_server_per_host": 2}, [])
    assert all(not fake.server_groups for fake in gw.regions.values()), "not placed yet"
    first = await _boot(gw, group["id"], zone="RegionTwo")
    assert first.status == 202, await first.text()
    [regional] = gw.regions["RegionTwo"].server_groups.values()
    second = await _boot(gw, group["id"])
    assert second.status == 202, await second.text()
    assert len(regional["members"]) == 2, "the second member followed the group"
    assert not gw.regions["RegionOne"].server_groups
    shown = (await (await gw.client.get(f"{G}/{group['id']}", headers=_at("2.64"))).json())[
        "server_group"]
    ids = {(await first.json())["server"]["id"], (await second.json())["server"]["id"]}
    assert set(shown["members"]) == ids
    refused = await _boot(gw, group["id"], zone="RegionOne")
    assert refused.status == 409, "a member cannot go to another region"
    assert (await gw.client.get(f"{G}/{group['id']}", headers=ALT)).status == 404
    assert (await gw.client.delete(f"{G}/{group['id']}", headers=DEMO)).status == 204
    assert not gw.regions["RegionTwo"].server_groups


async def test_views_and_schema_follow_the_microversion(gw: Gateway) -> None:
    old = await (await gw.client.post(G, headers=_at("2.1"), json={"server_group": {
        "name": "o", "policies": ["affinity"]}})).json()
    assert old["server_group"]["policies"] == ["affinity"]
    assert "project_id" not in old["server_group"] and "metadata" in old["server_group"]
    resp = await gw.client.post(G, headers=_at("2.1"), json={"server_group": {
        "name": "s", "policies": ["soft-affinity"]}})
    assert resp.status == 400, "soft policies come with 2.15"
    resp = await gw.client.post(G, headers=_at("2.64"), json={"server_group": {
        "name": "x", "policies": ["affinity"]}})
    assert resp.status == 400
    listed = await (await gw.client.get(G, headers=_at("2.13"))).json()
    assert [g["project_id"] for g in listed["server_groups"]] == ["demo"]
    assert (await (await gw.client.get(G, headers=ALT)).json())["server_groups"] == []


async def test_groups_and_members_count_against_quota(gw: Gateway) -> None:
    admin = {"X-Auth-Token": "adm:admin:admin"}
    resp = await gw.client.put("/compute/v2.1/os-quota-sets/demo", headers=admin, json={
        "quota_set": {"server_groups": 1, "server_group_members": 1}})
    assert resp.status == 200, await resp.text()
    group = (await (await gw.client.post(G, headers=DEMO, json={"server_group": {
        "name": "q", "policies": ["affinity"]}})).json())["server_group"]
    resp = await gw.client.post(G, headers=DEMO, json={"server_group": {
        "name": "q2", "policies": ["affinity"]}})
    assert resp.status == 403
    assert (await _boot(gw, group["id"])).status == 202
    resp = await _boot(gw, group["id"])
    assert resp.status == 403
    assert "too many servers in group" in await resp.text()
