"""cascade-sync: the sync workers, without the API. Several may run at once."""
from __future__ import annotations

import gc

import asyncio
import logging
import signal

from aiohttp import web

from cascade.app import create_app
from cascade.cmd.common import load_config, require_service_password

__all__ = ["main"]

LOG = logging.getLogger(__name__)


async def _run(app: web.Application) -> None:
    # The application is used as a container of lifetimes only: no listener.
    runner = web.AppRunner(app)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    LOG.info("cascade-sync running")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    conf = load_config(argv)
    require_service_password(conf)
    app = create_app(conf, run_sync=True)
    # Start-up objects (modules, config, the app) live as long as the process:
    # moving them out of the collector's generations makes every later
    # collection cheaper (a third of a full reconcile pass's CPU, bench/reconcile.py).
    gc.freeze()
    asyncio.run(_run(app))
    return 0
