"""cascade-api: the tenant and admin API. ``--all-in-one`` also runs the sync loops
and upgrades the (embedded by default) database, for a one-command start."""
from __future__ import annotations

import gc

import logging

from aiohttp import web
from oslo_config import cfg

from cascade.app import create_app
from cascade.cmd.common import load_config, require_service_password
from cascade.cmd.workers import serve_workers
from cascade.db.engine import masked_url
from cascade import config

__all__ = ["main"]

LOG = logging.getLogger(__name__)

CLI_OPTS = [
    cfg.BoolOpt("all-in-one", default=False,
                help="Also run the sync workers in this process and upgrade the database "
                     "schema at start-up (SQLite by default)."),
]


def main(argv: list[str] | None = None) -> int:
    conf = load_config(argv, CLI_OPTS)
    require_service_password(conf)
    all_in_one = conf.all_in_one
    workers = 1 if all_in_one else conf.api.workers
    LOG.info("cascade-api on %s:%s (all-in-one: %s, workers: %d, database %s)",
             conf.api.bind_host, conf.api.bind_port, all_in_one, workers,
             masked_url(config.database_url(conf)))
    if workers > 1:
        def make_app() -> web.Application:
            app = create_app(conf)
            gc.freeze()
            return app
        serve_workers(conf, workers, make_app)
        return 0
    app = create_app(conf, migrate_db=all_in_one, run_sync=all_in_one, all_in_one=all_in_one)
    gc.freeze()  # long-lived start-up objects out of the collector's way (as cascade-sync)
    web.run_app(app, host=conf.api.bind_host, port=conf.api.bind_port, print=None,
                shutdown_timeout=conf.api.graceful_shutdown_timeout,
                access_log=logging.getLogger("cascade.access"))
    return 0
