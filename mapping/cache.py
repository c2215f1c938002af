"""An in-process cache of active mappings and of what each server last looked like.

The hot path (``GET /servers/{id}``) then needs no database round trip: the
mapping is immutable while a server lives (moves and deletes invalidate it
here; another process's change shows up as a regional 404, after which the
caller invalidates and asks the database; ``cascade.coherence`` tells every
process of the others' changes). A fingerprint of the watched fields
of the last view tells whether Cascade's cached copy in the database needs
rewriting.
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Any, Iterable

import orjson

__all__ = ["Mapping", "MappingCache", "WATCHED"]

#: Fields whose change makes the stored view stale.
WATCHED = ("status", "updated", "name", "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state",
           "locked", "description", "metadata", "tags", "addresses", "flavor", "image")


@dataclasses.dataclass(frozen=True, slots=True)
class Mapping:
    global_id: str
    project_id: str
    region: str
    local_id: str


class MappingCache:
    """Bounded LRU of active server mappings and view digests."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._maps: OrderedDict[str, Mapping] = OrderedDict()
        self._by_local: dict[tuple[str, str], Mapping] = {}
        self._digests: dict[str, int] = {}

    def get(self, global_id: str) -> Mapping | None:
        hit = self._maps.get(global_id)
        if hit is not None:
            self._maps.move_to_end(global_id)
        return hit

    def by_local(self, region: str, local_id: str) -> Mapping | None:
        """The mapping of a regional id, if cached."""
        return self._by_local.get((region, local_id))

    def touch(self, global_id: str) -> None:
        """Mark a cached mapping as just used (a list saw its server)."""
        if global_id in self._maps:
            self._maps.move_to_end(global_id)

    def put(self, mapping: Mapping) -> None:
        old = self._maps.get(mapping.global_id)
        if old is not None:
            self._by_local.pop((old.region, old.local_id), None)
        self._maps[mapping.global_id] = mapping
        self._maps.move_to_end(mapping.global_id)
        self._by_local[(mapping.region, mapping.local_id)] = mapping
        while len(self._maps) > self._size:
            gid, gone = self._maps.popitem(last=False)
            self._by_local.pop((gone.region, gone.local_id), None)
            self._digests.pop(gid, None)

    def clear(self) -> None:
        """Forget every mapping and digest (changes may have been missed)."""
        self._maps.clear()
        self._by_local.clear()
        self._digests.clear()

    def forget(self, global_id: str) -> None:
        gone = self._maps.pop(global_id, None)
        if gone is not None:
            self._by_local.pop((gone.region, gone.local_id), None)
        self._digests.pop(global_id, None)

    def stale(self, global_id: str, server: dict[str, Any]) -> bool:
        """Whether ``server`` differs from the last view seen (and remember it)."""
        digest = self.new_digest(global_id, server)
        if digest is None:
            return False
        self.remember(global_id, digest)
        return True

    def new_digest(self, global_id: str, server: dict[str, Any]) -> int | None:
        """The watched values of ``server`` if they differ from the last view seen.

        Nothing is remembered: ``remember`` once the view is stored.
        """
        digest = _watched(server)
        return digest if self.changed(global_id, digest) else None

    def seen(self, views: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Remember the views just loaded from or stored to the database."""
        for global_id, server in views:
            self.remember(global_id, _watched(server))

    def remember(self, global_id: str, digest: int) -> None:
        """Remember a view's watched values (from ``new_digest``), now stored."""
        # Lists see servers whose mapping is not cached; keep the digests bounded
        # too (forgetting them only costs one extra write of each view).
        if len(self._digests) >= 2 * self._size and global_id not in self._digests:
            self._digests.clear()
        self._digests[global_id] = digest


    def digest_of(self, server: dict[str, Any]) -> int:
        """The fingerprint of a view's watched fields (what ``changed`` compares)."""
        return _watched(server)

    def changed(self, global_id: str, digest: int) -> bool:
        """Whether a view with this fingerprint differs from the last one seen
        (``remember`` it once the view is stored)."""
        return self._digests.get(global_id) != digest


def _watched(server: dict[str, Any]) -> int:
    # NOTE: a 64-bit fingerprint of the watched values' JSON (keys sorted, so a
    # view read back from the database matches the regional one), rather than the
    # values themselves: about as cheap as comparing them (orjson), and it keeps
    # no part of the view alive, so thousands of cached servers add nothing for
    # the garbage collector to walk. A collision would only delay one refresh of
    # the stored view until the server's next change.
    return hash(orjson.dumps(tuple(map(server.get, WATCHED)), default=str,
                             option=orjson.OPT_SORT_KEYS))
