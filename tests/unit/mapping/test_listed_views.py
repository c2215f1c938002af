"""Remembered list entries: exact keys, bounded, and the page split they key on."""
from mapping.listed_views import ListedView, ListedViews, split_servers


def _view(i: int) -> ListedView:
    return ListedView(f"l{i}", f"g{i}", {"id": f"g{i}"},
                      b'{"id":"g%d","name":"n","links":[],"status":"ACTIVE"}' % i, i)


def test_a_view_is_found_only_by_the_same_region_base_zone_and_text() -> None:
    views = ListedViews(10)
    views.put("R1", "http://c/v2.1", "z", b'{"id": "l1"}', _view(1))
    assert views.get("R1", "http://c/v2.1", "z", b'{"id": "l1"}') is not None
    for other in (("R2", "http://c/v2.1", "z", b'{"id": "l1"}'),
                  ("R1", "http://d/v2.1", "z", b'{"id": "l1"}'),
                  ("R1", "http://c/v2.1", None, b'{"id": "l1"}'),
                  ("R1", "http://c/v2.1", "z", b'{"id":"l1"}')):
        assert views.get(*other) is None, other


def test_least_recently_listed_goes_first_and_zero_keeps_nothing() -> None:
    views = ListedViews(2)
    for i in range(3):
        views.put("R", "b", None, b"%d" % i, _view(i))
        views.get("R", "b", None, b"0")
    assert len(views) == 2 and views.get("R", "b", None, b"1") is None
    off = ListedViews(0)
    off.put("R", "b", None, b"0", _view(0))
    assert len(off) == 0 and off.size == 0


def test_the_summary_is_worked_out_from_the_detail() -> None:
    assert _view(3).summary == b'{"id":"g3","name":"n","links":[]}'


def test_split_keeps_each_servers_text_as_it_came() -> None:
    body = b'{"servers": [{"id": "a", "x": [1, {"y": "}"}]}, {"id":"b"}], "servers_links": []}'
    assert split_servers(body) == [b'{"id": "a", "x": [1, {"y": "}"}]}', b'{"id":"b"}']
    assert split_servers(b'{"servers": []}') == []
    for bad in (b'{"servers": {}}', b"[]", b"<html>", b'{"servers": [1,', b"{}"):
        assert split_servers(bad) is None, bad
