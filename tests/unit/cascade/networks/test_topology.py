"""The routes a spanning router's copies need: every subnet attached anywhere is
reachable from every copy, via the bridge address of a copy that holds it."""
from __future__ import annotations

import ipaddress
import itertools

import pytest

from cascade import errors
from cascade.networks import bridge
from cascade.networks.topology import (Attached, check_no_overlap, check_user_routes,
                                       regional_routes)


def _spread(n: int) -> tuple[dict[str, list[Attached]], dict[str, str]]:
    """n regions, each with its own /24 and a bridge address."""
    attached = {f"R{i:02d}": [Attached(f"sub-{i}", f"10.{i}.0.0/24")] for i in range(n)}
    bridges = {f"R{i:02d}": f"100.64.0.{10 + i}" for i in range(n)}
    return attached, bridges


def _reachable(routes: dict[str, list[dict[str, str]]], attached: dict[str, list[Attached]],
               bridges: dict[str, str]) -> bool:
    """Walk the routes as a packet would: from each region to each subnet."""
    holder_of_hop = {ip: region for region, ip in bridges.items()}
    for src, dst in itertools.permutations(attached, 2):
        for sub in attached[dst]:
            target = ipaddress.ip_network(sub.cidr)
            if any(ipaddress.ip_network(s.cidr) == target for s in attached[src]):
                continue
            hops = [r["nexthop"] for r in routes[src]
                    if target.subnet_of(ipaddress.ip_network(r["destination"]))]
            if len(hops) != 1:
                return False
            there = holder_of_hop[hops[0]]
            if not any(s.cidr == sub.cidr for s in attached[there]):
                return False
    return True


@pytest.mark.parametrize("n", [2, 3, 10])
def test_every_subnet_is_reachable_from_every_region(n: int) -> None:
    attached, bridges = _spread(n)
    routes = regional_routes(attached, bridges)
    assert _reachable(routes, attached, bridges)
    # Each copy routes exactly the other regions' subnets, nothing of its own.
    for region, own in attached.items():
        assert len(routes[region]) == n - 1
        assert not {r["destination"] for r in routes[region]} & {s.cidr for s in own}


def test_a_router_in_one_region_needs_no_routes() -> None:
    routes = regional_routes({"R1": [Attached("a", "10.0.0.0/24"),
                                     Attached("b", "10.0.1.0/24")]}, {})
    assert routes == {"R1": []}


def test_a_subnet_attached_in_two_regions_is_local_in_both() -> None:
    attached = {"R1": [Attached("a", "10.0.0.0/24"), Attached("shared", "10.9.0.0/24")],
                "R2": [Attached("b", "10.1.0.0/24"), Attached("shared", "10.9.0.0/24")]}
    routes = regional_routes(attached, {"R1": "100.64.0.1", "R2": "100.64.0.2"})
    assert routes["R1"] == [{"destination": "10.1.0.0/24", "nexthop": "100.64.0.2"}]
    assert routes["R2"] == [{"destination": "10.0.0.0/24", "nexthop": "100.64.0.1"}]


def test_routes_are_stable_whatever_the_input_order() -> None:
    attached, bridges = _spread(5)
    shuffled = dict(reversed(list(attached.items())))
    assert regional_routes(attached, bridges) == regional_routes(shuffled, bridges)


def test_a_tenant_route_goes_only_to_copies_connected_to_its_next_hop() -> None:
    attached, bridges = _spread(2)
    user = [{"destination": "192.168.0.0/16", "nexthop": "10.1.0.50"}]
    routes = regional_routes(attached, bridges, user, "100.64.0.0/24")
    assert {"destination": "192.168.0.0/16", "nexthop": "10.1.0.50"} in routes["R01"]
    assert all(r["destination"] != "192.168.0.0/16" for r in routes["R00"])


@pytest.mark.parametrize("cidr", ["10.0.0.0/24", "10.0.0.128/25", "10.0.0.0/16"])
def test_an_overlapping_interface_is_refused_in_neutrons_words(cidr: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        check_no_overlap([Attached("a", "10.0.0.0/24")], Attached("b", cidr))
    assert caught.value.message == (f"Bad router request: Cidr {cidr} of subnet b overlaps "
                                    "with cidr 10.0.0.0/24 of subnet a.")
    assert caught.value.fault("network")[2] == "BadRequest"


def test_a_second_interface_on_the_same_subnet_is_refused() -> None:
    with pytest.raises(errors.BadRequest) as caught:
        check_no_overlap([Attached("a", "10.0.0.0/24")], Attached("a", "10.0.0.0/24"))
    assert "Router already has a port on subnet a" in caught.value.message


def test_other_families_and_disjoint_cidrs_are_accepted() -> None:
    check_no_overlap([Attached("a", "10.0.0.0/24")], Attached("b", "10.0.1.0/24"))
    check_no_overlap([Attached("a", "10.0.0.0/24")], Attached("c", "fd00::/64"))


def test_a_tenant_route_must_have_a_connected_next_hop() -> None:
    ok = check_user_routes([{"destination": "0.0.0.0/0", "nexthop": "10.0.0.9"}],
                           ["10.0.0.0/24"])
    assert ok == [{"destination": "0.0.0.0/0", "nexthop": "10.0.0.9"}]
    with pytest.raises(errors.BadRequest) as caught:
        check_user_routes([{"destination": "0.0.0.0/0", "nexthop": "10.9.0.9"}],
                          ["10.0.0.0/24"])
    assert caught.value.fault("network")[2] == "InvalidRoutes"
    with pytest.raises(errors.BadRequest):
        check_user_routes([{"destination": "nonsense", "nexthop": "10.0.0.9"}],
                          ["10.0.0.0/24"])


def test_the_bridge_block_avoids_every_subnet_of_the_project() -> None:
    picked = bridge.pick_cidr("100.64.0.0/16", 24, ["100.64.0.0/23", "100.64.2.128/25"])
    assert picked == "100.64.3.0/24"
    with pytest.raises(errors.Conflict):
        bridge.pick_cidr("100.64.0.0/24", 24, ["100.64.0.0/16"])
