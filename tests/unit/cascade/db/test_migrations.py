"""Migrations on SQLite and PostgreSQL: stairway up/down/up, and agreement with the models."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from cascade import config
from cascade.db import engine as db_engine
from cascade.db import migrate
from cascade.db.models import Base


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


async def test_stairway_upgrade_downgrade_upgrade(db_url: str) -> None:
    engine = db_engine.make_engine(config.load([]), db_url)
    try:
        previous = "base"
        for rev in _revisions():
            await migrate.upgrade(engine, rev)
            await migrate.downgrade(engine, previous)
            await migrate.upgrade(engine, rev)
            assert await migrate.current(engine) == rev
            previous = rev
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(db_url: str) -> None:
    engine = db_engine.make_engine(config.load([]), db_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata))
    finally:
        await engine.dispose()
    assert diff == []
