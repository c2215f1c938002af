"""External networks: regional, made by the operator in a region, shown through Cascade.

Each region's ``router:external`` networks (and their subnets) get a Cascade
row with an id derived from (region, regional id), so the same network always
has the same global id, and a placement in that one region: the network shows
that region's zone, a router gateway on it puts the router's copy there, and a
floating IP on it is made there. Every tenant sees them (Neutron shows
external networks to all). A refresh reads each usable region as Cascade;
a region that cannot answer keeps its rows as they were.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.db.models import PlacementState, Resource
from cascade.mapping import store
from cascade.networks import records
from cascade.networks.records import NETWORK, SUBNET
from cascade.quota.forget import forget
from cascade.regions.client import RegionClient
from cascade.regions.fanout import scatter_gather, split_results
from cascade.regions.registry import RegionRegistry

__all__ = ["refresh", "REGION_KEY"]

LOG = logging.getLogger(__name__)

#: Attribute naming the region an external network (or subnet) lives in.
REGION_KEY = "external_region"

_NETWORK_KEYS = ("name", "description", "admin_state_up", "shared", "mtu", "status",
                 "port_security_enabled", "is_default")
_SUBNET_KEYS = ("name", "description", "cidr", "ip_version", "gateway_ip",
                "allocation_pools", "enable_dhcp", "dns_nameservers", "host_routes",
                "ipv6_ra_mode", "ipv6_address_mode", "service_types")


async def _upsert(session: AsyncSession, gid: str, type_: str, region: str,
                  regional: dict[str, Any], attrs: dict[str, Any]) -> None:
    project = str(regional.get("project_id") or regional.get("tenant_id") or "")
    row = await session.get(Resource, gid)
    now = records.now()
    if row is None:
        row = Resource(global_id=gid, type=type_, project_id=project, user_id=None,
                       spec={}, status=str(regional.get("status", "ACTIVE")), usage={},
                       attrs={**attrs, "created_at": regional.get("created_at", now),
                              "updated_at": regional.get("updated_at", now),
                              "revision_number": regional.get("revision_number", 0)})
        session.add(row)
        await session.flush()
    elif any(row.attrs.get(k) != v for k, v in attrs.items()):
        row.attrs = {**row.attrs, **attrs, "updated_at": regional.get("updated_at", now),
                     "revision_number": regional.get("revision_number", 0)}
    await store.ensure_placement(session, global_id=gid, type_=type_, region=region,
                                 local_id=str(regional["id"]), state=PlacementState.ACTIVE)


async def _one_region(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                      region: str) -> int:
    nets = await client.get(None, region, "network", "/v2.0/networks",
                            params={"router:external": "True"})
    networks = [n for n in (nets.body or {}).get("networks") or []
                if n.get("router:external")]
    subnets: list[dict[str, Any]] = []
    if networks:
        subs = await client.get(None, region, "network", "/v2.0/subnets",
                                params=[("network_id", n["id"]) for n in networks])
        subnets = list((subs.body or {}).get("subnets") or [])
    seen: set[str] = set()
    async with sessions.begin() as session:
        net_ids = {}
        for net in networks:
            gid = records.derived_id("external-network", region, str(net["id"]))
            net_ids[net["id"]] = gid
            seen.add(gid)
            await _upsert(session, gid, NETWORK, region, net, {
                **{k: net.get(k) for k in _NETWORK_KEYS if k in net},
                "router:external": True, "availability_zone_hints": [], "tags": [],
                "dns_domain": "", REGION_KEY: region})
        for sub in subnets:
            if sub.get("network_id") not in net_ids:
                continue
            gid = records.derived_id("external-subnet", region, str(sub["id"]))
            seen.add(gid)
            await _upsert(session, gid, SUBNET, region, sub, {
                **{k: sub.get(k) for k in _SUBNET_KEYS if k in sub},
                "network_id": net_ids[sub["network_id"]], "router:external": True,
                "tags": [], "subnetpool_id": None, "segment_id": None, REGION_KEY: region})
        ext = list((await session.scalars(select(Resource).where(
            Resource.type == NETWORK, Resource.beyond_project.is_(True)))).all())
        ext = [n for n in ext if n.attrs.get(REGION_KEY) == region]
        ext_subs = await records.children(session, [SUBNET], [n.global_id for n in ext])
        for row in [*ext_subs, *ext]:
            if row.attrs.get(REGION_KEY) == region and row.global_id not in seen:
                await forget(session, row.global_id)  # gone from the region
    return len(networks)


async def refresh(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                  registry: RegionRegistry, timeout: float = 10.0) -> dict[str, int]:
    """Read every usable region's external networks into Cascade; region -> count."""

    async def one(region: str) -> int:
        return await _one_region(sessions, client, region)

    results = await scatter_gather([r.name for r in registry.usable()], one,
                                   timeout=timeout)
    good, bad = split_results(results)
    for failure in bad:
        LOG.warning("external networks of %s not refreshed: %s", failure.region,
                    failure.message)
    return dict(good)


async def region_of(session: AsyncSession, network_id: str) -> str | None:
    """The region an external network lives in."""
    row = await session.get(Resource, network_id)
    return str(row.attrs.get(REGION_KEY)) if row is not None and row.attrs.get(
        REGION_KEY) else None

