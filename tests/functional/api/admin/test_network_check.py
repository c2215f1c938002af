"""/v1/network-check/{project_id} in front of two fake regions (SQLite and PostgreSQL):
admins only; a project without routers is routable; a router whose interface no
region holds is not, and the answer says which subnet is missing (the fake regions
have no routers, so the copy is never made: exactly the case the regions alone
cannot show). tests/e2e/test_cli_routers.py checks real regions through
``cascade-manage network check``."""
from __future__ import annotations

from typing import Any

from tests.functional.api.admin.conftest import Gateway
from tests.functional.gateway import ADMIN, DEMO

N = "/networking/v2.0"


async def _post(gw: Gateway, path: str, body: Any) -> Any:
    resp = await gw.client.post(N + path, json=body, headers=DEMO)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_admins_only_and_a_missing_copy_is_not_routable(gw: Gateway) -> None:
    net = (await _post(gw, "/networks", {"network": {"name": "n"}}))["network"]
    project = net["project_id"]
    path = f"/v1/network-check/{project}"
    resp = await gw.client.get(path, headers=DEMO)
    assert resp.status == 403, await resp.text()
    resp = await gw.client.get(path, headers=ADMIN)
    assert resp.status == 200
    shown = (await resp.json())["network_check"]
    assert shown["routable"] is True and shown["pairs"] == [] and shown["missing"] == []

    sub = (await _post(gw, "/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "10.42.0.0/24", "ip_version": 4}}))["subnet"]
    await _post(gw, "/ports", {"port": {"network_id": net["id"],
                                        "binding:profile": {"cascade_region": "RegionOne"}}})
    router = (await _post(gw, "/routers", {"router": {"name": "r"}}))["router"]
    resp = await gw.client.put(f"{N}/routers/{router['id']}/add_router_interface",
                               json={"subnet_id": sub["id"]}, headers=DEMO)
    assert resp.status == 200, await resp.text()
    resp = await gw.client.get(path, headers=ADMIN)
    assert resp.status == 200
    shown = (await resp.json())["network_check"]
    assert shown["routable"] is False
    (missing,) = shown["missing"]
    assert "10.42.0.0/24" in missing and sub["id"] in missing and "RegionOne" in missing
