"""cascade-manage mapping list|show against a migrated database (SQLite, PostgreSQL):
table, JSON and YAML output, pages with --marker, exit codes."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
import yaml

from cascade import config
from cascade.cmd import manage
from cascade.db import engine as db_engine
from tests.unit.mapping.test_inspect import IMAGE, NETWORK, PORT, SERVER, _seed

Run = Callable[..., Awaitable[int]]


@pytest.fixture
async def run(migrated_db: str, tmp_path: Path) -> Run:
    engine = db_engine.make_engine(config.load([]), migrated_db)
    async with db_engine.make_sessionmaker(engine).begin() as session:
        await _seed(session)
    await engine.dispose()
    conf_file = tmp_path / "cascade.conf"
    conf_file.write_text(f"[database]\nconnection = {migrated_db}\n")

    def main(*argv: str) -> Any:
        return asyncio.to_thread(manage.main, ["--config-file", str(conf_file), *argv])
    return main


async def test_list(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run("mapping", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split("|")[1].strip() == "global_id"
    assert len(table) == 4 + 5 and "deferred-port" in table[6]

    assert await run("mapping", "list", "--type", "image", "-f", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["global_id"], r["region"]) for r in rows] == [
        (IMAGE, "RegionOne"), (IMAGE, "RegionTwo")]
    assert await run("mapping", "list", "--project", "p1", "--state", "deferred",
                     "-f", "yaml") == 0
    assert [r["global_id"] for r in yaml.safe_load(capsys.readouterr().out)] == [PORT, NETWORK]
    assert await run("mapping", "list", "--region", "RegionTwo", "-f", "json") == 0
    assert [r["local_id"] for r in json.loads(capsys.readouterr().out)] == ["r2-server"]


async def test_list_pages(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run("mapping", "list", "--limit", "2", "-f", "json") == 0
    out = capsys.readouterr()
    assert [r["global_id"] for r in json.loads(out.out)] == [SERVER, IMAGE]
    assert out.err.strip() == f"more rows follow: --marker {IMAGE}@RegionOne"
    assert await run("mapping", "list", "--marker", f"{IMAGE}@RegionOne", "-f", "json") == 0
    out = capsys.readouterr()
    assert [r["global_id"] for r in json.loads(out.out)] == [IMAGE, PORT, NETWORK]
    assert out.err == ""
    assert await run("mapping", "list", "--limit", "0") == 127
    assert await run("mapping", "list", "--marker", "@x") == 127


async def test_show_and_exit_codes(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run("mapping", "show", "r1-server", "-f", "json") == 0
    found = json.loads(capsys.readouterr().out)
    (res,) = found["resources"]
    assert res["global_id"] == SERVER and res["matched"] == ["local_id@RegionOne"]
    assert res["placements"][0]["region"] == "RegionOne"

    assert await run("mapping", "show", IMAGE) == 0
    table = capsys.readouterr().out
    assert "| spec_keys " in table and "| RegionTwo | r2-server | active" in table
    assert await run("mapping", "show", PORT) == 0
    assert "no placement: deferred" in capsys.readouterr().out

    assert await run("mapping", "show", "no-such-id") == 1
    assert "No mapping for no-such-id" in capsys.readouterr().out
    assert await run("mapping") == 127


def test_jobs_purge_refuses_a_retention_that_is_not_seconds() -> None:
    """A negative, infinite or non-numeric --older-than would purge what it should
    not (or nothing): bad arguments, 127, before any database is touched."""
    from cascade.cmd.manage import main

    for value in ("-5", "nan", "inf", "abc"):
        assert main(["jobs", "purge", f"--older-than={value}"]) == 127, value
