"""Routers: global objects whose copies live where their interfaces' networks live.

Cascade holds the router as the tenant sees it: its attributes, its user
``routes``, its gateway (an external network, which is regional) and its
interfaces (``interfaces`` in the row: one Cascade port each, on the subnet's
gateway address or the tenant's own port). Nothing here calls a region: every
change is recorded with a ``router_converge`` job in the same transaction, and
that job (``cascade/networks/router_converge.py``) makes each region's copy,
its interfaces, its bridge port and its routes what the row says. So a region
that is down catches up when it is back, and a crash leaves the job to finish.
"""
from __future__ import annotations

import ipaddress
import logging
from typing import Any, Awaitable, Callable

from oslo_config import cfg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Placement, Resource
from cascade.listing.narrow import Narrow
from cascade.mapping import store
from cascade.networks import bridge, faults, ipam, records, router_jobs, specs, topology
from cascade.networks.records import FLOATINGIP, NETWORK, PORT, ROUTER, SUBNET
from cascade.networks.external import REGION_KEY
from cascade.networks.topology import Attached
from cascade.quota import ledger
from cascade.quota.forget import forget
from cascade.regions.registry import RegionRegistry

__all__ = ["Routers", "INTERFACE_OWNER", "router_view"]

LOG = logging.getLogger(__name__)

INTERFACE_OWNER = "network:router_interface"
#: Stored attributes that are Cascade's own, never shown.
_PRIVATE = frozenset({"interfaces"})


def router_view(ctx: RequestContext, res: Resource, placed: dict[str, Placement],
                zones: dict[str, str]) -> dict[str, Any]:
    """A router as Neutron shows it, in global ids."""
    a = res.attrs
    view = {k: v for k, v in a.items() if k not in _PRIVATE}
    view.update({"id": res.global_id, "project_id": res.project_id,
                 "tenant_id": res.project_id, "status": a.get("status", "ACTIVE"),
                 "routes": list(a.get("routes") or []),
                 "availability_zones": sorted({zones[r] for r, pl in placed.items()
                                               if r in zones and pl.local_id}),
                 "revision_number": a.get("revision_number", 0)})
    if ctx.is_admin:
        view.setdefault("distributed", False)
        view.setdefault("ha", False)
        view["cascade:placements"] = [{"region": r, "id": pl.local_id, "state": pl.state}
                                      for r, pl in sorted(placed.items())]
    return view


def _routes_through(routes: list[dict[str, str]], cidr: str) -> bool:
    """Whether a route's next hop is on ``cidr``."""
    net = ipaddress.ip_network(cidr, strict=False)
    return any(ipaddress.ip_address(r["nexthop"]) in net for r in routes)


def _interface_body(body: Any, *, for_removal: bool = False) -> tuple[str | None, str | None]:
    """(subnet_id, port_id) of an add/remove interface body: one of them given, or
    both for a removal (by port; the subnet must be the port's), as in Neutron."""
    if not isinstance(body, dict):
        raise faults.bad_request("Body contains invalid data")
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    if subnet_id and port_id and not for_removal:
        raise faults.refused("BadRequest", "Bad router request: Cannot specify both "
                                           "subnet-id and port-id.")
    if not subnet_id and not port_id:
        raise faults.refused("BadRequest", "Bad router request: Either subnet_id or "
                                           "port_id must be specified.")
    return (str(subnet_id) if subnet_id else None, str(port_id) if port_id else None)


class Routers:
    """CRUD and interfaces of routers; regional work is queued, never done here."""

    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 registry: RegionRegistry, quota_defaults: Any,
                 wake: Callable[[str], Awaitable[None]],
                 converge: Callable[[str], Awaitable[Any]] | None = None) -> None:
        self._conf = conf
        self._converge = converge
        self._sessions = sessions
        self._registry = registry
        self._quota_defaults = quota_defaults
        self._wake = wake

    def _zones(self) -> dict[str, str]:
        return {r.name: r.availability_zone for r in list(self._registry)}

    async def _converge_now(self, project_id: str) -> None:
        """Removals are Neutron's synchronous work (a subnet can be deleted right
        after its interface): do the converge now as well as in the queued job,
        which stays the fallback when a region cannot be reached."""
        if self._converge is None:
            return
        try:
            await self._converge(project_id)
        except errors.CascadeError as exc:
            LOG.warning("routers of %s left to the queued converge: %s", project_id,
                        exc.message)

    async def _queue(self, session: AsyncSession, project_id: str) -> None:
        await router_jobs.queue(session, project_id, self._conf.network.router_converge_delay)

    async def _view(self, session: AsyncSession, ctx: RequestContext,
                    res: Resource) -> dict[str, Any]:
        placed = (await records.placements(session, [res.global_id]))[res.global_id]
        return router_view(ctx, res, placed, self._zones())

    async def _gateway(self, session: AsyncSession, ctx: RequestContext,
                       info: Any, hints: list[str]) -> dict[str, Any] | None:
        """A gateway request checked: an external network the caller sees, in one
        of the router's ``availability_zone_hints`` when it has any (a router
        hinted to one zone stays local to that zone's region)."""
        if info is None or info == {}:
            return None
        if not isinstance(info, dict) or not info.get("network_id"):
            raise faults.bad_request(f"Invalid data format for external_gateway_info: "
                                     f"'{info}'")
        unknown = sorted(set(info) - {"network_id", "enable_snat", "external_fixed_ips"})
        if unknown:
            raise faults.bad_request(f"Unexpected keys supplied: {', '.join(unknown)}")
        net = await records.get(session, ctx, NETWORK, str(info["network_id"]))
        if not net.attrs.get("router:external"):
            raise faults.refused("BadRequest",
                f"Bad router request: Network {net.global_id} is not an external network.")
        zone = self._zones().get(str(net.attrs.get(REGION_KEY)))
        if hints and zone not in hints:
            raise faults.refused("BadRequest",
                f"Bad router request: external network {net.global_id} is in availability "
                f"zone {zone}, which is not among the router's availability_zone_hints "
                f"({', '.join(hints)}).")
        if "enable_snat" in info and not ctx.is_admin:
            ctx.can("create_router:external_gateway_info:enable_snat")
        if info.get("external_fixed_ips"):
            # Admins' choice in Neutron; the gateway's addresses are the region's.
            ctx.can("create_router:external_gateway_info:external_fixed_ips")
            raise faults.bad_request("external_fixed_ips are not offered through Cascade: "
                                     "the gateway's region gives its addresses")
        return {"network_id": net.global_id, "enable_snat": bool(info.get("enable_snat",
                                                                          True)),
                "external_fixed_ips": []}

    # -- create, read ------------------------------------------------------

    async def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        obj = specs.checked(ROUTER, body)
        owner = str(obj.get("project_id") or obj.get("tenant_id") or ctx.project_id)
        ctx.can("create_router", {"project_id": owner})
        for flag in ("distributed", "ha"):
            if flag in obj:
                # Admins' choice in Neutron; Cascade's copies are what each region
                # makes by default, so only "false" can be honoured.
                ctx.can(f"create_router:{flag}", {"project_id": owner})
                if obj[flag]:
                    raise faults.bad_request(f"{flag} routers are not offered through "
                                             "Cascade")
        hints = obj.get("availability_zone_hints") or []
        zones = {r.availability_zone for r in list(self._registry)}
        unknown = [z for z in hints if z not in zones]
        if unknown:
            raise faults.conflict("AvailabilityZoneNotFound",
                                  f"AvailabilityZone {unknown[0]} could not be found.")
        async with self._sessions.begin() as session:
            gateway = await self._gateway(session, ctx, obj.get("external_gateway_info"),
                                          hints)
            if gateway is not None:
                ctx.can("create_router:external_gateway_info", {"project_id": owner})
            await ledger.charge(session, owner, {"router": 1},
                                defaults=self._quota_defaults)
            now = records.now()
            res = Resource(global_id=store.new_global_id(), type=ROUTER, project_id=owner,
                           user_id=ctx.user_id, spec={}, status="ACTIVE",
                           usage={"router": 1}, attrs={
                               "name": obj.get("name", ""),
                               "description": obj.get("description", ""),
                               "admin_state_up": obj.get("admin_state_up", True),
                               "status": "ACTIVE", "external_gateway_info": gateway,
                               "routes": [], "availability_zone_hints": hints,
                               "flavor_id": None, "tags": list(obj.get("tags") or []),
                               "interfaces": [], "created_at": now, "updated_at": now,
                               "revision_number": 0})
            session.add(res)
            await session.flush()
            if gateway is not None:
                await self._queue(session, owner)
            view = await self._view(session, ctx, res)
        if gateway is not None:
            await self._wake("jobs")
        return view

    async def show(self, ctx: RequestContext, global_id: str) -> dict[str, Any]:
        async with self._sessions() as session:
            res = await records.get(session, ctx, ROUTER, global_id)
            if res.attrs.get("deleting"):
                raise faults.not_found(ROUTER, global_id)
            return await self._view(session, ctx, res)

    async def list_all(self, ctx: RequestContext, narrow: Narrow | None = None
                       ) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = await records.of_types(session, ctx, [ROUTER], narrow)
            placed = await records.placements(session, [r.global_id for r in rows])
        zones = self._zones()
        return [router_view(ctx, r, placed[r.global_id], zones) for r in rows
                if not r.attrs.get("deleting")]

    # -- update, delete ----------------------------------------------------

    async def _locked(self, session: AsyncSession, ctx: RequestContext, global_id: str,
                      action: str) -> Resource:
        """The router, row-locked, if the caller may ``action`` it (a router being
        deleted is gone already)."""
        res = await records.get_for_update(session, ctx, ROUTER, global_id)
        ctx.can(action, {"project_id": res.project_id})
        if res.attrs.get("deleting"):
            raise faults.not_found(ROUTER, global_id)
        return res

    @staticmethod
    async def _floating_ips_via(session: AsyncSession, router_id: str
                                ) -> list[tuple[Resource, Resource]]:
        """(floating IP, its port) of the floating IPs associated through the router
        (any project's), as last answered by their region; one whose port is gone
        since is not."""
        rows = await session.scalars(select(Resource).where(
            Resource.type == FLOATINGIP,
            Resource.attrs["router_id"].as_string() == router_id))
        out = []
        for fip in rows.all():
            port = await session.get(Resource, str(fip.attrs.get("port_id") or ""))
            if port is not None and port.type == PORT:
                out.append((fip, port))
        return out

    async def _gateway_free(self, session: AsyncSession, res: Resource,
                            wanted: dict[str, Any] | None) -> None:
        """Neutron's 409 for a gateway change that floating IPs still need."""
        current = (res.attrs.get("external_gateway_info") or {}).get("network_id")
        if not current or (wanted or {}).get("network_id") == current:
            return
        if any(f.attrs.get("floating_network_id") == current
               for f, _port in await self._floating_ips_via(session, res.global_id)):
            raise faults.conflict(
                "RouterExternalGatewayInUseByFloatingIp",
                f"Gateway cannot be updated for router {res.global_id}, since a gateway to "
                f"external network {current} is required by one or more floating IPs.")

    async def _interface_free(self, session: AsyncSession, res: Resource,
                              subnet_id: str) -> None:
        """Neutron's 409 for removing an interface a floating IP is reached through."""
        for _fip, port in await self._floating_ips_via(session, res.global_id):
            if any(ip.get("subnet_id") == subnet_id
                   for ip in port.attrs.get("fixed_ips") or []):
                raise faults.conflict(
                    "RouterInterfaceInUseByFloatingIP",
                    f"Router interface for subnet {subnet_id} on router {res.global_id} "
                    "cannot be deleted, as it is required by one or more floating IPs.")

    @staticmethod
    async def _subnets_of(session: AsyncSession, iface: dict[str, str]) -> set[str]:
        """Every subnet an interface's port has an address on."""
        port = await session.get(Resource, iface["port_id"])
        ips = port.attrs.get("fixed_ips") or [] if port is not None else []
        return {str(ip.get("subnet_id")) for ip in ips} | {iface["subnet_id"]}

    async def update(self, ctx: RequestContext, global_id: str, body: Any) -> dict[str, Any]:
        changes = specs.update(ROUTER, body)
        async with self._sessions.begin() as session:
            res = await self._locked(session, ctx, global_id, "update_router")
            if "external_gateway_info" in changes:
                ctx.can("update_router:external_gateway_info", {"project_id": res.project_id})
                changes["external_gateway_info"] = await self._gateway(
                    session, ctx, changes["external_gateway_info"],
                    list(res.attrs.get("availability_zone_hints") or []))
                await self._gateway_free(session, res, changes["external_gateway_info"])
            if "routes" in changes:
                attached = await self._attached(session, res)
                changes["routes"] = topology.check_user_routes(
                    changes["routes"], [a.cidr for a in attached])
            res.attrs = {**res.attrs, **changes, "updated_at": records.now(),
                         "revision_number": res.attrs.get("revision_number", 0) + 1}
            await session.flush()
            await self._queue(session, res.project_id)
            view = await self._view(session, ctx, res)
        await self._wake("jobs")
        return view

    async def delete(self, ctx: RequestContext, global_id: str) -> None:
        """Forget the router; its copies go with the next converge of its project.

        :raises Conflict: ``RouterInUse`` while it has interfaces.
        """
        async with self._sessions.begin() as session:
            res = await self._locked(session, ctx, global_id, "delete_router")
            if res.attrs.get("interfaces"):
                raise faults.conflict("RouterInUse",
                                      f"Router {global_id} still has ports")
            # The row stays, marked, until its regional copies are gone: the
            # converge removes them, then the row and the quota.
            res.status = "deleting"
            res.attrs = {**res.attrs, "status": "DELETING", "deleting": True}
            await self._queue(session, res.project_id)
        await self._converge_now(res.project_id)
        await self._wake("jobs")

    # -- interfaces --------------------------------------------------------

    async def _attached(self, session: AsyncSession, res: Resource) -> list[Attached]:
        """Every subnet the router's interfaces connect, wherever they are."""
        ids = [i["subnet_id"] for i in res.attrs.get("interfaces") or []]
        rows = {r.global_id: r for r in (await session.scalars(select(Resource).where(
            Resource.global_id.in_(ids)))).all()} if ids else {}
        return [Attached(i, rows[i].attrs["cidr"]) for i in ids if i in rows]

    async def _bridge_cidr(self, session: AsyncSession, project_id: str) -> str | None:
        found = await bridge.find(session, project_id)
        return str(found[1].attrs["cidr"]) if found else None

    async def add_interface(self, ctx: RequestContext, global_id: str,
                            body: Any) -> dict[str, Any]:
        subnet_id, port_id = _interface_body(body)
        async with self._sessions.begin() as session:
            res = await self._locked(session, ctx, global_id, "add_router_interface")
            existing = await self._attached(session, res)
            if port_id is not None:
                port = await records.get_for_update(session, ctx, PORT, port_id)
                if port.attrs.get("device_id") or port.attrs.get("device_owner"):
                    raise faults.conflict(
                        "PortInUse", f"Unable to complete operation on port {port_id} for "
                        f"network {port.attrs.get('network_id')}. Port already has an "
                        f"attached device {port.attrs.get('device_id')}.")
                ips = list(port.attrs.get("fixed_ips") or [])
                if not ips:
                    raise faults.refused("BadRequest", "Bad router request: Router port "
                                                       "must have at least one fixed IP.")
                subnet = await records.get(session, None, SUBNET, ips[0]["subnet_id"])
                for ip in ips:
                    sub = await records.get(session, None, SUBNET, ip["subnet_id"])
                    self._check_overlap(existing, sub, await self._bridge_cidr(
                        session, res.project_id))
                port.attrs = {**port.attrs, "device_owner": INTERFACE_OWNER,
                              "device_id": global_id, "updated_at": records.now()}
            else:
                assert subnet_id is not None
                subnet = await records.get(session, ctx, SUBNET, subnet_id)
                if not subnet.attrs.get("gateway_ip"):
                    raise faults.refused("BadRequest", "Bad router request: Subnet for "
                                                       "router interface must have a "
                                                       "gateway IP.")
                network = await records.get(session, None, NETWORK,
                                            subnet.attrs["network_id"])
                if network.attrs.get("router:external"):
                    raise faults.refused(
                        "BadRequest", f"Bad router request: Router {global_id} cannot have "
                        f"an interface on external network {network.global_id}.")
                self._check_overlap(existing, subnet,
                                    await self._bridge_cidr(session, res.project_id))
                port = await self._interface_port(session, ctx, res, subnet)
            interfaces = [*res.attrs.get("interfaces", []),
                          {"port_id": port.global_id, "subnet_id": subnet.global_id,
                           "network_id": subnet.attrs["network_id"]}]
            res.attrs = {**res.attrs, "interfaces": interfaces, "updated_at": records.now(),
                         "revision_number": res.attrs.get("revision_number", 0) + 1}
            await self._queue(session, res.project_id)
            answer = {"id": global_id, "tenant_id": res.project_id,
                      "project_id": res.project_id, "port_id": port.global_id,
                      "network_id": subnet.attrs["network_id"],
                      "subnet_id": subnet.global_id,
                      "subnet_ids": [ip["subnet_id"] for ip in port.attrs["fixed_ips"]]}
        await self._wake("jobs")
        return answer

    @staticmethod
    def _check_overlap(existing: list[Attached], subnet: Resource,
                       bridge_cidr: str | None) -> None:
        new = Attached(subnet.global_id, subnet.attrs["cidr"])
        topology.check_no_overlap(existing, new)
        if bridge_cidr:
            topology.check_no_overlap([Attached("cascade-bridge", bridge_cidr)], new)

    async def _interface_port(self, session: AsyncSession, ctx: RequestContext,
                              router: Resource, subnet: Resource) -> Resource:
        """The Cascade port of an interface by subnet: the subnet's gateway address."""
        network_id = str(subnet.attrs["network_id"])
        gid = store.new_global_id()
        mac = specs.mint_mac()
        fixed = await ipam.allocate(session, network_id, [subnet],
                                    [{"subnet_id": subnet.global_id,
                                      "ip_address": subnet.attrs["gateway_ip"]}], mac, gid)
        await ledger.charge(session, router.project_id, {"port": 1},
                            defaults=self._quota_defaults, check=False)
        now = records.now()
        port = Resource(global_id=gid, type=PORT, project_id=router.project_id,
                        user_id=ctx.user_id, spec={}, status="DOWN", usage={"port": 1},
                        attrs={"name": "", "description": "", "network_id": network_id,
                               "admin_state_up": True, "mac_address": mac,
                               "fixed_ips": fixed, "requested_fixed_ips": fixed,
                               "device_id": router.global_id,
                               "device_owner": INTERFACE_OWNER, "security_groups": [],
                               "port_security_enabled": False, "tags": [],
                               "allowed_address_pairs": [], "extra_dhcp_opts": [],
                               "binding:vnic_type": "normal", "binding:profile": {},
                               "dns_name": "", "status": "DOWN", "created_at": now,
                               "updated_at": now, "revision_number": 0})
        session.add(port)
        await session.flush()
        return port

    async def remove_interface(self, ctx: RequestContext, global_id: str,
                               body: Any) -> dict[str, Any]:
        subnet_id, port_id = _interface_body(body, for_removal=True)
        async with self._sessions.begin() as session:
            res = await self._locked(session, ctx, global_id, "remove_router_interface")
            interfaces = list(res.attrs.get("interfaces") or [])
            if port_id is not None:
                match = [i for i in interfaces if i["port_id"] == port_id]
                if not match:
                    raise faults.refused_not_found(
                        "RouterInterfaceNotFound",
                        f"Router {global_id} does not have an interface with id {port_id}")
                if subnet_id is not None and subnet_id not in await self._subnets_of(
                        session, match[0]):
                    raise faults.refused(
                        "SubnetMismatchForPort",
                        f"Subnet on port {port_id} does not match the requested subnet "
                        f"{subnet_id}.")
            else:
                await records.get(session, ctx, SUBNET, str(subnet_id))
                match = [i for i in interfaces if i["subnet_id"] == subnet_id]
                if not match:
                    raise faults.refused_not_found(
                        "RouterInterfaceNotFoundForSubnet",
                        f"Router {global_id} has no interface on subnet {subnet_id}")
            gone = match[0]
            await self._interface_free(session, res, gone["subnet_id"])
            subnet = await session.get(Resource, gone["subnet_id"])
            if subnet is not None and _routes_through(res.attrs.get("routes") or [],
                                                      str(subnet.attrs.get("cidr"))):
                raise faults.conflict(
                    "RouterInterfaceInUseByRoute",
                    f"Router interface for subnet {gone['subnet_id']} on router "
                    f"{global_id} cannot be deleted, as it is required by one or more "
                    "routes.")
            res.attrs = {**res.attrs, "updated_at": records.now(),
                         "interfaces": [i for i in interfaces if i is not gone],
                         "revision_number": res.attrs.get("revision_number", 0) + 1}
            port = await session.get(Resource, gone["port_id"])
            if port is not None:
                # Neutron deletes an interface's port with it. One in no region goes
                # now; the converge removes the regional copies of the others, then
                # forgets them (hidden meanwhile, as deleted).
                placed = (await records.placements(session, [port.global_id]))[
                    port.global_id]
                if any(pl.local_id for pl in placed.values()):
                    port.attrs = {**port.attrs, "released_by": global_id}
                else:
                    await forget(session, port.global_id)
            await self._queue(session, res.project_id)
            answer = {"id": global_id, "tenant_id": res.project_id,
                      "project_id": res.project_id, "port_id": gone["port_id"],
                      "network_id": gone["network_id"], "subnet_id": gone["subnet_id"],
                      "subnet_ids": [gone["subnet_id"]]}
        await self._converge_now(res.project_id)
        await self._wake("jobs")
        return answer
