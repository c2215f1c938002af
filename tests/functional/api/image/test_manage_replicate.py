"""cascade-manage image replicate: the copy-image job from the operator tool, waited on
with progress (fake regions, the gateway's worker in process; SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from cascade.cmd import manage
from tests.functional.api.image.conftest import DATA, Env, start_env

Run = Callable[..., Awaitable[int]]

_PROGRESS = re.compile(r"^(queued.*|\[[#.]+\] \d+% [\d.]+/[\d.]+ \w+|[\d.]+ \w+ copied)$")


@pytest.fixture
async def env(aiohttp_server: Any, aiohttp_client: Any, migrated_db: str,
              tmp_path: Path) -> AsyncIterator[tuple[Env, Run]]:
    gw = await start_env(aiohttp_server, aiohttp_client, migrated_db, tmp_path,
                         "progress_every_mib = 1\n")

    def run(*argv: str) -> Any:
        return asyncio.to_thread(manage.main, ["--config-file", str(tmp_path / "cascade.conf"),
                                               *argv])
    yield gw, run


async def test_replicate_and_wait(env: tuple[Env, Run],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    gw, run = env
    image_id = await gw.image()
    await gw.upload(image_id)
    # A slow target keeps the job running long enough to be seen at work.
    gw.regions["RegionTwo"].delay = 0.5
    assert await run("image", "replicate", image_id, "--to", "RegionTwo", "--wait",
                     "-f", "json") == 0
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert result["replica_state"] == "active" and result["job_state"] == "succeeded"
    lines = out.err.splitlines()
    assert all(_PROGRESS.match(line) for line in lines), out.err
    assert any(line.startswith("[") and "MiB" in line for line in lines), out.err
    assert gw.regions["RegionTwo"].data[image_id] == DATA
    image = await gw.show(image_id)
    assert image["stores"] == "RegionOne,RegionTwo"
    assert image["os_glance_importing_to_stores"] == ""

    # Already there: nothing queued.
    assert await run("image", "replicate", image_id, "--to", "RegionTwo", "-f", "json") == 0
    assert json.loads(capsys.readouterr().out)["job_id"] is None


async def test_refusals_and_a_failed_copy(env: tuple[Env, Run],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    gw, run = env
    assert await run("image", "replicate", "no-such-image", "--to", "RegionTwo") == 2
    queued = await gw.image()
    assert await run("image", "replicate", queued, "--to", "Nowhere") == 2
    assert await run("image", "replicate", queued, "--to", "RegionTwo") == 3
    assert "not active" in capsys.readouterr().out
    assert await run("image", "replicate", queued) == 127

    image_id = await gw.image()
    await gw.upload(image_id)
    gw.regions["RegionOne"].data[image_id] = b"X" + DATA[1:]
    # Without --wait: queued, 0 at once.
    assert await run("image", "replicate", image_id, "--to", "RegionTwo", "-f", "json") == 0
    queued_job = json.loads(capsys.readouterr().out)
    assert queued_job["job_state"] in ("queued", "running") and queued_job["job_id"]
    # Waiting joins that job (or, if it already failed, queues another): the hash
    # check fails it.
    assert await run("image", "replicate", image_id, "--to", "RegionTwo", "--wait",
                     "-f", "json") == 1
    result = json.loads(capsys.readouterr().out)
    assert result["job_state"] == "failed" and "md5" in result["last_error"]
    assert result["replica_state"] != "active"
