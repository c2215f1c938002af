"""What one logical router's regional copies must hold: pure computation, no I/O.

A router whose interfaces' networks live in several regions has one copy per
region; the copies meet on the project's bridge network, each at its own
bridge address. Every copy must reach every subnet attached anywhere: a subnet
attached in its own region is connected; one attached only elsewhere gets a
route, destination the subnet, next hop the bridge address of a copy that
holds it. A tenant's own ``routes`` go to every copy that is connected to
their next hop (Neutron refuses a next hop a router is not connected to).
"""
from __future__ import annotations

import dataclasses
import ipaddress
from typing import Iterable, Mapping, Sequence

from cascade.networks import faults

__all__ = ["Attached", "regional_routes", "check_no_overlap", "check_user_routes",
           "route_key"]

Route = dict[str, str]


@dataclasses.dataclass(frozen=True)
class Attached:
    """A subnet an interface of the router connects (in global ids)."""

    subnet_id: str
    cidr: str


def route_key(route: Mapping[str, str]) -> tuple[str, str]:
    """A route in a canonical form (networks normalised), for comparing sets."""
    return (str(ipaddress.ip_network(route["destination"], strict=False)),
            str(ipaddress.ip_address(route["nexthop"])))


def _connected(nexthop: str, cidrs: Iterable[str]) -> bool:
    hop = ipaddress.ip_address(nexthop)
    return any(hop in ipaddress.ip_network(c, strict=False) for c in cidrs)


def regional_routes(attached: Mapping[str, Sequence[Attached]],
                    bridge_addresses: Mapping[str, str],
                    user_routes: Sequence[Mapping[str, str]] = (),
                    bridge_cidr: str | None = None) -> dict[str, list[Route]]:
    """region -> the routes that region's copy must hold, sorted.

    ``attached`` maps each region holding a copy to the subnets attached
    there; ``bridge_addresses`` the copies on the bridge (none when the
    router is in one region only). A subnet attached in a region is never
    routed away from it; one attached in several other regions goes to the
    first of them by name, so every copy's answer is stable.
    """
    holder: dict[str, tuple[str, str]] = {}  # cidr -> (region, subnet)
    for region in sorted(attached):
        for sub in sorted(attached[region], key=lambda s: s.subnet_id):
            holder.setdefault(str(ipaddress.ip_network(sub.cidr, strict=False)),
                              (region, sub.subnet_id))
    out: dict[str, list[Route]] = {}
    for region in attached:
        local = {str(ipaddress.ip_network(s.cidr, strict=False)) for s in attached[region]}
        wanted: dict[tuple[str, str], Route] = {}
        if region in bridge_addresses:
            for cidr, (there, _sub) in holder.items():
                if cidr in local or there == region or there not in bridge_addresses:
                    continue
                route = {"destination": cidr, "nexthop": bridge_addresses[there]}
                wanted[route_key(route)] = route
        reach = set(local)
        if region in bridge_addresses and bridge_cidr:
            reach.add(bridge_cidr)
        for user in user_routes:
            if _connected(user["nexthop"], reach):
                wanted.setdefault(route_key(user), {"destination": user["destination"],
                                                    "nexthop": user["nexthop"]})
        out[region] = [wanted[k] for k in sorted(wanted)]
    return out


def check_no_overlap(existing: Sequence[Attached], new: Attached) -> None:
    """Neutron's refusal of a second interface on a subnet, or an overlapping one.

    :raises BadRequest: in Neutron's words.
    """
    net = ipaddress.ip_network(new.cidr, strict=False)
    for sub in existing:
        if sub.subnet_id == new.subnet_id:
            raise faults.refused("BadRequest",
                f"Bad router request: Router already has a port on subnet {new.subnet_id}.")
        other = ipaddress.ip_network(sub.cidr, strict=False)
        if other.version == net.version and other.overlaps(net):
            raise faults.refused("BadRequest",
                f"Bad router request: Cidr {new.cidr} of subnet {new.subnet_id} overlaps "
                f"with cidr {sub.cidr} of subnet {sub.subnet_id}.")


def check_user_routes(routes: object, connected: Sequence[str], limit: int = 30
                      ) -> list[Route]:
    """A tenant's ``routes`` checked as Neutron's extraroute checks them.

    ``connected`` holds the CIDRs of every subnet the router is attached to,
    in any region.

    :raises BadRequest: ``InvalidRoutes`` or ``RoutesExhausted``, in Neutron's words.
    """
    if routes is None:
        return []  # Neutron takes null as "no routes"
    if not isinstance(routes, list):
        raise faults.bad_request(f"Invalid data format for hostroute: '{routes}'")
    out: list[Route] = []
    for route in routes:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise faults.bad_request(f"Invalid data format for hostroute: '{route}'")
        try:
            key = route_key(route)
        except ValueError:
            raise faults.bad_request(f"Invalid data format for hostroute: '{route}'") from None
        if not _connected(key[1], connected):
            raise faults.typed_bad_request(
                "InvalidRoutes", f"Invalid format for routes: {[route]}, the nexthop is not "
                                 "connected with router.")
        out.append({"destination": route["destination"], "nexthop": route["nexthop"]})
    if len(out) > limit:
        raise faults.typed_bad_request(
            "RoutesExhausted", f"Unable to complete operation for {'router'}. The number of "
                               f"routes exceeds the maximum {limit}.")
    return out
