"""A project's bridge network: where its routers' copies in several regions meet.

One per project that has a router spanning regions, made on first need and
removed when the project has none left. It is Cascade's object
(:data:`records.CASCADE_PROJECT` owns it, so no tenant sees it; admins see it
with ``cascade:bridge_for``). It is a VLAN segment on the physical network
every region shares, the same VLAN id in every region (a row of
``segment_allocations`` holds it), with one subnet whose block of
``[network] bridge_cidr_pool`` overlaps none of the project's own subnets.
Each regional router copy has one port on it, its address from Cascade's
allocations like any port's.
"""
from __future__ import annotations

import hashlib
import ipaddress
from typing import Iterable

from oslo_config import cfg
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cascade import errors
from cascade.db.models import IpAllocation, Resource, SegmentAllocation
from cascade.networks import ipam, records, segments, specs
from cascade.networks.records import NETWORK, ROUTER, SUBNET

__all__ = ["network_id", "subnet_id", "port_id", "find", "ensure", "release", "pick_cidr",
           "BRIDGE_KEY"]

#: Attribute naming the project a bridge network serves.
BRIDGE_KEY = "cascade:bridge_for"


def network_id(project_id: str) -> str:
    return records.derived_id("bridge-network", project_id)


def subnet_id(project_id: str) -> str:
    return records.derived_id("bridge-subnet", project_id)


def port_id(router_id: str, region: str) -> str:
    """The global id of a router copy's port on the bridge."""
    return records.derived_id("bridge-port", router_id, region)


def port_mac(port_gid: str) -> str:
    """The MAC of a bridge port, derived from its id (found again after a crash)."""
    digest = hashlib.sha256(port_gid.encode()).hexdigest()
    return "fa:16:3e:" + ":".join(digest[i:i + 2] for i in (0, 2, 4))


def pick_cidr(pool: str, prefixlen: int, avoid: Iterable[str]) -> str:
    """The first block of ``pool`` that overlaps none of ``avoid``.

    :raises Conflict: the pool has no such block.
    """
    avoided = [ipaddress.ip_network(c, strict=False) for c in avoid]
    for block in ipaddress.ip_network(pool).subnets(new_prefix=prefixlen):
        if not any(block.version == a.version and block.overlaps(a)
                   for a in avoided):
            return str(block)
    raise errors.Conflict(f"bridge_cidr_pool {pool} has no /{prefixlen} free of the "
                          "project's subnets")


async def find(session: AsyncSession, project_id: str) -> tuple[Resource, Resource] | None:
    """The project's bridge network and subnet rows, if it has them."""
    net = await session.get(Resource, network_id(project_id))
    sub = await session.get(Resource, subnet_id(project_id))
    return (net, sub) if net is not None and sub is not None else None


async def ensure(session: AsyncSession, conf: cfg.ConfigOpts,
                 project_id: str) -> tuple[Resource, Resource]:
    """The project's bridge rows, made (VLAN id and block allocated) if missing."""
    found = await find(session, project_id)
    if found is not None:
        return found
    own = list((await session.scalars(select(Resource.attrs).where(
        Resource.type == SUBNET, Resource.project_id == project_id))).all())
    # Subnets of others' (shared) networks on the project's routers count too.
    routers = (await session.scalars(select(Resource.attrs).where(
        Resource.type == ROUTER, Resource.project_id == project_id))).all()
    attached = sorted({i["subnet_id"] for a in routers for i in a.get("interfaces") or []})
    if attached:
        own += (await session.scalars(select(Resource.attrs).where(
            Resource.type == SUBNET, Resource.global_id.in_(attached)))).all()
    cidr = pick_cidr(conf.network.bridge_cidr_pool, conf.network.bridge_prefixlen,
                     [a["cidr"] for a in own if a.get("cidr")])
    net_id = network_id(project_id)
    vlan = await segments.allocate(session, conf, net_id)
    now = records.now()
    common = {"created_at": now, "updated_at": now, "revision_number": 0, "tags": [],
              "description": f"Cascade bridge of project {project_id}",
              BRIDGE_KEY: project_id}
    net = Resource(global_id=net_id, type=NETWORK, project_id=records.CASCADE_PROJECT,
                   user_id=None, spec={}, status="ACTIVE", usage={}, attrs={
                       **common, "name": f"cascade-bridge-{project_id}",
                       "admin_state_up": True, "shared": False, "mtu": 1500,
                       "port_security_enabled": False, "availability_zone_hints": [],
                       "router:external": False, "status": "ACTIVE",
                       "provider:network_type": "vlan",
                       "provider:physical_network": conf.network.bridge_physical_network,
                       "provider:segmentation_id": vlan})
    block = ipaddress.ip_network(cidr)
    sub = Resource(global_id=subnet_id(project_id), type=SUBNET,
                   project_id=records.CASCADE_PROJECT, user_id=None, spec={},
                   status="ACTIVE", usage={}, attrs={
                       **common, "name": f"cascade-bridge-{project_id}",
                       "network_id": net_id, "cidr": cidr, "ip_version": block.version,
                       "gateway_ip": None, "enable_dhcp": False, "dns_nameservers": [],
                       "host_routes": [], "ipv6_ra_mode": None, "ipv6_address_mode": None,
                       "allocation_pools": specs._default_pools(block, None),
                       "service_types": [], "subnetpool_id": None, "segment_id": None})
    session.add_all([net, sub])
    await session.flush()
    return net, sub


async def port_address(session: AsyncSession, project_id: str, router_id: str,
                       region: str) -> str:
    """The bridge address of a router's copy in ``region``, allocated once."""
    found = await find(session, project_id)
    if found is None:
        raise errors.NotFound(f"project {project_id} has no bridge network")
    net, sub = found
    holder = port_id(router_id, region)
    held = await session.scalar(select(IpAllocation.ip_address).where(
        IpAllocation.holder == holder))
    if held is not None:
        return str(held)
    [got] = await ipam.allocate(session, net.global_id, [sub], None, "00:00:00:00:00:00",
                                holder)
    return got["ip_address"]


async def release(session: AsyncSession, project_id: str) -> None:
    """Forget the project's bridge rows, its VLAN id and its addresses."""
    from cascade.quota.forget import forget

    net_id = network_id(project_id)
    await session.execute(delete(SegmentAllocation).where(SegmentAllocation.holder == net_id))
    for gid in (subnet_id(project_id), net_id):
        await forget(session, gid)
