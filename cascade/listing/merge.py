"""Merge answers that regions sorted themselves: one heap merge for servers,
flavors and ports.

Each region's answer arrives in the list's order; ``heapq.merge`` joins them
without sorting again. Ties between regions go to the region that comes
first in ``streams`` (so equal keys keep a stable, repeatable place on every
page), ties within a region keep the region's own order (its tie-breaker is
an internal id only it knows). A region whose page came back full may hold
more rows beyond its last one, so the merged answer stops after the earliest
such end (``ends``).
"""
from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

from cascade.listing.order import SortKey

__all__ = ["merge"]

T = TypeVar("T")


def merge(values: Callable[[T], tuple[Any, ...]], descending: Sequence[bool],
          streams: Mapping[str, Sequence[T]], *, ends: Mapping[str, T] | None = None,
          limit: int | None = None) -> list[tuple[str, T]]:
    """(region, row) pairs of every stream, in order, cut at the earliest end and at
    ``limit``.

    :param values: a row's sort values (they must compare with ``<``).
    :param descending: each value's direction.
    :param streams: region -> its rows, already in this order; the mapping's own
        order ranks regions for ties.
    :param ends: region -> the last row of its answer, for regions that may hold
        more rows after it.
    """
    ends = ends or {}
    rank = {region: i for i, region in enumerate([*streams, *(r for r in ends
                                                              if r not in streams)])}
    if len(set(descending)) <= 1:
        pairs = _merge_one_way(values, bool(descending and descending[0]), streams, ends,
                               rank)
    else:
        pairs = _merge_mixed(values, tuple(descending), streams, ends, rank)
    if limit is None or limit >= sum(len(rows) for rows in streams.values()):
        return list(pairs)  # (a limit past every row: a tenant's limit=10**30, say)
    return list(itertools.islice(pairs, limit))


def _merge_one_way(values: Callable[[T], tuple[Any, ...]], desc: bool,
                   streams: Mapping[str, Sequence[T]], ends: Mapping[str, T],
                   rank: dict[str, int]) -> Iterator[tuple[str, T]]:
    """Every key one way (the usual case): plain tuples compared in C. The region's
    rank is negated when merging in reverse, so that ties still go to the first
    region."""
    def key(row: T, region: str) -> tuple[Any, ...]:
        return (*values(row), -rank[region] if desc else rank[region])

    boundary: tuple[Any, ...] | None = None
    for region, last in ends.items():
        k = key(last, region)
        if boundary is None or (k > boundary if desc else k < boundary):
            boundary = k
    keyed = []
    for region, rows in streams.items():
        r = -rank[region] if desc else rank[region]  # no call per row: lists are hot
        keyed.append([((*values(row), r), region, row) for row in rows])
    for k, region, row in heapq.merge(*keyed, key=_first, reverse=desc):
        if boundary is not None and (k < boundary if desc else k > boundary):
            return
        yield region, row


def _merge_mixed(values: Callable[[T], tuple[Any, ...]], descending: tuple[bool, ...],
                 streams: Mapping[str, Sequence[T]], ends: Mapping[str, T],
                 rank: dict[str, int]) -> Iterator[tuple[str, T]]:
    """Keys in different directions: each compared its own way (``SortKey``)."""
    dirs = (*descending, False)

    def key(row: T, region: str) -> SortKey:
        return SortKey((*values(row), rank[region]), dirs)

    boundary: SortKey | None = None
    for region, last in ends.items():
        k = key(last, region)
        if boundary is None or k < boundary:
            boundary = k
    keyed = [[(key(row, region), region, row) for row in rows]
             for region, rows in streams.items()]
    for k, region, row in heapq.merge(*keyed, key=_first):
        if boundary is not None and boundary < k:
            return
        yield region, row


def _first(item: tuple[Any, ...]) -> Any:
    return item[0]
