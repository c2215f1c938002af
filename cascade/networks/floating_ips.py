"""Floating IPs: made at once in the region of their external network.

A floating IP's address comes from its region (the external network is the
region's), so it is created there when the tenant asks, as the tenant, and
recorded with a global id. It can only be associated with a port in that same
region: a port in another region is refused with a 400 that says why; a port
in no region yet is made present there first. Its answers are the region's,
in global ids, and its last answer is kept for when the region is down.
"""
from __future__ import annotations

import logging
from typing import Any

from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.context import RequestContext
from cascade.crashpoints import crash_point
from cascade.db.models import Resource
from cascade.listing.narrow import Narrow
from cascade.mapping import store
from cascade.networks import external, faults, records, specs
from cascade.networks.placer import REGIONAL_PATH, Placer
from cascade.networks.records import FLOATINGIP, NETWORK, PORT, ROUTER, SUBNET
from cascade.networks.router_converge import RouterConverger
from cascade.quota import ledger
from cascade.quota.forget import forget
from cascade.regions import paths

__all__ = ["FloatingIps"]

LOG = logging.getLogger(__name__)

_PATH = REGIONAL_PATH[FLOATINGIP]


class FloatingIps:
    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 placer: Placer, quota_defaults: Any, quota_ttl: float,
                 converger: RouterConverger) -> None:
        self._conf = conf
        self._converger = converger
        self._sessions = sessions
        self._placer = placer
        self._client = placer.client
        self._quota_defaults = quota_defaults
        self._ttl = quota_ttl

    # -- ids both ways -----------------------------------------------------

    async def _port_in(self, ctx: RequestContext, port_id: str, region: str,
                       network_id: str) -> str:
        """The regional id of a port the floating IP may point at, in ``region``.

        :raises BadRequest: the port lives in another region.
        """
        async with self._sessions() as session:
            port = await records.get(session, ctx, PORT, port_id)
            placed = (await records.placements(session, [port_id]))[port_id]
        where = [r for r, pl in placed.items() if pl.local_id]
        if where and region not in where:
            raise faults.bad_request(
                f"Port {port_id} is in region {where[0]}, but floating IPs of network "
                f"{network_id} are in region {region}: a floating IP can only be "
                "associated with a port in its own region")
        if region in where:
            return str(placed[region].local_id)
        local = await self._placer.ensure_port(ctx, port.global_id, region)
        # The port's network may be new in the region: its routers must follow
        # before the region can find the port's way to the external network.
        try:
            await self._converger.converge(port.project_id)
        except errors.RegionError as exc:
            LOG.warning("routers of %s not in step before a floating IP: %s",
                        port.project_id, exc.message)
        return local

    async def _view(self, region: str, regional: dict[str, Any], res: Resource
                    ) -> dict[str, Any]:
        """A regional floating IP in global ids."""
        async with self._sessions() as session:
            ids: dict[str, str] = {}
            for type_, local in ((NETWORK, regional.get("floating_network_id")),
                                 (PORT, regional.get("port_id")),
                                 (ROUTER, regional.get("router_id"))):
                if local:
                    found = await store.map_local_ids(session, type_, region, [local], None)
                    ids.update({k: v[0] for k, v in found.items()})
            details = regional.get("port_details")
            if isinstance(details, dict):
                found = await store.map_local_ids(
                    session, NETWORK, region, [details.get("network_id") or ""], None)
                servers = await store.map_local_ids(
                    session, "server", region, [details.get("device_id") or ""], None)
                details = {**details,
                           "network_id": found.get(details.get("network_id") or "",
                                                   (details.get("network_id"),))[0],
                           "device_id": servers.get(details.get("device_id") or "",
                                                    (details.get("device_id"),))[0]}
        out = dict(regional)
        out.update(
            id=res.global_id, project_id=res.project_id, tenant_id=res.project_id,
            floating_network_id=res.attrs["floating_network_id"],
            port_id=ids.get(regional.get("port_id") or "") if regional.get("port_id")
            else None,
            router_id=ids.get(regional.get("router_id") or "") if regional.get("router_id")
            else None,
            port_details=details, tags=list(res.attrs.get("tags") or []))
        return out

    async def _keep(self, global_id: str, view: dict[str, Any]) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(Resource, global_id)
            if row is not None:
                row.attrs = {**row.attrs, "cached": view, "port_id": view.get("port_id"),
                             "router_id": view.get("router_id")}

    # -- the API -----------------------------------------------------------

    async def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        obj = specs.checked(FLOATINGIP, body)
        owner = str(obj.get("project_id") or obj.get("tenant_id") or ctx.project_id)
        ctx.can("create_floatingip", {"project_id": owner})
        if not obj.get("floating_network_id"):
            raise faults.bad_request("Failed to parse request. Required attribute "
                                     "'floating_network_id' not specified")
        async with self._sessions() as session:
            net = await records.get(session, ctx, NETWORK, str(obj["floating_network_id"]))
            region = await external.region_of(session, net.global_id)
            if region is None:
                raise faults.refused("BadRequest",
                    f"Bad floatingip request: Network {net.global_id} is not a valid "
                    "external network.")
            net_local = (await records.placement_in(session, net.global_id, region))
            sub_local = None
            if obj.get("subnet_id"):
                await records.get(session, ctx, SUBNET, str(obj["subnet_id"]))
                pl = await records.placement_in(session, str(obj["subnet_id"]), region)
                sub_local = pl.local_id if pl is not None else None
        assert net_local is not None and net_local.local_id
        regional: dict[str, Any] = {"floating_network_id": net_local.local_id}
        for key in ("fixed_ip_address", "floating_ip_address", "description",
                    "dns_name", "dns_domain"):
            if key in obj:
                regional[key] = obj[key]
        if sub_local:
            regional["subnet_id"] = sub_local
        if obj.get("port_id"):
            regional["port_id"] = await self._port_in(ctx, str(obj["port_id"]), region,
                                                      net.global_id)
        async with self._sessions.begin() as session:
            reservation = await ledger.reserve(session, owner, {"floatingip": 1},
                                               ttl=self._ttl, defaults=self._quota_defaults)
        gid = store.new_global_id()
        attrs = {"floating_network_id": net.global_id, "tags": list(obj.get("tags") or [])}
        try:
            # Recorded first (placement creating), so a crash before the region
            # answers leaves a row the audit resolves by the regional object's tag.
            async with self._sessions.begin() as session:
                res, pl = store.create_resource(
                    session, global_id=gid, type_=FLOATINGIP, project_id=owner,
                    user_id=ctx.user_id, region=region, spec={}, attrs=attrs,
                    status="DOWN", usage={"floatingip": 1})
                await ledger.commit(session, reservation)
        except BaseException:
            async with self._sessions.begin() as session:
                await ledger.release(session, reservation)
            raise
        try:
            local = await self._placer._create(ctx if owner == ctx.project_id else None,
                                               res, region, regional)
        except (errors.RegionError, errors.ClientError):
            async with self._sessions.begin() as session:
                await forget(session, gid)
            raise
        crash_point("floatingip.regional_created")
        async with self._sessions.begin() as session:
            row = await records.placement_in(session, gid, region)
            if row is not None:
                await store.activate(session, row.id, local)
        return await self.show(ctx, gid)

    async def _where(self, ctx: RequestContext, global_id: str) -> tuple[Resource, str, str]:
        async with self._sessions() as session:
            res = await records.get(session, ctx, FLOATINGIP, global_id)
            placed = (await records.placements(session, [global_id]))[global_id]
        pl = next((p for p in placed.values() if p.local_id), None)
        if pl is None:
            raise faults.not_found(FLOATINGIP, global_id)
        return res, pl.region, str(pl.local_id)

    async def show(self, ctx: RequestContext, global_id: str) -> dict[str, Any]:
        res, region, local = await self._where(ctx, global_id)
        try:
            resp = await self._client.get(self._placer.caller(ctx, res), region, "network",
                                          paths.build("v2.0", "floatingips", local))
        except errors.RegionHTTPError as exc:
            if exc.status == 404:
                raise faults.not_found(FLOATINGIP, global_id) from exc
            raise
        except errors.RegionError:
            cached = res.attrs.get("cached")
            if cached:
                return dict(cached)
            raise
        view = await self._view(region, resp.body["floatingip"], res)
        if res.attrs.get("cached") != view:
            await self._keep(global_id, view)
        return view

    async def list_all(self, ctx: RequestContext, narrow: Narrow | None = None
                       ) -> list[dict[str, Any]]:
        """The caller's floating IPs, as last seen (refreshed by each show and change)."""
        async with self._sessions() as session:
            rows = await records.of_types(session, ctx, [FLOATINGIP], narrow)
        out = []
        for row in rows:
            view = row.attrs.get("cached")
            if not view:
                # Never shown yet (adopted by the audit after a crash): ask its region.
                try:
                    view = await self.show(ctx, row.global_id)
                except (errors.RegionError, errors.NotFound):
                    continue
            out.append({**view, "tags": list(row.attrs.get("tags") or [])})
        return out

    async def update(self, ctx: RequestContext, global_id: str, body: Any) -> dict[str, Any]:
        changes = specs.update(FLOATINGIP, body)
        res, region, local = await self._where(ctx, global_id)
        ctx.can("update_floatingip", {"project_id": res.project_id})
        regional = dict(changes)
        if changes.get("port_id"):
            regional["port_id"] = await self._port_in(ctx, str(changes["port_id"]), region,
                                                      res.attrs["floating_network_id"])
        resp = await self._client.request(self._placer.caller(ctx, res), region, "network",
                                          "PUT", paths.build("v2.0", "floatingips", local),
                                          json={"floatingip": regional})
        view = await self._view(region, resp.body["floatingip"], res)
        await self._keep(global_id, view)
        return view

    async def delete(self, ctx: RequestContext, global_id: str) -> None:
        res, region, local = await self._where(ctx, global_id)
        ctx.can("delete_floatingip", {"project_id": res.project_id})
        try:
            await self._client.delete(self._placer.caller(ctx, res), region, "network",
                                      paths.build("v2.0", "floatingips", local))
        except errors.RegionHTTPError as exc:
            if exc.status != 404:
                raise
        async with self._sessions.begin() as session:
            await forget(session, global_id)
