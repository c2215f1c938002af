"""Fixtures for image functional tests: Cascade before two fake regions, and helpers
to create, upload and show images."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from cascade.appkeys import SESSIONS
from cascade.db.models import Job
from tests.fakes.region import FakeRegion
from tests.functional.gateway import DEMO, gateway_app, gateway_conf

DATA = os.urandom(3 * (1 << 20) + 123)


class Env:
    def __init__(self, client: TestClient, regions: dict[str, FakeRegion]) -> None:
        self.client = client
        self.regions = regions

    async def image(self, headers: dict[str, str] = DEMO, **extra: Any) -> str:
        body = {"name": "img", "disk_format": "qcow2", "container_format": "bare", **extra}
        resp = await self.client.post("/image/v2/images", json=body, headers=headers)
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])

    async def upload(self, image_id: str, data: bytes = DATA, store: str | None = None,
                     headers: dict[str, str] = DEMO) -> Any:
        hdrs = {**headers, "Content-Type": "application/octet-stream"}
        if store:
            hdrs["X-Image-Meta-Store"] = store
        return await self.client.put(f"/image/v2/images/{image_id}/file", data=data,
                                     headers=hdrs)

    async def show(self, image_id: str, headers: dict[str, str] = DEMO) -> Any:
        return await (await self.client.get(f"/image/v2/images/{image_id}",
                                            headers=headers)).json()

    async def until(self, what: str, check: Callable[[], Any], timeout: float = 15) -> None:
        for _ in range(int(timeout / 0.1)):
            if await check():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out: {what}")

    async def jobs(self, kind: str) -> int:
        async with self.client.server.app[SESSIONS]() as s:
            return int(await s.scalar(select(func.count()).select_from(Job).where(
                Job.kind == kind)) or 0)


async def start_env(aiohttp_server: Any, aiohttp_client: Any, migrated_db: str,
                    tmp_path: Path, image_options: str = "") -> Env:
    """Two fake regions and a gateway with its job worker in process (RegionOne the
    default store); ``image_options``: more ``[image]`` settings, one per line."""
    regions = {"RegionOne": FakeRegion("RegionOne"), "RegionTwo": FakeRegion("RegionTwo")}
    for fake in regions.values():
        srv = await aiohttp_server(fake.app())
        fake.base = str(srv.make_url("")).rstrip("/")
    conf = gateway_conf(tmp_path, migrated_db, {n: r.base for n, r in regions.items()},
                        extra="[sync]\njob_sweep_interval = 0.2\njob_lease_seconds = 6\n"
                              "[image]\ndefault_store = RegionOne\n" + image_options)
    return Env(await aiohttp_client(gateway_app(conf, run_sync=True)), regions)


@pytest.fixture
async def env(aiohttp_server: Any, aiohttp_client: Any, migrated_db: str,
              tmp_path: Path) -> AsyncIterator[Env]:
    yield await start_env(aiohttp_server, aiohttp_client, migrated_db, tmp_path)
