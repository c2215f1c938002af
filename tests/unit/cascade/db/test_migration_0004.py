"""Migration 0004 with data (SQLite and PostgreSQL): existing subnets, ports and
rules learn their parent, shared networks and public or member-shared images
are marked visible beyond their project; private ones are not."""
from __future__ import annotations

import json

from sqlalchemy import text

from cascade import config
from cascade.db import engine as db_engine
from cascade.db import migrate

ROWS = [
    ("n1", "network", {"shared": True}, {}),
    ("n2", "network", {"shared": False}, {}),
    ("s1", "subnet", {"network_id": "n1"}, {}),
    ("p1", "port", {"network_id": "n2"}, {}),
    ("r1", "security_group_rule", {"security_group_id": "g1"}, {}),
    ("i1", "image", {}, {"visibility": "public"}),
    ("i2", "image", {"members": {"alt": {"status": "pending"}}}, {"visibility": "shared"}),
    ("i3", "image", {}, {"visibility": "private"}),
    ("v1", "server", {}, {}),
]


async def test_upgrade_derives_parent_and_scope_from_existing_rows(db_url: str) -> None:
    engine = db_engine.make_engine(config.load([]), db_url)
    try:
        await migrate.upgrade(engine, "0003")
        async with engine.begin() as conn:
            for gid, type_, attrs, spec in ROWS:
                await conn.execute(text(
                    "INSERT INTO resources (global_id, type, project_id, spec, attrs, status) "
                    "VALUES (:g, :t, 'p', :s, :a, 'ACTIVE')"),
                    {"g": gid, "t": type_, "s": json.dumps(spec), "a": json.dumps(attrs)})
        await migrate.upgrade(engine, "0004")
        async with engine.connect() as conn:
            got = {gid: (parent, bool(beyond)) for gid, parent, beyond in await conn.execute(
                text("SELECT global_id, parent_id, beyond_project FROM resources"))}
        assert got == {"n1": (None, True), "n2": (None, False), "s1": ("n1", False),
                       "p1": ("n2", False), "r1": ("g1", False), "i1": (None, True),
                       "i2": (None, True), "i3": (None, False), "v1": (None, False)}
        await migrate.downgrade(engine, "0003")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM resources"))).scalar() == 9
    finally:
        await engine.dispose()
