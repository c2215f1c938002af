"""Keeps each process's in-memory caches in step with what the others write.

Cascade runs as many ``cascade-api`` workers and ``cascade-sync`` processes on one
PostgreSQL. Each keeps caches (the region registry, server mappings, regions in
use, image ids, flavors) that another process's write makes stale. On PostgreSQL,
triggers (migration 0008) ``NOTIFY`` channel ``cascade_coherence`` when a region
or a placement (where a resource lives, in what state) changes, whoever wrote it (an API worker, a
sync job, ``cascade-manage``, SQL by hand); changes that live outside the
database (a flavor made in the regions) are published by the code that makes
them. Every process ``LISTEN``s on one connection of its own and drops what each
notice names.

Bounds:

* other processes: as soon as the notice arrives (milliseconds);
* the writer's next request, whichever process serves it: ``barrier`` runs before
  every authenticated API request. It sends a query on the listening connection,
  and PostgreSQL delivers every notice committed before it ahead of the answer;
  the handlers they start finish before the request goes on. Concurrent requests
  share one round trip.

If the listening connection is lost, notices may be lost with it: every cache is
dropped, dropped again at most every ``[coherence] reconnect_interval`` while
requests come in, and once more when the connection is back. On SQLite (one
process, all-in-one) the notices stay in process.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Awaitable, Callable

from oslo_config import cfg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["CHANNEL", "Coherence", "Reloader"]

LOG = logging.getLogger(__name__)

#: The PostgreSQL channel the triggers and ``publish`` notify.
CHANNEL = "cascade_coherence"

#: Drops or refreshes what a notice's key names (may be a coroutine function).
Handler = Callable[[str], "Awaitable[None] | None"]
#: Drops everything a part of this process caches (notices may have been lost).
Reset = Callable[[], "Awaitable[None] | None"]


class Reloader:
    """Runs an async refresh at most once at a time; asks made while it runs
    make it run once more after (so none is lost), and ``wait`` awaits the lot."""

    def __init__(self, refresh: Callable[[], Awaitable[None]]) -> None:
        self._refresh = refresh
        self._again = False
        self._task: asyncio.Task[None] | None = None

    def request(self, _key: str = "") -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self._refresh()
            except Exception as exc:  # noqa: BLE001 - the next notice or sweep retries
                LOG.warning("refresh after a change failed: %s", exc)
            if not self._again:
                return

    async def wait(self) -> None:
        task = self._task
        if task is not None and not task.done():
            await asyncio.shield(task)


class Coherence:
    """One process's end of the notices: handlers by kind, the listener, the barrier."""

    def __init__(self, conf: cfg.ConfigOpts, engine: AsyncEngine | None) -> None:
        self._engine = (engine if engine is not None
                        and engine.url.get_backend_name() == "postgresql" else None)
        self._dsn = (make_url(engine.url).set(drivername="postgresql")
                     .render_as_string(hide_password=False)
                     if engine is not None and self._engine is not None else None)
        self._conf = conf
        self._handlers: dict[str, list[Handler]] = {}
        self._resets: list[Reset] = []
        self._reloaders: list[Reloader] = []
        self._conn: object | None = None
        self._connected = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._waiting: asyncio.Future[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_reset = float("-inf")

    @property
    def distributed(self) -> bool:
        """Whether notices cross processes (PostgreSQL), not only this one."""
        return self._engine is not None

    # -- registration ---------------------------------------------------------

    def on(self, kind: str, handler: Handler) -> None:
        """Call ``handler(key)`` for each notice ``kind:key``."""
        self._handlers.setdefault(kind, []).append(handler)

    def on_reset(self, reset: Reset) -> None:
        """Call ``reset()`` when notices may have been lost."""
        self._resets.append(reset)

    def reloader(self, refresh: Callable[[], Awaitable[None]]) -> Reloader:
        """A ``Reloader`` whose runs ``barrier`` waits for."""
        reloader = Reloader(refresh)
        self._reloaders.append(reloader)
        return reloader

    # -- notices ---------------------------------------------------------------

    def dispatch(self, payload: str) -> None:
        """Run the handlers of one notice (``kind`` or ``kind:key``) in this process."""
        kind, _, key = payload.partition(":")
        for handler in self._handlers.get(kind, ()):
            self._run(handler, key)

    def reset(self) -> None:
        """Drop everything every part caches."""
        for reset in self._resets:
            self._run(reset)

    def _run(self, fn: Callable[..., "Awaitable[None] | None"], *args: str) -> None:
        try:
            result = fn(*args)
        except Exception:  # noqa: BLE001 - one bad handler must not stop the others
            LOG.exception("coherence handler failed")
            return
        if asyncio.iscoroutine(result):
            task = asyncio.get_running_loop().create_task(result)
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def publish(self, kind: str, key: str = "") -> None:
        """Tell every process (this one at once) that what ``kind:key`` names changed.

        For changes the triggers cannot see (they live in the regions, not the
        database). Best effort across processes: a failure is logged, and the
        caches it would have dropped expire on their own.
        """
        payload = f"{kind}:{key}" if key else kind
        self.dispatch(payload)
        if self._engine is None:
            return
        try:
            async with self._engine.begin() as conn:
                await conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                                   {"channel": CHANNEL, "payload": payload})
        except Exception as exc:  # noqa: BLE001 - see above
            LOG.warning("could not publish %s to other processes: %s", payload, exc)

    # -- the listener ------------------------------------------------------------

    async def start(self) -> None:
        if self._engine is None:
            return
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        # The first connection is waited for briefly: a process that starts while
        # PostgreSQL is away serves with caches dropped until it is back.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._connected.wait(),
                                   self._conf.coherence.barrier_timeout * 5)

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._supervisor, self._runner, *self._pending):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._close()

    async def _supervise(self) -> None:
        import asyncpg

        interval = self._conf.coherence.reconnect_interval
        lost = asyncio.Event()
        while not self._stopping:
            lost.clear()
            try:
                conn = await asyncio.wait_for(asyncpg.connect(self._dsn),
                                              self._conf.coherence.barrier_timeout * 5)
                await conn.add_listener(CHANNEL, self._on_notice)
                conn.add_termination_listener(lambda _conn: lost.set())
            except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
                LOG.warning("cannot listen for changes on PostgreSQL (retrying in %ss): %s",
                            interval, exc)
                await asyncio.sleep(interval)
                continue
            self._conn = conn
            # Notices sent while nobody listened are lost: start over from the database.
            self.reset()
            self._connected.set()
            LOG.info("listening for changes on channel %s", CHANNEL)
            await lost.wait()
            LOG.warning("lost the PostgreSQL listening connection; caches dropped")
            self._connected.clear()
            self._conn = None
            self.reset()

    def _on_notice(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.dispatch(payload)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)  # type: ignore[attr-defined]

    # -- the barrier -------------------------------------------------------------

    async def barrier(self) -> None:
        """Return once every notice committed before this call has been handled."""
        if self._engine is None:
            await self._settle()
            return
        if self._conn is None:
            # Not listening: nothing says what changed, so nothing cached is trusted
            # for longer than reconnect_interval (dropped at most that often, so a
            # database outage does not turn every request into a reload).
            now = asyncio.get_running_loop().time()
            if now - self._last_reset >= self._conf.coherence.reconnect_interval:
                self._last_reset = now
                self.reset()
            await self._settle()
            return
        if self._waiting is None:
            self._waiting = asyncio.get_running_loop().create_future()
            if self._runner is None or self._runner.done():
                self._runner = asyncio.get_running_loop().create_task(self._round_trips())
        waiting = self._waiting
        try:
            await asyncio.wait_for(asyncio.shield(waiting),
                                   self._conf.coherence.barrier_timeout)
        except asyncio.TimeoutError:
            LOG.warning("no answer on the listening connection within %ss",
                        self._conf.coherence.barrier_timeout)
            self.reset()
        await self._settle()

    async def _round_trips(self) -> None:
        # Requests arriving while a round trip is out wait for the next one: only
        # a query sent after they arrived covers what they may have been told.
        while self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            conn = self._conn
            try:
                if conn is not None:
                    await conn.fetchval("SELECT 1")  # type: ignore[attr-defined]
                    await asyncio.sleep(0)  # notices read with the answer run first
            except Exception as exc:  # noqa: BLE001 - the supervisor reconnects
                LOG.warning("barrier query failed: %s", exc)
                self.reset()
                with contextlib.suppress(Exception):
                    conn.terminate()  # type: ignore[union-attr]
            if not waiting.done():
                waiting.set_result(None)

    async def _settle(self) -> None:
        """Wait for the handlers and reloads that notices started."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        for reloader in self._reloaders:
            await reloader.wait()
