"""oslo.policy through real keystonemiddleware: an operator's policy.yaml grants
a reader read access to /v1/mappings while Cascade runs (no restart), and a token
without a project scope is refused on tenant APIs."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest

from tests.e2e.conftest import CascadeProcess, Cli

pytestmark = pytest.mark.e2e

KEYSTONE = "http://127.0.0.1:25000/v3"


def _token(user: str, password: str, project: str | None) -> str:
    auth: dict[str, object] = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": password, "domain": {"name": "Default"}}}}}
    # Without a scope Keystone would scope to the user's default project:
    # "unscoped" asks for an unscoped token explicitly.
    auth["scope"] = ({"project": {"name": project, "domain": {"name": "Default"}}}
                     if project else "unscoped")
    req = urllib.request.Request(f"{KEYSTONE}/auth/tokens",
                                 data=json.dumps({"auth": auth}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return str(resp.headers["X-Subject-Token"])


def _status(cascade: CascadeProcess, path: str, token: str) -> int:
    req = urllib.request.Request(cascade.url + path, headers={"X-Auth-Token": token})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _until(cascade: CascadeProcess, path: str, token: str, wanted: int) -> int:
    deadline = time.monotonic() + 15
    while True:
        status = _status(cascade, path, token)
        if status == wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


def test_policy_file_grants_a_reader_the_mappings_without_restart(
        cli: Cli, cascade: CascadeProcess) -> None:
    name = f"e2e-reader-{uuid.uuid4().hex[:6]}"
    cli("regions-admin", "user", "create", "--password", "secret", "--project", "demo",
        name)
    policy_file = cascade.conf_file.parent / "policy.yaml"
    try:
        cli("regions-admin", "role", "add", "--project", "demo", "--user", name, "reader")
        token = _token(name, "secret", "demo")
        assert _status(cascade, "/v1/mappings", token) == 403
        policy_file.write_text('"cascade:mappings:list": "rule:admin_api or role:reader"\n')
        assert _until(cascade, "/v1/mappings", token, 200) == 200
        assert _status(cascade, "/v1/regions", token) == 403  # only what was granted
        policy_file.unlink()
        assert _until(cascade, "/v1/mappings", token, 403) == 403
    finally:
        policy_file.unlink(missing_ok=True)
        cli("regions-admin", "user", "delete", name)


def test_an_unscoped_token_is_refused_on_tenant_apis(cascade: CascadeProcess) -> None:
    token = _token("demo", "secret", None)
    for path in ("/compute/v2.1/servers", "/image/v2/images", "/networking/v2.0/networks"):
        assert _status(cascade, path, token) == 403, path
