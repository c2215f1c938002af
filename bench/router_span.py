"""Time from ``add_router_interface`` through Cascade until every region's routes
are complete, against the two real regions of the kit.

Needs the kit and a Cascade serving it (``devstack/lite/cascade up``). Each round
makes three networks (one in RegionOne, two in RegionTwo), puts each in its
region (a port created there), makes a router with the first interface, then
times the second ``add_router_interface`` until both regional copies hold their
route to the other region's subnet (the router spans the regions for the first
time: the bridge is made), and the third until RegionOne's copy routes to it
(a subnet joining a router that spans already). Routes are read every 10 ms from
each region's Neutron database (the kit's MariaDB, ``--db-url``), not its API:
polling the API that often kept each region's single Neutron process busy and
slowed the very calls being timed. Everything made is removed after each round.
openstacksdk and PyMySQL come from the kit's venv:

    ~/.cascade-regions/venv/bin/python bench/router_span.py --rounds 5
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openstack
import pymysql

CLOUDS = Path(os.environ.get("CASCADE_REGIONS_HOME", Path.home() / ".cascade-regions"))


#: The region's Neutron database in the kit (devstack/lite/regions).
DATABASES = {"RegionOne": "r1_neutron", "RegionTwo": "r2_neutron"}
_ROUTES = ("SELECT rr.destination FROM routerroutes rr"
           " JOIN routers r ON r.id = rr.router_id"
           " JOIN tags t ON t.standard_attr_id = r.standard_attr_id WHERE t.tag = %s")


def _routes_complete(dbs: dict[str, Any], router_id: str, want: dict[str, str]) -> bool:
    """Every region's copy holds the route it is waiting for."""
    for region, db in dbs.items():
        with db.cursor() as cur:
            cur.execute(_ROUTES, (f"cascade:{router_id}",))
            dests = {row[0] for row in cur.fetchall()}
        if want[region] not in dests:
            return False
    return True


def _wait(dbs: dict[str, Any], router_id: str, want: dict[str, str],
          start: float) -> float:
    while not _routes_complete(dbs, router_id, want):
        if time.perf_counter() - start > 60:
            raise RuntimeError("routes not complete within 60 s")
        time.sleep(0.01)
    return time.perf_counter() - start


def one_round(tenant: Any, dbs: dict[str, Any], n: int) -> tuple[float, float]:
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
        spanning = _wait(dbs, router.id, want, start)
        time.sleep(1.0)
        want = {"RegionOne": cidrs["third"], "RegionTwo": cidrs["RegionOne"]}
        start = time.perf_counter()
        tenant.network.add_interface_to_router(router, subnet_id=made["third"][1].id)
        return spanning, _wait(dbs, router.id, want, start)
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


def floor_round(tenants: dict[str, Any], admins: dict[str, Any], n: int) -> float:
    """The same first spanning step done straight to the two regions, with no
    Cascade: the fewest regional calls it needs, in the order Neutron accepts,
    both regions at once. RegionOne holds a router with net A's interface;
    RegionTwo holds net B. Timed: both regions' bridge network, subnet and port,
    RegionTwo's router with B's interface, both bridge interfaces and both
    routes. The regions' own cost, below which Cascade cannot go."""
    cidrs = {"RegionOne": f"10.{150 + n % 40}.1.0/24", "RegionTwo": f"10.{150 + n % 40}.2.0/24"}
    bridge_ips = {"RegionOne": "100.127.255.11", "RegionTwo": "100.127.255.12"}
    vlan = 1990 + n % 10
    made: dict[str, list[tuple[str, str]]] = {r: [] for r in tenants}
    routers: dict[str, str] = {}
    nets: dict[str, tuple[str, str]] = {}

    def post(conn: Any, region: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = conn.network.post(path, json=body)
        if resp.status_code >= 400:
            raise RuntimeError(f"{region} {path}: {resp.status_code} {resp.text}")
        obj = next(iter(resp.json().values()))
        made[region].append((path, obj["id"]))
        return dict(obj)

    def put(conn: Any, path: str, body: dict[str, Any]) -> None:
        resp = conn.network.put(path, json=body)
        if resp.status_code >= 400:
            raise RuntimeError(f"{path}: {resp.status_code} {resp.text}")

    for region, cidr in cidrs.items():  # not timed: what each region holds before
        t = tenants[region]
        net = post(t, region, "/networks", {"network": {"name": f"floor-{n}"}})
        sub = post(t, region, "/subnets", {"subnet": {"network_id": net["id"], "cidr": cidr,
                                                      "ip_version": 4}})
        nets[region] = (net["id"], sub["id"])
    routers["RegionOne"] = post(tenants["RegionOne"], "RegionOne", "/routers",
                                {"router": {"name": f"floor-{n}"}})["id"]
    put(tenants["RegionOne"], f"/routers/{routers['RegionOne']}/add_router_interface",
        {"subnet_id": nets["RegionOne"][1]})
    project = tenants["RegionOne"].current_project_id

    def region_work(region: str) -> None:
        t, a = tenants[region], admins[region]
        with ThreadPoolExecutor(2) as pool:
            def bridge() -> str:
                net = post(a, region, "/networks", {"network": {
                    "name": "floor-bridge", "provider:network_type": "vlan",
                    "provider:physical_network": "physnet1",
                    "provider:segmentation_id": vlan, "port_security_enabled": False}})
                sub = post(a, region, "/subnets", {"subnet": {
                    "network_id": net["id"], "cidr": "100.127.255.0/24", "ip_version": 4,
                    "gateway_ip": None}})
                return post(a, region, "/ports", {"port": {
                    "network_id": net["id"], "project_id": project,
                    "fixed_ips": [{"subnet_id": sub["id"],
                                   "ip_address": bridge_ips[region]}]}})["id"]

            def router() -> str:
                if region in routers:
                    return routers[region]
                rid = post(t, region, "/routers", {"router": {"name": f"floor-{n}"}})["id"]
                put(t, f"/routers/{rid}/add_router_interface", {"subnet_id": nets[region][1]})
                return rid
            port_f, router_f = pool.submit(bridge), pool.submit(router)
            rid = router_f.result()
            routers[region] = rid
            put(a, f"/routers/{rid}/add_router_interface", {"port_id": port_f.result()})
        other = "RegionTwo" if region == "RegionOne" else "RegionOne"
        put(a, f"/routers/{rid}", {"router": {"routes": [
            {"destination": cidrs[other], "nexthop": bridge_ips[other]}]}})

    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            for f in [pool.submit(region_work, r) for r in tenants]:
                f.result()
        return time.perf_counter() - start
    finally:
        for region in tenants:
            t, a = tenants[region], admins[region]
            rid = routers.get(region)
            if rid:
                a.network.put(f"/routers/{rid}", json={"router": {"routes": []}})
                for port in a.network.get(f"/ports?device_id={rid}").json()["ports"]:
                    a.network.put(f"/routers/{rid}/remove_router_interface",
                                  json={"port_id": port["id"]})
            for path, oid in reversed(made[region]):
                if path in ("/subnets",):
                    continue  # go with their networks
                a.network.delete(f"{path}/{oid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-user", default="root")
    parser.add_argument("--floor", action="store_true",
                        help="time the first spanning step straight to the regions instead")
    args = parser.parse_args()
    os.environ.setdefault("OS_CLIENT_CONFIG_FILE", str(CLOUDS / "clouds.yaml"))
    if args.floor:
        tenants = {r: openstack.connect(cloud="regions-demo", region_name=r) for r in DATABASES}
        admins = {r: openstack.connect(cloud="regions-admin", region_name=r) for r in DATABASES}
        times = [floor_round(tenants, admins, n) for n in range(args.rounds)]
        print(json.dumps({"regions": 2, "rounds": len(times), "straight_to_the_regions": True,
                          "first_spanning_s": {"min": round(min(times), 3),
                                               "median": round(statistics.median(times), 3),
                                               "max": round(max(times), 3)}}, indent=2))
        return
    tenant = openstack.connect(cloud="cascade-demo")
    dbs = {region: pymysql.connect(host=args.db_host, user=args.db_user, database=name,
                                   autocommit=True)
           for region, name in DATABASES.items()}
    rounds = [one_round(tenant, dbs, n) for n in range(args.rounds)]

    def summary(times: list[float]) -> dict[str, float]:
        return {"min": round(min(times), 3), "median": round(statistics.median(times), 3),
                "max": round(max(times), 3)}

    print(json.dumps({"regions": 2, "rounds": len(rounds),
                      "first_spanning_s": summary([r[0] for r in rounds]),
                      "subnet_joins_spanning_router_s": summary([r[1] for r in rounds])},
                     indent=2))


if __name__ == "__main__":
    main()
