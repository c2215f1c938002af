"""The Neutron facade in front of two fake regions (SQLite and PostgreSQL): global
networks placed lazily, deferred and placed ports, security groups kept in step,
Neutron's error format, tenant isolation and network quota."""
from __future__ import annotations

from typing import Any

from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import ADMIN, ALT, DEMO

N = "/networking/v2.0"


async def _post(gw: Gateway, path: str, body: Any, headers: dict[str, str] = DEMO) -> Any:
    resp = await gw.client.post(N + path, json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _net_with_subnet(gw: Gateway, cidr: str = "10.1.0.0/24", **net: Any
                           ) -> tuple[dict[str, Any], dict[str, Any]]:
    network = (await _post(gw, "/networks", {"network": {"name": "n1", **net}}))["network"]
    subnet = (await _post(gw, "/subnets", {"subnet": {
        "network_id": network["id"], "cidr": cidr, "ip_version": 4}}))["subnet"]
    return network, subnet


def _regional(gw: Gateway, region: str, kind: str) -> list[dict[str, Any]]:
    return list(getattr(gw.regions[region].neutron, kind).values())


async def test_networks_are_recorded_not_placed_until_needed(gw: Gateway) -> None:
    network, subnet = await _net_with_subnet(gw)
    assert subnet["gateway_ip"] == "10.1.0.1"
    assert subnet["allocation_pools"] == [{"start": "10.1.0.2", "end": "10.1.0.254"}]
    assert network["status"] == "ACTIVE" and network["availability_zones"] == []
    shown = await (await gw.client.get(f"{N}/networks/{network['id']}", headers=DEMO)).json()
    assert shown["network"]["subnets"] == [subnet["id"]]
    assert _regional(gw, "RegionOne", "networks") == []
    assert _regional(gw, "RegionTwo", "networks") == []


async def test_bad_input_gets_neutron_400_and_unknown_ids_404(gw: Gateway) -> None:
    cases = [("/networks", {"network": {"name": "x", "bogus": 1}}),
             ("/networks", {"nope": {}}),
             ("/networks", {"network": {"admin_state_up": "maybe"}}),
             ("/subnets", {"subnet": {"network_id": "not-a-uuid", "cidr": "10.0.0.0/24"}}),
             ("/security-group-rules", {"security_group_rule": {"direction": "sideways"}})]
    for path, body in cases:
        resp = await gw.client.post(N + path, json=body, headers=DEMO)
        assert resp.status == 400, (path, await resp.text())
        assert set((await resp.json())["NeutronError"]) == {"type", "message", "detail"}
    network, _ = await _net_with_subnet(gw)
    resp = await gw.client.post(N + "/subnets", headers=DEMO, json={"subnet": {
        "network_id": network["id"], "cidr": "10.1.0.128/25"}})
    assert resp.status == 400 and "overlaps" in (await resp.json())["NeutronError"]["message"]
    resp = await gw.client.post(N + "/subnets", headers=DEMO, json={"subnet": {
        "network_id": network["id"], "cidr": "10.300.0.0/24"}})
    assert resp.status == 400
    missing = "0e5b5c58-6f7a-4c09-bb3b-1d1f4a6e5e7c"
    resp = await gw.client.get(f"{N}/networks/{missing}", headers=DEMO)
    assert resp.status == 404
    assert (await resp.json())["NeutronError"]["type"] == "NetworkNotFound"
    resp = await gw.client.post(N + "/networks", data=b"{", headers=DEMO)
    assert resp.status == 400


async def test_other_projects_cannot_see_or_touch_a_network(gw: Gateway) -> None:
    network, subnet = await _net_with_subnet(gw)
    for method, path in (("GET", f"/networks/{network['id']}"),
                         ("PUT", f"/networks/{network['id']}"),
                         ("DELETE", f"/networks/{network['id']}"),
                         ("GET", f"/subnets/{subnet['id']}")):
        resp = await gw.client.request(method, N + path, headers=ALT,
                                       json={"network": {"name": "stolen"}})
        assert resp.status == 404, (method, path)
    listed = await (await gw.client.get(N + "/networks", headers=ALT)).json()
    assert listed["networks"] == []
    resp = await gw.client.post(N + "/ports", headers=ALT,
                                json={"port": {"network_id": network["id"]}})
    assert resp.status == 404
    admin = await (await gw.client.get(N + "/networks", headers=ADMIN)).json()
    assert [n["id"] for n in admin["networks"]] == [network["id"]]


async def test_port_without_hint_is_deferred_and_materialised_where_the_server_boots(
        gw: Gateway) -> None:
    network, subnet = await _net_with_subnet(gw)
    port = (await _post(gw, "/ports", {"port": {"network_id": network["id"],
                                                "name": "p"}}))["port"]
    # Cascade gives the address at create, before any region holds the port.
    [address] = port["fixed_ips"]
    assert address["subnet_id"] == subnet["id"] and address["ip_address"].startswith("10.1.0.")
    assert _regional(gw, "RegionTwo", "ports") == []
    resp = await gw.create("RegionTwo", networks=[{"port": port["id"]}])
    assert resp.status == 202, await resp.text()
    server_id = (await resp.json())["server"]["id"]
    (regional,) = [p for p in _regional(gw, "RegionTwo", "ports")
                   if f"cascade:{port['id']}" in p["tags"]]
    assert regional["fixed_ips"][0]["ip_address"] == address["ip_address"]
    # The network came along with its subnet, tagged with the global ids.
    (net2,) = _regional(gw, "RegionTwo", "networks")
    assert f"cascade:{network['id']}" in net2["tags"]
    assert _regional(gw, "RegionOne", "networks") == []
    shown = (await (await gw.client.get(f"{N}/ports/{port['id']}", headers=DEMO)).json())[
        "port"]
    assert shown["fixed_ips"][0]["subnet_id"] == subnet["id"]
    assert shown["network_id"] == network["id"] and shown["tags"] == []
    # The same port cannot follow a server into another region.
    resp = await gw.create("RegionOne", networks=[{"port": port["id"]}])
    assert resp.status == 409, await resp.text()
    assert "conflictingRequest" in await resp.json()
    assert server_id


async def test_hinted_port_is_created_at_once_and_lists_merge_with_deferred(
        gw: Gateway) -> None:
    network, _ = await _net_with_subnet(gw)
    placed = (await _post(gw, "/ports", {"port": {
        "network_id": network["id"], "binding:profile": {"cascade_region": "RegionOne"}}}))[
        "port"]
    assert placed["fixed_ips"] and "cascade_region" not in placed.get("binding:profile", {})
    deferred = (await _post(gw, "/ports", {"port": {"network_id": network["id"]}}))["port"]
    listed = (await (await gw.client.get(N + "/ports", headers=DEMO)).json())["ports"]
    assert {p["id"] for p in listed} == {placed["id"], deferred["id"]}
    ip = placed["fixed_ips"][0]["ip_address"]
    by_ip = await (await gw.client.get(N + f"/ports?fixed_ips=ip_address={ip}",
                                       headers=DEMO)).json()
    assert [p["id"] for p in by_ip["ports"]] == [placed["id"]]
    page = await (await gw.client.get(N + "/ports?limit=1", headers=DEMO)).json()
    assert len(page["ports"]) == 1
    base = str(gw.client.make_url("")).rstrip("/")
    assert page["ports_links"][0]["href"].startswith(base + "/networking/v2.0/ports?")
    # A sick region: its ports come from the cache, and the answer says it is partial.
    gw.regions["RegionOne"].down = True
    resp = await gw.client.get(N + "/ports", headers=DEMO)
    assert resp.status == 200 and resp.headers["X-Cascade-Partial"] == "RegionOne"
    assert {p["id"] for p in (await resp.json())["ports"]} == {placed["id"], deferred["id"]}


async def test_rules_reach_every_copy_and_duplicates_are_refused(gw: Gateway) -> None:
    network, _ = await _net_with_subnet(gw)
    for zone in ("RegionOne", "RegionTwo"):
        resp = await gw.create(zone, networks=[{"uuid": network["id"]}])
        assert resp.status == 202, await resp.text()
    groups = (await (await gw.client.get(N + "/security-groups", headers=DEMO)).json())[
        "security_groups"]
    (default,) = [g for g in groups if g["name"] == "default"]
    assert len(default["security_group_rules"]) == 4
    rule = {"security_group_rule": {"security_group_id": default["id"], "direction": "ingress",
                                    "protocol": "tcp", "port_range_min": 22,
                                    "port_range_max": 22}}
    made = (await _post(gw, "/security-group-rules", rule))["security_group_rule"]
    for region in ("RegionOne", "RegionTwo"):
        ports = [r for r in _regional(gw, region, "security_group_rules")
                 if r.get("port_range_min") == 22]
        assert len(ports) == 1, region
    again = await gw.client.post(N + "/security-group-rules", json=rule, headers=DEMO)
    assert again.status == 409
    assert (await again.json())["NeutronError"]["type"] == "SecurityGroupRuleExists"
    gone = await gw.client.delete(f"{N}/security-group-rules/{made['id']}", headers=DEMO)
    assert gone.status == 204
    for region in ("RegionOne", "RegionTwo"):
        assert not [r for r in _regional(gw, region, "security_group_rules")
                    if r.get("port_range_min") == 22]


async def test_delete_refuses_a_network_in_use_then_removes_every_copy(gw: Gateway) -> None:
    network, _ = await _net_with_subnet(gw)
    port = (await _post(gw, "/ports", {"port": {"network_id": network["id"]}}))["port"]
    resp = await gw.create("RegionTwo", networks=[{"uuid": network["id"]}])
    assert resp.status == 202
    resp = await gw.client.delete(f"{N}/networks/{network['id']}", headers=DEMO)
    assert resp.status == 409
    assert (await resp.json())["NeutronError"]["type"] == "NetworkInUse"
    assert (await gw.client.delete(f"{N}/ports/{port['id']}", headers=DEMO)).status == 204
    resp = await gw.client.delete(f"{N}/networks/{network['id']}", headers=DEMO)
    assert resp.status == 204, await resp.text()
    assert _regional(gw, "RegionTwo", "networks") == []
    assert _regional(gw, "RegionTwo", "subnets") == []
    assert (await gw.client.get(f"{N}/networks/{network['id']}",
                                headers=DEMO)).status == 404


async def test_updates_and_tags_keep_regional_copies_in_step(gw: Gateway) -> None:
    network, _ = await _net_with_subnet(gw)
    assert (await gw.create("RegionOne", networks=[{"uuid": network["id"]}])).status == 202
    resp = await gw.client.put(f"{N}/networks/{network['id']}", headers=DEMO,
                               json={"network": {"name": "renamed"}})
    assert resp.status == 200 and (await resp.json())["network"]["name"] == "renamed"
    (copy,) = _regional(gw, "RegionOne", "networks")
    assert copy["name"] == "renamed"
    resp = await gw.client.put(f"{N}/networks/{network['id']}/tags", headers=DEMO,
                               json={"tags": ["blue"]})
    assert resp.status == 200
    (copy,) = _regional(gw, "RegionOne", "networks")
    assert set(copy["tags"]) == {"blue", f"cascade:{network['id']}", "cascade-owner:cascade"}
    shown = await (await gw.client.get(f"{N}/networks?tags=blue", headers=DEMO)).json()
    assert [n["id"] for n in shown["networks"]] == [network["id"]]
    resp = await gw.client.put(f"{N}/networks/{network['id']}/tags", headers=DEMO,
                               json={"tags": ["cascade:forged"]})
    assert resp.status == 400
    resp = await gw.client.put(f"{N}/networks/{network['id']}", headers=DEMO,
                               json={"network": {"id": "x"}})
    assert resp.status == 400


async def test_tags_in_a_create_body_are_for_ports_only_as_in_neutron(gw: Gateway) -> None:
    resp = await gw.client.post(N + "/networks", headers=DEMO,
                                json={"network": {"name": "t", "tags": ["blue"]}})
    assert resp.status == 400
    assert (await resp.json())["NeutronError"]["message"] == (
        "Attribute 'tags' not allowed in POST")
    network, _ = await _net_with_subnet(gw)
    port = (await _post(gw, "/ports", {"port": {
        "network_id": network["id"], "tags": ["blue"],
        "binding:profile": {"cascade_region": "RegionOne"}}}))["port"]
    assert port["tags"] == ["blue"]
    (copy,) = [p for p in _regional(gw, "RegionOne", "ports")
               if f"cascade:{port['id']}" in p["tags"]]
    assert {"blue", "cascade-owner:cascade"} <= set(copy["tags"])
    # The region took the port's tags in its create: no tag call after it.
    fake = gw.regions["RegionOne"].neutron
    assert not [c for c in fake.calls if c[:2] == ("PUT", f"/ports/{copy['id']}/tags")]


async def test_network_quota_is_neutrons_over_quota(gw: Gateway) -> None:
    resp = await gw.client.put(f"{N}/quotas/demo", headers=ADMIN,
                               json={"quota": {"network": 1}})
    assert resp.status == 200, await resp.text()
    await _post(gw, "/networks", {"network": {"name": "one"}})
    resp = await gw.client.post(N + "/networks", json={"network": {"name": "two"}},
                                headers=DEMO)
    assert resp.status == 409
    assert (await resp.json())["NeutronError"]["type"] == "OverQuota"
    details = await (await gw.client.get(f"{N}/quotas/demo/details",
                                         headers=DEMO)).json()
    assert details["quota"]["network"]["used"] == 1


async def test_port_pages_merge_regions_and_deferred_ports_in_one_order(
        gw: Gateway) -> None:
    network, _ = await _net_with_subnet(gw)
    made = {}
    for name, region in (("p-c", "RegionOne"), ("p-a", "RegionTwo"), ("p-d", "RegionTwo"),
                         ("p-b", None), ("p-e", "RegionOne")):
        port = {"network_id": network["id"], "name": name}
        if region:
            port["binding:profile"] = {"cascade_region": region}
        made[name] = (await _post(gw, "/ports", {"port": port}))["port"]["id"]
    want = [made[n] for n in ("p-e", "p-d", "p-c", "p-b", "p-a")]
    got: list[str] = []
    url: str | None = N + "/ports?sort_key=name&sort_dir=desc&limit=2"
    while url:
        body = await (await gw.client.get(url, headers=DEMO)).json()
        got += [p["id"] for p in body["ports"]]
        links = body.get("ports_links")
        url = links[0]["href"].split("/networking", 1)[1] if links else None
        url = "/networking" + url if url else None
    assert got == want


async def test_availability_zones_one_per_region_with_neutrons_query(gw: Gateway) -> None:
    body = await (await gw.client.get(N + "/availability_zones", headers=DEMO)).json()
    zones = body["availability_zones"]
    assert {(z["resource"], z["state"]) for z in zones} == {("network", "available")}
    assert len({z["name"] for z in zones}) == len(gw.regions) == 2
    gw.regions["RegionTwo"].down = True
    names = await (await gw.client.get(
        N + "/availability_zones?fields=name&sort_key=name&sort_dir=desc",
        headers=DEMO)).json()
    assert names["availability_zones"] == [{"name": z} for z in
                                           sorted((z["name"] for z in zones), reverse=True)]
    listed = await (await gw.client.get(N + "/", headers=DEMO)).json()
    assert "availability_zones" in {r["collection"] for r in listed["resources"]}


async def test_rule_and_group_errors_are_neutrons(gw: Gateway) -> None:
    group = (await _post(gw, "/security-groups", {"security_group": {"name": "g"}}))[
        "security_group"]

    async def rule(**fields: Any) -> tuple[int, dict[str, Any]]:
        resp = await gw.client.post(N + "/security-group-rules", headers=DEMO, json={
            "security_group_rule": {"security_group_id": group["id"], "direction": "ingress",
                                    **fields}})
        return resp.status, (await resp.json()).get("NeutronError", {})

    status, err = await rule(protocol="bogus")
    assert (status, err["type"]) == (400, "SecurityGroupRuleInvalidProtocol")
    assert "'sctp'" in err["message"] and "[0 to 255]" in err["message"]
    status, err = await rule(protocol="tcp", port_range_min=-16, port_range_max=22)
    assert (status, err["type"], err["message"]) == (
        400, "SecurityGroupInvalidPortValue", "Invalid value for port -16")
    status, err = await rule(protocol="tcp", port_range_min=30, port_range_max=22)
    assert (status, err["type"]) == (400, "SecurityGroupInvalidPortRange")
    for name in ("gre", "sctp", "47"):
        assert (await rule(protocol=name))[0] == 201, name
    resp = await gw.client.put(f"{N}/security-groups/{group['id']}", headers=DEMO,
                               json={"security_group": {"name": "default"}})
    assert resp.status == 409
    assert (await resp.json())["NeutronError"]["type"] == "SecurityGroupDefaultAlreadyExists"


async def test_unknown_filters_are_400_and_unknown_markers_404_as_in_neutron(
        gw: Gateway) -> None:
    network, _ = await _net_with_subnet(gw)
    for path in ("/networks?all_tenants=1", "/networks?bogus=1", "/ports?shared=true",
                 "/security-group-rules?tags=x"):
        resp = await gw.client.get(N + path, headers=DEMO)
        assert resp.status == 400, path
        err = (await resp.json())["NeutronError"]
        assert err["type"] == "HTTPBadRequest"
        assert err["message"].endswith("is invalid attribute for filtering"), err
    for path in ("/subnets?shared=false", "/networks?router:external=false",
                 "/ports?device_owner=x", "/networks?tags=a"):
        assert (await gw.client.get(N + path, headers=DEMO)).status == 200, path
    unknown = "da8fe97d-7da0-463f-8a83-0c199fb9ecad"
    resp = await gw.client.get(f"{N}/networks?marker={unknown}&limit=1", headers=DEMO)
    assert resp.status == 404
    assert (await resp.json())["NeutronError"]["type"] == "NetworkNotFound"
    resp = await gw.client.get(f"{N}/ports?marker={unknown}&limit=1", headers=DEMO)
    assert (resp.status, (await resp.json())["NeutronError"]["type"]) == (404, "PortNotFound")
    resp = await gw.client.get(f"{N}/subnets?marker={unknown}&limit=1", headers=DEMO)
    assert resp.status == 200  # Neutron ignores it here
    # a marker filtered out still says where the page starts
    second = (await _post(gw, "/networks", {"network": {"name": "n2"}}))["network"]
    ordered = sorted([network["id"], second["id"]])
    resp = await gw.client.get(f"{N}/networks?name=n2&sort_key=id&marker={ordered[0]}",
                               headers=DEMO)
    want = [second["id"]] if ordered[1] == second["id"] else []
    assert [n["id"] for n in (await resp.json())["networks"]] == want


async def test_bulk_create_makes_all_or_none(gw: Gateway) -> None:
    made = await _post(gw, "/networks", {"networks": [{"name": "b1"}, {"name": "b2"}]})
    assert [n["name"] for n in made["networks"]] == ["b1", "b2"]
    net = made["networks"][0]
    subnets = await _post(gw, "/subnets", {"subnets": [
        {"network_id": net["id"], "cidr": "10.7.0.0/24", "ip_version": 4},
        {"network_id": net["id"], "cidr": "10.8.0.0/24", "ip_version": 4}]})
    assert len(subnets["subnets"]) == 2
    before = (await (await gw.client.get(N + "/networks", headers=DEMO)).json())["networks"]
    resp = await gw.client.post(N + "/networks", headers=DEMO, json={"networks": [
        {"name": "ok"}, {"name": "bad", "bogus": 1}]})
    assert resp.status == 400
    after = (await (await gw.client.get(N + "/networks", headers=DEMO)).json())["networks"]
    assert {n["id"] for n in after} == {n["id"] for n in before}, "the first one was undone"
    ports = await _post(gw, "/ports", {"ports": [{"network_id": net["id"], "name": "p1"},
                                                 {"network_id": net["id"], "name": "p2"}]})
    assert [p["name"] for p in ports["ports"]] == ["p1", "p2"]
    resp = await gw.client.post(N + "/networks", headers=DEMO, json={"networks": []})
    assert resp.status == 400


async def test_interfaces_and_actions_speak_global_ids(gw: Gateway) -> None:
    network, subnet = await _net_with_subnet(gw)
    port = (await _post(gw, "/ports", {"port": {
        "network_id": network["id"], "binding:profile": {"cascade_region": "RegionOne"}}}))[
        "port"]
    resp = await gw.create("RegionOne", networks="none")
    assert resp.status == 202, await resp.text()
    server_id = (await resp.json())["server"]["id"]
    url = f"/compute/v2.1/servers/{server_id}/os-interface"
    resp = await gw.client.post(url, headers=DEMO, json={
        "interfaceAttachment": {"port_id": port["id"]}})
    assert resp.status == 200, await resp.text()
    attached = (await resp.json())["interfaceAttachment"]
    assert (attached["port_id"], attached["net_id"]) == (port["id"], network["id"])
    assert attached["fixed_ips"][0]["subnet_id"] == subnet["id"]
    listed = (await (await gw.client.get(url, headers=DEMO)).json())["interfaceAttachments"]
    assert [a["port_id"] for a in listed] == [port["id"]]
    headers = {**DEMO, "OpenStack-API-Version": "compute 2.58"}
    body = await (await gw.client.get(f"/compute/v2.1/servers/{server_id}/os-instance-actions",
                                      headers=headers)).json()
    assert body["instanceActions"][0]["instance_uuid"] == server_id
    assert body["links"][0]["href"].startswith(str(gw.client.make_url("")).rstrip("/")
                                               + f"/compute/v2.1/servers/{server_id}/")
    resp = await gw.client.get(f"/compute/v2.1/servers/{server_id}/os-server-password/x",
                               headers=DEMO)
    assert resp.status == 404


async def test_spanning_network_refusals_are_neutrons(gw: Gateway) -> None:
    """Provider attributes are admins' (403 for a member, as in Neutron); only a
    VLAN on the physical network every region shares can span regions; a VLAN id
    held by another network is Neutron's 409 VlanIdInUse."""
    def body(**provider: Any) -> dict[str, Any]:
        return {"network": {"name": "span", **{f"provider:{k}": v
                                              for k, v in provider.items()}}}

    resp = await gw.client.post(N + "/networks", headers=DEMO, json=body(network_type="vlan"))
    assert resp.status == 403, await resp.text()
    for bad in (body(network_type="vxlan"), body(network_type="flat"),
                body(network_type="vlan", physical_network="elsewhere"),
                body(network_type="vlan", segmentation_id=5000),
                body(segmentation_id=1500)):
        resp = await gw.client.post(N + "/networks", headers=ADMIN, json=bad)
        assert resp.status == 400, (bad, await resp.text())
        assert (await resp.json())["NeutronError"]["type"] == "InvalidInput"
    made = await gw.client.post(N + "/networks", headers=ADMIN,
                                json=body(network_type="vlan", segmentation_id=1500))
    assert made.status == 201, await made.text()
    shown = (await made.json())["network"]
    assert (shown["provider:physical_network"], shown["provider:segmentation_id"]) == (
        "physnet1", 1500)
    taken = await gw.client.post(N + "/networks", headers=ADMIN,
                                 json=body(network_type="vlan", segmentation_id=1500))
    assert taken.status == 409, await taken.text()
    assert (await taken.json())["NeutronError"]["type"] == "VlanIdInUse"
