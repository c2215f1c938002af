"""Glance's interoperable import into the image's home region: ``glance-direct``
(stage the data, then import it) and ``web-download`` (the region fetches a URL).

Staging streams the data into a regional copy's staging area in the home region
(as an upload does, ``PUT .../stage``); the image is ``uploading``. The import is
then the home region's own: Cascade asks it to run the method on its copy, with
Cascade's credentials, and an ``image_import`` job follows the copy until it is
active (size and hashes recorded, as for an upload) or the region gives up
(the image is queued again and the region listed in
``os_glance_failed_import``). ``copy-image`` stays Cascade's own replication.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator

from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Placement, PlacementState
from cascade.images import records, rowlock, store
from cascade.images.replicas import create_regional
from cascade.jobs import queue as jobs
from cascade.regions import paths

if TYPE_CHECKING:
    from cascade.images.service import ImageService

__all__ = ["IMPORT_JOB", "METHODS", "stage", "import_in_region"]

IMPORT_JOB = "image_import"
#: The import methods Cascade offers, as Glance lists them.
METHODS = ("glance-direct", "web-download", "copy-image")


async def stage(service: ImageService, ctx: RequestContext, image_id: str,
                data: AsyncIterator[bytes], size: int | None) -> None:
    """``PUT /v2/images/{id}/stage``: the data into the home region's staging area.

    :raises Conflict: the image is not queued.
    """
    region = service.home_region(None)
    await _start(service, ctx, image_id, region, "uploading")
    local_id: str | None = None
    try:
        local_id = await _regional_copy(service, image_id, region)
        await service.put_data(region, local_id, "stage", data, size)
    except (errors.RegionError, errors.ClientError) as exc:
        await service.abort_upload(image_id, region, local_id, exc)
        raise


async def import_in_region(service: ImageService, ctx: RequestContext, image_id: str,
                           method: dict[str, Any]) -> None:
    """``glance-direct`` (of the staged data) or ``web-download`` (of ``uri``), run by
    the image's home region; an ``image_import`` job follows it.

    :raises BadRequest: no uri for web-download.
    :raises Conflict: the image is not in the state the method starts from.
    """
    name = method.get("name")
    if name == "web-download":
        uri = method.get("uri")
        if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
            raise errors.BadRequest("URI for web-download import method needs to be "
                                    "specified")
        region = service.home_region(None)
        await _start(service, ctx, image_id, region, "importing", queued_only=True)
        try:
            local_id = await _regional_copy(service, image_id, region)
        except (errors.RegionError, errors.ClientError) as exc:
            await service.abort_upload(image_id, region, None, exc)
            raise
        body: dict[str, Any] = {"method": {"name": "web-download", "uri": uri}}
    else:
        region, local_id = await _staged(service, ctx, image_id)
        body = {"method": {"name": "glance-direct"}}
    try:
        await service.client.post(None, region, "image",
                                  paths.build("v2", "images", local_id, "import"), json=body)
    except (errors.RegionError, errors.ClientError) as exc:
        await service.abort_upload(image_id, region, local_id, exc)
        raise
    async with service.sessions.begin() as session:
        await jobs.enqueue(session, IMPORT_JOB, {"image_id": image_id, "region": region,
                                                 "local_id": local_id},
                           dedupe_key=f"{IMPORT_JOB}:{image_id}")
    await service.wake("jobs")


async def _start(service: ImageService, ctx: RequestContext, image_id: str, region: str,
                 status: str, queued_only: bool = True) -> None:
    async with service.sessions.begin() as session:
        res, _ = await rowlock.load_for_update(session, ctx, image_id)
        records.editable(ctx, res, "upload_image")
        if queued_only and res.status != "queued":
            raise errors.Conflict(f"Image status transition from {res.status} to {status} "
                                  "is not allowed")
        res.status = status
        res.attrs = {**res.attrs, "home_region": region, "importing_to": [region],
                     "failed_import": [], "updated_at": records.now()}
        session.add(Placement(global_id=image_id, resource_type=records.IMAGE,
                              region=region, local_id=None, state=PlacementState.CREATING))


async def _regional_copy(service: ImageService, image_id: str, region: str) -> str:
    async with service.sessions() as session:
        res, _ = await store.get_image(session, image_id)
    local_id = await create_regional(service.client, region, res, service.owner, image_id)
    await service.set_local_id(image_id, region, local_id)
    return local_id


async def _staged(service: ImageService, ctx: RequestContext, image_id: str
                  ) -> tuple[str, str]:
    """The staged copy's region and id; the image is importing from now.

    :raises Conflict: nothing staged.
    """
    async with service.sessions.begin() as session:
        res, placements = await rowlock.load_for_update(session, ctx, image_id)
        records.editable(ctx, res, "upload_image")
        home = res.attrs.get("home_region")
        staged = next((p for p in placements if p.region == home and p.local_id), None)
        if res.status != "uploading" or staged is None:
            raise errors.Conflict(f"Image {image_id} has no staged data to import "
                                  f"(status {res.status})")
        res.status = "importing"
        return staged.region, str(staged.local_id)
