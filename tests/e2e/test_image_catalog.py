"""Glance's catalog pieces through Cascade against real Glance: metadefs namespaces made
through Cascade live in the home region's Glance under Glance's own rules (only
admins create them; a private one is its project's); the tasks API answers as
Glance's policy does (403 for a member)."""
from __future__ import annotations

import secrets

import pytest

from tests.e2e.conftest import CascadeProcess, Cli, http

pytestmark = pytest.mark.e2e


def test_metadefs_through_cascade_are_the_home_regions(cli: Cli,
                                                       cascade: CascadeProcess) -> None:
    token = cli.json("regions-admin", "token", "issue")["id"]
    demo = cli.json("regions-demo", "token", "issue")["id"]
    endpoints = cli.json("regions-admin", "endpoint", "list", "--service", "image",
                         "--interface", "public", "--region", "RegionOne")
    glance = endpoints[0]["URL"].rstrip("/")
    name = f"OS::E2E::{secrets.token_hex(3)}"
    base = cascade.url + "/image/v2/metadefs/namespaces"
    assert http("POST", base, demo, {"namespace": name})[0] == 403, "admins only, as Glance"
    status, made = http("POST", base, token, {"namespace": name, "visibility": "private"})
    assert status == 201, made
    try:
        status, direct = http("GET", f"{glance}/v2/metadefs/namespaces/{name}", token)
        assert status == 200 and direct["namespace"] == name
        status, listed = http("GET", base, token)
        assert name in {n["namespace"] for n in listed["namespaces"]}
        assert http("GET", f"{base}/{name}", demo)[0] == 404
        status, schema = http("GET", cascade.url + "/image/v2/schemas/metadefs/namespace",
                               token)
        assert status == 200 and schema["name"] == "namespace"
    finally:
        assert http("DELETE", f"{base}/{name}", token)[0] == 204
    assert http("GET", f"{glance}/v2/metadefs/namespaces/{name}", token)[0] == 404


def test_tasks_answer_a_member_as_glance_does(cli: Cli, cascade: CascadeProcess) -> None:
    token = cli.json("regions-demo", "token", "issue")["id"]
    endpoints = cli.json("regions-admin", "endpoint", "list", "--service", "image",
                         "--interface", "public", "--region", "RegionOne")
    glance = endpoints[0]["URL"].rstrip("/")
    assert http("GET", cascade.url + "/image/v2/tasks", token)[0] == \
        http("GET", glance + "/v2/tasks", token)[0] == 403
