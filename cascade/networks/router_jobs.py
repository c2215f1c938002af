"""Queueing the work that brings a project's routers in step in every region.

One job per project (``router_converge``, deduplicated while queued), written in
the transaction of the change that needs it: a router change, an interface
added or removed, a network of an interface made present in a new region.
The job (``sync/router_converge.py``) reads the whole desired state again, so
any number of changes meanwhile are applied by one run.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cascade.db.models import Resource
from cascade.jobs import queue as jobs
from cascade.networks.records import PORT, ROUTER

__all__ = ["CONVERGE", "queue", "queue_for_network", "ROUTER_INTERFACE_OWNERS"]

CONVERGE = "router_converge"
#: ``device_owner`` of the ports that connect a router to a network.
ROUTER_INTERFACE_OWNERS = frozenset({"network:router_interface",
                                     "network:router_interface_distributed",
                                     "network:ha_router_replicated_interface"})


async def queue(session: AsyncSession, project_id: str, delay: float = 0.0) -> int:
    """The job that converges ``project_id``'s routers (joined when already queued)."""
    return await jobs.enqueue(session, CONVERGE, {"project_id": project_id},
                              dedupe_key=f"{CONVERGE}:{project_id}", delay=delay)


async def queue_for_network(session: AsyncSession, network_id: str) -> list[str]:
    """Queue every project whose routers have an interface on ``network_id``; them."""
    ports = (await session.scalars(select(Resource).where(
        Resource.type == PORT, Resource.parent_id == network_id))).all()
    routers = {str(p.attrs.get("device_id")) for p in ports
               if p.attrs.get("device_owner") in ROUTER_INTERFACE_OWNERS}
    if not routers:
        return []
    projects = sorted(set((await session.scalars(select(Resource.project_id).where(
        Resource.type == ROUTER, Resource.global_id.in_(sorted(routers))))).all()))
    for project in projects:
        await queue(session, project)
    return projects
