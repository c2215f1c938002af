"""Nova's image proxy API (``/compute/v2.1/images``, microversions up to 2.35): Cascade's
images in Nova's words.

Nova answers these from Glance; Cascade answers them from its own image
records (the same ones ``/image/v2`` serves), so an image looks the same
through either API, global id and all. Metadata is the image's extra
properties; changing it is a Glance patch of those properties, under the
same rules (owner or admin).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from multidict import MultiDict, MultiMapping
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.context import RequestContext
from cascade.images import query as image_query
from cascade.images import store
from cascade.images.patch import patch_image
from cascade.images.records import BASE_KEYS, to_glance
from cascade.images.service import ImageService

__all__ = ["ImageProxy", "LAST_MICROVERSION"]

#: The last microversion that serves the proxy; later ones answer 404, as Nova does.
LAST_MICROVERSION = "2.35"
_STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "importing": "SAVING",
           "uploading": "SAVING", "deleted": "DELETED", "pending_delete": "DELETED",
           "killed": "ERROR", "deactivated": "UNKNOWN"}
_PROGRESS = {"queued": 25, "saving": 50, "active": 100}
#: Nova's filters mapped onto Glance's list query.
_GLANCE_FILTERS = {"name": "name", "minRam": "min_ram_min", "minDisk": "min_disk_min"}


def _time(value: Any) -> str | None:
    if not value:
        return None
    when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_found() -> errors.NotFound:
    return errors.NotFound("Image not found.")


class ImageProxy:
    """List, show, delete images and their metadata, as Nova's proxy does."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 images: ImageService) -> None:
        self._sessions = sessions
        self._images = images

    async def delete(self, ctx: RequestContext, image_id: str) -> None:
        """Delete the image everywhere (as ``DELETE /v2/images/{id}``).

        :raises NotFound: ``Image not found.``
        """
        try:
            await self._images.delete(ctx, image_id)
        except errors.NotFound:
            raise _not_found() from None

    @staticmethod
    def _links(image_id: str, compute_base: str, image_base: str) -> list[dict[str, str]]:
        root = compute_base.rsplit("/", 1)[0]
        return [{"rel": "self", "href": f"{compute_base}/images/{image_id}"},
                {"rel": "bookmark", "href": f"{root}/images/{image_id}"},
                {"rel": "alternate", "type": "application/vnd.openstack.image",
                 "href": f"{image_base}/images/{image_id}"}]

    def view(self, image: dict[str, Any], compute_base: str, image_base: str,
             detail: bool = True) -> dict[str, Any]:
        """A Glance image dict as Nova's proxy shows it."""
        out: dict[str, Any] = {"id": image["id"], "name": image.get("name"),
                               "links": self._links(image["id"], compute_base, image_base)}
        if not detail:
            return out
        status = str(image.get("status"))
        metadata = {k: v for k, v in image.items()
                    if k not in BASE_KEYS and k not in _GLANCE_ONLY}
        out.update({
            "minRam": image.get("min_ram", 0), "minDisk": image.get("min_disk", 0),
            "metadata": metadata, "created": _time(image.get("created_at")),
            "updated": _time(image.get("updated_at")),
            "status": _STATUS.get(status, "UNKNOWN"), "progress": _PROGRESS.get(status, 0),
            "OS-EXT-IMG-SIZE:size": image.get("size")})
        if metadata.get("instance_uuid"):
            server = str(metadata["instance_uuid"])
            out["server"] = {"id": server, "links": [
                {"rel": "self", "href": f"{compute_base}/servers/{server}"}]}
        return out

    async def list_page(self, ctx: RequestContext, query: MultiMapping[str]
                        ) -> tuple[list[dict[str, Any]], bool]:
        """Glance images after the marker, filtered as Nova filters; whether the page is
        full (a next link follows).

        :raises PolicyForbidden: ``get_images`` refused, as through Glance's API.
        """
        ctx.can("get_images")
        glance: MultiDict[str] = MultiDict()
        for nova_key, glance_key in _GLANCE_FILTERS.items():
            if nova_key in query:
                glance[glance_key] = query[nova_key]
        if "status" in query:
            wanted = query["status"].upper()
            glance["status"] = next((k for k, v in _STATUS.items() if v == wanted), "none")
        if "changes-since" in query:
            glance["updated_at"] = "gte:" + query["changes-since"]
        limit = query.get("limit")
        if limit is not None:
            glance["limit"] = limit
        if "marker" in query:
            glance["marker"] = query["marker"]
        try:
            images, _ = await image_query.list_images(self._sessions, ctx, glance)
        except errors.BadRequest as exc:
            if "marker" in query and "No image found" in exc.message:
                raise errors.BadRequest(f"marker [{query['marker']}] not found") from None
            raise
        server = query.get("server")
        if server:
            images = [i for i in images if i.get("instance_uuid") == server]
        kind = query.get("type")
        if kind:
            images = [i for i in images if i.get("image_type", "image") == kind]
        full = limit is not None and limit.isdigit() and len(images) == int(limit) > 0
        return images, full

    async def show(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        """The Glance view of one visible image.

        :raises NotFound: ``Image not found.``
        :raises PolicyForbidden: ``get_image`` refused, as through Glance's API.
        """
        ctx.can("get_image")
        async with self._sessions() as session:
            try:
                res, placements = await store.get_visible(session, ctx, image_id)
            except errors.NotFound:
                raise _not_found() from None
        return to_glance(res, placements)

    async def set_metadata(self, ctx: RequestContext, image_id: str,
                           items: dict[str, Any], replace_all: bool) -> dict[str, Any]:
        """Set metadata items (all of them replaced with ``replace_all``); the image's
        metadata afterwards."""
        image = await self.show(ctx, image_id)
        current = {k: v for k, v in image.items() if k not in BASE_KEYS
                   and k not in _GLANCE_ONLY}
        ops: list[dict[str, Any]] = []
        if replace_all:
            ops += [{"op": "remove", "path": "/" + _escape(k)} for k in current
                    if k not in items]
        ops += [{"op": "add", "path": "/" + _escape(k), "value": str(v)}
                for k, v in items.items()]
        after = await patch_image(self._sessions, ctx, image_id, ops)
        return {k: v for k, v in after.items() if k not in BASE_KEYS and k not in _GLANCE_ONLY}

    async def delete_metadata(self, ctx: RequestContext, image_id: str, key: str) -> None:
        """:raises NotFound: no such item (Nova's words)."""
        image = await self.show(ctx, image_id)
        if key not in image or key in BASE_KEYS or key in _GLANCE_ONLY:
            raise errors.NotFound("Image not found.")
        await patch_image(self._sessions, ctx, image_id,
                          [{"op": "remove", "path": "/" + _escape(key)}])


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


#: What Glance's view holds beside an image's base attributes and properties.
_GLANCE_ONLY = frozenset({
    "id", "status", "owner", "size", "virtual_size", "checksum", "os_hash_algo",
    "os_hash_value", "created_at", "updated_at", "self", "file", "schema", "stores",
    "tags", "os_glance_importing_to_stores", "os_glance_failed_import", "direct_url",
    "locations"})
