"""``cascade-manage image``: adopt images that already exist in regions; replicate one.

Return codes: ``adopt`` 0 done; 1 some copies disagree (reported, left alone)
or a region was unreachable (run again). ``replicate`` 0 queued (with
``--wait``: the replica is active); 1 with ``--wait``, the copy failed (job
failed, dead or cancelled); 2 no such image or region; 3 the image is not
active. 255 unexpected error.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import aiohttp
from oslo_config import cfg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.bus import make_waker
from cascade.context import RequestContext, new_request_id
from cascade.db import engine as db_engine
from cascade.db.models import Job, JobState, Placement, PlacementState
from cascade.images.adopt import adopt_images
from cascade.images.replicas import replica_job_key
from cascade.images.service import ImageService
from cascade.manage.output import FORMATS, emit_one
from cascade.manage.progress import ProgressLine, render
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionRegistry
from cascade.regions.service_auth import ServiceAuth
from cascade.jobs import queue as jobs

__all__ = ["add_parser"]

#: Seconds between two looks at a job being waited on (the bar redraws ~2/s).
POLL_SECONDS = 0.5


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


async def _replica_state(session: AsyncSession, image_id: str, region: str) -> str | None:
    return await session.scalar(select(Placement.state).where(
        Placement.global_id == image_id, Placement.region == region))


async def _enqueue(conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                   registry: RegionRegistry, image_id: str, region: str) -> int | None:
    """Queue replication as ``copy-image`` import does; the job's id, None when the
    replica was already active.

    The import path itself is used (not a job written here) so that the image
    shows the copy in ``os_glance_importing_to_stores`` as an API import would,
    and a replication already under way is joined, not doubled.

    :raises NotFound: no such image. :raises Conflict: the image is not active.
    """
    async with sessions() as session:
        if await _replica_state(session, image_id, region) == PlacementState.ACTIVE:
            return None
    operator = RequestContext(request_id=new_request_id(), project_id="",
                              user_id="cascade-manage", roles=("admin",))
    # Workers listening over RabbitMQ start at once; without a broker they find
    # the job on their own sweep ([sync] job_sweep_interval).
    waker = make_waker(conf, listen=False, all_in_one=False)
    await waker.start()
    try:
        # NOTE: nothing here talks to a region, so neither the client nor the
        # registry needs endpoints from the catalog.
        service = ImageService(conf, sessions, registry, RegionClient(conf, registry),
                               waker.wake)
        await service.import_copy(operator, image_id, {"method": {"name": "copy-image"},
                                                       "stores": [region]})
    finally:
        await waker.stop()
    async with sessions() as session:
        # The newest job with the key: the one just queued or joined, or one that
        # ended meanwhile (the replica became active under us).
        return await session.scalar(
            select(Job.id).where(Job.dedupe_key == replica_job_key(image_id, region))
            .order_by(Job.id.desc()).limit(1))


def _status(job: Job) -> str:
    if job.state == JobState.RUNNING:
        return render(job.progress_done, job.progress_total)
    if job.attempts:
        return f"queued for attempt {job.attempts + 1}: {(job.last_error or '')[:60]}"
    return "queued, waiting for a worker"


async def _wait(sessions: async_sessionmaker[AsyncSession], job_id: int,
                line: ProgressLine) -> Job:
    """Show the job's progress until it ends; the ended job."""
    try:
        while True:
            async with sessions() as session:
                job = await jobs.get(session, job_id)
            if job.state not in JobState.ACTIVE:
                return job
            line.show(_status(job))
            await asyncio.sleep(POLL_SECONDS)
    finally:
        line.close()


async def _replicate(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    """Copy an image to a region. 0 queued (--wait: active); 1 failed; 2 unknown; 3 refused."""
    async with db_engine.opened_engine(conf) as engine:
        sessions = db_engine.make_sessionmaker(engine)
        registry = RegionRegistry()
        await registry.load(sessions, {})
        if registry.get(args.to) is None:
            print(f"No such region {args.to}")
            return 2
        try:
            job_id = await _enqueue(conf, sessions, registry, args.image, args.to)
        except errors.NotFound as exc:
            print(exc.message)
            return 2
        except errors.Conflict as exc:
            print(exc.message)
            return 3
        job = None
        if job_id is not None:
            if args.wait:
                job = await _wait(sessions, job_id, ProgressLine(sys.stderr))
            else:
                async with sessions() as session:
                    job = await jobs.get(session, job_id)
        async with sessions() as session:
            replica = await _replica_state(session, args.image, args.to)
    result: dict[str, Any] = {
        "image_id": args.image, "region": args.to, "replica_state": replica,
        "job_id": job_id, "job_state": job.state if job else None,
        "last_error": job.last_error if job else None}
    print(emit_one(args.format, result))
    if replica == PlacementState.ACTIVE:
        return 0
    return 1 if args.wait or job is None else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    grp = sub.add_parser("image", help="images")
    isub = grp.add_subparsers(dest="action", required=True)
    p = isub.add_parser("adopt", help="bring images existing in regions under Cascade")
    p.add_argument("--region", help="only this region")
    p.add_argument("--id", help="only this image id")
    p.add_argument("-f", "--format", choices=FORMATS, default="table")
    p.set_defaults(func=_adopt)
    p = isub.add_parser("replicate", help="copy an image to a region (as copy-image import)")
    p.add_argument("image", help="image id")
    p.add_argument("--to", required=True, metavar="REGION", help="target region")
    p.add_argument("--wait", action="store_true",
                   help="show progress on stderr until the copy ends")
    p.add_argument("-f", "--format", choices=FORMATS, default="table")
    p.set_defaults(func=_replicate)
