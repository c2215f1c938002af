"""``cascade-manage image``: adopt images that already exist in regions.

Return codes: 0 done; 1 some copies disagree (reported, left alone) or a
region was unreachable (run again); 255 unexpected error.
"""
from __future__ import annotations

import argparse

import aiohttp
from oslo_config import cfg

from cascade import errors
from cascade.db import engine as db_engine
from cascade.images.adopt import adopt_images
from cascade.manage.output import FORMATS, emit_one
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionRegistry
from cascade.regions.service_auth import ServiceAuth

__all__ = ["add_parser"]


async def _adopt(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Adopt regional images. 0 all consistent; 1 conflicts or unreachable regions."""
    async with db_engine.opened_engine(conf) as engine, aiohttp.ClientSession() as http:
        sessions = db_engine.make_sessionmaker(engine)
        auth = ServiceAuth(conf, http)
        try:
            catalog = await auth.catalog()
        except errors.RegionError as exc:
            print(f"warning: no catalog: {exc.message}")
            catalog = {}
        registry = RegionRegistry()
        await registry.load(sessions, catalog)
        client = RegionClient(conf, registry)
        client.attach(http, auth)
        report = await adopt_images(sessions, client, registry, region=args.region,
                                    image_id=args.id)
    print(emit_one(args.format, {
        "adopted": report.adopted,
        "replicas_added": [f"{i}@{r}" for i, r in report.replicas_added],
        "conflicts": [f"{i}@{r}" for i, r in report.conflicts],
        "unreachable": report.unreachable}))
    return 1 if report.conflicts or report.unreachable else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    grp = sub.add_parser("image", help="images")
    isub = grp.add_subparsers(dest="action", required=True)
    p = isub.add_parser("adopt", help="bring images existing in regions under Cascade")
    p.add_argument("--region", help="only this region")
    p.add_argument("--id", help="only this image id")
    p.add_argument("-f", "--format", choices=FORMATS, default="table")
    p.set_defaults(func=_adopt)
