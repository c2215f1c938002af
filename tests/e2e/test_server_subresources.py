"""Server sub-resources through Cascade with the real CLI against real Nova and
Neutron: a port attached and detached by its global id, the server's interfaces
and its action log (``server event list``) in global ids."""
from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from tests.e2e.conftest import CascadeProcess, Cli, http, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

IMAGE = "cirros-0.6.2-x86_64-disk"


def _status(cli: Cli, server: str) -> str:
    status = str(cli.json("cascade-demo", "server", "show", server)["status"])
    assert status != "ERROR", f"server {server} failed"
    return status


def test_attach_a_port_and_read_the_action_log_in_global_ids(
        cli: Cli, cascade: CascadeProcess) -> None:
    tag = secrets.token_hex(3)
    net = cli.json("cascade-demo", "network", "create", f"e2e-if-{tag}")
    cli.json("cascade-demo", "subnet", "create", "--network", net["id"],
             "--subnet-range", "10.78.0.0/24", f"e2e-if-{tag}")
    port = cli.json("cascade-demo", "port", "create", "--network", net["id"], f"if-{tag}")
    server = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano", "--image",
                      IMAGE, "--nic", "none", "--availability-zone", "RegionOne",
                      f"e2e-if-{tag}")
    try:
        wait_for("server active", lambda: _status(cli, server["id"]) == "ACTIVE")
        cli("cascade-demo", "server", "add", "port", server["id"], port["id"])
        wait_for("port bound", lambda: cli.json(
            "cascade-demo", "port", "show", port["id"])["device_id"] == server["id"],
            timeout=120)
        interfaces = cli.json("cascade-demo", "--os-compute-api-version", "2.70",
                              "server", "show", server["id"])
        assert net["name"] in json.dumps(interfaces["addresses"])
        events = cli.json("cascade-demo", "server", "event", "list", server["id"])
        assert {e["Action"] for e in events} >= {"create", "attach_interface"}
        assert all(e["Server ID"] == server["id"] for e in events)
        cli("cascade-demo", "server", "remove", "port", server["id"], port["id"])
        wait_for("port unbound", lambda: not cli.json(
            "cascade-demo", "port", "show", port["id"])["device_id"], timeout=120)
    finally:
        cli("cascade-demo", "server", "delete", "--wait", server["id"], check=False)
        cli("cascade-demo", "port", "delete", port["id"], check=False)
        wait_for("network delete", lambda: cli("cascade-demo", "network", "delete",
                                               net["id"], check=False).returncode == 0,
                 timeout=120)


def test_actions_carry_the_request_ids_cascade_answered(cli: Cli,
                                                       cascade: CascadeProcess) -> None:
    """The create's action is listed, and found, under the request id Cascade gave the
    tenant (real Nova records the region's own id for Cascade's call); once the
    server is deleted its action log is still there from 2.21, for its project."""
    import urllib.request

    token = cli.json("cascade-demo", "token", "issue")["id"]
    image = cli.json("cascade-demo", "image", "show", IMAGE)["id"]
    req = urllib.request.Request(
        cascade.url + "/compute/v2.1/servers", method="POST",
        headers={"X-Auth-Token": token, "Content-Type": "application/json",
                 "OpenStack-API-Version": "compute 2.37"},
        data=json.dumps({"server": {"name": f"e2e-act-{secrets.token_hex(3)}",
                                    "flavorRef": "42", "imageRef": image,
                                    "networks": "none"}}).encode())
    with urllib.request.urlopen(req, timeout=60) as resp:
        ours = resp.headers["x-openstack-request-id"]
        server = json.loads(resp.read())["server"]["id"]
    try:
        wait_for("server active", lambda: _status(cli, server) == "ACTIVE")
        base = f"{cascade.url}/compute/v2.1/servers/{server}/os-instance-actions"
        listed = http("GET", base, token)[1]["instanceActions"]
        assert [a["request_id"] for a in listed if a["action"] == "create"] == [ours]
        status, shown = http("GET", f"{base}/{ours}", token)
        assert status == 200 and shown["instanceAction"]["action"] == "create"
        assert shown["instanceAction"]["instance_uuid"] == server
    finally:
        cli("cascade-demo", "server", "delete", "--wait", server, check=False)
    # A deleted server's action log stays readable from 2.21, as in Nova.
    seen: list[Any] = []

    def deleted_log() -> bool:
        seen[:] = [http("GET", base, token, compute_version="2.21")]
        status, body = seen[0]
        return bool(status == 200 and "delete" in {
            a["action"] for a in body["instanceActions"]})

    try:
        wait_for("delete finished", deleted_log, timeout=60)
    except AssertionError:
        raise AssertionError(f"last answer: {seen}") from None
    listed = http("GET", base, token, compute_version="2.21")[1]["instanceActions"]
    assert [a["request_id"] for a in listed if a["action"] == "create"] == [ours]
    assert http("GET", f"{base}/{ours}", token, compute_version="2.21")[0] == 200
    assert http("GET", base, token, compute_version="2.20")[0] == 404
    other = cli.json("cascade-alt", "token", "issue")["id"]
    assert http("GET", base, other, compute_version="2.21")[0] == 404
