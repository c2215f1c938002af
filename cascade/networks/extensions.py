"""Neutron extensions Cascade advertises: what every usable region offers and Cascade
implements.

Clients read this list to decide what to send (tags on create, quota details,
port security), so an extension one region lacks is not advertised. The
regions' lists are asked for in parallel and kept for a few minutes once
every region has answered.
"""
from __future__ import annotations

import time
from typing import Any

from cascade.context import RequestContext
from cascade.regions.client import RegionClient
from cascade.regions.fanout import scatter_gather, split_results
from cascade.regions.registry import RegionRegistry

__all__ = ["IMPLEMENTED", "Extensions"]

#: Extension aliases whose behaviour Cascade implements.
IMPLEMENTED = frozenset({
    "security-group", "standard-attr-tag", "tag-creation", "quotas", "quota_details",
    "project-id", "pagination", "sorting", "standard-attr-description",
    "standard-attr-timestamp", "standard-attr-revisions", "network_availability_zone",
    "availability_zone", "net-mtu", "port-security", "binding", "allowed-address-pairs",
    "extra_dhcp_opt", "stateful-security-group", "empty-string-filtering",
    "filter-validation", "ip-substring-filtering", "router", "extraroute", "external-net",
    "ext-gw-mode", "router_availability_zone", "fip-port-details", "dvr",
    "subnet-external-network",
})
_TTL = 300.0


class Extensions:
    """The agreed extension list, cached for :data:`_TTL` seconds."""

    def __init__(self, client: RegionClient, registry: RegionRegistry,
                 region_timeout: float) -> None:
        self._client = client
        self._registry = registry
        self._timeout = region_timeout
        self._agreed: list[dict[str, Any]] | None = None
        self._until = 0.0

    async def agreed(self, ctx: RequestContext) -> list[dict[str, Any]]:
        """Extensions every answering region offers and Cascade implements, by alias."""
        if self._agreed is not None and self._until > time.monotonic():
            return list(self._agreed)
        regions = [r.name for r in self._registry.usable()]

        async def ask(region: str) -> list[dict[str, Any]]:
            resp = await self._client.get(ctx, region, "network", "/v2.0/extensions")
            return list((resp.body or {}).get("extensions") or [])

        good, _ = split_results(await scatter_gather(regions, ask, timeout=self._timeout))
        if not good:
            return []
        common = set(IMPLEMENTED)
        for exts in good.values():
            common &= {e.get("alias") for e in exts}
        first = next(iter(good.values()))
        agreed = sorted((e for e in first if e.get("alias") in common),
                        key=lambda e: str(e.get("alias")))
        if len(good) == len(regions):
            self._agreed, self._until = agreed, time.monotonic() + _TTL
        return agreed
