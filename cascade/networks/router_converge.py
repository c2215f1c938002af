"""Bring a project's routers in step in every region: copies, interfaces, bridge, routes.

The desired state is read from Cascade's rows alone:

- a router has a copy in each region where a network of one of its interfaces
  is present (within its ``availability_zone_hints``), and in the region of
  its gateway's external network;
- each copy has an interface on each of those networks there, on the port
  Cascade allocated for it;
- a router with copies in two or more regions spans them: each copy has a
  port on the project's bridge network, and ``routes`` to every subnet
  attached only elsewhere (``topology.regional_routes``), plus the tenant's
  own routes it is connected to;
- a project with no spanning router has no bridge network.

Each run reads each region's copy and changes only what differs, in an order
Neutron accepts: additions first (a route's next hop must be connected),
then routes, then removals (an interface a route needs cannot go first).
Every regional object is tagged with its global id, and found again by that
tag, so a crash anywhere is finished by the next run; a region that cannot be
reached raises, and the job retries it later, the others done meanwhile.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

from oslo_config import cfg
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.crashpoints import crash_point
from cascade.db.models import Placement, Resource
from cascade.networks import bridge, records, segments, topology, zones
from cascade.networks.placer import Placer
from cascade.networks.records import NETWORK, PORT, ROUTER, SUBNET
from cascade.networks.router_jobs import ROUTER_INTERFACE_OWNERS
from cascade.networks.topology import Attached
from cascade.quota.forget import forget
from cascade.regions.registry import RegionRegistry
from cascade.regions import paths

__all__ = ["RouterConverger", "Outcome"]

ROUTER_INTERFACE = "network:router_interface"
T = TypeVar("T")

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Outcome:
    """What one run changed, for logs and tests."""

    routers: int = 0
    created: list[str] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)
    routes_set: list[str] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Copy:
    """One region's copy of a router, as found."""

    region: str
    local_id: str
    router: dict[str, Any]
    ports: list[dict[str, Any]]


@dataclasses.dataclass
class _State:
    """A project's rows, read once per run."""

    routers: list[Resource]
    rows: dict[str, Resource]
    placed: dict[str, dict[str, Placement]]
    #: (router, interface port) -> the region chosen for an interface on a
    #: spanning network, to be remembered in the router's row.
    homes: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)

    def local(self, global_id: str, region: str) -> str | None:
        pl = self.placed.get(global_id, {}).get(region)
        return pl.local_id if pl is not None and pl.local_id else None


def _graver(current: BaseException | None, new: BaseException) -> BaseException:
    """The error a run reports: a region's answer (or anything else) before a
    region that could not be reached, which the job only waits out."""
    if current is None:
        return new
    unreachable = (errors.RegionUnavailable, errors.RegionTimeout)
    if isinstance(current, unreachable) and not isinstance(new, unreachable):
        return new
    return current


_LOCAL_LOCKS: dict[str, asyncio.Lock] = {}


@contextlib.asynccontextmanager
async def _one_run_per_project(sessions: async_sessionmaker[AsyncSession],
                               project_id: str) -> AsyncIterator[None]:
    """One converge of a project at a time, across processes (PostgreSQL advisory
    lock on a connection held for the run) and within one (SQLite: one process)."""
    lock = _LOCAL_LOCKS.setdefault(project_id, asyncio.Lock())
    try:
        async with lock, _advisory(sessions, project_id):
            yield
    finally:
        if not lock.locked() and not lock._waiters:
            _LOCAL_LOCKS.pop(project_id, None)


@contextlib.asynccontextmanager
async def _advisory(sessions: async_sessionmaker[AsyncSession],
                    project_id: str) -> AsyncIterator[None]:
    async with sessions() as session:
        conn = await session.connection()
        if conn.dialect.name != "postgresql":
            yield
            return
        key = int.from_bytes(hashlib.sha256(
            f"router_converge:{project_id}".encode()).digest()[:8], "big", signed=True)
        await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


async def _each(regions: list[str], work: Callable[[str], Awaitable[T]]) -> dict[str, T]:
    """``work`` for every region in parallel; every result, or the first region
    error once all have finished (the regions that succeeded keep their work)."""
    results = await asyncio.gather(*(work(r) for r in regions), return_exceptions=True)
    out: dict[str, T] = {}
    failure: BaseException | None = None
    for region, result in zip(regions, results):
        if isinstance(result, BaseException):
            failure = failure or result
        else:
            out[region] = result
    if failure is not None:
        raise failure
    return out


class RouterConverger:
    """Converges one project's routers; ``converge`` is safe to run again any time."""

    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 placer: Placer, registry: RegionRegistry) -> None:
        self._conf = conf
        self._sessions = sessions
        self._placer = placer
        self._client = placer.client
        self._registry = registry

    # -- reading Cascade's side -------------------------------------------

    async def _state(self, project_id: str) -> _State:
        async with self._sessions() as session:
            routers = list((await session.scalars(select(Resource).where(
                Resource.type == ROUTER, Resource.project_id == project_id)
                .order_by(Resource.global_id))).all())
            ports = list((await session.scalars(select(Resource).where(
                Resource.type == PORT, Resource.project_id == project_id))).all())
            wanted: set[str] = set()
            for r in routers:
                for i in r.attrs.get("interfaces") or []:
                    wanted.update((i["subnet_id"], i["network_id"]))
                gw = r.attrs.get("external_gateway_info") or {}
                if gw.get("network_id"):
                    wanted.add(gw["network_id"])
            more = list((await session.scalars(select(Resource).where(
                Resource.global_id.in_(sorted(wanted))))).all()) if wanted else []
            ext_subnets = list((await session.scalars(select(Resource).where(
                Resource.type == SUBNET, Resource.parent_id.in_(
                    [m.global_id for m in more if m.type == NETWORK
                     and m.attrs.get("router:external")])))).all())
            rows = {r.global_id: r for r in [*routers, *ports, *more, *ext_subnets]}
            found = await bridge.find(session, project_id)
            if found:
                rows.update({found[0].global_id: found[0], found[1].global_id: found[1]})
            placed = await records.placements(session, list(rows))
        return _State(routers, rows, placed)

    def _regions_of(self, state: _State, router: Resource) -> dict[str, list[dict[str, str]]]:
        """region -> the interfaces the router's copy there must have."""
        allowed = zones.hinted_regions(
            {r.name: r.availability_zone for r in list(self._registry)},
            router.attrs.get("availability_zone_hints") or [])
        out: dict[str, list[dict[str, str]]] = {}
        if router.attrs.get("deleting"):
            return out
        for iface in router.attrs.get("interfaces") or []:
            regions = sorted(r for r, pl in state.placed.get(iface["network_id"], {}).items()
                             if pl.local_id and r in allowed)
            net = state.rows.get(iface["network_id"])
            if regions and net is not None and segments.spans_regions(net.attrs):
                # One L2 domain in every region: its gateway lives in one copy only,
                # the same one as long as the network stays there.
                home = iface.get("home") if iface.get("home") in regions else regions[0]
                if home != iface.get("home"):
                    state.homes[(router.global_id, iface["port_id"])] = home
                regions = [home]
            for region in regions:
                out.setdefault(region, []).append(iface)
        gw_region = self._gateway_region(state, router)
        if gw_region is not None:
            out.setdefault(gw_region, [])
        return out

    async def _remember_homes(self, homes: dict[tuple[str, str], str]) -> None:
        async with self._sessions.begin() as session:
            for router_id in sorted({r for r, _ in homes}):
                row = await records.get_for_update(session, None, ROUTER, router_id)
                row.attrs = {**row.attrs, "interfaces": [
                    {**i, "home": homes.get((router_id, i["port_id"]), i.get("home"))}
                    for i in row.attrs.get("interfaces") or []]}

    @staticmethod
    def _gateway_region(state: _State, router: Resource) -> str | None:
        gw = router.attrs.get("external_gateway_info") or {}
        placed = state.placed.get(gw.get("network_id") or "", {})
        return next((r for r, pl in placed.items() if pl.local_id), None)

    async def fingerprint(self, project_id: str) -> set[str]:
        """What a run depends on that only the API changes: each router's revision
        and status, and where its interfaces' networks are. Something new here
        after a run is a change that came while it was under way."""
        state = await self._state(project_id)
        out = {f"{r.global_id}:{r.attrs.get('revision_number')}:{r.status}"
               for r in state.routers}
        out |= {f"{gid}@{region}" for gid, by in state.placed.items()
                for region, pl in by.items() if pl.local_id and gid in state.rows
                and state.rows[gid].type == NETWORK
                and state.rows[gid].project_id != records.CASCADE_PROJECT}
        return out

    # -- the run ----------------------------------------------------------

    async def converge(self, project_id: str) -> Outcome:
        """Make every region hold what the project's routers need.

        :raises RegionError: a region could not be asked; what the other regions
            needed is done, and running again finishes.
        """
        async with _one_run_per_project(self._sessions, project_id):
            return await self._converge(project_id)

    async def _converge(self, project_id: str) -> Outcome:
        out = Outcome()
        state = await self._state(project_id)
        desired = {r.global_id: self._regions_of(state, r) for r in state.routers}
        if state.homes:
            await self._remember_homes(state.homes)
        spanning = {r.global_id for r in state.routers if len(desired[r.global_id]) >= 2}
        bridge_regions = sorted({reg for gid in spanning for reg in desired[gid]})
        bridges: dict[str, asyncio.Future[tuple[str, str]]] = {}
        if spanning:
            async with self._sessions.begin() as session:
                await bridge.ensure(session, self._conf, project_id)
            state = await self._state(project_id)
            # Each region's bridge is made while its router copies are: a bridge
            # port waits only for the bridge of its own region.
            bridges = {region: asyncio.ensure_future(
                self._ensure_bridge(state, project_id, region)) for region in bridge_regions}
        first_error: BaseException | None = None
        try:
            for router in state.routers:
                out.routers += 1
                try:
                    await self._converge_router(state, router, desired[router.global_id],
                                                router.global_id in spanning, bridges, out)
                except errors.RegionError as exc:
                    LOG.warning("router %s not yet in step: %s", router.global_id,
                                exc.message)
                    out.failed[router.global_id] = exc.message
                    first_error = _graver(first_error, exc)
        except BaseException:
            for pending in bridges.values():
                pending.cancel()
            raise
        for result in await asyncio.gather(*bridges.values(), return_exceptions=True):
            if isinstance(result, BaseException):
                first_error = _graver(first_error, result)
        await self._release_ports(project_id, out)
        if not spanning and not first_error:
            await self._drop_bridge(project_id, out)
        if first_error is not None:
            raise first_error
        return out

    # -- one router --------------------------------------------------------

    async def _converge_router(self, state: _State, router: Resource,
                               wanted: dict[str, list[dict[str, str]]], spans: bool,
                               bridges: dict[str, asyncio.Future[tuple[str, str]]],
                               out: Outcome) -> None:
        """One router: each region's pipeline (copy; interfaces and bridge port;
        routes and gateway; removals) runs on its own, all regions at once, so a
        region that is quick is done without waiting for a slow one. Routes need
        only what is known beforehand: the bridge addresses are allocated first
        (a route's next hop is the remote copy's bridge address; the region checks
        only that it is on its own bridge subnet). A region that fails fails the
        router after the others are done."""
        bridge_ips: dict[str, str] = {}
        if spans:
            async with self._sessions.begin() as session:
                for region in sorted(wanted):
                    bridge_ips[region] = await bridge.port_address(
                        session, router.project_id, router.global_id, region)
        attached = {region: [Attached(i["subnet_id"], state.rows[i["subnet_id"]].attrs["cidr"])
                             for i in ifaces if i["subnet_id"] in state.rows]
                    for region, ifaces in wanted.items()}
        bridge_cidr = None
        found = state.rows.get(bridge.subnet_id(router.project_id))
        if spans and found is not None:
            bridge_cidr = str(found.attrs["cidr"])
        routes = topology.regional_routes(attached, bridge_ips,
                                          router.attrs.get("routes") or [], bridge_cidr)
        gw_region = self._gateway_region(state, router)

        async def pipeline(region: str) -> None:
            copy = await self._ensure_copy(state, router, region, out)
            # Each interface and the bridge port are independent: made at once.
            steps: list[Awaitable[Any]] = [self._ensure_interface(state, router, copy, i)
                                           for i in wanted[region]]
            if spans:
                steps.append(self._ensure_bridge_port(router, copy, bridges[region]))
            for result in await asyncio.gather(*steps, return_exceptions=True):
                if isinstance(result, BaseException):
                    raise result
            crash_point("router.interfaces_added")
            await self._apply(state, router, copy, routes[region], gw_region == region, out)
            crash_point("router.routes_set")
            keep = {i["port_id"] for i in wanted[region]}
            if spans:
                keep.add(bridge.port_id(router.global_id, region))
            await self._remove_extra(router, copy, keep)

        await _each(sorted(wanted), pipeline)
        stale = {r: pl for r, pl in state.placed.get(router.global_id, {}).items()
                 if r not in wanted}

        async def drop(region: str) -> None:
            await self._drop_copy(router, region, stale[region], out)

        await _each(sorted(stale), drop)
        if router.attrs.get("deleting"):
            async with self._sessions.begin() as session:
                left = await session.scalar(select(Placement.id).where(
                    Placement.global_id == router.global_id))
                if left is None:
                    await forget(session, router.global_id)

    async def _ensure_copy(self, state: _State, router: Resource, region: str,
                           out: Outcome) -> _Copy:
        local = state.local(router.global_id, region)
        made: dict[str, Any] | None = None
        if local is None:
            a = router.attrs
            local, made = await self._placer.create_copy(None, router, region, {
                "name": a.get("name", ""), "description": a.get("description", ""),
                "admin_state_up": a.get("admin_state_up", True),
                "tags": list(a.get("tags") or [])})
            crash_point("router.regional_created")
            await self._placer.record(ROUTER, router.global_id, region, local)
            state.placed.setdefault(router.global_id, {})
            out.created.append(f"{region}:{router.global_id}")
        if made is not None:  # made just now: as the region answered, nothing attached
            return _Copy(region, local, made, [])
        try:
            found = await self._client.get(None, region, "network",
                                           paths.build("v2.0", "routers", local))
        except errors.RegionHTTPError as exc:
            if exc.status != 404:
                raise
            # Deleted in the region directly: make it again on the next run.
            async with self._sessions.begin() as session:
                pl = await records.placement_in(session, router.global_id, region)
                if pl is not None:
                    await session.delete(pl)
            raise errors.ServiceUnavailable(
                f"router {router.global_id} was gone from {region}: made again next run"
            ) from exc
        ports = await self._client.get(None, region, "network", "/v2.0/ports",
                                       params={"device_id": local})
        return _Copy(region, local, dict(found.body["router"]),
                     list((ports.body or {}).get("ports") or []))

    def _attached_ids(self, copy: _Copy) -> dict[str, str]:
        """global id (by tag) -> regional id of the ports attached to the copy."""
        out = {}
        for port in copy.ports:
            gid = records.global_of_tag(port.get("tags") or [])
            if gid and self._placer.owner_tag in (port.get("tags") or []):
                out[gid] = str(port["id"])
        return out

    async def _attach(self, copy: _Copy, local_port: str) -> None:
        try:
            await self._client.request(None, copy.region, "network", "PUT",
                                       paths.build("v2.0", "routers", copy.local_id,
                                                   "add_router_interface"),
                                       json={"port_id": local_port})
        except errors.RegionHTTPError as exc:
            if exc.status != 409:
                raise
            LOG.info("port %s already attached in %s: %s", local_port, copy.region,
                     exc.message)

    async def _ensure_interface(self, state: _State, router: Resource, copy: _Copy,
                                iface: dict[str, str]) -> None:
        port = state.rows.get(iface["port_id"])
        if port is None or iface["port_id"] in self._attached_ids(copy):
            return
        local = state.local(port.global_id, copy.region)
        if local is None:
            net_local = state.local(iface["network_id"], copy.region)
            if net_local is None:
                return
            for sub in {ip["subnet_id"] for ip in port.attrs.get("fixed_ips") or []}:
                if state.local(sub, copy.region) is None:
                    await self._placer.ensure_subnet(None, sub, copy.region, net_local)
            fixed = await self._placer.regional_fixed_ips(
                list(port.attrs.get("fixed_ips") or []), copy.region, iface["network_id"])
            local = await self._placer._create(None, port, copy.region, {
                "network_id": net_local, "fixed_ips": fixed, "name": "",
                "mac_address": port.attrs["mac_address"], "tags": []})
            await self._placer.record(PORT, port.global_id, copy.region, local)
        await self._attach(copy, local)

    async def _ensure_bridge(self, state: _State, project_id: str,
                             region: str) -> tuple[str, str]:
        """The project's bridge network and subnet in ``region``: their regional ids."""
        net = state.rows[bridge.network_id(project_id)]
        sub = state.rows[bridge.subnet_id(project_id)]
        net_local = state.local(net.global_id, region)
        if net_local is None:
            a = net.attrs
            net_local = await self._placer._create(None, net, region, {
                "name": a["name"], "description": a["description"], "admin_state_up": True,
                "port_security_enabled": False, "tags": [],
                "provider:network_type": "vlan",
                "provider:physical_network": a["provider:physical_network"],
                "provider:segmentation_id": a["provider:segmentation_id"]})
            await self._placer.record(NETWORK, net.global_id, region, net_local)
        sub_local = state.local(sub.global_id, region)
        if sub_local is None:
            sub_local = await self._placer.ensure_subnet(None, sub.global_id, region, net_local)
        return net_local, sub_local

    async def _ensure_bridge_port(self, router: Resource, copy: _Copy,
                                  bridge_ready: asyncio.Future[tuple[str, str]]) -> str:
        """The copy's bridge address, its port made and attached if needed (once
        the region's bridge is there)."""
        gid = bridge.port_id(router.global_id, copy.region)
        async with self._sessions.begin() as session:
            address = await bridge.port_address(session, router.project_id,
                                                router.global_id, copy.region)
        if gid in self._attached_ids(copy):
            return address
        net_local, sub_local = await asyncio.shield(bridge_ready)
        async with self._sessions.begin() as session:
            row = await session.get(Resource, gid)
            if row is None:
                # Cascade's own port (no tenant sees it), so the audit knows its copy.
                session.add(Resource(
                    global_id=gid, type=PORT, project_id=records.CASCADE_PROJECT,
                    user_id=None, spec={}, status="ACTIVE", usage={}, attrs={
                        "name": "cascade-bridge",
                        "network_id": bridge.network_id(router.project_id),
                        "device_owner": ROUTER_INTERFACE, "device_id": router.global_id,
                        "fixed_ips": [{"subnet_id": bridge.subnet_id(router.project_id),
                                       "ip_address": address}],
                        bridge.BRIDGE_KEY: router.project_id, "tags": []}))
        shadow = Resource(global_id=gid, type=PORT, project_id=router.project_id, attrs={})
        local = await self._placer._create(None, shadow, copy.region, {
            "network_id": net_local, "name": "cascade-bridge", "tags": [],
            "mac_address": bridge.port_mac(gid),
            "fixed_ips": [{"subnet_id": sub_local, "ip_address": address}]})
        await self._placer.record(PORT, gid, copy.region, local)
        await self._attach(copy, local)
        return address

    async def _apply(self, state: _State, router: Resource, copy: _Copy,
                     routes: list[dict[str, str]], has_gateway: bool, out: Outcome) -> None:
        """Routes, gateway and attributes of one copy, when they differ."""
        a = router.attrs
        change: dict[str, Any] = {}
        have = {topology.route_key(r) for r in copy.router.get("routes") or []}
        if have != {topology.route_key(r) for r in routes}:
            change["routes"] = routes
        for key in ("name", "description", "admin_state_up"):
            if key in a and copy.router.get(key) != a[key]:
                change[key] = a[key]
        gw = a.get("external_gateway_info") or {}
        current = copy.router.get("external_gateway_info") or {}
        if has_gateway:
            ext_local = state.local(gw["network_id"], copy.region)
            if current.get("network_id") != ext_local or (
                    bool(current.get("enable_snat", True)) != bool(gw.get("enable_snat",
                                                                         True))):
                change["external_gateway_info"] = {"network_id": ext_local,
                                                   "enable_snat": gw.get("enable_snat", True)}
        elif current:
            change["external_gateway_info"] = {}
        if not change:
            await self._note_gateway(state, router, copy.router if has_gateway else None)
            return
        resp = await self._client.request(None, copy.region, "network", "PUT",
                                          paths.build("v2.0", "routers", copy.local_id),
                                          json={"router": change})
        if "routes" in change:
            out.routes_set.append(copy.region)
        body = (resp.body or {}).get("router") or {}
        await self._note_gateway(state, router, body if has_gateway else None)

    async def _note_gateway(self, state: _State, router: Resource,
                            regional: dict[str, Any] | None) -> None:
        """Keep the gateway's addresses (global subnet ids) in the router's row."""
        if regional is None:
            return
        ips = (regional.get("external_gateway_info") or {}).get("external_fixed_ips") or []
        region = self._gateway_region(state, router)
        to_global = {pl.local_id: gid for gid, by in state.placed.items()
                     for r, pl in by.items() if r == region and pl.local_id}
        shown = [{"subnet_id": to_global.get(ip.get("subnet_id"), ip.get("subnet_id")),
                  "ip_address": ip.get("ip_address")} for ip in ips]
        async with self._sessions.begin() as session:
            row = await session.get(Resource, router.global_id)
            gw = dict((row.attrs.get("external_gateway_info") or {}) if row else {})
            if row is not None and gw and gw.get("external_fixed_ips") != shown:
                row.attrs = {**row.attrs,
                             "external_gateway_info": {**gw, "external_fixed_ips": shown}}

    async def _remove_extra(self, router: Resource, copy: _Copy, keep: set[str]) -> None:
        """Detach (and delete) the interfaces Cascade made that are no longer wanted."""
        for gid, local in self._attached_ids(copy).items():
            if gid in keep:
                continue
            await self._detach(copy.region, copy.local_id, local)
            async with self._sessions.begin() as session:
                pl = await records.placement_in(session, gid, copy.region)
                if pl is not None:
                    await session.delete(pl)
                if gid == bridge.port_id(router.global_id, copy.region):
                    await forget(session, gid)

    async def _detach(self, region: str, router_local: str, port_local: str) -> None:
        try:
            await self._client.request(None, region, "network", "PUT",
                                       paths.build("v2.0", "routers", router_local,
                                                   "remove_router_interface"),
                                       json={"port_id": port_local})
        except errors.RegionHTTPError as exc:
            if exc.status not in (404, 400):
                raise
        await self._delete(region, paths.build("v2.0", "ports", port_local))

    async def _drop_copy(self, router: Resource, region: str, pl: Placement,
                         out: Outcome) -> None:
        """Remove a copy no longer wanted: routes, then interfaces, then the router."""
        if pl.local_id:
            try:
                await self._client.request(None, region, "network", "PUT",
                                           paths.build("v2.0", "routers", pl.local_id),
                                           json={"router": {"routes": [],
                                                            "external_gateway_info": {}}})
                ports = await self._client.get(None, region, "network", "/v2.0/ports",
                                               params={"device_id": pl.local_id})
                for port in (ports.body or {}).get("ports") or []:
                    if port.get("device_owner") in ROUTER_INTERFACE_OWNERS:
                        await self._detach(region, pl.local_id, str(port["id"]))
                        await self._unmap_port(region, str(port["id"]))
                crash_point("router.copy_detached")
                await self._client.delete(None, region, "network",
                                          paths.build("v2.0", "routers", pl.local_id))
            except errors.RegionHTTPError as exc:
                if exc.status != 404:
                    raise
        crash_point("router.copy_deleted")
        async with self._sessions.begin() as session:
            row = await session.get(Placement, pl.id)
            if row is not None:
                await session.delete(row)
        out.removed.append(f"{region}:{router.global_id}")

    async def _unmap_port(self, region: str, local: str) -> None:
        """Forget the placement of a regional port just deleted (a bridge port's row too)."""
        async with self._sessions.begin() as session:
            pl = (await session.scalars(select(Placement).where(
                Placement.region == region, Placement.local_id == local,
                Placement.resource_type == PORT))).first()
            if pl is None:
                return
            row = await session.get(Resource, pl.global_id)
            if row is not None and row.attrs.get(bridge.BRIDGE_KEY):
                await forget(session, pl.global_id)
            else:
                await session.delete(pl)

    # -- what no router needs any more ------------------------------------

    async def _release_ports(self, project_id: str, out: Outcome) -> None:
        """Forget interface ports whose interface was removed, once no region has them."""
        async with self._sessions() as session:
            ports = [p for p in (await session.scalars(select(Resource).where(
                Resource.type == PORT, Resource.project_id == project_id))).all()
                if p.attrs.get("released_by")]
            placed = await records.placements(session, [p.global_id for p in ports])
        for port in ports:
            for region, pl in placed[port.global_id].items():
                if pl.local_id:
                    await self._delete_port(region, pl.local_id)
            async with self._sessions.begin() as session:
                await forget(session, port.global_id)
            out.removed.append(f"port:{port.global_id}")

    async def _delete(self, region: str, path: str) -> None:
        """DELETE a regional object; one already gone counts as deleted."""
        try:
            await self._client.delete(None, region, "network", path)
        except errors.RegionHTTPError as exc:
            if exc.status != 404:
                raise

    async def _delete_port(self, region: str, local: str) -> None:
        """Delete a regional port, taking it off its router first if it is an
        interface (Neutron refuses to delete those directly)."""
        try:
            found = await self._client.get(None, region, "network",
                                           paths.build("v2.0", "ports", local))
        except errors.RegionHTTPError as exc:
            if exc.status == 404:
                return
            raise
        port = (found.body or {}).get("port") or {}
        if port.get("device_owner") in ROUTER_INTERFACE_OWNERS and port.get("device_id"):
            await self._detach(region, str(port["device_id"]), local)
            return
        await self._delete(region, paths.build("v2.0", "ports", local))

    async def _drop_bridge(self, project_id: str, out: Outcome) -> None:
        async with self._sessions() as session:
            found = await bridge.find(session, project_id)
            if found is None:
                return
            placed = await records.placements(session, [found[0].global_id])
        for region, pl in placed[found[0].global_id].items():
            if pl.local_id:
                await self._delete(region, paths.build("v2.0", "networks", pl.local_id))
        crash_point("router.bridge_deleted")
        async with self._sessions.begin() as session:
            await bridge.release(session, project_id)
        out.removed.append(f"bridge:{project_id}")
