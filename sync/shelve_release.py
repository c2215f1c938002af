"""Job ``shelve_image_release``: a shelve image goes once its server no longer needs it.

Nova makes an image when it shelves a server and deletes it when the server is
unshelved (or deleted); Cascade adopted that image at the shelve
(``cascade/images/snapshots.py``). After an unshelve or a delete this job
watches the regional server: while Nova is still unshelving it waits; once the
server runs again or is gone, the Cascade image is deleted with all its
replicas (the home copy Nova removes itself counts as removed). If the server
is back to plain ``SHELVED*`` (the unshelve failed), the image is still the
server's and stays.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cascade import errors
from cascade.db.models import Placement, Resource
from cascade.images import replicas
from cascade.sync.worker import JobContext, Outcome

__all__ = ["handle"]

_POLL_SECONDS = 3.0


async def handle(ctx: JobContext) -> Outcome:
    payload = ctx.payload
    server = await _regional_server(ctx, payload["region"], payload["local_server"])
    if server is not None:
        shelved = str(server.get("status", "")).startswith("SHELVED")
        if server.get("OS-EXT-STS:task_state"):
            return Outcome.wait(_POLL_SECONDS)  # Nova is still at work on it
        if shelved:
            return Outcome.done()  # the unshelve did not happen: the image is needed
    async with ctx.sessions.begin() as session:
        res = await session.get(Resource, payload["image_id"])
        if res is None or res.status == "deleted":
            return Outcome.done()
        placements = list((await session.scalars(select(Placement).where(
            Placement.global_id == res.global_id))).all())
        await replicas.delete_everywhere(session, res, placements)
    await ctx.wake("jobs")
    return Outcome.done()


async def _regional_server(ctx: JobContext, region: str, local: str) -> dict[str, Any] | None:
    try:
        resp = await ctx.client.get(None, region, "compute", f"/servers/{local}")
    except errors.RegionHTTPError as exc:
        if exc.status == 404:
            return None
        raise
    return dict((resp.body or {}).get("server") or {})
