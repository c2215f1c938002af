"""Job ``router_converge``: one project's routers brought in step in every region.

The work is ``cascade/networks/router_converge.py``; a change that arrives while
a run is under way joins this job, and the queue runs it once more. A region that
cannot be reached (down, or not answering in time) is waited for, when nothing
else failed and the region is still registered: the run ends
after the other regions are done and the job runs again every half probe
interval, without counting an attempt, however long the outage lasts, so the
region catches up when it is back, without hand work. A region that answers
with an error fails the run, which the queue retries with backoff, and declares
dead after ``[sync] job_max_attempts``.
"""
from __future__ import annotations

import logging

from cascade import errors
from cascade.networks.placer import Placer
from cascade.networks.router_converge import RouterConverger
from cascade.sync.worker import JobContext, Outcome

__all__ = ["handle"]

LOG = logging.getLogger(__name__)


async def handle(ctx: JobContext) -> Outcome:
    placer = Placer(ctx.sessions, ctx.client, ctx.conf.cascade_id)
    converger = RouterConverger(ctx.conf, ctx.sessions, placer, ctx.registry)
    project = str(ctx.payload["project_id"])
    try:
        done = await converger.converge(project)
    except (errors.RegionUnavailable, errors.RegionTimeout) as exc:
        if ctx.registry.get(exc.region) is None:
            raise  # not a region any more: a failure, counted
        delay = ctx.conf.sync.region_probe_interval / 2
        LOG.info("routers of %s wait for %s (%s): again in %.0f s", project, exc.region,
                 exc.message, delay)
        return Outcome.wait(delay)
    if done.created or done.removed or done.routes_set:
        LOG.info("routers of %s in step: made %s, removed %s, routes set in %s", project,
                 done.created, done.removed, done.routes_set)
    # A change that came while this ran joined this job, which the queue then runs
    # once more (cascade.jobs.queue.complete).
    return Outcome.done()
