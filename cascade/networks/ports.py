"""Ports: created in a region at once when the region is known, else deferred.

A deferred port has no addresses (Neutron's deferred IP allocation) until a
server boots with it; it is then materialised in the server's region. A
port's status is asked of its region; the cached view answers only when the
region cannot. Ports Nova creates for ``--nic net-id=`` boots are adopted on
sight with ids derived from (region, regional id), so every port on a
Cascade network has a stable global id.
"""
from __future__ import annotations

import logging
from typing import Any

from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Resource
from cascade.networks import faults, ipam, records, specs, views
from cascade.networks.placer import REGIONAL_PATH, Placer
from cascade.networks.port_boot import BootNetworks
from cascade.networks.port_ids import PortIds
from cascade.networks.records import NETWORK, PORT, SECURITY_GROUP, SUBNET
from cascade.networks.service import NetworkObjects
from cascade.quota import ledger
from cascade.regions.client import RegionClient
from cascade.regions.fanout import scatter_gather, split_results
from cascade.regions.registry import RegionRegistry
from cascade.mapping import store
from cascade.quota.forget import forget

__all__ = ["Ports", "REGION_HINT", "OWN_ROWS"]

LOG = logging.getLogger(__name__)

#: ``binding:profile`` key naming the region a port is created in at once.
REGION_HINT = "cascade_region"
#: Where a port list's entries from Cascade's own rows come from (never a region name).
OWN_ROWS = ""


class Ports:
    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 registry: RegionRegistry, client: RegionClient, objects: NetworkObjects,
                 quota_defaults: Any, quota_ttl: float) -> None:
        self._conf = conf
        self._sessions = sessions
        self._registry = registry
        self._client = client
        self._objects = objects
        self._placer: Placer = objects.placer
        self._quota_defaults = quota_defaults
        self._ttl = quota_ttl
        self._ids = PortIds(sessions, self._placer.owner_tag, quota_defaults)
        #: What a server boot needs of networks and ports (``port_boot.py``).
        self.boot = BootNetworks(sessions, registry, objects, self._ids)

    # -- where -------------------------------------------------------------

    def _hinted_region(self, attrs: dict[str, Any], network: Resource) -> str | None:
        """The region a port must be created in now, if its request says so.

        ``binding:profile`` ``{"cascade_region": NAME}`` names it; otherwise a
        network whose ``availability_zone_hints`` name exactly one region's
        zone exists only there.
        """
        named = (attrs.get("binding:profile") or {}).get(REGION_HINT)
        if named:
            if self._registry.get(str(named)) is None:
                raise faults.bad_request(f"Unknown region {named} in binding:profile")
            return str(named)
        hints = network.attrs.get("availability_zone_hints") or []
        if len(hints) == 1:
            region = self._registry.by_availability_zone(hints[0])
            return region.name if region else None
        return None

    # -- create ------------------------------------------------------------

    async def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        attrs = specs.port(body)
        owner = str(body["port"].get("project_id") or ctx.project_id)
        if owner != ctx.project_id:
            ctx.can("create_port:project_id", {"project_id": owner})
        ctx.can("create_port", {"project_id": owner})
        async with self._sessions() as session:
            network = await records.get(session, ctx, NETWORK, attrs["network_id"])
        if attrs["security_groups"] is None:
            attrs["security_groups"] = [await self._objects.ensure_default_group(
                owner, ctx.user_id)] if attrs["port_security_enabled"] else []
        async with self._sessions() as session:
            for group in attrs["security_groups"]:
                await records.get(session, ctx, SECURITY_GROUP, group)
        region = self._hinted_region(attrs, network)
        attrs["binding:profile"] = {k: v for k, v in attrs["binding:profile"].items()
                                    if k != REGION_HINT}
        global_id = store.new_global_id()
        now = records.now()
        attrs.update(created_at=now, updated_at=now, revision_number=0)
        usage = {"port": 1}
        if region is None:
            async with self._sessions.begin() as session:
                await ledger.charge(session, owner, usage, defaults=self._quota_defaults)
                attrs["fixed_ips"] = await self._addresses(session, network, attrs,
                                                           global_id)
                res = Resource(global_id=global_id, type=PORT, project_id=owner,
                               user_id=ctx.user_id, spec={}, attrs=attrs, status="DOWN",
                               usage=usage)
                session.add(res)
            return views.deferred_port(ctx, res)
        # A known region: admit, record (placement creating), create there, commit.
        async with self._sessions.begin() as session:
            reservation = await ledger.reserve(session, owner, usage, ttl=self._ttl,
                                               defaults=self._quota_defaults)
        try:
            async with self._sessions.begin() as session:
                attrs["fixed_ips"] = await self._addresses(session, network, attrs,
                                                           global_id)
                store.create_resource(session, global_id=global_id, type_=PORT,
                                      project_id=owner, user_id=ctx.user_id, region=region,
                                      spec={}, attrs=attrs, status="DOWN", usage=usage)
                await ledger.commit(session, reservation)
        except BaseException:
            async with self._sessions.begin() as session:
                await ledger.release(session, reservation)
            raise
        try:
            await self._placer.ensure_port(ctx, global_id, region)
        except (errors.RegionError, errors.ClientError):
            async with self._sessions.begin() as session:
                await forget(session, global_id)
            raise
        return await self.show(ctx, global_id)

    async def _addresses(self, session: AsyncSession, network: Resource,
                         attrs: dict[str, Any], holder: str,
                         requested: list[dict[str, Any]] | None = None) -> list[dict[str, str]]:
        """The port's addresses, allocated by Cascade (``ipam``) in ``session``."""
        subnets = await records.children(session, [SUBNET], [network.global_id])
        wanted = attrs["requested_fixed_ips"] if requested is None else requested
        return await ipam.allocate(session, network.global_id, subnets, wanted,
                                   attrs["mac_address"], holder)

    # -- read --------------------------------------------------------------

    async def _regional(self, ctx: RequestContext, region: str,
                        params: Any) -> list[dict[str, Any]]:
        resp = await self._client.get(ctx, region, "network", REGIONAL_PATH[PORT],
                                      params=params)
        return list((resp.body or {}).get("ports") or [])

    async def show(self, ctx: RequestContext, global_id: str) -> dict[str, Any]:
        async with self._sessions() as session:
            res = await records.get(session, ctx, PORT, global_id)
            placed = (await records.placements(session, [global_id]))[global_id]
        pl = next((p for p in placed.values() if p.local_id), None)
        if pl is None:
            return views.deferred_port(ctx, res)
        try:
            resp = await self._client.get(ctx, pl.region, "network",
                                          f"{REGIONAL_PATH[PORT]}/{pl.local_id}")
        except errors.RegionHTTPError as exc:
            if exc.status == 404:
                raise faults.not_found(PORT, global_id) from exc
            raise
        except errors.RegionError:
            return {**views.deferred_port(ctx, res),
                    **res.attrs.get("cached", {}), "id": global_id}
        port = resp.body["port"]
        to_global = await self._ids.global_ids(pl.region, [port])
        view = views.regional_port(port, global_id, to_global, res.attrs.get("tags"))
        await self._cache(global_id, view)
        return view

    async def _cache(self, global_id: str, view: dict[str, Any]) -> None:
        """Keep the last regional answer for down-region shows and lists."""
        cached = {k: view.get(k) for k in ("status", "fixed_ips", "device_id",
                                          "device_owner", "binding:host_id", "mac_address")}
        async with self._sessions.begin() as session:
            res = await session.get(Resource, global_id)
            if res is not None and res.attrs.get("cached") != cached:
                res.attrs = {**res.attrs, "cached": cached}

    async def list_ports(self, ctx: RequestContext, filters: dict[str, list[str]]
                         ) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
        """Every port the caller may see, by where the answer came from (each region,
        then :data:`OWN_ROWS` for ports no region showed: not yet made, or in a
        region that failed, from their last known state); and the regions that
        failed. The query engine merges, filters and pages.

        Each region holding one of the caller's networks or ports is asked in
        parallel, within its deadline, for the ports on Cascade's networks there.
        """
        async with self._sessions() as session:
            rows = await records.of_types(session, ctx, [PORT])
            nets = await records.of_types(session, ctx, [NETWORK])
            placed = await records.placements(
                session, [r.global_id for r in rows] + [n.global_id for n in nets])
        by_region: dict[str, list[str]] = {}
        for net in nets:
            for region, pl in placed[net.global_id].items():
                if pl.local_id:
                    by_region.setdefault(region, []).append(pl.local_id)
        params_base: dict[str, Any] = {}
        for key in ("device_owner", "mac_address", "status", "name"):
            if key in filters and len(filters[key]) == 1:
                params_base[key] = filters[key][0]

        async def ask(region: str) -> list[dict[str, Any]]:
            return await self._regional(ctx, region, [
                *params_base.items(), *(("network_id", n) for n in by_region[region])])

        results = await scatter_gather(list(by_region), ask,
                                       timeout=self._conf.api.region_timeout)
        good, bad = split_results(results)
        out: dict[str, list[dict[str, Any]]] = {}
        seen: set[str] = set()
        tags = {r.global_id: r.attrs.get("tags") for r in rows}
        released = {r.global_id for r in rows if r.attrs.get("released_by")}
        for region, ports in good.items():
            to_global = await self._ids.global_ids(region, ports)
            mapped = await self._ids.mapped_ports(region, ports)
            adopt = [p for p in ports if p["id"] not in mapped]
            if adopt:
                mapped.update(await self._ids.adopt(region, adopt))
            seen.update(mapped[port["id"]] for port in ports)
            out[region] = [views.regional_port(port, mapped[port["id"]], to_global,
                                               tags.get(mapped[port["id"]]))
                           for port in ports if mapped[port["id"]] not in released]
        failed = sorted(f.region for f in bad)
        out[OWN_ROWS] = []
        for res in rows:
            if res.global_id in seen or res.global_id in released:
                continue
            where = [p for p in placed[res.global_id].values() if p.local_id]
            if not where:
                out[OWN_ROWS].append(views.deferred_port(ctx, res))
            elif where[0].region in failed:
                out[OWN_ROWS].append({**views.deferred_port(ctx, res),
                                      **res.attrs.get("cached", {}), "id": res.global_id})
        return out, failed

    # -- update and delete -------------------------------------------------

    async def update(self, ctx: RequestContext, global_id: str, body: Any) -> dict[str, Any]:
        changes = specs.update(PORT, body)
        async with self._sessions.begin() as session:
            res = await records.get_for_update(session, ctx, PORT, global_id)
            ctx.can("update_port", {"project_id": res.project_id})
            placed = (await records.placements(session, [global_id]))[global_id]
            for group in changes.get("security_groups") or []:
                await records.get(session, ctx, SECURITY_GROUP, group)
            pl = next((p for p in placed.values() if p.local_id), None)
            before = list(res.attrs.get("fixed_ips") or [])
            if "fixed_ips" in changes:
                # Neutron replaces the port's addresses with those asked for.
                await ipam.release(session, global_id)
                network = await records.get(session, None, NETWORK, res.attrs["network_id"])
                changes["fixed_ips"] = await self._addresses(
                    session, network, res.attrs, global_id, requested=changes["fixed_ips"])
            if pl is None:
                res.attrs = {**res.attrs, **changes, "updated_at": records.now(),
                             "revision_number": res.attrs.get("revision_number", 0) + 1}
                return views.deferred_port(ctx, res)
        regional = dict(changes)
        if "security_groups" in regional:
            regional["security_groups"] = [
                await self._placer.ensure_security_group(ctx, g, pl.region)
                for g in regional["security_groups"]]
        if regional.get("device_id"):
            async with self._sessions() as session:
                server = await records.placement_in(session, regional["device_id"], pl.region)
            if server is not None and server.local_id:
                regional["device_id"] = server.local_id
        if "fixed_ips" in regional:
            regional["fixed_ips"] = await self._placer.regional_fixed_ips(
                regional["fixed_ips"], pl.region, res.attrs["network_id"])
        try:
            await self._client.request(ctx, pl.region, "network", "PUT",
                                       f"{REGIONAL_PATH[PORT]}/{pl.local_id}",
                                       json={"port": regional})
        except (errors.RegionError, errors.ClientError):
            if "fixed_ips" in changes:
                async with self._sessions.begin() as session:
                    await ipam.restore(session, global_id, res.attrs["network_id"], before)
            raise
        async with self._sessions.begin() as session:
            row = await session.get(Resource, global_id)
            if row is not None:
                row.attrs = {**row.attrs, **changes, "updated_at": records.now(),
                             "revision_number": row.attrs.get("revision_number", 0) + 1}
        return await self.show(ctx, global_id)

    async def delete(self, ctx: RequestContext, global_id: str) -> None:
        async with self._sessions() as session:
            res = await records.get(session, ctx, PORT, global_id)
            ctx.can("delete_port", {"project_id": res.project_id})
            placed = (await records.placements(session, [global_id]))[global_id]
        await self._placer.delete_copies(ctx, res, placed)
        async with self._sessions.begin() as session:
            await forget(session, global_id)
