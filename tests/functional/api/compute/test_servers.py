"""Servers through Cascade in front of two fake regions, on SQLite and PostgreSQL."""
from __future__ import annotations

import time
from typing import Any

import pytest

from cascade.appkeys import REGION_CLIENT, SESSIONS
from cascade.db.models import PlacementState
from cascade.sync.deletes import sweep_deletes
from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import ADMIN, ALT, DEMO


async def test_version_documents_need_no_token_and_advertise_common_range(gw: Gateway) -> None:
    resp = await gw.client.get("/compute/v2.1/")
    assert resp.status == 200
    doc = (await resp.json())["version"]
    assert (doc["min_version"], doc["version"]) == ("2.1", "2.90")
    assert doc["links"][0]["href"].endswith("/compute/v2.1/")
    assert doc["links"][0]["href"].startswith(str(gw.client.make_url("")).rstrip("/"))
    for path in ("/compute/", "/image/", "/networking/"):
        r = await gw.client.get(path)
        assert r.status in (200, 300), path
        assert "x-openstack-request-id" in r.headers


async def test_missing_or_bad_token_gets_401_with_www_authenticate(gw: Gateway) -> None:
    for headers in ({}, {"X-Auth-Token": "garbage"}):
        resp = await gw.client.get("/compute/v2.1/servers", headers=headers)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")
        assert (await resp.json())["error"]["code"] == 401
        assert resp.headers["x-compute-request-id"].startswith("req-")


async def test_create_writes_mapping_and_answers_with_global_id(gw: Gateway) -> None:
    resp = await gw.create("RegionTwo")
    assert resp.status == 202, await resp.text()
    server = (await resp.json())["server"]
    gid = server["id"]
    base = str(gw.client.make_url("")).rstrip("/")
    assert resp.headers["Location"] == f"{base}/compute/v2.1/servers/{gid}"
    assert all(link["href"].startswith(base) and gid in link["href"]
               for link in server["links"])
    assert len(server["adminPass"]) >= 12, "Cascade mints the password when absent"
    (res, pl), = await gw.mappings()
    assert (res.global_id, pl.region, pl.state) == (gid, "RegionTwo", PlacementState.ACTIVE)
    regional = gw.regions["RegionTwo"].servers[pl.local_id]
    assert regional["metadata"]["cascade_global_id"] == gid
    assert pl.local_id != gid and not gw.regions["RegionOne"].servers
    # The region's own zone is not asked for: the local zone defaults to none.
    assert regional["OS-EXT-AZ:availability_zone"] == "nova"


async def test_show_rewrites_ids_links_and_hides_cascade_metadata(gw: Gateway) -> None:
    gid = (await (await gw.create("RegionOne", metadata={"k": "v"})).json())["server"]["id"]
    resp = await gw.client.get(f"/compute/v2.1/servers/{gid}", headers=DEMO)
    assert resp.status == 200
    server = (await resp.json())["server"]
    assert server["id"] == gid
    assert server["metadata"] == {"k": "v"}
    assert server["OS-EXT-AZ:availability_zone"] == "RegionOne"
    assert gw.regions["RegionOne"].base not in str(server)


async def test_list_merges_regions_and_hides_unmapped_servers(gw: Gateway) -> None:
    ids = set()
    for zone in ("RegionOne", "RegionTwo", "RegionOne"):
        ids.add((await (await gw.create(zone)).json())["server"]["id"])
    gw.regions["RegionTwo"].servers["stray"] = {"id": "stray", "name": "x",
                                                 "created": "2030-01-01T00:00:00Z",
                                                 "links": []}
    for path in ("/compute/v2.1/servers", "/compute/v2.1/servers/detail"):
        resp = await gw.client.get(path, headers=DEMO)
        assert resp.status == 200
        listed = (await resp.json())["servers"]
        assert {s["id"] for s in listed} == ids
        assert "X-Cascade-Partial" not in resp.headers
    detail = (await (await gw.client.get("/compute/v2.1/servers/detail",
                                         headers=DEMO)).json())["servers"]
    created = [s["created"] for s in detail]
    assert created == sorted(created, reverse=True)


async def test_other_project_cannot_see_or_touch_a_server(gw: Gateway) -> None:
    gid = (await (await gw.create()).json())["server"]["id"]
    for method in ("get", "delete"):
        resp = await getattr(gw.client, method)(f"/compute/v2.1/servers/{gid}", headers=ALT)
        assert resp.status == 404
        assert "itemNotFound" in await resp.json()
    listed = await (await gw.client.get("/compute/v2.1/servers", headers=ALT)).json()
    assert listed["servers"] == []
    assert (await gw.client.get(f"/compute/v2.1/servers/{gid}", headers=ADMIN)).status == 200


@pytest.mark.parametrize("body, fragment", [
    ({"server": {"name": "vm", "flavorRef": "1", "availability_zone": "nowhere"}},
     "availability zone"),
    ({"server": {"name": "", "flavorRef": "1"}}, "name"),
    ({"server": {"name": "vm"}}, "flavorRef"),
    ({"server": {"name": "vm", "flavorRef": "1", "networks": [{"uuid": "nope"}]}}, "network"),
    ({"nothing": 1}, "server"),
])
async def test_bad_create_gets_400_in_nova_format_and_no_mapping(
        gw: Gateway, body: dict[str, Any], fragment: str) -> None:
    resp = await gw.client.post("/compute/v2.1/servers", json=body, headers=DEMO)
    assert resp.status == 400
    assert fragment in (await resp.json())["badRequest"]["message"]
    assert await gw.mappings() == []


async def test_malformed_json_and_oversized_body(gw: Gateway) -> None:
    resp = await gw.client.post("/compute/v2.1/servers", data=b"{not json",
                                headers={**DEMO, "Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["badRequest"]["message"] == "Malformed request body"
    resp = await gw.client.post("/compute/v2.1/servers", data=b"x" * 200_000, headers=DEMO)
    assert resp.status == 413
    assert "overLimit" in await resp.json()


async def test_region_refusal_comes_back_and_removes_the_mapping(gw: Gateway) -> None:
    resp = await gw.create(flavorRef="999")
    assert resp.status == 400
    assert "Flavor 999" in (await resp.json())["badRequest"]["message"]
    assert await gw.mappings() == []


async def test_unknown_server_is_404_item_not_found(gw: Gateway) -> None:
    resp = await gw.client.get("/compute/v2.1/servers/00000000-0000-0000-0000-000000000000",
                               headers=DEMO)
    assert resp.status == 404
    assert (await resp.json())["itemNotFound"]["code"] == 404


async def test_delete_removes_regional_server_then_mapping(gw: Gateway) -> None:
    gid = (await (await gw.create("RegionTwo")).json())["server"]["id"]
    resp = await gw.client.delete(f"/compute/v2.1/servers/{gid}", headers=DEMO)
    assert resp.status == 204
    assert gw.regions["RegionTwo"].servers == {}
    (_, pl), = await gw.mappings()
    assert pl.state == PlacementState.DELETING
    assert await sweep_deletes(gw.app[SESSIONS], gw.app[REGION_CLIENT]) == 1
    assert await gw.mappings() == []
    assert (await gw.client.get(f"/compute/v2.1/servers/{gid}", headers=DEMO)).status == 404


async def test_dead_region_gives_fast_503_and_cached_unknown_answers(gw: Gateway) -> None:
    await gw.create("RegionOne")
    two = (await (await gw.create("RegionTwo")).json())["server"]["id"]
    await gw.client.get(f"/compute/v2.1/servers/{two}", headers=DEMO)  # cache it
    await gw.servers["RegionTwo"].close()
    started = time.monotonic()
    resp = await gw.create("RegionTwo")
    assert resp.status == 503
    assert "serviceUnavailable" in await resp.json()
    v269 = {**DEMO, "OpenStack-API-Version": "compute 2.69"}
    resp = await gw.client.get("/compute/v2.1/servers/detail", headers=v269)
    assert resp.status == 200
    assert resp.headers["X-Cascade-Partial"] == "RegionTwo"
    listed = {s["id"]: s["status"] for s in (await resp.json())["servers"]}
    assert len(listed) == 2 and listed[two] == "UNKNOWN"
    resp = await gw.client.get(f"/compute/v2.1/servers/{two}", headers=v269)
    assert resp.status == 200
    shown = (await resp.json())["server"]
    assert shown["status"] == "UNKNOWN" and shown["name"] == "vm"
    # Before 2.69 clients do not know UNKNOWN: the cached view as it was.
    resp = await gw.client.get(f"/compute/v2.1/servers/{two}", headers=DEMO)
    assert (await resp.json())["server"]["status"] == "ACTIVE"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("answer", [b'{"servers": "none"}', b'{"servers": [{"name": "x"}]}',
                                    b"<html>oops</html>", b"[]", b'{"servers": [1e400]}',
                                    b'{"servers": [{"id": "\xff\xfe"}]}'])
async def test_a_region_answering_garbage_makes_the_list_partial_not_500(
        gw: Gateway, answer: bytes) -> None:
    one = (await (await gw.create("RegionOne")).json())["server"]["id"]
    await gw.create("RegionTwo")
    gw.regions["RegionTwo"].list_answer = answer
    resp = await gw.client.get("/compute/v2.1/servers/detail", headers=DEMO)
    assert resp.status == 200
    assert resp.headers["X-Cascade-Partial"] == "RegionTwo"
    assert one in {s["id"] for s in (await resp.json())["servers"]}


async def test_slow_region_is_cut_at_its_deadline(gw: Gateway) -> None:
    await gw.create("RegionOne")
    await gw.create("RegionTwo")
    gw.regions["RegionTwo"].delay = 3
    started = time.monotonic()
    resp = await gw.client.get("/compute/v2.1/servers", headers=DEMO)
    assert time.monotonic() - started < 2.5
    assert resp.headers["X-Cascade-Partial"] == "RegionTwo"


async def test_microversion_is_forwarded_and_echoed(gw: Gateway) -> None:
    resp = await gw.client.get("/compute/v2.1/flavors",
                               headers={**DEMO, "OpenStack-API-Version": "compute 2.60"})
    assert resp.status == 200
    assert resp.headers["OpenStack-API-Version"] == "compute 2.60"
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.60"
    sent = [h for _, p, h in gw.regions["RegionOne"].requests
            if p.endswith(("/flavors", "/flavors/detail"))]
    assert sent[-1]["OpenStack-API-Version"] == "compute 2.60"
    resp = await gw.client.get("/compute/v2.1/flavors",
                               headers={**DEMO, "X-OpenStack-Nova-API-Version": "2.95"})
    assert resp.status == 406


async def test_request_id_is_passed_to_regions(gw: Gateway) -> None:
    resp = await gw.client.get("/compute/v2.1/flavors", headers=DEMO)
    rid = resp.headers["x-compute-request-id"]
    assert rid == resp.headers["x-openstack-request-id"]
    sent = [h for _, p, h in gw.regions["RegionOne"].requests
            if p.endswith(("/flavors", "/flavors/detail"))]
    assert sent[-1]["X-OpenStack-Request-ID"] == rid


async def test_flavors_are_the_union_by_id(gw: Gateway) -> None:
    flavors = (await (await gw.client.get("/compute/v2.1/flavors/detail",
                                          headers=DEMO)).json())["flavors"]
    assert [f["id"] for f in flavors] == ["1", "42"]
    assert all(gw.regions["RegionOne"].base not in str(f) for f in flavors)
    resp = await gw.client.get("/compute/v2.1/flavors/42", headers=DEMO)
    assert (await resp.json())["flavor"]["name"] == "m1.nano"
    resp = await gw.client.get("/compute/v2.1/flavors/777", headers=DEMO)
    assert resp.status == 404
