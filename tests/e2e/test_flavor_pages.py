"""Flavor lists through Cascade against real Nova in two regions: the same flavors in
the same order as a region shows them, pages whose links point at Cascade, and the
same 400s in Nova's words for bad parameters."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import CascadeProcess, Cli, http

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def nova(cli: Cli) -> tuple[str, str]:
    """A demo token and RegionOne's own compute endpoint."""
    token = cli.json("regions-demo", "token", "issue")["id"]
    endpoints = cli.json("regions-admin", "endpoint", "list", "--service", "compute",
                         "--interface", "public", "--region", "RegionOne")
    return token, endpoints[0]["URL"].rstrip("/")


def test_pages_through_cascade_walk_what_a_region_lists(
        cli: Cli, cascade: CascadeProcess, nova: tuple[str, str]) -> None:
    token, region = nova
    _, direct = http("GET", f"{region}/flavors", token)
    expected = [f["id"] for f in direct["flavors"]]
    assert len(expected) > 2
    # the unmodified CLI shows the same list, in the same order
    listed = cli.json("cascade-demo", "flavor", "list")
    assert [f["ID"] for f in listed] == expected
    ids: list[str] = []
    url = f"{cascade.url}/compute/v2.1/flavors?limit=2"
    for _ in range(len(expected) + 1):
        status, body = http("GET", url, token)
        assert status == 200, body
        ids += [f["id"] for f in body["flavors"]]
        links = body.get("flavors_links")
        if not links:
            break
        assert urlsplit(links[0]["href"]).netloc == urlsplit(cascade.url).netloc
        url = links[0]["href"]
    assert ids == expected
    page = cli.json("cascade-demo", "flavor", "list", "--limit", "1", "--marker",
                    expected[0])
    assert [f["ID"] for f in page] == expected[1:2]


def test_sort_and_filters_answer_as_a_region_does(
        cascade: CascadeProcess, nova: tuple[str, str]) -> None:
    token, region = nova
    for query in ("sort_key=memory_mb&sort_dir=desc", "minRam=1024", "minDisk=10",
                  "sort_key=name"):
        _, direct = http("GET", f"{region}/flavors/detail?{query}", token)
        status, through = http("GET", f"{cascade.url}/compute/v2.1/flavors/detail?{query}",
                               token)
        assert status == 200, through
        assert [f["id"] for f in through["flavors"]] == [f["id"] for f in direct["flavors"]]


def test_bad_parameters_get_novas_400(cascade: CascadeProcess, nova: tuple[str, str]) -> None:
    token, region = nova
    for query in ("limit=-1", "limit=x", "sort_key=bogus", "sort_dir=up", "minRam=abc",
                  "marker=nope"):
        direct_status, direct = http("GET", f"{region}/flavors?{query}", token)
        status, through = http("GET", f"{cascade.url}/compute/v2.1/flavors?{query}", token)
        assert (status, through) == (direct_status, direct), query
