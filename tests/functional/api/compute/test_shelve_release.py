"""After an unshelve or a delete, only that server's shelve images are queued for
release (SQLite and PostgreSQL: the filter on the image's JSON attrs is SQL's)."""
from __future__ import annotations

from sqlalchemy import select

from cascade.appkeys import SESSIONS
from cascade.db.models import Job, Resource
from cascade.images import snapshots
from tests.functional.api.compute.conftest import Gateway


async def test_only_the_servers_own_shelve_images_are_released(gw: Gateway) -> None:
    sessions = gw.app[SESSIONS]
    server = Resource(global_id="00000000-0000-4000-8000-0000000000a1", type="server",
                      project_id="demo", spec={}, attrs={}, status="SHELVED_OFFLOADED")
    images = {
        "00000000-0000-4000-8000-0000000000b1": {snapshots.SHELVED_KEY: server.global_id},
        "00000000-0000-4000-8000-0000000000b2": {snapshots.SHELVED_KEY: "someone-else"},
        "00000000-0000-4000-8000-0000000000b3": {},
    }
    async with sessions.begin() as session:
        for gid, attrs in images.items():
            session.add(Resource(global_id=gid, type="image", project_id="demo", spec={},
                                 attrs=attrs, status="active"))
    await snapshots.release_after_unshelve(sessions, server, "RegionOne", "local-1")
    async with sessions() as session:
        jobs = (await session.scalars(select(Job).where(
            Job.kind == snapshots.SHELVE_RELEASE_JOB))).all()
    assert [j.payload["image_id"] for j in jobs] == ["00000000-0000-4000-8000-0000000000b1"]
