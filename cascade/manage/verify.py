"""``cascade-manage mapping verify`` and ``mapping adopt``: the drift audit on demand.

``verify`` only reports; ``adopt`` resolves what the audit can (adopts
half-done creates, removes creates that never reached a region, finalises
deletes, marks mappings whose regional object is gone, deletes Cascade-tagged
orphans past the grace period, recounts quota).

Return codes, stable in the manner of ``nova-manage cell_v2 verify_instance``:
0 no drift; 1 drift found (with ``adopt``: found and acted upon); 3 a region
could not be listed, so the answer is incomplete (never read as "empty");
255 unexpected error.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
from typing import AsyncIterator

import aiohttp
from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.db import engine as db_engine
from cascade.manage.output import emit_list, emit_one
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionRegistry
from cascade.regions.service_auth import ServiceAuth
from cascade.sync import audit as drift

__all__ = ["verify", "adopt", "arguments"]

COLUMNS = ["action", "type", "region", "global_id", "local_id", "detail"]


@contextlib.asynccontextmanager
async def connected(conf: cfg.ConfigOpts) -> AsyncIterator[
        tuple[async_sessionmaker[AsyncSession], RegionClient, RegionRegistry]]:
    async with db_engine.opened_engine(conf) as engine, aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=conf.api.region_timeout)) as http:
        sessions = db_engine.make_sessionmaker(engine)
        registry = RegionRegistry()
        auth = ServiceAuth(conf, http)
        try:
            catalog = await auth.catalog()
        except errors.RegionError:
            catalog = {}
        await registry.load(sessions, catalog)
        client = RegionClient(conf, registry)
        client.attach(http, auth)
        yield sessions, client, registry


async def _run(conf: cfg.ConfigOpts, args: argparse.Namespace, repair: bool) -> int:
    async with connected(conf) as (sessions, client, registry):
        regions = [args.region] if args.region else [r.name for r in registry]
        unknown = [r for r in regions if registry.get(r) is None]
        if unknown:
            print(f"Region {unknown[0]} not found")
            return 3
        types = [args.type] if args.type else list(drift.TYPES)
        report = await drift.audit(sessions, client, regions, types=types,
                                   grace=conf.sync.audit_grace if args.grace is None
                                   else args.grace, repair=repair, owner=conf.cascade_id)
    rows = [dataclasses.asdict(f) for f in report.findings]
    if args.format == "table":
        print(emit_list("table", COLUMNS, rows) if rows else "no drift")
        print(f"untagged (foreign) objects left alone: {report.foreign}")
    else:
        print(emit_one(args.format, {"findings": rows, "foreign": report.foreign,
                                     "quota_corrections": report.quota_corrections}))
    if report.unreachable:
        return 3
    return 1 if report.drift else 0


async def verify(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Report drift between placements and the regions. 0 none, 1 drift, 3 incomplete."""
    return await _run(conf, args, repair=False)


async def adopt(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Resolve drift as the audit loop does. 0 none, 1 drift acted upon, 3 incomplete."""
    return await _run(conf, args, repair=True)


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--region", help="one region (default: all)")
    p.add_argument("--type", choices=sorted(drift.TYPES), help="one type (default: all)")
    p.add_argument("--grace", type=float, default=None,
                   help="seconds before a tagged, unmapped object counts as an orphan "
                        "(default [sync] audit_grace)")
