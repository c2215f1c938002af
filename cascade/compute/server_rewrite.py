"""Regional server bodies in global terms: ids, links, availability zone, image ids.

Shared by show, list and forwarded answers. What each regional image id maps
to is remembered in process: an image's regional id never changes.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionRegistry
from cascade.mapping import rewrite, store

__all__ = ["ServerRewriter"]


class ServerRewriter:
    """Rewrites regional servers, in place, as tenants see them."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], registry: RegionRegistry,
                 client: RegionClient, image_ids: dict[tuple[str, str], str]) -> None:
        self._sessions = sessions
        self._registry = registry
        self._client = client
        #: (region, regional image id) -> global image id
        self._image_ids = image_ids

    def zone(self, region: str) -> str | None:
        info = self._registry.get(region)
        return info.availability_zone if info else None

    def to_global(self, region: str, server: dict[str, Any], global_id: str,
                  cascade_base: str) -> dict[str, Any]:
        """``server`` (a regional answer, decoded for this request only) rewritten in place."""
        rewrite.servers_to_global([(server, global_id)],
                                  self._client.base_url(region, "compute"), cascade_base,
                                  availability_zone=self.zone(region))
        return server

    def _swap_images(self, region: str, servers: list[dict[str, Any]]) -> list[str]:
        """Swap the regional image ids already known for global ones, in place.

        :returns: the regional image ids not known yet.
        """
        unknown: list[str] = []
        known = self._image_ids
        for server in servers:
            image = server.get("image")
            if isinstance(image, dict) and image.get("id"):
                local = str(image["id"])
                gid = known.get((region, local))
                if gid is None:
                    if local not in unknown:
                        unknown.append(local)
                elif gid != image["id"]:
                    server["image"] = rewrite.swap_image_id(image, gid)
        return unknown

    async def global_images(self, region: str, servers: list[dict[str, Any]]) -> None:
        """Swap regional image ids for global ones (they differ only when an image's
        id was used up in the region and its replica got a new one). The answers
        are cached: an image's regional id never changes."""
        unknown = self._swap_images(region, servers)
        if not unknown:
            return
        async with self._sessions() as session:
            mapped = await store.resolve_local_ids(session, "image", region, unknown, None)
        if len(self._image_ids) > 100_000:
            self._image_ids.clear()
        for image_id in unknown:
            hit = mapped.get(image_id)
            self._image_ids[(region, image_id)] = hit[0].global_id if hit else image_id
        # Only the servers left alone above: the others may hold global ids by now.
        todo = set(unknown)
        self._swap_images(region, [s for s in servers if isinstance(s.get("image"), dict)
                                   and str(s["image"].get("id")) in todo])
