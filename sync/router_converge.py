"""Job ``router_converge``: one project's routers brought in step in every region.

The work is ``cascade/networks/router_converge.py``; a region that cannot be
reached fails the run after the other regions are done, and the queue retries
it with backoff, so a region that was down catches up when it is back.
"""
from __future__ import annotations

from cascade.networks.placer import Placer
from cascade.networks.router_converge import RouterConverger
from cascade.sync.worker import JobContext, Outcome

__all__ = ["handle"]


async def handle(ctx: JobContext) -> Outcome:
    placer = Placer(ctx.sessions, ctx.client, ctx.conf.cascade_id)
    converger = RouterConverger(ctx.conf, ctx.sessions, placer, ctx.registry)
    await converger.converge(str(ctx.payload["project_id"]))
    return Outcome.done()
