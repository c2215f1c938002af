"""No path through Cascade to a real region's own API (the reproduced bypasses).

Against a real Nova: a tail that climbs out of a server's sub-resource with
encoded separators, or out of ``/flavors``, is Cascade's 404 in Nova's format
and never the region's own server list; an ordinary tag still round-trips.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.e2e.conftest import CascadeProcess, Cli

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.6.2-x86_64-disk"


def _call(cascade: CascadeProcess, token: str, method: str, path: str) -> tuple[int, Any]:
    req = urllib.request.Request(cascade.url + path, method=method, headers={
        "X-Auth-Token": token, "OpenStack-API-Version": "compute 2.26",
        "Content-Type": "application/json"}, data=b"" if method == "PUT" else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None


def test_traversal_tails_never_reach_the_regions_own_api(cli: Cli,
                                                          cascade: CascadeProcess) -> None:
    server = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano",
                      "--image", IMAGE, "--nic", "none", "--availability-zone",
                      "RegionTwo", "--wait", "e2e-door")
    token = cli.json("cascade-demo", "token", "issue")["id"]
    sid = server["id"]
    try:
        for path in (f"/compute/v2.1/servers/{sid}/tags/..%2F..%2F..%2Fservers",
                     f"/compute/v2.1/servers/{sid}/tags/%2e%2e%2f%2e%2e%2f%2e%2e%2fservers",
                     f"/compute/v2.1/servers/{sid}/metadata/..%2F..%2F{sid}",
                     "/compute/v2.1/flavors/..%2Fservers",
                     "/compute/v2.1/flavors/..%252Fservers"):
            # (Deleting a flavor is for admins: a member is refused before the id
            # is looked at, as by Nova.)
            for method in ("GET",) if "flavors" in path else ("GET", "DELETE"):
                status, body = _call(cascade, token, method, path)
                assert status == 404, (method, path, status, body)
                assert body["itemNotFound"]["code"] == 404, body
                assert "servers" not in body, body
        # A real Nova's 400 (a bad filter) is the caller's 400, not a 503.
        status, body = _call(cascade, token, "GET", "/compute/v2.1/flavors/detail?minRam=abc")
        assert status == 400 and body["badRequest"]["code"] == 400, body
        # What the grammar allows still reaches the real Nova and comes back.
        status, _ = _call(cascade, token, "PUT", f"/compute/v2.1/servers/{sid}/tags/a%20b")
        assert status in (201, 204), status
        status, body = _call(cascade, token, "GET", f"/compute/v2.1/servers/{sid}/tags")
        assert status == 200 and body["tags"] == ["a b"], body
    finally:
        cli("cascade-demo", "server", "delete", "--wait", sid)
