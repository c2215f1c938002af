"""VLAN segments on the physical network every region shares.

A segment id handed out here means the same wire in every region, so a network
that is such a segment is one L2 domain across regions: a project's bridge
network (``bridge.py``), or a network an admin creates with
``provider:network_type vlan`` (a *spanning* network). One row of
``segment_allocations`` per id, unique per physical network; the holder is the
Cascade network. Only the shared physical network (``[network]
bridge_physical_network``) can span regions.
"""
from __future__ import annotations

from typing import Any

from oslo_config import cfg
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cascade import errors
from cascade.db.models import SegmentAllocation
from cascade.networks import faults

__all__ = ["vlan_range", "allocate", "check_provider", "spans_regions"]


def vlan_range(conf: cfg.ConfigOpts) -> range:
    first, _, last = str(conf.network.bridge_vlan_range).partition(":")
    return range(int(first), int(last or first) + 1)


def spans_regions(attrs: dict[str, Any]) -> bool:
    """Whether a network is one segment in every region it is in."""
    return attrs.get("provider:network_type") == "vlan"


def check_provider(conf: cfg.ConfigOpts, attrs: dict[str, Any]) -> None:
    """Provider attributes Cascade can honour in every region, or Neutron's 400."""
    kind = attrs.get("provider:network_type")
    if kind is None:
        if attrs.get("provider:physical_network") or attrs.get("provider:segmentation_id"):
            raise faults.refused("InvalidInput", "Invalid input for operation: "
                                 "network_type required.")
        return
    if kind != "vlan":
        raise faults.refused("InvalidInput", f"Invalid input for operation: network_type "
                             f"value '{kind}' not supported through Cascade: only 'vlan' "
                             "networks on the shared physical network span regions.")
    physnet = attrs.setdefault("provider:physical_network",
                               conf.network.bridge_physical_network)
    if physnet != conf.network.bridge_physical_network:
        raise faults.refused("InvalidInput", f"Invalid input for operation: physical_network "
                             f"'{physnet}' is not the one every region shares "
                             f"('{conf.network.bridge_physical_network}').")
    vlan = attrs.get("provider:segmentation_id")
    if vlan is not None and not 1 <= int(vlan) <= 4094:
        raise faults.refused("InvalidInput", "Invalid input for operation: "
                             "segmentation_id out of range (1 through 4094).")


async def allocate(session: AsyncSession, conf: cfg.ConfigOpts, holder: str,
                   wanted: int | None = None) -> int:
    """The VLAN id ``holder`` holds on the shared physical network, taken now if it
    holds none: ``wanted`` (409 ``VlanIdInUse`` when taken), else the first free one
    of ``[network] bridge_vlan_range``."""
    physnet = conf.network.bridge_physical_network
    held = await session.scalar(select(SegmentAllocation.segmentation_id).where(
        SegmentAllocation.holder == holder))
    if held is not None:
        return int(held)
    candidates = [wanted] if wanted is not None else list(vlan_range(conf))
    taken = set((await session.scalars(select(SegmentAllocation.segmentation_id).where(
        SegmentAllocation.physical_network == physnet))).all())
    for vlan in candidates:
        if vlan in taken:
            continue
        try:
            async with session.begin_nested():
                session.add(SegmentAllocation(physical_network=physnet,
                                              segmentation_id=vlan, holder=holder))
        except IntegrityError:
            continue  # taken by a concurrent pick
        return vlan
    if wanted is not None:
        raise faults.conflict("VlanIdInUse", f"Unable to create the network. The VLAN "
                              f"{wanted} on physical network {physnet} is in use.")
    raise errors.Conflict(f"No VLAN id left on {physnet} in {conf.network.bridge_vlan_range}")
