"""``network check``'s verdict from what the regions hold (a canned reader stands in
for the regions here; tests/e2e/test_cli_routers.py and the router crash test
check the real ones): a router whose copies route to each other is routable, and
one whose interface no region holds is not, even though no pair can show it."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.db.models import PlacementState, Region, Resource
from cascade.mapping import store
from cascade.networks import reachability
from cascade.networks.records import NETWORK, ROUTER, SUBNET

pytestmark = pytest.mark.asyncio
PROJECT = "p1"


class _Regions:
    """Each region's Neutron as ``_copy`` reads it: routers, ports, subnets, networks."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.down: set[str] = set()
        self.gone: set[tuple[str, str]] = set()

    def add(self, region: str, kind: str, **obj: Any) -> None:
        self.objects.setdefault(region, {}).setdefault(kind, []).append(obj)

    async def get(self, _caller: Any, region: str, _service: str, path: str,
                  params: Any = None) -> Any:
        if region in self.down:
            raise errors.RegionUnavailable(region, f"{region} is down")
        if (region, path) in self.gone:
            raise errors.RegionHTTPError(region, 404, None, "Router could not be found.")
        kind = path.strip("/").split("/")[1]
        items = self.objects.get(region, {}).get(kind, [])
        parts = path.strip("/").split("/")
        if len(parts) == 3:
            body: Any = {kind[:-1]: next(o for o in items if o["id"] == parts[2])}
        else:
            wanted = dict(params) if isinstance(params, dict) else {}
            ids = {v for k, v in params or [] if k == "id"} if isinstance(params, list) else None
            body = {kind: [o for o in items if (ids is None or o["id"] in ids)
                           and all(o.get(k) == v for k, v in wanted.items())]}
        return type("Answer", (), {"body": body})()


async def _row(session: AsyncSession, type_: str, attrs: dict[str, Any]) -> str:
    gid = str(uuid.uuid4())
    session.add(Resource(global_id=gid, type=type_, project_id=PROJECT, user_id=None,
                         spec={}, status="ACTIVE", usage={}, attrs=attrs))
    await session.flush()
    return gid


async def _place(session: AsyncSession, gid: str, type_: str, region: str, local: str) -> None:
    await store.ensure_placement(session, global_id=gid, type_=type_, region=region,
                                 local_id=local, state=PlacementState.ACTIVE)


def _spanning_router_in_both_regions(regions: _Regions) -> None:
    """Each region: a copy with the tenant's subnet and a bridge port; routes to the
    other's subnet through the other's bridge address."""
    for region, cidr, other, mine, theirs in (
            ("R1", "10.1.0.0/24", "10.2.0.0/24", "100.64.0.2", "100.64.0.3"),
            ("R2", "10.2.0.0/24", "10.1.0.0/24", "100.64.0.3", "100.64.0.2")):
        regions.add(region, "routers", id=f"rt-{region}", routes=[
            {"destination": other, "nexthop": theirs}])
        regions.add(region, "ports", id=f"p-{region}", device_id=f"rt-{region}",
                    device_owner="network:router_interface", network_id=f"n-{region}",
                    name="", fixed_ips=[{"subnet_id": f"s-{region}", "ip_address": "x"}])
        regions.add(region, "ports", id=f"b-{region}", device_id=f"rt-{region}",
                    device_owner="network:router_interface", network_id=f"bn-{region}",
                    name="cascade-bridge",
                    fixed_ips=[{"subnet_id": f"bs-{region}", "ip_address": mine}])
        regions.add(region, "subnets", id=f"s-{region}", cidr=cidr)
        regions.add(region, "subnets", id=f"bs-{region}", cidr="100.64.0.0/24")
        regions.add(region, "networks", id=f"n-{region}")
        regions.add(region, "networks", id=f"bn-{region}", **{
            "provider:network_type": "vlan", "provider:physical_network": "physnet1",
            "provider:segmentation_id": 1000})


@pytest.fixture
def regions() -> _Regions:
    """Two regions whose copies of the router route to each other."""
    found = _Regions()
    _spanning_router_in_both_regions(found)
    return found


async def _rows(sessions: async_sessionmaker[AsyncSession], copies: tuple[str, ...],
                **router: Any) -> str:
    """A router with interfaces on a subnet in R1 and one in R2; copies in ``copies``."""
    async with sessions.begin() as session:
        session.add_all([Region(name=r, availability_zone=r) for r in ("R1", "R2")])
        await session.flush()
        ifaces = []
        for region, cidr in (("R1", "10.1.0.0/24"), ("R2", "10.2.0.0/24")):
            net = await _row(session, NETWORK, {"name": region})
            sub = await _row(session, SUBNET, {"network_id": net, "cidr": cidr})
            await _place(session, net, NETWORK, region, f"n-{region}")
            await _place(session, sub, SUBNET, region, f"s-{region}")
            ifaces.append({"subnet_id": sub, "network_id": net, "port_id": str(uuid.uuid4())})
        router = await _row(session, ROUTER, {"interfaces": ifaces, **router})
        for region in copies:
            await _place(session, router, ROUTER, region, f"rt-{region}")
    return router


async def test_copies_routing_to_each_other_are_routable_both_ways(
        db_sessions: async_sessionmaker[AsyncSession], regions: _Regions) -> None:
    await _rows(db_sessions, ("R1", "R2"))
    check = await reachability.check_project(db_sessions, regions, PROJECT)  # type: ignore[arg-type]
    assert check.routable, check.as_dict()
    assert {(p.source, p.target) for p in check.pairs} == {
        ("10.1.0.0/24@R1", "10.2.0.0/24@R2"), ("10.2.0.0/24@R2", "10.1.0.0/24@R1")}


async def test_a_copy_never_made_is_missing_not_passed_over(
        db_sessions: async_sessionmaker[AsyncSession], regions: _Regions) -> None:
    router = await _rows(db_sessions, ("R1",))  # R2's copy was never made
    check = await reachability.check_project(db_sessions, regions, PROJECT)  # type: ignore[arg-type]
    assert not check.routable
    (missing,) = check.as_dict()["missing"]
    assert "10.2.0.0/24" in missing and router in missing and "R2" in missing


async def test_an_interface_removed_in_the_region_is_missing(
        db_sessions: async_sessionmaker[AsyncSession], regions: _Regions) -> None:
    regions.objects["R2"]["ports"] = [p for p in regions.objects["R2"]["ports"]
                                      if p["id"] != "p-R2"]
    await _rows(db_sessions, ("R1", "R2"))
    check = await reachability.check_project(db_sessions, regions, PROJECT)  # type: ignore[arg-type]
    assert not check.routable
    assert any("10.2.0.0/24" in m and "no regional copy" in m
               for m in check.as_dict()["missing"])


async def test_a_region_that_cannot_be_read_concludes_nothing_for_it(
        db_sessions: async_sessionmaker[AsyncSession], regions: _Regions) -> None:
    regions.down.add("R2")
    await _rows(db_sessions, ("R1", "R2"))
    check = await reachability.check_project(db_sessions, regions, PROJECT)  # type: ignore[arg-type]
    assert not check.routable
    assert [u.split(":")[0] for u in check.unreachable] == ["R2"]
    assert check.unattached == []  # R2's subnet is not called missing: R2 was not read


async def test_a_copy_deleted_in_its_region_is_missing_not_unreachable(
        db_sessions: async_sessionmaker[AsyncSession], regions: _Regions) -> None:
    regions.gone.add(("R2", "/v2.0/routers/rt-R2"))
    await _rows(db_sessions, ("R1", "R2"))
    check = await reachability.check_project(db_sessions, regions, PROJECT)  # type: ignore[arg-type]
    assert check.unreachable == [] and not check.routable
    assert [region for _router, region, _why in check.unattached] == ["R2"]


async def test_an_interface_outside_the_routers_zone_hints_is_not_expected(
        db_sessions: async_sessionmaker[AsyncSession], regions: _Regions) -> None:
    """A router hinted to R1's zone is local to R1: its interface on a network in
    R2 alone is never attached, by design, and not reported as missing."""
    regions.objects["R1"]["routers"][0]["routes"] = []
    await _rows(db_sessions, ("R1",), availability_zone_hints=["R1"])
    check = await reachability.check_project(db_sessions, regions, PROJECT)  # type: ignore[arg-type]
    assert check.routable, check.as_dict()


async def test_only_the_regions_asked_for_are_read(
        db_sessions: async_sessionmaker[AsyncSession], regions: _Regions) -> None:
    regions.down.add("R2")
    await _rows(db_sessions, ("R1", "R2"))
    check = await reachability.check_project(db_sessions, regions, PROJECT,  # type: ignore[arg-type]
                                             ["R1"])
    assert check.unreachable == []
