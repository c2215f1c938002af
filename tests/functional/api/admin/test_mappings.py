"""/v1/mappings in front of two fake regions (SQLite and PostgreSQL): admin only, every
project; filters, pages with ``next``, deferred resources; show by global or regional id."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from cascade.appkeys import SESSIONS
from cascade.db.models import Placement, Resource
from tests.functional.api.admin.conftest import Gateway
from tests.functional.gateway import ADMIN, ALT, DEMO

N = "/networking/v2.0"


async def _json(gw: Gateway, path: str, headers: dict[str, str] = ADMIN) -> Any:
    resp = await gw.client.get(path, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _post(gw: Gateway, path: str, body: Any) -> Any:
    resp = await gw.client.post(N + path, json=body, headers=DEMO)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _world(gw: Gateway) -> dict[str, str]:
    """demo: a server in RegionOne, a network with a placed and a deferred port;
    alt: a server in RegionTwo."""
    demo_vm = (await (await gw.create("RegionOne")).json())["server"]["id"]
    alt_vm = (await (await gw.create("RegionTwo", headers=ALT)).json())["server"]["id"]
    net = (await _post(gw, "/networks", {"network": {"name": "n1"}}))["network"]["id"]
    await _post(gw, "/subnets", {"subnet": {"network_id": net, "cidr": "10.9.0.0/24",
                                            "ip_version": 4}})
    placed = (await _post(gw, "/ports", {"port": {
        "network_id": net, "name": "placed",
        "binding:profile": {"cascade_region": "RegionTwo"}}}))["port"]["id"]
    deferred = (await _post(gw, "/ports", {"port": {"network_id": net,
                                                    "name": "later"}}))["port"]["id"]
    return {"demo_vm": demo_vm, "alt_vm": alt_vm, "net": net, "placed": placed,
            "deferred": deferred}


async def test_admin_only(gw: Gateway) -> None:
    for path in ("/v1/mappings", "/v1/mappings/x"):
        resp = await gw.client.get(path, headers=DEMO)
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == 403
        assert (await gw.client.get(path)).status == 401


async def test_list_filters_and_deferred(gw: Gateway) -> None:
    ids = await _world(gw)
    rows = (await _json(gw, "/v1/mappings?limit=1000"))["mappings"]
    async with gw.app[SESSIONS]() as s:
        placements = await s.scalar(select(func.count()).select_from(Placement))
        unplaced = await s.scalar(select(func.count()).select_from(Resource).where(
            ~Resource.placements.any()))
    assert len(rows) == placements + unplaced and unplaced
    assert {r["project_id"] for r in rows} >= {"demo", "alt"}

    servers = (await _json(gw, "/v1/mappings?type=server"))["mappings"]
    by_id = {r["global_id"]: r for r in servers}
    assert set(by_id) == {ids["demo_vm"], ids["alt_vm"]}
    demo_vm = by_id[ids["demo_vm"]]
    assert demo_vm["region"] == "RegionOne" and demo_vm["state"] == "active"
    assert demo_vm["local_id"] in gw.regions["RegionOne"].servers
    assert demo_vm["local_id"] != ids["demo_vm"] and demo_vm["name"] == "vm"

    alt = (await _json(gw, "/v1/mappings?project_id=alt"))["mappings"]
    assert [(r["global_id"], r["region"]) for r in alt] == [(ids["alt_vm"], "RegionTwo")]
    two = (await _json(gw, "/v1/mappings?region=RegionTwo"))["mappings"]
    assert {r["region"] for r in two} == {"RegionTwo"}
    assert {ids["alt_vm"], ids["placed"], ids["net"]} <= {r["global_id"] for r in two}

    deferred = (await _json(gw, "/v1/mappings?state=deferred&type=port"))["mappings"]
    assert [(r["global_id"], r["region"], r["local_id"], r["state"], r["name"])
            for r in deferred] == [(ids["deferred"], None, None, "deferred", "later")]
    ports = (await _json(gw, "/v1/mappings?type=port&state=active"))["mappings"]
    assert [(r["global_id"], r["region"]) for r in ports] == [(ids["placed"], "RegionTwo")]
    assert (await _json(gw, "/v1/mappings?type=port&region=RegionOne"))["mappings"] == []


async def test_pages_follow_next(gw: Gateway) -> None:
    await _world(gw)
    everything = (await _json(gw, "/v1/mappings"))["mappings"]
    assert "next" not in await _json(gw, "/v1/mappings")
    seen: list[Any] = []
    url: str | None = "/v1/mappings?limit=2"
    while url:
        page = await _json(gw, url)
        assert len(page["mappings"]) <= 2
        seen += page["mappings"]
        url = page.get("next")
        if url:
            assert url.startswith(str(gw.client.make_url("/v1/mappings")))
            assert "limit=2" in url and "marker=" in url
            url = url[len(str(gw.client.make_url(""))):]
    assert seen == everything
    # Filters are kept in the next link.
    first = await _json(gw, "/v1/mappings?type=port&limit=1")
    assert "type=port" in first["next"]
    rest = await _json(gw, first["next"][len(str(gw.client.make_url(""))):])
    assert {r["type"] for r in first["mappings"] + rest["mappings"]} == {"port"}
    assert len(rest["mappings"]) == 1 and "next" not in rest
    assert (await gw.client.get("/v1/mappings?limit=0", headers=ADMIN)).status == 400
    resp = await gw.client.get("/v1/mappings?limit=x", headers=ADMIN)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == 400
    assert (await gw.client.get("/v1/mappings?marker=@R", headers=ADMIN)).status == 400
    assert len((await _json(gw, "/v1/mappings?limit=5000"))["mappings"]) == len(everything)


async def test_show_by_global_and_regional_id(gw: Gateway) -> None:
    ids = await _world(gw)
    shown = (await _json(gw, f"/v1/mappings/{ids['demo_vm']}"))["mapping"]
    (res,) = shown["resources"]
    assert shown["id"] == ids["demo_vm"] and res["matched"] == ["global_id"]
    assert res["type"] == "server" and res["project_id"] == "demo"
    (pl,) = res["placements"]
    assert pl["region"] == "RegionOne" and pl["state"] == "active"
    assert "adminPass" not in res["spec_keys"] and "name" in res["spec_keys"]

    back = (await _json(gw, f"/v1/mappings/{pl['local_id']}"))["mapping"]
    assert [(r["global_id"], r["matched"]) for r in back["resources"]] == [
        (ids["demo_vm"], ["local_id@RegionOne"])]

    (net,) = (await _json(gw, f"/v1/mappings/{ids['net']}"))["mapping"]["resources"]
    assert [p["region"] for p in net["placements"]] == ["RegionTwo"]
    (port,) = (await _json(gw, f"/v1/mappings/{ids['deferred']}"))["mapping"]["resources"]
    assert port["placements"] == [] and port["status"] == "DOWN"

    resp = await gw.client.get("/v1/mappings/no-such-id", headers=ADMIN)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == 404
