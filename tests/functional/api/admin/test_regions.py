"""/v1/regions: admin role only; add, update, enable/disable, remove; and cascade-manage."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cascade.cmd import manage
from tests.fakes.region import FakeRegion
from tests.functional.gateway import ADMIN, DEMO, gateway_app, gateway_conf


async def _gateway(aiohttp_server: Any, aiohttp_client: Any, db: str, tmp_path: Path) -> Any:
    fake = FakeRegion("RegionOne")
    srv = await aiohttp_server(fake.app())
    fake.base = str(srv.make_url("")).rstrip("/")
    conf = gateway_conf(tmp_path, db, {"RegionOne": fake.base})
    return await aiohttp_client(gateway_app(conf)), fake, tmp_path / "cascade.conf"


async def test_admin_api_needs_admin_role(aiohttp_server: Any, aiohttp_client: Any,
                                          migrated_db: str, tmp_path: Path) -> None:
    client, _, _ = await _gateway(aiohttp_server, aiohttp_client, migrated_db, tmp_path)
    resp = await client.get("/v1/regions", headers=DEMO)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == 403
    assert (await client.get("/v1/regions")).status == 401


async def test_regions_from_config_are_listed_with_capabilities(
        aiohttp_server: Any, aiohttp_client: Any, migrated_db: str, tmp_path: Path) -> None:
    client, _, _ = await _gateway(aiohttp_server, aiohttp_client, migrated_db, tmp_path)
    regions = (await (await client.get("/v1/regions", headers=ADMIN)).json())["regions"]
    (one,) = regions
    assert one["name"] == "RegionOne" and one["availability_zone"] == "RegionOne"
    assert one["local_availability_zone"] is None
    assert one["source"] == "config" and one["health"] == "up"
    assert one["capabilities"]["compute"] == {"min_version": "2.1", "max_version": "2.100"}


async def test_add_update_and_remove_a_region(aiohttp_server: Any, aiohttp_client: Any,
                                              migrated_db: str, tmp_path: Path) -> None:
    client, fake, _ = await _gateway(aiohttp_server, aiohttp_client, migrated_db, tmp_path)
    body = {"region": {"name": "RegionTwo", "availability_zone": "east",
                       "local_availability_zone": "nova",
                       "compute_endpoint": f"{fake.base}/compute/v2.1"}}
    resp = await client.post("/v1/regions", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    region = (await resp.json())["region"]
    assert region["health"] == "up" and region["availability_zone"] == "east"
    assert (await client.post("/v1/regions", json=body, headers=ADMIN)).status == 409
    clash = {"region": {"name": "RegionThree", "availability_zone": "east"}}
    assert (await client.post("/v1/regions", json=clash, headers=ADMIN)).status == 409
    bad = {"region": {"name": "R4", "weight": "heavy"}}
    assert (await client.post("/v1/regions", json=bad, headers=ADMIN)).status == 400
    resp = await client.patch("/v1/regions/RegionTwo", json={"region": {"enabled": False}},
                              headers=ADMIN)
    assert (await resp.json())["region"]["enabled"] is False
    # A disabled region's zone refuses new servers explicitly.
    resp = await client.post("/compute/v2.1/servers", headers=DEMO, json={"server": {
        "name": "vm", "flavorRef": "1", "availability_zone": "east"}})
    assert resp.status == 503
    assert (await client.delete("/v1/regions/RegionTwo", headers=ADMIN)).status == 204
    assert (await client.get("/v1/regions/RegionTwo", headers=ADMIN)).status == 404


async def test_manage_region_commands_and_exit_codes(
        aiohttp_server: Any, aiohttp_client: Any, migrated_db: str, tmp_path: Path,
        capsys: Any) -> None:
    _, fake, conf_file = await _gateway(aiohttp_server, aiohttp_client, migrated_db, tmp_path)
    import asyncio
    run = lambda *a: asyncio.to_thread(manage.main, ["--config-file", str(conf_file), *a])  # noqa: E731
    assert await run("region", "list", "-f", "json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed] == ["RegionOne"]
    assert await run("region", "add", "RegionX", "--availability-zone", "x",
                     "--compute-endpoint", f"{fake.base}/compute/v2.1") == 0
    assert await run("region", "add", "RegionY", "--availability-zone", "x") == 3
    assert await run("region", "disable", "RegionX", "-f", "json") == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.rindex("\n{") + 1:])["enabled"] is False
    assert await run("region", "show", "Nope") == 2
    assert await run("region", "probe", "RegionX") == 0
    assert await run("bogus") == 127
