"""Regional notifications trigger refreshes: the cleanup context that runs the listeners.

What a change triggers is registered under ``ON_CHANGE`` before start-up; without
it nothing listens (consuming notifications without acting on them would only
drain the queue). ``[sync] workers`` switches the listeners off with
``-notifications``.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator

from aiohttp import web

from cascade import appkeys
from cascade.notify.listener import OnChange, RegionListeners
from cascade.sync import registry

__all__ = ["notify_context", "ON_CHANGE", "LISTENERS", "NAME"]

LOG = logging.getLogger(__name__)

#: Name in ``[sync] workers``.
NAME = "notifications"

#: The refresh to run for each change (registered by the application).
ON_CHANGE = web.AppKey[OnChange]("notify_on_change")
#: The running listeners, when this process runs them (tests look at them).
LISTENERS = web.AppKey("notify_listeners", RegionListeners)


async def _follow_regions(listeners: RegionListeners, interval: float) -> None:
    """Regions added, removed or re-pointed through the API are followed at this pace."""
    while True:
        await asyncio.sleep(interval)
        try:
            await listeners.update()
        except Exception:  # noqa: BLE001 - the loop must survive a bad round
            LOG.exception("could not update the notification listeners")


async def notify_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context listening to every region of ``app[REGIONS]`` that has a transport."""
    conf = app[appkeys.CONF]
    on_change = app.get(ON_CHANGE)
    if on_change is None or NAME not in registry.enabled([NAME], conf.sync.workers):
        yield
        return
    regions = app[appkeys.REGIONS]
    listeners = RegionListeners(conf, regions, on_change)
    await listeners.start()
    app[LISTENERS] = listeners
    follow = asyncio.create_task(
        _follow_regions(listeners, conf.sync.region_probe_interval), name=NAME)
    yield
    follow.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follow
    await listeners.stop()
