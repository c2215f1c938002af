"""Server lists across the regions a project uses: asked in parallel, merged.

Each region's page is worked out (global ids, links, zone) as soon as it
arrives, so little is left to do once the slowest region has answered; a
region that fails or times out is answered from cache (``server_cache``). The
merge itself, markers and sort keys are ``servers_list``'s.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.compute import server_cache, servers_list
from cascade.compute.server_create import SERVER
from cascade.compute.server_pages import Gathered, Item, ServerPages, decoded
from cascade.compute.server_rewrite import ServerRewriter
from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Placement, PlacementState, Resource
from cascade.regions.client import RegionClient
from cascade.regions.fanout import scatter_process, split_results
from cascade.mapping import store
from cascade.mapping.cache import MappingCache

__all__ = ["ServerLister", "ListResult"]

#: Regional pages read per region for one list answer, at most (see ``ask``).
_MAX_PAGES_PER_REGION = 20


class ListResult:
    """A merged server list, the regions that could not answer, and the next marker.

    ``encoded`` holds each of ``servers`` as JSON, in order, as the answer shows
    it (``servers`` may hold only the merge keys of a server): the regions'
    pages are worked out as they arrive, so that little is left to do once the
    slowest region has answered.
    """

    def __init__(self, servers: list[dict[str, Any]], failed: list[str],
                 next_marker: str | None, encoded: list[bytes]) -> None:
        self.servers = servers
        self.failed = failed
        self.next_marker = next_marker
        self.encoded = encoded


class ServerLister:
    """The list path of ``Servers``."""

    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 client: RegionClient, cache: MappingCache, rewriter: ServerRewriter,
                 in_use: dict[str | None, tuple[float, set[str], bool]]) -> None:
        self._conf = conf
        self._sessions = sessions
        self._client = client
        self._cache = cache
        self._rewriter = rewriter
        self._pages = ServerPages(conf, sessions, client, cache, rewriter)
        #: project (None: all) -> (expires, regions in use, any pending)
        self._in_use = in_use

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
        if all_tenants:
            ctx.can(f"os_compute_api:servers:{'detail' if detail else 'index'}"
                    ":get_all_tenants")
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

        async def ask(region: str) -> tuple[list[Item], bool]:
            """The region's servers after the marker; True when more may follow."""
            regional_marker = None
            if found and marker and marker.region == region:
                regional_marker = found[1].local_id
            elif anchors.get(region):
                regional_marker = anchors[region]
            fetched: list[Item] = []
            for _ in range(_MAX_PAGES_PER_REGION):
                query = list(fwd)
                if limit is not None:
                    query.append(("limit", str(limit)))
                if regional_marker:
                    query.append(("marker", str(regional_marker)))
                resp = await self._client.request(ctx, region, "compute", "GET",
                                                  "/servers/detail", params=query,
                                                  microversion=microversion, decode=False)
                page = self._pages.items(resp.body, region)
                fetched += page
                more = limit is not None and len(page) >= limit
                if not (more and marker and marker.region != region and page):
                    return fetched, more
                # An anchor may sit well before the marker: keep reading until this
                # region's page reaches past it, so every answer makes progress.
                last = decoded(page[-1], region)
                if not servers_list.not_past(spec, last, region, marker):
                    return fetched, more
                regional_marker = last["id"]
            return fetched, True

        ends: dict[str, dict[str, Any]] = {}
        gathered = Gathered(detail)

        async def globalise(region: str, answer: tuple[list[Item], bool]
                            ) -> list[dict[str, Any]]:
            """A region's page as tenants see it, worked out as soon as it arrives."""
            items, more = answer
            page, last = await self._pages.to_global(region, items, project, cascade_base,
                                                     gathered)
            if more and items:
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
        fresh = gathered.fresh
        if fresh:
            await server_cache.store_views(self._sessions, [(g, v) for g, v, _ in fresh])
            for gid, _, digest in fresh:
                self._cache.remember(gid, digest)
        building = [server_cache.spec_view(res, cascade_base) for res, _ in pending]
        building = servers_list.apply_cached_filters(building, first)
        merged = servers_list.merge_pages(
            spec, pages, ends, None if limit is None else max(limit - len(building), 0))
        out = (building + merged)[:limit] if limit is not None else building + merged
        next_marker = None
        if limit and out and (len(out) >= limit or ends):
            next_marker = out[-1]["id"]
        # Regional servers are JSON already (worked out as their regions answered);
        # the others (cached, building) are encoded here.
        fragments = gathered.texts(out)
        return ListResult(out, sorted(f.region for f in failed), next_marker, fragments)

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
