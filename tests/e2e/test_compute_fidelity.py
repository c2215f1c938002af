"""The same requests to real Nova (RegionOne) and through Cascade get the same answers:
version documents, keypair statuses and bodies per microversion, and the server
create schema's 400s."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import CascadeProcess, Cli, http

pytestmark = pytest.mark.e2e

PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBw9dGY4m6Yw0Jm3sY9Zc1lqvGkXq0cH3cVd"
              "3y2mD8lP demo@example")


@pytest.fixture(scope="module")
def nova(cli: Cli) -> tuple[str, str]:
    """A demo token and RegionOne's own compute root (without /v2.1)."""
    token = cli.json("regions-demo", "token", "issue")["id"]
    endpoints = cli.json("regions-admin", "endpoint", "list", "--service", "compute",
                         "--interface", "public", "--region", "RegionOne")
    return token, endpoints[0]["URL"].rstrip("/").removesuffix("/v2.1")


def test_version_list_names_v2_0_deprecated_first(cascade: CascadeProcess,
                                                  nova: tuple[str, str]) -> None:
    _, root = nova
    _, direct = http("GET", root + "/", None)
    _, through = http("GET", cascade.url + "/compute/", None)
    assert [(v["id"], v["status"]) for v in through["versions"]] == \
        [(v["id"], v["status"]) for v in direct["versions"]]
    assert through["versions"][0]["links"][0]["href"] == cascade.url + "/compute/v2/"
    status, doc = http("GET", cascade.url + "/compute/v2/", None)
    assert status == 200 and doc["version"]["id"] == "v2.0"


@pytest.mark.parametrize("version", ["2.1", "2.2", "2.10", "2.92"])
def test_keypair_create_show_delete_match_nova(cascade: CascadeProcess, nova: tuple[str, str],
                                               version: str) -> None:
    token, root = nova
    bases = {"nova": root + "/v2.1", "cascade": cascade.url + "/compute/v2.1"}
    name = f"fid{uuid.uuid4().hex[:8]}"
    seen: dict[str, list[Any]] = {}
    for who, base in bases.items():
        made = http("POST", base + "/os-keypairs", token,
                    {"keypair": {"name": name, "public_key": PUBLIC_KEY}},
                    compute_version=version)
        shown = http("GET", f"{base}/os-keypairs/{name}", token, compute_version=version)
        gone = http("DELETE", f"{base}/os-keypairs/{name}", token, compute_version=version)
        seen[who] = [made[0], sorted(made[1]["keypair"]), shown[0],
                     sorted(shown[1]["keypair"]), gone[0]]
    assert seen["cascade"] == seen["nova"]


@pytest.mark.parametrize(("version", "keypair"), [
    ("2.1", {"name": "x", "type": "ssh"}),
    ("2.2", {"name": "x", "user_id": "u", "public_key": PUBLIC_KEY}),
    ("2.1", {"name": "a.b"}),
    ("2.92", {"name": "a.b!", "public_key": PUBLIC_KEY}),
    ("2.92", {"name": "gen"}),
])
def test_keypair_schema_errors_match_nova(cascade: CascadeProcess, nova: tuple[str, str],
                                          version: str, keypair: dict[str, Any]) -> None:
    token, root = nova
    direct = http("POST", root + "/v2.1/os-keypairs", token, {"keypair": keypair},
                  compute_version=version)
    through = http("POST", cascade.url + "/compute/v2.1/os-keypairs", token,
                   {"keypair": keypair}, compute_version=version)
    assert through == direct


@pytest.mark.parametrize("count", ['"2.5"', "2.5", "0", '"abc"'])
def test_server_create_counts_get_novas_400(cascade: CascadeProcess, nova: tuple[str, str],
                                            count: str) -> None:
    token, root = nova
    body = {"server": {"name": "x", "imageRef": str(uuid.uuid4()), "flavorRef": "1",
                       "networks": "none", "min_count": json.loads(count)}}
    direct = http("POST", root + "/v2.1/servers", token, compute_version="2.37", body=body)
    through = http("POST", cascade.url + "/compute/v2.1/servers", token,
                   compute_version="2.37", body=body)
    assert through == direct


def test_image_proxy_views_match_nova(cascade: CascadeProcess, nova: tuple[str, str]) -> None:
    token, root = nova
    bases = {"nova": root + "/v2.1", "cascade": cascade.url + "/compute/v2.1"}
    seen = {}
    for who, base in bases.items():
        status, body = http("GET", base + "/images/detail", token, compute_version="2.35")
        assert status == 200, (who, body)
        active = [i for i in body["images"] if i["status"] == "ACTIVE"]
        assert active, who
        first = active[0]
        shown = http("GET", f"{base}/images/{first['id']}", token, compute_version="2.35")
        gone = http("GET", f"{base}/images/{first['id']}", token, compute_version="2.36")
        seen[who] = (sorted(first), sorted(shown[1]["image"]), [link["rel"] for link in
                                                                 first["links"]], gone[0])
    assert seen["cascade"] == seen["nova"]


def test_extension_list_and_show_answer_as_nova(cascade: CascadeProcess,
                                                nova: tuple[str, str]) -> None:
    token, root = nova
    _, direct = http("GET", root + "/v2.1/extensions", token)
    status, through = http("GET", cascade.url + "/compute/v2.1/extensions", token)
    assert status == 200 and through == direct and direct["extensions"]
    alias = direct["extensions"][0]["alias"]
    assert http("GET", f"{cascade.url}/compute/v2.1/extensions/{alias}", token) == \
        http("GET", f"{root}/v2.1/extensions/{alias}", token)
    missing = http("GET", f"{cascade.url}/compute/v2.1/extensions/no-such-thing", token)
    assert missing[0] == http("GET", f"{root}/v2.1/extensions/no-such-thing", token)[0] == 404
