"""An image's copies in the regions: the request that creates one (same id,
owner and properties, marked as Cascade's), how Cascade recognises its own
copy, and the jobs that make and remove them.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cascade import errors
from cascade.db.models import Placement, PlacementState, Resource
from cascade.images import records
from cascade.jobs import queue as jobs
from cascade.mapping import store as mapping_store
from cascade.regions.client import RegionClient

__all__ = ["REPLICATE", "DELETE_REPLICA", "replica_job_key", "regional_body",
           "is_own_replica", "create_regional", "queue", "delete_everywhere"]

LOG = logging.getLogger(__name__)

REPLICATE = "image_replication"
DELETE_REPLICA = "image_replica_delete"


def replica_job_key(image_id: str, region: str) -> str:
    """Dedupe key: one replication per (image, region) at a time."""
    return f"image:{image_id}:{region}"


def regional_body(res: Resource, owner: str = "cascade") -> dict[str, Any]:
    """The create request for the regional copy: same id, owner and properties."""
    spec = res.spec
    body: dict[str, Any] = dict(spec.get("properties") or {})
    body.update({"id": res.global_id, "name": spec.get("name"),
                 "disk_format": spec.get("disk_format"),
                 "container_format": spec.get("container_format"),
                 "visibility": spec.get("visibility", "shared"), "owner": res.project_id,
                 "min_disk": spec.get("min_disk", 0), "min_ram": spec.get("min_ram", 0),
                 "tags": spec.get("tags", []), "cascade_global_id": res.global_id,
                 "cascade_owner": owner})
    return {k: v for k, v in body.items() if v is not None}


def is_own_replica(regional: dict[str, Any], res: Resource, owner: str) -> bool:
    """Whether a regional image is Cascade's copy of ``res``: owned by the image's
    project (Glance lets no other project create images owned by it), carrying
    Cascade's marker for this image and this deployment's name.

    Anything else (an image somebody planted with the same id) is foreign:
    never written into, adopted or deleted.
    """
    return (regional.get("owner") == res.project_id
            and regional.get("cascade_global_id") == res.global_id
            and regional.get("cascade_owner") == owner)


async def create_regional(client: RegionClient, region: str, res: Resource, owner: str,
                          preferred: str) -> str:
    """Create the queued regional copy of ``res``; its regional id.

    ``preferred`` first (the global id, normally); when that id is taken in the
    region (used up by an earlier copy, or planted by somebody else), a fresh
    one: the replica's placement records whichever was used.

    :raises RegionError: the region refused or failed otherwise.
    """
    body = regional_body(res, owner)
    for candidate in (preferred, str(uuid.uuid4())):
        body["id"] = candidate
        try:
            await client.post(None, region, "image", "/v2/images", json=body)
        except errors.RegionHTTPError as exc:
            if exc.status == 409:
                LOG.info("image id %s is taken in %s; the copy gets a new id", candidate,
                         region)
                continue
            raise
        return candidate
    raise errors.RegionUnavailable(region, f"could not create a copy of image "
                                           f"{res.global_id} in {region}")


async def queue(session: AsyncSession, res: Resource, placements: list[Placement],
                targets: list[str], *, must_succeed: bool, announce: bool = True) -> None:
    """In the caller's transaction: a replication job for each of ``targets`` not
    already present or on its way; ``announce`` shows them in
    ``os_glance_importing_to_stores``."""
    have = {p.region: p for p in placements}
    queued = []
    for region in targets:
        current = have.get(region)
        if current is not None and current.state in (PlacementState.ACTIVE,
                                                     PlacementState.CREATING):
            if current.state == PlacementState.CREATING:
                queued.append(region)
            continue
        if current is None:
            await mapping_store.ensure_placement(
                session, global_id=res.global_id, type_=records.IMAGE, region=region,
                local_id=res.global_id, state=PlacementState.CREATING)
        else:
            current.state = PlacementState.CREATING
        await jobs.enqueue(session, REPLICATE,
                           {"image_id": res.global_id, "region": region,
                            "must_succeed": must_succeed},
                           dedupe_key=replica_job_key(res.global_id, region))
        queued.append(region)
    if announce:
        importing = sorted(set(res.attrs.get("importing_to") or []) | set(queued))
        res.attrs = {**res.attrs, "importing_to": importing,
                     "failed_import": [r for r in res.attrs.get("failed_import") or []
                                       if r not in queued],
                     "updated_at": records.now()}


async def delete_everywhere(session: AsyncSession, res: Resource,
                            placements: list[Placement], *, keep_image: bool = False) -> None:
    """In the caller's transaction: the image is deleted (unless ``keep_image``:
    only these replicas go), and a job removes each regional replica in
    ``placements`` (one already gone counts as removed)."""
    if not keep_image:
        res.status = "deleted"
    res.attrs = {**res.attrs, "updated_at": records.now()}
    for pl in placements:
        pl.state = PlacementState.DELETING
        await jobs.enqueue(session, DELETE_REPLICA,
                           {"image_id": res.global_id, "region": pl.region},
                           dedupe_key=f"image-delete:{res.global_id}:{pl.region}")
    if not placements and not keep_image:
        await session.delete(res)
