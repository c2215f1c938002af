"""Crash cascade-api or cascade-sync (SIGKILL) at ten points of server create, server
delete, port placement and image replication, against the two real regions; after a
restart and one audit there are no orphans in the regions, no dangling mappings, and
quota usage is exact.

This Cascade runs on its own database under its own deployment name, so the audit
never touches what the other end-to-end Cascade (or a developer's) made in the
shared regions.
"""
from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from cascade.crashpoints import POINTS
from tests.conftest import pg_url
from tests.e2e.conftest import (CascadeProcess, Cli, _free_port, _run_sql, keystone_token,
                                wait_for)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

KEYSTONE = "http://127.0.0.1:25000/v3"
IMAGE = "8a1a2f3e-6c1d-4f6b-9a55-2f0e7d1c0a01"  # cirros, seeded in both regions
OWNER = "cascade-faults"


def _auth(project: str) -> tuple[str, str]:
    """(token, project id) for a kit account (user named as its project)."""
    return keystone_token(project)


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def __call__(self, method: str, path: str, body: Any = None, *,
                 data: bytes | None = None) -> tuple[int, Any]:
        """(status, body); status 0 when the process died before answering."""
        headers = {"X-Auth-Token": self.token, "OpenStack-API-Version": "compute 2.96"}
        if data is not None:
            headers["Content-Type"] = "application/octet-stream"
        elif body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw and raw[:1] in b"{[" else None
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except (urllib.error.URLError, ConnectionError, OSError):
            return 0, None


@pytest.fixture(scope="module")
def faulty(regions_up: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[CascadeProcess]:
    work = tmp_path_factory.mktemp("cascade-faults")
    port = _free_port()
    dbname = f"cascade_faults_{uuid.uuid4().hex[:10]}"
    _run_sql(f'CREATE DATABASE "{dbname}"')
    conf = work / "cascade.conf"
    conf.write_text(f"""[DEFAULT]
state_path = {work}
regions = RegionOne,RegionTwo
cascade_id = {OWNER}
debug = true
transport_url = rabbit://guest:guest@127.0.0.1:5672/

[api]
bind_port = {port}
# One process: a crash point ends it, and the test sees it end.
workers = 1
region_timeout = 30
public_url = http://127.0.0.1:{port}

[database]
connection = {pg_url(dbname)}

[sync]
delete_sweep_interval = 1
region_probe_interval = 2
job_lease_seconds = 6
reconcile_interval = 2
audit_interval = 3600
notification_pool = cascade-faults-{uuid.uuid4().hex[:8]}

[quota]
reservation_expire = 3

[image]
default_store = RegionOne
progress_every_mib = 1

[region_RegionOne]
notification_transport_url = rabbit://guest:guest@127.0.0.1:5672/cascade-r1

[region_RegionTwo]
notification_transport_url = rabbit://guest:guest@127.0.0.1:5672/cascade-r2

[service_credentials]
password = secret

[keystone_authtoken]
www_authenticate_uri = {KEYSTONE}
auth_url = {KEYSTONE}
auth_type = password
username = cascade
password = secret
project_name = service
user_domain_name = Default
project_domain_name = Default
""")
    cascade = CascadeProcess(f"http://127.0.0.1:{port}", pg_url(dbname), conf, work)
    try:
        synced = cascade.manage("db", "sync")
        assert synced.returncode == 0, synced.stdout + synced.stderr
        _start(cascade, "cascade-api")
        _start(cascade, "cascade-sync")
        adopted = cascade.manage("image", "adopt")
        assert adopted.returncode == 0, adopted.stdout + adopted.stderr
        yield cascade
    finally:
        cascade.stop_all()
        _run_sql(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _start(cascade: CascadeProcess, name: str, crash_at: str | None = None) -> None:
    cascade.start(name, env={"CASCADE_CRASH_AT": crash_at} if crash_at else None)
    if name == "cascade-api":
        def up() -> bool:
            try:
                urllib.request.urlopen(f"{cascade.url}/compute/v2.1/", timeout=2).read()
                return True
            except OSError:
                assert name in cascade.procs and cascade.procs[name].poll() is None, \
                    cascade.logs()
                return False
        wait_for("cascade-api", up, 60)
    else:
        time.sleep(2)


def _crash_in(cascade: CascadeProcess, name: str, point: str) -> None:
    """Restart ``name`` armed to die at ``point``."""
    cascade.procs[name].terminate()
    cascade.procs.pop(name).wait(20)
    _start(cascade, name, crash_at=point)


def _died_and_restarted(cascade: CascadeProcess, name: str) -> None:
    assert cascade.died(name, 120), f"{name} did not reach its crash point\n{cascade.logs()}"
    _start(cascade, name)


def _audit_is_clean(cascade: CascadeProcess, api: Api, project: str) -> dict[str, Any]:
    """One audit that repairs, then a verify that must find nothing; quota exact."""
    time.sleep(3.5)  # past [quota] reservation_expire: a dead process's hold is gone
    fixed = cascade.manage("mapping", "adopt", "--grace", "0", "-f", "json")
    assert fixed.returncode in (0, 1), fixed.stdout + fixed.stderr
    verified = cascade.manage("mapping", "verify", "--grace", "0", "-f", "json")
    assert verified.returncode == 0, (
        f"drift left after the audit:\n{verified.stdout}\nadopt said:\n{fixed.stdout}")
    status, servers = api("GET", "/compute/v2.1/servers/detail")
    assert status == 200, servers
    _, quota = api("GET", f"/compute/v2.1/os-quota-sets/{project}/detail")
    instances = quota["quota_set"]["instances"]
    assert instances["reserved"] == 0
    assert instances["in_use"] == len(servers["servers"]), (instances, servers)
    return dict(json.loads(fixed.stdout))


def _boot(api: Api, name: str, zone: str = "RegionOne") -> tuple[int, Any]:
    return api("POST", "/compute/v2.1/servers", {"server": {
        "name": name, "flavorRef": "42", "imageRef": IMAGE, "networks": "none",
        "availability_zone": zone}})


def _names(api: Api) -> dict[str, dict[str, Any]]:
    _, servers = api("GET", "/compute/v2.1/servers/detail")
    return {s["name"]: s for s in servers["servers"]}


def _regional_servers(cli: Cli, region: str, global_id: str | None = None
                      ) -> list[dict[str, Any]]:
    found = cli.json("regions-admin", "server", "list", "--all-projects", "--long",
                     region=region)
    mine = []
    for s in found:
        detail = cli.json("regions-admin", "server", "show", s["ID"], region=region)
        props = detail.get("properties") or {}
        if props.get("cascade_owner") == OWNER and (
                global_id is None or props.get("cascade_global_id") == global_id):
            mine.append(detail)
    return mine


def test_crash_at_every_point_leaves_nothing_the_audit_cannot_resolve(
        faulty: CascadeProcess, cli: Cli) -> None:
    token, project = _auth("demo")
    api = Api(faulty.url, token)
    admin = Api(faulty.url, _auth("admin")[0])  # copy-image is for admins (Glance's policy)
    tag = secrets.token_hex(3)
    assert len(POINTS) >= 10

    # -- server create -----------------------------------------------------
    for point, survives in (("server_create.reserved", False),
                            ("server_create.mapped", False),
                            ("server_create.regional_created", True)):
        _crash_in(faulty, "cascade-api", point)
        name = f"crash-{point.split('.')[1]}-{tag}"
        status, _ = _boot(api, name)
        assert status == 0, f"{point}: the API answered {status} instead of dying"
        _died_and_restarted(faulty, "cascade-api")
        _audit_is_clean(faulty, api, project)
        listed = _names(api)
        assert (name in listed) is survives, (point, sorted(listed))
        if survives:
            gid = listed[name]["id"]
            wait_for("adopted server ACTIVE", lambda: api(
                "GET", f"/compute/v2.1/servers/{gid}")[1]["server"]["status"] == "ACTIVE")
            assert len(_regional_servers(cli, "RegionOne", gid)) == 1

    # -- server delete -----------------------------------------------------
    for point in ("server_delete.marked", "server_delete.regional_deleted"):
        name = f"del-{point.split('.')[1]}-{tag}"
        status, made = _boot(api, name)
        assert status == 202, made
        gid = made["server"]["id"]
        wait_for("server ACTIVE", lambda: api(
            "GET", f"/compute/v2.1/servers/{gid}")[1]["server"]["status"] == "ACTIVE")
        _crash_in(faulty, "cascade-api", point)
        status, _ = api("DELETE", f"/compute/v2.1/servers/{gid}")
        assert status == 0, f"{point}: the API answered {status} instead of dying"
        _died_and_restarted(faulty, "cascade-api")
        # The delete sweep (cascade-sync) finishes what the crash interrupted.
        wait_for("delete finished", lambda: api("GET", f"/compute/v2.1/servers/{gid}")[0]
              == 404, 180)
        assert _regional_servers(cli, "RegionOne", gid) == []
        _audit_is_clean(faulty, api, project)

    # -- a port placed at once (network instantiated first) ------------------
    status, net = api("POST", "/networking/v2.0/networks",
                      {"network": {"name": f"crash-net-{tag}"}})
    assert status == 201, net
    net_id = net["network"]["id"]
    status, sub = api("POST", "/networking/v2.0/subnets", {"subnet": {
        "network_id": net_id, "cidr": "10.88.0.0/24", "ip_version": 4}})
    assert status == 201, sub
    for point in ("network.regional_created", "port.regional_created"):
        _crash_in(faulty, "cascade-api", point)
        status, _ = api("POST", "/networking/v2.0/ports", {"port": {
            "network_id": net_id, "name": f"crash-{tag}",
            "binding:profile": {"cascade_region": "RegionOne"}}})
        assert status == 0, f"{point}: the API answered {status} instead of dying"
        _died_and_restarted(faulty, "cascade-api")
        _audit_is_clean(faulty, api, project)
    _, ports = api("GET", f"/networking/v2.0/ports?network_id={net_id}")
    # The first crash lost its port (never created); the second was adopted.
    assert len(ports["ports"]) == 1 and ports["ports"][0]["fixed_ips"], ports
    regional_nets = cli.json("regions-admin", "network", "list", "--tags",
                             f"cascade:{net_id}", region="RegionOne")
    assert len(regional_nets) == 1, regional_nets

    # -- image replication (cascade-sync) ------------------------------------
    data = os.urandom(3 << 20)
    for point in ("replication.target_created", "replication.mid_copy",
                  "replication.copied"):
        status, image = api("POST", "/image/v2/images", {
            "name": f"crash-{point.split('.')[1]}-{tag}", "disk_format": "raw",
            "container_format": "bare"})
        assert status == 201, image
        image_id = image["id"]
        assert api("PUT", f"/image/v2/images/{image_id}/file", data=data)[0] == 204
        _crash_in(faulty, "cascade-sync", point)
        status, _ = admin("POST", f"/image/v2/images/{image_id}/import", {
            "method": {"name": "copy-image"}, "stores": ["RegionTwo"]})
        assert status == 202
        _died_and_restarted(faulty, "cascade-sync")
        wait_for("replica after the crash", lambda: "RegionTwo" in (api(
            "GET", f"/image/v2/images/{image_id}")[1].get("stores") or ""), 180)
        copies = cli.json("regions-admin", "image", "list", "--property",
                          f"cascade_global_id={image_id}", region="RegionTwo")
        assert len(copies) == 1 and copies[0]["Status"] == "active", copies
        _audit_is_clean(faulty, api, project)
        assert api("DELETE", f"/image/v2/images/{image_id}")[0] == 204

    # -- clean up what the test made ----------------------------------------
    for server in _names(api).values():
        api("DELETE", f"/compute/v2.1/servers/{server['id']}")
    for port in ports["ports"]:
        api("DELETE", f"/networking/v2.0/ports/{port['id']}")
    wait_for("servers gone", lambda: not _names(api), 180)
    wait_for("network deleted", lambda: api("DELETE", f"/networking/v2.0/networks/{net_id}")[0]
          in (204, 404), 60)
    _audit_is_clean(faulty, api, project)


def _network_check(cascade: CascadeProcess, project: str) -> int:
    return cascade.manage("network", "check", project).returncode


def _bridges(cli: Cli, project: str) -> list[str]:
    """Regions that hold the project's bridge network."""
    return [r for r in ("RegionOne", "RegionTwo")
            if cli.json("regions-admin", "network", "list", "--name",
                        f"cascade-bridge-{project}", region=r)]


def test_a_crash_at_any_router_step_is_finished_by_a_restart_and_one_audit(
        faulty: CascadeProcess, cli: Cli) -> None:
    """Adding: a crash at each step of the first spanning converge (the sync
    process). Removing: the router stops spanning (its RegionTwo interface goes,
    done at once in the API process), with a crash at each step of dropping the
    RegionTwo copy and the bridge. A restart and one audit finish each."""
    token, project = _auth("alt_demo")
    api = Api(faulty.url, token)
    for n, (point, removal) in enumerate((
            ("router.regional_created", "router.copy_detached"),
            ("router.interfaces_added", "router.copy_deleted"),
            ("router.routes_set", "router.bridge_deleted"))):
        tag = secrets.token_hex(3)
        subnets, ports, nets = {}, [], []
        for zone, cidr in (("RegionOne", f"10.9{n}.1.0/24"),
                           ("RegionTwo", f"10.9{n}.2.0/24")):
            _, net = api("POST", "/networking/v2.0/networks",
                         {"network": {"name": f"crash-{zone}-{tag}"}})
            nets.append(net["network"]["id"])
            _, sub = api("POST", "/networking/v2.0/subnets", {"subnet": {
                "network_id": nets[-1], "cidr": cidr, "ip_version": 4}})
            subnets[zone] = sub["subnet"]["id"]
            status, port = api("POST", "/networking/v2.0/ports", {"port": {
                "network_id": nets[-1], "binding:profile": {"cascade_region": zone}}})
            assert status == 201, port
            ports.append(port["port"]["id"])
        _, router = api("POST", "/networking/v2.0/routers", {"router": {"name": f"c-{tag}"}})
        rid = router["router"]["id"]
        api("PUT", f"/networking/v2.0/routers/{rid}/add_router_interface",
            {"subnet_id": subnets["RegionOne"]})
        _crash_in(faulty, "cascade-sync", point)
        status, _ = api("PUT", f"/networking/v2.0/routers/{rid}/add_router_interface",
                        {"subnet_id": subnets["RegionTwo"]})
        assert status == 200
        _died_and_restarted(faulty, "cascade-sync")
        # The job's lease lapses and the restarted process finishes it.
        wait_for(f"routes complete after a crash at {point}",
                 lambda: _network_check(faulty, project) == 0, timeout=180, interval=2)
        report = _audit_is_clean(faulty, api, project)
        checked = faulty.manage("network", "check", project)
        assert checked.returncode == 0, (point, checked.stdout, report)
        assert _bridges(cli, project) == ["RegionOne", "RegionTwo"]
        _crash_in(faulty, "cascade-api", removal)
        status, _ = api("PUT", f"/networking/v2.0/routers/{rid}/remove_router_interface",
                        {"subnet_id": subnets["RegionTwo"]})
        assert status == 0, f"the API did not die at {removal}"
        _died_and_restarted(faulty, "cascade-api")

        def let_go() -> bool:
            copies = {r for r in ("RegionOne", "RegionTwo") if cli.json(
                "regions-admin", "router", "list", "--tags", f"cascade:{rid}", region=r)}
            return copies == {"RegionOne"} and _bridges(cli, project) == []

        wait_for(f"RegionTwo's copy and the bridge gone after a crash at {removal}",
                 let_go, timeout=180, interval=2)
        report = _audit_is_clean(faulty, api, project)
        checked = faulty.manage("network", "check", project)
        assert checked.returncode == 0, (removal, checked.stdout, report)
        for sub in subnets.values():
            api("PUT", f"/networking/v2.0/routers/{rid}/remove_router_interface",
                {"subnet_id": sub})
        assert api("DELETE", f"/networking/v2.0/routers/{rid}")[0] == 204
        for port in ports:
            api("DELETE", f"/networking/v2.0/ports/{port}")

        def copies_gone() -> bool:
            return all(not cli.json("regions-admin", "router", "list", "--tags",
                                    f"cascade:{rid}", region=r)
                       for r in ("RegionOne", "RegionTwo"))

        wait_for("router copies removed", copies_gone, timeout=120, interval=2)
        for net in nets:
            assert api("DELETE", f"/networking/v2.0/networks/{net}")[0] == 204


def test_a_crash_after_a_floating_ip_is_made_leaves_it_adopted(
        faulty: CascadeProcess, cli: Cli) -> None:
    token, project = _auth("alt_demo")
    api = Api(faulty.url, token)
    _, nets = api("GET", "/networking/v2.0/networks?router:external=true")
    ext = next(n["id"] for n in nets["networks"] if n["availability_zones"] == ["RegionOne"])
    _crash_in(faulty, "cascade-api", "floatingip.regional_created")
    status, _ = api("POST", "/networking/v2.0/floatingips",
                    {"floatingip": {"floating_network_id": ext}})
    assert status == 0
    _died_and_restarted(faulty, "cascade-api")
    report = _audit_is_clean(faulty, api, project)
    assert any(f["type"] == "floatingip" and f["action"] == "adopted"
               for f in report["findings"]), report
    _, listed = api("GET", "/networking/v2.0/floatingips")
    [fip] = [f for f in listed["floatingips"] if f["floating_network_id"] == ext] or [None]
    assert fip is not None, listed
    assert api("DELETE", f"/networking/v2.0/floatingips/{fip['id']}")[0] == 204
    _, quota = api("GET", f"/networking/v2.0/quotas/{project}/details")
    assert quota["quota"]["floatingip"]["used"] == 0
