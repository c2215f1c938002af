"""/v1/jobs: admin only; list with filters, show, retry and cancel; tokens masked."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from cascade.appkeys import SESSIONS
from sync import jobs
from tests.fakes.region import FakeRegion
from tests.functional.gateway import ADMIN, DEMO, gateway_app, gateway_conf


async def test_jobs_admin_api(aiohttp_server: Any, aiohttp_client: Any, migrated_db: str,
                              tmp_path: Path) -> None:
    fake = FakeRegion("RegionOne")
    srv = await aiohttp_server(fake.app())
    fake.base = str(srv.make_url("")).rstrip("/")
    client = await aiohttp_client(gateway_app(gateway_conf(
        tmp_path, migrated_db, {"RegionOne": fake.base})))
    async with client.server.app[SESSIONS].begin() as s:
        queued = await jobs.enqueue(s, "server_build", {"ctx": {"auth_token": "secret"}})
        other = await jobs.enqueue(s, "image_replication", {"image_id": "x"})
    assert (await client.get("/v1/jobs", headers=DEMO)).status == 403
    body = await (await client.get("/v1/jobs?kind=server_build", headers=ADMIN)).json()
    assert [j["id"] for j in body["jobs"]] == [queued]
    assert body["jobs"][0]["payload"]["ctx"]["auth_token"] == "***"
    shown = await (await client.get(f"/v1/jobs/{other}", headers=ADMIN)).json()
    assert shown["job"]["state"] == "queued" and shown["job"]["kind"] == "image_replication"
    assert (await client.post(f"/v1/jobs/{other}/retry", headers=ADMIN)).status == 409
    resp = await client.post(f"/v1/jobs/{other}/cancel", headers=ADMIN)
    assert resp.status == 202 and (await resp.json())["job"]["state"] == "cancelled"
    resp = await client.post(f"/v1/jobs/{other}/retry", headers=ADMIN)
    assert resp.status == 202 and (await resp.json())["job"]["state"] == "queued"
    assert (await client.get("/v1/jobs/999999", headers=ADMIN)).status == 404
    assert (await client.get("/v1/jobs/abc", headers=ADMIN)).status == 404
    assert (await client.get("/v1/jobs?limit=x", headers=ADMIN)).status == 400
