"""Bring images that already exist in regions under Cascade.

Images created directly in regions (a public cirros every region was seeded
with, say) are listed with Cascade's own credentials. An id unknown to Cascade
becomes a global image with one replica per region holding it, provided every
copy is active and has the same size and hash; copies that disagree are
reported and left alone. An id Cascade knows gains a replica in a region that
holds an identical copy. Nothing in any region is changed.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

from yarl import URL

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.db.models import PlacementState, Resource
from cascade.images import records, store
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionRegistry
from cascade.mapping import store as mapping_store

__all__ = ["AdoptReport", "adopt_images"]

LOG = logging.getLogger(__name__)

#: Regional fields that are not owner-settable properties.
_NOT_PROPERTIES = records.READ_ONLY | records.BASE_KEYS | {
    "owner", "cascade_global_id", "cascade_owner", "stores", "os_glance_import_task"}


@dataclasses.dataclass
class AdoptReport:
    adopted: list[str] = dataclasses.field(default_factory=list)
    replicas_added: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    conflicts: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    unreachable: list[str] = dataclasses.field(default_factory=list)


async def _regional_images(client: RegionClient, region: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    params: list[tuple[str, str]] | None = [("limit", "500")]
    while params is not None:
        body = (await client.get(None, region, "image", "/v2/images", params=params)).body or {}
        out += body.get("images", [])
        params = _next_page(body.get("next"))
    return out


def _next_page(link: Any) -> list[tuple[str, str]] | None:
    """The query of Glance's ``next`` link (its path is always ``/v2/images``):
    only the query is taken from the region's answer, never a path."""
    if not isinstance(link, str) or not link:
        return None
    query = list(URL(link).query.items())
    return query or None


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.get("size") != b.get("size") or a.get("checksum") != b.get("checksum"):
        return False
    if a.get("os_hash_algo") == b.get("os_hash_algo"):
        return bool(a.get("os_hash_value") == b.get("os_hash_value"))
    return True


def _resource(image: dict[str, Any]) -> Resource:
    spec = {"name": image.get("name"), "disk_format": image.get("disk_format"),
            "container_format": image.get("container_format"),
            "visibility": image.get("visibility", "shared"),
            "protected": bool(image.get("protected", False)),
            "os_hidden": bool(image.get("os_hidden", False)),
            "min_disk": image.get("min_disk") or 0, "min_ram": image.get("min_ram") or 0,
            "tags": list(image.get("tags") or []),
            "properties": {k: v for k, v in image.items()
                           if k not in _NOT_PROPERTIES and isinstance(v, str)}}
    attrs = {k: image.get(k) for k in ("size", "virtual_size", "checksum", "os_hash_algo",
                                       "os_hash_value", "created_at", "updated_at")}
    attrs["members"] = {}
    return Resource(global_id=image["id"], type=records.IMAGE,
                    project_id=image.get("owner") or "", user_id=None, spec=spec,
                    attrs=attrs, status="active")


async def adopt_images(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                       registry: RegionRegistry, *, region: str | None = None,
                       image_id: str | None = None) -> AdoptReport:
    """Adopt what the regions hold (optionally one region, or one image id)."""
    report = AdoptReport()
    seen: dict[str, dict[str, dict[str, Any]]] = {}
    for info in registry.enabled():
        if region and info.name != region:
            continue
        try:
            images = await _regional_images(client, info.name)
        except errors.RegionError as exc:
            LOG.warning("adopt: %s unreachable: %s", info.name, exc.message)
            report.unreachable.append(info.name)
            continue
        for image in images:
            if image_id and image["id"] != image_id:
                continue
            if image.get("status") == "active":
                seen.setdefault(image["id"], {})[info.name] = image
    for gid, copies in sorted(seen.items()):
        async with sessions.begin() as session:
            try:
                res, placements = await store.get_image(session, gid)
            except errors.NotFound:
                res, placements = None, []
            if res is None:
                first = next(iter(copies.values()))
                odd = [r for r, c in copies.items()
                       if not _same(first, c) or c.get("owner") != first.get("owner")]
                if odd:
                    report.conflicts += [(gid, r) for r in odd]
                    continue
                res = _resource(first)
                res.attrs = {**res.attrs, "home_region": sorted(copies)[0]}
                session.add(res)
                await session.flush()
                report.adopted.append(gid)
            have = {p.region for p in placements}
            for name, copy in sorted(copies.items()):
                if name in have:
                    continue
                if not _same(res.attrs, copy) or copy.get("owner") != res.project_id:
                    # Another project's image with this id (planted, or a
                    # coincidence) is never taken as this image's replica.
                    report.conflicts.append((gid, name))
                    continue
                await mapping_store.ensure_placement(
                    session, global_id=gid, type_=records.IMAGE, region=name, local_id=gid,
                    state=PlacementState.ACTIVE)
                report.replicas_added.append((gid, name))
    return report
