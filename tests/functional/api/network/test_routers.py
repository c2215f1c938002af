"""Routers and floating IPs at the API (SQLite and PostgreSQL): recorded with Neutron's
answers and errors, isolated per project, counted in the global quota, and never
asking a region on the request path. The regional side (copies, bridge, routes) is
proven against the real regions in ``tests/e2e/test_cli_routers.py``."""
from __future__ import annotations

import ipaddress
from typing import Any

from cascade import appkeys
from cascade.networks import bridge
from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import ADMIN, ALT, DEMO

N = "/networking/v2.0"


async def _post(gw: Gateway, path: str, body: Any, headers: dict[str, str] = DEMO) -> Any:
    resp = await gw.client.post(N + path, json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _put(gw: Gateway, path: str, body: Any, headers: dict[str, str] = DEMO
               ) -> tuple[int, Any]:
    resp = await gw.client.put(N + path, json=body, headers=headers)
    return resp.status, await resp.json()


async def _subnet(gw: Gateway, cidr: str, headers: dict[str, str] = DEMO) -> dict[str, Any]:
    net = (await _post(gw, "/networks", {"network": {"name": "n"}}, headers))["network"]
    return dict((await _post(gw, "/subnets", {"subnet": {
        "network_id": net["id"], "cidr": cidr, "ip_version": 4}}, headers))["subnet"])


def _error(body: Any) -> tuple[str, str]:
    return body["NeutronError"]["type"], body["NeutronError"]["message"]


async def test_interfaces_are_recorded_with_neutrons_answers_and_refusals(gw: Gateway) -> None:
    router = (await _post(gw, "/routers", {"router": {"name": "r"}}))["router"]
    assert router["routes"] == [] and router["external_gateway_info"] is None
    a = await _subnet(gw, "10.1.0.0/24")
    status, added = await _put(gw, f"/routers/{router['id']}/add_router_interface",
                               {"subnet_id": a["id"]})
    assert status == 200, added
    assert added["subnet_id"] == a["id"] and added["network_id"] == a["network_id"]
    # The interface is a port on the subnet's gateway address, the router's.
    port = (await (await gw.client.get(f"{N}/ports/{added['port_id']}",
                                       headers=DEMO)).json())["port"]
    assert port["device_id"] == router["id"]
    assert port["device_owner"] == "network:router_interface"
    assert port["fixed_ips"] == [{"subnet_id": a["id"], "ip_address": "10.1.0.1"}]
    # Neutron's refusals: the same subnet again, an overlapping one, a bad body.
    status, body = await _put(gw, f"/routers/{router['id']}/add_router_interface",
                              {"subnet_id": a["id"]})
    assert status == 400 and "already has a port on subnet" in _error(body)[1]
    b = await _subnet(gw, "10.1.0.0/16")
    status, body = await _put(gw, f"/routers/{router['id']}/add_router_interface",
                              {"subnet_id": b["id"]})
    assert status == 400 and _error(body) == ("BadRequest", (
        f"Bad router request: Cidr 10.1.0.0/16 of subnet {b['id']} overlaps with cidr "
        f"10.1.0.0/24 of subnet {a['id']}."))
    for bad in ({}, {"subnet_id": a["id"], "port_id": port["id"]}):
        status, body = await _put(gw, f"/routers/{router['id']}/add_router_interface", bad)
        assert status == 400, body
    # A route's next hop must be connected; one that is is kept as given.
    status, body = await _put(gw, f"/routers/{router['id']}", {"router": {"routes": [
        {"destination": "0.0.0.0/0", "nexthop": "192.168.9.9"}]}})
    assert status == 400 and _error(body)[0] == "InvalidRoutes"
    routes = [{"destination": "192.168.0.0/16", "nexthop": "10.1.0.9"}]
    status, body = await _put(gw, f"/routers/{router['id']}", {"router": {"routes": routes}})
    assert status == 200 and body["router"]["routes"] == routes
    # In use until its interfaces go; an unknown interface is Neutron's 404.
    resp = await gw.client.delete(f"{N}/routers/{router['id']}", headers=DEMO)
    assert resp.status == 409 and _error(await resp.json())[0] == "RouterInUse"
    status, body = await _put(gw, f"/routers/{router['id']}/remove_router_interface",
                              {"subnet_id": b["id"]})
    assert status == 404 and _error(body)[0] == "RouterInterfaceNotFoundForSubnet"
    # A route still needs the interface: Neutron's 409 until the route goes.
    status, body = await _put(gw, f"/routers/{router['id']}/remove_router_interface",
                              {"subnet_id": a["id"]})
    assert status == 409 and _error(body)[0] == "RouterInterfaceInUseByRoute"
    status, _ = await _put(gw, f"/routers/{router['id']}", {"router": {"routes": []}})
    assert status == 200
    status, body = await _put(gw, f"/routers/{router['id']}/remove_router_interface",
                              {"subnet_id": a["id"]})
    assert status == 200 and body["port_id"] == port["id"]
    resp = await gw.client.delete(f"{N}/routers/{router['id']}", headers=DEMO)
    assert resp.status == 204
    resp = await gw.client.get(f"{N}/routers/{router['id']}", headers=DEMO)
    assert resp.status == 404 and _error(await resp.json())[0] == "RouterNotFound"
    # Nothing of it reached a region: no interface's network is anywhere.
    for region in gw.regions.values():
        assert not region.neutron.networks


async def test_malformed_router_and_floating_ip_bodies_get_neutrons_400(gw: Gateway) -> None:
    router = (await _post(gw, "/routers", {"router": {"name": "r"}}))["router"]
    for body in ({"router": {"tags": "abc"}}, {"router": {"name": "x" * 300}},
                 {"router": {"admin_state_up": "maybe"}}, {"router": {"bogus": 1}},
                 {"router": {"availability_zone_hints": [1]}}, {"nope": {}}, ["router"]):
        resp = await gw.client.post(f"{N}/routers", json=body, headers=DEMO)
        assert resp.status == 400, (body, await resp.text())
        assert set((await resp.json())["NeutronError"]) == {"type", "message", "detail"}
    for body in ({"router": {"status": "DOWN"}}, {"router": {"routes": "x"}},
                 {"router": {"external_gateway_info": "public"}}):
        status, answer = await _put(gw, f"/routers/{router['id']}", body)
        assert status == 400, (body, answer)
    for body in ({"floatingip": {"floating_network_id": "not-a-uuid"}},
                 {"floatingip": {"floating_network_id": router["id"], "port_id": 7}},
                 {"floatingip": {"floating_network_id": router["id"], "tags": "a"}}):
        resp = await gw.client.post(f"{N}/floatingips", json=body, headers=DEMO)
        assert resp.status == 400, (body, await resp.text())
    for bad in ({"subnet_id": ["x"]}, "subnet"):
        status, answer = await _put(gw, f"/routers/{router['id']}/add_router_interface",
                                    bad)
        assert status in (400, 404), answer
        assert "NeutronError" in answer


async def test_another_project_cannot_see_or_touch_a_router(gw: Gateway) -> None:
    router = (await _post(gw, "/routers", {"router": {"name": "mine"}}))["router"]
    mine = await _subnet(gw, "10.2.0.0/24")
    listed = await (await gw.client.get(f"{N}/routers", headers=ALT)).json()
    assert router["id"] not in {r["id"] for r in listed["routers"]}
    assert (await gw.client.get(f"{N}/routers/{router['id']}", headers=ALT)).status == 404
    status, _ = await _put(gw, f"/routers/{router['id']}", {"router": {"name": "x"}}, ALT)
    assert status == 404
    status, _ = await _put(gw, f"/routers/{router['id']}/add_router_interface",
                           {"subnet_id": mine["id"]}, ALT)
    assert status == 404
    theirs = (await _post(gw, "/routers", {"router": {"name": "theirs"}}, ALT))["router"]
    status, body = await _put(gw, f"/routers/{theirs['id']}/add_router_interface",
                              {"subnet_id": mine["id"]}, ALT)
    assert status == 404 and _error(body)[0] == "SubnetNotFound"
    assert (await gw.client.get(f"{N}/routers/{router['id']}", headers=ADMIN)).status == 200


async def test_router_quota_is_global_and_exact(gw: Gateway) -> None:
    status, _ = await _put(gw, "/quotas/demo", {"quota": {"router": 2}}, ADMIN)
    assert status == 200
    made = [(await _post(gw, "/routers", {"router": {"name": f"q{i}"}}))["router"]["id"]
            for i in range(2)]
    resp = await gw.client.post(f"{N}/routers", json={"router": {"name": "over"}},
                                headers=DEMO)
    assert resp.status == 409 and _error(await resp.json())[0] == "OverQuota"
    assert (await gw.client.delete(f"{N}/routers/{made[0]}", headers=DEMO)).status == 204
    details = await (await gw.client.get(f"{N}/quotas/demo/details", headers=DEMO)).json()
    # A router in no region is gone at once, and so is its share of the quota.
    assert details["quota"]["router"]["used"] == 1


async def test_a_projects_bridge_network_is_never_a_tenants(gw: Gateway) -> None:
    sessions = gw.app[appkeys.SESSIONS]
    async with sessions.begin() as session:
        net, sub = await bridge.ensure(session, gw.app[appkeys.CONF], "demo")
    listed = await (await gw.client.get(f"{N}/networks", headers=DEMO)).json()
    assert net.global_id not in {n["id"] for n in listed["networks"]}
    assert (await gw.client.get(f"{N}/networks/{net.global_id}", headers=DEMO)).status == 404
    shown = await (await gw.client.get(f"{N}/networks/{net.global_id}",
                                       headers=ADMIN)).json()
    assert shown["network"]["cascade:bridge_for"] == "demo"
    assert shown["network"]["provider:network_type"] == "vlan"
    # A tenant's interface that would overlap the bridge is refused.
    router = (await _post(gw, "/routers", {"router": {"name": "r"}}))["router"]
    clash = await _subnet(gw, str(sub.attrs["cidr"]))
    status, body = await _put(gw, f"/routers/{router['id']}/add_router_interface",
                              {"subnet_id": clash["id"]})
    assert status == 400 and "overlaps" in _error(body)[1]


async def test_floating_ips_need_an_external_network(gw: Gateway) -> None:
    net = (await _post(gw, "/networks", {"network": {"name": "plain"}}))["network"]
    resp = await gw.client.post(f"{N}/floatingips", headers=DEMO,
                                json={"floatingip": {"floating_network_id": net["id"]}})
    assert resp.status == 400, await resp.text()
    resp = await gw.client.post(f"{N}/floatingips", headers=DEMO, json={"floatingip": {}})
    assert resp.status == 400
    resp = await gw.client.post(f"{N}/floatingips", headers=DEMO, json={"floatingip": {
        "floating_network_id": "0e5b5c58-6f7a-4c09-bb3b-1d1f4a6e5e7c"}})
    assert resp.status == 404


async def test_a_gateway_outside_the_routers_zone_hints_is_refused(gw: Gateway) -> None:
    """A router hinted to one zone stays local to that region: an external network
    of another region cannot be its gateway (it would make the router span)."""
    ext = await _external(gw, "RegionTwo", "public")
    assert ext["availability_zones"] == ["RegionTwo"]
    hinted = (await _post(gw, "/routers", {"router": {
        "name": "local", "availability_zone_hints": ["RegionOne"]}}))["router"]
    status, body = await _put(gw, f"/routers/{hinted['id']}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})
    assert status == 400 and "availability_zone_hints" in _error(body)[1], body
    resp = await gw.client.post(f"{N}/routers", headers=DEMO, json={"router": {
        "name": "local2", "availability_zone_hints": ["RegionOne"],
        "external_gateway_info": {"network_id": ext["id"]}}})
    assert resp.status == 400, await resp.text()
    free = (await _post(gw, "/routers", {"router": {"name": "anywhere"}}))["router"]
    status, body = await _put(gw, f"/routers/{free['id']}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})
    assert status == 200, body
    assert body["router"]["external_gateway_info"]["network_id"] == ext["id"]


async def test_interfaces_by_port_are_neutrons(gw: Gateway) -> None:
    """Add by port; a port attached already is PortInUse; removal by port, or by port
    and its subnet (both may be given for a removal, as in Neutron), with Neutron's
    refusals for an unknown interface and a subnet that is not the port's."""
    router = (await _post(gw, "/routers", {"router": {"name": "r"}}))["router"]
    a = await _subnet(gw, "10.61.0.0/24")
    b = await _subnet(gw, "10.62.0.0/24")
    port = (await _post(gw, "/ports", {"port": {"network_id": a["network_id"]}}))["port"]
    status, added = await _put(gw, f"/routers/{router['id']}/add_router_interface",
                               {"port_id": port["id"]})
    assert status == 200, added
    assert added["port_id"] == port["id"] and added["subnet_id"] == a["id"]
    shown = (await (await gw.client.get(f"{N}/ports/{port['id']}", headers=DEMO)).json())[
        "port"]
    assert shown["device_id"] == router["id"]
    assert shown["device_owner"] == "network:router_interface"
    status, body = await _put(gw, f"/routers/{router['id']}/add_router_interface",
                              {"port_id": port["id"]})
    assert status == 409 and _error(body)[0] == "PortInUse"
    status, body = await _put(gw, f"/routers/{router['id']}/add_router_interface",
                              {"port_id": port["id"], "subnet_id": a["id"]})
    assert status == 400 and "Cannot specify both" in _error(body)[1]
    missing = "0e5b5c58-6f7a-4c09-bb3b-1d1f4a6e5e7c"
    status, body = await _put(gw, f"/routers/{router['id']}/remove_router_interface",
                              {"port_id": missing})
    assert status == 404 and _error(body)[0] == "RouterInterfaceNotFound"
    status, body = await _put(gw, f"/routers/{router['id']}/remove_router_interface",
                              {"port_id": port["id"], "subnet_id": b["id"]})
    assert status == 400 and _error(body)[0] == "SubnetMismatchForPort"
    for bad in ({"port_id": port["id"], "subnet_id": ["x"]}, {"port_id": 7}, [port["id"]]):
        status, body = await _put(gw, f"/routers/{router['id']}/remove_router_interface",
                                  bad)
        assert status in (400, 404) and "NeutronError" in body, (bad, body)
    status, body = await _put(gw, f"/routers/{router['id']}/remove_router_interface",
                              {"port_id": port["id"], "subnet_id": a["id"]})
    assert status == 200 and body["port_id"] == port["id"], body
    resp = await gw.client.delete(f"{N}/routers/{router['id']}", headers=DEMO)
    assert resp.status == 204


async def test_router_lists_filter_pick_fields_sort_and_page_as_neutron(gw: Gateway) -> None:
    made = [(await _post(gw, "/routers", {"router": {"name": name}}))["router"]
            for name in ("rb", "ra", "rc")]
    resp = await gw.client.put(f"{N}/routers/{made[0]['id']}/tags", headers=DEMO,
                               json={"tags": ["blue"]})
    assert resp.status == 200

    async def listed(query: str) -> Any:
        resp = await gw.client.get(f"{N}/routers?{query}", headers=DEMO)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    assert [r["name"] for r in (await listed("name=ra"))["routers"]] == ["ra"]
    assert [r["name"] for r in (await listed("tags=blue"))["routers"]] == ["rb"]
    assert [r["name"] for r in (await listed("sort_key=name&sort_dir=desc"))["routers"]] == [
        "rc", "rb", "ra"]
    picked = (await listed("fields=id&fields=name&sort_key=name"))["routers"]
    assert [set(r) for r in picked] == [{"id", "name"}] * 3
    names, query = [], "limit=1&sort_key=name&sort_dir=asc"
    base = str(gw.client.make_url("")).rstrip("/")
    for _ in range(4):
        page = await listed(query)
        names += [r["name"] for r in page["routers"]]
        nxt = [link["href"] for link in page.get("routers_links", []) if link["rel"] == "next"]
        if not nxt:
            break
        assert nxt[0].startswith(base + "/networking/v2.0/routers?")
        query = nxt[0].split("?", 1)[1]
    assert names == ["ra", "rb", "rc"]
    resp = await gw.client.get(f"{N}/routers?bogus=1", headers=DEMO)
    assert resp.status == 400


async def _external(gw: Gateway, region: str, name: str) -> dict[str, Any]:
    """An external network the operator made in ``region``, as Cascade shows it."""
    from cascade import appkeys as keys
    from cascade.networks import external

    gw.regions[region].neutron._create_network(
        {"name": name, "router:external": True, "project_id": "admin"},
        type("Admin", (), {"is_admin": True})())
    app = gw.client.app
    await external.refresh(app[keys.SESSIONS], app[keys.REGION_CLIENT], app[keys.REGIONS])
    nets = (await (await gw.client.get(f"{N}/networks?router:external=true",
                                       headers=DEMO)).json())["networks"]
    return dict(next(n for n in nets if n["name"] == name))


async def test_gateway_addresses_are_the_regions_not_chosen(gw: Gateway) -> None:
    """``external_fixed_ips`` is admins' choice in Neutron (403 for a member, as
    there); through Cascade the region gives the gateway's addresses, and an admin
    asking for them is told so rather than silently ignored."""
    ext = await _external(gw, "RegionOne", "public1")
    router = (await _post(gw, "/routers", {"router": {"name": "r"}}))["router"]
    info = {"network_id": ext["id"], "external_fixed_ips": [{"ip_address": "172.24.4.10"}]}
    for headers, status in ((DEMO, 403), (ADMIN, 400)):
        resp = await gw.client.put(f"{N}/routers/{router['id']}", headers=headers,
                                   json={"router": {"external_gateway_info": info}})
        assert resp.status == status, await resp.text()
    shown = (await (await gw.client.get(f"{N}/routers/{router['id']}", headers=DEMO)).json())
    assert shown["router"]["external_gateway_info"] is None


async def test_a_bridge_block_avoids_shared_subnets_on_the_projects_routers(
        gw: Gateway) -> None:
    """The bridge's block is the first of the pool that overlaps none of the
    project's subnets, nor another project's shared subnet on its routers (put
    there by an admin)."""
    shared = (await _post(gw, "/networks", {"network": {"name": "s", "shared": True}},
                          ADMIN))["network"]
    taken = (await _post(gw, "/subnets", {"subnet": {
        "network_id": shared["id"], "cidr": "100.64.0.0/24", "ip_version": 4}},
        ADMIN))["subnet"]
    router = (await _post(gw, "/routers", {"router": {"name": "r"}}))["router"]
    status, body = await _put(gw, f"/routers/{router['id']}/add_router_interface",
                              {"subnet_id": taken["id"]}, ADMIN)
    assert status == 200, body
    async with gw.app[appkeys.SESSIONS].begin() as session:
        _net, sub = await bridge.ensure(session, gw.app[appkeys.CONF], router["project_id"])
    assert not ipaddress.ip_network(sub.attrs["cidr"]).overlaps(
        ipaddress.ip_network("100.64.0.0/24"))


async def test_an_interface_or_gateway_a_floating_ip_needs_is_kept(gw: Gateway) -> None:
    """Neutron's 409s while an associated floating IP is reached through the router
    (the association as Cascade records it from the region's answer; the real
    regions' case is in tests/e2e/test_cli_routers.py)."""
    from cascade.db.models import Resource

    ext = await _external(gw, "RegionOne", "public-fip")
    router = (await _post(gw, "/routers", {"router": {"name": "r"}}))["router"]
    status, body = await _put(gw, f"/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})
    assert status == 200, body
    sub = await _subnet(gw, "10.71.0.0/24")
    status, added = await _put(gw, f"/routers/{router['id']}/add_router_interface",
                               {"subnet_id": sub["id"]})
    assert status == 200, added
    port = (await _post(gw, "/ports", {"port": {"network_id": sub["network_id"]}}))["port"]
    async with gw.app[appkeys.SESSIONS].begin() as session:
        session.add(Resource(global_id="6f0c7a1e-2b1d-4c55-9a57-3c1f0f2f9a11",
                             type="floatingip", project_id=router["project_id"],
                             user_id=None, spec={}, status="ACTIVE", usage={}, attrs={
                                 "floating_network_id": ext["id"], "port_id": port["id"],
                                 "router_id": router["id"]}))
    status, body = await _put(gw, f"/routers/{router['id']}/remove_router_interface",
                              {"subnet_id": sub["id"]})
    assert status == 409 and _error(body)[0] == "RouterInterfaceInUseByFloatingIP", body
    status, body = await _put(gw, f"/routers/{router['id']}", {"router": {
        "external_gateway_info": {}}})
    assert status == 409 and _error(body)[0] == "RouterExternalGatewayInUseByFloatingIp"
    other = await _subnet(gw, "10.72.0.0/24")
    status, body = await _put(gw, f"/routers/{router['id']}/add_router_interface",
                              {"subnet_id": other["id"]})
    assert status == 200
    status, body = await _put(gw, f"/routers/{router['id']}/remove_router_interface",
                              {"subnet_id": other["id"]})
    assert status == 200, body  # an interface no floating IP needs goes
    # The port gone (its floating IP's cached association is stale): nothing holds.
    resp = await gw.client.delete(f"{N}/ports/{port['id']}", headers=DEMO)
    assert resp.status == 204
    status, body = await _put(gw, f"/routers/{router['id']}", {"router": {
        "external_gateway_info": {}}})
    assert status == 200, body
    status, body = await _put(gw, f"/routers/{router['id']}/remove_router_interface",
                              {"subnet_id": sub["id"]})
    assert status == 200, body
