"""Flavor lists across regions: one merged order, Nova's pages, sorts, filters and
errors (fake regions; SQLite and PostgreSQL). The same walk against real Nova is
in tests/e2e/test_flavor_pages.py."""
from __future__ import annotations


from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import DEMO


def _extra(gw: Gateway) -> None:
    """RegionTwo offers one flavor RegionOne does not; both offer 1 and 42."""
    gw.regions["RegionTwo"].flavors.append(
        {"id": "7", "name": "m1.big", "ram": 4096, "disk": 20, "vcpus": 4})


async def test_pages_walk_the_union_once_each_in_nova_order(gw: Gateway) -> None:
    _extra(gw)
    whole = await gw.walk("/compute/v2.1/flavors", "flavors")
    # flavorid is a string column in Nova: "42" sorts before "7"
    assert whole == ["1", "42", "7"]
    assert await gw.walk("/compute/v2.1/flavors?limit=1", "flavors") == whole
    assert await gw.walk("/compute/v2.1/flavors/detail?limit=2", "flavors") == whole


async def test_sort_key_and_dir_order_the_merged_list(gw: Gateway) -> None:
    _extra(gw)
    body = await (await gw.client.get(
        "/compute/v2.1/flavors/detail?sort_key=memory_mb&sort_dir=desc",
        headers=DEMO)).json()
    assert [f["ram"] for f in body["flavors"]] == [4096, 512, 128]
    body = await (await gw.client.get("/compute/v2.1/flavors?sort_key=name",
                                      headers=DEMO)).json()
    assert [f["name"] for f in body["flavors"]] == ["m1.big", "m1.nano", "m1.tiny"]
    assert set(body["flavors"][0]) == {"id", "name", "links"}


async def test_min_ram_and_disk_filter_in_every_region(gw: Gateway) -> None:
    _extra(gw)
    body = await (await gw.client.get("/compute/v2.1/flavors?minRam=256&minDisk=1",
                                      headers=DEMO)).json()
    assert [f["id"] for f in body["flavors"]] == ["1", "7"]


async def test_limit_zero_is_an_empty_page_without_links(gw: Gateway) -> None:
    body = await (await gw.client.get("/compute/v2.1/flavors?limit=0",
                                      headers=DEMO)).json()
    assert body == {"flavors": []}


async def test_bad_parameters_are_400_in_novas_words(gw: Gateway) -> None:
    expected = {
        "limit=-1": "Invalid input for query parameters limit. Value: -1.",
        "limit=x": "Invalid input for query parameters limit. Value: x.",
        "sort_key=bogus": "Invalid input for query parameters sort_key. Value: bogus.",
        "sort_dir=up": "Invalid input for query parameters sort_dir. Value: up.",
        "minRam=abc": "Invalid minRam filter [abc]",
        "marker=nope": "marker [nope] not found",
    }
    for query, message in expected.items():
        resp = await gw.client.get(f"/compute/v2.1/flavors?{query}", headers=DEMO)
        assert resp.status == 400, query
        assert (await resp.json())["badRequest"]["message"].startswith(message), query
