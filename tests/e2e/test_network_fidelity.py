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


@pytest.mark.parametrize("kind, body", [
    ("networks", {"network": {"name": "tagged", "tags": ["a"]}}),
    ("security-groups", {"security_group": {"name": "tagged", "tags": ["a"]}}),
    ("routers", {"router": {"name": "tagged", "tags": ["a"]}}),
])
def test_tags_in_a_create_body_are_refused_as_in_neutron(
        bases: tuple[str, dict[str, str]], kind: str, body: dict[str, Any]) -> None:
    """Neutron takes tags in a create body for ports only; the others are tagged
    after (PUT .../tags), through Cascade as directly."""
    token, urls = bases
    answers = {}
    for who, base in urls.items():
        status, answer = http("POST", f"{base}/{kind}", token, body)
        answers[who] = (status, (answer or {}).get("NeutronError", {}).get("message"))
    assert answers["cascade"] == answers["neutron"] == (
        400, "Attribute 'tags' not allowed in POST")


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


@pytest.fixture(scope="module")
def addressed(bases: tuple[str, dict[str, str]]) -> Iterator[dict[str, dict[str, str]]]:
    """On each side, a network with a small IPv4 subnet and a SLAAC subnet."""
    token, urls = bases
    made: dict[str, dict[str, str]] = {}
    for who, base in urls.items():
        _, net = http("POST", base + "/networks", token,
                      {"network": {"name": f"addr-{uuid.uuid4().hex[:6]}"}})
        nid = net["network"]["id"]
        _, v4 = http("POST", base + "/subnets", token, {"subnet": {
            "network_id": nid, "cidr": "10.123.0.0/29", "ip_version": 4,
            "allocation_pools": [{"start": "10.123.0.2", "end": "10.123.0.3"}]}})
        _, v6 = http("POST", base + "/subnets", token, {"subnet": {
            "network_id": nid, "cidr": "fd00:123::/64", "ip_version": 6,
            "ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}})
        made[who] = {"network": nid, "v4": v4["subnet"]["id"], "v6": v6["subnet"]["id"]}
    yield made
    for who, base in urls.items():
        _, ports = http("GET", f"{base}/ports?network_id={made[who]['network']}", token)
        for port in ports["ports"]:
            http("DELETE", f"{base}/ports/{port['id']}", token)
        http("DELETE", f"{base}/networks/{made[who]['network']}", token)


def _port_answers(bases: tuple[str, dict[str, str]], made: dict[str, dict[str, str]],
                  fixed: list[dict[str, str]] | None, **extra: Any
                  ) -> dict[str, tuple[int, Any]]:
    token, urls = bases
    out = {}
    for who, base in urls.items():
        ids = made[who]
        port: dict[str, Any] = {"network_id": ids["network"], **extra}
        if fixed is not None:
            port["fixed_ips"] = [{k: ids.get(v, v) for k, v in item.items()}
                                 for item in fixed]
        out[who] = http("POST", base + "/ports", token, {"port": port})
    return out


def _same_answer(answers: dict[str, tuple[int, Any]], made: dict[str, dict[str, str]]
                 ) -> None:
    """Same status; for errors, the same type and message (ids aside)."""
    direct, through = answers["neutron"], answers["cascade"]
    assert through[0] == direct[0], answers
    if direct[0] >= 400:
        def words(who: str, body: Any) -> tuple[str, str]:
            message = body["NeutronError"]["message"]
            for name, value in made[who].items():
                message = message.replace(value, name)
            return body["NeutronError"]["type"], message
        assert words("cascade", through[1]) == words("neutron", direct[1])


@pytest.mark.parametrize("fixed", [
    [{"subnet_id": "v4", "ip_address": "10.123.0.7"}],
    [{"subnet_id": "v4", "ip_address": "10.123.0.0"}],
    [{"ip_address": "10.124.0.9"}],
    [{"subnet_id": "v6", "ip_address": "fd00:123::5"}],
    [{"ip_address": "10.123.0.999"}],
])
def test_bad_addresses_are_refused_as_neutron_refuses_them(
        bases: tuple[str, dict[str, str]], addressed: dict[str, dict[str, str]],
        fixed: list[dict[str, str]]) -> None:
    _same_answer(_port_answers(bases, addressed, fixed), addressed)


def test_addresses_taken_slaac_derived_and_pools_exhausted_as_in_neutron(
        bases: tuple[str, dict[str, str]], addressed: dict[str, dict[str, str]]) -> None:
    mac = "fa:16:3e:12:34:56"
    first = _port_answers(bases, addressed, [{"subnet_id": "v4", "ip_address": "10.123.0.6"}],
                          mac_address=mac)
    _same_answer(first, addressed)
    # The SLAAC address Cascade derives (the port is in no region yet) is the one
    # the real Neutron derived from the same MAC.
    slaac = {who: [ip["ip_address"] for ip in body["port"]["fixed_ips"]
                   if ":" in ip["ip_address"]] for who, (_, body) in first.items()}
    assert slaac["cascade"] == slaac["neutron"] == ["fd00:123::f816:3eff:fe12:3456"]
    _same_answer(_port_answers(bases, addressed, [{"ip_address": "10.123.0.6"}]), addressed)
    for _ in range(2):  # the pool's two addresses, then Neutron's 409
        _same_answer(_port_answers(bases, addressed, None), addressed)
    _same_answer(_port_answers(bases, addressed, None), addressed)
    _same_answer(_port_answers(bases, addressed, []), addressed)
