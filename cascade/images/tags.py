"""Image tags one at a time: PUT/DELETE /v2/images/{image_id}/tags/{tag_value}.

Tags are also replaceable as a whole list through PATCH ``/tags``; these
calls exist because clients (``openstack image set --tag``, glanceclient's
``image-tag-update``) add or drop one tag without resending the others, which
also spares them a lost update when two clients tag the same image.
"""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Resource
from cascade.images import records
from cascade.images.patch import TAG_QUOTA
from cascade.images.rowlock import load_for_update, touch

__all__ = ["add_tag", "remove_tag", "put", "delete"]


def add_tag(ctx: RequestContext, res: Resource, tag: str) -> None:
    """Add ``tag`` unless present (idempotent: a second PUT changes nothing).

    :raises Forbidden: the caller does not own the image.
    :raises BadRequest: longer than 255 characters.
    :raises RequestTooLarge: the tag quota is reached.
    """
    records.editable(ctx, res)
    tags = list(res.spec.get("tags") or [])
    if tag in tags:
        return
    if len(tag) > 255:
        raise errors.BadRequest("Invalid tag: tags are at most 255 characters")
    if len(tags) >= TAG_QUOTA:
        raise errors.RequestTooLarge(
            "The limit has been exceeded on the number of allowed image tags. "
            f"Attempted: {len(tags) + 1}, Maximum: {TAG_QUOTA}")
    res.spec = {**res.spec, "tags": [*tags, tag]}
    touch(res)


def remove_tag(ctx: RequestContext, res: Resource, tag: str) -> None:
    """Remove ``tag``.

    :raises Forbidden: the caller does not own the image.
    :raises NotFound: the image has no such tag.
    """
    records.editable(ctx, res)
    tags = list(res.spec.get("tags") or [])
    if tag not in tags:
        raise errors.NotFound("The resource could not be found.")
    res.spec = {**res.spec, "tags": [t for t in tags if t != tag]}
    touch(res)


async def put(sessions: async_sessionmaker[AsyncSession], ctx: RequestContext, image_id: str,
              tag: str) -> None:
    """Add ``tag`` to the image under its row lock."""
    async with sessions.begin() as session:
        res, _ = await load_for_update(session, ctx, image_id)
        add_tag(ctx, res, tag)


async def delete(sessions: async_sessionmaker[AsyncSession], ctx: RequestContext,
                 image_id: str, tag: str) -> None:
    """Remove ``tag`` from the image under its row lock."""
    async with sessions.begin() as session:
        res, _ = await load_for_update(session, ctx, image_id)
        remove_tag(ctx, res, tag)
