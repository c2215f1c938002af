"""What a server boot needs of Cascade's networks: the regions its networks and ports
allow, its networks and ports made present in the chosen region (in that
region's ids), its security groups copied there, and ``os-interface`` answers
turned back into global ids."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.context import RequestContext
from cascade.networks import ipam, records
from cascade.networks.placer import Placer
from cascade.networks.port_ids import PortIds
from cascade.networks.records import NETWORK, PORT, SECURITY_GROUP, SUBNET
from cascade.networks.service import NetworkObjects
from cascade.regions.registry import RegionRegistry

__all__ = ["BootNetworks", "NETWORK_KEY"]

#: Where :meth:`BootNetworks.for_boot` keeps a network's global id for
#: :meth:`BootNetworks.with_addresses` (never sent to a region).
NETWORK_KEY = "cascade_network"


class BootNetworks:
    """A server's networks, ports and groups, made ready in its region."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], registry: RegionRegistry,
                 objects: NetworkObjects, ids: PortIds) -> None:
        self._sessions = sessions
        self._registry = registry
        self._objects = objects
        self._placer: Placer = objects.placer
        self._ids = ids

    async def regions_for(self, ctx: RequestContext,
                          networks: Any) -> set[str] | None:
        """Regions a server with these ``networks`` may go to (None: any).

        A port already in a region pins the server there; a network restricted
        by zone hints allows only those zones' regions.
        """
        if not isinstance(networks, list):
            return None
        allowed: set[str] | None = None
        async with self._sessions() as session:
            for item in networks:
                if not isinstance(item, dict):
                    continue
                here: set[str] | None = None
                if item.get("port"):
                    res = await records.get(session, ctx, PORT, str(item["port"]))
                    placed = (await records.placements(session, [res.global_id]))[
                        res.global_id]
                    if placed:
                        here = set(placed)
                    else:
                        item_net = res.attrs.get("network_id")
                        here = await self._net_regions(session, ctx, item_net)
                elif item.get("uuid"):
                    here = await self._net_regions(session, ctx, str(item["uuid"]))
                if here is not None:
                    allowed = here if allowed is None else allowed & here
        return allowed

    async def _net_regions(self, session: AsyncSession, ctx: RequestContext,
                           network_id: str | None) -> set[str] | None:
        if not network_id:
            return None
        net = await records.get(session, ctx, NETWORK, network_id)
        hints = net.attrs.get("availability_zone_hints") or []
        if not hints:
            return None
        return {r.name for r in list(self._registry) if r.availability_zone in hints}

    async def for_boot(self, ctx: RequestContext, region: str,
                       networks: Any) -> Any:
        """The server's ``networks`` in the region's ids: networks instantiated and
        ports materialised there first.

        :raises Conflict: a port already bound in another region.
        :raises BadRequest: an unknown network or port.
        """
        if not isinstance(networks, list):
            return networks
        out = []
        for item in networks:
            if not isinstance(item, dict):
                out.append(item)
                continue
            item = dict(item)
            if item.get("port"):
                item["port"] = await self._local_port(ctx, str(item["port"]), region)
            elif item.get("uuid"):
                network = str(item["uuid"])
                item["uuid"] = await self._local_network(ctx, network, region)
                item[NETWORK_KEY] = network
            out.append(item)
        return out

    async def with_addresses(self, session: AsyncSession, holder: str,
                             networks: Any) -> Any:
        """``networks`` (from :meth:`for_boot`) with the address Cascade allocates
        for each port Nova will create on a network (``fixed_ip``, or the one the
        request names), held by ``holder`` (the server) in ``session``."""
        if not isinstance(networks, list):
            return networks
        out = []
        for item in networks:
            if isinstance(item, dict) and NETWORK_KEY in item:
                item = dict(item)
                network = str(item.pop(NETWORK_KEY))
                subnets = await records.children(session, [SUBNET], [network])
                address = await ipam.allocate_one(session, network, subnets,
                                                  item.get("fixed_ip"), holder)
                if address is not None:
                    item["fixed_ip"] = address
            out.append(item)
        return out

    async def _visible(self, ctx: RequestContext, type_: str, global_id: str,
                       missing: str) -> None:
        """:raises BadRequest: ``missing``, when the caller cannot see the object."""
        async with self._sessions() as session:
            try:
                await records.get(session, ctx, type_, global_id)
            except errors.NotFound:
                raise errors.BadRequest(missing) from None

    async def _local_port(self, ctx: RequestContext, global_id: str, region: str) -> str:
        await self._visible(ctx, PORT, global_id, f"Port {global_id} not found.")
        return await self._placer.ensure_port(ctx, global_id, region)

    async def _local_network(self, ctx: RequestContext, global_id: str, region: str) -> str:
        await self._visible(ctx, NETWORK, global_id,
                            f"Network {global_id} could not be found.")
        return await self._placer.ensure_network(ctx, global_id, region)

    async def groups_for_boot(self, ctx: RequestContext, region: str,
                              groups: Any) -> Any:
        """Security groups named in a create, made present in ``region``.

        Groups are named as Nova accepts them (name or id); Cascade's groups are
        copied to the region and named by their regional id; others pass as given.
        """
        if not isinstance(groups, list):
            return groups
        await self._objects.ensure_default_group(ctx.project_id, ctx.user_id)
        async with self._sessions() as session:
            mine = [g for g in await records.of_types(session, ctx, [SECURITY_GROUP])
                    if g.project_id == ctx.project_id]
        out = []
        for item in groups:
            name = item.get("name") if isinstance(item, dict) else None
            match = next((g for g in mine if name in (g.global_id, g.attrs.get("name"))),
                         None)
            if match is None:
                out.append(item)
                continue
            local = await self._placer.ensure_security_group(ctx, match.global_id, region)
            out.append({"name": local if name == match.global_id else name})
        return out

    async def rewrite_interfaces(self, region: str, body: Any) -> Any:
        """os-interface answers in global port and network ids."""
        items = body.get("interfaceAttachments") if isinstance(body, dict) else None
        single = body.get("interfaceAttachment") if isinstance(body, dict) else None
        attachments = items if items is not None else [single] if single else []
        if not attachments:
            return body
        ports = [{"id": a.get("port_id"), "network_id": a.get("net_id"),
                  "fixed_ips": a.get("fixed_ips")} for a in attachments]
        to_global = await self._ids.global_ids(region, ports)
        mapped = await self._ids.mapped_ports(region, [p for p in ports if p["id"]])
        for a in attachments:
            a["port_id"] = mapped.get(a.get("port_id"), a.get("port_id"))
            a["net_id"] = to_global.get(a.get("net_id"), a.get("net_id"))
            for ip in a.get("fixed_ips") or []:
                ip["subnet_id"] = to_global.get(ip.get("subnet_id"), ip.get("subnet_id"))
        return body
