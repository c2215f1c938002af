"""Cascade's own address allocation for its networks.

A network's copies in several regions are one address space, so no region may
choose addresses by itself: Cascade picks every port's addresses here, at
create, and the regional copies take them. One row per (network, address) in
``ip_allocations`` makes an address unique across all regions; concurrent
picks of the same free address meet at that key and the loser picks again.

Neutron's rules, as a port create sees them:

- no ``fixed_ips``: one address from the first IPv4 subnet that has one free,
  one from the first stateful IPv6 subnet, and on every SLAAC or
  DHCPv6-stateless subnet the EUI-64 address of the port's MAC;
- ``fixed_ips`` given: each entry as asked (a subnet, an address, or both),
  plus the EUI-64 address on every automatic-address subnet not named.

Addresses are taken lowest first within the subnet's allocation pools. A
region's copy of a subnet gets one pool address of its own (held as
``region:<name>``) for what the region allocates itself, such as a DHCP port.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cascade.db.models import IpAllocation, Resource
from cascade.networks import faults

__all__ = ["Subnet", "allocate", "allocate_one", "release", "restore", "region_holder",
           "reserve_for_region", "eui64", "is_automatic", "first_free"]

_AUTO_MODES = ("slaac", "dhcpv6-stateless")
#: Concurrent picks one allocation may lose before it gives up (each loser moves
#: on to the next free address, so N concurrent allocations need N - 1).
_RETRIES = 64


@dataclass(frozen=True)
class Subnet:
    """What allocation needs of one of the network's subnets."""

    id: str
    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network
    pools: tuple[tuple[int, int], ...]
    automatic: bool

    @classmethod
    def of(cls, res: Resource) -> "Subnet":
        net = ipaddress.ip_network(res.attrs["cidr"], strict=False)
        pools = tuple((int(ipaddress.ip_address(p["start"])),
                       int(ipaddress.ip_address(p["end"])))
                      for p in res.attrs.get("allocation_pools") or [])
        return cls(res.global_id, net, pools, is_automatic(res.attrs))


def is_automatic(attrs: Mapping[str, Any]) -> bool:
    """An IPv6 subnet whose hosts make their own address from their MAC."""
    return attrs.get("ip_version") == 6 and attrs.get("ipv6_address_mode") in _AUTO_MODES


def eui64(cidr: ipaddress.IPv4Network | ipaddress.IPv6Network, mac: str) -> str:
    """The modified EUI-64 address of ``mac`` on an IPv6 ``cidr`` (RFC 4291, appendix A)."""
    octets = bytearray(int(part, 16) for part in mac.split(":"))
    octets[0] ^= 0x02
    iid = bytes(octets[:3]) + b"\xff\xfe" + bytes(octets[3:])
    return str(ipaddress.IPv6Address(int(cidr.network_address) | int.from_bytes(iid, "big")))


def first_free(subnet: Subnet, taken: set[str]) -> str | None:
    """The lowest pool address not in ``taken``."""
    make = ipaddress.ip_address
    for start, end in subnet.pools:
        value = start
        while value <= end:
            candidate = str(make(value))
            if candidate not in taken:
                return candidate
            value += 1
    return None


def region_holder(region: str) -> str:
    return f"region:{region}"


def _valid_on(subnet: Subnet, address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if ip not in subnet.cidr:
        return False
    if subnet.cidr.version == 4 and subnet.cidr.prefixlen < 31:
        return ip not in (subnet.cidr.network_address, subnet.cidr.broadcast_address)
    return True


def _parse(address: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(address)))
    except ValueError:
        raise faults.refused("HTTPBadRequest", "Invalid input for fixed_ips. Reason: "
                             f"'{address}' is not a valid IP address.") from None


@dataclass
class _Want:
    subnet: Subnet
    address: str | None  # None: any free pool address


def _plan(network_id: str, subnets: Sequence[Subnet], requested: Sequence[Mapping[str, Any]]
          | None, mac: str) -> list[_Want]:
    """What to allocate, in Neutron's order and with its refusals."""
    by_id = {s.id: s for s in subnets}
    wants: list[_Want] = []
    if requested is not None and not requested:
        return wants  # an empty ``fixed_ips`` asks for a port without addresses
    if requested:
        for item in requested:
            subnet_id, address = item.get("subnet_id"), item.get("ip_address")
            if subnet_id:
                subnet = by_id.get(str(subnet_id))
                if subnet is None:
                    raise faults.bad_request(
                        f"Failed to create port on network {network_id}, because "
                        f"fixed_ips included invalid subnet {subnet_id}")
                if address is not None:
                    address = _parse(address)
                    if not _valid_on(subnet, address):
                        raise faults.refused("InvalidIpForSubnet",
                                             f"IP address {address} is not a valid IP "
                                             "for the specified subnet.")
            elif address is not None:
                address = _parse(address)
                subnet = next((s for s in subnets if _valid_on(s, address)), None)
                if subnet is None:
                    raise faults.refused(
                        "InvalidIpForNetwork",
                        f"IP address {address} is not a valid IP for any of the subnets "
                        "on the specified network.")
            else:
                raise faults.bad_request(f"Invalid data format for fixed IP: '{item}'")
            if subnet.automatic:
                if address is not None and address != eui64(subnet.cidr, mac):
                    raise faults.refused(
                        "AllocationOnAutoAddressSubnet",
                        f"IPv6 address {address} cannot be directly assigned to a port on "
                        f"subnet {subnet.id} as the subnet is configured for automatic "
                        "addresses")
                address = eui64(subnet.cidr, mac)
            wants.append(_Want(subnet, address))
        named = {w.subnet.id for w in wants}
        wants += [_Want(s, eui64(s.cidr, mac)) for s in subnets
                  if s.automatic and s.id not in named]
        return wants
    v4 = [s for s in subnets if s.cidr.version == 4]
    stateful = [s for s in subnets if s.cidr.version == 6 and not s.automatic]
    for group in (v4, stateful):
        if group:
            wants.append(_Want(group[0], None))  # the first with a free address, later
    wants += [_Want(s, eui64(s.cidr, mac)) for s in subnets
              if s.automatic]
    return wants


async def _taken(session: AsyncSession, network_id: str) -> set[str]:
    rows = await session.scalars(select(IpAllocation.ip_address)
                                 .where(IpAllocation.network_id == network_id))
    return set(rows.all())


async def _insert(session: AsyncSession, network_id: str, subnet_id: str, address: str,
                  holder: str) -> bool:
    """Whether the address was free and is now ``holder``'s."""
    try:
        async with session.begin_nested():
            session.add(IpAllocation(network_id=network_id, ip_address=address,
                                     subnet_id=subnet_id, holder=holder))
    except IntegrityError:
        return False
    return True


async def allocate(session: AsyncSession, network_id: str, subnets: Iterable[Resource],
                   requested: Sequence[Mapping[str, Any]] | None, mac: str,
                   holder: str) -> list[dict[str, str]]:
    """Addresses for a port (or a server's port to be) of ``network_id``, held by
    ``holder``, as ``fixed_ips`` in global subnet ids.

    :raises Conflict: an asked-for address is taken (``IpAddressAlreadyAllocated``)
        or no subnet has a free one (``IpAddressGenerationFailure``).
    :raises BadRequest: an address or subnet that is not the network's.
    """
    ordered = sorted(subnets, key=lambda s: (str(s.attrs.get("created_at") or ""),
                                              s.global_id))
    plan = _plan(network_id, [Subnet.of(s) for s in ordered], requested, mac)
    out: list[dict[str, str]] = []
    for want in plan:
        if want.address is not None:
            if not await _insert(session, network_id, want.subnet.id, want.address, holder):
                raise faults.conflict(
                    "IpAddressAlreadyAllocated",
                    f"IP address {want.address} already allocated in subnet "
                    f"{want.subnet.id}")
            out.append({"subnet_id": want.subnet.id, "ip_address": want.address})
            continue
        out.append(await _any_free(session, network_id, want.subnet, ordered, holder))
    return out


async def _any_free(session: AsyncSession, network_id: str, first: Subnet,
                    ordered: Sequence[Resource], holder: str) -> dict[str, str]:
    """A free pool address of ``first``, or of the next subnet of its IP version."""
    group = [first, *(s for s in map(Subnet.of, ordered) if s != first and not s.automatic
                      and s.cidr.version == first.cidr.version)]
    taken = await _taken(session, network_id)
    lost = 0
    while lost < _RETRIES:
        for subnet in group:
            address = first_free(subnet, taken)
            if address is None:
                continue
            if await _insert(session, network_id, subnet.id, address, holder):
                return {"subnet_id": subnet.id, "ip_address": address}
            # Taken meanwhile by a concurrent pick: try the next one, and read
            # again (others may have taken more).
            lost += 1
            taken = {address} | await _taken(session, network_id)
            break
        else:
            break
    raise faults.conflict("IpAddressGenerationFailure",
                          f"No more IP addresses available on network {network_id}.")


async def allocate_one(session: AsyncSession, network_id: str, subnets: Iterable[Resource],
                       address: Any, holder: str) -> str | None:
    """The one address a port Nova creates on ``network_id`` is given: ``address``
    if named, else one from the first IPv4 subnet with a free one (or the first
    stateful IPv6 subnet); None when the network has only automatic-address
    subnets (their addresses come from the MAC) or none."""
    if address is not None:
        [got] = await allocate(session, network_id, subnets, [{"ip_address": address}],
                               "00:00:00:00:00:00", holder)
        return got["ip_address"]
    ordered = sorted(subnets, key=lambda s: (str(s.attrs.get("created_at") or ""),
                                              s.global_id))
    choices = [s for s in map(Subnet.of, ordered) if not s.automatic]
    choices.sort(key=lambda s: s.cidr.version)
    if not choices:
        return None
    return (await _any_free(session, network_id, choices[0], ordered, holder))["ip_address"]


async def release(session: AsyncSession, holder: str) -> None:
    """Every address ``holder`` holds goes back to the pools."""
    await session.execute(delete(IpAllocation).where(IpAllocation.holder == holder))


async def restore(session: AsyncSession, holder: str, network_id: str,
                  fixed_ips: Sequence[Mapping[str, str]]) -> None:
    """``holder`` holds exactly ``fixed_ips`` again (an update the region refused);
    an address someone took meanwhile stays theirs."""
    await release(session, holder)
    for ip in fixed_ips:
        await _insert(session, network_id, ip["subnet_id"], ip["ip_address"], holder)


async def reserve_for_region(session: AsyncSession, subnet: Resource, region: str) -> str:
    """The one pool address a region's copy of ``subnet`` may allocate itself
    (its DHCP port), reserved once per region."""
    holder = region_holder(region)
    held = (await session.scalars(select(IpAllocation.ip_address).where(
        IpAllocation.subnet_id == subnet.global_id, IpAllocation.holder == holder))).first()
    if held is not None:
        return held
    network_id = str(subnet.attrs["network_id"])
    found = await _any_free(session, network_id, Subnet.of(subnet), [subnet], holder)
    return found["ip_address"]
