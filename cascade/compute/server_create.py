"""Server create: admission, mapping first, regional create, NoValidHost fallback.

For each server the mapping is written (placement *creating*) before the
regional create, so a crash between the two leaves a row the audit resolves.
``min_count``/``max_count`` create that many servers, each with its own global
id, named as Nova names them (``name-1``...), sharing one reservation id.

Admission is ``server_admission``'s, the create in the region
``regional_create``'s, the NoValidHost fallback ``build_watch``'s. A server
whose image must reach its region first is answered at once; the
``server_build`` job (queued with the mapping) creates it later.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any, Awaitable, Callable

from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.compute.host_hints import HostHints
from cascade.compute import server_cache, server_schema
from cascade.compute.build_watch import BuildWatcher
from cascade.compute.keypair_ops import Keypairs
from cascade.compute.region_choice import RegionChooser
from cascade.compute.regional_create import forget_server, now_iso, regional_create
from cascade.compute.server_groups import ServerGroups
from cascade.compute.server_admission import Admission
from cascade.compute.server_cache import SERVER
from cascade.networks.ports import Ports
from cascade.quota import ledger
from cascade.quota.service import QuotaService
from cascade import errors
from cascade.crashpoints import crash_point
from cascade.context import RequestContext
from cascade.db.models import Placement, Resource
from cascade.images import records as image_records
from cascade.images import store as image_store
from cascade.images.service import ImageService
from cascade.sealing import SEALED_KEY, sealer_for
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionInfo
from cascade.mapping import rewrite, store
from cascade.jobs import queue as jobs

__all__ = ["ServerCreator", "SEALED_FIELDS", "with_image"]

LOG = logging.getLogger(__name__)

#: Job kind: create a server once its image has reached the region.
BUILD = "server_build"
#: Fields of a create request a deferred build keeps sealed (cascade.sealing).
SEALED_FIELDS = ("adminPass", "user_data")


class ServerCreator:
    """Server creates, from the request to Nova's answer (``Servers.create``)."""

    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 client: RegionClient, chooser: RegionChooser, keypairs: Keypairs,
                 images: ImageService, wake: Callable[[str], Awaitable[None]], *,
                 ports: Ports, quotas: QuotaService,
                 groups: ServerGroups | None = None) -> None:
        self._conf = conf
        self._groups = groups
        self._ports = ports
        self._quotas = quotas
        self._sessions = sessions
        self._client = client
        self._keypairs = keypairs
        self._images = images
        self._wake = wake
        self._admission = Admission(sessions, chooser, ports, quotas)
        self._builds = BuildWatcher(conf, sessions, client, keypairs)
        self._sealer = sealer_for(conf)

    async def close(self) -> None:
        """Stop build watchers (their servers keep their current region)."""
        await self._builds.close()

    async def create(self, ctx: RequestContext, body: Any, microversion: str,
                     cascade_base: str) -> dict[str, Any]:
        """Create the requested server(s); the body Nova answers, with global ids.

        :raises BadRequest: invalid request or the region refused its content.
        :raises ServiceUnavailable: the region is down or did not answer.
        """
        server = server_schema.validate_create(body)
        hints = server_schema.scheduler_hints(body)
        want_reservation = bool(server.pop("return_reservation_id", False))
        low, high = server_schema.counts(server)
        await self._admission.check_metadata(ctx, server.get("metadata") or {})
        candidates = await self._admission.candidates(ctx, server)
        group = hints.get("group") if self._groups is not None else None
        if group:
            candidates = await self._in_group_region(ctx, str(group), candidates)
        hosts = await HostHints.resolve(self._sessions, ctx, hints)
        pinned = hosts.regions()
        if pinned is not None:
            candidates = [c for c in candidates if c.name in pinned]
            if not candidates:
                raise errors.Conflict(f"The region of the same_host servers "
                                      f"({', '.join(sorted(pinned))}) cannot take this "
                                      "server now.")
        region = candidates[0]
        per_server = await self._admission.usage(ctx, region.name, server.get("flavorRef"))
        reservations = await self._admission.reserve(ctx, per_server, low, high)
        crash_point("server_create.reserved")
        high = len(reservations)
        global_networks = server.get("networks")
        try:
            await self._prepare_region(ctx, region.name, server)
            hints = hosts.for_region(region.name)
            if group and self._groups is not None:
                hints = {**hints, "group": await self._groups.in_region(ctx, str(group),
                                                                        region.name)}
            if hints:
                server[server_schema.HINTS_KEY] = hints
        except BaseException:
            await self._admission.release(reservations)
            raise
        if not server.get("adminPass"):
            # Nova mints one too; minting it here means Cascade can hand it back even
            # when the regional create is deferred.
            server["adminPass"] = secrets.token_urlsafe(12)
        reservation = f"r-{secrets.token_hex(4)}"
        names = ([server["name"]] if high == 1 else
                 [f"{server['name']}-{i}" for i in range(1, high + 1)])
        fallbacks = candidates[1:] if len(candidates) > 1 and global_networks in (
            None, "auto", "none") else []
        results = await asyncio.gather(
            *(self._create_one(ctx, {**server, "name": name}, region, microversion,
                               cascade_base, reservation, fallbacks,
                               quota=(held, per_server))
              for name, held in zip(names, reservations)), return_exceptions=True)
        made = [r for r in results if isinstance(r, dict)]
        failures = [r for r in results if isinstance(r, BaseException)]
        if len(made) < low:
            for r in made:
                await self._undo(ctx, r["id"])
            raise failures[0]
        for failure in failures:
            LOG.warning("%s one of %d servers failed: %s", ctx.request_id, high, failure)
        if want_reservation:
            return {"reservation_id": reservation}
        return made[0]

    async def _in_group_region(self, ctx: RequestContext, group: str,
                               candidates: list[RegionInfo]) -> list[RegionInfo]:
        """Only the server group's region, once it has one.

        :raises Conflict: that region cannot take this server now.
        """
        assert self._groups is not None
        home = await self._groups.region_of(ctx, group)
        if home is None:
            return candidates
        kept = [c for c in candidates if c.name == home]
        if not kept:
            raise errors.Conflict(f"The server group's region ({home}) cannot take this "
                                  "server now.")
        return kept

    async def _prepare_region(self, ctx: RequestContext, region: str,
                              server: dict[str, Any]) -> None:
        """Make ready in the region what the request names: networks, ports,
        security groups, the keypair."""
        # Networks are instantiated and ports materialised in the region first;
        # the request then names them by their regional ids.
        global_networks = server.get("networks")
        if global_networks is not None:
            server["networks"] = await self._ports.boot.for_boot(ctx, region, global_networks)
        if server.get("security_groups"):
            server["security_groups"] = await self._ports.boot.groups_for_boot(
                ctx, region, server["security_groups"])
        elif global_networks != "none":
            # Nova gives the server's ports the region's "default" group: it
            # must hold the rules the project's default group has here.
            await self._ports.boot.groups_for_boot(ctx, region, [{"name": "default"}])
        if server.get("key_name"):
            await self._keypairs.ensure_in_region(ctx, server["key_name"], region)

    async def _create_one(self, ctx: RequestContext, server: dict[str, Any],
                          region: RegionInfo, microversion: str, cascade_base: str,
                          reservation: str, fallbacks: list[RegionInfo], *,
                          quota: tuple[str, dict[str, int]]) -> dict[str, Any]:
        global_id = store.new_global_id()
        spec = {k: v for k, v in server.items() if k != "adminPass"}
        attrs = {"name": server["name"], "created": now_iso(),
                 "flavor_id": server.get("flavorRef"), "image_id": server.get("imageRef"),
                 "availability_zone": region.availability_zone,
                 "reservation_id": reservation}
        image_id = _image_of(server)
        held, usage = quota
        try:
            async with self._sessions.begin() as session:
                res, placement = store.create_resource(
                    session, global_id=global_id, type_=SERVER, project_id=ctx.project_id,
                    user_id=ctx.user_id, region=region.name, spec=spec, attrs=attrs,
                    status="BUILD", usage=usage)
                if not await ledger.commit(session, held):
                    # The reservation expired meanwhile: count the server anyway.
                    await ledger.charge(session, ctx.project_id, usage,
                                        defaults=self._quotas.defaults, check=False)
                if "networks" in server:
                    server = {**server, "networks": await self._ports.boot.with_addresses(
                        session, global_id, server["networks"])}
                deferred, server = await self._prepare_image(session, ctx, image_id,
                                                             region.name, server)
                if deferred:
                    await self._enqueue_build(session, ctx, global_id, region, image_id,
                                              server, microversion)
        except BaseException:
            async with self._sessions.begin() as session:
                await ledger.release(session, held)
            raise
        return await self._after_record(ctx, res, placement, global_id, server, region,
                                        microversion, cascade_base, fallbacks, deferred)

    async def _prepare_image(self, session: AsyncSession, ctx: RequestContext,
                             image_id: str | None, region: str,
                             server: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """(whether the build waits for the image's replica, the request in the
        region's image id); the replication is queued in this transaction."""
        if not image_id:
            return False, server
        local_image = await self._image_ready(session, ctx, image_id, region)
        if local_image and local_image != image_id:
            server = with_image(server, image_id, local_image)
        return local_image is None, server

    async def _enqueue_build(self, session: AsyncSession, ctx: RequestContext,
                             global_id: str, region: RegionInfo, image_id: str | None,
                             server: dict[str, Any], microversion: str) -> None:
        # NOTE: the build acts as the caller (the regional server is theirs), so
        # it carries their token, sealed with adminPass and user_data; it calls
        # the region with Cascade's service token too, which keeps an expired
        # user token valid there (keystonemiddleware's allow_expired).
        hidden = {"auth_token": ctx.auth_token,
                  **{k: server[k] for k in SEALED_FIELDS if k in server}}
        await jobs.enqueue(session, BUILD, {
            "server_id": global_id, "region": region.name, "image_id": image_id,
            "server": {k: v for k, v in server.items() if k not in SEALED_FIELDS},
            "microversion": microversion, SEALED_KEY: self._sealer.seal(hidden),
            "ctx": {"request_id": ctx.request_id, "project_id": ctx.project_id,
                    "user_id": ctx.user_id, "roles": list(ctx.roles)}})

    async def _after_record(self, ctx: RequestContext, res: Resource, placement: Placement,
                            global_id: str, server: dict[str, Any], region: RegionInfo,
                            microversion: str, cascade_base: str,
                            fallbacks: list[RegionInfo], deferred: bool) -> dict[str, Any]:
        if deferred:
            await self._wake("jobs")
            out = server_cache.spec_view(res, cascade_base)
            out = {k: out[k] for k in ("id", "links")}
            out.update({"adminPass": server["adminPass"], "OS-DCF:diskConfig": "MANUAL",
                        "security_groups": [{"name": g.get("name", "default")} for g in
                                            server.get("security_groups") or [
                                                {"name": "default"}]]})
            return out
        crash_point("server_create.mapped")
        created = await regional_create(self._sessions, self._client, ctx, global_id,
                                        placement.id, region, server, microversion,
                                        owner=self._conf.cascade_id)
        if fallbacks and self._conf.api.build_watch_seconds > 0:
            self._builds.watch(ctx, global_id, server, fallbacks, microversion)
        base = self._client.base_url(region.name, "compute")
        out = rewrite.server_to_global(created, global_id, base, cascade_base)
        out["adminPass"] = server["adminPass"]
        return out

    async def _image_ready(self, session: AsyncSession, ctx: RequestContext, image_id: str,
                           region: str) -> str | None:
        """The image's id in the region; None after queueing its replication (same txn).

        Images Cascade does not know are left to the region to judge.

        :raises BadRequest: the image is not visible to the caller or not active.
        """
        try:
            res, placements = await image_store.get_image(session, image_id)
        except errors.NotFound:
            return image_id
        if not image_records.visible(ctx, res):
            raise errors.BadRequest(f"Image {image_id} could not be found.")
        if res.status != "active":
            raise errors.BadRequest(f"Image {image_id} is not active.")
        return await self._images.ensure_replica(session, res, placements, region)

    async def _undo(self, ctx: RequestContext, global_id: str) -> None:
        async with self._sessions() as session:
            try:
                _, pl = await store.resolve(session, SERVER, global_id, None)
            except errors.MappingNotFound:
                return
        if pl.local_id:
            try:
                await self._client.delete(ctx, pl.region, "compute", f"/servers/{pl.local_id}")
            except errors.RegionError as exc:
                LOG.warning("could not undo server %s: %s", global_id, exc.message)
                return
        await forget_server(self._sessions, global_id)


def _image_of(server: dict[str, Any]) -> str | None:
    """The image a server boots from: imageRef, or a block device mapping's source."""
    if server.get("imageRef"):
        return str(server["imageRef"])
    for bdm in server.get("block_device_mapping_v2") or []:
        if isinstance(bdm, dict) and bdm.get("source_type") == "image" and bdm.get("uuid"):
            return str(bdm["uuid"])
    return None


def with_image(server: dict[str, Any], global_id: str, local_id: str) -> dict[str, Any]:
    """The create request naming the region's id of the image (when it differs)."""
    out = dict(server)
    if out.get("imageRef") == global_id:
        out["imageRef"] = local_id
    out["block_device_mapping_v2"] = [
        {**b, "uuid": local_id} if isinstance(b, dict) and b.get("uuid") == global_id else b
        for b in server.get("block_device_mapping_v2") or []] or None
    if out["block_device_mapping_v2"] is None:
        del out["block_device_mapping_v2"]
    return out
