"""``cascade-manage jobs``: list, show, retry, cancel, purge durable jobs.

Return codes: 0 done; 2 no such job; 3 refused (job in a state that does not
allow it); 255 unexpected error.
"""
from __future__ import annotations

import argparse
from typing import Any

from oslo_config import cfg

from cascade import errors
from cascade.db import engine as db_engine
from cascade.manage.output import FORMATS, emit_list, emit_one
from cascade.jobs import queue as jobs
from cascade.jobs.views import job_view

__all__ = ["add_parser"]

COLUMNS = ["id", "kind", "state", "attempts", "progress", "dedupe_key", "last_error"]


def _row(job: dict[str, Any]) -> dict[str, Any]:
    done, total = job["progress"]["done"], job["progress"]["total"]
    progress = "" if done is None else (f"{done}/{total}" if total else str(done))
    return {**job, "progress": progress}


async def _list(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Jobs, newest first. 0."""
    async with db_engine.opened_engine(conf) as engine:
        async with db_engine.make_sessionmaker(engine)() as session:
            rows = await jobs.list_jobs(session, state=args.state, kind=args.kind,
                                        limit=args.limit)
            views = [job_view(j) for j in rows]
    print(emit_list(args.format, COLUMNS, [_row(v) for v in views]
                    if args.format == "table" else views))
    return 0


async def _one(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """show / retry / cancel one job. 0; 2 unknown; 3 refused."""
    async with db_engine.opened_engine(conf) as engine:
        async with db_engine.make_sessionmaker(engine).begin() as session:
            try:
                job = await {"show": jobs.get, "retry": jobs.retry,
                             "cancel": jobs.cancel}[args.action](session, args.id)
            except errors.NotFound as exc:
                print(exc.message)
                return 2
            except errors.Conflict as exc:
                print(exc.message)
                return 3
            view = job_view(job)
    print(emit_one(args.format, view))
    return 0


async def _purge(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Delete finished jobs older than ``--older-than`` seconds (default
    ``[sync] job_retention``). 0."""
    import datetime as dt

    seconds = conf.sync.job_retention if args.older_than is None else args.older_than
    async with db_engine.opened_engine(conf) as engine:
        deleted = await jobs.purge_finished(db_engine.make_sessionmaker(engine),
                                            dt.timedelta(seconds=seconds))
    print(f"purged {deleted} finished jobs")
    return 0


def _seconds(text: str) -> float:
    """A non-negative number of seconds (argparse answers anything else with 2)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    grp = sub.add_parser("jobs", help="durable jobs")
    jsub = grp.add_subparsers(dest="action", required=True)
    lst = jsub.add_parser("list", help="list jobs")
    lst.add_argument("--state")
    lst.add_argument("--kind")
    lst.add_argument("--limit", type=int, default=100)
    lst.add_argument("-f", "--format", choices=FORMATS, default="table")
    lst.set_defaults(func=_list)
    for action in ("show", "retry", "cancel"):
        p = jsub.add_parser(action, help=f"{action} a job")
        p.add_argument("id", type=int)
        p.add_argument("-f", "--format", choices=FORMATS, default="table")
        p.set_defaults(func=_one)
    purge = jsub.add_parser("purge", help="delete finished jobs past their retention")
    purge.add_argument("--older-than", type=_seconds, default=None, metavar="SECONDS",
                       help="default: [sync] job_retention")
    purge.set_defaults(func=_purge)
