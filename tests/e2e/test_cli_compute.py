"""The compute surface through Cascade with the real CLI, and a sick region."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.e2e.conftest import REGIONS_HOME, ROOT, CascadeProcess, Cli

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.6.2-x86_64-disk"
PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBw9dGY4m6Yw0Jm3sY9Zc1lqvGkXq0cH3cVd"
              "3y2mD8lP e2e@example")


def _wait(what: str, check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def _status(cli: Cli, server: str) -> str:
    return str(cli.json("cascade-demo", "server", "show", server)["status"])


def _token(project: str = "demo") -> str:
    body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": project, "password": "secret", "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}).encode()
    req = urllib.request.Request("http://127.0.0.1:25000/v3/auth/tokens", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return str(resp.headers["X-Subject-Token"])


def _get(cascade: CascadeProcess, path: str, token: str) -> tuple[int, Any, Any]:
    req = urllib.request.Request(cascade.url + path, headers={
        "X-Auth-Token": token, "OpenStack-API-Version": "compute 2.96"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, err.headers, json.loads(err.read() or b"{}")


def _stop_nova_api(region_prefix: str) -> None:
    pid = int((REGIONS_HOME / "run" / f"{region_prefix}-nova-api.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    _wait("nova-api to stop", lambda: subprocess.run(
        ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:26774/v2.1"]).returncode != 0,
        timeout=30)


def test_compute_lifecycle_pages_keypairs_and_sick_region(
        cli: Cli, cascade: CascadeProcess, tmp_path: Path) -> None:
    key_file = tmp_path / "k.pub"
    key_file.write_text(PUBLIC_KEY + "\n")
    cli("cascade-demo", "keypair", "create", "--public-key", str(key_file), "e2e-key")
    fingerprint = cli.json("cascade-demo", "keypair", "show", "e2e-key")["fingerprint"]
    ids: dict[str, str] = {}
    for zone in ("RegionOne", "RegionTwo"):
        server = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano",
                          "--image", IMAGE, "--nic", "none", "--key-name", "e2e-key",
                          "--availability-zone", zone, "--wait", f"c-{zone}")
        assert server["status"] == "ACTIVE" and server["key_name"] == "e2e-key"
        ids[zone] = server["id"]
        regional = cli.json("regions-demo", "keypair", "show", "e2e-key", region=zone)
        assert regional["fingerprint"] == fingerprint

    # Pages of one, following the markers across both regions.
    seen: list[str] = []
    marker: list[str] = []
    for _ in range(10):
        page = cli.json("cascade-demo", "server", "list", "--limit", "1", *marker)
        if not page:
            break
        assert len(page) == 1
        seen.append(page[0]["ID"])
        marker = ["--marker", page[0]["ID"]]
    assert sorted(seen) == sorted(ids.values())

    one, two = ids["RegionOne"], ids["RegionTwo"]
    cli("cascade-demo", "server", "reboot", "--wait", one)
    assert _status(cli, one) == "ACTIVE"
    cli("cascade-demo", "server", "stop", one)
    _wait("SHUTOFF", lambda: _status(cli, one) == "SHUTOFF")
    cli("cascade-demo", "server", "start", one)
    _wait("ACTIVE", lambda: _status(cli, one) == "ACTIVE")
    err = cli("cascade-demo", "server", "start", one, check=False)
    assert err.returncode != 0 and "409" in err.stderr and one in err.stderr
    cli("cascade-demo", "server", "resize", "--flavor", "m1.micro", "--wait", two)
    assert _status(cli, two) == "VERIFY_RESIZE"
    cli("cascade-demo", "server", "resize", "confirm", two)
    _wait("resize confirmed", lambda: _status(cli, two) == "ACTIVE")
    flavor = cli.json("cascade-demo", "server", "show", two)["flavor"]
    assert "m1.micro" in json.dumps(flavor)

    # RegionTwo's nova-api goes away.
    token = _token()
    _stop_nova_api("r2")
    try:
        started = time.monotonic()
        status, headers, body = _get(cascade, "/compute/v2.1/servers/detail", token)
        assert status == 200 and headers["X-Cascade-Partial"] == "RegionTwo"
        by_id = {s["id"]: s["status"] for s in body["servers"]}
        assert by_id[one] == "ACTIVE" and by_id[two] == "UNKNOWN"
        status, _, body = _get(cascade, f"/compute/v2.1/servers/{two}", token)
        assert status == 200 and body["server"]["status"] == "UNKNOWN"
        assert time.monotonic() - started < 10
        shown = cli.json("cascade-demo", "server", "show", two)
        assert shown["status"] == "UNKNOWN"
        made = cli("cascade-demo", "server", "create", "--flavor", "m1.nano", "--image",
                   IMAGE, "--nic", "none", "--availability-zone", "RegionTwo", "c-x",
                   check=False)
        assert made.returncode != 0 and "503" in made.stderr and "RegionTwo" in made.stderr
        elsewhere = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano",
                             "--image", IMAGE, "--nic", "none", "--wait", "c-elsewhere")
        assert elsewhere["OS-EXT-AZ:availability_zone"] == "RegionOne"
        ids["elsewhere"] = elsewhere["id"]
    finally:
        subprocess.run([str(ROOT / "devstack" / "lite" / "regions"), "up"], check=True,
                       capture_output=True)

    # Back without restarting Cascade.
    def recovered() -> bool:
        status, headers, _ = _get(cascade, "/compute/v2.1/servers/detail", token)
        return status == 200 and "X-Cascade-Partial" not in headers
    _wait("RegionTwo to be back", recovered, timeout=90)
    assert _status(cli, two) == "ACTIVE"

    for server in ids.values():
        cli("cascade-demo", "server", "delete", "--wait", server)
    cli("cascade-demo", "keypair", "delete", "e2e-key")
    assert cli.json("cascade-demo", "server", "list") == []
