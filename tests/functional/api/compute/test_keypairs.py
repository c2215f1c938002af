"""Keypairs answer as Nova does per microversion: statuses, bodies and schema errors
(fake regions; SQLite and PostgreSQL). tests/e2e/test_compute_fidelity.py holds
the same requests side by side with real Nova."""
from __future__ import annotations

import pytest

from cascade import errors
from cascade.compute.keypair_ops import _check_create
from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import DEMO

PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBw9dGY4m6Yw0Jm3sY9Zc1lqvGkXq0cH3cVd"
              "3y2mD8lP demo@example")
KP = "/compute/v2.1/os-keypairs"


def _at(version: str) -> dict[str, str]:
    return {**DEMO, "OpenStack-API-Version": f"compute {version}"}


async def test_create_and_delete_statuses_and_bodies_follow_the_microversion(
        gw: Gateway) -> None:
    for version, created, deleted, typed in (("2.1", 200, 202, False),
                                             ("2.2", 201, 204, True),
                                             ("2.10", 201, 204, True)):
        name = "k" + version.replace(".", "x")
        resp = await gw.client.post(KP, headers=_at(version), json={
            "keypair": {"name": name, "public_key": PUBLIC_KEY}})
        assert resp.status == created, (version, await resp.text())
        body = (await resp.json())["keypair"]
        want = {"name", "public_key", "fingerprint", "user_id"} | ({"type"} if typed else set())
        assert set(body) == want, version
        shown = (await (await gw.client.get(f"{KP}/{name}", headers=_at(version))).json())[
            "keypair"]
        assert ("type" in shown) is typed
        assert {"created_at", "deleted", "deleted_at", "id", "updated_at"} <= set(shown)
        listed = (await (await gw.client.get(KP, headers=_at(version))).json())["keypairs"]
        assert all(("type" in k["keypair"]) is typed for k in listed)
        resp = await gw.client.delete(f"{KP}/{name}", headers=_at(version))
        assert resp.status == deleted, version


async def test_create_schema_per_microversion_in_novas_words(gw: Gateway) -> None:
    cases = [
        ("2.1", {"name": "x", "type": "ssh"}, "Additional properties are not allowed "
                                               "('type' was unexpected)"),
        ("2.2", {"name": "x", "user_id": "u"}, "('user_id' was unexpected)"),
        ("2.1", {"name": "a.b"}, "'a.b' does not match '^[_\\\\- a-zA-Z0-9]+$'"),
        ("2.1", {"public_key": PUBLIC_KEY}, "'name' is a required property"),
    ]
    for version, keypair, message in cases:
        resp = await gw.client.post(KP, headers=_at(version), json={"keypair": keypair})
        assert resp.status == 400, (version, keypair)
        text = (await resp.json())["badRequest"]["message"]
        assert message in text, (version, text)


def test_from_2_92_names_take_at_and_dot_and_a_public_key_is_required() -> None:
    # These fake regions stop at 2.90; the e2e twin asks real Nova at 2.92.
    with pytest.raises(errors.BadRequest, match="does not match"):
        _check_create({"name": "a.b!", "public_key": PUBLIC_KEY}, "2.92")
    with pytest.raises(errors.BadRequest, match="'public_key' is a required property"):
        _check_create({"name": "gen"}, "2.92")
    _check_create({"name": "a.b@c", "public_key": PUBLIC_KEY}, "2.92")
    with pytest.raises(errors.BadRequest, match="does not match"):
        _check_create({"name": "a.b@c", "public_key": PUBLIC_KEY}, "2.91")


async def test_keys_nova_cannot_parse_are_refused(gw: Gateway) -> None:
    for key in ("ssh-rsa JUNK nova@ubuntu", "ssh-rsa " + "A" * 2048 + " openstack@ubuntu"):
        resp = await gw.client.post(KP, headers=DEMO, json={
            "keypair": {"name": "bad", "public_key": key}})
        assert resp.status == 400, key[:20]
        assert "failed to generate fingerprint" in await resp.text()
