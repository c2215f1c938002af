"""The shared list engine: keyset pages over Cascade's own rows, and the heap merge
of regions' sorted answers (servers, flavors, ports)."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cascade.listing.merge import merge
from cascade.listing.order import Order, SortKey, page

Row = dict[str, Any]
BY_SIZE_THEN_ID: Order[Row] = Order(lambda r: (r["size"], r["id"]), (True, False))


def _rows(*pairs: tuple[str, int]) -> list[Row]:
    return [{"id": i, "size": s} for i, s in pairs]


def test_mixed_directions_sort_each_key_its_own_way() -> None:
    rows = _rows(("b", 1), ("a", 1), ("c", 3), ("d", 2))
    assert [r["id"] for r in BY_SIZE_THEN_ID.sorted(rows)] == ["c", "d", "a", "b"]


def test_a_page_starts_after_the_marker_even_one_the_tests_exclude() -> None:
    rows = _rows(("a", 5), ("b", 4), ("c", 3), ("d", 2), ("e", 1))
    odd = [lambda r: r["size"] % 2 == 1]
    marker = rows[1]  # size 4: filtered out, still says where the page starts
    got, more = page(rows, BY_SIZE_THEN_ID, tests=odd, after=marker, limit=1)
    assert [r["id"] for r in got] == ["c"] and more
    got, more = page(rows, BY_SIZE_THEN_ID, tests=odd, after=got[-1], limit=1)
    assert [r["id"] for r in got] == ["e"] and not more


def test_a_row_added_before_the_marker_does_not_shift_the_next_page() -> None:
    rows = _rows(("a", 5), ("b", 4), ("c", 3))
    first, _ = page(rows, BY_SIZE_THEN_ID, limit=2)
    rows.append({"id": "z", "size": 9})  # sorts first: a positional page would repeat "b"
    second, more = page(rows, BY_SIZE_THEN_ID, after=first[-1], limit=2)
    assert [r["id"] for r in second] == ["c"] and not more


def test_equal_keys_across_regions_go_to_the_first_region() -> None:
    streams = {"R2": _rows(("x", 1)), "R1": _rows(("y", 1))}
    got = merge(lambda r: (r["size"],), [False], streams)
    assert [region for region, _ in got] == ["R2", "R1"]
    got = merge(lambda r: (r["size"],), [True], streams)
    assert [region for region, _ in got] == ["R2", "R1"]


def test_the_merge_stops_after_the_earliest_full_page() -> None:
    # R1 returned a full page ending at size 2: it may hold 3 and 4 too.
    streams = {"R1": _rows(("a", 1), ("b", 2)), "R2": _rows(("c", 1), ("d", 3), ("e", 5))}
    got = merge(lambda r: (r["size"],), [False], streams, ends={"R1": streams["R1"][-1]})
    assert [r["id"] for _, r in got] == ["a", "c", "b"]


def _sorted_stream(rows: list[tuple[int, int]], desc: tuple[bool, bool]) -> list[Row]:
    key = [{"k1": a, "k2": b} for a, b in rows]
    return sorted(key, key=lambda r: SortKey((r["k1"], r["k2"]), desc))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=8),
                min_size=1, max_size=4),
       st.tuples(st.booleans(), st.booleans()), st.none() | st.integers(0, 10))
def test_merging_sorted_answers_equals_sorting_them_all(
        regions: list[list[tuple[int, int]]], desc: tuple[bool, bool],
        limit: int | None) -> None:
    streams = {f"R{i}": _sorted_stream(rows, desc) for i, rows in enumerate(regions)}
    got = merge(lambda r: (r["k1"], r["k2"]), desc, streams, limit=limit)
    rank = {name: i for i, name in enumerate(streams)}
    everything = [(name, r) for name, rows in streams.items() for r in rows]
    want = sorted(everything, key=lambda p: SortKey((p[1]["k1"], p[1]["k2"], rank[p[0]]),
                                                    (*desc, False)))
    assert got == (want if limit is None else want[:limit])


def test_a_limit_beyond_every_row_is_no_limit() -> None:
    streams = {"R1": _rows(("a", 1)), "R2": _rows(("b", 2))}
    got = merge(lambda r: (r["size"],), [False], streams, limit=10**30)
    assert [r["id"] for _, r in got] == ["a", "b"]
