"""One region's server-list page as tenants see it: Cascade's servers rewritten
to global ids and links, the others hidden.

A server whose regional text is the same as in an earlier list is shown from
``ListedViews`` without decoding it; the page's other servers are decoded in
one go and worked out (``ServerPages._work_out``).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import orjson
from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.compute.server_cache import SERVER
from cascade.compute.server_rewrite import ServerRewriter
from cascade import errors
from cascade.db.models import PlacementState
from cascade.regions.client import RegionClient
from cascade.mapping import listed_views, rewrite, store
from cascade.mapping.cache import Mapping, MappingCache
from cascade.mapping.listed_views import ListedView, ListedViews

__all__ = ["ServerPages", "Gathered", "Item", "page_items", "decoded", "index_view"]

#: A server of a regional list: its JSON text as it came, or decoded.
Item = bytes | dict[str, Any]


def _not_a_list(region: str) -> errors.RegionUnavailable:
    # The list then says the region is missing, instead of failing whole.
    return errors.RegionUnavailable(region, f"Region {region} answered a server list "
                                            "that is not one")


def page_items(body: Any, region: str, split: bool = True) -> list[Item]:
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
    return [decoded(s, region) for s in servers]


def decoded(item: Item, region: str) -> dict[str, Any]:
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
    """``decoded`` of each of ``texts`` (servers' JSON), in one decode.

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


def index_view(server: dict[str, Any]) -> dict[str, Any]:
    """A server as ``/servers`` (not detail) shows it."""
    return {k: server.get(k) for k in listed_views.SUMMARY_KEYS}


class Gathered:
    """What one list call gathers from its regions' pages as they arrive."""

    def __init__(self, detail: bool) -> None:
        #: whether the list shows servers in detail (else ``index_view``)
        self.detail = detail
        #: (global id, view, digest) of each view that changed: to store
        self.fresh: list[tuple[str, dict[str, Any], int]] = []
        #: id(server) -> its JSON as the answer shows it (servers live until it is sent)
        #: (the object itself too: an id is only unique while its object lives)
        self.encoded: dict[int, tuple[object, bytes]] = {}

    def texts(self, servers: list[dict[str, Any]]) -> list[bytes]:
        """Each server's JSON as the answer shows it: as gathered, else encoded now."""
        out: list[bytes] = []
        for s in servers:
            known = self.encoded.get(id(s))
            text = known[1] if known is not None and known[0] is s else None
            if text is None:
                text = orjson.dumps(s if self.detail else index_view(s), default=str)
            out.append(text)
        return out


class _Rewrite(NamedTuple):
    """How one region's servers are rewritten (with the regional text, what
    ``ListedViews`` keys on)."""

    region: str
    regional_base: str
    cascade_base: str
    zone: str | None


class ServerPages:
    """Regional list pages worked out into what tenants see."""

    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 client: RegionClient, cache: MappingCache, rewriter: ServerRewriter) -> None:
        self._sessions = sessions
        self._client = client
        self._cache = cache
        self._rewriter = rewriter
        self._listed = ListedViews(conf.api.list_view_cache_mb << 20)

    def items(self, body: Any, region: str) -> list[Item]:
        """``page_items``, as JSON texts when lists remember servers by them.

        :raises RegionUnavailable: the answer is not a server list.
        """
        return page_items(body, region, split=self._listed.enabled)

    async def to_global(self, region: str, items: list[Item], project: str | None,
                        cascade_base: str, gathered: Gathered
                        ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One region's page as tenants see it; the unmapped hidden.

        Servers whose regional text is the same as in an earlier list come from
        ``ListedViews``; the others are decoded and rewritten (``_work_out_misses``).
        Each server's JSON, as the answer shows it, goes to ``gathered.encoded``
        by ``id()`` of the returned entry (with the entry); views to store, to
        ``gathered.fresh``.

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
        #: the items to work out: (index in entries, regional text; None: decoded)
        todo: list[tuple[int, bytes | None]] = []
        # Remembered servers are shown right here, not in a helper: this runs for
        # every server of every list (see bench/list_cpu.py).
        for item in items:
            if isinstance(item, bytes):
                hit = views.get(region, regional_base, cascade_base, zone, item)
                if hit is not None:
                    mapped = cache.by_local(region, hit.local_id)
                    if (mapped is not None and mapped.global_id == hit.global_id
                            and (project is None or mapped.project_id == project)):
                        cache.touch(hit.global_id)
                        if cache.changed(hit.global_id, hit.digest):
                            gathered.fresh.append((hit.global_id, orjson.loads(hit.detail),
                                                   hit.digest))
                        gathered.encoded[id(hit.keys)] = (
                            hit.keys, hit.detail if gathered.detail else hit.summary)
                        entries.append(hit.keys)
                        shown.append(True)
                        continue
                todo.append((len(entries), item))
                entries.append({})  # decoded below, with the page's other misses
            else:
                todo.append((len(entries), None))
                entries.append(item)
            shown.append(False)
        if todo:
            await self._work_out_misses(_Rewrite(region, regional_base, cascade_base, zone),
                                        entries, shown, todo, project, gathered)
        # The last server, rewritten in place when mapped (global id), bounds the merge.
        last = entries[-1] if entries else {}
        return [e for e, ok in zip(entries, shown) if ok], last

    async def _work_out_misses(self, how: _Rewrite, entries: list[dict[str, Any]],
                               shown: list[bool], todo: list[tuple[int, bytes | None]],
                               project: str | None, gathered: Gathered) -> None:
        """The page's servers not remembered, decoded into ``entries`` and worked
        out, in place; their JSON gathered, and remembered for the next list."""
        cache = self._cache
        texts = [text for _, text in todo if text is not None]
        if texts:  # one decode for all of them: cheaper than one per server
            parsed = iter(_decoded_all(texts, how.region))
            for at, text in todo:
                if text is not None:
                    entries[at] = next(parsed)
        worked = await self._work_out(how.region, [entries[at] for at, _ in todo], project,
                                      how.regional_base, how.cascade_base, how.zone)
        for (at, text), listed in zip(todo, worked):
            if listed is None:
                continue  # not Cascade's, or not the project's: hidden
            shown[at] = True
            if cache.changed(listed.global_id, listed.digest):
                gathered.fresh.append((listed.global_id, entries[at], listed.digest))
            as_shown = (listed.detail if gathered.detail
                        else orjson.dumps(index_view(entries[at]), default=str))
            gathered.encoded[id(entries[at])] = (entries[at], as_shown)
            if text is not None and cache.by_local(how.region, listed.local_id) is not None:
                self._listed.put(how.region, how.regional_base, how.cascade_base, how.zone,
                                 text, listed)

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
