"""A regional GET's deadline through the lean client: the region deadline alone, or a
fan-out's when it is nearer; a task started inside a fan-out keeps a deadline of its
own although the fan-out around its parent ended."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from cascade import errors
from cascade.db.models import HealthState
from cascade.regions.client import RegionClient
from cascade.regions.fanout import RegionFailure, scatter_gather
from cascade.regions.lean_http import LeanHTTP
from cascade.regions.registry import RegionInfo, RegionRegistry
from tests.conftest import write_conf


@pytest.fixture
async def client(aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[RegionClient]:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("sleep", "0")))
        return web.json_response({"servers": []})

    app = web.Application()
    app.router.add_get("/compute/v2.1/servers/detail", slow)
    base = str((await aiohttp_server(app)).make_url("")).rstrip("/")
    info = RegionInfo(name="R1", availability_zone="R1", health=HealthState.UP,
                      overrides={"compute": f"{base}/compute/v2.1"})
    conf = write_conf(tmp_path, "[api]\nregion_timeout = 0.5\n")
    client = RegionClient(conf, RegionRegistry([info]))
    lean = LeanHTTP()
    async with aiohttp.ClientSession() as http:
        client.attach(http, None, lean=lean)
        yield client
    lean.close()


def _get(client: RegionClient, sleep: float) -> Any:
    return client.request(None, "R1", "compute", "GET", "/servers/detail",
                          params=f"sleep={sleep}")


async def test_a_region_deadline_bounds_a_get_alone_and_inside_a_longer_fan_out(
        client: RegionClient) -> None:
    started = time.monotonic()
    with pytest.raises(errors.RegionTimeout):
        await _get(client, 5)
    assert time.monotonic() - started < 2
    started = time.monotonic()
    result = await scatter_gather(["R1"], lambda r: _get(client, 5), timeout=30)
    assert isinstance(result["R1"], RegionFailure) and result["R1"].timed_out
    assert time.monotonic() - started < 2, "the region deadline, not the fan-out's 30 s"


async def test_a_nearer_fan_out_deadline_ends_the_get(client: RegionClient) -> None:
    started = time.monotonic()
    result = await scatter_gather(["R1"], lambda r: _get(client, 5), timeout=0.1)
    assert isinstance(result["R1"], RegionFailure) and result["R1"].timed_out
    assert time.monotonic() - started < 0.4
    assert (await _get(client, 0)).body == {"servers": []}, "the client still works"


async def test_a_task_started_inside_a_fan_out_keeps_its_own_deadline(
        client: RegionClient) -> None:
    spawned: list[asyncio.Task[Any]] = []

    async def call(region: str) -> Any:
        spawned.append(asyncio.ensure_future(_get(client, 5)))  # outlives this call
        return await asyncio.shield(spawned[0])

    result = await scatter_gather(["R1"], call, timeout=0.1)
    assert isinstance(result["R1"], RegionFailure) and result["R1"].timed_out
    started = time.monotonic()
    with pytest.raises(errors.RegionTimeout):
        await asyncio.wait_for(spawned[0], 3)  # never hangs
    assert time.monotonic() - started < 1
