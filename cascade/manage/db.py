"""``cascade-manage db``: schema upgrades.

Return codes: 0 done; 255 unexpected error.
"""
from __future__ import annotations

import argparse

from oslo_config import cfg

from cascade.db import engine as db_engine
from cascade.db import migrate

__all__ = ["add_parser"]


async def _sync(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Upgrade to ``--revision`` (default head). 0 on success."""
    async with db_engine.opened_engine(conf) as engine:
        await migrate.upgrade(engine, args.revision)
        print(f"database at revision {await migrate.current(engine)}")
    return 0


async def _version(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Print the current revision. 0 always."""
    async with db_engine.opened_engine(conf) as engine:
        print(await migrate.current(engine) or "empty")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database schema")
    dsub = db.add_subparsers(dest="action", required=True)
    s = dsub.add_parser("sync", help="upgrade the schema")
    s.add_argument("--revision", default="head")
    s.set_defaults(func=_sync)
    v = dsub.add_parser("version", help="show the schema revision")
    v.set_defaults(func=_version)
