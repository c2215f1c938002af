"""Schema upgrades and downgrades through Alembic, on an async engine."""
from __future__ import annotations

import os
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["alembic_config", "upgrade", "downgrade", "current"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic config pointing at Cascade's migrations, sharing ``connection``."""
    cfg = Config(os.path.join(_HERE, "alembic.ini"))
    cfg.set_main_option("script_location", os.path.join(_HERE, "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


async def _run(engine: AsyncEngine, fn: Any, *args: Any) -> Any:
    async with engine.begin() as conn:
        return await conn.run_sync(lambda sync_conn: fn(alembic_config(sync_conn), *args))


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``."""
    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Take the schema down to ``revision``."""
    await _run(engine, command.downgrade, revision)


async def current(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when empty."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision())
