"""Fixtures for compute functional tests: Cascade in front of two fake regions."""
from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

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

    async def walk(self, first: str, collection: str, headers: dict[str, str] = DEMO
                   ) -> list[str]:
        """Follow ``<collection>_links`` from ``first`` (each link must point at
        Cascade); the ids in the order served."""
        ids: list[str] = []
        url: str | None = first
        here = urlsplit(str(self.client.make_url(""))).netloc
        for _ in range(50):
            assert url is not None
            resp = await self.client.get(url, headers=headers)
            assert resp.status == 200, await resp.text()
            body = await resp.json()
            ids += [item["id"] for item in body[collection]]
            links = body.get(f"{collection}_links")
            if not links:
                return ids
            parts = urlsplit(links[0]["href"])
            assert parts.netloc == here
            url = f"{parts.path}?{parts.query}"
        raise AssertionError("pagination did not end")

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


