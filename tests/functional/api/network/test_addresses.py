"""Cascade owns its networks' addresses (SQLite and PostgreSQL, two fake regions):
a port has its addresses at create, wherever it lands later; no two ports of
one network share an address in any region; Neutron's refusals; addresses come
back when a port goes or changes; a region's copy of a subnet can allocate only
one address of its own; Nova's ports for network boots take Cascade's address.
The same behaviour against real Neutron: tests/e2e/test_network_addresses.py."""
from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from cascade.appkeys import REGION_CLIENT, SESSIONS
from cascade.sync.deletes import sweep_deletes
from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import DEMO

N = "/networking/v2.0"


async def _post(gw: Gateway, path: str, body: Any) -> Any:
    resp = await gw.client.post(N + path, json=body, headers=DEMO)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _network(gw: Gateway, cidr: str, **subnet: Any) -> tuple[str, str]:
    net = (await _post(gw, "/networks", {"network": {"name": "n"}}))["network"]["id"]
    sub = (await _post(gw, "/subnets", {"subnet": {
        "network_id": net, "cidr": cidr, "ip_version": 4, **subnet}}))["subnet"]["id"]
    return net, sub


async def _port(gw: Gateway, net: str, **port: Any) -> Any:
    resp = await gw.client.post(N + "/ports", headers=DEMO,
                                json={"port": {"network_id": net, **port}})
    return resp.status, await resp.json()


def _addresses(port: dict[str, Any]) -> list[str]:
    return [ip["ip_address"] for ip in port["fixed_ips"]]


async def test_ports_in_every_region_and_none_share_one_address_space(gw: Gateway) -> None:
    net, sub = await _network(gw, "10.5.0.0/24")
    made = []
    for where in ("RegionOne", "RegionTwo", None, "RegionOne", None):
        profile = {"binding:profile": {"cascade_region": where}} if where else {}
        status, body = await _port(gw, net, **profile)
        assert status == 201, body
        made.append(body["port"])
    addresses = [a for p in made for a in _addresses(p)]
    assert len(addresses) == 5 and len(set(addresses)) == 5
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("10.5.0.0/24")
               for a in addresses)
    # The regional copies hold the addresses Cascade gave, and their own subnet
    # copies can allocate only one address each, one no port holds.
    for region in ("RegionOne", "RegionTwo"):
        neutron = gw.regions[region].neutron
        regional = [ip["ip_address"] for p in neutron.ports.values()
                    for ip in p["fixed_ips"]]
        assert set(regional) <= set(addresses) and regional
        (copy,) = neutron.subnets.values()
        (pool,) = copy["allocation_pools"]
        assert pool["start"] == pool["end"] and pool["start"] not in addresses
    shown = {p["id"]: _addresses(p) for p in (await (await gw.client.get(
        N + "/ports", headers=DEMO)).json())["ports"]}
    assert shown == {p["id"]: _addresses(p) for p in made}
    # Neutron's substring filter on addresses, over placed and deferred ports.
    last = addresses[-1]
    found = (await (await gw.client.get(
        N + f"/ports?fixed_ips=ip_address_substr={last[-4:]}", headers=DEMO)).json())["ports"]
    assert {p["id"] for p in found} == {p["id"] for p in made
                                        if any(last[-4:] in a for a in _addresses(p))}
    assert made[-1]["id"] in {p["id"] for p in found}
    assert sub


async def test_asked_for_addresses_and_neutrons_refusals(gw: Gateway) -> None:
    net, sub = await _network(gw, "10.6.0.0/29",
                              allocation_pools=[{"start": "10.6.0.2", "end": "10.6.0.3"}])
    status, body = await _port(gw, net, fixed_ips=[{"subnet_id": sub, "ip_address": "10.6.0.6"}])
    assert status == 201 and _addresses(body["port"]) == ["10.6.0.6"]
    status, body = await _port(gw, net, fixed_ips=[{"ip_address": "10.6.0.6"}],
                               **{"binding:profile": {"cascade_region": "RegionTwo"}})
    assert status == 409
    assert body["NeutronError"]["type"] == "IpAddressAlreadyAllocated"
    assert body["NeutronError"]["message"] == (
        f"IP address 10.6.0.6 already allocated in subnet {sub}")
    for fixed, kind in (([{"subnet_id": sub, "ip_address": "10.6.0.7"}], "InvalidIpForSubnet"),
                        ([{"ip_address": "10.99.0.1"}], "InvalidIpForNetwork")):
        status, body = await _port(gw, net, fixed_ips=fixed)
        assert status == 400 and body["NeutronError"]["type"] == kind, body
    # The pool has two addresses: two ports, then Neutron's exhaustion 409.
    for _ in range(2):
        status, body = await _port(gw, net)
        assert status == 201, body
    status, body = await _port(gw, net)
    assert status == 409
    assert body["NeutronError"] == {
        "type": "IpAddressGenerationFailure", "detail": "",
        "message": f"No more IP addresses available on network {net}."}
    # An empty list asks for a port without addresses.
    status, body = await _port(gw, net, fixed_ips=[])
    assert status == 201 and body["port"]["fixed_ips"] == []


async def test_slaac_addresses_come_from_the_mac(gw: Gateway) -> None:
    net, _ = await _network(gw, "10.7.0.0/24")
    slaac = (await _post(gw, "/subnets", {"subnet": {
        "network_id": net, "cidr": "fd00:7::/64", "ip_version": 6,
        "ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}}))["subnet"]["id"]
    status, body = await _port(gw, net, mac_address="fa:16:3e:89:4c:cf")
    assert status == 201, body
    assert body["port"]["fixed_ips"][1] == {"subnet_id": slaac,
                                            "ip_address": "fd00:7::f816:3eff:fe89:4ccf"}
    status, body = await _port(gw, net, fixed_ips=[{"subnet_id": slaac,
                                                    "ip_address": "fd00:7::5"}])
    assert status == 400
    assert body["NeutronError"]["type"] == "AllocationOnAutoAddressSubnet"


async def test_addresses_come_back_when_a_port_goes_or_changes(gw: Gateway) -> None:
    net, sub = await _network(gw, "10.8.0.0/29",
                              allocation_pools=[{"start": "10.8.0.2", "end": "10.8.0.4"}])
    status, body = await _port(gw, net)
    assert status == 201 and _addresses(body["port"]) == ["10.8.0.2"]
    resp = await gw.client.delete(f"{N}/ports/{body['port']['id']}", headers=DEMO)
    assert resp.status == 204
    # The address given back is given again; the network's first copy
    # (RegionOne) keeps the next pool address for itself.
    status, body = await _port(gw, net, **{"binding:profile": {"cascade_region": "RegionOne"}})
    assert status == 201 and _addresses(body["port"]) == ["10.8.0.2"]
    (copy,) = gw.regions["RegionOne"].neutron.subnets.values()
    assert copy["allocation_pools"] == [{"start": "10.8.0.3", "end": "10.8.0.3"}]
    placed = body["port"]["id"]
    # An update to an address outside the pool frees the one it had.
    resp = await gw.client.put(f"{N}/ports/{placed}", headers=DEMO, json={"port": {
        "fixed_ips": [{"subnet_id": sub, "ip_address": "10.8.0.6"}]}})
    assert resp.status == 200, await resp.text()
    assert _addresses((await resp.json())["port"]) == ["10.8.0.6"]
    regional = [ip["ip_address"] for p in gw.regions["RegionOne"].neutron.ports.values()
                for ip in p["fixed_ips"]]
    assert regional == ["10.8.0.6"]
    for expected in ("10.8.0.2", "10.8.0.4"):
        status, body = await _port(gw, net)
        assert status == 201 and _addresses(body["port"]) == [expected]
    status, _ = await _port(gw, net)
    assert status == 409


async def test_concurrent_creates_never_share_an_address_nor_overshoot_the_pool(
        gw: Gateway) -> None:
    net, _ = await _network(gw, "10.9.0.0/28")  # 13 pool addresses
    results = await asyncio.gather(*(_port(gw, net) for _ in range(20)))
    made = [body["port"] for status, body in results if status == 201]
    refused = [body for status, body in results if status == 409]
    assert len(made) == 13 and len(refused) == 7
    assert len({a for p in made for a in _addresses(p)}) == 13
    assert all(b["NeutronError"]["type"] == "IpAddressGenerationFailure" for b in refused)


async def test_a_network_boot_gives_nova_the_address_cascade_allocated(gw: Gateway) -> None:
    net, _ = await _network(gw, "10.10.0.0/29",
                            allocation_pools=[{"start": "10.10.0.2", "end": "10.10.0.4"}])
    resp = await gw.create("RegionTwo", networks=[{"uuid": net}])
    assert resp.status == 202, await resp.text()
    server = (await resp.json())["server"]["id"]
    # The region's copy keeps .2 for itself; Nova is told to use .3.
    (sent,) = gw.regions["RegionTwo"].create_bodies[-1]["networks"]
    assert sent["fixed_ip"] == "10.10.0.3" and "cascade_network" not in sent
    # That address is held: a port gets the next one, and then none is left.
    status, body = await _port(gw, net)
    assert status == 201 and _addresses(body["port"]) == ["10.10.0.4"]
    status, _ = await _port(gw, net)
    assert status == 409
    # The server's address comes back once its delete is done.
    resp = await gw.client.delete(f"/compute/v2.1/servers/{server}", headers=DEMO)
    assert resp.status == 204
    assert await sweep_deletes(gw.app[SESSIONS], gw.app[REGION_CLIENT]) == 1
    status, body = await _port(gw, net)
    assert status == 201 and _addresses(body["port"]) == ["10.10.0.3"]


async def test_a_bad_or_taken_address_in_a_boot_is_novas_4xx_and_holds_nothing(
        gw: Gateway) -> None:
    net, _ = await _network(gw, "10.11.0.0/29",
                            allocation_pools=[{"start": "10.11.0.2", "end": "10.11.0.4"}])
    before = len(gw.regions["RegionOne"].create_bodies)
    for fixed in ("10.99.0.5", "not-an-ip"):
        resp = await gw.create("RegionOne", networks=[{"uuid": net, "fixed_ip": fixed}])
        assert resp.status == 400, await resp.text()
        assert "badRequest" in await resp.json(), "Nova's error body, not Neutron's"
    assert len(gw.regions["RegionOne"].create_bodies) == before, "nothing reached Nova"
    status, body = await _port(gw, net, fixed_ips=[{"ip_address": "10.11.0.4"}])
    assert status == 201
    resp = await gw.create("RegionOne", networks=[{"uuid": net, "fixed_ip": "10.11.0.4"}])
    assert resp.status == 409 and "conflictingRequest" in await resp.json()
    # Nothing the refused boots asked for is held: the network's RegionOne copy
    # keeps .2, the port .4, and .3 is still free to take, the last one.
    status, body = await _port(gw, net)
    assert status == 201 and _addresses(body["port"]) == ["10.11.0.3"], body
    status, _ = await _port(gw, net)
    assert status == 409
