"""Image rows: load, list candidates, create; every function takes the caller's session."""
from __future__ import annotations

from typing import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Placement, Resource
from cascade.images import records
from cascade.listing.narrow import Narrow

__all__ = ["get_image", "get_visible", "list_candidates", "placements_of"]


async def placements_of(session: AsyncSession, image_id: str) -> list[Placement]:
    """The image's replicas (one placement per region)."""
    rows = await session.scalars(select(Placement).where(
        Placement.global_id == image_id, Placement.resource_type == records.IMAGE)
        .order_by(Placement.region))
    return list(rows.all())


async def get_image(session: AsyncSession, image_id: str) -> tuple[Resource, list[Placement]]:
    """The image and its replicas, whoever owns it.

    :raises NotFound: no such image (or it is deleted).
    """
    res = await session.get(Resource, image_id)
    if res is None or res.type != records.IMAGE or res.status == "deleted":
        raise errors.NotFound(f"No image found with ID {image_id}")
    return res, await placements_of(session, image_id)


async def get_visible(session: AsyncSession, ctx: RequestContext,
                      image_id: str) -> tuple[Resource, list[Placement]]:
    """The image if the caller may see it.

    :raises NotFound: no such image, or not visible to the caller (Glance says 404).
    """
    res, placements = await get_image(session, image_id)
    if not records.visible(ctx, res):
        raise errors.NotFound(f"No image found with ID {image_id}")
    return res, placements


async def list_candidates(session: AsyncSession, ctx: RequestContext,
                          narrow: Narrow | None = None
                          ) -> Sequence[tuple[Resource, list[Placement]]]:
    """Every image the caller might see in a list, within ``narrow``, with replicas;
    filters come after.

    Owner, public, community and shared images are read; visibility rules
    (``records.visible``) and Glance's filters are applied by the caller.
    """
    # The caller's project's images and those seen beyond their project (public,
    # community, member-shared), by index; another project's private images
    # are never read. Visibility rules proper are applied by the caller.
    stmt = select(Resource).where(Resource.type == records.IMAGE,
                                  Resource.status != "deleted")
    if not ctx.is_admin:
        stmt = stmt.where(or_(Resource.project_id == ctx.project_id,
                              Resource.beyond_project.is_(True)))
    if narrow is not None:
        stmt = narrow.apply(stmt)
    rows = list((await session.scalars(stmt)).all())
    if not rows:
        return []
    pls = await session.scalars(select(Placement).where(
        Placement.resource_type == records.IMAGE,
        Placement.global_id.in_([r.global_id for r in rows])))
    by_image: dict[str, list[Placement]] = {}
    for pl in pls.all():
        by_image.setdefault(pl.global_id, []).append(pl)
    return [(r, by_image.get(r.global_id, [])) for r in rows]
