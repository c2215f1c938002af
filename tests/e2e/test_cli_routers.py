"""Routers, floating IPs and a tenant's regions connected, with the real CLI through
Cascade, checked directly in the two real Neutron regions."""
from __future__ import annotations

import ipaddress
import json
import secrets
from typing import Any

import pytest

from tests.e2e.conftest import CascadeProcess, Cli, http, keystone_token, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

IMAGE = "cirros-0.6.2-x86_64-disk"


def _copies(cli: Cli, router_id: str) -> dict[str, dict[str, Any]]:
    """region -> the region's own copy of a Cascade router (found by its tag), with
    its interfaces, read as the region's admin."""
    out = {}
    for region in ("RegionOne", "RegionTwo"):
        found = cli.json("regions-admin", "router", "list", "--tags", f"cascade:{router_id}",
                         "--long", region=region)
        assert len(found) <= 1
        if found:
            router = cli.json("regions-admin", "router", "show", found[0]["ID"],
                              region=region)
            ports = cli.json("regions-admin", "port", "list", "--router", found[0]["ID"],
                             "--long", region=region)
            out[region] = {"router": router, "ports": ports}
    return out


def _spanning(cli: Cli, router_id: str) -> dict[str, dict[str, Any]]:
    """The router's copies once it has one in each region, each with routes."""
    def ready() -> dict[str, dict[str, Any]] | None:
        copies = _copies(cli, router_id)
        if set(copies) != {"RegionOne", "RegionTwo"}:
            return None
        if not all(c["router"]["routes"] for c in copies.values()):
            return None
        return copies

    return dict(wait_for("routes in both regions", ready, timeout=120))


def _network(cli: Cli, region: str, network_id: str) -> dict[str, Any]:
    return dict(cli.json("regions-admin", "network", "show", network_id, region=region))


def _bridge(cli: Cli, region: str, copy: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The copy's port on a VLAN network (its bridge): the network and the address."""
    for port in copy["ports"]:
        net = _network(cli, region, port["Network ID"] if "Network ID" in port
                       else cli.json("regions-admin", "port", "show", port["ID"],
                                     region=region)["network_id"])
        if net["provider:network_type"] == "vlan" and net["name"].startswith("cascade-bridge"):
            return net, port["Fixed IP Addresses"][0]["ip_address"]
    raise AssertionError(f"no bridge port on the copy in {region}")


def _routes(copy: dict[str, Any]) -> set[tuple[str, str]]:
    return {(r["destination"], r["nexthop"]) for r in copy["router"]["routes"] or []}


def _active(cli: Cli, server: str) -> bool:
    status = cli.json("cascade-demo", "server", "show", server)["status"]
    assert status != "ERROR", f"server {server} failed"
    return bool(status == "ACTIVE")


def _placed(cli: Cli, name: str, cidr: str, region: str
            ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A tenant network with one subnet, present in ``region`` by a port made there."""
    net = cli.json("cascade-demo", "network", "create", name)
    sub = cli.json("cascade-demo", "subnet", "create", "--network", net["id"],
                   "--subnet-range", cidr, f"{name}-s")
    port = cli.json("cascade-demo", "port", "create", "--network", net["id"],
                    "--binding-profile", f"cascade_region={region}", f"{name}-p")
    return net, sub, port


def _check(cascade: CascadeProcess, project: str) -> tuple[int, str]:
    done = cascade.manage("network", "check", project, "-f", "json")
    return done.returncode, done.stdout


def test_a_router_across_two_regions_connects_them_and_lets_go(
        cli: Cli, cascade: CascadeProcess) -> None:
    tag = secrets.token_hex(3)
    _, project = keystone_token("demo")
    a_cidr, b_cidr = "10.81.0.0/24", "10.82.0.0/24"
    net_a = cli.json("cascade-demo", "network", "create", "--availability-zone-hint",
                     "RegionOne", f"rt-a-{tag}")
    sub_a = cli.json("cascade-demo", "subnet", "create", "--network", net_a["id"],
                     "--subnet-range", a_cidr, f"rt-sa-{tag}")
    net_b = cli.json("cascade-demo", "network", "create", "--availability-zone-hint",
                     "RegionTwo", f"rt-b-{tag}")
    sub_b = cli.json("cascade-demo", "subnet", "create", "--network", net_b["id"],
                     "--subnet-range", b_cidr, f"rt-sb-{tag}")
    router = cli.json("cascade-demo", "router", "create", f"rt-{tag}")
    servers: list[str] = []
    try:
        cli("cascade-demo", "router", "add", "subnet", router["id"], sub_a["id"])
        cli("cascade-demo", "router", "add", "subnet", router["id"], sub_b["id"])
        # Nothing in any region yet: no network of its interfaces is anywhere.
        assert _copies(cli, router["id"]) == {}
        for zone, net in (("RegionOne", net_a), ("RegionTwo", net_b)):
            vm = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano",
                          "--image", IMAGE, "--nic", f"net-id={net['id']}",
                          "--availability-zone", zone, f"rt-vm-{zone}-{tag}")
            servers.append(vm["id"])
        for vm_id in servers:
            wait_for("servers active", lambda v=vm_id: _active(cli, v))

        # One logical router: a copy in each region, each on the same VLAN bridge,
        # each with a route to the other region's subnet via the other's bridge address.
        copies = _spanning(cli, router["id"])
        net1, ip1 = _bridge(cli, "RegionOne", copies["RegionOne"])
        net2, ip2 = _bridge(cli, "RegionTwo", copies["RegionTwo"])
        assert net1["provider:physical_network"] == net2["provider:physical_network"]
        assert net1["provider:segmentation_id"] == net2["provider:segmentation_id"]
        assert ip1 != ip2
        assert _routes(copies["RegionOne"]) == {(b_cidr, ip2)}
        assert _routes(copies["RegionTwo"]) == {(a_cidr, ip1)}
        # The bridge never overlaps the tenant's subnets, and the tenant never sees it.
        bridge_cidr = ipaddress.ip_network(cli.json("regions-admin", "subnet", "show",
                                                    net1["subnets"][0],
                                                    region="RegionOne")["cidr"])
        assert not bridge_cidr.overlaps(ipaddress.ip_network(a_cidr))
        assert not bridge_cidr.overlaps(ipaddress.ip_network(b_cidr))
        tenant_nets = {n["ID"] for n in cli.json("cascade-demo", "network", "list")}
        assert tenant_nets.isdisjoint({net1["id"], net2["id"]})
        admin_nets = cli.json("cascade-admin", "network", "list", "--long")
        assert any(n["Name"] == f"cascade-bridge-{project}" for n in admin_nets)
        # The tenant sees its router's interfaces, gateway addresses, with global ids.
        shown = cli.json("cascade-demo", "router", "show", router["id"])
        assert sorted(shown["availability_zones"]) == ["RegionOne", "RegionTwo"]
        assert {i["subnet_id"] for i in shown["interfaces_info"]} == {sub_a["id"],
                                                                      sub_b["id"]}
        assert {i["ip_address"] for i in shown["interfaces_info"]} == {"10.81.0.1",
                                                                       "10.82.0.1"}
        code, out = _check(cascade, project)
        assert code == 0, out
        assert json.loads(out)["routable"] is True

        # An overlapping interface is refused as Neutron refuses it.
        net_c = cli.json("cascade-demo", "network", "create", f"rt-c-{tag}")
        sub_c = cli.json("cascade-demo", "subnet", "create", "--network", net_c["id"],
                         "--subnet-range", "10.81.0.0/25", f"rt-sc-{tag}")
        refused = cli("cascade-demo", "router", "add", "subnet", router["id"], sub_c["id"],
                      check=False)
        assert refused.returncode != 0
        assert (f"Cidr 10.81.0.0/25 of subnet {sub_c['id']} overlaps with cidr {a_cidr} "
                f"of subnet {sub_a['id']}") in refused.stderr

        # Drift in a region is found by the check and repaired by the converge.
        cli("regions-admin", "router", "set", "--no-route",
            copies["RegionOne"]["router"]["id"], region="RegionOne")
        code, out = _check(cascade, project)
        assert code == 1 and json.loads(out)["missing"], out
        found = cascade.manage("mapping", "verify", "--type", "router", "-f", "json")
        assert found.returncode == 1, found.stdout + found.stderr
        assert any(f["action"] == "drift" and f["global_id"] == router["id"]
                   and f["region"] == "RegionOne"
                   for f in json.loads(found.stdout)["findings"]), found.stdout
        cascade.manage("mapping", "adopt", "--type", "router")  # the audit, on demand
        wait_for("routes repaired", lambda: _check(cascade, project)[0] == 0, timeout=120)

        # Removing an interface: the RegionTwo copy, the bridge and the routes go.
        cli("cascade-demo", "router", "remove", "subnet", router["id"], sub_b["id"])

        def single() -> dict[str, Any] | None:
            copies = _copies(cli, router["id"])
            if set(copies) != {"RegionOne"} or copies["RegionOne"]["router"]["routes"]:
                return None
            if len(copies["RegionOne"]["ports"]) != 1:
                return None
            return copies

        wait_for("router back in one region", single, timeout=120)
        for region, net in (("RegionOne", net1), ("RegionTwo", net2)):
            gone = cli("regions-admin", "network", "show", net["id"], region=region,
                       check=False)
            assert gone.returncode != 0, f"bridge left in {region}"
    finally:
        for vm_id in servers:
            cli("cascade-demo", "server", "delete", "--wait", vm_id, check=False)
        cli("cascade-demo", "router", "remove", "subnet", router["id"], sub_a["id"],
            check=False)
        cli("cascade-demo", "router", "remove", "subnet", router["id"], sub_b["id"],
            check=False)
        cli("cascade-demo", "router", "delete", router["id"], check=False)
    wait_for("router gone from the regions", lambda: _copies(cli, router["id"]) == {},
             timeout=120)
    assert cli("cascade-demo", "router", "show", router["id"], check=False).returncode != 0


def test_a_region_down_during_an_interface_add_catches_up_when_back(
        cli: Cli, cascade: CascadeProcess) -> None:
    tag = secrets.token_hex(3)
    admin, _ = keystone_token("admin")
    _, project = keystone_token("alt_demo")
    nets = {}
    for zone, cidr in (("RegionOne", "10.83.0.0/24"), ("RegionTwo", "10.84.0.0/24")):
        net = cli.json("cascade-alt", "network", "create", "--availability-zone-hint", zone,
                       f"rd-{zone}-{tag}")
        sub = cli.json("cascade-alt", "subnet", "create", "--network", net["id"],
                       "--subnet-range", cidr, f"rd-s-{zone}-{tag}")
        # A port made in its region at once puts the network there.
        cli.json("cascade-alt", "port", "create", "--network", net["id"], "--binding-profile",
                 f"cascade_region={zone}", f"rd-p-{zone}-{tag}")
        nets[zone] = (net, sub)
    router = cli.json("cascade-alt", "router", "create", f"rd-{tag}")
    cli("cascade-alt", "router", "add", "subnet", router["id"], nets["RegionOne"][1]["id"])
    wait_for("copy in RegionOne", lambda: "RegionOne" in _copies(cli, router["id"]),
             timeout=60)
    base = cascade.url
    try:
        status, _ = http("PATCH", f"{base}/v1/regions/RegionTwo", admin,
                         {"region": {"network_endpoint": "http://127.0.0.1:9/"}})
        assert status == 200
        try:
            cli("cascade-alt", "router", "add", "subnet", router["id"],
                nets["RegionTwo"][1]["id"])
            # The answer came at once; RegionTwo cannot be reached, so nothing is there yet.
            copies = _copies(cli, router["id"])
            assert "RegionTwo" not in copies
        finally:
            status, _ = http("PATCH", f"{base}/v1/regions/RegionTwo", admin,
                             {"region": {"network_endpoint": None}})
            assert status == 200
        # Back: the queued converge finishes on its own, no hand work.
        wait_for("routable once RegionTwo is back",
                 lambda: _check(cascade, project)[0] == 0
                 and len(_copies(cli, router["id"])) == 2, timeout=240, interval=2)
    finally:
        # Whatever happened, the router goes: the quota tests count this project's.
        for _, sub in nets.values():
            cli("cascade-alt", "router", "remove", "subnet", router["id"], sub["id"],
                check=False)
        cli("cascade-alt", "router", "delete", router["id"], check=False)
    wait_for("copies gone", lambda: _copies(cli, router["id"]) == {}, timeout=120)


def test_floating_ips_live_in_their_external_networks_region(
        cli: Cli, cascade: CascadeProcess) -> None:
    tag = secrets.token_hex(3)
    external = {n["Availability Zones"][0]: n for n in
                cli.json("cascade-demo", "network", "list", "--external", "--long")}
    assert set(external) >= {"RegionOne", "RegionTwo"}
    ext_one = external["RegionOne"]["ID"]
    net, sub, port_one = _placed(cli, f"fip-{tag}", "10.85.0.0/24", "RegionOne")
    router = cli.json("cascade-demo", "router", "create", f"fip-{tag}")
    hinted = cli.json("cascade-demo", "router", "create", "--availability-zone-hint",
                      "RegionTwo", f"fip-local-{tag}")
    fip = None
    try:
        # A router hinted to RegionTwo's zone cannot take RegionOne's gateway.
        refused = cli("cascade-demo", "router", "set", "--external-gateway", ext_one,
                      hinted["id"], check=False)
        assert refused.returncode != 0 and "availability_zone_hints" in refused.stderr
        cli("cascade-demo", "router", "add", "subnet", router["id"], sub["id"])
        cli("cascade-demo", "router", "set", "--external-gateway", ext_one, router["id"])
        gateway = wait_for("gateway address", lambda: (cli.json(
            "cascade-demo", "router", "show", router["id"])["external_gateway_info"]
            or {}).get("external_fixed_ips"), timeout=60)
        assert ipaddress.ip_address(gateway[0]["ip_address"]) in ipaddress.ip_network(
            "172.24.4.0/24")
        fip = cli.json("cascade-demo", "floating", "ip", "create", ext_one)
        assert fip["floating_network_id"] == ext_one
        regional = cli.json("regions-demo", "floating", "ip", "list", "--tags",
                            f"cascade:{fip['id']}", region="RegionOne")
        assert [r["Floating IP Address"] for r in regional] == [fip["floating_ip_address"]]
        cli("cascade-demo", "floating", "ip", "set", "--port", port_one["id"], fip["id"])
        shown = cli.json("cascade-demo", "floating", "ip", "show", fip["id"])
        assert shown["port_id"] == port_one["id"]
        assert shown["router_id"] == router["id"]
        assert shown["fixed_ip_address"] == port_one["fixed_ips"][0]["ip_address"]
        # While the address is reached through the router: Neutron's 409s, and the
        # router keeps its interface and gateway.
        for held in (("router", "remove", "subnet", router["id"], sub["id"]),
                     ("router", "unset", "--external-gateway", router["id"])):
            refused = cli("cascade-demo", *held, check=False)
            assert refused.returncode != 0, held
            assert "required by one or more floating IPs" in refused.stderr, refused.stderr
        kept = cli.json("cascade-demo", "router", "show", router["id"])
        assert kept["external_gateway_info"]["network_id"] == ext_one
        assert [i["subnet_id"] for i in kept["interfaces_info"]] == [sub["id"]]
        # A port in another region cannot take it, and the answer says why.
        net_two, _sub_two, port_two = _placed(cli, f"fip2-{tag}", "10.86.0.0/24", "RegionTwo")
        refused = cli("cascade-demo", "floating", "ip", "set", "--port", port_two["id"],
                      fip["id"], check=False)
        assert refused.returncode != 0
        assert "region RegionTwo" in refused.stderr and "region RegionOne" in refused.stderr
        refused = cli("cascade-demo", "floating", "ip", "create", "--port", port_two["id"],
                      ext_one, check=False)
        assert refused.returncode != 0
        assert "region RegionTwo" in refused.stderr and "region RegionOne" in refused.stderr
        assert len(cli.json("cascade-demo", "floating", "ip", "list")) == 1  # none made
        cli("cascade-demo", "floating", "ip", "unset", "--port", fip["id"])
        assert cli.json("cascade-demo", "floating", "ip", "show", fip["id"])["port_id"] is None
        cli("cascade-demo", "port", "delete", port_two["id"])
        cli("cascade-demo", "network", "delete", net_two["id"])
    finally:
        if fip is not None:
            cli("cascade-demo", "floating", "ip", "delete", fip["id"], check=False)
        cli("cascade-demo", "router", "unset", "--external-gateway", router["id"],
            check=False)
        cli("cascade-demo", "router", "remove", "subnet", router["id"], sub["id"],
            check=False)
        cli("cascade-demo", "router", "delete", router["id"], check=False)
        cli("cascade-demo", "router", "delete", hinted["id"], check=False)
    assert cli.json("regions-demo", "floating", "ip", "list", "--tags",
                    f"cascade:{fip['id']}", region="RegionOne") == []


def test_router_and_floating_ip_quota_is_global(cli: Cli, cascade: CascadeProcess) -> None:
    _, project = keystone_token("alt_demo")
    cli("cascade-admin", "quota", "set", "--routers", "1", "--floating-ips", "0", project)
    made = []
    try:
        made.append(cli.json("cascade-alt", "router", "create",
                             f"q-{secrets.token_hex(3)}")["id"])
        over = cli("cascade-alt", "router", "create", "q-over", check=False)
        assert over.returncode != 0 and "Quota exceeded" in over.stderr
        ext = cli.json("cascade-alt", "network", "list", "--external")[0]["ID"]
        over = cli("cascade-alt", "floating", "ip", "create", ext, check=False)
        assert over.returncode != 0 and "Quota exceeded" in over.stderr
    finally:
        for router_id in made:
            cli("cascade-alt", "router", "delete", router_id, check=False)
        cli("cascade-admin", "quota", "set", "--routers", "10", "--floating-ips", "50",
            project)


def test_a_spanning_network_is_one_segment_with_its_gateway_in_one_region(
        cli: Cli, cascade: CascadeProcess) -> None:
    tag = secrets.token_hex(3)
    _, project = keystone_token("demo")
    span = cli.json("cascade-admin", "network", "create", "--project", project,
                    "--provider-network-type", "vlan", f"span-{tag}")
    assert span["provider:network_type"] == "vlan"
    assert span["provider:physical_network"] == "physnet1"
    vlan = span["provider:segmentation_id"]
    # The tenant uses it as any network of its own; provider details are admins'.
    seen = cli.json("cascade-demo", "network", "show", span["id"])
    assert seen.get("provider:segmentation_id") is None
    sub = cli.json("cascade-demo", "subnet", "create", "--network", span["id"],
                   "--subnet-range", "10.87.0.0/24", f"span-s-{tag}")
    other = cli.json("cascade-demo", "network", "create", "--availability-zone-hint",
                     "RegionTwo", f"span-o-{tag}")
    other_sub = cli.json("cascade-demo", "subnet", "create", "--network", other["id"],
                         "--subnet-range", "10.88.0.0/24", f"span-os-{tag}")
    ports = {}
    router = cli.json("cascade-demo", "router", "create", f"span-{tag}")
    try:
        for zone in ("RegionOne", "RegionTwo"):
            ports[zone] = cli.json("cascade-demo", "port", "create", "--network", span["id"],
                                   "--binding-profile", f"cascade_region={zone}",
                                   f"span-p-{zone}-{tag}")
        ports["other"] = cli.json("cascade-demo", "port", "create", "--network",
                                  other["id"], "--binding-profile",
                                  "cascade_region=RegionTwo", f"span-po-{tag}")
        # The same VLAN segment in both regions, and addresses never shared.
        for zone in ("RegionOne", "RegionTwo"):
            [regional] = cli.json("regions-admin", "network", "list", "--tags",
                                  f"cascade:{span['id']}", "--long", region=zone)
            shown = _network(cli, zone, regional["ID"])
            assert (shown["provider:network_type"], shown["provider:physical_network"],
                    shown["provider:segmentation_id"]) == ("vlan", "physnet1", vlan)
        addresses = [ports[z]["fixed_ips"][0]["ip_address"] for z in ("RegionOne",
                                                                      "RegionTwo")]
        assert len(set(addresses)) == 2
        cli("cascade-demo", "router", "add", "subnet", router["id"], sub["id"])
        cli("cascade-demo", "router", "add", "subnet", router["id"], other_sub["id"])

        copies = _spanning(cli, router["id"])
        # The spanning subnet's gateway is in one copy only (one wire, one gateway).
        gateways = [zone for zone, copy in copies.items()
                    if any(ip["ip_address"] == "10.87.0.1"
                           for p in copy["ports"] for ip in p["Fixed IP Addresses"])]
        assert gateways == ["RegionOne"]
        _, ip1 = _bridge(cli, "RegionOne", copies["RegionOne"])
        assert ("10.87.0.0/24", ip1) in _routes(copies["RegionTwo"])
        code, out = _check(cascade, project)
        assert code == 0, out
    finally:
        cli("cascade-demo", "router", "remove", "subnet", router["id"], sub["id"],
            check=False)
        cli("cascade-demo", "router", "remove", "subnet", router["id"], other_sub["id"],
            check=False)
        cli("cascade-demo", "router", "delete", router["id"], check=False)
        for port in ports.values():
            cli("cascade-demo", "port", "delete", port["id"], check=False)
        wait_for("router gone", lambda: _copies(cli, router["id"]) == {}, timeout=120)
        cli("cascade-demo", "network", "delete", other["id"], check=False)
        cli("cascade-admin", "network", "delete", span["id"])
    for zone in ("RegionOne", "RegionTwo"):
        assert cli.json("regions-admin", "network", "list", "--tags",
                        f"cascade:{span['id']}", region=zone) == []


def test_an_interface_by_port_is_attached_in_the_ports_region_and_let_go(
        cli: Cli, cascade: CascadeProcess) -> None:
    """``router add port`` / ``remove port`` with the real CLI: the region's copy of
    the router gets the port's own copy as its interface, then loses it."""
    tag = secrets.token_hex(3)
    net, sub, port = _placed(cli, f"byport-{tag}", "10.87.0.0/24", "RegionOne")
    router = cli.json("cascade-demo", "router", "create", f"byport-{tag}")
    try:
        cli("cascade-demo", "router", "add", "port", router["id"], port["id"])

        def attached() -> bool:
            copies = _copies(cli, router["id"])
            return "RegionOne" in copies and any(
                f"cascade:{port['id']}" in (p.get("Tags") or [])
                for p in copies["RegionOne"]["ports"])

        wait_for("the port attached in RegionOne", attached, timeout=120)
        shown = cli.json("cascade-demo", "port", "show", port["id"])
        assert shown["device_id"] == router["id"]
        assert shown["fixed_ips"][0]["subnet_id"] == sub["id"]
        cli("cascade-demo", "router", "remove", "port", router["id"], port["id"])
        wait_for("the copy let go", lambda: _copies(cli, router["id"]) == {}, timeout=120)
    finally:
        cli("cascade-demo", "router", "remove", "port", router["id"], port["id"], check=False)
        cli("cascade-demo", "router", "delete", router["id"], check=False)
        cli("cascade-demo", "network", "delete", net["id"], check=False)


def test_two_spanning_routers_share_the_bridge_until_the_last_lets_go(
        cli: Cli, cascade: CascadeProcess) -> None:
    """One bridge per project: a second router spanning the same regions joins it
    (its own addresses on the same VLAN network); it stays while one spanning
    router is left, and goes with the last."""
    tag = secrets.token_hex(3)
    _, project = keystone_token("demo")
    made: dict[str, list[str]] = {}
    nets: list[str] = []
    try:
        for name, cidrs in (("x", ("10.91.0.0/24", "10.92.0.0/24")),
                            ("y", ("10.93.0.0/24", "10.94.0.0/24"))):
            router = cli.json("cascade-demo", "router", "create", f"share-{name}-{tag}")
            made[router["id"]] = []
            for zone, cidr in zip(("RegionOne", "RegionTwo"), cidrs):
                net, sub, _port = _placed(cli, f"share-{tag}-{cidr[3:5]}", cidr, zone)
                nets.append(net["id"])
                cli("cascade-demo", "router", "add", "subnet", router["id"], sub["id"])
                made[router["id"]].append(sub["id"])
        x, y = list(made)
        bridges = {}
        for rid in (x, y):
            copies = _spanning(cli, rid)
            bridges[rid] = {r: _bridge(cli, r, copies[r]) for r in copies}
        for region in ("RegionOne", "RegionTwo"):
            (net_x, ip_x), (net_y, ip_y) = bridges[x][region], bridges[y][region]
            assert net_x["id"] == net_y["id"] and ip_x != ip_y
        code, out = _check(cascade, project)
        assert code == 0, out
        for sub in made.pop(y):
            cli("cascade-demo", "router", "remove", "subnet", y, sub)
        cli("cascade-demo", "router", "delete", y)
        wait_for("y gone from the regions", lambda: _copies(cli, y) == {}, timeout=120)
        for region in ("RegionOne", "RegionTwo"):
            kept = cli("regions-admin", "network", "show", bridges[x][region][0]["id"],
                       region=region, check=False)
            assert kept.returncode == 0, f"bridge gone from {region} while x spans"
        assert _check(cascade, project)[0] == 0
    finally:
        for rid, subs in made.items():
            for sub in subs:
                cli("cascade-demo", "router", "remove", "subnet", rid, sub, check=False)
            cli("cascade-demo", "router", "delete", rid, check=False)
        for rid in made:
            wait_for("routers gone", lambda r=rid: _copies(cli, r) == {}, timeout=120)
        for net in nets:
            for port in cli.json("cascade-demo", "port", "list", "--network", net):
                cli("cascade-demo", "port", "delete", port["ID"], check=False)
            cli("cascade-demo", "network", "delete", net, check=False)
