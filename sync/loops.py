"""Periodic loops, by name, so ``[sync] workers`` can switch them on and off."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web

from cascade import appkeys
from cascade.sync import registry
from cascade.sync.deletes import sweep_deletes
from cascade.jobs.queue import purge_finished
from cascade.sync.audit import audit
from cascade.sync.quota_sweep import sweep as sweep_quota
from cascade.sync.reconcile import reconcile_all
from cascade.sync.worker import Worker

__all__ = ["LOOPS", "sync_context", "run_periodic", "WORKER"]

#: The job worker of this process, when it runs one (tests look at it).
WORKER = web.AppKey("worker", Worker)

LOG = logging.getLogger(__name__)


async def run_periodic(name: str, interval: float, fn: Callable[[], Awaitable[object]],
                       wake: asyncio.Event | None = None) -> None:
    """Call ``fn`` every ``interval`` seconds, or sooner when ``wake`` is set.

    A failing round is logged, not fatal.
    """
    wake = wake or asyncio.Event()
    while True:
        wake.clear()
        try:
            await fn()
        except Exception:  # noqa: BLE001 - the loop must survive a bad round
            LOG.exception("sync loop %s failed", name)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake.wait(), interval)


def _deletes(app: web.Application) -> tuple[float, Callable[[], Awaitable[object]]]:
    conf = app[appkeys.CONF]
    return conf.sync.delete_sweep_interval, lambda: sweep_deletes(
        app[appkeys.SESSIONS], app[appkeys.REGION_CLIENT],
        retention=conf.sync.deleted_server_retention)


def _quota(app: web.Application) -> tuple[float, Callable[[], Awaitable[object]]]:
    conf = app[appkeys.CONF]
    return conf.quota.reconcile_interval, lambda: sweep_quota(
        app[appkeys.SESSIONS], app[appkeys.QUOTAS])


def _usable_regions(app: web.Application) -> list[str]:
    return [r.name for r in app[appkeys.REGIONS] if r.health != "down"]


def _reconcile(app: web.Application) -> tuple[float, Callable[[], Awaitable[object]]]:
    conf = app[appkeys.CONF]
    return conf.sync.reconcile_interval, lambda: reconcile_all(
        app[appkeys.SESSIONS], app[appkeys.REGION_CLIENT], _usable_regions(app),
        margin=conf.sync.reconcile_margin)


def _audit(app: web.Application) -> tuple[float, Callable[[], Awaitable[object]]]:
    conf = app[appkeys.CONF]
    return conf.sync.audit_interval, lambda: audit(
        app[appkeys.SESSIONS], app[appkeys.REGION_CLIENT], _usable_regions(app),
        grace=conf.sync.audit_grace, repair=True, owner=conf.cascade_id)


def _job_purge(app: web.Application) -> tuple[float, Callable[[], Awaitable[object]]]:
    conf = app[appkeys.CONF]
    retention = dt.timedelta(seconds=conf.sync.job_retention)
    # Hourly, or as often as the retention itself when that is shorter.
    return min(3600.0, max(conf.sync.job_retention, 1.0)), lambda: purge_finished(
        app[appkeys.SESSIONS], retention)


#: name -> factory of (interval, one round)
LOOPS: dict[str, Callable[[web.Application],
                          tuple[float, Callable[[], Awaitable[object]]]]] = {
    "deletes": _deletes,
    "quota": _quota,
    "reconcile": _reconcile,
    "audit": _audit,
    "job_purge": _job_purge,
}


async def sync_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context running the enabled sync loops and the job worker."""
    conf = app[appkeys.CONF]
    waker = app[appkeys.WAKER]
    tasks = []
    for name in sorted(registry.enabled(LOOPS, conf.sync.workers)):
        interval, fn = LOOPS[name](app)
        tasks.append(asyncio.create_task(
            run_periodic(name, interval, fn, waker.event(name)), name=name))
    kinds = registry.enabled(registry.HANDLERS, conf.sync.workers)
    worker = None
    if kinds:
        worker = Worker(conf, app[appkeys.SESSIONS], app[appkeys.REGION_CLIENT],
                        app[appkeys.REGIONS], {k: registry.HANDLERS[k] for k in kinds},
                        waker.event("jobs"), waker.wake)
        app[WORKER] = worker
        tasks.append(asyncio.create_task(worker.run(), name="jobs"))
    yield
    for task in tasks:
        task.cancel()
    if worker is not None:
        await worker.stop()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
