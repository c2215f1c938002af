"""The job worker: claims due jobs, runs their handler under a renewed lease.

Handlers (``sync/registry.py``) return an ``Outcome``. A region error is
transient (retried with jittered backoff until ``[sync] job_max_attempts``,
then the job is dead); ``PermanentError`` fails the job at once. If the lease
cannot be renewed (another worker took the job after we stalled, or an
operator cancelled it) the handler is cancelled: a job is never worked twice.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import uuid
from typing import Any, Awaitable, Callable, Coroutine

from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.db import engine as db_engine
from cascade.db.models import Job, JobState
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionRegistry
from cascade.jobs import queue as jobs

__all__ = ["Outcome", "JobContext", "Handler", "PermanentError", "Worker"]

LOG = logging.getLogger(__name__)


class PermanentError(errors.CascadeError):
    """Retrying will not help (bad data, hash mismatch, refused for good)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a handler decided: done, or wait ``delay`` seconds and run again."""

    delay: float | None = None

    @classmethod
    def done(cls) -> "Outcome":
        return cls()

    @classmethod
    def wait(cls, delay: float) -> "Outcome":
        """Run again later without counting an attempt (waiting on other work)."""
        return cls(delay=delay)


@dataclasses.dataclass
class JobContext:
    job: Job
    owner: str
    conf: cfg.ConfigOpts
    sessions: async_sessionmaker[AsyncSession]
    client: RegionClient
    registry: RegionRegistry
    wake: Callable[[str], Awaitable[None]]

    @property
    def payload(self) -> dict[str, Any]:
        return dict(self.job.payload or {})

    async def progress(self, done: int, total: int | None) -> None:
        await jobs.progress(self.sessions, self.job.id, self.owner, done, total)


Handler = Callable[[JobContext], Coroutine[Any, Any, Outcome]]


def worker_name() -> str:
    """host:pid:random, so leases say who holds them."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 client: RegionClient, registry: RegionRegistry,
                 handlers: dict[str, Handler], wake_event: asyncio.Event,
                 wake: Callable[[str], Awaitable[None]]) -> None:
        self._conf = conf
        self._sessions = sessions
        self._client = client
        self._registry = registry
        self._handlers = handlers
        self._event = wake_event
        self._wake = wake
        self.owner = worker_name()
        self._slots = asyncio.Semaphore(conf.sync.job_concurrency)
        self._running: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Claim and run jobs forever; sleep until woken or the sweep interval."""
        lease = self._conf.sync.job_lease_seconds
        while True:
            self._event.clear()
            while True:
                await self._slots.acquire()
                try:
                    job = await jobs.claim(self._sessions, self.owner, self._handlers, lease)
                except Exception as exc:  # noqa: BLE001 - database blip: sweep again later
                    if db_engine.unavailable(exc):
                        LOG.warning("job claim failed, the database is unavailable: %s", exc)
                    else:
                        LOG.exception("job claim failed")
                    job = None
                if job is None:
                    self._slots.release()
                    break
                task = asyncio.create_task(self._run_one(job), name=f"job-{job.id}")
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._event.wait(), self._conf.sync.job_sweep_interval)

    async def stop(self) -> None:
        """Cancel running jobs; their leases expire and another worker resumes them."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _run_one(self, job: Job) -> None:
        try:
            await self._supervise(job)
        finally:
            self._slots.release()

    async def _supervise(self, job: Job) -> None:
        ctx = JobContext(job, self.owner, self._conf, self._sessions, self._client,
                         self._registry, self._wake)
        work: asyncio.Task[Outcome] = asyncio.create_task(self._handlers[job.kind](ctx))
        renewer = asyncio.create_task(self._renew(job, work))
        try:
            outcome = await work
        except asyncio.CancelledError:
            if renewer.done() and not renewer.cancelled() and renewer.result() is False:
                LOG.warning("job %s (%s): lease lost, stopped", job.id, job.kind)
                return
            raise
        except PermanentError as exc:
            LOG.warning("job %s (%s) failed: %s", job.id, job.kind, exc.message)
            await jobs.finish(self._sessions, job.id, self.owner, JobState.FAILED, exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - anything else is worth another try
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, errors.CascadeError):
                LOG.exception("job %s (%s) crashed", job.id, job.kind)
            state = await jobs.retry_later(self._sessions, job, self.owner, message,
                                           self._conf.sync.job_max_attempts)
            LOG.info("job %s (%s) attempt %d failed (%s): %s", job.id, job.kind,
                     job.attempts, state, message)
            return
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        if outcome.delay is not None:
            await jobs.defer(self._sessions, job.id, self.owner, outcome.delay, uncount=True)
            self._wake_after(outcome.delay)
        elif await jobs.complete(self._sessions, job, self.owner):
            LOG.info("job %s (%s) succeeded", job.id, job.kind)
        else:
            LOG.info("job %s (%s) done; joined meanwhile, so it runs again", job.id, job.kind)
            self._wake_after(0.0)

    def _wake_after(self, delay: float) -> None:
        """Look for due jobs again once a job put back for ``delay`` seconds is due,
        rather than at the next sweep (another process may take it first; the
        look then finds nothing)."""
        if delay < self._conf.sync.job_sweep_interval:
            asyncio.get_running_loop().call_later(max(delay, 0.0), self._event.set)

    async def _renew(self, job: Job, work: asyncio.Task[Outcome]) -> bool:
        lease = self._conf.sync.job_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            try:
                ours = await jobs.renew(self._sessions, job.id, self.owner, lease)
            except Exception:  # noqa: BLE001 - try again next tick; the lease has slack
                LOG.exception("job %s: lease renewal failed", job.id)
                continue
            if not ours:
                work.cancel()
                return False
