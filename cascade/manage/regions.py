"""``cascade-manage region``: list, show, add, enable, disable, probe.

Return codes: 0 done; 1 a probe found the region down; 2 no such region;
3 refused (name or zone taken, bad value); 255 unexpected error.
"""
from __future__ import annotations

import argparse
import asyncio
from typing import Any

import aiohttp
from oslo_config import cfg
from sqlalchemy import select

from cascade import errors
from cascade.db import engine as db_engine
from cascade.db.models import HealthState, Region
from cascade.manage.output import FORMATS, emit_list, emit_one
from cascade.regions import store
from cascade.regions.probe import probe_all
from cascade.regions.registry import RegionRegistry
from cascade.regions.service_auth import ServiceAuth

__all__ = ["add_parser"]

COLUMNS = ["name", "availability_zone", "local_availability_zone", "enabled", "weight",
           "health", "compute_max"]


def _view(row: Region) -> dict[str, Any]:
    return {
        "name": row.name, "availability_zone": row.availability_zone,
        "local_availability_zone": row.local_availability_zone, "enabled": row.enabled,
        "weight": row.weight, "health": row.health,
        "health_since": row.health_since, "source": row.source,
        "compute_max": (row.capabilities.get("compute") or {}).get("max_version"),
        "capabilities": row.capabilities,
        "compute_endpoint": row.compute_endpoint, "image_endpoint": row.image_endpoint,
        "network_endpoint": row.network_endpoint,
    }


async def _list(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """List regions. 0."""
    async with db_engine.opened_engine(conf) as engine:
        async with db_engine.make_sessionmaker(engine)() as session:
            rows = (await session.scalars(select(Region).order_by(Region.name))).all()
    print(emit_list(args.format, COLUMNS, [_view(r) for r in rows]))
    return 0


async def _show(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Show one region. 0, or 2 when unknown."""
    async with db_engine.opened_engine(conf) as engine:
        async with db_engine.make_sessionmaker(engine)() as session:
            try:
                row = await store.get_region(session, args.name)
            except errors.NotFound as exc:
                print(exc.message)
                return 2
    print(emit_one(args.format, _view(row)))
    return 0


async def _update(conf: cfg.ConfigOpts, name: str, fields: dict[str, Any], *,
                  create: bool, fmt: str) -> int:
    async with db_engine.opened_engine(conf) as engine:
        async with db_engine.make_sessionmaker(engine).begin() as session:
            try:
                if create:
                    row = await store.add_region(session, name, fields)
                else:
                    row = await store.update_region(session, name, fields)
            except errors.NotFound as exc:
                print(exc.message)
                return 2
            except errors.ClientError as exc:
                print(exc.message)
                return 3
            view = _view(row)
    print(emit_one(fmt, view))
    return 0


async def _add(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Register a region. 0, or 3 when refused."""
    fields: dict[str, Any] = {"availability_zone": args.availability_zone or args.name,
                              "weight": args.weight}
    for key in ("local_availability_zone", "compute_endpoint", "image_endpoint",
                "network_endpoint"):
        if getattr(args, key):
            fields[key] = getattr(args, key)
    return await _update(conf, args.name, fields, create=True, fmt=args.format)


async def _enable(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Enable a region. 0, or 2 when unknown."""
    return await _update(conf, args.name, {"enabled": True}, create=False, fmt=args.format)


async def _disable(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Disable a region (no new placements). 0, or 2 when unknown."""
    return await _update(conf, args.name, {"enabled": False}, create=False, fmt=args.format)


async def _drain(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Disable a region and say what it still holds; with --wait, until it holds
    nothing (tenants delete or move their servers). 0 empty, 1 still holding, 2 unknown."""
    code = await _update(conf, args.name, {"enabled": False}, create=False, fmt=args.format)
    if code:
        return code
    deadline = asyncio.get_running_loop().time() + (args.wait or 0)
    async with db_engine.opened_engine(conf) as engine:
        sessions = db_engine.make_sessionmaker(engine)
        while True:
            async with sessions() as session:
                held = await store.placement_count(session, args.name)
            print(f"{args.name}: {held} placement(s) left")
            if not held:
                return 0
            if asyncio.get_running_loop().time() >= deadline:
                return 1
            await asyncio.sleep(5)


async def _probe(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Probe a region now and store what was learned. 0 up, 1 down, 2 unknown region."""
    async with db_engine.opened_engine(conf) as engine, aiohttp.ClientSession() as http:
        sessions = db_engine.make_sessionmaker(engine)
        registry = RegionRegistry()
        try:
            catalog = await ServiceAuth(conf, http).catalog()
        except errors.RegionError as exc:
            print(f"warning: no catalog: {exc.message}")
            catalog = {}
        await registry.load(sessions, catalog)
        info = registry.get(args.name)
        if info is None:
            print(f"Region {args.name} not found")
            return 2
        await probe_all(http, RegionRegistry([info]), sessions)
        print(emit_one(args.format, {"name": info.name, "health": info.health,
                                     "capabilities": info.capabilities}))
        return 0 if info.health == HealthState.UP else 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    reg = sub.add_parser("region", help="regions below Cascade")
    rsub = reg.add_subparsers(dest="action", required=True)

    def cmd(name: str, func: Any, help_: str, with_name: bool = True) -> argparse.ArgumentParser:
        p = rsub.add_parser(name, help=help_)
        if with_name:
            p.add_argument("name")
        p.add_argument("-f", "--format", choices=FORMATS, default="table")
        p.set_defaults(func=func)
        return p

    cmd("list", _list, "list regions", with_name=False)
    cmd("show", _show, "show a region")
    add = cmd("add", _add, "register a region")
    add.add_argument("--availability-zone", help="zone tenants see (default: the name)")
    add.add_argument("--local-availability-zone", help="zone asked for inside the region")
    add.add_argument("--compute-endpoint")
    add.add_argument("--image-endpoint")
    add.add_argument("--network-endpoint")
    add.add_argument("--weight", type=int, default=1)
    cmd("enable", _enable, "let the region take new placements")
    cmd("disable", _disable, "stop new placements in the region")
    cmd("probe", _probe, "probe health and capabilities now")
    drain = cmd("drain", _drain, "stop new placements and report what the region holds")
    drain.add_argument("--wait", type=float, default=0,
                       help="seconds to wait for the region to hold nothing")
