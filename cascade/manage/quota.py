"""``cascade-manage quota``: show a project's limits and usage; recount the ledger.

Return codes: ``show`` 0. ``recount`` 0 the ledger was exact; 1 it was
corrected (the corrections are listed: some path missed the ledger, worth a
look); 255 unexpected error.
"""
from __future__ import annotations

import argparse
import dataclasses

from oslo_config import cfg

from cascade.db import engine as db_engine
from cascade.manage.output import FORMATS, emit_list
from cascade.quota import ledger, resources
from cascade.sync.quota_sweep import release_expired

__all__ = ["add_parser"]


async def _show(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Every resource's limit, in use and reserved for one project. 0."""
    async with db_engine.opened_engine(conf) as engine:
        async with db_engine.make_sessionmaker(engine)() as session:
            limits = await ledger.limits(session, args.project, resources.defaults(conf))
            held = await ledger.usage(session, args.project)
    rows = [{"resource": name, "service": resources.get(name).service, "limit": limit,
             "in_use": held.get(name, (0, 0))[0], "reserved": held.get(name, (0, 0))[1]}
            for name, limit in limits.items()]
    print(emit_list(args.format, ["resource", "service", "limit", "in_use", "reserved"],
                    rows))
    return 0


async def _recount(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Release expired reservations, set usage from the resources. 0 exact; 1 corrected."""
    async with db_engine.opened_engine(conf) as engine:
        sessions = db_engine.make_sessionmaker(engine)
        released = await release_expired(sessions)
        async with sessions() as session:
            projects = [args.project] if args.project else await ledger.projects(session)
        fixes: list[ledger.Correction] = []
        for project_id in projects:
            async with sessions.begin() as session:
                fixes += await ledger.recount(session, project_id)
    if fixes or args.format != "table":
        print(emit_list(args.format, ["project_id", "resource", "field", "old", "new"],
                        [dataclasses.asdict(f) for f in fixes]))
    if released:
        print(f"released {released} expired reservations")
    return 1 if fixes else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    grp = sub.add_parser("quota", help="quota limits and the usage ledger")
    qsub = grp.add_subparsers(dest="action", required=True)
    show = qsub.add_parser("show", help="a project's limits and usage")
    show.add_argument("project")
    show.add_argument("-f", "--format", choices=FORMATS, default="table")
    show.set_defaults(func=_show)
    rec = qsub.add_parser("recount", help="recount usage from the resources Cascade holds")
    rec.add_argument("--project", help="only this project (default: every project)")
    rec.add_argument("-f", "--format", choices=FORMATS, default="table")
    rec.set_defaults(func=_recount)
