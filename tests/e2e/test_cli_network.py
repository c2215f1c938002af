"""Networks, ports, security groups and global quota through Cascade with the real CLI
against two real Neutron and Nova regions."""
from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from tests.e2e.conftest import CascadeProcess, Cli, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

IMAGE = "cirros-0.6.2-x86_64-disk"


def _regional_ports(cli: Cli, region: str, global_id: str) -> list[dict[str, Any]]:
    """The region's own ports Cascade tagged with this global id."""
    return list(cli.json("regions-demo", "port", "list", "--tags", f"cascade:{global_id}",
                         "--long", region=region))


def _regional_servers(cli: Cli) -> int:
    return sum(len(cli.json("regions-demo", "server", "list", region=r))
               for r in ("RegionOne", "RegionTwo"))


def _rules_in_region(cli: Cli, region: str) -> list[dict[str, Any]]:
    return list(cli.json("regions-demo", "security", "group", "rule", "list", "default",
                         "--long", region=region))


def _active(cli: Cli, server: str) -> bool:
    status = cli.json("cascade-demo", "server", "show", server)["status"]
    assert status != "ERROR", f"server {server} failed"
    return bool(status == "ACTIVE")


def test_ports_materialise_rules_spread_and_quota_holds(cli: Cli,
                                                        cascade: CascadeProcess) -> None:
    tag = secrets.token_hex(3)
    net = cli.json("cascade-demo", "network", "create", f"e2e-net-{tag}")
    subnet = cli.json("cascade-demo", "subnet", "create", "--network", net["id"],
                      "--subnet-range", "10.77.0.0/24", f"e2e-sub-{tag}")
    assert subnet["gateway_ip"] == "10.77.0.1"
    bound = cli.json("cascade-demo", "port", "create", "--network", net["id"], f"pa-{tag}")
    spare = cli.json("cascade-demo", "port", "create", "--network", net["id"], f"pb-{tag}")
    # Cascade gives each port its address at create, before any region has it.
    [bound_ip] = [ip["ip_address"] for ip in bound["fixed_ips"]]
    [spare_ip] = [ip["ip_address"] for ip in spare["fixed_ips"]]
    assert bound_ip != spare_ip and bound_ip.startswith("10.77.0.")
    # Nothing exists in any region until a server needs it.
    assert _regional_ports(cli, "RegionOne", bound["id"]) == []
    assert _regional_ports(cli, "RegionTwo", bound["id"]) == []
    servers: list[str] = []
    quota_before = None
    try:
        vm_a = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano",
                        "--image", IMAGE, "--nic", f"port-id={bound['id']}",
                        "--availability-zone", "RegionTwo", f"e2e-pa-{tag}")
        servers.append(vm_a["id"])
        wait_for("server on the port", lambda: _active(cli, vm_a["id"]))

        # The port was materialised in RegionTwo, with the address Cascade gave it.
        regional = _regional_ports(cli, "RegionTwo", bound["id"])
        assert len(regional) == 1
        assert [ip["ip_address"] for ip in regional[0]["Fixed IP Addresses"]] == [bound_ip]
        listed = {p["ID"]: p for p in cli.json("cascade-demo", "port", "list", "--long",
                                               "--network", net["id"])}
        assert set(listed) >= {bound["id"], spare["id"]}
        ips = listed[bound["id"]]["Fixed IP Addresses"]
        assert ips and ips[0]["ip_address"].startswith("10.77.0.")
        assert ips[0]["subnet_id"] == subnet["id"]
        assert [ip["ip_address"] for ip in listed[spare["id"]]["Fixed IP Addresses"]] == [
            spare_ip]  # in no region yet, its address kept
        shown = cli.json("cascade-demo", "port", "show", bound["id"])
        assert shown["device_id"] == vm_a["id"] and shown["status"] == "ACTIVE"

        # A port bound in RegionTwo cannot boot a server in RegionOne.
        refused = cli("cascade-demo", "server", "create", "--flavor", "m1.nano",
                      "--image", IMAGE, "--nic", f"port-id={bound['id']}",
                      "--availability-zone", "RegionOne", f"e2e-x-{tag}", check=False)
        assert refused.returncode != 0 and "409" in refused.stderr, refused.stderr

        # Booting on the network in RegionOne instantiates it there.
        vm_b = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano",
                        "--image", IMAGE, "--nic", f"net-id={net['id']}",
                        "--availability-zone", "RegionOne", f"e2e-pb-{tag}")
        servers.append(vm_b["id"])
        wait_for("server on the network", lambda: _active(cli, vm_b["id"]))
        shown_net = cli.json("cascade-demo", "network", "show", net["id"])
        assert sorted(shown_net["availability_zones"]) == ["RegionOne", "RegionTwo"]
        # Nova's port in RegionOne took an address Cascade allocated: no other
        # port has it, and asking for it again anywhere is Neutron's 409.
        addresses = cli.json("cascade-demo", "server", "show", vm_b["id"])["addresses"]
        [vm_b_ip] = [a for nets in addresses.values() for a in
                     (nets if isinstance(nets, list) else [nets])]
        vm_b_ip = vm_b_ip["addr"] if isinstance(vm_b_ip, dict) else vm_b_ip.split("=")[-1]
        assert vm_b_ip.startswith("10.77.0.") and vm_b_ip not in (bound_ip, spare_ip)
        taken = cli("cascade-demo", "port", "create", "--network", net["id"], "--fixed-ip",
                    f"ip-address={vm_b_ip}", f"pc-{tag}", check=False)
        assert taken.returncode != 0 and "409" in taken.stderr, taken.stderr
        # Each region's subnet copy may allocate one address of its own, one
        # no port holds (Cascade gives every other address).
        held = {bound_ip, spare_ip, vm_b_ip}
        for region in ("RegionOne", "RegionTwo"):
            [copy] = cli.json("regions-demo", "subnet", "list", "--tags",
                              f"cascade:{subnet['id']}", "--long", region=region)
            pools = copy["Allocation Pools"]
            pools = pools if isinstance(pools, list) else [pools]
            [pool] = pools
            start, end = ((pool["start"], pool["end"]) if isinstance(pool, dict)
                          else pool.split("-"))
            assert start == end and start not in held, (region, pool)

        # A rule added to the default group reaches both regions' copies.
        rule = cli.json("cascade-demo", "security", "group", "rule", "create", "--protocol",
                        "tcp", "--dst-port", "2222", "default")
        for region in ("RegionOne", "RegionTwo"):
            ranges = [r.get("Port Range") for r in _rules_in_region(cli, region)]
            assert "2222:2222" in ranges, (region, ranges)

        # Quota: usage counts servers in both regions; at the limit a boot is refused
        # before anything is created in any region.
        usage = {r["Resource"]: r for r in cli.json("cascade-demo", "quota", "show",
                                                     "--usage")}
        mine = cli.json("cascade-demo", "server", "list")
        assert usage["instances"]["In Use"] == len(mine) >= 2
        quota_before = usage["instances"]["Limit"]
        cli("cascade-admin", "quota", "set", "--instances",
            str(usage["instances"]["In Use"]), "demo")
        regional_before = _regional_servers(cli)
        over = cli("cascade-demo", "server", "create", "--flavor", "m1.nano", "--image",
                   IMAGE, "--nic", "none", f"e2e-over-{tag}", check=False)
        assert over.returncode != 0 and "403" in over.stderr, over.stderr
        assert "Quota exceeded for instances" in over.stderr
        assert _regional_servers(cli) == regional_before
        shown_quota = {r["Resource"]: r for r in cli.json("cascade-demo", "quota", "show",
                                                           "--usage")}
        assert shown_quota["instances"]["Limit"] == usage["instances"]["In Use"]
        cli("cascade-demo", "security", "group", "rule", "delete", rule["id"])
        for region in ("RegionOne", "RegionTwo"):
            ranges = [r.get("Port Range") for r in _rules_in_region(cli, region)]
            assert "2222:2222" not in ranges, (region, ranges)
    finally:
        if quota_before is not None:
            cli("cascade-admin", "quota", "set", "--instances", str(quota_before), "demo")
        for server in servers:
            cli("cascade-demo", "server", "delete", "--wait", server, check=False)
        for port in (bound, spare):
            cli("cascade-demo", "port", "delete", port["id"], check=False)
    # Network delete removes every regional copy (after the servers' ports went).
    wait_for("network delete", lambda: cli("cascade-demo", "network", "delete", net["id"],
                                        check=False).returncode == 0, timeout=120)
    for region in ("RegionOne", "RegionTwo"):
        left = cli.json("regions-demo", "network", "list", "--tags", f"cascade:{net['id']}",
                        region=region)
        assert left == [], (region, left)
    assert json.dumps(cli.json("cascade-demo", "network", "list")).count(net["id"]) == 0
