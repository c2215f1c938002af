"""Finish server deletes: once the region no longer has the server, drop the mapping.

Nova answers DELETE before the server is gone; Cascade marks the placement
*deleting* and this sweep removes the mapping when the region says 404. A
region that is down or errs is skipped and retried next sweep; nothing is
ever removed because a region is unreachable.
"""
from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.compute import tombstones
from cascade.db.models import PlacementState
from cascade.regions.client import RegionClient
from cascade.mapping import store
from cascade.quota.forget import forget

__all__ = ["sweep_deletes"]

LOG = logging.getLogger(__name__)


async def sweep_deletes(sessions: async_sessionmaker[AsyncSession],
                        client: RegionClient, retention: float | None = None) -> int:
    """One sweep; returns how many mappings were finalised. A tombstone is kept for
    each (``compute/tombstones.py``); those older than ``retention`` seconds go."""
    if retention is not None:
        async with sessions.begin() as session:
            await tombstones.purge(session, retention)
    async with sessions() as session:
        deleting = list(await store.placements_in_state(session, "server",
                                                        PlacementState.DELETING))
    done = 0
    for pl in deleting:
        if pl.local_id is None:
            continue
        try:
            found = await client.get(None, pl.region, "compute", f"/servers/{pl.local_id}")
            server = (found.body or {}).get("server") or {}
            if server.get("OS-EXT-STS:task_state") != "deleting" and server.get(
                    "status") not in ("DELETED", "SOFT_DELETED"):
                # Marked deleting but the region was never asked (a crash in
                # between, or a lost call): ask again; a DELETE is idempotent.
                await client.delete(None, pl.region, "compute", f"/servers/{pl.local_id}")
            continue  # still there (deleting); look again next sweep
        except errors.RegionHTTPError as exc:
            if exc.status != 404:
                LOG.warning("delete sweep: %s answered %s for %s", pl.region, exc.status,
                            pl.global_id)
                continue
        except errors.RegionError as exc:
            LOG.info("delete sweep: skipping %s: %s", pl.region, exc.message)
            continue
        async with sessions.begin() as session:
            await tombstones.bury(session, pl.global_id)
            await forget(session, pl.global_id)
        LOG.info("server %s deleted in %s; mapping removed", pl.global_id, pl.region)
        done += 1
    return done
