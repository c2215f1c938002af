"""Objects somebody planted in a region with Cascade's tags are never adopted:
another project's network tagged ``cascade:<victim's network>`` and shared with
everyone, or tagged ports, stay theirs; the victim gets copies of their own
(fake Neutron here; tests/e2e/test_hostile_regions.py does it against real Neutron)."""
from __future__ import annotations

from typing import Any

import aiohttp

from tests.functional.api.compute.conftest import Gateway
from tests.functional.api.network.test_networks import N, _net_with_subnet, _post, _regional
from tests.functional.gateway import DEMO

ATTACKER = {"X-Auth-Token": "u9:attacker"}
#: The fake Neutron has no RBAC: ``shared`` (admin only there) stands in for a
#: network the attacker shares with the victim's project by an RBAC policy.
SHARING = {"X-Auth-Token": "u9:attacker:admin"}


async def _plant(gw: Gateway, region: str, kind: str, body: dict[str, Any],
                 tags: list[str], headers: dict[str, str] = ATTACKER) -> dict[str, Any]:
    """Create ``kind`` directly in the region as the attacker, then tag it."""
    base = f"{gw.regions[region].base}/network/v2.0"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/{kind}s", json={kind: body}, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            made = (await resp.json())[kind]
        async with http.put(f"{base}/{kind}s/{made['id']}/tags", json={"tags": tags},
                            headers=headers) as resp:
            assert resp.status == 200, await resp.text()
    return dict(made)


async def test_a_planted_shared_network_with_the_victims_tag_is_not_adopted(
        gw: Gateway) -> None:
    network, subnet = await _net_with_subnet(gw)
    tags = [f"cascade:{network['id']}", "cascade-owner:cascade"]
    planted = await _plant(gw, "RegionTwo", "network", {"name": "n1", "shared": True}, tags,
                           SHARING)
    port = (await _post(gw, "/ports", {"port": {
        "network_id": network["id"], "binding:profile": {"cascade_region": "RegionTwo"}}}))[
        "port"]
    nets = _regional(gw, "RegionTwo", "networks")
    mine = [n for n in nets if n["id"] != planted["id"]]
    assert len(mine) == 1 and mine[0]["project_id"] == "demo"
    ports = _regional(gw, "RegionTwo", "ports")
    assert [p["network_id"] for p in ports] == [mine[0]["id"]]
    assert port["network_id"] == network["id"]
    # The planted network is still there, the attacker's, untouched.
    assert gw.regions["RegionTwo"].neutron.networks[planted["id"]]["project_id"] == "attacker"
    assert subnet["id"]


async def test_a_planted_port_with_a_victims_port_tag_is_adopted_as_its_own(
        gw: Gateway) -> None:
    network, _ = await _net_with_subnet(gw)
    victim = (await _post(gw, "/ports", {"port": {
        "network_id": network["id"], "binding:profile": {"cascade_region": "RegionOne"}}}))[
        "port"]
    local_net = next(n["id"] for n in _regional(gw, "RegionOne", "networks"))
    planted = await _plant(gw, "RegionOne", "port", {"network_id": local_net},
                           [f"cascade:{victim['id']}", "cascade-owner:cascade"], SHARING)
    listed = (await (await gw.client.get(N + "/ports", headers=DEMO)).json())["ports"]
    # Exactly one port answers to the victim's id; the planted one keeps an id
    # of its own (derived from its regional id) and its project.
    assert [p["id"] for p in listed].count(victim["id"]) == 1
    # The victim's port still maps to the victim's regional port, not the planted one.
    mine = await (await gw.client.get(f"{N}/ports/{victim['id']}", headers=DEMO)).json()
    assert mine["port"]["project_id"] == "demo"
    attacker_view = await (await gw.client.get(f"{N}/ports/{victim['id']}",
                                               headers=ATTACKER)).json()
    assert "NeutronError" in attacker_view
    theirs = [p for p in listed if p["id"] != victim["id"]]
    assert [p["project_id"] for p in theirs] == ["attacker"] and planted["id"]


async def _copy_left_by_a_crash(gw: Gateway, tagged: bool) -> tuple[dict[str, Any], str]:
    """A deferred port, and a regional port in RegionTwo as Cascade's create would
    have left it had the process died before recording it: same project, network,
    MAC and address, and tagged or not (a crash between create and tag)."""
    network, _ = await _net_with_subnet(gw)
    assert await _post(gw, "/ports", {"port": {  # puts the network in RegionTwo
        "network_id": network["id"], "binding:profile": {"cascade_region": "RegionTwo"}}})
    port = (await _post(gw, "/ports", {"port": {"network_id": network["id"]}}))["port"]
    local_net = next(n for n in _regional(gw, "RegionTwo", "networks")
                     if f"cascade:{network['id']}" in n["tags"])
    tags = [f"cascade:{port['id']}", "cascade-owner:cascade"] if tagged else []
    left = await _plant(gw, "RegionTwo", "port", {
        "network_id": local_net["id"], "mac_address": port["mac_address"],
        "fixed_ips": [{"subnet_id": local_net["subnets"][0],
                       "ip_address": port["fixed_ips"][0]["ip_address"]}]}, tags, DEMO)
    return port, left["id"]


async def test_a_copy_left_by_a_crash_is_adopted_whether_or_not_it_was_tagged(
        gw: Gateway) -> None:
    """The port's create is refused (its MAC is taken), and the copy that holds the
    MAC, Cascade's own from before the crash, becomes the mapping: no second port."""
    for tagged in (False, True):
        port, left = await _copy_left_by_a_crash(gw, tagged)
        resp = await gw.create("RegionTwo", networks=[{"port": port["id"]}])
        assert resp.status == 202, await resp.text()
        copies = [p for p in _regional(gw, "RegionTwo", "ports")
                  if p["mac_address"] == port["mac_address"]]
        assert [p["id"] for p in copies] == [left]
        assert f"cascade:{port['id']}" in copies[0]["tags"]
