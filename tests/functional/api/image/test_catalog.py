"""Metadata definitions come from one home region for all, with the caller's own
token; the tasks API is empty and refuses creates (fake regions; SQLite, PG)."""
from __future__ import annotations

from tests.functional.api.image.conftest import Env
from tests.functional.gateway import ADMIN, ALT, DEMO

M = "/image/v2/metadefs/namespaces"


async def test_metadefs_live_in_the_home_region_under_its_owners_rules(env: Env) -> None:
    resp = await env.client.post(M, headers=DEMO, json={"namespace": "OS::Demo",
                                                        "visibility": "private"})
    assert resp.status == 201, await resp.text()
    home = [name for name, fake in env.regions.items() if "OS::Demo" in fake.metadefs]
    assert len(home) == 1, "one catalog, in one region"
    listed = await (await env.client.get(M, headers=DEMO)).json()
    assert [n["namespace"] for n in listed["namespaces"]] == ["OS::Demo"]
    assert listed["first"] == "/v2/metadefs/namespaces"
    assert (await (await env.client.get(M, headers=ALT)).json())["namespaces"] == []
    assert (await env.client.get(f"{M}/OS::Demo", headers=ALT)).status == 404
    assert (await env.client.get(f"{M}/OS::Demo", headers=DEMO)).status == 200
    assert (await env.client.delete(f"{M}/OS::Demo", headers=DEMO)).status == 204
    for bad in ("/image/v2/metadefs/namespaces/%2e%2e", "/image/v2/metadefs/..%2fimages"):
        assert (await env.client.get(bad, headers=DEMO)).status == 404, bad


async def test_tasks_are_admin_only_empty_and_never_created(env: Env) -> None:
    assert (await env.client.get("/image/v2/tasks", headers=DEMO)).status == 403
    body = await (await env.client.get("/image/v2/tasks", headers=ADMIN)).json()
    assert body["tasks"] == []
    resp = await env.client.post("/image/v2/tasks", headers=ADMIN, json={
        "type": "import", "input": {}})
    assert resp.status == 400
    assert "image import API" in await resp.text()
