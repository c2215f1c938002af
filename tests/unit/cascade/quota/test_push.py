"""Regional limit push: the formula (remaining global headroom + regional usage, with
-1 and 0 kept), and pushing it over HTTP to stub regions with Cascade's credentials,
skipping regions that are down or fail (SQLite and PostgreSQL for the ledger)."""
from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import config
from cascade.db.models import HealthState
from cascade.quota import ledger, push, resources
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionInfo, RegionRegistry

DEFAULTS = resources.defaults(config.load([]))


@pytest.mark.parametrize(("limit", "used_globally", "used_here", "expected"), [
    (10, 4, 1, 7),    # 6 left globally, plus the 1 the region already has
    (10, 4, 0, 6),
    (10, 10, 3, 3),   # nothing left: the region keeps what it has, no more
    (10, 15, 5, 5),   # over the limit (lowered by an admin): never below the usage
    (-1, 50, 7, -1),  # unlimited stays unlimited, never "remaining" of -1
    (-5, 0, 0, -1),
    (0, 0, 0, 0),     # zero stays zero (Kingbird read 0 as "no limit")
    (0, 3, 3, 0),
    (1, 0, 0, 1),
    (5, -2, -1, 5),   # nonsense negative counts are read as 0
])
def test_regional_limit(limit: int, used_globally: int, used_here: int,
                        expected: int) -> None:
    assert push.regional_limit(limit, used_globally, used_here) == expected


def test_regional_limits_split_the_headroom_without_exceeding_the_global_limit() -> None:
    limits = {**DEFAULTS, "instances": 10, "cores": -1, "ram": 0, "metadata_items": 9}
    held = {"instances": (3, 1)}  # Cascade: 3 in use, 1 create in flight
    regional = {"R1": {"instances": 2}, "R2": {"instances": 3}}  # R2 has one made directly
    out = push.regional_limits(limits, held, regional, "compute")
    # Globally used: max(ledger 3, regions 5) + 1 reserved = 6, so 4 left.
    assert (out["R1"]["instances"], out["R2"]["instances"]) == (6, 7)
    assert out["R1"]["cores"] == -1 and out["R1"]["ram"] == 0
    assert out["R1"]["metadata_items"] == 9, "per-server limits are pushed unchanged"
    assert set(out["R1"]) == {"cores", "instances", "key_pairs", "ram", "server_groups",
                              "metadata_items", "server_group_members"}
    # Whichever region the 4 left are used in directly, the total stays within 10
    # (several regions used at once can each take them until the next push).
    for region in out:
        assert 6 + out[region]["instances"] - regional[region]["instances"] == 10
    net = push.regional_limits(limits, {}, {"R1": {}}, "network")
    assert net == {"R1": {n: DEFAULTS[n] for n in push.PUSHED["network"][0]}}


class StubRegion:
    """Nova's os-quota-sets and Neutron's quotas, in memory."""

    def __init__(self, usage: dict[str, int], fail: bool = False) -> None:
        self.usage = usage
        self.fail = fail
        self.puts: list[tuple[str, str, dict[str, Any], str | None]] = []

    def app(self) -> web.Application:
        async def compute_detail(request: web.Request) -> web.Response:
            if self.fail:
                return web.json_response({"computeFault": {"code": 500, "message": "boom"}},
                                         status=500)
            return web.json_response({"quota_set": {
                n: {"in_use": self.usage.get(n, 0), "limit": 1, "reserved": 0}
                for n in ("instances", "cores", "ram")} | {"id": "p"}})

        async def network_detail(request: web.Request) -> web.Response:
            return web.json_response({"quota": {
                n: {"used": self.usage.get(n, 0), "limit": 1, "reserved": 0}
                for n in ("network", "port")}})

        async def put(request: web.Request) -> web.Response:
            service = "compute" if "os-quota-sets" in request.path else "network"
            self.puts.append((service, request.match_info["p"], await request.json(),
                              request.headers.get("X-Auth-Token")))
            return web.json_response({})

        app = web.Application()
        app.router.add_get("/compute/v2.1/os-quota-sets/{p}/detail", compute_detail)
        app.router.add_put("/compute/v2.1/os-quota-sets/{p}", put)
        app.router.add_get("/network/v2.0/quotas/{p}/details", network_detail)
        app.router.add_put("/network/v2.0/quotas/{p}", put)
        return app


@pytest.fixture
def sessions(db_sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    return db_sessions


async def test_push_sets_each_usable_regions_limits(
        aiohttp_server: Any, sessions: async_sessionmaker[AsyncSession]) -> None:
    stubs = {"R1": StubRegion({"instances": 2, "network": 1}),
             "R2": StubRegion({"instances": 1}),
             "R3": StubRegion({}, fail=True),
             "R4": StubRegion({})}
    infos = []
    for name, stub in stubs.items():
        base = str((await aiohttp_server(stub.app())).make_url("")).rstrip("/")
        infos.append(RegionInfo(name=name, availability_zone=name,
                                health=HealthState.DOWN if name == "R4" else HealthState.UP,
                                overrides={"compute": f"{base}/compute/v2.1",
                                           "network": f"{base}/network"}))
    async with sessions.begin() as s:
        await ledger.set_limits(s, "p", {"instances": 5, "network": 0, "port": -1})
        await ledger.charge(s, "p", {"instances": 3}, defaults=DEFAULTS)
    client = RegionClient(config.load([]), RegionRegistry(infos))
    async with aiohttp.ClientSession() as http:
        client.attach(http, None)
        failures = await push.push_project(sessions, client, RegionRegistry(infos), "p",
                                           DEFAULTS, timeout=5)
    assert len(failures) == 1 and failures[0].startswith("R3 compute"), failures
    assert stubs["R4"].puts == [], "a region marked down is not touched"
    (r3_network,) = stubs["R3"].puts
    assert r3_network[0] == "network", "R3's compute failed; its network still pushed"
    puts = {(name, service): body for name, stub in stubs.items()
            for service, _, body, _ in stub.puts}
    # instances: max(ledger 3, regions 2 + 1 + 0) = 3 used of 5: 2 left.
    assert puts["R1", "compute"]["quota_set"]["instances"] == 4
    assert puts["R2", "compute"]["quota_set"]["instances"] == 3
    assert puts["R1", "compute"]["quota_set"]["force"] is True
    assert puts["R1", "network"]["quota"]["network"] == 0
    assert puts["R1", "network"]["quota"]["port"] == -1
    assert puts["R2", "network"]["quota"]["subnet"] == 100
    assert ("R3", "compute") not in puts, "no usage read, no new limit"
