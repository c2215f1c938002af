"""Server lists across regions: parallel asks, heap merge, global markers.

Every region the project uses is asked at once, each within its deadline, for
at most ``limit`` servers after the marker. The pages, each in its region's
own order, are merged with ``heapq.merge`` on the sort keys, then the region
name (see ``MergeKey``).

The global marker is a global id. Its region gets the marker's regional id;
other regions get an *anchor*: their last server that sorts safely before the
marker (from cached sort values, with a margin for time keys), so they return
everything after it; what the caller has already seen is filtered out on the
merge key. A region whose page came back full can hide servers beyond its
last one, so the merged answer is cut before the first such boundary.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Callable, Iterable, Sequence

import re2

from cascade import errors
from cascade.listing.merge import merge

__all__ = ["SortSpec", "parse_sort", "parse_limit", "MergeKey", "Marker", "merge_pages",
           "anchor_for", "not_past", "after_marker", "apply_cached_filters", "MAX_LIMIT"]

#: Nova's default [api] max_limit.
MAX_LIMIT = 1000

#: Nova sort keys Cascade can merge on, and the server field holding each.
SORT_FIELDS = {"created_at": "created", "updated_at": "updated", "display_name": "name"}
_TIME_KEYS = {"created_at", "updated_at"}
#: How far before the marker an anchor must sort on time keys: cached times may be
#: a little off the region's own, and refetching a few servers costs little.
_TIME_MARGIN = dt.timedelta(seconds=5)


@dataclasses.dataclass(frozen=True)
class SortSpec:
    keys: tuple[str, ...]
    dirs: tuple[str, ...]

    def query(self) -> list[tuple[str, str]]:
        """sort_key/sort_dir parameters for the regions."""
        out: list[tuple[str, str]] = []
        for key, direction in zip(self.keys, self.dirs):
            out += [("sort_key", key), ("sort_dir", direction)]
        return out


def parse_sort(keys: Sequence[str], dirs: Sequence[str]) -> SortSpec:
    """Nova's sort_key/sort_dir lists (default created_at desc).

    :raises BadRequest: a key Cascade cannot merge on, or a bad direction.
    """
    if not keys:
        keys = ["created_at"]
    for key in keys:
        if key not in SORT_FIELDS:
            raise errors.BadRequest(f"Invalid sort_key {key}; Cascade sorts on "
                                    f"{', '.join(sorted(SORT_FIELDS))}")
    dirs = list(dirs) or ["desc"]
    for d in dirs:
        if d not in ("asc", "desc"):
            raise errors.BadRequest(f"Invalid sort_dir {d}")
    while len(dirs) < len(keys):
        dirs.append(dirs[-1])
    return SortSpec(tuple(keys), tuple(dirs[:len(keys)]))


def parse_limit(value: str | None) -> int | None:
    """:raises BadRequest: not a non-negative integer."""
    if value is None:
        return None
    try:
        limit = int(value)
    except ValueError:
        raise errors.BadRequest(f"limit must be an integer, not {value!r}") from None
    if limit < 0:
        raise errors.BadRequest("limit must be >= 0")
    return min(limit, MAX_LIMIT)


class MergeKey:
    """Orders servers on the sort spec, each key in its own direction, then region.

    Within one region, servers that tie on the sort keys stay in the region's own
    order (Nova breaks ties on its internal id, which only the region knows):
    ``heapq.merge`` keeps each stream's order for equal keys, and the region name
    makes keys from different regions never equal. That makes the order total
    and the same on every page.
    """

    __slots__ = ("values", "dirs", "server")

    def __init__(self, spec: SortSpec, server: dict[str, Any], region: str) -> None:
        self.values = tuple(server.get(SORT_FIELDS[k]) or "" for k in spec.keys) + (region,)
        self.dirs = spec.dirs + ("asc",)
        self.server = server

    def __lt__(self, other: "MergeKey") -> bool:
        for a, b, d in zip(self.values, other.values, self.dirs):
            if a == b:
                continue
            return bool((a < b) if d == "asc" else (a > b))
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MergeKey) and self.values == other.values


@dataclasses.dataclass(frozen=True)
class Marker:
    """Where the previous page ended: the server's cached view and its region."""

    view: dict[str, Any]
    region: str

    def key(self, spec: SortSpec) -> MergeKey:
        return MergeKey(spec, self.view, self.region)


def _shift(value: Any, key: str, direction: str) -> Any:
    """Move a time value by the margin toward the start of the order."""
    if key not in _TIME_KEYS or not isinstance(value, str) or not value:
        return value
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    when = when + _TIME_MARGIN if direction == "desc" else when - _TIME_MARGIN
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def anchor_for(spec: SortSpec, marker: Marker, region: str,
               candidates: Iterable[tuple[str, dict[str, Any]]]) -> str | None:
    """The regional id to use as marker in a region that does not hold the marker.

    ``candidates`` are (local id, cached server) of that region. The anchor is
    the last one that sorts before the marker shifted by the margin; None means
    "from the start". Reading from a little early is safe: what was already
    served is filtered out, and ``not_past`` reads on until past the marker.
    """
    first_key, first_dir = spec.keys[0], spec.dirs[0]
    shifted = dict(marker.view)
    shifted[SORT_FIELDS[first_key]] = _shift(marker.view.get(SORT_FIELDS[first_key]),
                                             first_key, first_dir)
    # Compare as if in this region: only the sort values decide.
    limit_key = MergeKey(spec, shifted, region)
    best: tuple[MergeKey, str] | None = None
    for local_id, server in candidates:
        key = MergeKey(spec, server, region)
        if key < limit_key and (best is None or best[0] < key):
            best = (key, local_id)
    return best[1] if best else None


def not_past(spec: SortSpec, server: dict[str, Any], region: str, marker: Marker) -> bool:
    """Whether a raw regional server sorts at or before the marker.

    A region whose page ends there has not yet reached what comes after the
    marker, so it is asked for its next page.
    """
    return not marker.key(spec) < MergeKey(spec, server, region)


def after_marker(spec: SortSpec, marker: Marker | None, region: str,
                 servers: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the servers that sort strictly after ``marker``.

    The marker's own region was asked with the marker itself, so its answer
    already starts after it (and keeps the region's order among ties).
    """
    if marker is None or marker.region == region:
        return list(servers)
    mkey = marker.key(spec)
    return [s for s in servers if mkey < MergeKey(spec, s, region)]


def merge_pages(spec: SortSpec, pages: dict[str, list[dict[str, Any]]],
                ends: dict[str, dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """Merge region pages (each in its region's order); take ``limit``.

    ``ends`` holds, for each region whose page came back full, the last server
    it returned: servers it did not return sort after that one, so the merged
    answer stops after the earliest such end. Ties between regions go to
    region names in ascending order, as ``MergeKey`` orders them.
    """
    fields = [SORT_FIELDS[k] for k in spec.keys]
    if len(fields) == 1:  # the usual single sort key: no generator per server
        field = fields[0]

        def values(server: dict[str, Any]) -> tuple[Any, ...]:
            return (server.get(field) or "",)
    else:
        def values(server: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(server.get(f) or "" for f in fields)
    streams = {region: pages.get(region, []) for region in sorted(set(pages) | set(ends))}
    merged = merge(values, [d == "desc" for d in spec.dirs], streams, ends=ends,
                   limit=limit)
    return [server for _, server in merged]


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a tenant's typo is not Cascade's error log


def name_matcher(name: str) -> Callable[[str], Any]:
    """Nova's ``name`` filter (a regular expression, searched) for entries Cascade
    answers itself. RE2 matches in linear time, so a pathological pattern from a
    tenant (``^(a+)+$``) costs microseconds, not the event loop's next minute;
    a pattern RE2 cannot take is matched as a plain substring.
    """
    try:
        return re2.compile(name, options=_RE2_OPTIONS).search
    except re2.error:
        return lambda s: name in s


def apply_cached_filters(servers: Iterable[dict[str, Any]],
                         params: dict[str, str]) -> list[dict[str, Any]]:
    """Best-effort name/status filters on cached entries (the region cannot filter)."""
    out = list(servers)
    name = params.get("name")
    if name:
        pattern = name_matcher(name)
        out = [s for s in out if pattern(str(s.get("name", "")))]
    status = params.get("status")
    if status:
        out = [s for s in out if str(s.get("status", "")).upper() == status.upper()]
    return out
