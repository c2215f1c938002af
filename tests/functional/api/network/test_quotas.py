"""Neutron /v2.0/quotas through Cascade (fake regions; SQLite and PostgreSQL): Neutron's
shapes with and without the .json suffix, who may read and change what, validation, and
over-quota rendered as Neutron's OverQuota."""
from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from tests.fakes.region import FakeRegion
from tests.functional.gateway import ADMIN, ALT, DEMO, gateway_app, gateway_conf

N = "/networking/v2.0/quotas"
DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "security_group": 10,
            "security_group_rule": 100, "router": 10, "floatingip": 50}


@pytest.fixture
async def client(aiohttp_server: Any, aiohttp_client: Any, migrated_db: str,
                 tmp_path: Path) -> AsyncIterator[TestClient]:
    fake = FakeRegion("RegionOne")
    srv = await aiohttp_server(fake.app())
    fake.base = str(srv.make_url("")).rstrip("/")
    app = gateway_app(gateway_conf(tmp_path, migrated_db, {"RegionOne": fake.base}))
    yield await aiohttp_client(app)


async def _call(client: TestClient, method: str, path: str, headers: dict[str, str],
                status: int, body: Any = None) -> Any:
    resp = await client.request(method, path, headers=headers, json=body)
    assert resp.status == status, await resp.text()
    return await resp.json() if resp.status != 204 else None


@pytest.mark.parametrize("suffix", ["", ".json"])
async def test_show_default_and_details_in_neutrons_shape(client: TestClient,
                                                          suffix: str) -> None:
    assert await _call(client, "GET", f"{N}/demo{suffix}", DEMO, 200) == {"quota": DEFAULTS}
    assert await _call(client, "GET", f"{N}/demo/default{suffix}", DEMO, 200) == {
        "quota": DEFAULTS}
    details = await _call(client, "GET", f"{N}/demo/details{suffix}", DEMO, 200)
    assert details == {"quota": {n: {"limit": v, "used": 0, "reserved": 0}
                                 for n, v in DEFAULTS.items()}}


async def test_admin_sets_lists_and_resets_quotas(client: TestClient) -> None:
    body = await _call(client, "PUT", f"{N}/demo", ADMIN, 200,
                       {"quota": {"network": 5, "port": "-1"}})
    assert body == {"quota": {**DEFAULTS, "network": 5, "port": -1}}
    assert (await _call(client, "GET", f"{N}/demo", DEMO, 200))["quota"]["network"] == 5
    listed = await _call(client, "GET", N, ADMIN, 200)
    assert listed == {"quotas": [{**DEFAULTS, "network": 5, "port": -1,
                                  "project_id": "demo", "tenant_id": "demo"}]}
    assert await _call(client, "GET", f"{N}.json", ADMIN, 200) == listed
    await _call(client, "DELETE", f"{N}/demo.json", ADMIN, 204)
    assert await _call(client, "GET", f"{N}/demo", DEMO, 200) == {"quota": DEFAULTS}
    assert await _call(client, "GET", N, ADMIN, 200) == {"quotas": []}


async def test_compute_and_network_limits_are_kept_apart(client: TestClient) -> None:
    await _call(client, "PUT", f"{N}/demo", ADMIN, 200, {"quota": {"network": 5}})
    await _call(client, "PUT", "/compute/v2.1/os-quota-sets/demo", ADMIN, 200,
                {"quota_set": {"instances": 3}})
    assert await _call(client, "GET", N, ADMIN, 200) == {"quotas": [
        {**DEFAULTS, "network": 5, "project_id": "demo", "tenant_id": "demo"}]}
    await _call(client, "DELETE", f"{N}/demo", ADMIN, 204)
    shown = await _call(client, "GET", "/compute/v2.1/os-quota-sets/demo", DEMO, 200)
    assert shown["quota_set"]["instances"] == 3, "Neutron's reset leaves compute alone"
    assert await _call(client, "GET", N, ADMIN, 200) == {"quotas": []}, (
        "a project with compute limits only has default network quotas")


@pytest.mark.parametrize(("method", "path", "headers", "body"), [
    ("GET", N, DEMO, None),
    ("GET", f"{N}/alt", DEMO, None),
    ("GET", f"{N}/alt/details", DEMO, None),
    ("PUT", f"{N}/demo", DEMO, {"quota": {"network": 1000}}),
    ("DELETE", f"{N}/demo", DEMO, None),
])
async def test_foreign_reads_and_all_writes_need_admin(client: TestClient, method: str,
                                                       path: str, headers: dict[str, str],
                                                       body: Any) -> None:
    answer = await _call(client, method, path, headers, 403, body)
    assert answer["NeutronError"]["type"] == "HTTPForbidden"
    assert await _call(client, "GET", f"{N}/alt", ALT, 200) == {"quota": DEFAULTS}


@pytest.mark.parametrize("body", [
    {"quota": {"network": -2}},
    {"quota": {"network": "many"}},
    {"quota": {"network": 1.5}},
    {"quota": {"instances": 1}},
    {"network": 1},
    [],
])
async def test_bad_updates_are_400_in_neutrons_format(client: TestClient, body: Any) -> None:
    answer = await _call(client, "PUT", f"{N}/demo", ADMIN, 400, body)
    assert answer["NeutronError"]["type"] == "HTTPBadRequest"
    assert answer["NeutronError"]["message"]
    assert await _call(client, "GET", f"{N}/demo", DEMO, 200) == {"quota": DEFAULTS}


async def test_over_quota_is_neutrons_409_and_creates_nothing(client: TestClient) -> None:
    await _call(client, "PUT", f"{N}/demo", ADMIN, 200, {"quota": {"network": 1}})
    await _call(client, "POST", "/networking/v2.0/networks", DEMO, 201,
                {"network": {"name": "n1"}})
    body = await _call(client, "POST", "/networking/v2.0/networks", DEMO, 409,
                       {"network": {"name": "n2"}})
    assert body == {"NeutronError": {"type": "OverQuota", "detail": "",
                                     "message": "Quota exceeded for resources: ['network']."}}
    nets = await _call(client, "GET", "/networking/v2.0/networks", DEMO, 200)
    assert [n["name"] for n in nets["networks"]] == ["n1"]
    details = await _call(client, "GET", f"{N}/demo/details", DEMO, 200)
    assert details["quota"]["network"] == {"limit": 1, "used": 1, "reserved": 0}
