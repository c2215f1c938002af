"""Security groups and their rules, as Neutron makes them: the project's
``default`` group with its four rules (made on first need), the two egress
rules every new group gets, and the checks a new rule passes.

``NetworkObjects`` (``cascade.networks.service``) records, places and deletes
them like the other network objects.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.context import RequestContext
from cascade.db.models import Resource
from cascade.networks import faults, records, specs
from cascade.networks.records import RULE, SECURITY_GROUP
from cascade.mapping import store

__all__ = ["ensure_default_group", "egress_rules", "rule_group"]


def _rule(global_id: str, group_id: str, project_id: str, user_id: str | None,
          default: dict[str, Any], now: str, *, remote: str | None = None,
          default_rule: bool = False) -> Resource:
    """One of ``specs.DEFAULT_RULES`` as a rule of ``group_id``."""
    attrs: dict[str, Any] = {
        "security_group_id": group_id, "direction": default["direction"],
        "ethertype": default["ethertype"], "protocol": None,
        "port_range_min": None, "port_range_max": None,
        "remote_ip_prefix": None, "remote_group_id": remote,
        "remote_address_group_id": None, "description": ""}
    if default_rule:
        attrs["default_rule"] = True
    attrs.update({"created_at": now, "updated_at": now, "revision_number": 0})
    return Resource(global_id=global_id, type=RULE, project_id=project_id, user_id=user_id,
                    spec={}, status="ACTIVE", attrs=attrs)


async def ensure_default_group(sessions: async_sessionmaker[AsyncSession], project_id: str,
                               user_id: str | None) -> str:
    """The project's ``default`` group (and its four rules), made on first need."""
    group_id = records.derived_id("default-security-group", project_id)
    async with sessions() as session:
        if await session.get(Resource, group_id) is not None:
            return group_id
    now = records.now()
    try:
        async with sessions.begin() as session:
            session.add(Resource(
                global_id=group_id, type=SECURITY_GROUP, project_id=project_id,
                user_id=user_id, spec={}, status="ACTIVE",
                attrs={"name": "default", "description": "Default security group",
                       "stateful": True, "tags": [], "shared": False,
                       "created_at": now, "updated_at": now, "revision_number": 0}))
            for i, default in enumerate(specs.DEFAULT_RULES):
                remote = group_id if default["remote_group_id"] == "self" else None
                session.add(_rule(records.derived_id("default-rule", project_id, str(i)),
                                  group_id, project_id, user_id, default, now,
                                  remote=remote, default_rule=True))
    except Exception as exc:  # noqa: BLE001 - a concurrent first use made it
        async with sessions() as session:
            if await session.get(Resource, group_id) is None:
                raise exc
    return group_id


def egress_rules(group_id: str, project_id: str, user_id: str | None) -> list[Resource]:
    """The rules of a new group: Neutron gives it the two egress rules."""
    now = records.now()
    return [_rule(store.new_global_id(), group_id, project_id, user_id, default, now)
            for default in specs.DEFAULT_RULES[:2]]


async def rule_group(session: AsyncSession, ctx: RequestContext,
                     attrs: dict[str, Any]) -> Resource:
    """The group a new rule (``attrs``) joins, its remote group checked too.

    :raises NotFound: either group is unknown or not visible.
    :raises Conflict: the group has that rule already.
    """
    group = await records.get(session, ctx, SECURITY_GROUP, attrs["security_group_id"])
    if attrs.get("remote_group_id"):
        await records.get(session, ctx, SECURITY_GROUP, attrs["remote_group_id"])
    for other in await records.children(session, [RULE], [group.global_id]):
        if specs.rule_key(other.attrs) == specs.rule_key(attrs):
            raise faults.conflict(
                "SecurityGroupRuleExists",
                f"Security group rule already exists. Rule id is {other.global_id}.")
    return group
