"""Glance's catalog pieces through Cascade against real Glance: metadefs namespaces made
through Cascade live in the home region's Glance under Glance's own rules (only
admins create them; a private one is its project's); the tasks API answers as
Glance's policy does (403 for a member)."""
from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.e2e.conftest import CascadeProcess, Cli

pytestmark = pytest.mark.e2e


def _call(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, method=method, headers={
        "X-Auth-Token": token, "Content-Type": "application/json"},
        data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
            return int(resp.status), json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return int(err.code), None


def test_metadefs_through_cascade_are_the_home_regions(cli: Cli,
                                                       cascade: CascadeProcess) -> None:
    token = cli.json("regions-admin", "token", "issue")["id"]
    demo = cli.json("regions-demo", "token", "issue")["id"]
    endpoints = cli.json("regions-admin", "endpoint", "list", "--service", "image",
                         "--interface", "public", "--region", "RegionOne")
    glance = endpoints[0]["URL"].rstrip("/")
    name = f"OS::E2E::{secrets.token_hex(3)}"
    base = cascade.url + "/image/v2/metadefs/namespaces"
    assert _call("POST", base, demo, {"namespace": name})[0] == 403, "admins only, as Glance"
    status, made = _call("POST", base, token, {"namespace": name, "visibility": "private"})
    assert status == 201, made
    try:
        status, direct = _call("GET", f"{glance}/v2/metadefs/namespaces/{name}", token)
        assert status == 200 and direct["namespace"] == name
        status, listed = _call("GET", base, token)
        assert name in {n["namespace"] for n in listed["namespaces"]}
        assert _call("GET", f"{base}/{name}", demo)[0] == 404
        status, schema = _call("GET", cascade.url + "/image/v2/schemas/metadefs/namespace",
                               token)
        assert status == 200 and schema["name"] == "namespace"
    finally:
        assert _call("DELETE", f"{base}/{name}", token)[0] == 204
    assert _call("GET", f"{glance}/v2/metadefs/namespaces/{name}", token)[0] == 404


def test_tasks_answer_a_member_as_glance_does(cli: Cli, cascade: CascadeProcess) -> None:
    token = cli.json("regions-demo", "token", "issue")["id"]
    endpoints = cli.json("regions-admin", "endpoint", "list", "--service", "image",
                         "--interface", "public", "--region", "RegionOne")
    glance = endpoints[0]["URL"].rstrip("/")
    assert _call("GET", cascade.url + "/image/v2/tasks", token)[0] == \
        _call("GET", glance + "/v2/tasks", token)[0] == 403
