"""notify_context runs the listeners only with a refresh to call, and follows the regions."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

from cascade import appkeys
from cascade.notify.events import Change
from cascade.regions.registry import RegionInfo, RegionRegistry
from cascade.sync.notifications import LISTENERS, ON_CHANGE, notify_context
from tests.conftest import write_conf

URL = "nosuchdriver://u:p@h/v"   # never connects: these tests need no broker


async def refresh(change: Change) -> None:
    return None


def make_app(tmp_path: Path, conf_text: str, *, on_change: bool) -> web.Application:
    app = web.Application()
    app[appkeys.CONF] = write_conf(tmp_path, conf_text)
    app[appkeys.REGIONS] = RegionRegistry([RegionInfo("RegionOne", "RegionOne")])
    if on_change:
        app[ON_CHANGE] = refresh
    app.cleanup_ctx.append(notify_context)
    return app


async def running(app: web.Application) -> AsyncIterator[web.Application]:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        yield app
    finally:
        await runner.cleanup()


async def test_listeners_follow_the_regions(tmp_path: Path) -> None:
    app = make_app(tmp_path, "[sync]\nregion_probe_interval = 1\n", on_change=True)
    async for app in running(app):
        listeners = app[LISTENERS]
        assert listeners.regions == {}
        assert (listeners.topic, listeners.pool) == ("cascade_notifications", "cascade")
        app[appkeys.REGIONS].replace(
            [RegionInfo("RegionOne", "RegionOne", notification_transport_url=URL)], {})
        for _ in range(40):
            if listeners.regions:
                break
            await asyncio.sleep(0.1)
        assert listeners.regions == {"RegionOne": URL}


async def test_nothing_listens_without_a_refresh_or_when_switched_off(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    async for app in running(make_app(tmp_path / "a", "", on_change=False)):
        assert LISTENERS not in app
    async for app in running(make_app(tmp_path, "[sync]\nworkers = *,-notifications\n",
                                      on_change=True)):
        assert LISTENERS not in app
