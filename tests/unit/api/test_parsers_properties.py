"""Property tests (hypothesis): the body and query parsers answer any input with
a value or Cascade's 400, never another exception (which would be a 500)."""
from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import MultiDict

from cascade.api.body import parse_json
from cascade.compute import servers_list
from cascade.images import query as listing
from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Resource
from cascade.networks import query as neutron_query

TEXT = st.text(max_size=40)
QUERY = st.lists(st.tuples(st.sampled_from(
    ["limit", "marker", "sort_key", "sort_dir", "fields", "name", "status", "tags",
     "tags-any", "not-tags", "id", "visibility", "member_status", "size_min",
     "created_at", "updated_at", "os_hidden", "protected", "page_reverse", "x"]), TEXT),
    max_size=6)
JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=30)
#: Bodies nested past the limit (hypothesis rarely builds 33 levels on its own).
DEEP = st.integers(min_value=28, max_value=40).map(lambda n: _nested(n))


def _nested(levels: int) -> Any:
    value: Any = {"leaf": 1}
    for _ in range(levels - 1):
        value = [value]
    return value


@given(st.binary(max_size=300))
@settings(max_examples=400, deadline=None)
def test_any_bytes_parse_or_give_400(raw: bytes) -> None:
    try:
        parse_json(raw)
    except errors.BadRequest:
        pass


def _acceptable(value: Any, depth: int = 0) -> bool:
    """What docs/security.md promises a body may hold: nesting at most 32 deep,
    integers within 64 signed bits, floats within 2**62, no NUL in any string."""
    if isinstance(value, dict):
        return depth < 32 and all("\x00" not in k and _acceptable(v, depth + 1)
                                  for k, v in value.items())
    if isinstance(value, list):
        return depth < 32 and all(_acceptable(v, depth + 1) for v in value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -(2 ** 63) <= value < 2 ** 63
    if isinstance(value, float):
        return -(2.0 ** 62) <= value <= 2.0 ** 62
    return "\x00" not in value


@given(st.one_of(JSON, DEEP))
@settings(max_examples=400, deadline=None)
def test_a_body_within_the_limits_comes_back_as_sent(value: Any) -> None:
    try:
        raw = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return  # not JSON (NaN, huge integers): nothing a client could send
    sent = orjson.loads(raw)
    try:
        parsed = parse_json(raw)
    except errors.BadRequest:
        assert not _acceptable(sent), raw
        return
    assert _acceptable(sent) and parsed == sent, raw


@given(QUERY)
@settings(max_examples=300, deadline=None)
def test_neutron_queries_parse_or_give_400(pairs: list[tuple[str, str]]) -> None:
    try:
        parsed = neutron_query.parse_query(MultiDict(pairs), frozenset({"name", "id"}))
    except errors.BadRequest:
        return
    items = [{"id": "a", "name": "n", "tags": ["t"], "status": "ACTIVE"},
             {"id": "b", "name": None, "tags": [], "status": "DOWN"}]
    try:
        parsed.page(items, "networks", "http://cascade/networking/v2.0/networks")
    except errors.BadRequest:
        pass


@given(st.lists(TEXT, max_size=3), st.lists(TEXT, max_size=3), st.one_of(st.none(), TEXT))
@settings(max_examples=300, deadline=None)
def test_server_sort_and_limit_parse_or_give_400(keys: list[str], dirs: list[str],
                                                 limit: str | None) -> None:
    for parse in (lambda: servers_list.parse_sort(keys, dirs),
                  lambda: servers_list.parse_limit(limit)):
        try:
            parse()
        except errors.BadRequest:
            pass


_CTX = RequestContext("req-1", "demo", "u1", ("member", "reader"))
_NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
_ROWS = [(Resource(global_id=f"0000000{i}-0000-4000-8000-000000000000", type="image",
                   project_id="demo", user_id="u1", status="active",
                   spec={"name": f"i{i}", "visibility": "private", "tags": ["t"],
                         "properties": {"p": "v"}, "disk_format": "raw",
                         "container_format": "bare", "min_disk": 0, "min_ram": 0,
                         "protected": False, "os_hidden": False},
                   attrs={"created_at": _NOW, "updated_at": _NOW, "size": i,
                          "members": {}}), []) for i in range(3)]


@given(QUERY)
@settings(max_examples=300, deadline=None)
def test_image_list_queries_answer_or_give_400(pairs: list[tuple[str, str]]) -> None:
    try:
        listing.filter_sort_page(_CTX, _ROWS, MultiDict(pairs))
    except errors.BadRequest:
        pass
