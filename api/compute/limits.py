"""GET /limits: the project's absolute limits and usage, in Nova's shape.

Usage is the ledger's ``in_use`` (plus ``reserved`` with ``?reserved=1``, as in
Nova). Before 2.36 Nova also shows the network-proxy limits; Cascade fills
their usage from its Neutron ledger (floating IPs, security groups). 2.39
dropped ``maxImageMeta``; 2.57 the personality-file limits.
"""
from __future__ import annotations

from aiohttp import web

from cascade.api.compute.microversion import MICROVERSION, parse
from cascade.appkeys import CTX, QUOTAS
from cascade.jsonutil import json_response

__all__ = ["show_limits"]

#: Nova's absolute limit name -> (quota resource, first microversion without it).
_MAX: dict[str, tuple[str, tuple[int, int] | None]] = {
    "maxTotalInstances": ("instances", None),
    "maxTotalCores": ("cores", None),
    "maxTotalRAMSize": ("ram", None),
    "maxTotalKeypairs": ("key_pairs", None),
    "maxServerMeta": ("metadata_items", None),
    "maxServerGroups": ("server_groups", None),
    "maxServerGroupMembers": ("server_group_members", None),
    "maxImageMeta": ("metadata_items", (2, 39)),
    "maxPersonality": ("injected_files", (2, 57)),
    "maxPersonalitySize": ("injected_file_content_bytes", (2, 57)),
    "maxTotalFloatingIps": ("floating_ips", (2, 36)),
    "maxSecurityGroups": ("security_groups", (2, 36)),
    "maxSecurityGroupRules": ("security_group_rules", (2, 36)),
}
#: Nova's usage name -> (counted resource, first microversion without it).
_USED: dict[str, tuple[str, tuple[int, int] | None]] = {
    "totalInstancesUsed": ("instances", None),
    "totalCoresUsed": ("cores", None),
    "totalRAMUsed": ("ram", None),
    "totalServerGroupsUsed": ("server_groups", None),
    "totalFloatingIpsUsed": ("floatingip", (2, 36)),
    "totalSecurityGroupsUsed": ("security_group", (2, 36)),
}


async def show_limits(request: web.Request) -> web.Response:
    """GET /limits[?tenant_id=...&reserved=1]; another project's needs admin."""
    ctx = request[CTX]
    project_id = request.query.get("tenant_id") or ctx.project_id
    if project_id != ctx.project_id:
        ctx.can("os_compute_api:limits:other_project", {"project_id": project_id})
    with_reserved = request.query.get("reserved", "0").lower() in ("1", "true", "yes")
    details = await request.config_dict[QUOTAS].details(project_id)
    version = parse(request[MICROVERSION])
    absolute = {name: details[res].limit for name, (res, gone) in _MAX.items()
                if gone is None or version < gone}
    absolute.update({
        name: details[res].in_use + (details[res].reserved if with_reserved else 0)
        for name, (res, gone) in _USED.items() if gone is None or version < gone})
    return json_response({"limits": {"rate": [], "absolute": absolute}})
