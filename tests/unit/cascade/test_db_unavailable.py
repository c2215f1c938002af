"""Which database errors mean "the database is away" (a 503), which "someone else
changed it meanwhile" (a 409), and which are bugs."""
from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import exc as orm_exc

from cascade.db.engine import conflicted, unavailable


class _DriverError(Exception):
    """What SQLAlchemy's asyncpg adapter raises, caused by asyncpg's own error."""


def _wrapped(cause: BaseException) -> sa_exc.DBAPIError:
    inner = _DriverError(str(cause))
    inner.__cause__ = cause
    return sa_exc.DBAPIError("SELECT 1", {}, inner)


def test_a_database_shutting_down_or_refusing_connections_is_unavailable() -> None:
    assert unavailable(_wrapped(asyncpg.exceptions.CannotConnectNowError("shutting down")))
    assert unavailable(_wrapped(asyncpg.exceptions.AdminShutdownError("terminated")))
    assert unavailable(ConnectionRefusedError(111, "Connect call failed"))
    assert unavailable(sa_exc.OperationalError("SELECT 1", {}, _DriverError("gone")))
    assert unavailable(sa_exc.TimeoutError("QueuePool limit reached"))


def test_statement_errors_are_not_unavailability() -> None:
    assert not unavailable(sa_exc.IntegrityError("INSERT", {}, _DriverError("dup")))
    assert not unavailable(_wrapped(asyncpg.exceptions.UndefinedColumnError("no column")))
    assert not unavailable(ValueError("bad"))
    assert not unavailable(KeyError("x"))


def test_a_concurrent_change_is_a_conflict_not_unavailability() -> None:
    stale = orm_exc.StaleDataError("UPDATE statement on table 'resources' expected to "
                                   "update 1 row(s); 0 were matched.")
    assert conflicted(stale) and not unavailable(stale)
    assert conflicted(_wrapped(asyncpg.exceptions.DeadlockDetectedError("deadlock")))
    assert conflicted(_wrapped(asyncpg.exceptions.SerializationError("could not serialize")))
    assert not conflicted(sa_exc.IntegrityError("INSERT", {}, _DriverError("dup")))
    assert not conflicted(_wrapped(asyncpg.exceptions.CannotConnectNowError("shutting down")))
    assert not conflicted(ValueError("bad"))
