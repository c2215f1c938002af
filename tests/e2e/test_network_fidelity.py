"""The same Neutron requests to RegionOne directly and through Cascade get the same
answers: filter validation, unknown markers, security group rule errors; and the
unmodified CLI lists network availability zones through Cascade."""
from __future__ import annotations

import uuid
from typing import Any, Iterator

import pytest

from tests.e2e.conftest import CascadeProcess, Cli, http

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def bases(cli: Cli, cascade: CascadeProcess) -> tuple[str, dict[str, str]]:
    token = cli.json("regions-demo", "token", "issue")["id"]
    endpoints = cli.json("regions-admin", "endpoint", "list", "--service", "network",
                         "--interface", "public", "--region", "RegionOne")
    return token, {"neutron": endpoints[0]["URL"].rstrip("/") + "/v2.0",
                   "cascade": cascade.url + "/networking/v2.0"}


@pytest.fixture(scope="module")
def groups(bases: tuple[str, dict[str, str]]) -> Iterator[dict[str, str]]:
    """One security group of the demo project on each side."""
    token, urls = bases
    made = {}
    for who, base in urls.items():
        _, body = http("POST", base + "/security-groups", token,
                        {"security_group": {"name": f"fid-{uuid.uuid4().hex[:6]}"}})
        made[who] = body["security_group"]["id"]
    yield made
    for who, base in urls.items():
        http("DELETE", f"{base}/security-groups/{made[who]}", token)


@pytest.mark.parametrize("path", [
    "/networks?all_tenants=1", "/networks?bogus=1", "/ports?shared=true",
    "/subnets?shared=true", "/networks?router:external=false&fields=id",
    f"/networks?marker={uuid.uuid4()}&limit=1", f"/ports?marker={uuid.uuid4()}&limit=1",
])
def test_list_queries_answer_as_neutron(bases: tuple[str, dict[str, str]],
                                        path: str) -> None:
    token, urls = bases
    direct = http("GET", urls["neutron"] + path, token)
    through = http("GET", urls["cascade"] + path, token)
    assert through[0] == direct[0], (path, through, direct)
    if direct[0] >= 400:
        assert through[1]["NeutronError"]["type"] == direct[1]["NeutronError"]["type"]
        if "invalid attribute" in direct[1]["NeutronError"]["message"]:
            assert through[1]["NeutronError"]["message"] == \
                direct[1]["NeutronError"]["message"]


@pytest.mark.parametrize("rule", [
    {"protocol": "bogus"},
    {"protocol": "tcp", "port_range_min": -16, "port_range_max": 22},
    {"protocol": "tcp", "port_range_min": 30, "port_range_max": 22},
])
def test_rule_errors_answer_as_neutron(bases: tuple[str, dict[str, str]],
                                       groups: dict[str, str], rule: dict[str, Any]) -> None:
    token, urls = bases
    answers = {}
    for who, base in urls.items():
        status, body = http("POST", base + "/security-group-rules", token, {
            "security_group_rule": {"security_group_id": groups[who],
                                    "direction": "ingress", **rule}})
        answers[who] = (status, body["NeutronError"]["type"],
                        body["NeutronError"]["message"])
    assert answers["cascade"] == answers["neutron"]


def test_renaming_a_group_to_default_is_refused_as_in_neutron(
        bases: tuple[str, dict[str, str]], groups: dict[str, str]) -> None:
    token, urls = bases
    answers = {}
    for who, base in urls.items():
        status, body = http("PUT", f"{base}/security-groups/{groups[who]}", token,
                             {"security_group": {"name": "default"}})
        answers[who] = (status, body["NeutronError"]["type"])
    assert answers["cascade"] == answers["neutron"] == (409,
                                                        "SecurityGroupDefaultAlreadyExists")


def test_the_cli_lists_network_zones_through_cascade(cli: Cli) -> None:
    zones = cli.json("cascade-demo", "availability", "zone", "list", "--network")
    assert {(z["Zone Name"], z["Zone Status"]) for z in zones} >= {
        (name, "available") for name in {z["Zone Name"] for z in cli.json(
            "cascade-demo", "availability", "zone", "list", "--compute")}}
