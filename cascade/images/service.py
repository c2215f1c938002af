"""Image operations: create, show, delete, upload, download, copy-image import.

Metadata lives in Cascade. Data lives in regions: an upload streams to the
image's home region (``X-Image-Meta-Store`` or ``[image] default_store``),
creating the regional image with the same id; replicas elsewhere are made by
``image_replication`` jobs, one per (image, region), deduplicated. What a
regional copy is, and how Cascade tells its own, is in ``cascade.images.replicas``.
"""
from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable

from oslo_config import cfg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import HealthState, Placement, PlacementState, Resource
from cascade.images import activation, importing, records, rowlock, store
from cascade.images import replicas
from cascade.images.replicas import create_regional
from cascade.regions import paths
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionRegistry

__all__ = ["ImageService"]

LOG = logging.getLogger(__name__)

_CHUNK = 1 << 20


class ImageService:
    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 registry: RegionRegistry, client: RegionClient,
                 wake: Callable[[str], Awaitable[None]]) -> None:
        self._conf = conf
        self._sessions = sessions
        self._registry = registry
        self._client = client
        self._wake = wake

    # -- metadata ----------------------------------------------------------

    async def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        """A new queued image (no data yet).

        :raises BadRequest: malformed body or attributes. :raises Conflict: id taken.
        """
        ctx.can("add_image")
        if not isinstance(body, dict):
            raise errors.BadRequest("Body must be a JSON object")
        image_id = body.get("id") or str(uuid.uuid4())
        if not isinstance(image_id, str):
            raise errors.BadRequest(f"Invalid id: {image_id!r}")
        try:
            parsed = uuid.UUID(image_id)
        except ValueError:
            raise errors.BadRequest(f"Invalid id: {image_id}") from None
        if parsed.version == 5:
            # Cascade derives the ids of keypairs, default security groups and
            # adopted ports as name-based (v5) UUIDs: a client-chosen id of that
            # kind could be made to collide with another project's object.
            raise errors.BadRequest(f"Invalid id: {image_id} (name-based UUIDs are "
                                    "reserved; use a random one)")
        image_id = str(parsed)
        owner = records.chosen_owner(ctx, body.get("owner"))
        spec = records.new_image_spec({k: v for k, v in body.items() if k != "owner"})
        records.check_publicize(ctx, spec["visibility"])
        stamp = records.now()
        res = Resource(global_id=image_id, type=records.IMAGE, project_id=owner,
                       user_id=ctx.user_id, spec=spec, status="queued",
                       attrs={"created_at": stamp, "updated_at": stamp, "members": {}})
        try:
            async with self._sessions.begin() as session:
                session.add(res)
        except IntegrityError:
            raise errors.Conflict(f"Image with identifier {image_id} already exists!") from None
        return records.to_glance(res, [])

    async def show(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        """:raises NotFound: unknown or not visible."""
        async with self._sessions() as session:
            res, placements = await store.get_visible(session, ctx, image_id)
        return records.to_glance(res, placements)

    async def delete(self, ctx: RequestContext, image_id: str) -> None:
        """Delete the image and, through jobs, every regional replica.

        :raises NotFound: unknown. :raises Forbidden: not the owner, or protected.
        """
        async with self._sessions.begin() as session:
            res, placements = await rowlock.load_for_update(session, ctx, image_id)
            records.editable(ctx, res, "delete_image")
            if res.spec.get("protected"):
                raise errors.Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            await replicas.delete_everywhere(session, res, placements)
        await self._wake("jobs")

    async def delete_from_store(self, ctx: RequestContext, store_id: str,
                                image_id: str) -> None:
        """``DELETE /v2/stores/{store}/{id}``: the replica in one region goes (a job
        removes it); the image stays in its other stores.

        :raises NotFound: unknown image or store, or no copy there.
        :raises Conflict: the image is not active, or that is its last store.
        """
        ctx.can("delete_image_location")
        if self._registry.get(store_id) is None:
            raise errors.NotFound(f"Unknown store {store_id}.")
        async with self._sessions.begin() as session:
            res, placements = await rowlock.load_for_update(session, ctx, image_id)
            if res.status != "active":
                raise errors.Conflict("It's not allowed to remove image data from store if "
                                      f"image status is not 'active' (it is {res.status}).")
            active = [p for p in placements if p.state == PlacementState.ACTIVE]
            here = next((p for p in active if p.region == store_id), None)
            if here is None:
                raise errors.NotFound(f"Image {image_id} is not present in store "
                                      f"{store_id}.")
            if len(active) == 1:
                raise errors.Conflict(f"Store {store_id} holds the image's only copy: "
                                      "delete the image instead.")
            await replicas.delete_everywhere(session, res, [here], keep_image=True)
        await self._wake("jobs")

    # -- data --------------------------------------------------------------

    def home_region(self, requested: str | None) -> str:
        """Where an upload goes: the store the client named, else the default.

        :raises BadRequest: unknown store. :raises ServiceUnavailable: it is down.
        """
        name = requested or self._conf.image.default_store
        if name:
            info = self._registry.get(name)
            if info is None:
                raise errors.BadRequest(f"Unknown store {name}")
            if not info.usable:
                raise errors.ServiceUnavailable(f"Store {name} is not available now")
            return info.name
        usable = self._registry.usable()
        if not usable:
            raise errors.ServiceUnavailable("No region is available to store image data")
        return usable[0].name

    async def upload(self, ctx: RequestContext, image_id: str, data: AsyncIterator[bytes],
                     size: int | None, store_name: str | None) -> None:
        """Stream the image data to its home region; the image ends active.

        :raises Conflict: the image already has data or is being uploaded.
        :raises RegionError: the region failed; the image is queued again and
            the partial regional image deleted.
        """
        region = self.home_region(store_name)
        async with self._sessions.begin() as session:
            res, placements = await rowlock.load_for_update(session, ctx, image_id)
            records.editable(ctx, res, "upload_image")
            if res.status != "queued":
                raise errors.Conflict(f"Image status transition from {res.status} to saving "
                                      "is not allowed")
            if not res.spec.get("disk_format") or not res.spec.get("container_format"):
                raise errors.BadRequest("Properties disk_format, container_format must be "
                                        "set prior to saving data.")
            res.status = "saving"
            pl = Placement(global_id=image_id, resource_type=records.IMAGE, region=region,
                           local_id=None, state=PlacementState.CREATING)
            session.add(pl)
        local_id: str | None = None
        try:
            local_id = await create_regional(self._client, region, res,
                                             self._conf.cascade_id, image_id)
            await self.set_local_id(image_id, region, local_id)
            await self.put_data(region, local_id, "file", data, size)
            regional = (await self._client.get(None, region, "image",
                                               paths.build("v2", "images", local_id))).body
            if regional.get("status") != "active":
                raise errors.RegionError(region, f"regional image is {regional.get('status')}")
        except (errors.RegionError, errors.ClientError) as exc:
            await self.abort_upload(image_id, region, local_id, exc)
            raise
        async with self._sessions.begin() as session:
            res, placements = await rowlock.load_for_update(session, None, image_id)
            res.status = "active"
            res.attrs = {**res.attrs, "updated_at": records.now(), "home_region": region,
                         **{k: regional.get(k) for k in (
                             "size", "virtual_size", "checksum", "os_hash_algo",
                             "os_hash_value")}}
            for pl in placements:
                if pl.region == region:
                    pl.state = PlacementState.ACTIVE

    async def put_data(self, region: str, local_id: str, where: str,
                       data: AsyncIterator[bytes], size: int | None) -> None:
        """Stream ``data`` into a regional copy's ``file`` or ``stage``."""
        headers = {"Content-Type": "application/octet-stream"}
        if size is not None:
            headers["Content-Length"] = str(size)
        async with self._client.open_stream(None, region, "image", "PUT",
                                            paths.build("v2", "images", local_id, where),
                                            data=data, headers=headers):
            pass

    async def set_local_id(self, image_id: str, region: str, local_id: str) -> None:
        async with self._sessions.begin() as session:
            _, placements = await rowlock.load_for_update(session, None, image_id)
            for pl in placements:
                if pl.region == region:
                    pl.local_id = local_id

    async def abort_upload(self, image_id: str, region: str, local_id: str | None,
                            exc: Exception) -> None:
        """Put the image back to queued; delete the regional copy Cascade made (and
        only that: with no copy made, nothing in the region is touched)."""
        LOG.warning("upload of %s to %s failed: %s", image_id, region,
                    getattr(exc, "message", exc))
        removed = True
        if local_id is not None:
            try:
                await self._client.delete(None, region, "image",
                                          paths.build("v2", "images", local_id))
            except errors.RegionHTTPError as err:
                removed = err.status == 404
            except errors.RegionError:
                removed = False
        async with self._sessions.begin() as session:
            res, placements = await rowlock.load_for_update(session, None, image_id)
            res.status = "queued"
            for pl in placements:
                if pl.region == region:
                    if removed:
                        await session.delete(pl)
                    else:
                        # The audit removes it once the region answers again.
                        pl.state = PlacementState.DELETING

    def pick_source(self, placements: list[Placement], prefer: str | None = None) -> str | None:
        """A healthy region with an active replica (``prefer`` first)."""
        regions = [p.region for p in placements if p.state == PlacementState.ACTIVE]
        healthy = [r for r in regions if (info := self._registry.get(r)) is not None
                   and info.health != HealthState.DOWN]
        if prefer in healthy:
            return prefer
        return healthy[0] if healthy else None

    @contextlib.asynccontextmanager
    async def download(self, ctx: RequestContext, image_id: str
                       ) -> AsyncIterator[tuple[dict[str, str], AsyncIterator[bytes]] | None]:
        """The data of an image: (headers, chunks) streamed from a replica, or None.

        :raises NotFound: unknown or not visible.
        :raises ServiceUnavailable: replicas exist but none is reachable now.
        """
        res, region, local_id = await self.open_download(ctx, image_id)
        if region is None:
            yield None
            return
        async with self._client.open_stream(None, region, "image", "GET",
                                            f"/v2/images/{local_id}/file") as src:
            headers = {"Content-Type": "application/octet-stream"}
            if src.headers.get("Content-Length"):
                headers["Content-Length"] = src.headers["Content-Length"]
            if res.attrs.get("checksum"):
                headers["Content-MD5"] = str(res.attrs["checksum"])
            yield headers, src.content.iter_chunked(_CHUNK)

    async def open_download(self, ctx: RequestContext, image_id: str
                            ) -> tuple[Resource, str | None, str]:
        """The image, the region to stream its data from (None: no data), and the
        image's id in that region.

        :raises NotFound: unknown or not visible.
        :raises ServiceUnavailable: replicas exist but none is reachable now.
        """
        async with self._sessions() as session:
            res, placements = await store.get_visible(session, ctx, image_id)
        if res.status not in ("active", "deactivated") or not placements:
            return res, None, image_id
        if res.status == "deactivated" and not ctx.is_admin:
            raise errors.Forbidden("The requested image has been deactivated. "
                                   "Image data download is forbidden.")
        region = self.pick_source(placements, res.attrs.get("home_region"))
        if region is None:
            raise errors.ServiceUnavailable(f"No region holding image {image_id} is "
                                            "available now")
        local = next((p.local_id for p in placements if p.region == region), None)
        return res, region, local or image_id

    async def set_active(self, ctx: RequestContext, image_id: str, active: bool) -> None:
        """Deactivate or reactivate the image (``activation.py``)."""
        await activation.set_active(self._sessions, self._client, ctx, image_id, active)

    # -- replication -------------------------------------------------------

    @property
    def client(self) -> RegionClient:
        return self._client

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    @property
    def registry(self) -> RegionRegistry:
        return self._registry

    @property
    def owner(self) -> str:
        """The name regional copies carry as their maker (``cascade_owner``)."""
        return str(self._conf.cascade_id)

    async def wake(self, name: str) -> None:
        await self._wake(name)

    async def stage(self, ctx: RequestContext, image_id: str, data: AsyncIterator[bytes],
                    size: int | None) -> None:
        """``glance-direct``'s first step (``importing.py``)."""
        await importing.stage(self, ctx, image_id, data, size)

    async def import_image(self, ctx: RequestContext, image_id: str, body: Any) -> None:
        """``POST /v2/images/{id}/import`` by method: ``copy-image`` is Cascade's own
        replication; ``glance-direct`` and ``web-download`` run in the home region.

        :raises BadRequest: no method, or one Cascade does not offer.
        """
        if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
            raise errors.BadRequest("Import request requires a 'method' field.")
        name = body["method"].get("name")
        if name == "copy-image":
            await self.import_copy(ctx, image_id, body)
        elif name in ("glance-direct", "web-download"):
            await importing.import_in_region(self, ctx, image_id, body)
        else:
            raise errors.BadRequest(f"Import method {name} is not supported. Use one of "
                                    f"{', '.join(importing.METHODS)}")

    async def import_copy(self, ctx: RequestContext, image_id: str, body: Any) -> None:
        """``copy-image`` import: replicate to the named stores (or all).

        :raises BadRequest: bad method or stores. :raises Conflict: not active.
        """
        ctx.can("copy_image")
        if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
            raise errors.BadRequest("Import request requires a 'method' field.")
        method = body["method"].get("name")
        if method != "copy-image":
            raise errors.BadRequest(f"Import method {method} is not supported here; "
                                    "use copy-image (the data is uploaded with PUT .../file)")
        targets = importing.stores_named(self._registry, body)
        if not targets:
            raise errors.BadRequest("Import request requires stores or all_stores")
        async with self._sessions.begin() as session:
            res, placements = await rowlock.load_for_update(session, ctx, image_id)
            if res.status != "active":
                raise errors.Conflict(f"Image {image_id} is not active (status {res.status})")
            await replicas.queue(session, res, placements, targets,
                                  must_succeed=bool(body.get("all_stores_must_succeed", True)))
        await self._wake("jobs")

    async def ensure_replica(self, session: AsyncSession, res: Resource,
                             placements: list[Placement], region: str) -> str | None:
        """In the caller's transaction: queue replication to ``region`` unless present.

        The regional image id when an active replica is already there, else None.
        """
        have = {p.region: p for p in placements}
        if region in have and have[region].state == PlacementState.ACTIVE:
            return have[region].local_id or res.global_id
        await replicas.queue(session, res, placements, [region], must_succeed=False,
                              announce=False)
        return None
