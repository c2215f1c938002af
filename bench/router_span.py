"""Time from ``add_router_interface`` through Cascade until every region's routes
are complete, against the two real regions of the kit.

Needs the kit and a Cascade serving it (``devstack/lite/cascade up``). Each round
makes three networks (one in RegionOne, two in RegionTwo), puts each in its
region (a port created there), makes a router with the first interface, then
times the second ``add_router_interface`` until both regional copies hold their
route to the other region's subnet (the router spans the regions for the first
time: the bridge is made), and the third until RegionOne's copy routes to it
(a subnet joining a router that spans already). Routes are read from each
region's Neutron as its admin, every 20 ms. Everything made is removed after
each round. openstacksdk comes from the kit's venv:

    ~/.cascade-regions/venv/bin/python bench/router_span.py --rounds 5
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import openstack

CLOUDS = Path(os.environ.get("CASCADE_REGIONS_HOME", Path.home() / ".cascade-regions"))


def _routes_complete(admins: dict[str, Any], router_id: str, want: dict[str, str]) -> bool:
    """Every region's copy holds the route it is waiting for."""
    for region, conn in admins.items():
        found = list(conn.network.routers(tags=[f"cascade:{router_id}"]))
        if not found:
            return False
        dests = {r["destination"] for r in found[0].routes or []}
        if want[region] not in dests:
            return False
    return True


def _wait(admins: dict[str, Any], router_id: str, want: dict[str, str],
          start: float) -> float:
    while not _routes_complete(admins, router_id, want):
        if time.perf_counter() - start > 60:
            raise RuntimeError("routes not complete within 60 s")
        time.sleep(0.02)
    return time.perf_counter() - start


def one_round(tenant: Any, admins: dict[str, Any], n: int) -> tuple[float, float]:
    """(seconds until routes complete when the router first spans the two regions,
    seconds when a third subnet joins a router that spans them already)."""
    made: dict[str, Any] = {}
    cidrs = {"RegionOne": f"10.{200 + n % 50}.1.0/24", "RegionTwo": f"10.{200 + n % 50}.2.0/24",
             "third": f"10.{200 + n % 50}.3.0/24"}
    try:
        for region, cidr in cidrs.items():
            where = "RegionTwo" if region == "third" else region
            net = tenant.network.create_network(name=f"bench-{region}-{n}",
                                                availability_zone_hints=[where])
            sub = tenant.network.create_subnet(network_id=net.id, ip_version=4, cidr=cidr)
            port = tenant.network.create_port(network_id=net.id,
                                              binding_profile={"cascade_region": where})
            made[region] = (net, sub, port)
        router = tenant.network.create_router(name=f"bench-{n}")
        made["router"] = router
        tenant.network.add_interface_to_router(router, subnet_id=made["RegionOne"][1].id)
        time.sleep(1.0)  # the first copy settles; the measure is the spanning step
        want = {"RegionOne": cidrs["RegionTwo"], "RegionTwo": cidrs["RegionOne"]}
        start = time.perf_counter()
        tenant.network.add_interface_to_router(router, subnet_id=made["RegionTwo"][1].id)
        spanning = _wait(admins, router.id, want, start)
        time.sleep(1.0)
        want = {"RegionOne": cidrs["third"], "RegionTwo": cidrs["RegionOne"]}
        start = time.perf_counter()
        tenant.network.add_interface_to_router(router, subnet_id=made["third"][1].id)
        return spanning, _wait(admins, router.id, want, start)
    finally:
        router = made.get("router")
        if router is not None:
            for region in ("RegionOne", "RegionTwo", "third"):
                if region in made:
                    tenant.network.remove_interface_from_router(
                        router, subnet_id=made[region][1].id)
            tenant.network.delete_router(router)
        for region in ("RegionOne", "RegionTwo", "third"):
            if region in made:
                net, _sub, port = made[region]
                tenant.network.delete_port(port)
                tenant.network.delete_network(net)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("OS_CLIENT_CONFIG_FILE", str(CLOUDS / "clouds.yaml"))
    tenant = openstack.connect(cloud="cascade-demo")
    admins = {r: openstack.connect(cloud="regions-admin", region_name=r)
              for r in ("RegionOne", "RegionTwo")}
    rounds = [one_round(tenant, admins, n) for n in range(args.rounds)]

    def summary(times: list[float]) -> dict[str, float]:
        return {"min": round(min(times), 3), "median": round(statistics.median(times), 3),
                "max": round(max(times), 3)}

    print(json.dumps({"regions": 2, "rounds": len(rounds),
                      "first_spanning_s": summary([r[0] for r in rounds]),
                      "subnet_joins_spanning_router_s": summary([r[1] for r in rounds])},
                     indent=2))


if __name__ == "__main__":
    main()
