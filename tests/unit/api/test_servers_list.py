"""The cross-region merge: sort keys first, then region, ties in each region's order;
a full page cuts the answer at its end; markers filter what was served."""
from cascade.compute.servers_list import Marker, after_marker, merge_pages, parse_sort

SPEC = parse_sort([], [])  # created_at desc


def _s(i: str, created: str) -> dict[str, str]:
    return {"id": i, "created": created}


def test_ties_keep_each_regions_order_and_regions_interleave_by_name() -> None:
    pages = {"B": [_s("b1", "t2"), _s("b2", "t1")],
             "A": [_s("a2", "t1"), _s("a1", "t1")]}
    merged = [s["id"] for s in merge_pages(SPEC, pages, {}, None)]
    assert merged == ["b1", "a2", "a1", "b2"]


def test_a_full_page_cuts_the_answer_at_its_last_server() -> None:
    pages = {"A": [_s("a1", "t9"), _s("a2", "t5")], "B": [_s("b1", "t7"), _s("b2", "t1")]}
    merged = [s["id"] for s in merge_pages(SPEC, pages, {"A": _s("a2", "t5")}, None)]
    assert merged == ["a1", "b1", "a2"], "b2 may sort after servers A did not return"


def test_after_marker_filters_other_regions_but_trusts_the_markers_region() -> None:
    marker = Marker(_s("a1", "t5"), "A")
    page = [_s("x", "t6"), _s("y", "t5"), _s("z", "t4")]
    assert [s["id"] for s in after_marker(SPEC, marker, "B", page)] == ["y", "z"]
    assert [s["id"] for s in after_marker(SPEC, marker, "A", page)] == ["x", "y", "z"]
