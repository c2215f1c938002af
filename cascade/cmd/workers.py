"""Many cascade-api processes on one port, under gunicorn's arbiter.

Why gunicorn: its arbiter is the supervisor aiohttp itself documents
(``aiohttp.GunicornWebWorker``): it binds the port once and forks the workers,
which share the listening socket; it starts a new worker when one dies; on
SIGTERM (or SIGINT) it stops them all, each finishing its requests in flight
within ``[api] graceful_shutdown_timeout``; SIGHUP replaces the workers with fresh
ones; SIGTTIN/SIGTTOU add or take away one. oslo.service's
process launcher would do the same for eventlet or threaded services, but it
knows nothing of an asyncio application and would need an adapter around each
worker's loop.

Each worker builds its own application after the fork (its own database pool,
HTTP session, caches and change listener, ``cascade.coherence``), so nothing
made before the fork is shared.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from aiohttp import web
from gunicorn.app.base import BaseApplication
from oslo_config import cfg

__all__ = ["serve_workers"]

LOG = logging.getLogger(__name__)


class _Arbiter(BaseApplication):
    def __init__(self, conf: cfg.ConfigOpts, workers: int,
                 factory: Callable[[], Awaitable[web.AppRunner]]) -> None:
        self._conf = conf
        self._workers = workers
        self._factory = factory
        super().__init__(prog="cascade-api")

    def load_config(self) -> None:
        api = self._conf.api
        settings: dict[str, Any] = {
            "bind": [f"{_host(api.bind_host)}:{api.bind_port}"],
            "workers": self._workers,
            "worker_class": "aiohttp.GunicornWebWorker",
            "graceful_timeout": api.graceful_shutdown_timeout,
            # A worker that stops answering the arbiter's heartbeat for this long
            # (its event loop blocked) is killed and replaced.
            "timeout": api.worker_heartbeat_timeout,
            "keepalive": 75,
            "proc_name": "cascade-api",
            # Cascade logs through oslo.log (set up before the fork); gunicorn's
            # own messages (worker started, died, replaced) go to stderr.
            "errorlog": "-",
            "loglevel": "info",
            "accesslog": None,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Callable[[], Awaitable[web.AppRunner]]:
        return self._factory


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def serve_workers(conf: cfg.ConfigOpts, workers: int,
                  make_app: Callable[[], web.Application]) -> None:
    """Run ``workers`` processes serving ``make_app()`` until SIGTERM."""

    async def factory() -> web.AppRunner:
        app = make_app()
        return web.AppRunner(app, access_log=logging.getLogger("cascade.access"),
                             shutdown_timeout=conf.api.graceful_shutdown_timeout * 0.95,
                             handle_signals=False)

    LOG.info("cascade-api: %d workers under one arbiter", workers)
    _Arbiter(conf, workers, factory).run()
