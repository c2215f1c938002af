"""os-quota-sets and /limits through Cascade (fake regions; SQLite and PostgreSQL):
Nova's fields per microversion, who may read and change what, validation, usage from
the ledger (keypairs charge and give back key_pairs), and over-quota in Nova's format."""
from __future__ import annotations

from typing import Any

import pytest

from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import ADMIN, ALT, DEMO

Q = "/compute/v2.1/os-quota-sets"
PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBw9dGY4m6Yw0Jm3sY9Zc1lqvGkXq0cH3cVd"
              "3y2mD8lP demo@example")

BASE = {"instances": 10, "cores": 20, "ram": 51200, "key_pairs": 100, "server_groups": 10,
        "server_group_members": 10, "metadata_items": 128}
PERSONALITY = {"injected_files": 5, "injected_file_content_bytes": 10240,
               "injected_file_path_bytes": 255}
NETWORK_PROXIES = {"fixed_ips": -1, "floating_ips": 10, "security_groups": 10,
                   "security_group_rules": 20}


def _mv(version: str, headers: dict[str, str] = DEMO) -> dict[str, str]:
    return {**headers, "OpenStack-API-Version": f"compute {version}"}


async def _get(gw: Gateway, path: str, headers: dict[str, str] = DEMO,
               status: int = 200) -> Any:
    resp = await gw.client.get(path, headers=headers)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def _put(gw: Gateway, project: str, body: Any, headers: dict[str, str] = ADMIN,
               status: int = 200, query: str = "") -> Any:
    resp = await gw.client.put(f"{Q}/{project}{query}", json=body, headers=headers)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def _keypair(gw: Gateway, name: str, headers: dict[str, str] = DEMO) -> Any:
    headers = {**headers, "OpenStack-API-Version": "compute 2.2"}  # 201 for a create
    return await gw.client.post("/compute/v2.1/os-keypairs", headers=headers, json={
        "keypair": {"name": name, "public_key": PUBLIC_KEY}})


@pytest.mark.parametrize(("version", "expected"), [
    ("2.1", {**BASE, **PERSONALITY, **NETWORK_PROXIES}),
    ("2.36", {**BASE, **PERSONALITY}),
    ("2.57", BASE),
])
async def test_show_answers_novas_fields_for_the_microversion(
        gw: Gateway, version: str, expected: dict[str, int]) -> None:
    body = await _get(gw, f"{Q}/demo", _mv(version))
    assert body == {"quota_set": {"id": "demo", **expected}}
    assert await _get(gw, f"{Q}/demo/defaults", _mv(version, ALT)) == body, (
        "defaults are the same for everyone, and anyone may read them")


async def test_reading_another_projects_quotas_needs_admin(gw: Gateway) -> None:
    for path in (f"{Q}/demo", f"{Q}/demo/detail"):
        body = await _get(gw, path, ALT, status=403)
        assert body["forbidden"]["code"] == 403
        assert "os_compute_api:os-quota-sets" in body["forbidden"]["message"]
        assert (await _get(gw, path, ADMIN))["quota_set"]["id"] == "demo"
    assert (await _get(gw, f"{Q}/demo?user_id=u1"))["quota_set"]["instances"] == 10


async def test_admin_updates_and_deletes_limits(gw: Gateway) -> None:
    body = await _put(gw, "demo", {"quota_set": {"instances": 3, "cores": "8", "ram": -1}},
                      headers=_mv("2.57", ADMIN))
    assert body == {"quota_set": {**BASE, "instances": 3, "cores": 8, "ram": -1}}, (
        "the answer has every limit and no id, as Nova's")
    shown = (await _get(gw, f"{Q}/demo"))["quota_set"]
    assert (shown["instances"], shown["cores"], shown["ram"]) == (3, 8, -1)
    assert (await _get(gw, f"{Q}/alt", ALT))["quota_set"]["instances"] == 10
    resp = await gw.client.delete(f"{Q}/demo", headers=ADMIN)
    assert resp.status == 202
    assert (await _get(gw, f"{Q}/demo"))["quota_set"]["instances"] == 10


async def test_only_admins_change_quotas(gw: Gateway) -> None:
    body = await _put(gw, "demo", {"quota_set": {"instances": 100}}, headers=DEMO,
                      status=403)
    assert body == {"forbidden": {"code": 403, "message": "Policy doesn't allow "
                                  "os_compute_api:os-quota-sets:update to be performed."}}
    resp = await gw.client.delete(f"{Q}/demo", headers=DEMO)
    assert resp.status == 403 and "forbidden" in await resp.json()
    assert (await _get(gw, f"{Q}/demo"))["quota_set"]["instances"] == 10


@pytest.mark.parametrize(("version", "body"), [
    ("2.1", {"quota_set": {"instances": -2}}),
    ("2.1", {"quota_set": {"instances": "ten"}}),
    ("2.1", {"quota_set": {"instances": True}}),
    ("2.1", {"quota_set": {"instances": 1.5}}),
    ("2.1", {"quota_set": {"instances": 2 ** 31}}),
    ("2.1", {"quota_set": {"bogus": 1}}),
    ("2.1", {"quota_set": {"network": 1}}),
    ("2.1", {"quota_set": {"instances": 1, "force": "maybe"}}),
    ("2.1", {"quota_set": {"instances": 1}, "extra": 1}),
    ("2.1", {"instances": 1}),
    ("2.1", []),
    ("2.36", {"quota_set": {"floating_ips": 1}}),
    ("2.57", {"quota_set": {"injected_files": 1}}),
])
async def test_bad_updates_are_400_and_change_nothing(gw: Gateway, version: str,
                                                      body: Any) -> None:
    answer = await _put(gw, "demo", body, headers=_mv(version, ADMIN), status=400)
    assert answer["badRequest"]["code"] == 400 and answer["badRequest"]["message"]
    assert (await _get(gw, f"{Q}/demo"))["quota_set"]["instances"] == 10


async def test_per_user_quotas_are_refused_on_writes(gw: Gateway) -> None:
    body = await _put(gw, "demo", {"quota_set": {"instances": 1}}, query="?user_id=u1",
                      status=400)
    assert "per project" in body["badRequest"]["message"]


async def test_keypairs_count_against_key_pairs(gw: Gateway) -> None:
    for name in ("k1", "k2"):
        assert (await _keypair(gw, name)).status == 201
    assert (await _keypair(gw, "k1")).status == 409, "a duplicate charges nothing"
    detail = (await _get(gw, f"{Q}/demo/detail", _mv("2.57")))["quota_set"]
    assert detail["key_pairs"] == {"limit": 100, "in_use": 2, "reserved": 0}
    assert detail["instances"] == {"limit": 10, "in_use": 0, "reserved": 0}
    assert set(detail) == {"id", *BASE}

    body = await _put(gw, "demo", {"quota_set": {"key_pairs": 1}}, status=400)
    assert body["badRequest"]["message"] == ("Quota limit 1 for key_pairs must be greater "
                                             "than or equal to already used and reserved 2.")
    await _put(gw, "demo", {"quota_set": {"key_pairs": 2, "force": True}})
    resp = await _keypair(gw, "k3")
    assert resp.status == 403
    assert await resp.json() == {"forbidden": {
        "code": 403, "message": "Quota exceeded, too many key pairs."}}
    assert (await _keypair(gw, "k3", ALT)).status == 201, "other projects are not affected"

    resp = await gw.client.delete("/compute/v2.1/os-keypairs/k1", headers=DEMO)
    assert resp.status == 202
    assert (await _keypair(gw, "k3")).status == 201, "deleting gave one back"
    detail = (await _get(gw, f"{Q}/demo/detail"))["quota_set"]
    assert detail["key_pairs"]["in_use"] == 2


async def test_limits_show_absolute_limits_and_usage(gw: Gateway) -> None:
    await _keypair(gw, "k1")
    await _put(gw, "demo", {"quota_set": {"instances": 4, "metadata_items": 7}})
    old = (await _get(gw, "/compute/v2.1/limits", _mv("2.1")))["limits"]
    assert old["rate"] == []
    assert old["absolute"] == {
        "maxTotalInstances": 4, "maxTotalCores": 20, "maxTotalRAMSize": 51200,
        "maxTotalKeypairs": 100, "maxServerMeta": 7, "maxImageMeta": 7,
        "maxPersonality": 5, "maxPersonalitySize": 10240, "maxServerGroups": 10,
        "maxServerGroupMembers": 10, "maxTotalFloatingIps": 10, "maxSecurityGroups": 10,
        "maxSecurityGroupRules": 20, "totalInstancesUsed": 0, "totalCoresUsed": 0,
        "totalRAMUsed": 0, "totalServerGroupsUsed": 0, "totalFloatingIpsUsed": 0,
        "totalSecurityGroupsUsed": 0}
    new = (await _get(gw, "/compute/v2.1/limits", _mv("2.57")))["limits"]["absolute"]
    assert set(new) == {"maxTotalInstances", "maxTotalCores", "maxTotalRAMSize",
                        "maxTotalKeypairs", "maxServerMeta", "maxServerGroups",
                        "maxServerGroupMembers", "totalInstancesUsed", "totalCoresUsed",
                        "totalRAMUsed", "totalServerGroupsUsed"}
    other = await _get(gw, "/compute/v2.1/limits?tenant_id=demo", ADMIN)
    assert other["limits"]["absolute"]["maxTotalInstances"] == 4
    body = await _get(gw, "/compute/v2.1/limits?tenant_id=demo", ALT, status=403)
    assert body["forbidden"]["code"] == 403
