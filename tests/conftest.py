"""Shared fixtures: throwaway databases on PostgreSQL and SQLite, configuration files."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import AsyncIterator

import asyncpg
import pytest
from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import config
from cascade.db import engine as db_engine
from cascade.db import migrate

PG_ADMIN_DSN = os.environ.get("CASCADE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def pg_url(dbname: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{dbname}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/cascade.sqlite"
        return
    name = f"cascade_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield pg_url(name)
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def write_conf(tmp_path: Path, text: str) -> cfg.ConfigOpts:
    """A fresh ConfigOpts loaded from ``text`` as cascade.conf."""
    path = tmp_path / "cascade.conf"
    path.write_text(text)
    return config.load(["--config-file", str(path)])


@pytest.fixture
async def migrated_db(db_url: str) -> str:
    """``db_url`` upgraded to head."""
    conf = config.load([])
    engine = db_engine.make_engine(conf, db_url)
    await migrate.upgrade(engine)
    await engine.dispose()
    return db_url


@pytest.fixture
async def db_sessions(migrated_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on ``migrated_db``, with the engine and pool Cascade builds."""
    engine = db_engine.make_engine(config.load([]), migrated_db)
    yield db_engine.make_sessionmaker(engine)
    await engine.dispose()
