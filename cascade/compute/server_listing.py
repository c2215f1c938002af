"""Server lists across the regions a project uses: asked in parallel, merged.

Each region's page is worked out (global ids, links, zone) as soon as it
arrives, so little is left to do once the slowest region has answered; a
region that fails or times out is answered from cache (``server_cache``). The
merge itself, markers and sort keys are ``servers_list``'s.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import orjson
from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.compute import server_cache, servers_list
from cascade.compute.server_create import SERVER
from cascade.compute.server_rewrite import ServerRewriter
from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Placement, PlacementState, Resource
from cascade.regions.client import RegionClient
from cascade.regions.fanout import scatter_process, split_results
from cascade.mapping import listed_views, rewrite, store
from cascade.mapping.cache import Mapping, MappingCache
from cascade.mapping.listed_views import ListedView, ListedViews

__all__ = ["ServerLister", "ListResult"]

#: Regional pages read per region for one list answer, at most (see ``ask``).
_MAX_PAGES_PER_REGION = 20


#: A server of a regional list: its JSON text as it came, or decoded.
_Item = bytes | dict[str, Any]


def _not_a_list(region: str) -> errors.RegionUnavailable:
    # The list then says the region is missing, instead of failing whole.
    return errors.RegionUnavailable(region, f"Region {region} answered a server list "
                                            "that is not one")


def _page_items(body: Any, region: str, split: bool = True) -> list[_Item]:
    """The servers of a regional list answer, each as its JSON text when
    ``split`` and the answer is well-formed JSON (``ListedViews`` keys on it).

    :raises RegionUnavailable: the answer is not a server list.
    """
    if isinstance(body, bytes):
        texts = listed_views.split_servers(body) if split else None
        if texts is not None:
            return list(texts)
        try:
            body = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            raise _not_a_list(region) from None
    servers = body.get("servers", []) if isinstance(body, dict) else None
    if not isinstance(servers, list):
        raise _not_a_list(region)
    return [_decoded(s, region) for s in servers]


def _decoded(item: _Item, region: str) -> dict[str, Any]:
    """A regional server as a dict.

    :raises RegionUnavailable: it is not an object with a string id.
    """
    try:
        server = orjson.loads(item) if isinstance(item, bytes) else item
    except orjson.JSONDecodeError:  # msgspec lets some through (bad UTF-8, 1e400)
        raise _not_a_list(region) from None
    if not isinstance(server, dict) or not isinstance(server.get("id"), str):
        raise _not_a_list(region)
    return server


def _decoded_all(texts: list[bytes], region: str) -> list[dict[str, Any]]:
    """``_decoded`` of each of ``texts`` (servers' JSON), in one decode.

    :raises RegionUnavailable: one is not an object with a string id.
    """
    try:
        servers = orjson.loads(b"[" + b",".join(texts) + b"]")
    except orjson.JSONDecodeError:  # msgspec lets some through (bad UTF-8, 1e400)
        raise _not_a_list(region) from None
    for server in servers:
        if not isinstance(server, dict) or not isinstance(server.get("id"), str):
            raise _not_a_list(region)
    return servers


def _index_view(server: dict[str, Any]) -> dict[str, Any]:
    return {k: server.get(k) for k in listed_views.SUMMARY_KEYS}


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
        self._listed = ListedViews(conf.api.list_view_cache_mb << 20)
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

        async def ask(region: str) -> tuple[list[_Item], bool]:
            """The region's servers after the marker; True when more may follow."""
            regional_marker = None
            if found and marker and marker.region == region:
                regional_marker = found[1].local_id
            elif anchors.get(region):
                regional_marker = anchors[region]
            fetched: list[_Item] = []
            for _ in range(_MAX_PAGES_PER_REGION):
                query = list(fwd)
                if limit is not None:
                    query.append(("limit", str(limit)))
                if regional_marker:
                    query.append(("marker", str(regional_marker)))
                resp = await self._client.request(ctx, region, "compute", "GET",
                                                  "/servers/detail", params=query,
                                                  microversion=microversion, decode=False)
                page = _page_items(resp.body, region, split=self._listed.enabled)
                fetched += page
                more = limit is not None and len(page) >= limit
                if not (more and marker and marker.region != region and page):
                    return fetched, more
                # An anchor may sit well before the marker: keep reading until this
                # region's page reaches past it, so every answer makes progress.
                last = _decoded(page[-1], region)
                if not servers_list.not_past(spec, last, region, marker):
                    return fetched, more
                regional_marker = last["id"]
            return fetched, True

        ends: dict[str, dict[str, Any]] = {}
        fresh: list[tuple[str, dict[str, Any], int]] = []
        #: id(server) -> its JSON as the answer shows it (servers live until it is sent)
        #: (the object itself too: an id is only unique while its object lives)
        encoded: dict[int, tuple[object, bytes]] = {}

        async def globalise(region: str, answer: tuple[list[_Item], bool]
                            ) -> list[dict[str, Any]]:
            """A region's page as tenants see it, worked out as soon as it arrives."""
            items, more = answer
            page, last = await self._page_to_global(region, items, project, cascade_base,
                                                    detail, fresh, encoded)
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
        fragments: list[bytes] = []
        for s in out:
            known = encoded.get(id(s))
            text = known[1] if known is not None and known[0] is s else None
            if text is None:
                text = orjson.dumps(s if detail else _index_view(s), default=str)
            fragments.append(text)
        return ListResult(out, sorted(f.region for f in failed), next_marker, fragments)

    async def _page_to_global(self, region: str, items: list[_Item], project: str | None,
                              cascade_base: str, detail: bool,
                              fresh: list[tuple[str, dict[str, Any], int]],
                              encoded: dict[int, tuple[object, bytes]]
                              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One region's page as tenants see it; the unmapped hidden.

        Servers whose regional text is the same as in an earlier list come from
        ``ListedViews``; the others are decoded and rewritten (``_work_out``).
        Each server's JSON, as the answer shows it, goes to ``encoded`` by
        ``id()`` of the returned entry (with the entry); views to store, to
        ``fresh``.

        :returns: the page (servers, or just their merge keys), and its last
            server's merge keys as a merge boundary (global id if mapped;
            meaningless for an empty page).
        """
        cache, views = self._cache, self._listed
        zone = self._rewriter.zone(region)
        regional_base = self._client.base_url(region, "compute")
        #: per item: its merge keys (a hit) or the decoded server; whether listed
        entries: list[dict[str, Any]] = []
        shown: list[bool] = []
        todo: list[tuple[int, bytes | None]] = []
        for item in items:
            if isinstance(item, bytes):
                hit = views.get(region, regional_base, cascade_base, zone, item)
                if hit is not None:
                    mapped = cache.by_local(region, hit.local_id)
                    if (mapped is not None and mapped.global_id == hit.global_id
                            and (project is None or mapped.project_id == project)):
                        cache.touch(hit.global_id)
                        if cache.changed(hit.global_id, hit.digest):
                            fresh.append((hit.global_id, orjson.loads(hit.detail), hit.digest))
                        encoded[id(hit.keys)] = (hit.keys,
                                                 hit.detail if detail else hit.summary)
                        entries.append(hit.keys)
                        shown.append(True)
                        continue
                todo.append((len(entries), item))
                entries.append({})  # decoded below, with the page's other misses
            else:
                todo.append((len(entries), None))
                entries.append(item)
            shown.append(False)
        texts = [text for _, text in todo if text is not None]
        if texts:  # one decode for all of them: cheaper than one per server
            decoded = iter(_decoded_all(texts, region))
            for at, text in todo:
                if text is not None:
                    entries[at] = next(decoded)
        if todo:
            worked = await self._work_out(region, [entries[at] for at, _ in todo], project,
                                          regional_base, cascade_base, zone)
            for (at, text), listed in zip(todo, worked):
                if listed is None:
                    continue  # not Cascade's, or not the project's: hidden
                shown[at] = True
                if cache.changed(listed.global_id, listed.digest):
                    fresh.append((listed.global_id, entries[at], listed.digest))
                encoded[id(entries[at])] = (entries[at], listed.detail if detail else orjson.dumps(
                    _index_view(entries[at]), default=str))
                if text is not None and cache.by_local(region, listed.local_id) is not None:
                    views.put(region, regional_base, cascade_base, zone, text, listed)
        # The last server, rewritten in place when mapped (global id), bounds the merge.
        last = entries[-1] if entries else {}
        return [e for e, ok in zip(entries, shown) if ok], last

    async def _work_out(self, region: str, servers: list[dict[str, Any]],
                        project: str | None, regional_base: str, cascade_base: str,
                        zone: str | None) -> list[ListedView | None]:
        """Decoded regional servers rewritten in place, and how lists show them
        (None: not Cascade's, or not the project's: left as they are)."""
        await self._rewriter.global_images(region, servers)
        local_ids = [s["id"] for s in servers]
        gids = await self._global_ids(region, local_ids, project)
        pairs = [(s, gid) for s, gid in zip(servers, gids) if gid is not None]
        rewrite.servers_to_global(pairs, regional_base, cascade_base, availability_zone=zone)
        out: list[ListedView | None] = []
        for server, local_id, gid in zip(servers, local_ids, gids):
            if gid is None:
                out.append(None)
                continue
            detail = orjson.dumps(server, default=str)
            keys = {"id": gid, "created": server.get("created"),
                    "updated": server.get("updated"), "name": server.get("name")}
            out.append(ListedView(local_id, gid, keys, detail, self._cache.digest_of(server)))
        return out

    async def _global_ids(self, region: str, local_ids: list[str],
                          project: str | None) -> list[str | None]:
        """The global id of each regional server id (None: not Cascade's, or not
        the project's): from the in-process cache, then the database."""
        cache = self._cache
        gids: list[str | None] = []
        unknown: list[str] = []
        for local_id in local_ids:
            hit = cache.by_local(region, local_id)
            if hit is not None and (project is None or hit.project_id == project):
                cache.touch(hit.global_id)
                gids.append(hit.global_id)
            else:
                gids.append(None)
                unknown.append(local_id)
        if unknown:
            async with self._sessions() as session:
                from_db = await store.map_local_ids(session, SERVER, region, unknown, project)
            for i, local_id in enumerate(local_ids):
                found = from_db.get(local_id) if gids[i] is None else None
                if found is not None:
                    gid, owner, state = found
                    if state == PlacementState.ACTIVE:
                        cache.put(Mapping(gid, owner, region, local_id))
                    gids[i] = gid
        return gids

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
