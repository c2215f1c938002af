"""/v1/jobs: admin only; list with filters, show, retry and cancel; tokens masked."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from cascade.appkeys import SESSIONS
from cascade.jobs import queue as jobs
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


async def test_a_deferred_build_keeps_no_secret_in_its_job_row(
        aiohttp_server: Any, aiohttp_client: Any, migrated_db: str, tmp_path: Path) -> None:
    """A real server_build payload (a boot waiting for its image's replica): the
    user's token, adminPass and user_data are nowhere readable in the row, in
    /v1/jobs or in cascade-manage; the build still gets them to the region."""
    import asyncio
    import base64

    from sqlalchemy import select

    from cascade.db.models import Job
    from tests.functional.api.image.conftest import start_env

    env = await start_env(aiohttp_server, aiohttp_client, migrated_db, tmp_path)
    image_id = await env.image()
    assert (await env.upload(image_id)).status == 204  # RegionOne only
    user_data = base64.b64encode(b"#!/bin/sh\necho top-secret-user-data\n").decode()
    resp = await env.client.post("/compute/v2.1/servers", headers=DEMO, json={"server": {
        "name": "vm", "flavorRef": "1", "imageRef": image_id, "networks": "none",
        "availability_zone": "RegionTwo", "adminPass": "pw-secret-1",
        "user_data": user_data}})
    assert resp.status == 202, await resp.text()
    sid = (await resp.json())["server"]["id"]
    for _ in range(100):
        shown = await (await env.client.get(f"/compute/v2.1/servers/{sid}",
                                            headers=DEMO)).json()
        if shown["server"]["status"] == "ACTIVE":
            break
        await asyncio.sleep(0.1)
    assert shown["server"]["status"] == "ACTIVE", shown
    async with env.client.server.app[SESSIONS]() as s:
        (job,) = (await s.scalars(select(Job).where(Job.kind == "server_build"))).all()
    stored = str(job.payload)
    for secret in (DEMO["X-Auth-Token"], "pw-secret-1", user_data):
        assert secret not in stored
    listed = await (await env.client.get("/v1/jobs?kind=server_build", headers=ADMIN)).json()
    assert listed["jobs"][0]["payload"]["sealed"] == "***"
    for secret in (DEMO["X-Auth-Token"], "pw-secret-1", user_data):
        assert secret not in str(listed)
    (made,) = env.regions["RegionTwo"].create_bodies
    assert made["adminPass"] == "pw-secret-1" and made["user_data"] == user_data
    posts = [h for m, p, h in env.regions["RegionTwo"].requests
             if m == "POST" and p.endswith("/servers")]
    assert posts and posts[0]["X-Auth-Token"] == DEMO["X-Auth-Token"]
    assert posts[0].get("X-Service-Token")  # the expired-user-token path, as Nova's


async def test_finished_jobs_are_purged_after_their_retention(
        aiohttp_server: Any, aiohttp_client: Any, migrated_db: str, tmp_path: Path) -> None:
    import datetime as dt

    from cascade.db.models import Job, JobState

    fake = FakeRegion("RegionOne")
    srv = await aiohttp_server(fake.app())
    fake.base = str(srv.make_url("")).rstrip("/")
    client = await aiohttp_client(gateway_app(gateway_conf(
        tmp_path, migrated_db, {"RegionOne": fake.base})))
    sessions = client.server.app[SESSIONS]
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    async with sessions.begin() as s:
        ids = {state: await jobs.enqueue(s, "image_replication", {"n": state})
               for state in (JobState.SUCCEEDED, JobState.DEAD, JobState.QUEUED)}
        recent = await jobs.enqueue(s, "image_replication", {"n": "recent"})
    async with sessions.begin() as s:
        for state, job_id in ids.items():
            row = await s.get(Job, job_id)
            assert row is not None
            row.state = state
        await s.flush()
        for job_id in ids.values():
            row = await s.get(Job, job_id)
            assert row is not None
            row.updated_at = old
        done = await s.get(Job, recent)
        assert done is not None
        done.state = JobState.SUCCEEDED
    assert await jobs.purge_finished(sessions, dt.timedelta(days=7)) == 2
    async with sessions() as s:
        left = {j for j in (ids[JobState.QUEUED], recent, ids[JobState.DEAD])
                if await s.get(Job, j) is not None}
    assert left == {ids[JobState.QUEUED], recent}
