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
from cascade.regions.registry import RegionRegistry

if TYPE_CHECKING:
    from cascade.images.service import ImageService

__all__ = ["IMPORT_JOB", "METHODS", "stage", "import_in_region", "stores_named"]

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


def stores_named(registry: RegionRegistry, body: dict[str, Any]) -> list[str]:
    """The stores (regions) an import asks for: ``all_stores`` (every enabled
    region) or ``stores``; empty when it names none.

    :raises BadRequest: a malformed list or an unknown store.
    """
    if body.get("all_stores"):
        return [r.name for r in registry.enabled()]
    named = body.get("stores")
    if named is None:
        return []
    if not isinstance(named, list) or not all(isinstance(t, str) for t in named):
        raise errors.BadRequest("Import request requires stores or all_stores")
    for name in named:
        if registry.get(name) is None:
            raise errors.BadRequest(f"Unknown store {name}")
    return list(dict.fromkeys(named))


async def import_in_region(service: ImageService, ctx: RequestContext, image_id: str,
                           body: dict[str, Any]) -> None:
    """``glance-direct`` (of the staged data) or ``web-download`` (of ``uri``), run by
    one region; an ``image_import`` job follows it, and, once the image is
    active there, copies it to the other ``stores`` asked for (``all_stores``:
    every region), as Glance imports into several stores.

    :raises BadRequest: no uri for web-download; unknown stores.
    :raises Conflict: the image is not in the state the method starts from.
    """
    method = body["method"]
    name = method.get("name")
    targets = stores_named(service.registry, body)
    then = {"import_then": targets,
            "import_must_succeed": bool(body.get("all_stores_must_succeed", True))}
    if name == "web-download":
        uri = method.get("uri")
        if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
            raise errors.BadRequest("URI for web-download import method needs to be "
                                    "specified")
        region = service.home_region(None) if not targets else targets[0]
        await _start(service, ctx, image_id, region, "importing", queued_only=True,
                     then=then)
        try:
            local_id = await _regional_copy(service, image_id, region)
        except (errors.RegionError, errors.ClientError) as exc:
            await service.abort_upload(image_id, region, None, exc)
            raise
    else:
        region, local_id = await _staged(service, ctx, image_id, then)
    regional = {"method": {"name": name, **({"uri": method["uri"]}
                                            if name == "web-download" else {})}}
    try:
        await service.client.post(None, region, "image",
                                  paths.build("v2", "images", local_id, "import"),
                                  json=regional)
    except (errors.RegionError, errors.ClientError) as exc:
        await service.abort_upload(image_id, region, local_id, exc)
        raise
    async with service.sessions.begin() as session:
        await jobs.enqueue(session, IMPORT_JOB, {"image_id": image_id, "region": region,
                                                 "local_id": local_id},
                           dedupe_key=f"{IMPORT_JOB}:{image_id}")
    await service.wake("jobs")


async def _start(service: ImageService, ctx: RequestContext, image_id: str, region: str,
                 status: str, queued_only: bool = True,
                 then: dict[str, Any] | None = None) -> None:
    async with service.sessions.begin() as session:
        res, _ = await rowlock.load_for_update(session, ctx, image_id)
        records.editable(ctx, res, "upload_image")
        if queued_only and res.status != "queued":
            raise errors.Conflict(f"Image status transition from {res.status} to {status} "
                                  "is not allowed")
        res.status = status
        res.attrs = {**res.attrs, "home_region": region,
                     "importing_to": _importing(region, then), "failed_import": [],
                     **(then or {}), "updated_at": records.now()}
        session.add(Placement(global_id=image_id, resource_type=records.IMAGE,
                              region=region, local_id=None, state=PlacementState.CREATING))


async def _regional_copy(service: ImageService, image_id: str, region: str) -> str:
    async with service.sessions() as session:
        res, _ = await store.get_image(session, image_id)
    local_id = await create_regional(service.client, region, res, service.owner, image_id)
    await service.set_local_id(image_id, region, local_id)
    return local_id


def _importing(region: str, then: dict[str, Any] | None) -> list[str]:
    """``os_glance_importing_to_stores``: the importing region and the stores after it."""
    return list(dict.fromkeys([region, *((then or {}).get("import_then") or [])]))


async def _staged(service: ImageService, ctx: RequestContext, image_id: str,
                  then: dict[str, Any]) -> tuple[str, str]:
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
        res.attrs = {**res.attrs, **then, "importing_to": _importing(staged.region, then),
                     "updated_at": records.now()}
        return staged.region, str(staged.local_id)
