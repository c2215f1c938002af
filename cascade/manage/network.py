"""``cascade-manage network check PROJECT``: are the project's subnets routable?

Reads every region's copies of the project's routers as they are now (see
``cascade/networks/reachability.py``) and lists each pair of subnets that
cannot reach the other. Return codes: 0 every pair routable both ways; 1
something is missing (listed); 3 a region could not be read (nothing is
concluded for it), as ``mapping verify``; 255 unexpected error.
"""
from __future__ import annotations

import argparse

from oslo_config import cfg

from cascade.manage.output import FORMATS, emit_one
from cascade.manage.verify import connected
from cascade.networks.reachability import check_project

__all__ = ["add_parser"]


async def _check(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    async with connected(conf) as (sessions, client, _registry):
        check = await check_project(sessions, client, args.project)
    shown = check.as_dict()
    print(emit_one(args.format, {
        "project_id": shown["project_id"], "routable": shown["routable"],
        "pairs": len(shown["pairs"]), "missing": shown["missing"],
        "unreachable_regions": shown["unreachable_regions"]}))
    if check.unreachable:
        return 3
    return 0 if check.routable else 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    grp = sub.add_parser("network", help="networking across regions")
    nsub = grp.add_subparsers(dest="action", required=True)
    chk = nsub.add_parser("check", help="whether every pair of a project's routed subnets "
                                        "reaches the other, from what the regions hold now")
    chk.add_argument("project")
    chk.add_argument("-f", "--format", choices=FORMATS, default="table")
    chk.set_defaults(func=_check)
