"""Is every pair of a project's routed subnets reachable both ways, right now?

Computed from what each regional Neutron holds at the moment of asking, never
from Cascade's rows: for each of the project's routers, each region's copy
is read (its interfaces and their subnets, its bridge port, its routes).
From subnet A (attached to the copy in region *a*) to subnet B (attached to
the copy in region *b*) is routable when the copy in *a* holds an interface
on B's CIDR itself, or a route covering B whose next hop is the bridge
address of a copy that holds B, on the same VLAN segment of the shared
physical network. Every pair is checked both ways; what is missing is listed.

The regions alone cannot show what is absent from all of them, so Cascade's
rows say what to expect: every subnet of the router's interfaces whose network
is present in a region must be held by a copy (a copy never made, or one that
lost its interface, is listed as missing, not passed over).
"""
from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.db.models import Region, Resource
from cascade.networks import records
from cascade.networks.records import ROUTER, SUBNET
from cascade.networks.zones import hinted_regions
from cascade.networks.router_jobs import ROUTER_INTERFACE_OWNERS
from cascade.regions.client import RegionClient
from cascade.regions import paths

__all__ = ["Check", "Pair", "check_project"]


@dataclasses.dataclass(frozen=True)
class Pair:
    router_id: str
    source: str  # "<cidr>@<region>"
    target: str
    routable: bool
    missing: str = ""


@dataclasses.dataclass
class Check:
    project_id: str
    pairs: list[Pair] = dataclasses.field(default_factory=list)
    unreachable: list[str] = dataclasses.field(default_factory=list)
    #: Interfaces Cascade holds that no region's copy has: (router, region, why).
    unattached: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)

    @property
    def routable(self) -> bool:
        return (not self.unreachable and not self.unattached
                and all(p.routable for p in self.pairs))

    def as_dict(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "routable": self.routable,
                "unreachable_regions": self.unreachable,
                "pairs": [dataclasses.asdict(p) for p in self.pairs],
                "missing": [why for _router, _region, why in self.problems()]}

    def problems(self) -> list[tuple[str, str, str]]:
        """(router id, region, what is missing) of everything not routable."""
        return [*self.unattached,
                *((p.router_id, p.source.rsplit("@", 1)[1],
                   f"{p.source} -> {p.target}: {p.missing}")
                  for p in self.pairs if not p.routable)]


@dataclasses.dataclass
class _Copy:
    region: str
    cidrs: list[str]  # subnets it holds an interface on (bridge excluded)
    bridge: tuple[str, str] | None  # (segment, address)
    routes: list[tuple[str, str]]


async def _copy(client: RegionClient, region: str, local: str) -> _Copy:
    router = (await client.get(None, region, "network", paths.build("v2.0", "routers", local))).body
    ports = (await client.get(None, region, "network", "/v2.0/ports",
                              params={"device_id": local})).body
    ifaces = [p for p in (ports or {}).get("ports") or []
              if p.get("device_owner") in ROUTER_INTERFACE_OWNERS]
    subnet_ids = sorted({ip["subnet_id"] for p in ifaces for ip in p.get("fixed_ips") or []})
    subs = (await client.get(None, region, "network", "/v2.0/subnets",
                             params=[("id", s) for s in subnet_ids])).body if subnet_ids \
        else {"subnets": []}
    cidr_of = {s["id"]: s["cidr"] for s in (subs or {}).get("subnets") or []}
    nets = sorted({p["network_id"] for p in ifaces})
    found = (await client.get(None, region, "network", "/v2.0/networks",
                              params=[("id", n) for n in nets])).body if nets \
        else {"networks": []}
    segment = {n["id"]: f"{n.get('provider:physical_network')}/"
                        f"{n.get('provider:segmentation_id')}"
               for n in (found or {}).get("networks") or []
               if n.get("provider:network_type") == "vlan"}
    cidrs: list[str] = []
    bridge = None
    for port in ifaces:
        for ip in port.get("fixed_ips") or []:
            if port["network_id"] in segment and "cascade-bridge" in (port.get("name") or ""):
                bridge = (segment[port["network_id"]], str(ip["ip_address"]))
            elif ip["subnet_id"] in cidr_of:
                cidrs.append(cidr_of[ip["subnet_id"]])
    routes = [(r["destination"], r["nexthop"])
              for r in (router or {}).get("router", {}).get("routes") or []]
    return _Copy(region, cidrs, bridge, routes)


def _reaches(src: _Copy, cidr: str, copies: list[_Copy]) -> str:
    """Why ``src`` does not reach ``cidr`` ('' when it does)."""
    target = ipaddress.ip_network(cidr, strict=False)
    if any(_same(c, cidr) for c in src.cidrs):
        return ""
    holders = {c.bridge[1]: c for c in copies if c.bridge and cidr in c.cidrs}
    for dest, hop in src.routes:
        if target.subnet_of(ipaddress.ip_network(dest, strict=False)):  # type: ignore[arg-type]
            holder = holders.get(hop)
            if holder is None:
                continue
            if src.bridge is None or holder.bridge is None or \
                    src.bridge[0] != holder.bridge[0]:
                return f"next hop {hop} is not on the bridge segment of {src.region}"
            return ""
    if src.bridge is None:
        return f"the copy in {src.region} has no bridge port"
    return f"no route in {src.region} to {cidr} via a copy that holds it"


async def check_project(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                        project_id: str, regions: Iterable[str] | None = None) -> Check:
    """The reachability of every pair of subnets on each of the project's routers,
    read from ``regions`` (every region when None)."""
    out = Check(project_id)
    only = set(regions) if regions is not None else None
    async with sessions() as session:
        routers = list((await session.scalars(select(Resource).where(
            Resource.type == ROUTER, Resource.project_id == project_id)
            .order_by(Resource.global_id))).all())
        placed = await records.placements(session, [r.global_id for r in routers])
        ifaces = [i for r in routers for i in r.attrs.get("interfaces") or []]
        subnets = {s.global_id: s for s in (await session.scalars(select(Resource).where(
            Resource.type == SUBNET,
            Resource.global_id.in_(sorted({i["subnet_id"] for i in ifaces}))))).all()}
        networks = await records.placements(session, sorted({i["network_id"]
                                                             for i in ifaces}))
        zones = dict((await session.execute(select(Region.name,
                                                   Region.availability_zone))).all())
    for router in routers:
        if router.attrs.get("deleting"):
            continue  # its copies are on their way out
        allowed = hinted_regions(zones, router.attrs.get("availability_zone_hints") or [])
        if only is not None:
            allowed &= only
        copies: list[_Copy] = []
        unread = set()
        for region, pl in sorted(placed[router.global_id].items()):
            if not pl.local_id or region not in allowed:
                continue
            try:
                copies.append(await _copy(client, region, pl.local_id))
            except errors.RegionHTTPError as exc:
                if exc.status != 404:
                    unread.add(region)
                    out.unreachable.append(f"{region}: {exc.message}")
                # 404: the copy is gone from the region; its interfaces are missing
            except errors.RegionError as exc:
                unread.add(region)
                out.unreachable.append(f"{region}: {exc.message}")
        for iface in router.attrs.get("interfaces") or []:
            sub = subnets.get(iface["subnet_id"])
            present = sorted(r for r, pl in networks.get(iface["network_id"], {}).items()
                             if pl.local_id and r in allowed)
            if sub is None or not present or unread.intersection(present):
                continue  # not in any region it may be in, or a region not read (listed)
            cidr = str(sub.attrs.get("cidr"))
            if not any(_same(cidr, c) for copy in copies for c in copy.cidrs):
                out.unattached.append((router.global_id, present[0], (
                    f"{cidr} (subnet {sub.global_id}) is an interface of router "
                    f"{router.global_id}, and its network is in {', '.join(present)}, "
                    f"but no regional copy of the router holds it")))
        for src in copies:
            for dst in copies:
                for s_cidr in src.cidrs:
                    for d_cidr in dst.cidrs:
                        if (src.region, s_cidr) == (dst.region, d_cidr):
                            continue
                        why = _reaches(src, d_cidr, copies)
                        out.pairs.append(Pair(router.global_id, f"{s_cidr}@{src.region}",
                                              f"{d_cidr}@{dst.region}", not why, why))
    return out


def _same(a: str, b: str) -> bool:
    return ipaddress.ip_network(a, strict=False) == ipaddress.ip_network(b, strict=False)


async def projects_with_routers(session: AsyncSession) -> list[str]:
    return sorted(set((await session.scalars(select(Resource.project_id).where(
        Resource.type == ROUTER))).all()))
