"""Making a global network object present in a region, once, and removing copies.

Every regional copy Cascade creates is tagged ``cascade:<global id>`` (rules,
which Neutron cannot tag, are found by content). Before creating, the region
is asked for a copy with that tag, so a crash between a regional create and
the placement write is healed by the next ensure (and the audit can find
the copy). Creates of the same object in the same region are serialised in
process; across processes the tag lookup makes the second one adopt.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
from typing import Any, AsyncIterator, Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.crashpoints import crash_point
from cascade.context import RequestContext
from cascade.db.models import Placement, PlacementState, Resource
from cascade.networks import ipam, records, router_jobs
from cascade.networks.specs import PROVIDER_KEYS, TAGGED_ON_CREATE
from cascade.networks.records import (FLOATINGIP, NETWORK, PORT, ROUTER, RULE,
                                      SECURITY_GROUP, SUBNET)
from cascade.regions.client import RegionClient
from cascade.mapping import store
from cascade.regions import paths

__all__ = ["Placer", "REGIONAL_PATH"]

LOG = logging.getLogger(__name__)

#: Regional collection paths by type.
REGIONAL_PATH = {NETWORK: "/v2.0/networks", SUBNET: "/v2.0/subnets", PORT: "/v2.0/ports",
                 SECURITY_GROUP: "/v2.0/security-groups",
                 RULE: "/v2.0/security-group-rules", ROUTER: "/v2.0/routers",
                 FLOATINGIP: "/v2.0/floatingips"}
_RULE_EXISTS = re.compile(r"Rule id is ([0-9a-f-]{36})")


def _twin_filters(res: Resource, body: dict[str, Any]) -> dict[str, str] | None:
    """What makes a copy of ``res`` one of a kind in its region (so that creating it
    again is refused), as list filters; None when nothing does."""
    if res.type == PORT and body.get("mac_address") and body.get("network_id"):
        return {"mac_address": str(body["mac_address"]), "network_id": str(body["network_id"])}
    if res.type == SUBNET and body.get("cidr") and body.get("network_id"):
        return {"cidr": str(body["cidr"]), "network_id": str(body["network_id"])}
    if res.type == NETWORK and body.get("provider:segmentation_id") is not None:
        return {k: str(body[k]) for k in ("provider:network_type",
                                          "provider:physical_network",
                                          "provider:segmentation_id") if k in body}
    return None


class Placer:
    """Ensure-in-region and delete-everywhere for networks, subnets, ports and groups."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                 owner: str = "cascade") -> None:
        self.owner_tag = records.OWNER_TAG_PREFIX + owner
        self._sessions = sessions
        self.client = client
        self._locks: dict[tuple[str, str], asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        #: Wakes the job workers (set by the API app); None: they find jobs by sweeping.
        self.wake: Callable[[str], Awaitable[None]] | None = None

    @contextlib.asynccontextmanager
    async def _lock(self, global_id: str, region: str) -> AsyncIterator[None]:
        key = (global_id, region)
        lock = self._locks[key]
        async with lock:
            yield
        if not lock.locked() and not lock._waiters:
            self._locks.pop(key, None)

    def caller(self, ctx: RequestContext | None, res: Resource) -> RequestContext | None:
        """Act as the caller for their own objects; as Cascade (admin) otherwise."""
        if ctx is not None and ctx.project_id == res.project_id and ctx.auth_token:
            return ctx
        return None

    async def _load(self, global_id: str, region: str) -> tuple[Resource, Placement | None]:
        async with self._sessions() as session:
            res = await session.get(Resource, global_id)
            if res is None:
                raise errors.NotFound(f"{global_id} vanished")
            return res, await records.placement_in(session, global_id, region)

    async def record(self, type_: str, global_id: str, region: str, local_id: str) -> None:
        """Map ``global_id`` to ``local_id`` in ``region`` (active), whatever was there."""
        async with self._sessions.begin() as session:
            await store.ensure_placement(session, global_id=global_id, type_=type_,
                                         region=region, local_id=local_id,
                                         state=PlacementState.ACTIVE)
            pl = await records.placement_in(session, global_id, region)
            if pl is not None and pl.local_id != local_id:
                pl.local_id, pl.state = local_id, PlacementState.ACTIVE

    def is_own(self, regional: dict[str, Any], res: Resource,
               expect: dict[str, str] | None = None) -> bool:
        """Whether a regional object is Cascade's copy of ``res``: the project's
        own (another project's object, even shared with it by RBAC, is not),
        tagged with the global id and this deployment's name, and attached
        where Cascade put the copy (``expect``: e.g. the regional network id)."""
        tags = regional.get("tags") or []
        project = regional.get("project_id") or regional.get("tenant_id")
        return (project == res.project_id and records.tag_for(res.global_id) in tags
                and self.owner_tag in tags
                and all(regional.get(k) == v for k, v in (expect or {}).items()))

    async def _create(self, ctx: RequestContext | None, res: Resource, region: str,
                      body: dict[str, Any]) -> str:
        """The regional id of Cascade's copy of ``res`` in ``region``, adopted or
        created (:meth:`create_copy`)."""
        return (await self.create_copy(ctx, res, region, body))[0]

    async def create_copy(self, ctx: RequestContext | None, res: Resource, region: str,
                          body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """Adopt the region's copy Cascade made (a crash came before its mapping),
        or create one: its regional id, and the region's answer to the create when
        it was made just now (None when adopted). Anything else carrying the tag
        (planted by somebody who can reach the region) is foreign: never adopted.

        A copy the region holds only one of (a port with the MAC Cascade minted
        for it, a subnet's range on its regional network, a network's VLAN
        segment) is created first and looked for only if the region refuses it
        (the MAC, range or segment is taken, as by an earlier copy of
        Cascade's): by its tag, then untagged (a crash came between its create
        and its tag). Anything else is looked for first, by its tag.
        """
        path = REGIONAL_PATH[res.type]
        singular = res.type
        caller = self.caller(ctx, res)
        expect = {k: str(body[k]) for k in ("network_id",) if k in body}
        twin = _twin_filters(res, body)
        if twin is None:
            local = await self._own_copy(caller, res, region, expect)
            if local is not None:
                return local, None
        tags = [*body.pop("tags", []), records.tag_for(res.global_id), self.owner_tag]
        if caller is None:
            body["project_id"] = res.project_id
        if res.type in TAGGED_ON_CREATE:
            body["tags"] = tags
        try:
            created = await self.client.post(caller, region, "network", path,
                                              json={singular: body})
        except errors.RegionHTTPError as exc:
            if twin is None or exc.status not in (400, 409):
                raise
            local = await self._own_copy(caller, res, region, expect)
            if local is None:
                local = await self._untagged(caller, res, region, twin)
                if local is None:
                    raise
                await self._tag(caller, res, region, local, tags)
            return local, None
        made = dict(created.body[singular])
        local = str(made["id"])
        if set(tags) <= set(made.get("tags") or []):
            return local, made
        # NOTE: Neutron takes tags in a create body for ports only, and keeps
        # them only with the ML2 extension driver tag_ports_during_bulk_creation
        # (without it they are dropped), so otherwise the tag follows at once; a
        # crash in between leaves an untagged copy: found again as above where
        # the region holds only one, else reported by the audit (never deleted).
        try:
            await self._tag(caller, res, region, local, tags)
        except errors.RegionError as exc:
            LOG.warning("%s %s in %s created as %s but not tagged: %s", res.type,
                        res.global_id, region, local, exc.message)
        return local, made

    async def _tag(self, caller: RequestContext | None, res: Resource, region: str,
                   local: str, tags: list[str]) -> None:
        await self.client.request(caller, region, "network", "PUT",
                                  REGIONAL_PATH[res.type] + paths.build(local, "tags"),
                                  json={"tags": tags})

    async def _own_copy(self, caller: RequestContext | None, res: Resource, region: str,
                        expect: dict[str, str]) -> str | None:
        """The regional id of Cascade's tagged copy of ``res`` in ``region``, if any."""
        found = await self.client.get(
            caller, region, "network", REGIONAL_PATH[res.type], params=[
                ("tags", records.tag_for(res.global_id)), ("project_id", res.project_id),
                *(("fields", f) for f in ("id", "project_id", "tags", *expect))])
        items = (found.body or {}).get(records.COLLECTION[res.type]) or []
        for item in items:
            if isinstance(item, dict) and self.is_own(item, res, expect):
                return str(item["id"])
            LOG.warning("%s %s in %s carries the tag of %s but is not Cascade's copy: "
                        "left alone", res.type, item.get("id") if isinstance(item, dict)
                        else item, region, res.global_id)
        return None

    async def _untagged(self, caller: RequestContext | None, res: Resource, region: str,
                        filters: dict[str, str]) -> str | None:
        """The untagged copy of ``res``'s project the region holds at ``filters`` (the
        MAC, range or segment Cascade gave it), if one is there."""
        found = await self.client.get(caller, region, "network", REGIONAL_PATH[res.type],
                                      params={**filters, "project_id": res.project_id})
        for item in (found.body or {}).get(records.COLLECTION[res.type]) or []:
            if (isinstance(item, dict) and item.get("project_id") == res.project_id
                    and all(str(item.get(k)) == v for k, v in filters.items())
                    and records.global_of_tag(item.get("tags") or []) is None):
                return str(item["id"])
        return None

    async def ensure_network(self, ctx: RequestContext | None, global_id: str,
                             region: str) -> str:
        """The network's regional id, creating it (and its subnets) there if needed."""
        async with self._lock(global_id, region):
            res, pl = await self._load(global_id, region)
            if pl is not None and pl.local_id:
                local = pl.local_id
            else:
                a = res.attrs
                body = {"name": a.get("name", ""), "description": a.get("description", ""),
                        "admin_state_up": a.get("admin_state_up", True),
                        "shared": a.get("shared", False),
                        "port_security_enabled": a.get("port_security_enabled", True),
                        "tags": list(a.get("tags", []))}
                provider = {k: a[k] for k in PROVIDER_KEYS if a.get(k) is not None}
                # Provider attributes are for admins: such a copy is made by Cascade.
                local = await self._create(None if provider else ctx, res, region,
                                           {**body, **provider})
                crash_point("network.regional_created")
                await self.record(NETWORK, global_id, region, local)
                await self._routers_follow(global_id)
        async with self._sessions() as session:
            subnets = await records.children(session, [SUBNET], [global_id])
        for sub in subnets:
            await self.ensure_subnet(ctx, sub.global_id, region, local)
        return local

    async def _routers_follow(self, network_id: str) -> None:
        """A network now in one more region: routers with an interface on it follow."""
        async with self._sessions.begin() as session:
            projects = await router_jobs.queue_for_network(session, network_id)
        if projects and self.wake is not None:
            await self.wake("jobs")

    async def ensure_subnet(self, ctx: RequestContext | None, global_id: str, region: str,
                            network_local_id: str) -> str:
        async with self._lock(global_id, region):
            res, pl = await self._load(global_id, region)
            if pl is not None and pl.local_id:
                return pl.local_id
            a = res.attrs
            keys = ("name", "description", "cidr", "ip_version", "gateway_ip",
                    "allocation_pools", "enable_dhcp", "dns_nameservers", "host_routes")
            body: dict[str, Any] = {k: a[k] for k in keys if k in a}
            for k in ("ipv6_ra_mode", "ipv6_address_mode"):
                if a.get(k):
                    body[k] = a[k]
            body["network_id"] = network_local_id
            body["tags"] = list(a.get("tags", []))
            # Cascade allocates every address; the region keeps one of its own
            # (for its DHCP port), so it can never pick one Cascade gave out.
            async with self._sessions.begin() as session:
                own = await ipam.reserve_for_region(session, res, region)
            body["allocation_pools"] = [{"start": own, "end": own}]
            local = await self._create(ctx, res, region, body)
            await self.record(SUBNET, global_id, region, local)
            return local

    async def ensure_security_group(self, ctx: RequestContext | None, global_id: str,
                                    region: str) -> str:
        """The group's regional id with every rule present; the default group is adopted."""
        async with self._lock(global_id, region):
            res, pl = await self._load(global_id, region)
            if pl is not None and pl.local_id:
                local = pl.local_id
            elif res.attrs.get("name") == "default":
                local = await self._adopt_default(ctx, res, region)
            else:
                a = res.attrs
                local = await self._create(ctx, res, region, {
                    "name": a.get("name", ""), "description": a.get("description", ""),
                    "stateful": a.get("stateful", True), "tags": list(a.get("tags", []))})
                await self.record(SECURITY_GROUP, global_id, region, local)
        async with self._sessions() as session:
            rules = await records.children(session, [RULE], [global_id])
            have = await records.placements(session, [r.global_id for r in rules])
        for rule in rules:
            if region not in have[rule.global_id]:
                await self.ensure_rule(ctx, rule.global_id, region)
        return local

    async def _adopt_default(self, ctx: RequestContext | None, res: Resource,
                             region: str) -> str:
        """Map the project's regional ``default`` group and its four default rules."""
        caller = self.caller(ctx, res)
        found = await self.client.get(caller, region, "network", REGIONAL_PATH[SECURITY_GROUP],
                                       params={"name": "default",
                                               "project_id": res.project_id})
        groups = [g for g in (found.body or {}).get("security_groups") or []
                  if g.get("project_id", g.get("tenant_id")) == res.project_id]
        if not groups:
            raise errors.ServiceUnavailable(
                f"Region {region} has no default security group for {res.project_id}")
        group = groups[0]
        local = str(group["id"])
        await self.record(SECURITY_GROUP, res.global_id, region, local)
        async with self._sessions() as session:
            rules = [r for r in await records.children(session, [RULE], [res.global_id])
                     if r.attrs.get("default_rule")]
        for rule in rules:
            for regional in group.get("security_group_rules") or []:
                if (regional.get("direction") == rule.attrs["direction"]
                        and regional.get("ethertype") == rule.attrs["ethertype"]
                        and not regional.get("protocol")
                        and not regional.get("remote_ip_prefix")
                        and bool(regional.get("remote_group_id"))
                        == bool(rule.attrs.get("remote_group_id"))):
                    await self.record(RULE, rule.global_id, region, str(regional["id"]))
                    break
        return local

    async def ensure_rule(self, ctx: RequestContext | None, global_id: str, region: str) -> str:
        """The rule's regional id; its group (and remote group) made present first."""
        res, pl = await self._load(global_id, region)
        if pl is not None and pl.local_id:
            return pl.local_id
        a = res.attrs
        group_local = await self._placed_or_ensure(ctx, a["security_group_id"], region)
        remote = a.get("remote_group_id")
        remote_local = None
        if remote:
            remote_local = (group_local if remote == a["security_group_id"] else
                            await self._placed_or_ensure(ctx, remote, region))
        async with self._lock(global_id, region):
            _, pl = await self._load(global_id, region)
            if pl is not None and pl.local_id:
                return pl.local_id
            body = {k: a.get(k) for k in ("direction", "ethertype", "protocol",
                                          "port_range_min", "port_range_max",
                                          "remote_ip_prefix", "description")}
            body = {k: v for k, v in body.items() if v is not None}
            body["security_group_id"] = group_local
            if remote_local:
                body["remote_group_id"] = remote_local
            caller = self.caller(ctx, res)
            if caller is None:
                body["project_id"] = res.project_id
            try:
                created = await self.client.post(caller, region, "network",
                                                  REGIONAL_PATH[RULE],
                                                  json={"security_group_rule": body})
                local = str(created.body["security_group_rule"]["id"])
            except errors.RegionHTTPError as exc:
                match = _RULE_EXISTS.search(exc.message) if exc.status == 409 else None
                if match is None:
                    raise
                local = match.group(1)
            await self.record(RULE, global_id, region, local)
            return local

    async def _placed_or_ensure(self, ctx: RequestContext | None, group_id: str,
                                region: str) -> str:
        async with self._sessions() as session:
            pl = await records.placement_in(session, group_id, region)
        if pl is not None and pl.local_id:
            return pl.local_id
        return await self.ensure_security_group(ctx, group_id, region)

    async def ensure_port(self, ctx: RequestContext | None, global_id: str, region: str,
                          *, device: dict[str, str] | None = None) -> str:
        """The port's regional id, materialising it (network, groups) in ``region``.

        :raises Conflict: the port already lives in another region.
        """
        res, pl = await self._load(global_id, region)
        if pl is not None and pl.local_id:
            return pl.local_id
        async with self._sessions() as session:
            elsewhere = (await session.scalars(select(Placement).where(
                Placement.global_id == global_id, Placement.region != region))).first()
        if elsewhere is not None:
            raise errors.Conflict(
                f"Port {global_id} is bound in region {elsewhere.region} and cannot be "
                f"used in region {region}.")
        a = res.attrs
        net_local = await self.ensure_network(ctx, a["network_id"], region)
        groups = [await self._placed_or_ensure(ctx, g, region)
                  for g in a.get("security_groups") or []]
        body: dict[str, Any] = {
            "network_id": net_local, "name": a.get("name", ""),
            "description": a.get("description", ""),
            "admin_state_up": a.get("admin_state_up", True),
            "mac_address": a["mac_address"], "tags": list(a.get("tags", [])),
            "binding:vnic_type": a.get("binding:vnic_type", "normal")}
        if not a.get("port_security_enabled", True):
            body["port_security_enabled"] = False
        else:
            body["security_groups"] = groups
        for key in ("allowed_address_pairs", "extra_dhcp_opts"):
            if a.get(key):
                body[key] = a[key]
        if a.get("fixed_ips"):
            body["fixed_ips"] = await self.regional_fixed_ips(a["fixed_ips"], region,
                                                              a["network_id"])
        elif a.get("requested_fixed_ips") == []:
            body["fixed_ips"] = []  # asked for without addresses
        if device:
            body.update(device)
        async with self._lock(global_id, region):
            _, pl = await self._load(global_id, region)
            if pl is not None and pl.local_id:
                return pl.local_id
            local = await self._create(ctx, res, region, body)
            crash_point("port.regional_created")
            await self.record(PORT, global_id, region, local)
            return local

    async def regional_fixed_ips(self, fixed_ips: list[dict[str, Any]], region: str,
                                 network_id: str) -> list[dict[str, str]]:
        """Addresses Cascade allocated, as the region takes them: its subnet ids;
        on automatic-address subnets the subnet alone (the region derives the
        same EUI-64 address from the port's MAC, and refuses it given)."""
        out = []
        async with self._sessions() as session:
            for ip in fixed_ips:
                sub = await records.placement_in(session, ip["subnet_id"], region)
                row = await session.get(Resource, ip["subnet_id"])
                if sub is None or not sub.local_id or row is None:
                    raise errors.BadRequest(f"Subnet {ip['subnet_id']} is not on network "
                                            f"{network_id}")
                if ipam.is_automatic(row.attrs):
                    out.append({"subnet_id": sub.local_id})
                else:
                    out.append({"subnet_id": sub.local_id, "ip_address": ip["ip_address"]})
        return out

    async def delete_copies(self, ctx: RequestContext | None, res: Resource,
                            regions: dict[str, Placement]) -> None:
        """Delete every regional copy, in parallel; placements of deleted copies go.

        A copy already gone counts as deleted. Nothing is removed for a region
        that could not be asked.

        :raises Conflict: a region refused (in use); :raises RegionError: a region failed.
        """
        caller = self.caller(ctx, res)

        async def one(region: str, pl: Placement) -> None:
            if pl.local_id:
                try:
                    await self.client.delete(caller, region, "network",
                                              f"{REGIONAL_PATH[res.type]}/{pl.local_id}")
                except errors.RegionHTTPError as exc:
                    if exc.status != 404:
                        raise
            async with self._sessions.begin() as session:
                row = await session.get(Placement, pl.id)
                if row is not None:
                    await session.delete(row)

        results = await asyncio.gather(*(one(r, p) for r, p in regions.items()),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, errors.RegionHTTPError) and result.status == 409:
                raise errors.Conflict(result.message)
            if isinstance(result, BaseException):
                raise result

    async def push_update(self, ctx: RequestContext | None, res: Resource,
                          regions: dict[str, Placement], changes: dict[str, Any]) -> list[str]:
        """PUT ``changes`` to every copy in parallel; the regions that failed."""
        caller = self.caller(ctx, res)

        async def one(region: str, pl: Placement) -> None:
            await self.client.request(caller, region, "network", "PUT",
                                   f"{REGIONAL_PATH[res.type]}/{pl.local_id}",
                                   json={res.type: changes})

        placed = {r: p for r, p in regions.items() if p.local_id}
        results = await asyncio.gather(*(one(r, p) for r, p in placed.items()),
                                       return_exceptions=True)
        failed = []
        for region, result in zip(placed, results):
            if isinstance(result, errors.RegionHTTPError) and result.status < 500:
                raise result
            if isinstance(result, BaseException):
                LOG.warning("%s %s: update not applied in %s: %s", res.type, res.global_id,
                            region, result)
                failed.append(region)
        return failed


async def placed_regions(session: AsyncSession, global_id: str) -> dict[str, Placement]:
    return (await records.placements(session, [global_id]))[global_id]
