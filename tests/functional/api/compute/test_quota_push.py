"""The quota sweep and the optional regional push through a running Cascade (fake
regions; SQLite and PostgreSQL): with push_to_regions a quota change reaches every region
at once with Cascade's own token; the sweep releases expired reservations, recounts
drifted usage and pushes again; without push_to_regions regions are never touched."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from cascade.appkeys import QUOTAS, SESSIONS
from cascade.quota import ledger
from cascade.sync.quota_sweep import sweep
from tests.fakes.neutron import SERVICE_TOKEN
from tests.fakes.region import FakeRegion
from tests.functional.gateway import ADMIN, DEMO, gateway_app, gateway_conf

Q = "/compute/v2.1/os-quota-sets"


class NovaQuotas:
    """Nova's os-quota-sets for a fake region: limits set by PUT, usage given."""

    def __init__(self) -> None:
        self.in_use: dict[str, int] = {}
        self.puts: list[tuple[str, dict[str, Any], str | None]] = []

    def add_to(self, app: web.Application) -> None:
        async def detail(request: web.Request) -> web.Response:
            return web.json_response({"quota_set": {
                n: {"in_use": self.in_use.get(n, 0), "limit": 10, "reserved": 0}
                for n in ("instances", "cores", "ram")}})

        async def put(request: web.Request) -> web.Response:
            body = await request.json()
            self.puts.append((request.match_info["p"], body["quota_set"],
                              request.headers.get("X-Auth-Token")))
            return web.json_response(body)

        app.router.add_get("/compute/v2.1/os-quota-sets/{p}/detail", detail)
        app.router.add_put("/compute/v2.1/os-quota-sets/{p}", put)


async def _start(aiohttp_server: Any, aiohttp_client: Any, db_url: str, tmp_path: Path,
                 push: bool) -> tuple[TestClient, dict[str, NovaQuotas]]:
    nova = {"RegionOne": NovaQuotas(), "RegionTwo": NovaQuotas()}
    bases = {}
    for name, quotas in nova.items():
        fake = FakeRegion(name)
        app = fake.app()
        quotas.add_to(app)
        fake.base = bases[name] = str((await aiohttp_server(app)).make_url("")).rstrip("/")
    extra = f"[quota]\npush_to_regions = {push}\nreservation_expire = 60\n"
    conf = gateway_conf(tmp_path, db_url, bases, extra=extra)
    return await aiohttp_client(gateway_app(conf)), nova


async def test_quota_changes_reach_every_region_with_cascades_token(
        aiohttp_server: Any, aiohttp_client: Any, migrated_db: str, tmp_path: Path) -> None:
    client, nova = await _start(aiohttp_server, aiohttp_client, migrated_db, tmp_path, True)
    nova["RegionTwo"].in_use = {"instances": 2}  # made there directly
    resp = await client.put(f"{Q}/demo", headers=ADMIN,
                            json={"quota_set": {"instances": 5, "cores": -1}})
    assert resp.status == 200
    (one,) = nova["RegionOne"].puts
    (two,) = nova["RegionTwo"].puts
    assert one[0] == "demo" and one[2] == SERVICE_TOKEN
    # 2 used globally (all in RegionTwo), 3 left: each region gets 3 + its own usage.
    assert (one[1]["instances"], two[1]["instances"]) == (3, 5)
    assert one[1]["cores"] == -1 and one[1]["force"] is True
    resp = await client.delete(f"{Q}/demo", headers=ADMIN)
    assert resp.status == 202
    assert nova["RegionOne"].puts[-1][1]["instances"] == 8, "back to the default 10, 2 used"


async def test_sweep_expires_recounts_and_pushes(
        aiohttp_server: Any, aiohttp_client: Any, migrated_db: str, tmp_path: Path) -> None:
    client, nova = await _start(aiohttp_server, aiohttp_client, migrated_db, tmp_path, True)
    app = client.server.app
    sessions, quotas = app[SESSIONS], app[QUOTAS]
    assert (await client.post("/compute/v2.1/os-keypairs", headers=DEMO, json={
        "keypair": {"name": "k", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBw9d"
                                               "GY4m6Yw0Jm3sY9Zc1lqvGkXq0cH3cVd3y2mD8lP x"}}
    )).status == 200  # microversion 2.1

    async with sessions.begin() as s:
        await ledger.reserve(s, "demo", {"instances": 1}, ttl=0.01, defaults=quotas.defaults)
        await ledger.charge(s, "demo", {"cores": 4}, defaults=quotas.defaults)  # drift
    await asyncio.sleep(0.05)
    result = await sweep(sessions, quotas)
    assert result.released == 1 and result.projects == 1
    assert [(c.resource, c.field, c.old, c.new) for c in result.corrections] == [
        ("cores", "in_use", 4, 0)]
    async with sessions() as s:
        assert (await ledger.usage(s, "demo"))["key_pairs"] == (1, 0), "keypairs are real"
    assert [p[1]["instances"] for p in nova["RegionOne"].puts] == [10]


async def test_regions_are_left_alone_by_default(
        aiohttp_server: Any, aiohttp_client: Any, migrated_db: str, tmp_path: Path) -> None:
    client, nova = await _start(aiohttp_server, aiohttp_client, migrated_db, tmp_path, False)
    resp = await client.put(f"{Q}/demo", headers=ADMIN, json={"quota_set": {"instances": 5}})
    assert resp.status == 200
    await sweep(client.server.app[SESSIONS], client.server.app[QUOTAS])
    assert nova["RegionOne"].puts == [] and nova["RegionTwo"].puts == []
