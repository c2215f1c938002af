"""Remembered list entries: exact keys, bounded, and the page split they key on."""
from cascade.mapping.listed_views import ListedView, ListedViews, split_servers


def _view(i: int) -> ListedView:
    return ListedView(f"l{i}", f"g{i}", {"id": f"g{i}"},
                      b'{"id":"g%d","name":"n","links":[],"status":"ACTIVE"}' % i, i)


R = "http://r/v2.1"


def test_a_view_is_found_only_by_the_same_region_bases_zone_and_text() -> None:
    views = ListedViews(1 << 20)
    views.put("R1", R, "http://c/v2.1", "z", b'{"id": "l1"}', _view(1))
    assert views.get("R1", R, "http://c/v2.1", "z", b'{"id": "l1"}') is not None
    for other in (("R2", R, "http://c/v2.1", "z", b'{"id": "l1"}'),
                  ("R1", "http://r2/v2.1", "http://c/v2.1", "z", b'{"id": "l1"}'),
                  ("R1", R, "http://d/v2.1", "z", b'{"id": "l1"}'),
                  ("R1", R, "http://c/v2.1", None, b'{"id": "l1"}'),
                  ("R1", R, "http://c/v2.1", "z", b'{"id":"l1"}')):
        assert views.get(*other) is None, other


def test_bounded_by_bytes_least_recently_listed_out_first() -> None:
    one = len(b"0") + len(_view(0).detail) * 5 // 4 + 600
    views = ListedViews(20 * one)
    for i in range(25):
        views.put("R", R, "b", None, b"%d" % (i % 10), _view(i % 10))
        views.get("R", R, "b", None, b"0")
    assert len(views) == 10 and views.nbytes == 10 * one, "same key replaced, not added"
    for i in range(10, 40):
        views.put("R", R, "b", None, b"%d" % i, _view(i))
        views.get("R", R, "b", None, b"0")
    assert views.nbytes <= 20 * one
    assert views.get("R", R, "b", None, b"0") is not None, "recently listed: kept"
    assert views.get("R", R, "b", None, b"1") is None, "least recently listed: out"


def test_an_entry_too_large_for_its_share_and_zero_keep_nothing() -> None:
    small = ListedViews(16 * 1024)
    small.put("R", R, "b", None, b"x" * 2048, _view(0))
    assert len(small) == 0
    off = ListedViews(0)
    off.put("R", R, "b", None, b"0", _view(0))
    assert len(off) == 0 and not off.enabled


def test_the_summary_is_worked_out_from_the_detail() -> None:
    assert _view(3).summary == b'{"id":"g3","name":"n","links":[]}'


def test_split_keeps_each_servers_text_as_it_came() -> None:
    body = b'{"servers": [{"id": "a", "x": [1, {"y": "}"}]}, {"id":"b"}], "servers_links": []}'
    assert split_servers(body) == [b'{"id": "a", "x": [1, {"y": "}"}]}', b'{"id":"b"}']
    assert split_servers(b'{"servers": []}') == []
    deep = b'{"servers": [' + b"[" * 5000 + b"]" * 5000 + b"]}"
    for bad in (b'{"servers": {}}', b"[]", b"<html>", b'{"servers": [1,', b"{}", deep):
        assert split_servers(bad) is None, bad
