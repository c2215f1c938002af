"""Neutron's views of Cascade's network objects, and regional ports in global ids."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from cascade.context import RequestContext
from cascade.db.models import Placement, Resource
from cascade.networks import records

__all__ = ["network", "subnet", "security_group", "rule", "deferred_port", "regional_port",
           "PRIVATE"]

#: Stored attributes that are Cascade's own, never shown.
PRIVATE = frozenset({"requested_fixed_ips", "default_rule", "region_hint", "local",
                     "external_region", "released_by"})


def _common(res: Resource) -> dict[str, Any]:
    a = res.attrs
    return {"id": res.global_id, "project_id": res.project_id, "tenant_id": res.project_id,
            "created_at": a.get("created_at"), "updated_at": a.get("updated_at"),
            "revision_number": a.get("revision_number", 0)}


def _shown(res: Resource) -> dict[str, Any]:
    return {k: v for k, v in res.attrs.items() if k not in PRIVATE}


def _placements(ctx: RequestContext, placed: Mapping[str, Placement]) -> dict[str, Any]:
    if not ctx.is_admin:
        return {}
    return {"cascade:placements": [
        {"region": region, "id": pl.local_id, "state": pl.state}
        for region, pl in sorted(placed.items())]}


def network(ctx: RequestContext, res: Resource, subnets: Iterable[str],
            placed: Mapping[str, Placement], zones: Mapping[str, str]) -> dict[str, Any]:
    """A network; ``zones`` maps region names to the zones tenants see. Provider
    attributes are shown to admins only, as Neutron shows them."""
    shown = _shown(res)
    if not ctx.is_admin:
        shown = {k: v for k, v in shown.items() if not k.startswith("provider:")}
    return {**shown, **_common(res), "subnets": sorted(subnets),
            "availability_zones": sorted(zones[r] for r in placed if r in zones),
            "ipv4_address_scope": None, "ipv6_address_scope": None,
            "l2_adjacency": True, "is_default": False, "qos_policy_id": None,
            **_placements(ctx, placed)}


def subnet(ctx: RequestContext, res: Resource, placed: Mapping[str, Placement]
           ) -> dict[str, Any]:
    return {**_shown(res), **_common(res), **_placements(ctx, placed)}


def rule(res: Resource) -> dict[str, Any]:
    return {**_shown(res), **_common(res)}


def security_group(ctx: RequestContext, res: Resource, rules: Iterable[Resource],
                   placed: Mapping[str, Placement]) -> dict[str, Any]:
    return {**_shown(res), **_common(res),
            "security_group_rules": [rule(r) for r in rules], **_placements(ctx, placed)}


_PORT_DEFAULTS: dict[str, Any] = {"binding:host_id": "", "binding:vif_type": "unbound",
                  "binding:vif_details": {}, "dns_assignment": [], "qos_policy_id": None,
                  "propagate_uplink_status": False}


def deferred_port(ctx: RequestContext, res: Resource) -> dict[str, Any]:
    """A port not in any region yet, with the addresses Cascade gave it."""
    return {**_PORT_DEFAULTS, **_shown(res), **_common(res),
            "fixed_ips": list(res.attrs.get("fixed_ips") or []), "status": "DOWN"}


def regional_port(port: Mapping[str, Any], global_id: str, to_global: Mapping[str, str],
                  user_tags: list[str] | None = None) -> dict[str, Any]:
    """A region's port in global ids; ``to_global`` maps regional ids of networks,
    subnets, groups and servers to theirs (unmapped ids are shown as they are)."""
    out = dict(port)
    out["id"] = global_id
    out["network_id"] = to_global.get(port.get("network_id", ""), port.get("network_id"))
    out["fixed_ips"] = [{**ip, "subnet_id": to_global.get(ip.get("subnet_id", ""),
                                                          ip.get("subnet_id"))}
                        for ip in port.get("fixed_ips") or []]
    out["security_groups"] = [to_global.get(g, g) for g in port.get("security_groups") or []]
    if port.get("device_id"):
        out["device_id"] = to_global.get(port["device_id"], port["device_id"])
    tags = [t for t in port.get("tags") or []
            if not t.startswith((records.TAG_PREFIX, records.OWNER_TAG_PREFIX))]
    out["tags"] = user_tags if user_tags is not None else tags
    out.pop("ip_allocation", None)
    return out
