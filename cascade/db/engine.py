"""The database engine's lifetime, and the session factory the rest of Cascade uses."""
from __future__ import annotations

import contextlib
import logging
from typing import Any, AsyncIterator, Iterator

from oslo_config import cfg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (AsyncEngine, AsyncSession, async_sessionmaker,
                                    create_async_engine)

from cascade import config

__all__ = ["make_engine", "make_sessionmaker", "make_lookup_engine", "dispose_lookup_engine",
           "masked_url", "opened_engine"]

LOG = logging.getLogger(__name__)


def masked_url(url: str) -> str:
    """The URL with its password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # NOTE: WAL lets readers run while a writer commits; foreign keys are off by
    # default in SQLite and placements rely on ON DELETE CASCADE.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def make_engine(conf: cfg.ConfigOpts, url: str | None = None) -> AsyncEngine:
    """An async engine for ``url`` (default: the configured database)."""
    url = url or config.database_url(conf)
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        kwargs.update(pool_size=conf.database.pool_size, max_overflow=conf.database.pool_size,
                      pool_pre_ping=True, pool_timeout=conf.database.pool_timeout,
                      connect_args={"timeout": conf.database.connect_timeout})
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    LOG.info("database %s", masked_url(url))
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep attributes after commit (no implicit reload I/O)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def make_lookup_engine(conf: cfg.ConfigOpts, engine: AsyncEngine) -> AsyncEngine:
    """An engine for one-statement reads on the hot path, each on its own outside any
    transaction (autocommit).

    On PostgreSQL it has a small pool of its own (``[database] lookup_pool_size``)
    without the main pool's pre-ping: a checkout costs no round trip, so a look-up
    is one round trip, not two. A connection the database closed (a restart) is
    seen by the driver without asking (``mapping.store.locate`` checks it and
    reconnects). Elsewhere it is ``engine`` in autocommit, same pool. The caller
    disposes it (``dispose_lookup_engine``).
    """
    if engine.dialect.name != "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    size = conf.database.lookup_pool_size
    return create_async_engine(
        engine.url, pool_size=size, max_overflow=size, pool_pre_ping=False,
        pool_timeout=conf.database.pool_timeout, isolation_level="AUTOCOMMIT",
        connect_args={"timeout": conf.database.connect_timeout})


async def dispose_lookup_engine(lookups: AsyncEngine, engine: AsyncEngine) -> None:
    """Close ``lookups``' own pool, if it has one (not ``engine``'s)."""
    if lookups.sync_engine.pool is not engine.sync_engine.pool:
        await lookups.dispose()


def autocommit(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The sessions' engine (same pool) running each statement on its own, outside
    any transaction: for one-statement lookups on the hot path, with
    ``engine.connect()`` and Core statements (no BEGIN, no ROLLBACK, no ORM
    objects). Never for writes, nor for reads that must agree with one another
    (each statement is its own snapshot).
    """
    engine: AsyncEngine = sessions.kw["bind"]
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@contextlib.asynccontextmanager
async def opened_engine(conf: cfg.ConfigOpts) -> AsyncIterator[AsyncEngine]:
    """An engine for one command's lifetime, disposed afterwards (cascade-manage)."""
    engine = make_engine(conf)
    try:
        yield engine
    finally:
        await engine.dispose()


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (SQLAlchemy wraps the driver's error), at most 8 deep."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or getattr(seen, "orig", None)


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached right now (restarting,
    down, out of connections), rather than that a statement was wrong. Looks
    through the causes: SQLAlchemy wraps the driver's error."""
    import asyncpg
    from sqlalchemy import exc as sa_exc

    return any(
        isinstance(seen, (sa_exc.OperationalError, sa_exc.InterfaceError,
                          sa_exc.DisconnectionError, sa_exc.TimeoutError,
                          ConnectionError, asyncpg.PostgresConnectionError,
                          asyncpg.CannotConnectNowError, asyncpg.InterfaceError,
                          asyncpg.exceptions.AdminShutdownError))
        or (isinstance(seen, sa_exc.DBAPIError) and seen.connection_invalidated)
        for seen in _causes(exc))


def conflicted(exc: BaseException) -> bool:
    """Whether ``exc`` says a concurrent transaction changed or removed what this one
    was writing (a row gone before the ORM's UPDATE, a deadlock, a serialization
    failure): the caller should try again, as after Nova's own 409s."""
    import asyncpg
    from sqlalchemy.orm import exc as orm_exc

    return any(isinstance(seen, (orm_exc.StaleDataError,
                                 asyncpg.exceptions.DeadlockDetectedError,
                                 asyncpg.exceptions.SerializationError))
               for seen in _causes(exc))
