"""Create a server whose image had to be replicated first (job ``server_build``).

The server was answered as BUILD at once; this job waits for its image's
replica in the region (without using up attempts), then creates the regional
server with the caller's token. A failed replication puts the server in
ERROR with a fault naming the cause, as Nova shows a failed build.
"""
from __future__ import annotations

import asyncio
import logging

from oslo_config import cfg

from cascade.compute.regional_create import mark_error, regional_create
from cascade.compute.server_create import SEALED_FIELDS, with_image
from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import PlacementState
from cascade.images import store as image_store
from cascade.sealing import SEALED_KEY, Sealer, sealer_for
from cascade.mapping import store
from cascade.sync.worker import JobContext, Outcome

__all__ = ["handle"]

LOG = logging.getLogger(__name__)

#: How often the build looks at its image's replica while it is copied.
_POLL = 1.0


_SEALERS: dict[tuple[str | None, str], Sealer] = {}


async def _sealer(conf: cfg.ConfigOpts) -> Sealer:
    """The deployment's sealer, its key read once per key setting and state path
    (in a thread: the key file is read, or made, off the event loop)."""
    key = (conf.sync.job_secret_key, conf.state_path)
    found = _SEALERS.get(key)
    if found is None:
        found = _SEALERS[key] = await asyncio.to_thread(sealer_for, conf)
    return found


async def handle(ctx: JobContext) -> Outcome:
    p = ctx.payload
    server_id, region = p["server_id"], p["region"]
    async with ctx.sessions() as session:
        try:
            res, pl = await store.resolve(session, "server", server_id, None)
        except errors.MappingNotFound:
            return Outcome.done()  # deleted while waiting
        if pl.local_id is not None or res.status not in ("BUILD",):
            return Outcome.done()
        try:
            _, replicas = await image_store.get_image(session, p["image_id"])
        except errors.NotFound:
            await mark_error(ctx.sessions, server_id, f"Image {p['image_id']} was deleted "
                             "before the server could be built.")
            return Outcome.done()
    replica = next((r for r in replicas if r.region == region), None)
    if replica is None or replica.state in (PlacementState.ERROR, PlacementState.DELETING):
        await mark_error(ctx.sessions, server_id,
                         f"Image {p['image_id']} could not be replicated to {region}.")
        return Outcome.done()
    if replica.state != PlacementState.ACTIVE:
        return Outcome.wait(_POLL)
    info = ctx.registry.get(region)
    if info is None:
        await mark_error(ctx.sessions, server_id, f"Region {region} is gone.")
        return Outcome.done()
    c = p["ctx"]
    # Jobs queued before sealing kept the token in ctx (and nothing else secret).
    secrets = ((await _sealer(ctx.conf)).open(p[SEALED_KEY]) if SEALED_KEY in p
               else {"auth_token": c.get("auth_token")})
    rctx = RequestContext(request_id=c["request_id"], project_id=c["project_id"],
                          user_id=c["user_id"], roles=tuple(c["roles"]),
                          auth_token=secrets.get("auth_token"), with_service_token=True)
    try:
        server = {**p["server"], **{k: secrets[k] for k in SEALED_FIELDS if k in secrets}}
        server = with_image(server, p["image_id"], replica.local_id or p["image_id"])
        await regional_create(ctx.sessions, ctx.client, rctx, server_id, pl.id, info,
                              server, p["microversion"], answered=True,
                              owner=ctx.conf.cascade_id)
    except errors.RegionHTTPError as exc:
        if exc.status < 500:
            # The server is now in ERROR with the region's reason, as Nova shows it.
            LOG.warning("server %s refused by %s: %s", server_id, region, exc.message)
            return Outcome.done()
        raise
    return Outcome.done()
