"""Forgetting a resource gives its quota usage back, and the addresses it held
(a port's, a booting server's) or contained (a subnet's, a network's), in the
same transaction.

The mapping layer deletes rows and says what they counted; quota accounting
is the service's, so it lives here rather than in ``mapping``.
"""
from __future__ import annotations

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from cascade.db.models import IpAllocation, SegmentAllocation
from cascade.quota import ledger
from cascade.mapping import store

__all__ = ["forget"]


async def forget(session: AsyncSession, global_id: str) -> None:
    """Delete a resource and its placements, and give its usage back.

    Only the call that actually deleted the row gives back, so concurrent
    forgets never give back twice.
    """
    await session.execute(delete(IpAllocation).where(or_(
        IpAllocation.holder == global_id, IpAllocation.subnet_id == global_id,
        IpAllocation.network_id == global_id)))
    await session.execute(delete(SegmentAllocation).where(
        SegmentAllocation.holder == global_id))
    gone = await store.remove_rows(session, global_id)
    if gone is not None and gone[1]:
        await ledger.give_back(session, gone[0], gone[1])
