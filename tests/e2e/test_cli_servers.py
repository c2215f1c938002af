"""The unmodified openstack CLI through Cascade, against the two real regions."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import asyncpg
import pytest

from tests.e2e.conftest import CascadeProcess, Cli

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.6.2-x86_64-disk"


def _placement(cascade: CascadeProcess, global_id: str) -> Any:
    async def go() -> Any:
        dsn = cascade.db_url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchrow(
                "SELECT region, local_id, state FROM placements WHERE global_id = $1",
                global_id)
        finally:
            await conn.close()
    return asyncio.run(go())


def _regional_server(cli: Cli, region: str, local_id: str) -> Any:
    proc = cli("regions-demo", "server", "show", local_id, "-f", "json", region=region,
               check=False)
    if proc.returncode != 0:
        assert "No Server found" in proc.stderr or "404" in proc.stderr, proc.stderr
        return None
    return json.loads(proc.stdout)


def test_version_documents_and_401_through_real_keystonemiddleware(
        cascade: CascadeProcess) -> None:
    with urllib.request.urlopen(cascade.url + "/compute/v2.1/") as resp:
        doc = json.loads(resp.read())["version"]
    assert doc["min_version"] == "2.1" and doc["version"] == "2.104"
    assert doc["links"][0]["href"] == cascade.url + "/compute/v2.1/"
    req = urllib.request.Request(cascade.url + "/compute/v2.1/servers",
                                 headers={"X-Auth-Token": "not-a-token"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 401
    assert err.value.headers["WWW-Authenticate"] == 'Keystone uri="http://127.0.0.1:25000/v3"'
    assert err.value.headers["x-compute-request-id"].startswith("req-")


def test_boot_in_each_region_list_show_delete(cli: Cli, cascade: CascadeProcess) -> None:
    flavors = {f["Name"] for f in cli.json("cascade-demo", "flavor", "list")}
    assert {"m1.tiny", "m1.nano"} <= flavors
    created: dict[str, dict[str, Any]] = {}
    for zone in ("RegionOne", "RegionTwo"):
        server = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano",
                          "--image", IMAGE, "--nic", "none", "--availability-zone", zone,
                          "--wait", f"e2e-{zone}")
        assert server["status"] == "ACTIVE"
        assert server["OS-EXT-AZ:availability_zone"] == zone
        created[zone] = server

    listed = {s["ID"]: s for s in cli.json("cascade-demo", "server", "list")}
    for zone, server in created.items():
        gid = server["id"]
        assert gid in listed and listed[gid]["Status"] == "ACTIVE"
        shown = cli.json("cascade-demo", "server", "show", gid)
        assert shown["id"] == gid and shown["name"] == f"e2e-{zone}"
        assert "cascade_global_id" not in str(shown.get("properties"))
        region, local_id, state = _placement(cascade, gid)
        assert (region, state) == (zone, "active") and local_id != gid
        regional = _regional_server(cli, zone, local_id)
        assert regional is not None
        assert regional["properties"]["cascade_global_id"] == gid
        assert regional["OS-EXT-AZ:availability_zone"] == "nova"

    # Another project sees none of it.
    alt = cli("cascade-alt", "server", "show", created["RegionOne"]["id"], check=False)
    assert alt.returncode != 0
    assert created["RegionOne"]["id"] not in cli("cascade-alt", "server", "list").stdout

    for zone, server in created.items():
        local_id = _placement(cascade, server["id"])["local_id"]
        cli("cascade-demo", "server", "delete", "--wait", server["id"])
        assert _regional_server(cli, zone, local_id) is None
        deadline = time.monotonic() + 30
        while _placement(cascade, server["id"]) is not None:
            assert time.monotonic() < deadline, "mapping not removed after delete"
            time.sleep(0.5)


def test_bad_input_gets_nova_400(cli: Cli) -> None:
    proc = cli("cascade-demo", "server", "create", "--flavor", "m1.nano", "--image", IMAGE,
               "--nic", "none", "--availability-zone", "Atlantis", "vm-x", check=False)
    assert proc.returncode != 0
    assert "availability zone" in proc.stderr and "400" in proc.stderr
