"""What depends on a network, subnet or security group, and keeps it from being
deleted: a network's subnets and ports, the ports with addresses on a subnet,
a group's rules and the ports it guards.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cascade.db.models import Resource
from cascade.networks import faults, records
from cascade.networks.records import NETWORK, PORT, RULE, SECURITY_GROUP, SUBNET

__all__ = ["related", "dependants", "refuse"]


async def related(session: AsyncSession, res: Resource) -> list[Resource]:
    """What may depend on ``res`` (``dependants`` picks), read by index."""
    if res.type == NETWORK:
        return await records.children(session, [SUBNET, PORT], [res.global_id])
    if res.type == SUBNET:
        return await records.children(session, [PORT], [str(res.attrs.get("network_id"))])
    if res.type == SECURITY_GROUP:
        rules = await records.children(session, [RULE], [res.global_id])
        ports = (await session.scalars(select(Resource).where(
            Resource.type == PORT, Resource.project_id == res.project_id))).all()
        return [*rules, *ports]
    return []


def dependants(res: Resource, others: list[Resource]) -> list[Resource]:
    gid = res.global_id
    # A router interface's port removed with its interface is deleted already.
    others = [o for o in others if not o.attrs.get("released_by")]
    if res.type == NETWORK:
        return [o for o in others if o.attrs.get("network_id") == gid]
    if res.type == SUBNET:
        return [o for o in others if o.type == PORT
                and o.attrs.get("network_id") == res.attrs.get("network_id")]
    if res.type == SECURITY_GROUP:
        return [o for o in others
                if (o.type == RULE and o.attrs.get("security_group_id") == gid)
                or (o.type == PORT and gid in (o.attrs.get("security_groups") or []))]
    return []


def refuse(type_: str, global_id: str, found: list[Resource]) -> None:
    """:raises Conflict: ports still use the object, in Neutron's words."""
    if type_ == NETWORK and any(o.type == PORT for o in found):
        raise faults.in_use(NETWORK, global_id, "There are one or more ports still in "
                                               "use on the network.")
    if type_ == SUBNET and any(o.type == PORT and any(
            ip.get("subnet_id") == global_id
            for ip in [*(o.attrs.get("fixed_ips") or []),
                       *(o.attrs.get("requested_fixed_ips") or [])]) for o in found):
        raise faults.in_use(SUBNET, global_id, "One or more ports have an IP allocation "
                                              "from this subnet.")
    if type_ == SECURITY_GROUP and any(o.type == PORT for o in found):
        raise faults.in_use(SECURITY_GROUP, global_id, "Security group in use.")
