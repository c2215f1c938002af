"""Server operations across regions: create, show, list, delete.

The mapping row is written (placement *creating*) before the regional create,
so a crash between the two leaves a trace the reconciler resolves. Regional
answers are rewritten to global ids and Cascade links before anyone sees them.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable

from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.compute import server_schema
from cascade import errors
from cascade.bus import Waker
from cascade.context import RequestContext
from cascade.db.models import PlacementState, Placement, Resource
from cascade.regions.client import RegionClient
from cascade.regions.fanout import merge_sorted, scatter_gather, split_results
from cascade.regions.registry import RegionInfo, RegionRegistry
from mapping import rewrite, store

__all__ = ["Servers", "ListResult"]

LOG = logging.getLogger(__name__)

SERVER = "server"


class ListResult:
    """A merged server list and the regions that could not answer."""

    def __init__(self, servers: list[dict[str, Any]], failed: list[str]) -> None:
        self.servers = servers
        self.failed = failed


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Servers:
    """The compute logic behind the server handlers; no HTTP in here."""

    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 registry: RegionRegistry, client: RegionClient,
                 waker: Callable[[], Waker] | None = None) -> None:
        self._conf = conf
        self._sessions = sessions
        self._registry = registry
        self._client = client
        self._waker = waker

    # -- region choice -----------------------------------------------------

    def choose_region(self, zone: str | None) -> RegionInfo:
        """The region for a new server: by Cascade availability zone, else the default.

        :raises BadRequest: unknown availability zone.
        :raises ServiceUnavailable: the zone's region is down or disabled, or none is usable.
        """
        if zone:
            region = self._registry.by_availability_zone(zone)
            if region is None:
                raise errors.BadRequest(
                    f"The requested availability zone is not available: {zone}")
            if not region.usable:
                raise errors.ServiceUnavailable(
                    f"Availability zone {zone} (region {region.name}) is "
                    f"{'disabled' if not region.enabled else 'down'}; try another zone.")
            return region
        default = self._conf.api.default_availability_zone
        if default:
            region = self._registry.by_availability_zone(default)
            if region is not None and region.usable:
                return region
        usable = self._registry.usable()
        if not usable:
            raise errors.ServiceUnavailable("No region is available to place the server.")
        return usable[0]

    # -- create ------------------------------------------------------------

    async def create(self, ctx: RequestContext, body: Any, microversion: str,
                     cascade_base: str) -> dict[str, Any]:
        """Create one server; answer the body Nova would, with global ids.

        :raises BadRequest: invalid request or the region refused its content.
        :raises ServiceUnavailable: the region is down or did not answer.
        """
        server = server_schema.validate_create(body)
        region = self.choose_region(server.get("availability_zone"))
        global_id = store.new_global_id()
        spec = {k: v for k, v in server.items() if k != "adminPass"}
        attrs = {"name": server["name"], "created": _now_iso(),
                 "flavor_id": server.get("flavorRef"), "image_id": server.get("imageRef"),
                 "availability_zone": region.availability_zone}
        async with self._sessions.begin() as session:
            _, placement = store.create_resource(
                session, global_id=global_id, type_=SERVER, project_id=ctx.project_id,
                user_id=ctx.user_id, region=region.name, spec=spec, attrs=attrs,
                status="BUILD")
        placement_id = placement.id

        regional = dict(server)
        regional["metadata"] = {**server.get("metadata", {}), rewrite.GLOBAL_ID_KEY: global_id}
        regional.pop("availability_zone", None)
        if region.local_availability_zone:
            regional["availability_zone"] = region.local_availability_zone
        try:
            resp = await self._client.post(ctx, region.name, "compute", "/servers",
                                           json={"server": regional},
                                           microversion=microversion)
        except errors.RegionHTTPError as exc:
            if exc.status < 500:
                # The region refused the request itself: nothing was created there.
                await self._forget(global_id)
            else:
                await self._mark_error(global_id, exc.message)
            raise
        except errors.RegionError as exc:
            if not exc.request_sent:
                await self._forget(global_id)
            else:
                # We do not know whether the region created it; the placement stays
                # *creating* so the audit can adopt or clean up what the region holds.
                await self._mark_error(global_id, exc.message)
            raise errors.ServiceUnavailable(
                f"Region {region.name} did not complete the create: {exc.message}") from exc
        created = (resp.body or {}).get("server") or {}
        local_id = created.get("id")
        if not local_id:
            await self._mark_error(global_id, "region answered without a server id")
            raise errors.ServiceUnavailable(f"Region {region.name} answered without an id")
        async with self._sessions.begin() as session:
            await store.activate(session, placement_id, local_id)
        base = self._client.base_url(region.name, "compute")
        return rewrite.server_to_global(created, global_id, base, cascade_base)

    async def _forget(self, global_id: str) -> None:
        async with self._sessions.begin() as session:
            await store.remove(session, global_id)

    async def _mark_error(self, global_id: str, message: str) -> None:
        async with self._sessions.begin() as session:
            res = await session.get(Resource, global_id)
            if res is not None:
                res.status = "ERROR"
                res.attrs = {**res.attrs, "fault": {"code": 500, "message": message,
                                                    "created": _now_iso()}}

    # -- show --------------------------------------------------------------

    async def _resolve(self, ctx: RequestContext, global_id: str) -> tuple[Resource, Placement]:
        async with self._sessions() as session:
            try:
                return await store.resolve(session, SERVER, global_id,
                                           None if ctx.is_admin else ctx.project_id)
            except errors.MappingNotFound:
                raise errors.NotFound(f"Instance {global_id} could not be found.") from None

    async def show(self, ctx: RequestContext, global_id: str, microversion: str,
                   cascade_base: str) -> dict[str, Any]:
        """The server as its region reports it, with global ids.

        :raises NotFound: unknown, other project's, or gone from its region.
        :raises RegionError: the region is down or did not answer.
        """
        res, pl = await self._resolve(ctx, global_id)
        if pl.local_id is None:
            return self._from_spec(res, cascade_base)
        try:
            resp = await self._client.get(ctx, pl.region, "compute", f"/servers/{pl.local_id}",
                                          microversion=microversion)
        except errors.RegionHTTPError as exc:
            if exc.status == 404:
                if pl.state == PlacementState.DELETING:
                    await self._forget(global_id)
                raise errors.NotFound(f"Instance {global_id} could not be found.") from None
            raise
        region = self._registry.get(pl.region)
        return rewrite.server_to_global(
            resp.body["server"], global_id, self._client.base_url(pl.region, "compute"),
            cascade_base, availability_zone=region.availability_zone if region else None)

    def _from_spec(self, res: Resource, cascade_base: str) -> dict[str, Any]:
        """A server whose regional create has not answered yet (or failed)."""
        link = f"{cascade_base}/servers/{res.global_id}"
        body: dict[str, Any] = {
            "id": res.global_id, "name": res.attrs.get("name", ""), "status": res.status,
            "tenant_id": res.project_id, "user_id": res.user_id,
            "metadata": res.spec.get("metadata", {}), "created": res.attrs.get("created"),
            "updated": res.attrs.get("created"), "addresses": {},
            "image": {"id": res.attrs.get("image_id")} if res.attrs.get("image_id") else "",
            "flavor": {"id": res.attrs.get("flavor_id")},
            "OS-EXT-AZ:availability_zone": res.attrs.get("availability_zone", ""),
            "links": [{"rel": "self", "href": link},
                      {"rel": "bookmark", "href": link.replace("/v2.1/", "/")}],
        }
        if "fault" in res.attrs:
            body["fault"] = res.attrs["fault"]
        return body

    # -- list --------------------------------------------------------------

    async def list_servers(self, ctx: RequestContext, *, detail: bool, params: dict[str, str],
                   microversion: str, cascade_base: str) -> ListResult:
        """Servers from every region the project uses, asked in parallel and merged.

        Regional servers Cascade does not map are hidden. Regions that fail or
        time out are reported in ``failed``.
        """
        all_tenants = ctx.is_admin and params.get("all_tenants") not in (None, "0", "false",
                                                                          "False")
        project = None if all_tenants else ctx.project_id
        async with self._sessions() as session:
            regions = await store.regions_of_project(session, SERVER, project)
            pending = await store.pending_of_project(session, SERVER, project)
        # Always ask for details: the merge needs ``created`` to order the streams.
        path = "/servers/detail"
        fwd = {k: v for k, v in params.items() if k not in ("limit", "marker")}

        async def ask(region: str) -> list[dict[str, Any]]:
            resp = await self._client.get(ctx, region, "compute", path, params=fwd,
                                          microversion=microversion)
            return list((resp.body or {}).get("servers", []))

        results = await scatter_gather(regions, ask, timeout=self._conf.api.region_timeout)
        good, failed = split_results(results)
        streams: list[list[dict[str, Any]]] = []
        async with self._sessions() as session:
            for region, servers in good.items():
                mapped = await store.resolve_local_ids(
                    session, SERVER, region, (s["id"] for s in servers), project)
                streams.append(self._to_global(region, servers, mapped, cascade_base))
        merged = list(merge_sorted(streams, key=_sort_key, reverse=True))
        building = [self._from_spec(res, cascade_base) for res, _ in pending]
        servers = building + merged
        if not detail:
            servers = [{k: s.get(k) for k in ("id", "name", "links")} for s in servers]
        return ListResult(servers, [f.region for f in failed])

    def _to_global(self, region: str, servers: list[dict[str, Any]],
                   mapped: dict[str, tuple[Resource, Placement]],
                   cascade_base: str) -> list[dict[str, Any]]:
        base = self._client.base_url(region, "compute")
        info = self._registry.get(region)
        zone = info.availability_zone if info else None
        out = []
        for server in servers:
            hit = mapped.get(server["id"])
            if hit is None:
                continue
            out.append(rewrite.server_to_global(server, hit[0].global_id, base, cascade_base,
                                                availability_zone=zone))
        # Regions sort by their own internal id on ties; re-sort on (created, global id)
        # so every stream is ordered on exactly the merge key.
        out.sort(key=_sort_key, reverse=True)
        return out

    # -- delete ------------------------------------------------------------

    async def delete(self, ctx: RequestContext, global_id: str, microversion: str) -> None:
        """Ask the region to delete; the mapping goes once the region no longer has it.

        :raises NotFound: unknown or other project's server.
        :raises Conflict: the regional create has not answered yet.
        """
        res, pl = await self._resolve(ctx, global_id)
        if pl.local_id is None:
            if res.status == "ERROR":
                await self._forget(global_id)
                return
            raise errors.Conflict(f"Cannot 'delete' instance {global_id} while it is "
                                  "being created in its region.")
        try:
            await self._client.delete(ctx, pl.region, "compute", f"/servers/{pl.local_id}",
                                      microversion=microversion)
        except errors.RegionHTTPError as exc:
            if exc.status != 404:
                raise
            await self._forget(global_id)
            return
        async with self._sessions.begin() as session:
            row = await session.get(Placement, pl.id)
            if row is not None:
                row.state = PlacementState.DELETING
            r = await session.get(Resource, global_id)
            if r is not None:
                r.status = "DELETED"
        if self._waker is not None:
            await self._waker().wake("deletes")


def _sort_key(server: dict[str, Any]) -> tuple[str, str]:
    # Nova's default order is created_at descending; the global id breaks ties so
    # the merge across regions is total and stable.
    return (server.get("created") or "", server["id"])
