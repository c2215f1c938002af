"""Regional ids and URLs never reach tenants."""
from cascade.mapping.rewrite import GLOBAL_ID_KEY, rewrite_url, server_to_global

REGIONAL = "http://127.0.0.1:25774/v2.1"
CASCADE = "http://127.0.0.1:28080/compute/v2.1"

#: A server as Nova answers GET /servers/{id} (trimmed), written from the API reference.
EXAMPLE = {
    "id": "local-1", "name": "vm", "status": "ACTIVE",
    "metadata": {GLOBAL_ID_KEY: "global-1", "owner": "me"},
    "OS-EXT-AZ:availability_zone": "nova",
    "links": [{"rel": "self", "href": f"{REGIONAL}/servers/local-1"},
              {"rel": "bookmark", "href": "http://127.0.0.1:25774/servers/local-1"}],
    "image": {"id": "img", "links": [{"rel": "bookmark",
                                      "href": "http://127.0.0.1:25774/images/img"}]},
    "flavor": {"vcpus": 1, "ram": 512, "original_name": "m1.tiny"},
}


def test_server_ids_links_zone_and_metadata_are_rewritten() -> None:
    out = server_to_global(EXAMPLE, "global-1", REGIONAL, CASCADE,
                           availability_zone="RegionOne")
    assert out["id"] == "global-1"
    assert [ln["href"] for ln in out["links"]] == [
        f"{CASCADE}/servers/global-1", "http://127.0.0.1:28080/compute/servers/global-1"]
    assert out["image"]["links"][0]["href"] == "http://127.0.0.1:28080/compute/images/img"
    assert out["metadata"] == {"owner": "me"}
    assert out["OS-EXT-AZ:availability_zone"] == "RegionOne"
    assert "25774" not in str(out) and "local-1" not in str(out)
    assert EXAMPLE["id"] == "local-1", "the input is not modified"


def test_foreign_urls_are_left_alone() -> None:
    assert rewrite_url("http://elsewhere/x", REGIONAL, CASCADE) == "http://elsewhere/x"


def test_a_swapped_image_id_is_swapped_in_its_links_too() -> None:
    from cascade.mapping.rewrite import swap_image_id
    image = {"id": "local-img", "links": [
        {"rel": "bookmark", "href": "http://127.0.0.1:28080/compute/images/local-img"}]}
    out = swap_image_id(image, "global-img")
    assert out == {"id": "global-img", "links": [
        {"rel": "bookmark", "href": "http://127.0.0.1:28080/compute/images/global-img"}]}
    assert image["id"] == "local-img", "the input is not modified"



def test_the_pinned_zone_is_cascades_zone_when_there_is_one() -> None:
    pinned = server_to_global({**EXAMPLE, "pinned_availability_zone": "az-local"},
                              "global-1", REGIONAL, CASCADE, availability_zone="RegionOne")
    assert pinned["pinned_availability_zone"] == "RegionOne"
    unpinned = server_to_global({**EXAMPLE, "pinned_availability_zone": None},
                                "global-1", REGIONAL, CASCADE, availability_zone="RegionOne")
    assert unpinned["pinned_availability_zone"] is None
