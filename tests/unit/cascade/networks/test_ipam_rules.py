"""Address choice without a database: the EUI-64 address a real Neutron derived
for a MAC, the lowest free pool address, and Neutron's rules and refusals for
what a port create asks."""
from __future__ import annotations

import ipaddress

import pytest

from cascade import errors
from cascade.networks import ipam

MAC = "fa:16:3e:89:4c:cf"


def _subnet(sid: str, cidr: str, pools: list[tuple[str, str]], automatic: bool = False
            ) -> ipam.Subnet:
    return ipam.Subnet(sid, ipaddress.ip_network(cidr), tuple(
        (int(ipaddress.ip_address(a)), int(ipaddress.ip_address(b))) for a, b in pools),
        automatic)


def test_eui64_is_the_address_neutron_gives_a_slaac_port() -> None:
    # Seen on a real Neutron: a port with this MAC on fd00:77::/64 (SLAAC).
    assert ipam.eui64(ipaddress.ip_network("fd00:77::/64"), MAC) == "fd00:77::f816:3eff:fe89:4ccf"


def test_first_free_skips_taken_addresses_and_walks_the_pools_in_order() -> None:
    sub = _subnet("s", "10.0.0.0/24", [("10.0.0.10", "10.0.0.11"), ("10.0.0.20", "10.0.0.20")])
    assert ipam.first_free(sub, set()) == "10.0.0.10"
    assert ipam.first_free(sub, {"10.0.0.10", "10.0.0.11"}) == "10.0.0.20"
    assert ipam.first_free(sub, {"10.0.0.10", "10.0.0.11", "10.0.0.20"}) is None


V4 = _subnet("v4", "10.0.0.0/29", [("10.0.0.2", "10.0.0.6")])
V4B = _subnet("v4b", "10.9.0.0/24", [("10.9.0.2", "10.9.0.254")])
V6 = _subnet("v6", "fd00:1::/64", [("fd00:1::2", "fd00:1::ffff")])
SLAAC = _subnet("slaac", "fd00:77::/64", [("fd00:77::2", "fd00:77::ffff")], automatic=True)


def _plan(subnets: list[ipam.Subnet], requested: list[dict[str, str]] | None
          ) -> list[tuple[str, str | None]]:
    return [(w.subnet.id, w.address) for w in ipam._plan("net", subnets, requested, MAC)]


def test_no_request_takes_one_ipv4_one_stateful_ipv6_and_every_slaac_address() -> None:
    assert _plan([V4, V4B, V6, SLAAC], None) == [
        ("v4", None), ("v6", None), ("slaac", "fd00:77::f816:3eff:fe89:4ccf")]


def test_an_empty_request_asks_for_a_port_without_addresses() -> None:
    assert _plan([V4, SLAAC], []) == []


def test_named_addresses_find_their_subnet_and_slaac_addresses_are_added() -> None:
    assert _plan([V4, V4B, SLAAC], [{"ip_address": "10.9.0.7"}, {"subnet_id": "v4"}]) == [
        ("v4b", "10.9.0.7"), ("v4", None), ("slaac", "fd00:77::f816:3eff:fe89:4ccf")]


@pytest.mark.parametrize("requested, message", [
    ([{"subnet_id": "v4", "ip_address": "10.0.0.7"}],
     "IP address 10.0.0.7 is not a valid IP for the specified subnet."),
    ([{"subnet_id": "v4", "ip_address": "10.0.0.0"}],
     "IP address 10.0.0.0 is not a valid IP for the specified subnet."),
    ([{"ip_address": "10.77.0.9"}],
     "IP address 10.77.0.9 is not a valid IP for any of the subnets on the specified "
     "network."),
    ([{"subnet_id": "slaac", "ip_address": "fd00:77::5"}],
     "IPv6 address fd00:77::5 cannot be directly assigned to a port on subnet slaac as the "
     "subnet is configured for automatic addresses"),
    ([{"subnet_id": "elsewhere"}],
     "Invalid input for operation: Failed to create port on network net, because fixed_ips "
     "included invalid subnet elsewhere."),
    ([{"ip_address": "10.0.0.999"}],
     "Invalid input for fixed_ips. Reason: '10.0.0.999' is not a valid IP address."),
])
def test_what_neutron_refuses_is_refused_in_its_words(requested: list[dict[str, str]],
                                                      message: str) -> None:
    # The messages are those a real Neutron answered for the same requests.
    with pytest.raises(errors.BadRequest) as caught:
        _plan([V4, SLAAC], requested)
    assert caught.value.message == message
