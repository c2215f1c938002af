"""Migration 0002 with data (SQLite and PostgreSQL): existing keypairs start counting
against key_pairs, and going back down keeps every resource and placement."""
from __future__ import annotations

import json

from sqlalchemy import text

from cascade import config
from cascade.db import engine as db_engine
from cascade.db import migrate


async def test_upgrade_backfills_keypair_usage_and_downgrade_keeps_rows(db_url: str) -> None:
    engine = db_engine.make_engine(config.load([]), db_url)
    try:
        await migrate.upgrade(engine, "0001")
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO regions (name, availability_zone, enabled, weight, health, "
                "capabilities, source) VALUES ('R1', 'R1', true, 1, 'up', '{}', 'api')"))
            for gid, type_ in (("k1", "keypair"), ("s1", "server")):
                await conn.execute(text(
                    "INSERT INTO resources (global_id, type, project_id, spec, attrs, status) "
                    "VALUES (:g, :t, 'p', '{}', '{}', 'ACTIVE')"), {"g": gid, "t": type_})
            await conn.execute(text(
                "INSERT INTO placements (global_id, resource_type, region, state) "
                "VALUES ('s1', 'server', 'R1', 'active')"))
        await migrate.upgrade(engine, "0002")
        async with engine.connect() as conn:
            rows = {gid: usage for gid, usage in await conn.execute(text(
                "SELECT global_id, usage FROM resources ORDER BY global_id"))}
        usage = rows["k1"] if isinstance(rows["k1"], dict) else json.loads(rows["k1"])
        assert usage == {"key_pairs": 1} and rows["s1"] is None
        await migrate.downgrade(engine, "0001")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM placements"))).scalar() == 1
            assert (await conn.execute(text("SELECT count(*) FROM resources"))).scalar() == 2
    finally:
        await engine.dispose()
