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
        #: The fingerprint of the view's watched fields (``MappingCache.digest_of``).
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


#: What an entry costs besides its texts (the key tuple, the entry, its keys dict).
_OVERHEAD = 600


class ListedViews:
    """``ListedView`` by (region, regional base, Cascade base, zone, regional text).

    Bounded by bytes, least recently listed out first: the texts are the
    regions' (a server's metadata alone may be 64 KB), and Cascade's base
    follows the caller's Host header unless ``[api] public_url`` is set.
    """

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._bytes = 0
        self._views: OrderedDict[tuple[str, str, str, str | None, bytes], ListedView] = \
            OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._max > 0

    @property
    def nbytes(self) -> int:
        """Roughly what the entries hold, in bytes."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._views)

    def get(self, region: str, regional_base: str, cascade_base: str, zone: str | None,
            text: bytes) -> ListedView | None:
        key = (region, regional_base, cascade_base, zone, text)
        hit = self._views.get(key)
        if hit is not None:
            self._views.move_to_end(key)
        return hit

    def put(self, region: str, regional_base: str, cascade_base: str, zone: str | None,
            text: bytes, view: ListedView) -> None:
        cost = _cost(text, view)
        if cost > self._max // 16:  # one entry never takes a large share
            return
        key = (region, regional_base, cascade_base, zone, text)
        old = self._views.pop(key, None)
        if old is not None:
            self._bytes -= _cost(text, old)
        self._views[key] = view
        self._bytes += cost
        while self._bytes > self._max:
            (_, _, _, _, gone_text), gone = self._views.popitem(last=False)
            self._bytes -= _cost(gone_text, gone)


def _cost(text: bytes, view: ListedView) -> int:
    # the summary, worked out later if at all, is a fraction of the detail
    return len(text) + len(view.detail) * 5 // 4 + _OVERHEAD


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
    except (msgspec.DecodeError, RecursionError):
        return None
