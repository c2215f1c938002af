"""Server groups with the real CLI through Cascade against real Nova: the group follows
its first member's region, a second member joins it there, the group shows both by
global ids, and the regional group goes with it."""
from __future__ import annotations

import secrets

import pytest

from tests.e2e.conftest import CascadeProcess, Cli, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

IMAGE = "cirros-0.6.2-x86_64-disk"


def _status(cli: Cli, server: str) -> str:
    status = str(cli.json("cascade-demo", "server", "show", server)["status"])
    assert status != "ERROR", f"server {server} failed"
    return status


def test_members_follow_the_group_and_show_by_global_id(cli: Cli,
                                                        cascade: CascadeProcess) -> None:
    tag = secrets.token_hex(3)
    group = cli.json("cascade-demo", "server", "group", "create", "--policy", "affinity",
                     f"e2e-group-{tag}")
    servers: list[str] = []
    try:
        for i, zone in enumerate(("RegionTwo", None)):
            args = ["server", "create", "--flavor", "m1.nano", "--image", IMAGE, "--nic",
                    "none", "--hint", f"group={group['id']}", f"e2e-gm{i}-{tag}"]
            if zone:
                args[2:2] = ["--availability-zone", zone]
            servers.append(cli.json("cascade-demo", *args)["id"])
        for server in servers:
            wait_for("member active", lambda s=server: _status(cli, s) == "ACTIVE")
        shown = cli.json("cascade-demo", "server", "group", "show", group["id"])
        assert set(shown["members"]) == set(servers)
        regional = cli.json("regions-demo", "server", "group", "list", region="RegionTwo")
        assert any(g["Name"] == f"e2e-group-{tag}" for g in regional)
        assert not any(g["Name"] == f"e2e-group-{tag}" for g in cli.json(
            "regions-demo", "server", "group", "list", region="RegionOne"))
    finally:
        for server in servers:
            cli("cascade-demo", "server", "delete", "--wait", server, check=False)
        cli("cascade-demo", "server", "group", "delete", group["id"], check=False)
    assert not any(g["Name"] == f"e2e-group-{tag}" for g in cli.json(
        "regions-demo", "server", "group", "list", region="RegionTwo"))


def test_same_host_follows_a_server_into_its_region(cli: Cli, cascade: CascadeProcess) -> None:
    """``--hint same_host=<global id>``: the new server lands where that one is, on
    its host (real Nova's SameHostFilter, told the regional id)."""
    tag = secrets.token_hex(3)
    servers: list[str] = []
    try:
        servers.append(cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano",
                                "--image", IMAGE, "--nic", "none", "--availability-zone",
                                "RegionTwo", f"e2e-host-a-{tag}")["id"])
        wait_for("first active", lambda: _status(cli, servers[0]) == "ACTIVE")
        servers.append(cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano",
                                "--image", IMAGE, "--nic", "none", "--hint",
                                f"same_host={servers[0]}", f"e2e-host-b-{tag}")["id"])
        wait_for("second active", lambda: _status(cli, servers[1]) == "ACTIVE")
        zones = {cli.json("cascade-demo", "server", "show", s)["OS-EXT-AZ:availability_zone"]
                 for s in servers}
        assert zones == {"RegionTwo"}
        regional = cli.json("regions-admin", "server", "list", "--all-projects", "--long",
                            "--name", f"e2e-host-.-{tag}", region="RegionTwo")
        assert len(regional) == 2 and len({s["Host"] for s in regional}) == 1, regional
    finally:
        for server in servers:
            cli("cascade-demo", "server", "delete", "--wait", server, check=False)
