"""Server reads, deletes and everything forwarded to a server's region.

Regional answers are rewritten to global ids and Cascade links before anyone
sees them, and remembered (``server_cache``) so a server whose region is sick
is still answered, at once, with status UNKNOWN.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Sequence

import orjson
from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.compute import server_cache, servers_list
from api.compute.server_create import SERVER, ServerCreator
from cascade import errors
from cascade.crashpoints import crash_point
from cascade.bus import Waker
from cascade.context import RequestContext
from cascade.db.models import Placement, PlacementState, Resource
from cascade.regions.client import RegionClient, RegionResponse
from cascade.regions.fanout import scatter_process, split_results
from cascade.regions.registry import RegionRegistry
from mapping import rewrite, store
from mapping.cache import Mapping, MappingCache

__all__ = ["Servers", "ListResult", "Forwarded"]

LOG = logging.getLogger(__name__)

#: Regional pages read per region for one list answer, at most (see ``ask``).
_MAX_PAGES_PER_REGION = 20


def _servers_of(body: Any, region: str) -> list[dict[str, Any]]:
    """The servers of a regional list answer.

    :raises RegionUnavailable: the answer is not a server list (the list then
        says the region is missing, instead of failing whole).
    """
    servers = body.get("servers", []) if isinstance(body, dict) else None
    if not isinstance(servers, list) or not all(
            isinstance(s, dict) and isinstance(s.get("id"), str) for s in servers):
        raise errors.RegionUnavailable(region, f"Region {region} answered a server list "
                                               "that is not one")
    return list(servers)


class ListResult:
    """A merged server list, the regions that could not answer, and the next marker.

    ``encoded``, when set, holds each of ``servers`` already as JSON (in order):
    the regions' pages are encoded as they arrive, so that little is left to do
    once the slowest region has answered.
    """

    def __init__(self, servers: list[dict[str, Any]], failed: list[str],
                 next_marker: str | None, encoded: list[bytes] | None = None) -> None:
        self.servers = servers
        self.failed = failed
        self.next_marker = next_marker
        self.encoded = encoded


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
                 waker: Callable[[], Waker] | None = None) -> None:
        self._conf = conf
        self._sessions = sessions
        self._registry = registry
        self._client = client
        self._waker = waker
        self.creator = creator
        self._cache = MappingCache()
        self._image_ids: dict[tuple[str, str], str] = {}
        #: project (None: all) -> (expires, regions in use, any pending)
        self._in_use: dict[str | None, tuple[float, set[str], bool]] = {}

    async def create(self, ctx: RequestContext, body: Any, microversion: str,
                     cascade_base: str) -> dict[str, Any]:
        """See ``ServerCreator.create``."""
        try:
            return await self.creator.create(ctx, body, microversion, cascade_base)
        finally:
            self._in_use.pop(ctx.project_id, None)
            self._in_use.pop(None, None)

    async def _regions_in_use(self, project: str | None) -> tuple[set[str], bool]:
        """Regions holding the project's servers, and whether any is still creating.

        Remembered for ``[api] regions_in_use_cache_seconds``; the database (and a
        session) only on a miss.
        """
        ttl = self._conf.api.regions_in_use_cache_seconds
        now = time.monotonic()
        hit = self._in_use.get(project)
        if ttl and hit is not None and hit[0] > now:
            return hit[1], hit[2]
        async with self._sessions() as session:
            regions, pending = await store.regions_in_use(session, SERVER, project)
        if ttl and not pending:  # pending builds change fast: always ask
            if len(self._in_use) > 10_000:
                self._in_use.clear()
            self._in_use[project] = (now + ttl, regions, pending)
        return regions, pending

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

    def _zone(self, region: str) -> str | None:
        info = self._registry.get(region)
        return info.availability_zone if info else None

    def _to_global(self, region: str, server: dict[str, Any], global_id: str,
                   cascade_base: str) -> dict[str, Any]:
        """``server`` (a regional answer, decoded for this request only) rewritten in place."""
        rewrite.servers_to_global([(server, global_id)],
                                  self._client.base_url(region, "compute"), cascade_base,
                                  availability_zone=self._zone(region))
        return server

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
        res, pl = await self.resolve(ctx, global_id)
        if pl.local_id is None:
            return server_cache.spec_view(res, cascade_base)
        if pl.state == PlacementState.ACTIVE:
            self._cache.put(Mapping(global_id, res.project_id, pl.region, pl.local_id))
        try:
            resp = await self._client.get(ctx, pl.region, "compute", f"/servers/{pl.local_id}",
                                          microversion=microversion)
        except errors.RegionHTTPError as exc:
            if exc.status == 404:
                if pl.state == PlacementState.DELETING:
                    await self._forget(global_id)
                raise errors.NotFound(f"Instance {global_id} could not be found.") from None
            if not _unavailable(exc):
                raise
            LOG.info("%s %s unavailable (%s); answering from cache", ctx.request_id,
                     pl.region, exc.message)
            return server_cache.cached_view(res, cascade_base, microversion,
                                            self._conf.api.cache_max_age)
        except errors.RegionError as exc:
            LOG.info("%s %s unavailable (%s); answering from cache", ctx.request_id,
                     pl.region, exc.message)
            return server_cache.cached_view(res, cascade_base, microversion,
                                            self._conf.api.cache_max_age)
        await self._global_images(pl.region, [resp.body["server"]])
        server = self._to_global(pl.region, resp.body["server"], global_id, cascade_base)
        self._cache.seen([(global_id, res.attrs.get("server") or {})])
        if self._cache.stale(global_id, server):
            await server_cache.store_views(self._sessions, [(global_id, server)])
        return server

    def _swap_images(self, region: str, servers: list[dict[str, Any]]) -> list[str]:
        """Swap the regional image ids already known for global ones, in place.

        :returns: the regional image ids not known yet.
        """
        unknown: list[str] = []
        known = self._image_ids
        for server in servers:
            image = server.get("image")
            if isinstance(image, dict) and image.get("id"):
                local = str(image["id"])
                gid = known.get((region, local))
                if gid is None:
                    if local not in unknown:
                        unknown.append(local)
                elif gid != image["id"]:
                    server["image"] = rewrite.swap_image_id(image, gid)
        return unknown

    async def _global_images(self, region: str, servers: list[dict[str, Any]]) -> None:
        """Swap regional image ids for global ones (they differ only when an image's
        id was used up in the region and its replica got a new one). The answers
        are cached: an image's regional id never changes."""
        unknown = self._swap_images(region, servers)
        if not unknown:
            return
        async with self._sessions() as session:
            mapped = await store.resolve_local_ids(session, "image", region, unknown, None)
        if len(self._image_ids) > 100_000:
            self._image_ids.clear()
        for image_id in unknown:
            hit = mapped.get(image_id)
            self._image_ids[(region, image_id)] = hit[0].global_id if hit else image_id
        # Only the servers left alone above: the others may hold global ids by now.
        todo = set(unknown)
        self._swap_images(region, [s for s in servers if isinstance(s.get("image"), dict)
                                   and str(s["image"].get("id")) in todo])

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
        await self._global_images(hit.region, [server])
        view = self._to_global(hit.region, server, hit.global_id, cascade_base)
        if self._cache.stale(hit.global_id, view):
            await server_cache.store_views(self._sessions, [(hit.global_id, view)])
        return view

    # -- list --------------------------------------------------------------

    async def list_servers(self, ctx: RequestContext, *, detail: bool,
                           params: dict[str, Any], microversion: str,
                           cascade_base: str) -> ListResult:
        """Servers from every region the project uses, asked in parallel and merged.

        ``params`` maps query keys to lists of values. Regional servers Cascade
        does not map are hidden; regions that fail or time out are reported in
        ``failed`` and their servers come from cache (UNKNOWN from 2.69).

        :raises BadRequest: bad limit, marker or sort.
        """
        first = {k: v[-1] for k, v in params.items() if v}
        all_tenants = first.get("all_tenants") not in (None, "0", "false", "False")
        if all_tenants and not ctx.is_admin:
            raise errors.Forbidden("Policy doesn't allow os_compute_api:servers:"
                                   f"{'detail' if detail else 'index'}:get_all_tenants "
                                   "to be performed.")
        project = None if all_tenants else ctx.project_id
        spec = servers_list.parse_sort(params.get("sort_key", []), params.get("sort_dir", []))
        limit = servers_list.parse_limit(first.get("limit"))
        regions, any_pending = await self._regions_in_use(project)
        found = None
        marker: servers_list.Marker | None = None
        anchors: dict[str, str | None] = {}
        pending: Sequence[tuple[Resource, Placement]] = []
        if first.get("marker") or any_pending:
            async with self._sessions() as session:
                found = await self._marker(session, first.get("marker"), project)
                marker = servers_list.Marker(found[2], found[1].region) if found else None
                if marker:
                    anchors = {r: await self._anchor(session, spec, marker, r, project)
                               for r in regions if r != marker.region}
                elif any_pending:
                    pending = await store.pending_of_project(session, SERVER, project)
        fwd: list[tuple[str, str]] = [
            (k, v) for k, vs in params.items() if k not in (
                "limit", "marker", "sort_key", "sort_dir") for v in vs]
        fwd += spec.query()

        async def ask(region: str) -> tuple[list[dict[str, Any]], bool]:
            """The region's servers after the marker; True when more may follow."""
            regional_marker = None
            if found and marker and marker.region == region:
                regional_marker = found[1].local_id
            elif anchors.get(region):
                regional_marker = anchors[region]
            fetched: list[dict[str, Any]] = []
            for _ in range(_MAX_PAGES_PER_REGION):
                query = list(fwd)
                if limit is not None:
                    query.append(("limit", str(limit)))
                if regional_marker:
                    query.append(("marker", str(regional_marker)))
                resp = await self._client.request(ctx, region, "compute", "GET",
                                                  "/servers/detail", params=query,
                                                  microversion=microversion)
                page = _servers_of(resp.body, region)
                fetched += page
                more = limit is not None and len(page) >= limit
                # An anchor may sit well before the marker: keep reading until this
                # region's page reaches past it, so every answer makes progress.
                if not (more and marker and marker.region != region and page
                        and servers_list.not_past(spec, page[-1], region, marker)):
                    return fetched, more
                regional_marker = page[-1]["id"]
            return fetched, True

        ends: dict[str, dict[str, Any]] = {}
        fresh: list[tuple[str, dict[str, Any], int]] = []
        #: id(view) -> the view as JSON (views live until the answer is sent)
        encoded: dict[int, bytes] | None = {} if detail else None

        async def globalise(region: str, answer: tuple[list[dict[str, Any]], bool]
                            ) -> list[dict[str, Any]]:
            """A region's page as tenants see it, worked out as soon as it arrives."""
            servers, more = answer
            page, last = await self._page_to_global(region, servers, project, cascade_base,
                                                    fresh, encoded)
            if more and servers:
                ends[region] = last
            return servers_list.after_marker(spec, marker, region, page)

        results = await scatter_process(sorted(regions), ask, globalise,
                                        timeout=self._conf.api.region_timeout)
        pages, failed = split_results(results)
        for failure in failed:
            if isinstance(failure.error, errors.RegionHTTPError) and failure.error.status < 500:
                # The request itself is wrong (bad filter...): say so, not "partial".
                raise failure.error
        if failed:
            async with self._sessions() as session:
                for failure in failed:
                    cached = await self._cached_region(session, failure.region, project,
                                                       cascade_base, microversion)
                    if marker and marker.region == failure.region:
                        # Its region cannot continue from the marker: use the cache.
                        cached = [c for c in cached if marker.key(spec) < servers_list.MergeKey(
                            spec, c, failure.region)]
                    pages[failure.region] = servers_list.after_marker(
                        spec, marker, failure.region,
                        servers_list.apply_cached_filters(cached, first))
        if fresh:
            await server_cache.store_views(self._sessions, [(g, v) for g, v, _ in fresh])
            for gid, _, digest in fresh:
                self._cache.remember_list(gid, digest)
        building = [server_cache.spec_view(res, cascade_base) for res, _ in pending]
        building = servers_list.apply_cached_filters(building, first)
        merged = servers_list.merge_pages(
            spec, pages, ends, None if limit is None else max(limit - len(building), 0))
        out = (building + merged)[:limit] if limit is not None else building + merged
        next_marker = None
        if limit and out and (len(out) >= limit or ends):
            next_marker = out[-1]["id"]
        if not detail:
            out = [{k: s.get(k) for k in ("id", "name", "links")} for s in out]
        json_out: list[bytes] | None = None
        if encoded is not None:  # all of it, or encode it whole (cached, building...)
            fragments = [encoded.get(id(s)) for s in out]
            if None not in fragments:
                json_out = [f for f in fragments if f is not None]
        return ListResult(out, sorted(f.region for f in failed), next_marker, json_out)

    async def _page_to_global(self, region: str, servers: list[dict[str, Any]],
                              project: str | None, cascade_base: str,
                              fresh: list[tuple[str, dict[str, Any], int]],
                              encoded: dict[int, bytes] | None = None
                              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Rewrite one region's freshly decoded servers in place; hide the unmapped.

        Changed views go to ``fresh`` with their digests (stored by the caller);
        with ``encoded``, each view's JSON too, by ``id(view)``.

        :returns: the page, and its last server as a merge boundary (global id if
            mapped; meaningless for an empty page).
        """
        await self._global_images(region, servers)
        cache = self._cache
        # Global ids by position: from the in-process cache, then the database.
        gids: list[str | None] = []
        unknown: list[str] = []
        for s in servers:
            hit = cache.by_local(region, s["id"])
            if hit is not None and (project is None or hit.project_id == project):
                cache.touch(hit.global_id)
                gids.append(hit.global_id)
            else:
                gids.append(None)
                unknown.append(s["id"])
        if unknown:
            async with self._sessions() as session:
                from_db = await store.map_local_ids(session, SERVER, region, unknown, project)
            for i, s in enumerate(servers):
                found = from_db.get(s["id"]) if gids[i] is None else None
                if found is not None:
                    gid, owner, state = found
                    if state == PlacementState.ACTIVE:
                        cache.put(Mapping(gid, owner, region, s["id"]))
                    gids[i] = gid
        last: dict[str, Any] = {}
        if servers:
            last = {**servers[-1], "id": gids[-1] or servers[-1]["id"]}
        pairs = [(s, gid) for s, gid in zip(servers, gids) if gid is not None]
        info = self._registry.get(region)
        rewrite.servers_to_global(pairs, self._client.base_url(region, "compute"),
                                  cascade_base,
                                  availability_zone=info.availability_zone if info else None)
        page = []
        for s, gid in pairs:
            text = orjson.dumps(s, default=str)
            digest = cache.new_list_digest(gid, rewrite.without_origin(text, cascade_base))
            if digest is not None:
                fresh.append((gid, s, digest))
            if encoded is not None:
                encoded[id(s)] = text
            page.append(s)
        return page, last

    async def _marker(self, session: AsyncSession, marker: str | None, project: str | None
                      ) -> tuple[Resource, Placement, dict[str, Any]] | None:
        if not marker:
            return None
        try:
            res, pl = await store.resolve(session, SERVER, marker, project)
        except errors.MappingNotFound:
            raise errors.BadRequest(f"marker [{marker}] not found") from None
        view = dict(res.attrs.get("server") or {"id": res.global_id,
                                                "created": res.attrs.get("created"),
                                                "name": res.attrs.get("name")})
        view["id"] = res.global_id
        return res, pl, view

    async def _anchor(self, session: AsyncSession, spec: servers_list.SortSpec,
                      marker: servers_list.Marker, region: str,
                      project: str | None) -> str | None:
        rows = await store.resources_in_region(session, SERVER, region, project)
        return servers_list.anchor_for(spec, marker, region, (
            (pl.local_id, {**(res.attrs.get("server") or {}), "id": res.global_id,
                           "created": res.attrs.get("created"),
                           "name": res.attrs.get("name")})
            for res, pl in rows if pl.local_id))

    async def _cached_region(self, session: AsyncSession, region: str, project: str | None,
                             cascade_base: str, microversion: str) -> list[dict[str, Any]]:
        rows = await store.resources_in_region(session, SERVER, region, project)
        return [server_cache.cached_view(res, cascade_base, microversion,
                                            self._conf.api.cache_max_age)
                for res, pl in rows if pl.local_id and pl.state != PlacementState.DELETING]

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
            await self._forget(global_id)
            return
        except errors.RegionError as exc:
            if not exc.request_sent:
                await self._mark(pl.id, previous)
            raise
        crash_point("server_delete.regional_deleted")
        async with self._sessions.begin() as session:
            r = await session.get(Resource, global_id)
            if r is not None:
                r.status = "DELETED"
        if self._waker is not None:
            await self._waker().wake("deletes")

    async def _mark(self, placement_id: int, state: str) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(Placement, placement_id)
            if row is not None:
                row.state = state

    async def _forget(self, global_id: str) -> None:
        self._cache.forget(global_id)
        self._in_use.clear()
        async with self._sessions.begin() as session:
            await store.remove(session, global_id)

    # -- everything else: forwarded to the server's region -------------------

    async def forward(self, ctx: RequestContext, global_id: str, method: str, subpath: str,
                      *, body: Any = None, params: Any = None, microversion: str,
                      cascade_base: str) -> Forwarded:
        """Forward a call about one server to its region with the regional id.

        :raises NotFound: unknown or other project's server.
        :raises Conflict: the server is still being created in its region.
        :raises RegionHTTPError: the region's error, with the global id in its message.
        """
        res, pl = await self.resolve(ctx, global_id)
        if pl.local_id is None:
            raise errors.Conflict(f"Cannot act on instance {global_id} while it is being "
                                  "created in its region.")
        try:
            resp = await self._client.request(ctx, pl.region, "compute", method,
                                              f"/servers/{pl.local_id}{subpath}", json=body,
                                              params=params, microversion=microversion)
        except errors.RegionHTTPError as exc:
            raise _globalise(exc, pl.local_id, global_id) from None
        return self._rewrite_forwarded(resp, pl, global_id, cascade_base)

    def _rewrite_forwarded(self, resp: RegionResponse, pl: Placement, global_id: str,
                           cascade_base: str) -> Forwarded:
        body = resp.body
        if isinstance(body, dict) and isinstance(body.get("server"), dict):
            body = {**body, "server": self._to_global(pl.region, body["server"], global_id,
                                                      cascade_base)}
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
