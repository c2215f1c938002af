"""Drift audit: compare each region's objects with Cascade's placements, in linear time.

Per region and type, the region's objects are listed once (as Cascade) and
indexed by regional id and by the global id Cascade tagged them with; the
placements are indexed the same way; then one walk over each side decides:

- a placement still *creating* whose tagged object exists: **adopted** (the
  crash came between the regional create and the mapping write);
- a placement *creating* with nothing in the region, no job in flight and
  older than the grace period: the create never happened; a server the
  tenant was never answered for is **removed**, one shown in ERROR keeps its
  row with the placement in *error*;
- a placement whose regional object is gone: **missing** (deleted in the
  region directly), or, when Cascade was deleting it, **finalised**;
- a tagged object no placement maps, older than the grace period: an
  **orphan**, deleted (younger ones are creates in flight: reported only);
- untagged objects are **foreign**: counted, never touched; so is a tagged
  object of another project than the one Cascade recorded for that global id
  (somebody who reaches the region can copy a tag, not a project): never
  adopted, never deleted, reported as ``orphan_foreign``.

Nothing is decided for a region that cannot be listed: an unreachable region
is reported, never treated as empty. Quota reservations of dead processes are
released and usage recounted at the end, so the ledger is exact.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Sequence

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.db.models import Job, JobState, Placement, PlacementState, Resource
from cascade.networks import records as net_records
from cascade.networks import router_jobs
from cascade.networks.reachability import check_project, projects_with_routers
from cascade.quota import ledger
from cascade.regions.client import RegionClient
from cascade.mapping.rewrite import GLOBAL_ID_KEY, OWNER_KEY
from cascade.quota.forget import forget
from cascade.sync.reconcile import MISSING
from cascade.regions import paths

__all__ = ["Finding", "Report", "audit", "TYPES"]

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Finding:
    action: str  # adopted | removed | error | missing | finalised | orphan |
    #              orphan_deleted | orphan_young | orphan_foreign | unreachable
    type: str
    region: str
    global_id: str | None
    local_id: str | None
    detail: str = ""


@dataclasses.dataclass
class Report:
    findings: list[Finding] = dataclasses.field(default_factory=list)
    foreign: dict[str, int] = dataclasses.field(default_factory=dict)
    quota_corrections: int = 0
    #: Projects whose routers were queued for a converge (routes, interfaces, bridge).
    routers_queued: int = 0

    @property
    def drift(self) -> list[Finding]:
        """What this deployment must act on (not other deployments' objects, nor
        creates still within the grace period)."""
        return [f for f in self.findings
                if f.action not in ("unreachable", "orphan_foreign", "orphan_young")]

    @property
    def unreachable(self) -> list[str]:
        return sorted({f.region for f in self.findings if f.action == "unreachable"})


@dataclasses.dataclass(frozen=True, slots=True)
class Regional:
    """One object as a region lists it."""

    local_id: str
    global_id: str | None  # Cascade's tag, if any
    created: dt.datetime | None
    owner: str | None = None  # the deployment that made it
    project: str | None = None  # the project that owns it in the region


def _time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


Lister = Callable[[RegionClient, str], Awaitable[list[Regional]]]


async def _paged(client: RegionClient, region: str, service: str, path: str, key: str,
                 params: dict[str, str], keep: Callable[[dict[str, Any]], Regional],
                 page: int = 1000) -> list[Regional]:
    """Every object of a paged list, as ``keep`` makes it of each page's items: a
    page's documents are dropped once read, so memory holds what the walk needs
    (a region of 100,000 servers listed as documents would hold about 0.5 GiB)."""
    out: list[Regional] = []
    marker = None
    while True:
        query = dict(params, limit=str(page), **({"marker": marker} if marker else {}))
        body = (await client.get(None, region, service, path, params=query)).body or {}
        items = list(body.get(key) or [])
        out += [keep(item) for item in items]
        if len(items) < page:
            return out
        marker = str(items[-1]["id"])


def _server(s: dict[str, Any]) -> Regional:
    metadata = s.get("metadata") or {}
    return Regional(str(s["id"]), metadata.get(GLOBAL_ID_KEY), _time(s.get("created")),
                    metadata.get(OWNER_KEY), s.get("tenant_id") or s.get("project_id"))


async def _servers(client: RegionClient, region: str) -> list[Regional]:
    return await _paged(client, region, "compute", "/servers/detail", "servers",
                        {"all_tenants": "1"}, _server)


def _image(i: dict[str, Any]) -> Regional:
    return Regional(str(i["id"]), i.get(GLOBAL_ID_KEY), _time(i.get("created_at")),
                    i.get(OWNER_KEY), i.get("owner"))


async def _images(client: RegionClient, region: str) -> list[Regional]:
    return await _paged(client, region, "image", "/v2/images", "images", {}, _image)


def _network_object(o: dict[str, Any]) -> Regional:
    tags = o.get("tags") or []
    return Regional(str(o["id"]), net_records.global_of_tag(tags), _time(o.get("created_at")),
                    net_records.owner_of_tags(tags), o.get("project_id") or o.get("tenant_id"))


def _neutron(collection: str, path: str) -> Lister:
    async def lister(client: RegionClient, region: str) -> list[Regional]:
        return await _paged(client, region, "network", path, collection, {},
                            _network_object)
    return lister


#: type -> (lister, regional path for deletes, service)
TYPES: dict[str, tuple[Lister, str, str]] = {
    "server": (_servers, "/servers", "compute"),
    "image": (_images, "/v2/images", "image"),
    # Neutron's dependants first: a router holds interface ports, ports hold networks.
    "floatingip": (_neutron("floatingips", "/v2.0/floatingips"), "/v2.0/floatingips",
                   "network"),
    "router": (_neutron("routers", "/v2.0/routers"), "/v2.0/routers", "network"),
    "port": (_neutron("ports", "/v2.0/ports"), "/v2.0/ports", "network"),
    "network": (_neutron("networks", "/v2.0/networks"), "/v2.0/networks", "network"),
    "security_group": (_neutron("security_groups", "/v2.0/security-groups"),
                       "/v2.0/security-groups", "network"),
}


async def _in_flight(session: AsyncSession) -> set[str]:
    """Global ids active jobs work on (their placements are not the audit's)."""
    payloads = (await session.scalars(select(Job.payload).where(
        Job.state.in_(JobState.ACTIVE)))).all()
    return {str(p[k]) for p in payloads for k in ("server_id", "image_id") if p.get(k)}


async def _audit_one(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                     region: str, type_: str, *, grace: float, repair: bool,
                     report: Report, owner: str) -> None:
    lister, path, service = TYPES[type_]
    try:
        regional = await lister(client, region)
    except errors.RegionError as exc:
        report.findings.append(Finding("unreachable", type_, region, None, None, exc.message))
        return
    now = dt.datetime.now(dt.timezone.utc)
    report.foreign[type_] = report.foreign.get(type_, 0) + sum(
        1 for r in regional if not r.global_id)
    rows, busy, projects = await _mapped(sessions, region, type_, regional)
    walk = _Walk(sessions, client, region, type_, repair=repair, report=report, owner=owner,
                 old_enough=now - dt.timedelta(seconds=grace), regional=regional,
                 rows=rows, busy=busy, projects=projects)
    for pl, status, _ in rows:
        await walk.placement(pl, status)
    for obj in regional:
        await walk.regional_object(obj, path, service)


if TYPE_CHECKING:
    #: A placement of the audited region and type, with its resource's status and project.
    _Row = Row[Placement, str, str]


async def _mapped(sessions: async_sessionmaker[AsyncSession], region: str, type_: str,
                  regional: list[Regional]
                  ) -> tuple[Sequence[_Row], set[str], dict[str, str]]:
    """What Cascade maps in ``region``: the placements, the global ids jobs work on,
    and the project of every global id the region's objects carry or a placement maps."""
    async with sessions() as session:
        rows = (await session.execute(
            select(Placement, Resource.status, Resource.project_id).join(
                Resource, Resource.global_id == Placement.global_id)
            .where(Placement.resource_type == type_, Placement.region == region))).all()
        busy = await _in_flight(session)
        tagged = {r.global_id for r in regional if r.global_id} - {
            pl.global_id for pl, _, _ in rows}
        projects = dict((await session.execute(
            select(Resource.global_id, Resource.project_id)
            .where(Resource.global_id.in_(tagged)))).all()) if tagged else {}
    for pl, _, project in rows:
        projects[pl.global_id] = project
    return rows, busy, projects


class _Walk:
    """One region and type: both sides indexed, one walk over each deciding (and
    with ``repair``, resolving) what drifted."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                 region: str, type_: str, *, repair: bool, report: Report, owner: str,
                 old_enough: dt.datetime, regional: list[Regional], rows: Sequence[_Row],
                 busy: set[str], projects: dict[str, str]) -> None:
        self._sessions = sessions
        self._client = client
        self._region = region
        self._type = type_
        self._repair = repair
        self._report = report
        self._owner = owner
        self._old_enough = old_enough
        self._busy = busy
        self._projects = projects
        self._by_local = {r.local_id: r for r in regional}
        self._by_global = {r.global_id: r for r in regional if r.global_id}
        self._mapped_globals = {pl.global_id for pl, _, _ in rows}
        self._mapped_locals = {pl.local_id for pl, _, _ in rows if pl.local_id}
        self._adoptable = {pl.global_id for pl, _, _ in rows if pl.local_id is None}

    def _note(self, action: str, gid: str | None, local: str | None,
              detail: str = "") -> None:
        self._report.findings.append(Finding(action, self._type, self._region, gid, local,
                                             detail))

    async def placement(self, pl: Placement, status: str) -> None:
        """One placement: its regional object adopted, missing, or gone for good."""
        created = pl.created_at if pl.created_at.tzinfo else pl.created_at.replace(
            tzinfo=dt.timezone.utc)
        if pl.local_id is None:
            await self._unplaced(pl, status, created)
            return
        if pl.state == MISSING:
            if pl.local_id not in self._by_local:
                self._note("missing", pl.global_id, pl.local_id,
                           "gone from the region (marked)")
            return
        if pl.local_id in self._by_local:
            return
        if pl.state == PlacementState.DELETING:
            self._note("finalised", pl.global_id, pl.local_id)
            if self._repair:
                async with self._sessions.begin() as session:
                    await forget(session, pl.global_id)
            return
        if pl.global_id in self._busy or created > self._old_enough:
            return
        self._note("missing", pl.global_id, pl.local_id, "gone from the region")
        if self._repair:
            await self._set(pl, state=MISSING)

    async def _unplaced(self, pl: Placement, status: str, created: dt.datetime) -> None:
        """A placement without a regional id: its tagged object adopted, or the create
        that never reached the region put in error or removed."""
        if pl.state not in (PlacementState.CREATING, PlacementState.ERROR):
            return
        found = self._by_global.get(pl.global_id)
        if (found is not None and found.local_id not in self._mapped_locals
                and found.project == self._projects.get(pl.global_id)):
            self._note("adopted", pl.global_id, found.local_id)
            if self._repair:
                await self._set(pl, local_id=found.local_id, state=PlacementState.ACTIVE)
            return
        if (pl.state == PlacementState.ERROR or pl.global_id in self._busy
                or created > self._old_enough):
            return
        if self._type == "server" and status == "ERROR":
            self._note("error", pl.global_id, None, "create never reached the region")
            if self._repair:
                await self._set(pl, state=PlacementState.ERROR)
            return
        self._note("removed", pl.global_id, None, "create never reached the region")
        if self._repair:
            async with self._sessions.begin() as session:
                if self._type in ("server", "port"):
                    await forget(session, pl.global_id)
                else:
                    # Images, networks and groups live on without this copy.
                    row = await session.get(Placement, pl.id)
                    if row is not None:
                        await session.delete(row)

    async def _set(self, pl: Placement, **values: Any) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(Placement).where(Placement.id == pl.id)
                                  .values(**values))

    async def regional_object(self, obj: Regional, path: str, service: str) -> None:
        """One object the region lists: mapped, foreign, young, or an orphan (deleted
        with ``repair`` through ``service`` at ``path``)."""
        if not obj.global_id or obj.local_id in self._mapped_locals:
            return
        known = self._projects.get(obj.global_id)
        if known is not None and obj.project != known:
            self._note("orphan_foreign", obj.global_id, obj.local_id,
                       f"carries the tag of a {self._type} of another project ({obj.project})")
            return
        if obj.global_id in self._adoptable and self._by_global[obj.global_id] is obj:
            return  # the copy a creating placement adopts (above)
        if obj.global_id in self._mapped_globals and obj.global_id in self._busy:
            return
        if obj.created is not None and obj.created > self._old_enough:
            self._note("orphan_young", obj.global_id, obj.local_id,
                       "younger than the grace period")
            return
        if obj.global_id in self._busy:
            return
        if obj.owner != self._owner:
            # Another deployment's (or an object from before owners were written):
            # reported, never deleted.
            self._note("orphan_foreign", obj.global_id, obj.local_id,
                       f"tagged by Cascade deployment {obj.owner or '(unnamed)'}")
            return
        self._note("orphan_deleted" if self._repair else "orphan", obj.global_id,
                   obj.local_id, "tagged by Cascade, mapped by nothing")
        if self._repair:
            try:
                if self._type == "router":
                    await _empty_router(self._client, self._region, obj.local_id)
                elif self._type == "port":
                    await _detach_port(self._client, self._region, obj.local_id)
                await self._client.request(None, self._region, service, "DELETE",
                                           f"{path}/{obj.local_id}")
            except errors.RegionHTTPError as exc:
                if exc.status != 404:
                    LOG.warning("audit: could not delete orphan %s in %s: %s",
                                obj.local_id, self._region, exc.message)
            except paths.UnsafePath:
                # A regional value (a port's device_id) that cannot be a path
                # segment: nothing is sent, the orphan is left to an operator.
                LOG.warning("audit: orphan %s in %s names an id that is no path segment",
                            obj.local_id, self._region)


async def _empty_router(client: RegionClient, region: str, local: str) -> None:
    """Clear an orphan router's routes and gateway and remove its interfaces, so
    Neutron lets it be deleted (it refuses a router that still has ports)."""
    await client.request(None, region, "network", "PUT", paths.build("v2.0", "routers", local),
                         json={"router": {"routes": [], "external_gateway_info": {}}})
    ports = (await client.get(None, region, "network", "/v2.0/ports",
                              params={"device_id": local})).body or {}
    for port in ports.get("ports") or []:
        if port.get("device_owner") in router_jobs.ROUTER_INTERFACE_OWNERS:
            await client.request(None, region, "network", "PUT",
                                 paths.build("v2.0", "routers", local, "remove_router_interface"),
                                 json={"port_id": port["id"]})


async def _detach_port(client: RegionClient, region: str, local: str) -> None:
    """An orphan port that is a router's interface is removed from the router first
    (Neutron refuses to delete it directly)."""
    port = ((await client.get(None, region, "network", paths.build("v2.0", "ports", local))).body
            or {}).get("port") or {}
    if port.get("device_owner") in router_jobs.ROUTER_INTERFACE_OWNERS \
            and port.get("device_id"):
        await client.request(None, region, "network", "PUT",
                             paths.build("v2.0", "routers", port["device_id"],
                                         "remove_router_interface"),
                             json={"port_id": local})


#: Projects whose routers the audit checks at once (each reads its copies).
_ROUTER_CHECKS = 8


async def audit(sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                regions: Iterable[str], *, types: Iterable[str] = tuple(TYPES),
                grace: float = 300.0, repair: bool = True,
                owner: str = "cascade") -> Report:
    """Audit (and with ``repair``, resolve) every region and type; the report."""
    report = Report()
    regions, types = list(regions), tuple(types)
    for region in regions:
        for type_ in types:
            await _audit_one(sessions, client, region, type_, grace=grace, repair=repair,
                             report=report, owner=owner)
    wanted = set(regions)
    if "router" in types:
        # What a region's routers hold (interfaces, bridge ports, routes) is
        # checked for reachability, reported, and repaired by the converge of
        # each project that has routers.
        async with sessions() as session:
            projects = await projects_with_routers(session)
        gate = asyncio.Semaphore(_ROUTER_CHECKS)

        async def check(project_id: str) -> None:
            async with gate:
                try:
                    found = await check_project(sessions, client, project_id, wanted)
                except Exception:  # noqa: BLE001 - one project's check never stops the audit
                    LOG.exception("audit: the routers of %s could not be checked", project_id)
                    return
            for router_id, region, why in found.problems():
                report.findings.append(Finding("drift", "router", region, router_id,
                                               None, why))

        await asyncio.gather(*(check(p) for p in projects))
        if repair:
            async with sessions.begin() as session:
                for project_id in projects:
                    await router_jobs.queue(session, project_id)
                    report.routers_queued += 1
    if repair:
        async with sessions.begin() as session:
            await ledger.expire(session)
        async with sessions.begin() as session:
            report.quota_corrections = len(await ledger.recount(session))
    for finding in report.findings:
        LOG.info("audit: %s %s %s in %s (%s) %s", finding.action, finding.type,
                 finding.global_id, finding.region, finding.local_id, finding.detail)
    return report
