"""Networks, subnets, security groups and their rules: global objects, placed lazily.

Cascade is the source of truth for their attributes: lists and shows answer
from its database; creates are recorded at once (nothing in any region
yet, as a network nobody uses needs no copy); updates and deletes keep every
regional copy in step. Quota is charged in the transaction that records the
object. Ports live in :mod:`cascade.networks.ports`; what Neutron makes of
security groups (the default group, a new group's rules) in
:mod:`cascade.networks.security_groups`; what keeps an object from being
deleted in :mod:`cascade.networks.in_use`.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Placement, Resource
from cascade.listing.narrow import Narrow
from cascade.networks import (faults, in_use, records, security_groups, segments, specs,
                              views)
from cascade.networks.placer import Placer
from cascade.networks.records import NETWORK, PORT, RULE, SECURITY_GROUP, SUBNET
from cascade.quota import ledger
from cascade.regions.registry import RegionRegistry
from cascade.mapping import store
from cascade.quota.forget import forget

__all__ = ["NetworkObjects", "QUOTA_OF"]

LOG = logging.getLogger(__name__)

#: The quota resource each type counts against.
QUOTA_OF = {NETWORK: "network", SUBNET: "subnet", PORT: "port",
            SECURITY_GROUP: "security_group", RULE: "security_group_rule"}

_Defaults = Callable[[], Any]


class NetworkObjects:
    """CRUD for networks, subnets, security groups and rules."""

    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 registry: RegionRegistry, placer: Placer,
                 quota_defaults: Any) -> None:
        self._conf = conf
        self._sessions = sessions
        self._registry = registry
        self.placer = placer
        self._quota_defaults = quota_defaults

    # -- views -------------------------------------------------------------

    def _zones(self) -> dict[str, str]:
        return {r.name: r.availability_zone for r in list(self._registry)}

    async def view(self, session: AsyncSession, ctx: RequestContext,
                   res: Resource) -> dict[str, Any]:
        """One object as Neutron shows it (ports excepted)."""
        return (await self.views(session, ctx, [res]))[0]

    async def views(self, session: AsyncSession, ctx: RequestContext,
                    rows: list[Resource]) -> list[dict[str, Any]]:
        placed = await records.placements(session, [r.global_id for r in rows])
        types = {r.type for r in rows}
        related: list[Resource] = []
        if NETWORK in types:
            related += await records.children(
                session, [SUBNET], [r.global_id for r in rows if r.type == NETWORK])
        if SECURITY_GROUP in types:
            related += await records.children(
                session, [RULE], [r.global_id for r in rows if r.type == SECURITY_GROUP])
        zones = self._zones()
        out = []
        for res in rows:
            if res.type == NETWORK:
                subs = [s.global_id for s in related
                        if s.type == SUBNET and s.attrs.get("network_id") == res.global_id]
                out.append(views.network(ctx, res, subs, placed[res.global_id], zones))
            elif res.type == SUBNET:
                out.append(views.subnet(ctx, res, placed[res.global_id]))
            elif res.type == SECURITY_GROUP:
                rules = sorted((r for r in related if r.type == RULE
                                and r.attrs.get("security_group_id") == res.global_id),
                               key=lambda r: r.global_id)
                out.append(views.security_group(ctx, res, rules, placed[res.global_id]))
            else:
                out.append(views.rule(res))
        return out

    # -- creates -----------------------------------------------------------

    def _owner(self, ctx: RequestContext, body: Any, type_: str) -> str:
        obj = body.get(type_) if isinstance(body, dict) else None
        wanted = (obj or {}).get("project_id") or (obj or {}).get("tenant_id")
        owner = str(wanted or ctx.project_id)
        ctx.can(f"create_{type_}", {"project_id": owner})
        return owner

    async def _record(self, session: AsyncSession, ctx: RequestContext, type_: str,
                      project_id: str, attrs: dict[str, Any],
                      global_id: str | None = None) -> Resource:
        """Write the object (no placement: no region holds it yet) and charge its quota."""
        usage = {QUOTA_OF[type_]: 1}
        await ledger.charge(session, project_id, usage, defaults=self._quota_defaults)
        now = records.now()
        res = Resource(global_id=global_id or store.new_global_id(), type=type_,
                       project_id=project_id, user_id=ctx.user_id, spec={},
                       attrs={**attrs, "created_at": now, "updated_at": now,
                              "revision_number": 0},
                       status=attrs.get("status", "ACTIVE"), usage=usage)
        session.add(res)
        await session.flush()
        return res

    async def create_network(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        attrs = specs.network(body)
        if attrs["shared"]:
            ctx.can("create_network:shared")
        if any(k in attrs for k in specs.PROVIDER_KEYS):
            ctx.can("create_network:provider:network_type")
            segments.check_provider(self._conf, attrs)
        zones = {r.availability_zone for r in list(self._registry)}
        unknown = [z for z in attrs["availability_zone_hints"] if z not in zones]
        if unknown:
            raise faults.conflict("AvailabilityZoneNotFound",
                                  f"AvailabilityZone {unknown[0]} could not be found.")
        owner = self._owner(ctx, body, NETWORK)
        async with self._sessions.begin() as session:
            global_id = store.new_global_id()
            if segments.spans_regions(attrs):
                # One segment, the same id in every region it will be in.
                attrs["provider:segmentation_id"] = await segments.allocate(
                    session, self._conf, global_id, attrs.get("provider:segmentation_id"))
            res = await self._record(session, ctx, NETWORK, owner, attrs, global_id)
            return await self.view(session, ctx, res)

    async def create_subnet(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        attrs = specs.subnet(body)
        owner = self._owner(ctx, body, SUBNET)
        async with self._sessions.begin() as session:
            net = await records.get(session, ctx, NETWORK, attrs["network_id"])
            ctx.can("create_subnet", {"project_id": net.project_id})
            for other in await records.children(session, [SUBNET], [net.global_id]):
                if _overlaps(other.attrs["cidr"], attrs["cidr"]):
                    raise faults.bad_request(
                        f"Requested subnet with cidr: {attrs['cidr']} for network: "
                        f"{net.global_id} overlaps with another subnet")
            res = await self._record(session, ctx, SUBNET, owner, attrs)
            placed = await records.placements(session, [net.global_id])
            view = await self.view(session, ctx, res)
        # Keep the network's copies in step: the subnet joins every region it is in.
        for region, pl in placed[net.global_id].items():
            if pl.local_id:
                await self.placer.ensure_subnet(ctx, res.global_id, region, pl.local_id)
        return view

    async def ensure_default_group(self, project_id: str, user_id: str | None) -> str:
        """The project's ``default`` group (and its four rules), made on first need."""
        return await security_groups.ensure_default_group(self._sessions, project_id, user_id)

    async def create_security_group(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        attrs = specs.security_group(body)
        owner = self._owner(ctx, body, SECURITY_GROUP)
        await self.ensure_default_group(owner, ctx.user_id)
        async with self._sessions.begin() as session:
            res = await self._record(session, ctx, SECURITY_GROUP, owner, attrs)
            session.add_all(security_groups.egress_rules(res.global_id, owner, ctx.user_id))
            await session.flush()
            return await self.view(session, ctx, res)

    async def create_rule(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        attrs = specs.rule(body)
        await self.ensure_default_group(ctx.project_id, ctx.user_id)
        async with self._sessions.begin() as session:
            group = await security_groups.rule_group(session, ctx, attrs)
            res = await self._record(session, ctx, RULE, group.project_id, attrs)
            placed = await records.placements(session, [group.global_id])
            view = await self.view(session, ctx, res)
        # Later rule changes reach every region holding a copy of the group.
        for region, pl in placed[group.global_id].items():
            if pl.local_id:
                try:
                    await self.placer.ensure_rule(ctx, res.global_id, region)
                except errors.RegionError as exc:
                    if isinstance(exc, errors.RegionHTTPError) and exc.status < 500:
                        await self._drop(ctx, res.global_id)
                        raise
                    LOG.warning("rule %s not yet in %s: %s", res.global_id, region,
                                exc.message)
        return view

    async def _drop(self, ctx: RequestContext, global_id: str) -> None:
        async with self._sessions.begin() as session:
            res = await session.get(Resource, global_id)
            if res is not None:
                placed = await records.placements(session, [global_id])
                await self._delete_copies(ctx, res, placed[global_id])
                await forget(session, global_id)

    # -- reads -------------------------------------------------------------

    async def show(self, ctx: RequestContext, type_: str, global_id: str) -> dict[str, Any]:
        if type_ == SECURITY_GROUP:
            await self.ensure_default_group(ctx.project_id, ctx.user_id)
        async with self._sessions() as session:
            res = await records.get(session, ctx, type_, global_id)
            return await self.view(session, ctx, res)

    async def list_all(self, ctx: RequestContext, type_: str,
                       narrow: Narrow | None = None) -> list[dict[str, Any]]:
        """Every object of ``type_`` the caller may see within ``narrow`` (the filters
        an index serves); the query engine filters and pages."""
        if type_ in (SECURITY_GROUP, RULE):
            await self.ensure_default_group(ctx.project_id, ctx.user_id)
        async with self._sessions() as session:
            rows = await records.of_types(session, ctx, [type_], narrow)
            return await self.views(session, ctx, rows)

    # -- updates -----------------------------------------------------------

    async def update(self, ctx: RequestContext, type_: str, global_id: str,
                     body: Any) -> dict[str, Any]:
        changes = specs.update(type_, body)
        if type_ == SECURITY_GROUP and "name" in changes:
            async with self._sessions() as session:
                res = await records.get(session, ctx, type_, global_id)
            if res.attrs.get("name") == "default" and changes["name"] != "default":
                raise faults.conflict("SecurityGroupCannotUpdateDefault",
                                      "Updating default security group not allowed.")
            if changes["name"] == "default" and res.attrs.get("name") != "default":
                # A second "default" would be one the owner could never delete.
                raise faults.conflict("SecurityGroupDefaultAlreadyExists",
                                      "Default security group already exists.")
        if changes.get("shared"):
            ctx.can("update_network:shared")
        async with self._sessions.begin() as session:
            res = await records.get_for_update(session, ctx, type_, global_id)
            ctx.can(f"update_{type_}", {"project_id": res.project_id})
            placed = (await records.placements(session, [global_id]))[global_id]
            # Regions first: a change a region refuses is refused here too.
            regional = {k: v for k, v in changes.items() if k != "mtu"}
            if regional:
                failed = await self.placer.push_update(ctx, res, placed, regional)
                if failed:
                    LOG.warning("%s %s out of step in %s until the next update or audit",
                                type_, global_id, ", ".join(failed))
            res.attrs = {**res.attrs, **changes, "updated_at": records.now(),
                         "revision_number": res.attrs.get("revision_number", 0) + 1}
            await session.flush()
            return await self.view(session, ctx, res)

    async def set_tags(self, ctx: RequestContext, type_: str, global_id: str,
                       tags: list[str]) -> list[str]:
        """Replace the user's tags (Cascade's own tag stays on regional copies)."""
        if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) <= 255
                                                 and "," not in t for t in tags):
            raise faults.bad_request("Invalid tags body")
        if any(t.startswith((records.TAG_PREFIX, records.OWNER_TAG_PREFIX)) for t in tags):
            raise faults.bad_request(f"Tags starting with '{records.TAG_PREFIX}' are "
                                     "reserved by Cascade")
        async with self._sessions.begin() as session:
            res = await records.get_for_update(session, ctx, type_, global_id)
            # Only the owner (or an admin) retags, even a network shared with the caller.
            ctx.can(f"update_{records.COLLECTION[type_]}_tags", {"project_id": res.project_id})
            placed = (await records.placements(session, [global_id]))[global_id]
            unique = list(dict.fromkeys(tags))
            for region, pl in placed.items():
                if pl.local_id:
                    from cascade.networks.placer import REGIONAL_PATH

                    await self.placer.client.request(
                        self.placer.caller(ctx, res), region, "network", "PUT",
                        f"{REGIONAL_PATH[type_]}/{pl.local_id}/tags",
                        json={"tags": [*unique, records.tag_for(global_id),
                                       self.placer.owner_tag]})
            res.attrs = {**res.attrs, "tags": unique, "updated_at": records.now(),
                         "revision_number": res.attrs.get("revision_number", 0) + 1}
            return unique

    async def tags(self, ctx: RequestContext, type_: str, global_id: str) -> list[str]:
        async with self._sessions() as session:
            res = await records.get(session, ctx, type_, global_id)
            return list(res.attrs.get("tags", []))

    # -- deletes -----------------------------------------------------------

    async def _delete_copies(self, ctx: RequestContext, res: Resource,
                             placed: dict[str, Placement]) -> None:
        try:
            await self.placer.delete_copies(ctx, res, placed)
        except errors.Conflict as exc:
            if res.type in (NETWORK, SUBNET, SECURITY_GROUP):
                raise faults.in_use(res.type, res.global_id, exc.message) from exc
            raise

    async def delete(self, ctx: RequestContext, type_: str, global_id: str) -> None:
        """Delete everywhere; the object goes once no region holds a copy.

        :raises Conflict: in use (ports on a network, a rule's group...).
        :raises ServiceUnavailable: a region holding a copy could not be asked;
            the copies already deleted stay deleted and a retry finishes.
        """
        async with self._sessions() as session:
            res = await records.get(session, ctx, type_, global_id)
            ctx.can(f"delete_{type_}", {"project_id": res.project_id})
            if type_ == SECURITY_GROUP and res.attrs.get("name") == "default" \
                    and not ctx.is_admin:
                raise faults.conflict("SecurityGroupCannotRemoveDefault",
                                      "Removing default security group not allowed.")
            others = await in_use.related(session, res)
        dependants = await self._prune_vanished(ctx, in_use.dependants(res, others))
        in_use.refuse(type_, global_id, dependants)
        async with self._sessions() as session:
            placed = (await records.placements(session, [global_id]))[global_id]
        await self._delete_copies(ctx, res, placed)
        async with self._sessions.begin() as session:
            for child in dependants:
                if child.type in (SUBNET, RULE):
                    # Regional subnets and rules went with their network or group.
                    await forget(session, child.global_id)
            await forget(session, global_id)


    async def _prune_vanished(self, ctx: RequestContext,
                              rows: list[Resource]) -> list[Resource]:
        """Forget ports whose regional copy is gone (Nova deletes the ports it made
        with their server); the others are still in use."""
        kept = []
        for row in rows:
            if row.type != PORT:
                kept.append(row)
                continue
            async with self._sessions() as session:
                placed = (await records.placements(session, [row.global_id]))[row.global_id]
            pl = next((p for p in placed.values() if p.local_id), None)
            if pl is not None:
                try:
                    await self.placer.client.get(
                        self.placer.caller(ctx, row), pl.region, "network",
                        f"/v2.0/ports/{pl.local_id}")
                except errors.RegionHTTPError as exc:
                    if exc.status == 404:
                        async with self._sessions.begin() as session:
                            await forget(session, row.global_id)
                        continue
            kept.append(row)
        return kept


def _overlaps(a: str, b: str) -> bool:
    import ipaddress

    na, nb = ipaddress.ip_network(a, strict=False), ipaddress.ip_network(b, strict=False)
    return na.version == nb.version and na.overlaps(nb)  # type: ignore[arg-type,unused-ignore]
