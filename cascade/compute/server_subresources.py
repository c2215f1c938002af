"""Server sub-resources whose bodies carry ids: translated on the way to the region and
back, so tenants only ever see global ids.

- ``os-interface``: an attach names a global port or network, made present in
  the server's region first (its regional id is sent); a port in the path is
  the port's regional id; answers name global ports, networks and subnets.
- ``os-instance-actions``: each action's ``instance_uuid`` is the global id,
  and page links (microversion 2.58 and later) point at Cascade.
- ``os-server-password``: forwarded as is (no ids).
- ``unshelve`` with an ``availability_zone`` (2.77 and later): the zone is
  Cascade's; a shelved server stays in its region, so only that region's zone
  is taken, and sent as the region's own zone name.
"""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.compute import action_ids
from cascade.context import RequestContext
from cascade.mapping import rewrite
from cascade.networks import records as network_records
from cascade.networks.ports import Ports
from cascade.regions import paths
from cascade.regions.registry import RegionRegistry

__all__ = ["SubresourceIds", "actions_to_global"]


class SubresourceIds:
    """Global <-> regional ids in server sub-resource requests and answers."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ports: Ports | None,
                 registry: RegionRegistry) -> None:
        self._sessions = sessions
        self._ports = ports
        self._registry = registry

    async def to_region(self, ctx: RequestContext, region: str, subpath: str,
                        body: Any, *, server_id: str = "") -> tuple[str, Any]:
        """The sub-path and body to send to ``region``; an attach to a network
        carries the address Cascade allocated, held by the server ``server_id``.

        :raises BadRequest: an attach naming an unknown port or network.
        :raises Conflict: a port already bound in another region.
        """
        parts = subpath.strip("/").split("/")
        if parts == ["action"]:
            return subpath, self._unshelve_zone(region, body)
        if parts == [""]:
            return subpath, self._pinned_zone(region, body)
        if parts[0] == "os-instance-actions" and len(parts) == 2 and server_id:
            regional = {ours: theirs for theirs, ours in
                        (await action_ids.known(self._sessions, server_id)).items()}
            if parts[1] in regional:
                subpath = paths.build("os-instance-actions", regional[parts[1]])
            return subpath, body
        if parts[0] != "os-interface" or self._ports is None:
            return subpath, body
        if len(parts) == 2:
            async with self._sessions() as session:
                try:
                    # Only a port the caller may see is translated; another
                    # project's port id goes to the region as given (and is 404 there).
                    await network_records.get(session, ctx, network_records.PORT, parts[1])
                except errors.NotFound:
                    return subpath, body
                placed = await network_records.placement_in(session, parts[1], region)
            if placed is not None and placed.local_id:
                subpath = paths.build("os-interface", placed.local_id)
            return subpath, body
        attach = body.get("interfaceAttachment") if isinstance(body, dict) else None
        if isinstance(attach, dict):
            attach = dict(attach)
            for key, kind in (("port_id", "port"), ("net_id", "uuid")):
                if attach.get(key):
                    [local] = await self._ports.boot.for_boot(ctx, region,
                                                              [{kind: str(attach[key])}])
                    attach[key] = local[kind]
                    if kind == "uuid" and not attach.get("port_id"):
                        attach = await self._with_address(attach, local, server_id)
            body = {**body, "interfaceAttachment": attach}
        return subpath, body

    async def _with_address(self, attach: dict[str, Any], local: dict[str, Any],
                            server_id: str) -> dict[str, Any]:
        """An attach to a network with the address Cascade allocates for the port
        Nova will create (the one asked for in ``fixed_ips``, if any)."""
        assert self._ports is not None
        asked = [ip.get("ip_address") for ip in attach.get("fixed_ips") or []
                 if isinstance(ip, dict) and ip.get("ip_address")]
        item = {**local, **({"fixed_ip": asked[0]} if asked else {})}
        async with self._sessions.begin() as session:
            [item] = await self._ports.boot.with_addresses(session, server_id, [item])
        if item.get("fixed_ip"):
            return {**attach, "fixed_ips": [{"ip_address": item["fixed_ip"]}]}
        return attach

    def _pinned_zone(self, region: str, body: Any) -> Any:
        """A server update re-pinning its zone (2.104): Cascade's zone as the region's
        own (Nova's default ``nova`` unless the region names another); unpinning
        (null) passes as it is.

        :raises BadRequest: a zone other than the server's region's.
        """
        server = body.get("server") if isinstance(body, dict) else None
        if not isinstance(server, dict) or not isinstance(
                server.get("pinned_availability_zone"), str):
            return body
        info = self._registry.get(region)
        if info is None or server["pinned_availability_zone"] != info.availability_zone:
            raise errors.BadRequest("The requested availability zone is not available")
        local = {**server, "pinned_availability_zone": info.local_availability_zone or "nova"}
        return {**body, "server": local}

    def _unshelve_zone(self, region: str, body: Any) -> Any:
        """An unshelve's Cascade zone as the region's own.

        :raises BadRequest: a zone other than the server's region's (Nova's words).
        """
        unshelve = body.get("unshelve") if isinstance(body, dict) else None
        if not isinstance(unshelve, dict) or unshelve.get("availability_zone") is None:
            return body
        info = self._registry.get(region)
        if info is None or unshelve["availability_zone"] != info.availability_zone:
            raise errors.BadRequest("The requested availability zone is not available")
        local = dict(unshelve)
        if info.local_availability_zone:
            local["availability_zone"] = info.local_availability_zone
        else:
            del local["availability_zone"]  # the region's only zone: nothing to pin
        return {"unshelve": local}

    async def to_global(self, region: str, subpath: str, body: Any, local_id: str,
                        global_id: str, regional_base: str, cascade_base: str) -> Any:
        """The region's answer in global ids."""
        top = subpath.strip("/").split("/")[0]
        if top == "os-interface" and self._ports is not None:
            return await self._ports.boot.rewrite_interfaces(region, body)
        if top == "os-instance-actions" and isinstance(body, dict):
            ids = await action_ids.known(self._sessions, global_id)
            return actions_to_global(body, local_id, global_id, regional_base,
                                      cascade_base, ids)
        return body


def actions_to_global(body: dict[str, Any], local_id: str, global_id: str,
                       regional_base: str, cascade_base: str,
                       ids: Mapping[str, str]) -> dict[str, Any]:
    out = dict(body)
    for key in ("instanceActions", "instanceAction"):
        value = out.get(key)
        items = value if isinstance(value, list) else [value] if isinstance(value, dict) \
            else []
        for action in items:
            if action.get("instance_uuid") == local_id:
                action["instance_uuid"] = global_id
            if action.get("request_id") in ids:
                action["request_id"] = ids[action["request_id"]]
    if isinstance(out.get("links"), list):
        out["links"] = rewrite.rewrite_links(out["links"], regional_base, cascade_base,
                                             local_id, global_id)
    return out
