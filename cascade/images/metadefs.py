"""Glance's metadata definitions catalog (``/v2/metadefs/...`` and its schemas, and the
task schemas), served for all regions from one home region.

Metadefs are catalog data (namespaces, objects, properties, tags, resource
type associations) that describe images and flavors; they are not resources
placed in a region, carry no regional ids and count against no quota, so one
Glance holds them for all: ``[image] metadefs_region``, else the usable region
with the highest weight. Calls go there with the caller's own token, so that
Glance's ownership and visibility rules apply unchanged; paths are rebuilt
from checked segments under ``/v2/metadefs`` and ``/v2/schemas/metadefs`` only.
Glance's links in these answers are relative, so they point at Cascade as they
are.
"""
from __future__ import annotations

from typing import Any, Sequence

from cascade import errors
from cascade.context import RequestContext
from cascade.regions import paths
from cascade.regions.client import RegionClient, RegionResponse
from cascade.regions.registry import RegionRegistry

__all__ = ["Metadefs"]


class Metadefs:
    """Forwards metadefs calls to the catalog's home region."""

    def __init__(self, client: RegionClient, registry: RegionRegistry,
                 configured: str | None) -> None:
        self._client = client
        self._registry = registry
        self._configured = configured

    def home(self) -> str:
        """:raises ServiceUnavailable: no region can serve the catalog now."""
        usable = [r.name for r in self._registry.usable()]
        if self._configured:
            if self._configured in usable:
                return self._configured
            raise errors.ServiceUnavailable(
                f"The metadata definitions region {self._configured} is not available.")
        if not usable:
            raise errors.ServiceUnavailable("No region is available.")
        return usable[0]

    async def call(self, ctx: RequestContext, method: str, root: str,
                   segments: Sequence[str], params: Any = None,
                   body: Any = None) -> RegionResponse:
        """``method`` on ``/v2/<root>/<segments>`` in the home region.

        :raises NotFound: a segment that cannot be part of a path (404, as a
            path Glance does not have).
        """
        if root not in ("metadefs", "schemas/metadefs") and not (
                root in ("schemas/task", "schemas/tasks") and not segments):
            raise errors.NotFound("The resource could not be found.")
        try:
            path = paths.build("v2", *root.split("/"), *segments)
        except paths.UnsafePath:
            raise errors.NotFound("The resource could not be found.") from None
        return await self._client.request(ctx, self.home(), "image", method, path,
                                          params=params, json=body)
