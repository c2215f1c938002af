"""Optional: set each project's quotas in every region from the global ones.

Tenants who reach a region directly (its own endpoint, not Cascade) are held
by the region's quotas only. With ``[quota] push_to_regions`` Cascade sets
them so that no mix of direct and federated use exceeds the global limit:
a region may hold what the project already has there, plus whatever is left
globally (Kingbird's "remaining + regional usage"). Kingbird got the edges
wrong; here -1 (unlimited) stays -1, 0 stays 0 (nothing may be created), and
a project already over its global limit gets exactly its regional usage
(nothing more), never a negative or an unlimited value.

Each region may take all that is left, so one region used directly cannot
take the project past its global limit; several used directly at the same
time can each take it until the next push (``[quota] reconcile_interval``),
which then leaves no headroom anywhere. Splitting the headroom between
regions would close that window but would also refuse Cascade's own creates,
which the regions check against these same limits.

Regional usage is read from each region (Nova's ``os-quota-sets/detail``,
Neutron's ``quotas/details``); global usage is the larger of Cascade's ledger
and the sum of the regions' counts (which includes direct use), plus what
Cascade has reserved for creates in flight. Only regions whose usage could
be read get a new limit; the others keep theirs until the next sweep.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.quota import ledger
from cascade.quota import resources as catalogue
from cascade.regions import paths
from cascade.regions.client import RegionClient
from cascade.regions.fanout import RegionFailure, scatter_gather
from cascade.regions.registry import RegionRegistry

__all__ = ["regional_limit", "regional_limits", "PUSHED", "push_project", "push_all"]

LOG = logging.getLogger(__name__)

#: Per service: resources whose regional limit follows the formula, and per-object
#: limits pushed unchanged (metadata items per server is the same everywhere).
PUSHED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    catalogue.COMPUTE: (("cores", "instances", "key_pairs", "ram", "server_groups"),
                        ("metadata_items", "server_group_members")),
    catalogue.NETWORK: (("floatingip", "network", "port", "router", "security_group",
                         "security_group_rule", "subnet"), ()),
}


def regional_limit(limit: int, used_globally: int, used_here: int) -> int:
    """The limit one region gets for one resource.

    :param limit: the global limit (-1: unlimited).
    :param used_globally: what the project holds everywhere (in use + reserved).
    :param used_here: what it holds in this region.
    """
    if limit < 0:
        return -1
    if limit == 0:
        return 0
    return max(limit - max(used_globally, 0), 0) + max(used_here, 0)


def regional_limits(limits: Mapping[str, int], held: Mapping[str, tuple[int, int]],
                    regional: Mapping[str, Mapping[str, int]], service: str
                    ) -> dict[str, dict[str, int]]:
    """Region -> {resource: limit} for ``service``, from the global limits, the
    ledger's (in_use, reserved) and each region's usage."""
    counted, as_is = PUSHED[service]
    out: dict[str, dict[str, int]] = {region: {} for region in regional}
    for name in counted:
        in_use, reserved = held.get(name, (0, 0))
        everywhere = sum(used.get(name, 0) for used in regional.values())
        used_globally = max(in_use, everywhere) + reserved
        for region, used in regional.items():
            out[region][name] = regional_limit(limits[name], used_globally, used.get(name, 0))
    for name in as_is:
        for region in regional:
            out[region][name] = limits[name]
    return out


def _paths(service: str, project_id: str) -> tuple[str, str, str]:
    """(usage path, limits path, body key) for ``service``."""
    if service == catalogue.COMPUTE:
        limits = paths.build("os-quota-sets", project_id)
        return limits + "/detail", limits, "quota_set"
    limits = paths.build("v2.0", "quotas", project_id)
    return limits + "/details", limits, "quota"


def _used(body: Any, key: str, service: str) -> dict[str, int]:
    field = "in_use" if service == catalogue.COMPUTE else "used"
    quota = (body or {}).get(key) or {}
    return {name: int(v.get(field) or 0) for name, v in quota.items()
            if isinstance(v, dict)}


async def push_project(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                       registry: RegionRegistry, project_id: str,
                       defaults: Mapping[str, int], *, timeout: float = 10.0) -> list[str]:
    """Set ``project_id``'s quotas in every usable region; the failures, as messages.

    Runs as Cascade itself (the regions must let its service user set quotas).
    """
    async with sessions() as session:
        limits = await ledger.limits(session, project_id, defaults)
        held = await ledger.usage(session, project_id)
    regions = [r.name for r in registry.usable()]
    failures: list[str] = []
    for service in (catalogue.COMPUTE, catalogue.NETWORK):
        usage_path, limits_path, key = _paths(service, project_id)

        async def read(region: str) -> dict[str, int]:
            resp = await client.get(None, region, service, usage_path)
            return _used(resp.body, key, service)

        regional: dict[str, dict[str, int]] = {}
        for region, got in (await scatter_gather(regions, read, timeout=timeout)).items():
            if isinstance(got, RegionFailure):
                failures.append(f"{region} {service}: {got.message}")
            else:
                regional[region] = got
        targets = regional_limits(limits, held, regional, service)

        async def write(region: str) -> None:
            body: dict[str, Any] = dict(targets[region])
            if service == catalogue.COMPUTE:
                body["force"] = True  # a limit below the region's usage is intended
            await client.request(None, region, service, "PUT", limits_path,
                                 json={key: body})

        for region, res in (await scatter_gather(targets, write, timeout=timeout)).items():
            if isinstance(res, RegionFailure):
                failures.append(f"{region} {service}: {res.message}")
    for failure in failures:
        LOG.warning("quota push for project %s: %s", project_id, failure)
    return failures


async def push_all(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                   registry: RegionRegistry, defaults: Mapping[str, int]) -> int:
    """Push every project the ledger knows; how many projects had a failure."""
    async with sessions() as session:
        projects = await ledger.projects(session)
    failed = 0
    for project_id in projects:
        failed += bool(await push_project(sessions, client, registry, project_id, defaults))
    return failed
