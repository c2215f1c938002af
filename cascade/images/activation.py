"""Glance's image deactivation: ``POST /v2/images/{id}/actions/deactivate`` and
``reactivate``.

A deactivated image keeps its data but serves it to admins only (a download
by anyone else is 403) and boots nowhere: Cascade refuses a server create
from an image that is not active, and deactivates the regional copies too
(with its own credentials: the copies are its own), so the regions' Nova
refuse it as well. The owner (or an admin) may deactivate; the transitions
are Glance's: an active or deactivated image can be deactivated, a
deactivated or active one reactivated, anything else is 403.
"""
from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.context import RequestContext
from cascade.images.rowlock import load_for_update, touch
from cascade.regions import paths
from cascade.regions.client import RegionClient

__all__ = ["set_active"]

LOG = logging.getLogger(__name__)


async def set_active(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                     ctx: RequestContext, image_id: str, active: bool) -> None:
    """Reactivate (``active``) or deactivate the image, here and in every region.

    :raises NotFound: unknown or not visible to the caller.
    :raises Forbidden: policy refuses, or the image's status does not allow it.
    """
    action = "reactivate" if active else "deactivate"
    async with sessions.begin() as session:
        res, placements = await load_for_update(session, ctx, image_id)
        if not ctx.can(action, {"project_id": res.project_id}, fatal=False):
            raise errors.Forbidden(f"You are not authorized to {action} this image.")
        if res.status not in ("active", "deactivated"):
            raise errors.Forbidden(f"Not allowed to {action} image in status "
                                   f"'{res.status}'")
        wanted = "active" if active else "deactivated"
        if res.status != wanted:
            res.status = wanted
            touch(res)
        copies = [(p.region, p.local_id or image_id) for p in placements if p.local_id]
    for region, local_id in copies:
        try:
            await client.post(None, region, "image",
                              paths.build("v2", "images", local_id, "actions", action))
        except errors.RegionError as exc:
            # The copy belongs to Cascade's own project, so no tenant boots it
            # directly, and Cascade refuses creates from a non-active image.
            LOG.warning("could not %s the copy of image %s in %s: %s", action, image_id,
                        region, exc)
