"""``cascade-manage mapping``: where global objects live, in both directions.

Return codes: ``list`` 0; ``show`` 0 found, 1 nothing has this id (globally
or in any region); 255 unexpected error.

Each subcommand is one entry of ``SUBCOMMANDS``: its help, a function adding
its arguments, and the coroutine running it. ``-f table|json|yaml`` is added
to every one.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, Awaitable, Callable

from oslo_config import cfg

from cascade import errors
from cascade.db import engine as db_engine
from cascade.manage.output import FORMATS, emit_list, emit_one
from cascade.manage import verify
from cascade.mapping import inspect

__all__ = ["add_parser", "Subcommand", "SUBCOMMANDS"]

COLUMNS = ["global_id", "type", "project_id", "region", "local_id", "state", "status",
           "name"]
PLACEMENT_COLUMNS = ["region", "local_id", "state", "last_seen", "lease_owner"]

Run = Callable[[cfg.ConfigOpts, argparse.Namespace], Awaitable[int]]


@dataclasses.dataclass(frozen=True)
class Subcommand:
    """One ``mapping`` action: ``arguments`` adds its options, ``run`` returns its code."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Run


async def _list(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Mapping rows, filtered, one page. 0 (a note on stderr when more follow)."""
    async with db_engine.opened_engine(conf) as engine:
        async with db_engine.make_sessionmaker(engine)() as session:
            try:
                rows = await inspect.list_mappings(
                    session, type_=args.type, project_id=args.project, region=args.region,
                    state=args.state, limit=args.limit + 1, marker=args.marker)
            except errors.BadRequest as exc:
                print(exc.message, file=sys.stderr)
                return 127
    page = rows[:args.limit]
    print(emit_list(args.format, COLUMNS, page))
    if len(rows) > args.limit:
        print(f"more rows follow: --marker {inspect.marker_of(page[-1])}", file=sys.stderr)
    return 0


def _list_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--type", help="server, image, network, subnet, port, security_group...")
    p.add_argument("--project", help="project id")
    p.add_argument("--region")
    p.add_argument("--state", help=f"creating, active, deleting, error, {inspect.DEFERRED}")
    p.add_argument("--limit", type=_positive, default=100, help="rows (default 100)")
    p.add_argument("--marker", help="continue after this row (GLOBAL_ID[@REGION])")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _show_table(found: dict[str, Any]) -> str:
    blocks = []
    for res in found["resources"]:
        fields = {k: v for k, v in res.items() if k not in ("placements", "attrs")}
        # One row per attribute: a table cell holding a whole document is unreadable.
        fields.update({f"attrs.{k}": v for k, v in res["attrs"].items()})
        fields["spec_keys"] = ", ".join(res["spec_keys"])
        fields["matched"] = ", ".join(res["matched"])
        blocks.append(emit_one("table", fields))
        blocks.append(emit_list("table", PLACEMENT_COLUMNS, res["placements"])
                      if res["placements"] else f"no placement: {inspect.DEFERRED}")
    return "\n".join(blocks)


async def _show(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """A global id's resource and placements, or the resources a regional id names.
    0 found; 1 not found."""
    async with db_engine.opened_engine(conf) as engine:
        async with db_engine.make_sessionmaker(engine)() as session:
            try:
                found = await inspect.show_mapping(session, args.id)
            except errors.MappingNotFound as exc:
                print(exc.message)
                return 1
    print(_show_table(found) if args.format == "table" else emit_one(args.format, found))
    return 0


def _show_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="a global id, or a regional id in any region")


#: The ``mapping`` actions, in the order ``--help`` lists them.
SUBCOMMANDS: dict[str, Subcommand] = {
    "list": Subcommand("list mappings (one row per placement)", _list_arguments, _list),
    "show": Subcommand("show what a global or regional id maps to", _show_arguments, _show),
    "verify": Subcommand("report drift between mappings and the regions",
                         verify.arguments, verify.verify),
    "adopt": Subcommand("resolve drift: adopt, finalise, mark, delete tagged orphans",
                        verify.arguments, verify.adopt),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    grp = sub.add_parser("mapping", help="global-to-regional mappings")
    msub = grp.add_subparsers(dest="action", required=True)
    for name, command in SUBCOMMANDS.items():
        p = msub.add_parser(name, help=command.help)
        command.arguments(p)
        p.add_argument("-f", "--format", choices=FORMATS, default="table")
        p.set_defaults(func=command.run)
