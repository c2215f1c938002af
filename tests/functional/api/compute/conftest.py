"""Fixtures for compute functional tests: Cascade in front of two fake regions."""
from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from cascade.appkeys import SESSIONS
from cascade.db.models import Placement, Resource
from tests.fakes.region import IMAGE_ID, FakeRegion
from tests.functional.gateway import DEMO, gateway_app, gateway_conf


class Gateway:
    def __init__(self, client: TestClient, regions: dict[str, FakeRegion],
                 servers: dict[str, TestServer]) -> None:
        self.client = client
        self.regions = regions
        self.servers = servers

    @property
    def app(self) -> Any:
        return self.client.server.app

    async def create(self, zone: str | None = "RegionOne", headers: dict[str, str] = DEMO,
                     **server: Any) -> Any:
        body = {"name": "vm", "flavorRef": "1", "imageRef": IMAGE_ID, "networks": "none",
                **server}
        if zone:
            body["availability_zone"] = zone
        return await self.client.post("/compute/v2.1/servers", json={"server": body},
                                      headers=headers)

    async def mappings(self) -> list[tuple[Resource, Placement]]:
        async with self.app[SESSIONS]() as s:
            return list((await s.execute(select(Resource, Placement).join(
                Placement, Placement.global_id == Resource.global_id))).all())


@pytest.fixture
async def gw(aiohttp_server: Any, aiohttp_client: Any, migrated_db: str,
             tmp_path: Path) -> AsyncIterator[Gateway]:
    regions = {"RegionOne": FakeRegion("RegionOne", "2.100"),
               "RegionTwo": FakeRegion("RegionTwo", "2.90")}
    servers = {}
    for name, fake in regions.items():
        srv = await aiohttp_server(fake.app())
        fake.base = str(srv.make_url("")).rstrip("/")
        servers[name] = srv
    conf = gateway_conf(tmp_path, migrated_db, {n: r.base for n, r in regions.items()})
    client = await aiohttp_client(gateway_app(conf))
    yield Gateway(client, regions, servers)


