"""Sort, filter and page rows in memory: the engine under Glance's and Neutron's lists.

A dialect (``cascade/images/query.py``, ``cascade/networks/query.py``) turns
a request's query string into an :class:`Order` (the sort values of a row,
each with its direction; the last one unique, so the order is total), tests
(one predicate per filter) and a marker row; :func:`page` does the rest.
Paging is by key, not by position: a page starts after the marker's sort
values, so it stays right while rows come and go between requests.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Generic, Iterable, Sequence, TypeVar

__all__ = ["Order", "SortKey", "page"]

T = TypeVar("T")


class SortKey:
    """Sort values compared each in its own direction (a row's place in an ``Order``)."""

    __slots__ = ("values", "descending")

    def __init__(self, values: tuple[Any, ...], descending: tuple[bool, ...]) -> None:
        self.values = values
        self.descending = descending

    def __lt__(self, other: "SortKey") -> bool:
        for a, b, desc in zip(self.values, other.values, self.descending):
            if a == b:
                continue
            return bool(a > b) if desc else bool(a < b)
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SortKey) and self.values == other.values

    def __hash__(self) -> int:
        return hash(self.values)


@dataclasses.dataclass(frozen=True)
class Order(Generic[T]):
    """How rows sort: ``values`` gives a row's sort values, ``descending`` their ways.

    Values must compare with ``<`` among rows (a dialect maps NULLs to a
    comparable stand-in).
    """

    values: Callable[[T], tuple[Any, ...]]
    descending: tuple[bool, ...]

    def key(self, row: T) -> SortKey:
        return SortKey(self.values(row), self.descending)

    def sorted(self, rows: Iterable[T]) -> list[T]:
        """``rows`` in this order."""
        out = list(rows)
        if len(set(self.descending)) == 1:
            # One direction: plain tuples, compared in C.
            out.sort(key=self.values, reverse=self.descending[0])
            return out
        for i in reversed(range(len(self.descending))):
            out.sort(key=self._value_at(i), reverse=self.descending[i])
        return out

    def _value_at(self, i: int) -> Callable[[T], Any]:
        values = self.values
        return lambda row: values(row)[i]


def page(rows: Iterable[T], order: Order[T], *, tests: Sequence[Callable[[T], bool]] = (),
         after: T | None = None, limit: int | None = None) -> tuple[list[T], bool]:
    """The rows that pass every test, in ``order``, strictly after ``after``, at most
    ``limit`` (None: all); and whether more rows follow the page.

    ``after`` (the previous page's last row, or the row a marker names) need not
    pass the tests itself: only its sort values say where the page starts.
    """
    chosen = order.sorted(row for row in rows if all(test(row) for test in tests))
    if after is not None:
        start = order.key(after)
        chosen = [row for row in chosen if start < order.key(row)]
    if limit is None or len(chosen) <= limit:
        return chosen, False
    return chosen[:limit], True
