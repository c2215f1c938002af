"""Servers: reads, deletes and everything forwarded to a server's region.

Regional answers are rewritten to global ids and Cascade links before anyone
sees them, and remembered (``server_cache``) so a server whose region is sick
is still answered, at once, with status UNKNOWN. Creates are
``server_create``'s, lists ``server_listing``'s.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from oslo_config import cfg
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cascade.coherence import Coherence
from cascade.compute import action_ids, server_cache, tombstones
from cascade.compute.deleted_actions import forward_deleted
from cascade.compute.server_cache import SERVER
from cascade.compute.server_create import ServerCreator
from cascade.compute.server_listing import ListResult, ServerLister
from cascade.compute.server_subresources import SubresourceIds
from cascade.compute.server_rewrite import ServerRewriter
from cascade import errors
from cascade.crashpoints import crash_point
from cascade.bus import Waker
from cascade.context import RequestContext
from cascade.db import engine as db_engine
from cascade.db.models import Placement, PlacementState, Resource
from cascade.regions.client import RegionClient, RegionResponse
from cascade.regions.registry import RegionRegistry
from cascade.images import snapshots
from cascade.mapping import rewrite, store
from cascade.mapping.cache import Mapping, MappingCache
from cascade.networks.ports import Ports
from cascade.quota.forget import forget

__all__ = ["Servers", "ListResult", "Forwarded"]

LOG = logging.getLogger(__name__)


class Forwarded:
    """A regional answer to a forwarded call, already rewritten."""

    def __init__(self, status: int, body: Any, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers


def _unavailable(exc: errors.RegionError) -> bool:
    """Whether a regional failure means "cannot ask now" (not an answer about the server)."""
    return not isinstance(exc, errors.RegionHTTPError) or exc.status >= 500


class Servers:
    """The compute logic behind the server handlers; no HTTP in here."""

    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 registry: RegionRegistry, client: RegionClient, creator: ServerCreator,
                 waker: Callable[[], Waker] | None = None, ports: Ports | None = None,
                 lookups: AsyncEngine | None = None) -> None:
        self._conf = conf
        self._sessions = sessions
        #: one-statement reads (``db_engine.make_lookup_engine``); by default the
        #: sessions' own pool in autocommit
        self._lookups = lookups or db_engine.autocommit(sessions)
        self._client = client
        self._waker = waker
        self.creator = creator
        # In-process memories, shared with the parts below (bench/list_cpu.py sets
        # them through these names, as a warm Cascade has them).
        self._cache = MappingCache()
        self._image_ids: dict[tuple[str, str], str] = {}
        #: project (None: all) -> (expires, regions in use, any pending), for lists;
        #: creates and forgets here drop what they make stale
        self._in_use: dict[str | None, tuple[float, set[str], bool]] = {}
        self._rewriter = ServerRewriter(sessions, registry, client, self._image_ids)
        self._lister = ServerLister(conf, sessions, client, self._cache, self._rewriter,
                                    self._in_use)
        self._subresources = SubresourceIds(sessions, ports, registry)

    def listen(self, coherence: Coherence) -> None:
        """Drop what another process's changes make stale (``cascade.coherence``)."""
        coherence.on("placement", self._changed)
        coherence.on_reset(self._drop_all)

    def _changed(self, key: str) -> None:
        kind, _, global_id = key.partition(":")
        if kind == "server":
            self._cache.forget(global_id)
            self._in_use.clear()
        elif kind == "image":
            # A new or gone replica: regional image ids may now map elsewhere.
            self._image_ids.clear()

    def _drop_all(self) -> None:
        self._cache.clear()
        self._in_use.clear()
        self._image_ids.clear()

    async def create(self, ctx: RequestContext, body: Any, microversion: str,
                     cascade_base: str) -> dict[str, Any]:
        """See ``ServerCreator.create``."""
        try:
            return await self.creator.create(ctx, body, microversion, cascade_base)
        finally:
            self._in_use.pop(ctx.project_id, None)
            self._in_use.pop(None, None)

    async def list_servers(self, ctx: RequestContext, *, detail: bool,
                           params: dict[str, Any], microversion: str,
                           cascade_base: str) -> ListResult:
        """See ``ServerLister.list_servers``."""
        return await self._lister.list_servers(ctx, detail=detail, params=params,
                                               microversion=microversion,
                                               cascade_base=cascade_base)

    # -- resolution --------------------------------------------------------

    async def resolve(self, ctx: RequestContext, global_id: str) -> tuple[Resource, Placement]:
        """The caller's server (admins: anyone's).

        :raises NotFound: unknown or another project's.
        """
        async with self._sessions() as session:
            try:
                return await store.resolve(session, SERVER, global_id,
                                           None if ctx.is_admin else ctx.project_id)
            except errors.MappingNotFound:
                raise errors.NotFound(f"Instance {global_id} could not be found.") from None

    # -- show --------------------------------------------------------------

    async def show(self, ctx: RequestContext, global_id: str, microversion: str,
                   cascade_base: str) -> dict[str, Any]:
        """The server as its region reports it; cached with UNKNOWN when it cannot.

        :raises NotFound: unknown, other project's, or gone from its region.
        """
        hit = self._cache.get(global_id)
        if hit is not None and (ctx.is_admin or hit.project_id == ctx.project_id):
            fast = await self._show_cached(ctx, hit, microversion, cascade_base)
            if fast is not None:
                return fast
        # The mapping as columns, on an autocommit connection: the slow path's
        # only database step unless the region cannot answer.
        async with self._lookups.connect() as conn:
            try:
                pl = await store.locate(conn, SERVER, global_id,
                                        None if ctx.is_admin else ctx.project_id)
            except errors.MappingNotFound:
                raise errors.NotFound(f"Instance {global_id} could not be found.") from None
        if pl.local_id is None:
            res, _ = await self.resolve(ctx, global_id)
            return server_cache.spec_view(res, cascade_base)
        if pl.state == PlacementState.ACTIVE:
            self._cache.put(Mapping(global_id, pl.project_id, pl.region, pl.local_id))
        try:
            resp = await self._client.get(ctx, pl.region, "compute", f"/servers/{pl.local_id}",
                                          microversion=microversion)
        except errors.RegionHTTPError as exc:
            if exc.status == 404:
                if pl.state == PlacementState.DELETING:
                    await self._forget(global_id, bury=True)  # its delete is done
                raise errors.NotFound(f"Instance {global_id} could not be found.") from None
            if not _unavailable(exc):
                raise
            LOG.info("%s %s unavailable (%s); answering from cache", ctx.request_id,
                     pl.region, exc.message)
            return await self._cached_view(ctx, global_id, cascade_base, microversion)
        except errors.RegionError as exc:
            LOG.info("%s %s unavailable (%s); answering from cache", ctx.request_id,
                     pl.region, exc.message)
            return await self._cached_view(ctx, global_id, cascade_base, microversion)
        await self._rewriter.global_images(pl.region, [resp.body["server"]])
        server = self._rewriter.to_global(pl.region, resp.body["server"], global_id,
                                          cascade_base)
        self._cache.seen([(global_id, pl.view or {})])
        if self._cache.stale(global_id, server):
            await server_cache.store_views(self._sessions, [(global_id, server)])
        return server

    async def _cached_view(self, ctx: RequestContext, global_id: str, cascade_base: str,
                           microversion: str) -> dict[str, Any]:
        """The view Cascade cached, marked UNKNOWN where it is old: its region is away."""
        res, _ = await self.resolve(ctx, global_id)
        return server_cache.cached_view(res, cascade_base, microversion,
                                        self._conf.api.cache_max_age)

    async def _show_cached(self, ctx: RequestContext, hit: Mapping, microversion: str,
                           cascade_base: str) -> dict[str, Any] | None:
        """The hot path: no database unless the view changed. None: use the slow path."""
        try:
            resp = await self._client.request(ctx, hit.region, "compute", "GET",
                                              f"/servers/{hit.local_id}",
                                              microversion=microversion)
        except errors.RegionError:
            # 404 (moved or deleted elsewhere) or a sick region: the database knows.
            self._cache.forget(hit.global_id)
            return None
        server = resp.body["server"]
        await self._rewriter.global_images(hit.region, [server])
        view = self._rewriter.to_global(hit.region, server, hit.global_id, cascade_base)
        if self._cache.stale(hit.global_id, view):
            await server_cache.store_views(self._sessions, [(hit.global_id, view)])
        return view

    # -- list --------------------------------------------------------------

    # -- delete ------------------------------------------------------------

    async def delete(self, ctx: RequestContext, global_id: str, microversion: str,
                     *, force: bool = False) -> None:
        """Ask the region to delete; the mapping goes once the region no longer has it.

        :raises NotFound: unknown or other project's server.
        :raises Conflict: the regional create has not answered yet.
        """
        self._cache.forget(global_id)
        res, pl = await self.resolve(ctx, global_id)
        if pl.local_id is None:
            if res.status == "ERROR":
                await self._forget(global_id)
                return
            raise errors.Conflict(f"Cannot 'delete' instance {global_id} while it is "
                                  "being created in its region.")
        # The placement is marked first: a crash after the regional delete then
        # leaves a *deleting* mapping the sweep finishes, never a live-looking one.
        previous = pl.state
        await self._mark(pl.id, PlacementState.DELETING)
        crash_point("server_delete.marked")
        try:
            if force:
                await self._client.post(ctx, pl.region, "compute",
                                        f"/servers/{pl.local_id}/action",
                                        json={"forceDelete": None}, microversion=microversion)
            else:
                await self._client.delete(ctx, pl.region, "compute",
                                          f"/servers/{pl.local_id}", microversion=microversion)
        except errors.RegionHTTPError as exc:
            if exc.status != 404:
                await self._mark(pl.id, previous)
                raise _globalise(exc, pl.local_id, global_id) from None
            await self._forget(global_id, bury=True)
            return
        except errors.RegionError as exc:
            if not exc.request_sent:
                await self._mark(pl.id, previous)
            raise
        crash_point("server_delete.regional_deleted")
        # Nova deletes a shelved server's image with it.
        await snapshots.release_after_unshelve(self._sessions, res, pl.region, pl.local_id)
        # NOTE: statements, not ORM attribute changes: a concurrent delete of the
        # same server may have removed the row meanwhile (0 rows is fine here;
        # an ORM flush would raise StaleDataError).
        async with self._sessions.begin() as session:
            await session.execute(update(Resource).where(Resource.global_id == global_id)
                                  .values(status="DELETED"))
        if self._waker is not None:
            await self._waker().wake("deletes")

    async def _mark(self, placement_id: int, state: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(Placement).where(Placement.id == placement_id)
                                  .values(state=state))

    async def _forget(self, global_id: str, *, bury: bool = False) -> None:
        """The mapping goes (``bury``: a tombstone keeps its action log reachable)."""
        self._cache.forget(global_id)
        self._in_use.clear()
        async with self._sessions.begin() as session:
            if bury:
                await tombstones.bury(session, global_id)
            await forget(session, global_id)

    # -- everything else: forwarded to the server's region -------------------

    async def forward(self, ctx: RequestContext, global_id: str, method: str, subpath: str,
                      *, body: Any = None, params: Any = None, microversion: str,
                      cascade_base: str) -> Forwarded:
        """Forward a call about one server to its region with the regional id.

        :raises NotFound: unknown or other project's server.
        :raises Conflict: the server is still being created in its region.
        :raises RegionHTTPError: the region's error, with the global id in its message.
        """
        try:
            res, pl = await self.resolve(ctx, global_id)
        except errors.NotFound:
            gone = None if method != "GET" else await forward_deleted(
                self._sessions, self._client, ctx, global_id, subpath, params,
                microversion, cascade_base)
            if gone is None:
                raise
            return Forwarded(gone[0], gone[1], {})
        if pl.local_id is None:
            raise errors.Conflict(f"Cannot act on instance {global_id} while it is being "
                                  "created in its region.")
        subpath, body = await self._subresources.to_region(ctx, pl.region, subpath, body,
                                                           server_id=global_id)
        try:
            resp = await self._client.request(ctx, pl.region, "compute", method,
                                              f"/servers/{pl.local_id}{subpath}", json=body,
                                              params=params, microversion=microversion)
        except errors.RegionHTTPError as exc:
            raise _globalise(exc, pl.local_id, global_id) from None
        if method != "GET":
            await action_ids.remember(self._sessions, global_id, resp.request_id,
                                      ctx.request_id)
        out = self._rewrite_forwarded(resp, pl, global_id, cascade_base)
        if subpath == "/action" and isinstance(body, dict) and "createImage" in body:
            await self._adopt_snapshot(ctx, pl.region, out, body["createImage"],
                                       cascade_base)
        elif subpath == "/action" and isinstance(body, dict) and (
                "shelve" in body or "unshelve" in body):
            await self._follow_shelve(ctx, res, pl, "shelve" in body)
        elif subpath:
            out.body = await self._subresources.to_global(
                pl.region, subpath, out.body, str(pl.local_id), global_id,
                self._client.base_url(pl.region, "compute"), cascade_base)
        return out

    async def _follow_shelve(self, ctx: RequestContext, res: Resource, pl: Placement,
                             shelving: bool) -> None:
        """A shelve's image becomes a Cascade image (listed, as Nova's is); after an
        unshelve it goes when Nova deletes it (``images/snapshots.py``)."""
        assert pl.local_id is not None
        try:
            if shelving:
                await snapshots.shelve_image(self._sessions, self._client, ctx, pl.region,
                                             res, pl.local_id)
            else:
                await snapshots.release_after_unshelve(self._sessions, res, pl.region,
                                                       pl.local_id)
        except errors.RegionError as exc:
            # The action itself succeeded; the audit finds an image left unadopted.
            LOG.warning("%s shelve image of %s not followed: %s", ctx.request_id,
                        res.global_id, exc.message)
            return
        if self._waker is not None:
            await self._waker().wake("jobs")

    async def _adopt_snapshot(self, ctx: RequestContext, region: str, out: Forwarded,
                              request: Any, cascade_base: str) -> None:
        """The image Nova is making becomes a Cascade image (``images/snapshots.py``);
        the answer names it by its global id, at Cascade."""
        local = (out.body or {}).get("image_id") if isinstance(out.body, dict) else None
        location = out.headers.get("Location") or ""
        if not local and location:
            local = location.rstrip("/").rsplit("/", 1)[-1]
        if not local:
            return
        global_id = await snapshots.record_snapshot(
            self._sessions, ctx, region, str(local),
            request if isinstance(request, dict) else {})
        if isinstance(out.body, dict) and "image_id" in out.body:
            out.body = {**out.body, "image_id": global_id}
        if location:
            root = cascade_base.rsplit("/compute/", 1)[0]
            out.headers["Location"] = f"{root}/image/v2/images/{global_id}"
        if self._waker is not None:
            await self._waker().wake("jobs")

    def _rewrite_forwarded(self, resp: RegionResponse, pl: Placement, global_id: str,
                           cascade_base: str) -> Forwarded:
        body = resp.body
        if isinstance(body, dict) and isinstance(body.get("server"), dict):
            body = {**body, "server": self._rewriter.to_global(pl.region, body["server"],
                                                               global_id, cascade_base)}
        if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
            body = {**body, "metadata": {k: v for k, v in body["metadata"].items()
                                         if k not in rewrite.HIDDEN_METADATA_KEYS}}
        headers = {}
        location = resp.headers.get("Location")
        if location:
            headers["Location"] = rewrite.rewrite_url(
                location, self._client.base_url(pl.region, "compute"), cascade_base,
                str(pl.local_id), global_id)
        return Forwarded(resp.status, body, headers)


def _globalise(exc: errors.RegionHTTPError, local_id: str, global_id: str
               ) -> errors.RegionHTTPError:
    """The same regional error, naming the global id instead of the regional one."""
    message = exc.message.replace(local_id, global_id)
    return errors.RegionHTTPError(exc.region, exc.status, exc.body, message,
                                  request_id=exc.request_id)
