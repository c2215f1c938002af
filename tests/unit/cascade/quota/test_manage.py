"""cascade-manage quota (SQLite and PostgreSQL): show lists limits and usage; recount
answers 0 on an exact ledger and 1 after correcting one, listing the corrections."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cascade import config
from cascade.cmd import manage
from cascade.db import engine as db_engine
from cascade.quota import ledger, resources


async def test_show_and_recount(migrated_db: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    conf_file = tmp_path / "cascade.conf"
    conf_file.write_text(f"[database]\nconnection = {migrated_db}\n[quota]\ninstances = 7\n")
    run = lambda *a: asyncio.to_thread(manage.main, ["--config-file", str(conf_file), *a])  # noqa: E731
    engine = db_engine.make_engine(config.load([]), migrated_db)
    async with db_engine.make_sessionmaker(engine).begin() as s:
        await ledger.charge(s, "p1", {"instances": 2}, defaults=resources.defaults(
            config.load([])), check=False)
    await engine.dispose()

    assert await run("quota", "show", "p1", "-f", "json") == 0
    rows = {r["resource"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["instances"] == {"resource": "instances", "service": "compute", "limit": 7,
                                 "in_use": 2, "reserved": 0}
    assert rows["network"]["service"] == "network"

    assert await run("quota", "recount", "-f", "json") == 1
    assert json.loads(capsys.readouterr().out) == [
        {"project_id": "p1", "resource": "instances", "field": "in_use", "old": 2, "new": 0}]
    assert await run("quota", "recount", "--project", "p1") == 0
