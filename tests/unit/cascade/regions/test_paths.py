"""Regional paths: only what Cascade's grammar builds can leave for a region."""
from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cascade import errors
from cascade.regions import paths


@given(st.text(max_size=300))
@settings(max_examples=500, deadline=None)
def test_a_segment_is_one_canonical_segment_that_decodes_back(value: str) -> None:
    try:
        built = paths.segment(value)
    except paths.UnsafePath:
        return
    paths.check("/servers/" + built)  # the client accepts what segment built
    assert "/" not in built and unquote(built) == value


@pytest.mark.parametrize("value", ["", ".", "..", "a/b", "a\\b", "\x00", "a\nb",
                                   "x" * 256, "\udcff"])
def test_values_that_cannot_be_one_segment_are_refused(value: str) -> None:
    with pytest.raises(paths.UnsafePath):
        paths.segment(value)


@pytest.mark.parametrize("path", [
    "servers", "/servers/", "/servers//x", "/servers/../x", "/servers/./x",
    "/servers/%2e%2e/x", "/servers/a%2Fb", "/servers/a%2fb", "/servers/a%5Cb",
    "/servers/a;b", "/servers/a?b", "/servers/a#b", "/servers/a%00", "/servers/%ff",
    "/servers/a b", "/servers/%zz",
])
def test_the_client_refuses_paths_cascade_does_not_build(path: str) -> None:
    with pytest.raises(paths.UnsafePath):
        paths.check(path)


def test_an_unsafe_path_answers_as_not_found() -> None:
    assert isinstance(paths.UnsafePath(), errors.NotFound)


@pytest.mark.parametrize("raw,ok", [
    ("/compute/v2.1/servers/x/tags/a", True), ("/compute/v2.1/", True),
    ("/compute/v2.1/servers/x/tags/..%2F..%2Fservers", False),
    ("/compute/v2.1/servers/x/tags/%2e%2e", False), ("/a//b", False),
    ("/a/%5C", False), ("/a/b\\c", False), ("/a/%25", True), ("/a/%c0%ae", False),
])
def test_request_paths_with_separators_or_dot_segments_are_not_routed(raw: str,
                                                                      ok: bool) -> None:
    assert paths.request_path_ok(raw) is ok


@pytest.mark.parametrize("url", ["http://r1:8774/compute/v2.1", "https://r1/image",
                                 "http://127.0.0.1:9696"])
def test_plain_endpoint_urls_are_accepted(url: str) -> None:
    assert paths.endpoint_url(url) == url
