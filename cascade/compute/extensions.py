"""Nova's legacy extension list (``GET /compute/v2.1/extensions``).

The list is Nova's own description of its API (fixed in each release, the same
in every region of one release), so Cascade answers what one usable region
says, kept for a few minutes. ``openstack extension list --compute`` and Nova's
own tests read it.
"""
from __future__ import annotations

import time
from typing import Any

from cascade import errors
from cascade.context import RequestContext
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionRegistry

__all__ = ["ComputeExtensions"]

_TTL = 300.0


class ComputeExtensions:
    """Nova's extension list, asked of one usable region and cached."""

    def __init__(self, client: RegionClient, registry: RegionRegistry) -> None:
        self._client = client
        self._registry = registry
        self._listed: list[dict[str, Any]] | None = None
        self._until = 0.0

    async def listed(self, ctx: RequestContext) -> list[dict[str, Any]]:
        """:raises ServiceUnavailable: no region can be asked."""
        if self._listed is not None and self._until > time.monotonic():
            return list(self._listed)
        usable = self._registry.usable()
        if not usable:
            raise errors.ServiceUnavailable("No region is available to describe Nova's API")
        resp = await self._client.get(ctx, usable[0].name, "compute", "/extensions")
        self._listed = list((resp.body or {}).get("extensions") or [])
        self._until = time.monotonic() + _TTL
        return list(self._listed)

    async def show(self, ctx: RequestContext, alias: str) -> dict[str, Any]:
        """:raises NotFound: no extension with that alias (Nova's 404)."""
        for ext in await self.listed(ctx):
            if ext.get("alias") == alias:
                return ext
        raise errors.NotFound("Not Found")
