"""Server lists across the regions a project uses: asked in parallel, merged.

Each region's page is worked out (global ids, links, zone) as soon as it
arrives, so little is left to do once the slowest region has answered; a
region that fails or times out is answered from cache (``server_cache``). The
merge itself, markers and sort keys are ``servers_list``'s.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yarl import URL

from cascade.compute import server_cache, servers_list
from cascade.compute.server_cache import SERVER
from cascade.compute.server_pages import Gathered, Item, ServerPages, decoded
from cascade.compute.server_rewrite import ServerRewriter
from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Placement, PlacementState, Resource
from cascade.regions.client import RegionClient
from cascade.regions.fanout import RegionFailure, scatter_process, split_results
from cascade.mapping import store
from cascade.mapping.cache import MappingCache

__all__ = ["ServerLister", "ListResult"]

#: Regional pages read per region for one list answer, at most (see ``_ListCall.ask``).
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


@dataclasses.dataclass(frozen=True)
class _Query:
    """What a list call asks for."""

    #: each query key's last value
    first: dict[str, str]
    #: None: every project's servers (all_tenants)
    project: str | None
    spec: servers_list.SortSpec
    limit: int | None
    #: the query keys passed on to the regions as they are, with the sort
    forwarded: list[tuple[str, str]]


def _query(ctx: RequestContext, detail: bool, params: dict[str, Any]) -> _Query:
    """The list call's query (``params``: query keys to lists of values).

    :raises PolicyForbidden: all_tenants, and the caller may not list them.
    :raises BadRequest: bad limit or sort.
    """
    first = {k: v[-1] for k, v in params.items() if v}
    all_tenants = first.get("all_tenants") not in (None, "0", "false", "False")
    if all_tenants:
        ctx.can(f"os_compute_api:servers:{'detail' if detail else 'index'}"
                ":get_all_tenants")
    spec = servers_list.parse_sort(params.get("sort_key", []), params.get("sort_dir", []))
    limit = servers_list.parse_limit(first.get("limit"))
    forwarded: list[tuple[str, str]] = [
        (k, v) for k, vs in params.items() if k not in (
            "limit", "marker", "sort_key", "sort_dir") for v in vs]
    forwarded += spec.query()
    return _Query(first, None if all_tenants else ctx.project_id, spec, limit, forwarded)


@dataclasses.dataclass(frozen=True)
class _Start:
    """Where a list starts: after the marker (each other region from its
    anchor), or on the first page, with the servers still being created."""

    marker: servers_list.Marker | None = None
    #: the marker's regional id, for its own region
    marker_local_id: str | None = None
    #: region -> its anchor (see ``servers_list``)
    anchors: dict[str, str | None] = dataclasses.field(default_factory=dict)
    pending: Sequence[tuple[Resource, Placement]] = ()

    def regional_marker(self, region: str) -> str | None:
        """What the region is asked to list after (None: from its start)."""
        if self.marker and self.marker.region == region:
            return self.marker_local_id
        return self.anchors.get(region)


class _ListCall:
    """One list call's asks to the regions, and what their pages gave."""

    def __init__(self, client: RegionClient, pages: ServerPages, ctx: RequestContext,
                 query: _Query, start: _Start, *, detail: bool, microversion: str,
                 cascade_base: str) -> None:
        self._client = client
        self._pages = pages
        self._ctx = ctx
        self._query = query
        self._start = start
        self._microversion = microversion
        self._cascade_base = cascade_base
        #: region -> the last server of its page, for each region that may hold more
        self.ends: dict[str, dict[str, Any]] = {}
        self.gathered = Gathered(detail)
        # The query every region is asked, percent-encoded once for the whole list
        # (each region's marker, when it has one, is appended).
        asked = list(query.forwarded)
        if query.limit is not None:
            asked.append(("limit", str(query.limit)))
        self._encoded = URL.build(query=asked).raw_query_string

    async def ask(self, region: str) -> tuple[list[Item], bool]:
        """The region's servers after the marker; True when more may follow."""
        spec, limit, marker = self._query.spec, self._query.limit, self._start.marker
        regional_marker = self._start.regional_marker(region)
        fetched: list[Item] = []
        for _ in range(_MAX_PAGES_PER_REGION):
            page = await self._page(region, regional_marker)
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

    async def _page(self, region: str, regional_marker: str | None) -> list[Item]:
        """One page of the region's servers, after ``regional_marker``."""
        query = self._encoded
        if regional_marker:
            marker = URL.build(query={"marker": str(regional_marker)}).raw_query_string
            query = f"{query}&{marker}" if query else marker
        resp = await self._client.request(self._ctx, region, "compute", "GET",
                                          "/servers/detail", params=query,
                                          microversion=self._microversion, decode=False)
        return self._pages.items(resp.body, region)

    async def globalise(self, region: str, answer: tuple[list[Item], bool]
                        ) -> list[dict[str, Any]]:
        """A region's page as tenants see it, worked out as soon as it arrives."""
        items, more = answer
        page, last = await self._pages.to_global(region, items, self._query.project,
                                                 self._cascade_base, self.gathered)
        if more and items:
            self.ends[region] = last
        return servers_list.after_marker(self._query.spec, self._start.marker, region, page)


class ServerLister:
    """The list path of ``Servers``."""

    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 client: RegionClient, cache: MappingCache, rewriter: ServerRewriter,
                 in_use: dict[str | None, tuple[float, set[str], bool]]) -> None:
        self._conf = conf
        self._sessions = sessions
        self._client = client
        self._cache = cache
        self._pages = ServerPages(conf, sessions, client, cache, rewriter)
        #: project (None: all) -> (expires, regions in use, any pending)
        self._in_use = in_use

    async def list_servers(self, ctx: RequestContext, *, detail: bool,
                           params: dict[str, Any], microversion: str,
                           cascade_base: str) -> ListResult:
        """Servers from every region the project uses, asked in parallel and merged.

        ``params`` maps query keys to lists of values. Regional servers Cascade
        does not map are hidden; regions that fail or time out are reported in
        ``failed`` and their servers come from cache (UNKNOWN from 2.69).

        :raises BadRequest: bad limit, marker or sort.
        """
        query = _query(ctx, detail, params)
        regions, any_pending = await self._regions_in_use(query.project)
        start = await self._start(query, regions, any_pending)
        call = _ListCall(self._client, self._pages, ctx, query, start, detail=detail,
                         microversion=microversion, cascade_base=cascade_base)
        results = await scatter_process(sorted(regions), call.ask, call.globalise,
                                        timeout=self._conf.api.region_timeout)
        pages, failed = split_results(results)
        for failure in failed:
            if isinstance(failure.error, errors.RegionHTTPError) and failure.error.status < 500:
                # The request itself is wrong (bad filter...): say so, not "partial".
                raise failure.error
        if failed:
            pages.update(await self._from_cache(failed, query, start.marker, cascade_base,
                                                microversion))
        await self._store_fresh(call.gathered.fresh)
        out, next_marker = _merged(query, pages, call.ends, start.pending, cascade_base)
        # Regional servers are JSON already (worked out as their regions answered);
        # the others (cached, building) are encoded here.
        fragments = call.gathered.texts(out)
        return ListResult(out, sorted(f.region for f in failed), next_marker, fragments)

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

    async def _start(self, query: _Query, regions: set[str], any_pending: bool) -> _Start:
        """Where the list starts; the database only for a marker or pending builds.

        :raises BadRequest: the marker is not a server the caller may list.
        """
        if not (query.first.get("marker") or any_pending):
            return _Start()
        async with self._sessions() as session:
            found = await self._marker(session, query.first.get("marker"), query.project)
            if found:
                _, pl, view = found
                marker = servers_list.Marker(view, pl.region)
                anchors = {r: await self._anchor(session, query.spec, marker, r, query.project)
                           for r in regions if r != marker.region}
                return _Start(marker, pl.local_id, anchors)
            if any_pending:
                return _Start(pending=await store.pending_of_project(session, SERVER,
                                                                     query.project))
        return _Start()

    async def _from_cache(self, failed: list[RegionFailure], query: _Query,
                          marker: servers_list.Marker | None, cascade_base: str,
                          microversion: str) -> dict[str, list[dict[str, Any]]]:
        """The pages of the regions that failed, from their cached views."""
        spec = query.spec
        pages: dict[str, list[dict[str, Any]]] = {}
        async with self._sessions() as session:
            for failure in failed:
                cached = await self._cached_region(session, failure.region, query.project,
                                                   cascade_base, microversion)
                if marker and marker.region == failure.region:
                    # Its region cannot continue from the marker: use the cache.
                    cached = [c for c in cached if marker.key(spec) < servers_list.MergeKey(
                        spec, c, failure.region)]
                pages[failure.region] = servers_list.after_marker(
                    spec, marker, failure.region,
                    servers_list.apply_cached_filters(cached, query.first))
        return pages

    async def _store_fresh(self, fresh: list[tuple[str, dict[str, Any], int]]) -> None:
        """Store the views that changed, and remember them as stored."""
        if fresh:
            await server_cache.store_views(self._sessions, [(g, v) for g, v, _ in fresh])
            for gid, _, digest in fresh:
                self._cache.remember(gid, digest)

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


def _merged(query: _Query, pages: dict[str, list[dict[str, Any]]],
            ends: dict[str, dict[str, Any]], pending: Sequence[tuple[Resource, Placement]],
            cascade_base: str) -> tuple[list[dict[str, Any]], str | None]:
    """The answer: the servers still being created first, then the regions'
    pages merged; and the next marker, when more may follow."""
    limit = query.limit
    building = [server_cache.spec_view(res, cascade_base) for res, _ in pending]
    building = servers_list.apply_cached_filters(building, query.first)
    merged = servers_list.merge_pages(
        query.spec, pages, ends, None if limit is None else max(limit - len(building), 0))
    out = (building + merged)[:limit] if limit is not None else building + merged
    next_marker = None
    if limit and out and (len(out) >= limit or ends):
        next_marker = out[-1]["id"]
    return out, next_marker
