"""The fake region's Neutron part answers as Neutron does, for what it covers."""
from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from tests.fakes.neutron import QUOTA_DEFAULTS, SERVICE_TOKEN
from tests.fakes.region import FakeRegion

V2 = "/network/v2.0"
DEMO = {"X-Auth-Token": "u1:demo"}
ALT = {"X-Auth-Token": "u2:alt"}
ADMIN = {"X-Auth-Token": "adm:admin:admin"}

#: Wire fields of each resource as the fake answers them (admin view for ports).
NETWORK_FIELDS = {"id", "name", "project_id", "tenant_id", "admin_state_up", "status",
                  "subnets", "shared", "mtu", "availability_zone_hints", "availability_zones",
                  "router:external", "port_security_enabled", "description", "tags",
                  "created_at", "updated_at", "revision_number"}
SUBNET_FIELDS = {"id", "name", "project_id", "tenant_id", "network_id", "ip_version", "cidr",
                 "gateway_ip", "allocation_pools", "enable_dhcp", "dns_nameservers",
                 "host_routes", "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id",
                 "description", "tags", "created_at", "updated_at", "revision_number"}
PORT_FIELDS = {"id", "name", "project_id", "tenant_id", "network_id", "mac_address",
               "admin_state_up", "status", "device_id", "device_owner", "fixed_ips",
               "allowed_address_pairs", "security_groups", "port_security_enabled",
               "description", "binding:host_id", "binding:profile", "binding:vif_type",
               "binding:vif_details", "binding:vnic_type", "tags", "created_at",
               "updated_at", "revision_number"}
RULE_FIELDS = {"id", "project_id", "tenant_id", "security_group_id", "direction", "ethertype",
               "protocol", "port_range_min", "port_range_max", "remote_ip_prefix",
               "remote_group_id", "normalized_cidr", "description", "created_at",
               "updated_at", "revision_number"}


class Neutron:
    """A client for the fake's Neutron with the project's token preset."""

    def __init__(self, client: TestClient[Any, Any], region: FakeRegion) -> None:
        self.client, self.region = client, region

    async def call(self, method: str, path: str, headers: dict[str, str] = DEMO,
                   **kwargs: Any) -> tuple[int, Any]:
        resp = await self.client.request(method, V2 + path, headers=headers, **kwargs)
        assert resp.headers["x-openstack-request-id"].startswith("req-")
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, body

    async def create(self, member: str, headers: dict[str, str] = DEMO,
                     **fields: Any) -> dict[str, Any]:
        """Create, then tag as clients do (Neutron takes tags in a create body for
        ports only)."""
        tags = fields.pop("tags", None) if member != "port" else None
        collection = f"/{member.replace('_', '-')}s"
        status, body = await self.call("POST", collection, headers, json={member: fields})
        assert status == 201, body
        made = dict(body[member])
        if tags is not None:
            status, tagged = await self.call("PUT", f"{collection}/{made['id']}/tags", headers,
                                             json={"tags": tags})
            assert status == 200, tagged
            made["tags"] = tagged["tags"]
        return made

    async def net(self, cidr: str | None = "10.0.0.0/24", headers: dict[str, str] = DEMO,
                  **fields: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
        net = await self.create("network", headers, **{"name": "net", **fields})
        subnet = None
        if cidr:
            subnet = await self.create("subnet", headers, network_id=net["id"], cidr=cidr,
                                       ip_version=6 if ":" in cidr else 4)
        return net, subnet


@pytest.fixture
async def neutron(aiohttp_client: Any) -> Neutron:
    region = FakeRegion("RegionOne")
    return Neutron(await aiohttp_client(region.app()), region)


def error(body: Any) -> tuple[str, str]:
    assert set(body) == {"NeutronError"} and body["NeutronError"]["detail"] == ""
    return body["NeutronError"]["type"], body["NeutronError"]["message"]


# -- discovery, auth, faults -------------------------------------------------------------

async def test_extensions_list_what_is_honoured(neutron: Neutron) -> None:
    status, body = await neutron.call("GET", "/extensions")
    assert status == 200
    aliases = {e["alias"] for e in body["extensions"]}
    assert {"standard-attr-tag", "tag-creation", "security-group", "quotas", "port-security",
            "binding", "availability_zone", "network_availability_zone",
            "standard-attr-description", "project-id", "pagination", "sorting"} <= aliases
    assert all(set(e) == {"alias", "name", "description", "updated", "links"}
               for e in body["extensions"])
    status, body = await neutron.call("GET", "/extensions/binding")
    assert status == 200 and body["extension"]["alias"] == "binding"
    status, body = await neutron.call("GET", "/extensions/nope")
    assert status == 404 and error(body)[0] == "HTTPNotFound"


async def test_versions_and_resources(neutron: Neutron) -> None:
    resp = await neutron.client.get("/network/")
    assert (await resp.json())["versions"][0]["id"] == "v2.0"
    status, body = await neutron.call("GET", "/")
    assert {r["collection"] for r in body["resources"]} >= {"networks", "subnets", "ports",
                                                             "security_groups"}


async def test_token_required(neutron: Neutron) -> None:
    resp = await neutron.client.get(f"{V2}/networks")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == 401


async def test_project_from_token_or_headers(neutron: Neutron) -> None:
    net = await neutron.create("network", name="a")
    assert net["project_id"] == net["tenant_id"] == "demo"
    net = await neutron.create("network", {"X-Auth-Token": "x", "X-Project-Id": "p9"})
    assert net["project_id"] == "p9"
    net = await neutron.create("network", {"X-Auth-Token": SERVICE_TOKEN}, shared=True)
    assert net["project_id"] == "service" and net["shared"] is True
    assert neutron.region.neutron.calls[0] == ("POST", "/networks", "demo")


async def test_region_down_and_injected_faults(neutron: Neutron) -> None:
    neutron.region.neutron.fail("POST", "ports", 409, "IpAddressGenerationFailure", "full")
    await neutron.net()
    status, body = await neutron.call("POST", "/ports",
                                      json={"port": {"network_id": next(iter(
                                          neutron.region.neutron.networks))}})
    assert status == 409 and error(body) == ("IpAddressGenerationFailure", "full")
    status, _ = await neutron.call("GET", "/ports")
    assert status == 200  # used up
    neutron.region.down = True
    resp = await neutron.client.get(f"{V2}/networks", headers=DEMO)
    assert resp.status == 503


# -- networks ----------------------------------------------------------------------------

async def test_network_create_defaults(neutron: Neutron) -> None:
    status, body = await neutron.call("POST", "/networks", json={"network": {"tags": ["a"]}})
    assert status == 400
    assert body["NeutronError"]["message"] == "Attribute 'tags' not allowed in POST"
    net = await neutron.create("network", name="n1", description="d")
    assert set(net) == NETWORK_FIELDS
    assert net["mtu"] == 1500 and net["status"] == "ACTIVE" and net["subnets"] == []
    assert net["admin_state_up"] is True and net["shared"] is False
    assert net["tags"] == [] and net["description"] == "d"
    assert net["availability_zone_hints"] == [] and net["revision_number"] >= 1
    assert net["created_at"].endswith("Z")
    status, body = await neutron.call("GET", f"/networks/{net['id']}")
    assert status == 200 and body["network"] == net
    assert neutron.region.neutron.networks[net["id"]]["name"] == "n1"


async def test_network_bad_input(neutron: Neutron) -> None:
    for body, type_, words in [
            ({"network": {"nme": "x"}}, "HTTPBadRequest", "Unrecognized attribute(s) 'nme'"),
            ({"network": {"id": "x"}}, "HTTPBadRequest", "Attribute 'id' not allowed in POST"),
            ({"network": {"admin_state_up": "maybe"}}, "HTTPBadRequest",
             "Invalid input for admin_state_up"),
            ({"network": {"mtu": 10}}, "HTTPBadRequest", "Invalid input for mtu"),
            ({"network": {"availability_zone_hints": ["RegionOne"]}},
             "AvailabilityZoneNotFound", "AvailabilityZone RegionOne could not be found."),
            ({"net": {}}, "HTTPBadRequest", "Unable to find 'network' in request body"),
            ({"network": {"project_id": "alt"}}, "HTTPBadRequest", "requires admin")]:
        status, answer = await neutron.call("POST", "/networks", json=body)
        kind, message = error(answer)
        assert (status, kind) == (404 if kind.endswith("NotFound") else 400, type_), answer
        assert words in message
    status, body = await neutron.call("POST", "/networks", json={"network": {"shared": True}})
    assert status == 403 and error(body)[0] == "PolicyNotAuthorized"
    status, body = await neutron.call("GET", "/networks/4b1f0d6e-0000-4000-8000-000000000000")
    assert status == 404
    assert error(body) == ("NetworkNotFound",
                           "Network 4b1f0d6e-0000-4000-8000-000000000000 could not be found.")


async def test_network_update_and_read_only(neutron: Neutron) -> None:
    net = await neutron.create("network", name="old")
    status, body = await neutron.call("PUT", f"/networks/{net['id']}", json={"network": {
        "name": "new", "description": "x", "admin_state_up": False}})
    assert status == 200
    updated = body["network"]
    assert (updated["name"], updated["description"], updated["admin_state_up"]) == (
        "new", "x", False)
    assert updated["revision_number"] == net["revision_number"] + 1
    assert updated["updated_at"] > net["updated_at"]
    status, body = await neutron.call("PUT", f"/networks/{net['id']}",
                                      json={"network": {"status": "DOWN"}})
    assert status == 400 and "Cannot update read-only attribute status" in error(body)[1]
    status, body = await neutron.call("PUT", f"/networks/{net['id']}",
                                      json={"network": {"shared": True}})
    assert status == 403
    status, body = await neutron.call("PUT", f"/networks/{net['id']}", ADMIN,
                                      json={"network": {"shared": True}})
    assert status == 200 and body["network"]["shared"] is True


async def test_network_visibility(neutron: Neutron) -> None:
    private = await neutron.create("network", name="private")
    shared = await neutron.create("network", ADMIN, name="shared", shared=True)
    other = await neutron.create("network", ALT, name="other")
    _, body = await neutron.call("GET", "/networks")
    assert {n["name"] for n in body["networks"]} == {"private", "shared"}
    _, body = await neutron.call("GET", "/networks", ADMIN)
    assert {n["name"] for n in body["networks"]} == {"private", "shared", "other"}
    status, body = await neutron.call("GET", f"/networks/{other['id']}")
    assert status == 404 and error(body)[0] == "NetworkNotFound"
    status, body = await neutron.call("DELETE", f"/networks/{shared['id']}")
    assert status == 403
    status, body = await neutron.call("DELETE", f"/networks/{private['id']}", ALT)
    assert status == 404


async def test_network_list_filters_and_fields(neutron: Neutron) -> None:
    a = await neutron.create("network", name="a", tags=["red", "blue"])
    b = await neutron.create("network", name="b", tags=["red"], admin_state_up=False)
    c = await neutron.create("network", name="c", tags=["green"])

    async def names(query: str) -> list[str]:
        status, body = await neutron.call("GET", f"/networks?{query}")
        assert status == 200, body
        return sorted(n["name"] for n in body["networks"])

    assert await names("name=a") == ["a"]
    assert await names("name=a&name=c") == ["a", "c"]
    assert await names(f"id={a['id']}&id={b['id']}") == ["a", "b"]
    assert await names("tags=red,blue") == ["a"]
    assert await names("tags=red&tags=blue") == ["a"]
    assert await names("tags-any=blue,green") == ["a", "c"]
    assert await names("not-tags=red") == ["c"]
    assert await names("not-tags-any=blue,green") == ["b"]
    assert await names("admin_state_up=false") == ["b"]
    assert await names("admin_state_up=True&name=c") == ["c"]
    assert await names("project_id=demo") == ["a", "b", "c"]
    assert await names("tenant_id=alt") == []
    assert await names("mtu=1500&status=ACTIVE&shared=false") == ["a", "b", "c"]
    _, body = await neutron.call("GET", f"/networks?fields=id&fields=name&id={c['id']}")
    assert body["networks"] == [{"id": c["id"], "name": "c"}]
    _, body = await neutron.call("GET", f"/networks/{c['id']}?fields=mtu")
    assert body["network"] == {"mtu": 1500}
    status, body = await neutron.call("GET", "/networks?colour=red")
    assert status == 400 and error(body)[0] == "HTTPBadRequest"
    status, body = await neutron.call("GET", "/networks?admin_state_up=perhaps")
    assert status == 400


async def test_network_pagination_and_sorting(neutron: Neutron) -> None:
    for name in "edcba":
        await neutron.create("network", name=name)
    by_id = sorted(neutron.region.neutron.networks.values(), key=lambda n: n["id"])
    status, body = await neutron.call("GET", "/networks?limit=2")
    assert [n["id"] for n in body["networks"]] == [n["id"] for n in by_id[:2]]
    links = {link["rel"]: link["href"] for link in body["networks_links"]}
    assert links["next"].endswith(f"{V2}/networks?limit=2&marker={by_id[1]['id']}")
    # Following "next" walks the whole collection once.
    seen, url = [], f"{V2}/networks?limit=2&sort_key=name&sort_dir=asc"
    while url:
        resp = await neutron.client.get(url, headers=DEMO)
        body = await resp.json()
        seen += [n["name"] for n in body["networks"]]
        url = next((str(URL(link["href"]).relative()) for link in
                    body.get("networks_links", []) if link["rel"] == "next"), "")
    assert seen == ["a", "b", "c", "d", "e"]
    _, body = await neutron.call("GET", "/networks?sort_key=name&sort_dir=desc")
    assert [n["name"] for n in body["networks"]] == ["e", "d", "c", "b", "a"]
    names = {n["name"]: n["id"] for n in by_id}
    _, body = await neutron.call(
        "GET", f"/networks?sort_key=name&sort_dir=asc&limit=2&marker={names['d']}"
               f"&page_reverse=True")
    assert [n["name"] for n in body["networks"]] == ["b", "c"]
    status, body = await neutron.call("GET", "/networks?limit=2&marker="
                                             "4b1f0d6e-0000-4000-8000-000000000000")
    assert status == 404 and error(body)[0] == "NetworkNotFound"
    for query in ("sort_key=name", "sort_key=tags&sort_dir=asc",
                  "sort_key=name&sort_dir=up", "limit=-1"):
        status, body = await neutron.call("GET", f"/networks?{query}")
        assert status == 400, query


async def test_network_delete_in_use(neutron: Neutron) -> None:
    net, subnet = await neutron.net()
    assert subnet is not None
    dhcp = await neutron.create("port", ADMIN, network_id=net["id"], device_owner="network:dhcp",
                                project_id="demo")
    port = await neutron.create("port", network_id=net["id"], device_id="vm")
    status, body = await neutron.call("DELETE", f"/networks/{net['id']}")
    assert status == 409
    assert error(body) == ("NetworkInUse", f"Unable to complete operation on network "
                           f"{net['id']}. There are one or more ports still in use on the "
                           f"network.")
    assert (await neutron.call("DELETE", f"/ports/{port['id']}"))[0] == 204
    assert (await neutron.call("DELETE", f"/networks/{net['id']}"))[0] == 204
    state = neutron.region.neutron
    assert net["id"] not in state.networks and subnet["id"] not in state.subnets
    assert dhcp["id"] not in state.ports


# -- subnets -----------------------------------------------------------------------------

async def test_subnet_defaults_and_network_in_step(neutron: Neutron) -> None:
    net, subnet = await neutron.net("10.1.0.0/24")
    assert subnet is not None and set(subnet) == SUBNET_FIELDS
    assert subnet["gateway_ip"] == "10.1.0.1"
    assert subnet["allocation_pools"] == [{"start": "10.1.0.2", "end": "10.1.0.254"}]
    assert subnet["enable_dhcp"] is True and subnet["ip_version"] == 4
    assert subnet["dns_nameservers"] == [] and subnet["host_routes"] == []
    _, body = await neutron.call("GET", f"/networks/{net['id']}")
    assert body["network"]["subnets"] == [subnet["id"]]
    assert body["network"]["availability_zones"] == ["nova"]
    v6 = await neutron.create("subnet", network_id=net["id"], cidr="fd00::/64", ip_version=6,
                              gateway_ip=None, name="v6", tags=["x"])
    assert v6["gateway_ip"] is None and v6["tags"] == ["x"]
    assert v6["allocation_pools"] == [{"start": "fd00::1", "end": "fd00::ffff:ffff:ffff:ffff"}]
    custom = await neutron.create(
        "subnet", network_id=net["id"], cidr="192.168.0.0/24", ip_version=4,
        gateway_ip="192.168.0.254", dns_nameservers=["8.8.8.8"], enable_dhcp=False,
        allocation_pools=[{"start": "192.168.0.10", "end": "192.168.0.20"}],
        host_routes=[{"destination": "10.9.0.0/16", "nexthop": "192.168.0.1"}])
    assert custom["allocation_pools"] == [{"start": "192.168.0.10", "end": "192.168.0.20"}]
    assert custom["dns_nameservers"] == ["8.8.8.8"] and custom["enable_dhcp"] is False
    assert (await neutron.call("DELETE", f"/subnets/{v6['id']}"))[0] == 204
    _, body = await neutron.call("GET", f"/networks/{net['id']}")
    assert body["network"]["subnets"] == [subnet["id"], custom["id"]]
    _, body = await neutron.call("GET", f"/subnets?network_id={net['id']}&ip_version=4")
    assert len(body["subnets"]) == 2


async def test_subnet_bad_input(neutron: Neutron) -> None:
    net, _ = await neutron.net("10.0.0.0/24")
    missing = "4b1f0d6e-0000-4000-8000-000000000000"
    cases = [
        ({"network_id": missing, "cidr": "10.0.0.0/24", "ip_version": 4}, 404,
         "NetworkNotFound"),
        ({"network_id": net["id"], "cidr": "banana", "ip_version": 4}, 400, "HTTPBadRequest"),
        ({"network_id": net["id"], "cidr": "10.2.0.1/24", "ip_version": 4}, 400,
         "HTTPBadRequest"),
        ({"network_id": net["id"], "cidr": "10.2.0.0/24"}, 400, "HTTPBadRequest"),
        ({"network_id": net["id"], "cidr": "10.2.0.0/24", "ip_version": 5}, 400,
         "HTTPBadRequest"),
        ({"network_id": net["id"], "cidr": "10.2.0.0/24", "ip_version": 6}, 400,
         "InvalidInput"),
        ({"network_id": net["id"], "cidr": "10.0.0.128/25", "ip_version": 4}, 400,
         "InvalidInput"),
        ({"network_id": net["id"], "cidr": "10.3.0.0/24", "ip_version": 4,
          "allocation_pools": [{"start": "10.3.0.1", "end": "10.3.0.9"}]}, 409,
         "GatewayConflictWithAllocationPools"),
        ({"network_id": net["id"], "cidr": "10.3.0.0/24", "ip_version": 4,
          "allocation_pools": [{"start": "10.4.0.1", "end": "10.4.0.9"}]}, 400,
         "OutOfBoundsAllocationPool"),
    ]
    for subnet, status, type_ in cases:
        got, body = await neutron.call("POST", "/subnets", json={"subnet": subnet})
        assert (got, error(body)[0]) == (status, type_), (subnet, body)
    status, body = await neutron.call("GET", f"/subnets/{missing}")
    assert status == 404
    assert error(body) == ("SubnetNotFound", f"Subnet {missing} could not be found.")
    others = await neutron.create("network", ALT)
    status, body = await neutron.call("POST", "/subnets", json={"subnet": {
        "network_id": others["id"], "cidr": "10.0.0.0/24", "ip_version": 4}})
    assert status == 404 and error(body)[0] == "NetworkNotFound"


async def test_subnet_update_and_delete_in_use(neutron: Neutron) -> None:
    net, subnet = await neutron.net()
    assert subnet is not None
    status, body = await neutron.call("PUT", f"/subnets/{subnet['id']}", json={"subnet": {
        "name": "s", "dns_nameservers": ["1.1.1.1"], "enable_dhcp": False}})
    assert status == 200 and body["subnet"]["dns_nameservers"] == ["1.1.1.1"]
    status, body = await neutron.call("PUT", f"/subnets/{subnet['id']}",
                                      json={"subnet": {"cidr": "10.9.0.0/24"}})
    assert status == 400
    status, body = await neutron.call("PUT", f"/subnets/{subnet['id']}",
                                      json={"subnet": {"gateway_ip": "10.0.0.7"}})
    assert status == 409 and error(body)[0] == "GatewayConflictWithAllocationPools"
    await neutron.create("port", network_id=net["id"])
    status, body = await neutron.call("DELETE", f"/subnets/{subnet['id']}")
    assert status == 409
    assert error(body) == ("SubnetInUse", f"Unable to complete operation on subnet "
                           f"{subnet['id']}: One or more ports have an IP allocation from this "
                           f"subnet.")


async def test_auto_dhcp_port(neutron: Neutron) -> None:
    neutron.region.neutron.auto_dhcp_port = True
    net, subnet = await neutron.net()
    _, body = await neutron.call("GET", f"/ports?network_id={net['id']}")
    [dhcp] = body["ports"]
    assert dhcp["device_owner"] == "network:dhcp" and dhcp["security_groups"] == []
    assert dhcp["fixed_ips"] == [{"subnet_id": subnet and subnet["id"],
                                  "ip_address": "10.0.0.2"}]
    assert (await neutron.call("DELETE", f"/networks/{net['id']}"))[0] == 204


# -- ports -------------------------------------------------------------------------------

async def test_port_create_allocates_and_defaults(neutron: Neutron) -> None:
    net, subnet = await neutron.net()
    assert subnet is not None
    first = await neutron.create("port", network_id=net["id"], name="p1")
    assert set(first) == PORT_FIELDS - {"binding:host_id", "binding:profile",
                                        "binding:vif_type", "binding:vif_details"}
    assert first["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.2"}]
    assert first["status"] == "DOWN" and first["binding:vnic_type"] == "normal"
    assert first["mac_address"].startswith("fa:16:3e:")
    default = neutron.region.neutron.default_security_group("demo")
    assert first["security_groups"] == [default["id"]]
    second = await neutron.create("port", network_id=net["id"], device_id="vm-1")
    assert second["fixed_ips"][0]["ip_address"] == "10.0.0.3" and second["status"] == "ACTIVE"
    third = await neutron.create("port", network_id=net["id"], fixed_ips=[
        {"ip_address": "10.0.0.50"}, {"subnet_id": subnet["id"]}])
    assert [ip["ip_address"] for ip in third["fixed_ips"]] == ["10.0.0.50", "10.0.0.4"]
    none = await neutron.create("port", network_id=net["id"], fixed_ips=[])
    assert none["fixed_ips"] == []
    status, body = await neutron.call("GET", f"/ports/{first['id']}", ADMIN)
    assert set(body["port"]) == PORT_FIELDS
    assert body["port"]["binding:host_id"] == "" and body["port"]["binding:vif_type"] == "unbound"
    bound = await neutron.create("port", ADMIN, network_id=net["id"], project_id="demo",
                                 **{"binding:host_id": "compute1", "device_id": "vm-2"})
    assert bound["binding:vif_type"] == "ovs" and bound["project_id"] == "demo"
    status, body = await neutron.call("POST", "/ports", json={"port": {
        "network_id": net["id"], "binding:host_id": "compute1"}})
    assert status == 403 and error(body)[0] == "PolicyNotAuthorized"


async def test_port_conflicts(neutron: Neutron) -> None:
    net, subnet = await neutron.net("10.0.0.0/29")  # .2 - .6 allocatable
    assert subnet is not None
    port = await neutron.create("port", network_id=net["id"], mac_address="FA:16:3E:00:00:01")
    assert port["mac_address"] == "fa:16:3e:00:00:01"
    status, body = await neutron.call("POST", "/ports", json={"port": {
        "network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.2"}]}})
    assert status == 409
    assert error(body) == ("IpAddressAlreadyAllocated",
                           f"IP address 10.0.0.2 already allocated in subnet {subnet['id']}")
    status, body = await neutron.call("POST", "/ports", json={"port": {
        "network_id": net["id"], "mac_address": "fa:16:3e:00:00:01"}})
    assert status == 409
    assert error(body) == ("MacAddressInUse", f"Unable to complete operation for network "
                           f"{net['id']}. The mac address fa:16:3e:00:00:01 is in use.")
    status, body = await neutron.call("POST", "/ports", json={"port": {
        "network_id": net["id"], "fixed_ips": [{"ip_address": "10.9.0.2"}]}})
    assert status == 400 and error(body)[0] == "InvalidIpForNetwork"
    status, body = await neutron.call("POST", "/ports", json={"port": {
        "network_id": net["id"], "fixed_ips": [{"subnet_id": subnet["id"],
                                                "ip_address": "10.9.0.2"}]}})
    assert status == 400 and error(body)[0] == "InvalidIpForSubnet"
    for _ in range(4):
        await neutron.create("port", network_id=net["id"])
    status, body = await neutron.call("POST", "/ports", json={"port": {"network_id": net["id"]}})
    assert status == 409 and error(body)[0] == "IpAddressGenerationFailure"
    # A deleted port's address is free again.
    assert (await neutron.call("DELETE", f"/ports/{port['id']}"))[0] == 204
    again = await neutron.create("port", network_id=net["id"])
    assert again["fixed_ips"][0]["ip_address"] == "10.0.0.2"
    missing = "4b1f0d6e-0000-4000-8000-000000000000"
    status, body = await neutron.call("GET", f"/ports/{missing}")
    assert error(body) == ("PortNotFound", f"Port {missing} could not be found.")
    status, body = await neutron.call("POST", "/ports", json={"port": {"network_id": "x"}})
    assert status == 400 and "is not a valid UUID" in error(body)[1]


async def test_port_update(neutron: Neutron) -> None:
    net, subnet = await neutron.net()
    port = await neutron.create("port", network_id=net["id"])
    status, body = await neutron.call("PUT", f"/ports/{port['id']}", json={"port": {
        "device_id": "vm", "device_owner": "compute:nova", "name": "p",
        "fixed_ips": [{"ip_address": "10.0.0.2"}, {"ip_address": "10.0.0.9"}]}})
    assert status == 200, body
    updated = body["port"]
    assert updated["status"] == "ACTIVE" and updated["name"] == "p"
    assert [ip["ip_address"] for ip in updated["fixed_ips"]] == ["10.0.0.2", "10.0.0.9"]
    group = await neutron.create("security_group", name="web")
    status, body = await neutron.call("PUT", f"/ports/{port['id']}", json={"port": {
        "security_groups": [group["id"]]}})
    assert body["port"]["security_groups"] == [group["id"]]
    status, body = await neutron.call("PUT", f"/ports/{port['id']}", json={"port": {
        "mac_address": "fa:16:3e:00:00:02"}})
    assert status == 400
    status, body = await neutron.call("PUT", f"/ports/{port['id']}", ALT,
                                      json={"port": {"name": "x"}})
    assert status == 404 and error(body)[0] == "PortNotFound"


async def test_port_list_filters(neutron: Neutron) -> None:
    net, subnet = await neutron.net()
    other, other_subnet = await neutron.net("10.5.0.0/24")
    assert subnet is not None and other_subnet is not None
    a = await neutron.create("port", network_id=net["id"], device_id="vm-a",
                             device_owner="compute:nova", name="a")
    b = await neutron.create("port", network_id=net["id"], name="b")
    c = await neutron.create("port", network_id=other["id"], name="c")

    async def names(query: str) -> list[str]:
        status, body = await neutron.call("GET", f"/ports?{query}")
        assert status == 200, body
        return sorted(p["name"] for p in body["ports"])

    assert await names(f"network_id={net['id']}") == ["a", "b"]
    assert await names("device_id=vm-a") == ["a"]
    assert await names("device_owner=compute:nova") == ["a"]
    assert await names(f"mac_address={b['mac_address']}") == ["b"]
    assert await names("status=DOWN") == ["b", "c"]
    assert await names(f"id={a['id']}&id={c['id']}") == ["a", "c"]
    assert await names("fixed_ips=ip_address%3D10.0.0.3") == ["b"]
    assert await names("fixed_ips=ip_address=10.0.0.2") == ["a"]
    assert await names(f"fixed_ips=subnet_id%3D{other_subnet['id']}") == ["c"]
    assert await names(f"fixed_ips=subnet_id={subnet['id']}&fixed_ips=ip_address=10.0.0.3"
                       ) == ["b"]
    assert await names("fixed_ips=ip_address_substr=10.5.") == ["c"]
    status, body = await neutron.call("GET", "/ports?fixed_ips=10.0.0.2")
    assert status == 400 and error(body)[0] == "InvalidInput"
    _, body = await neutron.call("GET", "/ports?limit=1&sort_key=name&sort_dir=desc&fields=name")
    assert body["ports"] == [{"name": "c"}] and body["ports_links"][0]["rel"] == "next"
    # Ports on someone else's network are theirs; the network owner sees them too.
    shared = await neutron.create("network", ADMIN, shared=True)
    await neutron.create("subnet", ADMIN, network_id=shared["id"], cidr="10.8.0.0/24",
                         ip_version=4)
    theirs = await neutron.create("port", ALT, network_id=shared["id"], name="theirs")
    assert theirs["security_groups"] == [
        neutron.region.neutron.default_security_group("alt")["id"]]
    assert "theirs" not in await names("")


# -- security groups ---------------------------------------------------------------------

async def test_default_security_group(neutron: Neutron) -> None:
    status, body = await neutron.call("GET", "/security-groups")
    assert status == 200
    [group] = body["security_groups"]
    assert group["name"] == "default" and group["project_id"] == "demo"
    assert group["description"] == "Default security group" and group["stateful"] is True
    rules = group["security_group_rules"]
    assert all(set(r) == RULE_FIELDS for r in rules)
    assert sorted((r["direction"], r["ethertype"], r["remote_group_id"]) for r in rules) == [
        ("egress", "IPv4", None), ("egress", "IPv6", None),
        ("ingress", "IPv4", group["id"]), ("ingress", "IPv6", group["id"])]
    assert all(r["protocol"] is None and r["remote_ip_prefix"] is None for r in rules)
    _, again = await neutron.call("GET", "/security-groups")
    assert [g["id"] for g in again["security_groups"]] == [group["id"]]
    status, body = await neutron.call("DELETE", f"/security-groups/{group['id']}")
    assert status == 409 and error(body) == (
        "SecurityGroupCannotRemoveDefault",
        "Insufficient rights for removing default security group.")
    status, body = await neutron.call("POST", "/security-groups",
                                      json={"security_group": {"name": "default"}})
    assert status == 409 and error(body)[0] == "SecurityGroupDefaultAlreadyExists"


async def test_security_group_crud(neutron: Neutron) -> None:
    group = await neutron.create("security_group", name="web", description="d", tags=["t"])
    assert [(r["direction"], r["ethertype"]) for r in group["security_group_rules"]] == [
        ("egress", "IPv4"), ("egress", "IPv6")]
    assert group["tags"] == ["t"]
    status, body = await neutron.call("PUT", f"/security-groups/{group['id']}",
                                      json={"security_group": {"name": "www"}})
    assert status == 200 and body["security_group"]["name"] == "www"
    _, body = await neutron.call("GET", "/security-groups?name=www")
    assert [g["id"] for g in body["security_groups"]] == [group["id"]]
    status, body = await neutron.call("GET", f"/security-groups/{group['id']}", ALT)
    assert status == 404 and error(body) == (
        "SecurityGroupNotFound", f"Security group {group['id']} does not exist")
    net, _ = await neutron.net()
    port = await neutron.create("port", network_id=net["id"], security_groups=[group["id"]])
    status, body = await neutron.call("DELETE", f"/security-groups/{group['id']}")
    assert status == 409 and error(body)[0] == "SecurityGroupInUse"
    await neutron.call("DELETE", f"/ports/{port['id']}")
    assert (await neutron.call("DELETE", f"/security-groups/{group['id']}"))[0] == 204
    assert not [r for r in neutron.region.neutron.security_group_rules.values()
                if r["security_group_id"] == group["id"]]
    status, body = await neutron.call("POST", "/ports", json={"port": {
        "network_id": net["id"], "security_groups": [group["id"]]}})
    assert status == 404 and error(body)[0] == "SecurityGroupNotFound"


async def test_security_group_rules(neutron: Neutron) -> None:
    group = await neutron.create("security_group", name="web")
    rule = await neutron.create("security_group_rule", security_group_id=group["id"],
                                direction="ingress", protocol="tcp", port_range_min=22,
                                port_range_max=22, remote_ip_prefix="10.0.0.1/24",
                                description="ssh")
    assert set(rule) == RULE_FIELDS and rule["ethertype"] == "IPv4"
    assert rule["normalized_cidr"] == "10.0.0.0/24" and rule["remote_ip_prefix"] == "10.0.0.1/24"
    assert rule["project_id"] == "demo" and rule["description"] == "ssh"
    status, body = await neutron.call("POST", "/security-group-rules", json={
        "security_group_rule": {"security_group_id": group["id"], "direction": "ingress",
                                "protocol": "6", "port_range_min": 22, "port_range_max": 22,
                                "remote_ip_prefix": "10.0.0.0/24"}})
    assert status == 409 and error(body) == (
        "SecurityGroupRuleExists", f"Security group rule already exists. Rule id is "
                                   f"{rule['id']}.")
    base = {"security_group_id": group["id"], "direction": "ingress"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"port_range_min": 22}, "SecurityGroupProtocolRequiredWithPorts"),
        ({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
         "SecurityGroupInvalidPortRange"),
        ({"protocol": "bogus"}, "SecurityGroupRuleInvalidProtocol"),
        ({"remote_ip_prefix": "fd00::/64"}, "SecurityGroupRuleParameterConflict"),
        ({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": group["id"]},
         "SecurityGroupRemoteGroupAndRemoteIpPrefix"),
        ({"direction": "sideways"}, "HTTPBadRequest")]
    for extra, type_ in cases:
        status, body = await neutron.call("POST", "/security-group-rules",
                                          json={"security_group_rule": {**base, **extra}})
        assert (status, error(body)[0]) == (400, type_), extra
    status, body = await neutron.call("GET", f"/security-group-rules?security_group_id="
                                             f"{group['id']}&direction=ingress")
    assert [r["id"] for r in body["security_group_rules"]] == [rule["id"]]
    status, body = await neutron.call("GET", f"/security-group-rules/{rule['id']}")
    assert status == 200 and body["security_group_rule"] == rule
    _, body = await neutron.call("GET", f"/security-groups/{group['id']}")
    assert rule["id"] in {r["id"] for r in body["security_group"]["security_group_rules"]}
    assert (await neutron.call("DELETE", f"/security-group-rules/{rule['id']}"))[0] == 204
    status, body = await neutron.call("GET", f"/security-group-rules/{rule['id']}")
    assert status == 404 and error(body)[0] == "SecurityGroupRuleNotFound"
    status, body = await neutron.call("POST", "/security-group-rules", ALT,
                                      json={"security_group_rule": base})
    assert status == 404 and error(body)[0] == "SecurityGroupNotFound"


# -- tags --------------------------------------------------------------------------------

@pytest.mark.parametrize("collection", ["networks", "subnets", "ports", "security-groups"])
async def test_tags(neutron: Neutron, collection: str) -> None:
    net, subnet = await neutron.net()
    assert subnet is not None
    rid = {"networks": net["id"], "subnets": subnet["id"],
           "ports": (await neutron.create("port", network_id=net["id"]))["id"],
           "security-groups": (await neutron.create("security_group", name="g"))["id"]
           }[collection]
    path = f"/{collection}/{rid}/tags"
    status, body = await neutron.call("PUT", path, json={"tags": ["a", "b", "a"]})
    assert (status, body) == (200, {"tags": ["a", "b"]})
    assert (await neutron.call("PUT", f"{path}/c"))[0] == 201
    assert (await neutron.call("GET", path))[1] == {"tags": ["a", "b", "c"]}
    assert (await neutron.call("GET", f"{path}/c"))[0] == 204
    assert (await neutron.call("DELETE", f"{path}/a"))[0] == 204
    status, body = await neutron.call("DELETE", f"{path}/a")
    assert status == 404 and error(body)[0] == "TagNotFound"
    _, body = await neutron.call("GET", f"/{collection}?tags=b,c")
    assert [r["id"] for r in body[collection.replace("-", "_")]] == [rid]
    status, body = await neutron.call("PUT", path, json={"tags": ["x" * 61]})
    assert status == 400
    status, body = await neutron.call("GET", path, ALT)
    assert status == 404 and error(body)[0] == "TagResourceNotFound"
    assert (await neutron.call("DELETE", path))[0] == 204
    assert (await neutron.call("GET", path))[1] == {"tags": []}


async def test_tag_changes_bump_revision(neutron: Neutron) -> None:
    net = await neutron.create("network")
    await neutron.call("PUT", f"/networks/{net['id']}/tags/x")
    _, body = await neutron.call("GET", f"/networks/{net['id']}")
    assert body["network"]["revision_number"] == net["revision_number"] + 1
    assert body["network"]["tags"] == ["x"]


# -- quotas ------------------------------------------------------------------------------

async def test_quotas(neutron: Neutron) -> None:
    status, body = await neutron.call("GET", "/quotas/demo")
    assert (status, body) == (200, {"quota": QUOTA_DEFAULTS})
    status, body = await neutron.call("PUT", "/quotas/demo", json={"quota": {"network": 1}})
    assert status == 403 and error(body)[0] == "PolicyNotAuthorized"
    assert (await neutron.call("GET", "/quotas/alt"))[0] == 403
    status, body = await neutron.call("PUT", "/quotas/demo", ADMIN,
                                      json={"quota": {"network": 1, "port": 5}})
    assert status == 200 and body["quota"] == {**QUOTA_DEFAULTS, "network": 1, "port": 5}
    assert neutron.region.neutron.quota_puts == [("demo", {"network": 1, "port": 5})]
    _, body = await neutron.call("GET", "/quotas", ADMIN)
    assert body["quotas"] == [{**QUOTA_DEFAULTS, "network": 1, "port": 5,
                               "project_id": "demo", "tenant_id": "demo"}]
    await neutron.create("network")
    status, body = await neutron.call("POST", "/networks", json={"network": {}})
    assert status == 409
    assert error(body) == ("OverQuota", "Quota exceeded for resources: ['network'].")
    _, body = await neutron.call("GET", "/quotas/demo/details")
    assert body["quota"]["network"] == {"limit": 1, "used": 1, "reserved": 0}
    assert body["quota"]["subnet"] == {"limit": 100, "used": 0, "reserved": 0}
    assert (await neutron.call("GET", "/quotas/demo/default"))[1] == {"quota": QUOTA_DEFAULTS}
    for bad in ({"network": -5}, {"widgets": 1}):
        status, body = await neutron.call("PUT", "/quotas/demo", ADMIN, json={"quota": bad})
        assert status == 400, bad
    assert (await neutron.call("DELETE", "/quotas/demo", ADMIN))[0] == 204
    assert (await neutron.call("GET", "/quotas/demo"))[1] == {"quota": QUOTA_DEFAULTS}
