"""Loading an image for a read-modify-write of its JSON columns.

``spec`` and ``attrs`` are whole JSON documents: two concurrent edits (a
PATCH and a member change, say) would each write back the document they read
and one would silently lose the other's change. Locking the row first makes
the second edit read what the first wrote.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cascade.context import RequestContext
from cascade.db.models import Placement, Resource
from cascade.images import records, store

__all__ = ["load_for_update", "touch"]


async def load_for_update(session: AsyncSession, ctx: RequestContext | None,
                          image_id: str) -> tuple[Resource, list[Placement]]:
    """The image, row-locked until the transaction ends, if the caller may see it
    (``ctx`` None: Cascade itself, any image).

    Call inside ``sessions.begin()``.

    :raises NotFound: no such image, or not visible to the caller.
    """
    conn = await session.connection()
    if conn.dialect.name == "sqlite":
        # SQLite ignores FOR UPDATE, and the driver reads outside any transaction
        # until the first write; a no-op write takes the database's write lock
        # (other writers wait, busy_timeout) before the row is read.
        await session.execute(text("UPDATE resources SET global_id = global_id "
                                   "WHERE global_id = :id"), {"id": image_id})
    else:
        # Only the key is selected: the row is then loaded after the lock is
        # held, so the document read is the latest committed one.
        await session.execute(select(Resource.global_id)
                              .where(Resource.global_id == image_id).with_for_update())
    if ctx is None:
        return await store.get_image(session, image_id)
    return await store.get_visible(session, ctx, image_id)


def touch(res: Resource, **attrs: Any) -> None:
    """Set ``updated_at`` (and ``attrs``) with a new dict, so SQLAlchemy sees the change."""
    res.attrs = {**(res.attrs or {}), **attrs, "updated_at": records.now()}
