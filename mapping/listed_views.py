"""Servers as lists show them, remembered by the exact text their region sent.

A list decodes every regional server, rewrites it (global ids, Cascade's
links and zone, hidden metadata) and encodes it again: about half a millisecond
of CPU per 25 servers, paid again on every list although most servers have not
changed since the last one. Here, each server's regional JSON text (as it came,
byte for byte) together with the region, Cascade's base URL and the region's
zone is the key to what the rewrite made of it last time: its JSON for
``/servers/detail`` and for ``/servers``, and the values the merge sorts on.
Equal text in, equal text out: a hit is exact, never a guess, and a server that
changed in any way misses and is worked out again.

What the text does not say is checked on every hit by the caller: that the
regional id still maps to the same global id, for the caller's project.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import msgspec
import orjson

__all__ = ["ListedView", "ListedViews", "split_servers", "SUMMARY_KEYS"]

#: What ``GET /servers`` (not detail) shows of each server.
SUMMARY_KEYS = ("id", "name", "links")


class ListedView:
    """One server as a list shows it."""

    __slots__ = ("local_id", "global_id", "keys", "detail", "digest", "_summary")

    def __init__(self, local_id: str, global_id: str, keys: dict[str, Any], detail: bytes,
                 digest: int, summary: bytes | None = None) -> None:
        self.local_id = local_id
        self.global_id = global_id
        #: ``id`` (global), ``created``, ``updated``, ``name``: what the merge reads.
        self.keys = keys
        #: The server as ``/servers/detail`` shows it, JSON.
        self.detail = detail
        #: The list's fingerprint of ``detail`` (``MappingCache.list_stale``).
        self.digest = digest
        self._summary = summary

    @property
    def summary(self) -> bytes:
        """The server as ``/servers`` (not detail) shows it: id, name, links; JSON.

        Worked out from ``detail`` the first time a list asks for it.
        """
        if self._summary is None:
            server = orjson.loads(self.detail)
            self._summary = orjson.dumps({k: server.get(k) for k in SUMMARY_KEYS})
        return self._summary


class ListedViews:
    """A bounded LRU of ``ListedView`` by (region, Cascade base, zone, regional text)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._views: OrderedDict[tuple[str, str, str | None, bytes], ListedView] = OrderedDict()

    @property
    def size(self) -> int:
        """How many views it keeps at most (0: none)."""
        return self._size

    def __len__(self) -> int:
        return len(self._views)

    def get(self, region: str, cascade_base: str, zone: str | None,
            text: bytes) -> ListedView | None:
        key = (region, cascade_base, zone, text)
        hit = self._views.get(key)
        if hit is not None:
            self._views.move_to_end(key)
        return hit

    def put(self, region: str, cascade_base: str, zone: str | None, text: bytes,
            view: ListedView) -> None:
        if self._size <= 0:
            return
        self._views[(region, cascade_base, zone, text)] = view
        while len(self._views) > self._size:
            self._views.popitem(last=False)


class _Servers(msgspec.Struct):
    servers: list[msgspec.Raw]


_decode_servers = msgspec.json.Decoder(_Servers).decode


def split_servers(body: bytes) -> list[bytes] | None:
    """The text of each server in a ``{"servers": [...]}`` answer, undecoded.

    :returns: None when the body is not an object with a ``servers`` list
        (decode it to find out what it is).
    """
    try:
        return [bytes(raw) for raw in _decode_servers(body).servers]
    except msgspec.DecodeError:
        return None
