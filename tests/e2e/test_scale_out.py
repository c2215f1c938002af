"""Cascade scaled out, against the two real regions: two cascade-api front doors (one
of them two gunicorn workers) and two cascade-sync processes on one PostgreSQL and
RabbitMQ. The real openstack CLI alternates front doors on every call, so each
read goes to another process than the write before it, and must see that write
at once (``cascade.coherence``)."""
from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tests.conftest import pg_url
from tests.e2e.conftest import (Cli, CascadeProcess, _free_port, _run_sql, answers,
                                cascade_conf, http, keystone_token, wait_for)

IMAGE = "cirros-0.6.2-x86_64-disk"


class Alternating:
    """The CLI, each call through the next front door in turn."""

    def __init__(self, doors: list[Cli]) -> None:
        self.doors = doors
        self.calls = 0

    def __call__(self, cloud: str, *args: str, check: bool = True) -> Any:
        door = self.doors[self.calls % len(self.doors)]
        self.calls += 1
        return door(cloud, *args, check=check)

    def json(self, cloud: str, *args: str) -> Any:
        return json.loads(self(cloud, *args, "-f", "json").stdout)


class ScaledOut:
    def __init__(self, cascade: CascadeProcess, urls: list[str], cli: Alternating) -> None:
        self.cascade = cascade
        self.urls = urls
        self.cli = cli

    def url(self, n: int) -> str:
        return self.urls[n % len(self.urls)]


def _clouds(regions_clouds: Path, url: str, dest: Path) -> Cli:
    clouds = yaml.safe_load(regions_clouds.read_text())
    for name, cloud in clouds["clouds"].items():
        if name.startswith("cascade-"):
            cloud["compute_endpoint_override"] = url + "/compute/v2.1"
            cloud["image_endpoint_override"] = url + "/image"
            cloud["network_endpoint_override"] = url + "/networking"
    dest.write_text(yaml.safe_dump(clouds))
    return Cli(dest)


@pytest.fixture(scope="module")
def scaled(regions_up: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaledOut]:
    work = tmp_path_factory.mktemp("cascade-scale")
    ports = [_free_port(), _free_port()]
    dbname = f"cascade_scale_{uuid.uuid4().hex[:10]}"
    _run_sql(f'CREATE DATABASE "{dbname}"')
    db_url = pg_url(dbname)
    conf_file = work / "cascade.conf"
    # Its own deployment name: no other Cascade on the kit adopts or audits its objects.
    # Regions are re-read only when told: no periodic refresh hides a missed notice.
    conf_file.write_text(cascade_conf(work, ports[0], db_url, "cascade-scale").replace(
        "region_probe_interval = 2", "region_probe_interval = 600"))
    door_a = work / "door-a.conf"
    door_a.write_text("[api]\nworkers = 2\n")
    door_b = work / "door-b.conf"
    door_b.write_text(f"[api]\nbind_port = {ports[1]}\n")
    cascade = CascadeProcess(f"http://127.0.0.1:{ports[0]}", db_url, conf_file, work)
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        synced = cascade.manage("db", "sync")
        assert synced.returncode == 0, synced.stdout + synced.stderr
        cascade.start("cascade-api", extra_conf=door_a, label="api-a")
        cascade.start("cascade-api", extra_conf=door_b, label="api-b")
        cascade.start("cascade-sync", label="sync-1")
        cascade.start("cascade-sync", label="sync-2")
        cascade.wait_up(urls, 120)
        adopted = cascade.manage("image", "adopt", "-f", "json")
        assert adopted.returncode == 0, adopted.stdout + adopted.stderr
        cli = Alternating([_clouds(regions_up, u, work / f"clouds-{n}.yaml")
                           for n, u in enumerate(urls)])
        yield ScaledOut(cascade, urls, cli)
    finally:
        cascade.stop_all()
        _run_sql(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _zones(cli: Alternating) -> dict[str, bool]:
    return {z["Zone Name"]: z["Zone Status"] == "available"
            for z in cli.json("cascade-admin", "availability", "zone", "list", "--compute")}


def test_region_changes_through_one_process_are_seen_by_the_next_call_to_another(
        scaled: ScaledOut) -> None:
    admin, _ = keystone_token("admin")
    cli = scaled.cli
    try:
        for n, change, check in (
                (0, {"enabled": False}, lambda z: "RegionTwo" not in z),
                (1, {"enabled": True}, lambda z: z.get("RegionTwo") is True),
                (2, {"availability_zone": "Two-b"},
                 lambda z: "Two-b" in z and "RegionTwo" not in z),
                (3, {"availability_zone": "RegionTwo"}, lambda z: "RegionTwo" in z)):
            status, body = http("PATCH", f"{scaled.url(n)}/v1/regions/RegionTwo", admin,
                                {"region": change})
            assert status == 200, body
            zones = _zones(cli)
            assert check(zones), (change, zones)
        # cascade-manage is a writer too: a drain is seen by both doors at once.
        drained = scaled.cascade.manage("region", "drain", "RegionTwo")
        assert drained.returncode in (0, 1), drained.stdout + drained.stderr
        assert "RegionTwo" not in _zones(cli)
        assert "RegionTwo" not in _zones(cli)
        enabled = scaled.cascade.manage("region", "enable", "RegionTwo")
        assert enabled.returncode == 0, enabled.stdout + enabled.stderr
        assert "RegionTwo" in _zones(cli)
        # A region added through one door is known to the other; removed, gone.
        status, body = http("POST", f"{scaled.url(0)}/v1/regions", admin, {"region": {
            "name": "RegionX", "availability_zone": "Xtra",
            "compute_endpoint": "http://127.0.0.1:9/compute/v2.1"}})
        assert status in (200, 201), body
        assert "Xtra" in _zones(cli)
        status, body = http("DELETE", f"{scaled.url(1)}/v1/regions/RegionX", admin)
        assert status == 204, body
        assert "Xtra" not in _zones(cli)
    finally:
        http("PATCH", f"{scaled.url(0)}/v1/regions/RegionTwo", admin,
             {"region": {"enabled": True, "availability_zone": "RegionTwo"}})
        http("DELETE", f"{scaled.url(0)}/v1/regions/RegionX", admin)


def test_weights_changed_through_one_process_steer_the_next_create_on_another(
        scaled: ScaledOut) -> None:
    admin, _ = keystone_token("admin")
    cli = scaled.cli
    made = []
    try:
        # RegionTwo made the heavier: the default choice (by name) would be RegionOne.
        for n, heavy in enumerate(("RegionTwo",)):
            for region, weight in (("RegionOne", 1), ("RegionTwo", 1)):
                http("PATCH", f"{scaled.url(0)}/v1/regions/{region}", admin,
                     {"region": {"weight": 100 if region == heavy else weight}})
            # A project with no servers yet: only the weights choose.
            server = scaled.cli.json("cascade-alt", "server", "create", "--flavor", "m1.nano",
                                     "--image", IMAGE, "--nic", "none",
                                     f"w-{n}-{secrets.token_hex(2)}")
            made.append(server["id"])
            shown = cli.json("cascade-alt", "server", "show", server["id"])
            assert shown["OS-EXT-AZ:availability_zone"] == heavy
            cli("cascade-alt", "server", "delete", "--wait", server["id"])
            made.remove(server["id"])
            # Deleted through one door: the other says so at once.
            gone = cli("cascade-alt", "server", "show", server["id"], check=False)
            assert gone.returncode != 0 and "No Server found" in gone.stderr, gone.stderr
            assert server["id"] not in {s["ID"] for s in cli.json("cascade-alt", "server",
                                                                  "list")}
    finally:
        for region in ("RegionOne", "RegionTwo"):
            http("PATCH", f"{scaled.url(0)}/v1/regions/{region}", admin,
                 {"region": {"weight": 1}})
        for server_id in made:
            cli("cascade-alt", "server", "delete", server_id, check=False)


def test_a_flavor_made_through_one_process_boots_through_another(scaled: ScaledOut) -> None:
    cli = scaled.cli
    name = f"scale-{secrets.token_hex(3)}"
    # The other door has just listed the regions' flavors (and remembers them).
    warm = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano", "--image",
                    IMAGE, "--nic", "none", "--wait", f"warm-{name}")
    flavor = cli.json("cascade-admin", "flavor", "create", "--ram", "64", "--vcpus", "1",
                      "--disk", "1", name)
    try:
        server = cli.json("cascade-demo", "server", "create", "--flavor", name, "--image",
                          IMAGE, "--nic", "none", "--wait", f"f-{name}")
        assert server["status"] == "ACTIVE"
        cli("cascade-demo", "server", "delete", "--wait", server["id"])
    finally:
        cli("cascade-demo", "server", "delete", "--wait", warm["id"], check=False)
        cli("cascade-admin", "flavor", "delete", flavor["id"], check=False)
    gone = cli("cascade-admin", "flavor", "show", flavor["id"], check=False)
    assert gone.returncode != 0


def test_keypairs_and_quotas_set_through_one_process_hold_on_another(
        scaled: ScaledOut) -> None:
    cli = scaled.cli
    _, project = keystone_token("alt_demo")
    name = f"kp-{secrets.token_hex(3)}"
    cli("cascade-alt", "keypair", "create", name)
    assert cli.json("cascade-alt", "keypair", "show", name)["name"] == name
    cli("cascade-alt", "keypair", "delete", name)
    assert cli("cascade-alt", "keypair", "show", name, check=False).returncode != 0
    try:
        cli("cascade-admin", "quota", "set", "--key-pairs", "0", "--networks", "0", project)
        refused = cli("cascade-alt", "keypair", "create", f"{name}-2", check=False)
        assert refused.returncode != 0 and "Quota exceeded" in refused.stderr, refused.stderr
        refused = cli("cascade-alt", "network", "create", f"{name}-net", check=False)
        assert refused.returncode != 0 and "Quota exceeded" in refused.stderr, refused.stderr
        quotas = {r["Resource"]: r["Limit"]
                  for r in cli.json("cascade-admin", "quota", "show", project)}
        assert quotas["key-pairs"] == 0 and quotas["networks"] == 0, quotas
    finally:
        cli("cascade-admin", "quota", "set", "--key-pairs", "100", "--networks", "100",
            project)


def test_image_changes_through_one_process_are_seen_through_another(
        scaled: ScaledOut, tmp_path: Path) -> None:
    cli = scaled.cli
    data = tmp_path / "img.raw"
    data.write_bytes(secrets.token_bytes(64 * 1024))
    name = f"scale-img-{secrets.token_hex(3)}"
    image = cli.json("cascade-demo", "image", "create", "--disk-format", "raw",
                     "--container-format", "bare", "--file", str(data), name)
    try:
        assert cli.json("cascade-demo", "image", "show", image["id"])["status"] == "active"
        cli("cascade-demo", "image", "set", "--name", f"{name}-b", image["id"])
        assert cli.json("cascade-demo", "image", "show", image["id"])["name"] == f"{name}-b"
        cli("cascade-demo", "image", "set", "--shared", image["id"])
        _, alt = keystone_token("alt_demo")
        cli("cascade-demo", "image", "add", "project", image["id"], alt)
        cli("cascade-alt", "image", "set", "--accept", image["id"])
        assert image["id"] in {i["ID"] for i in cli.json("cascade-alt", "image", "list")}
        cli("cascade-demo", "image", "remove", "project", image["id"], alt)
        assert cli("cascade-alt", "image", "show", image["id"], check=False).returncode != 0
    finally:
        cli("cascade-demo", "image", "delete", image["id"], check=False)
    assert cli("cascade-demo", "image", "show", image["id"], check=False).returncode != 0


def test_network_port_and_security_group_changes_are_seen_through_another(
        scaled: ScaledOut) -> None:
    cli = scaled.cli
    tag = secrets.token_hex(3)
    net = cli.json("cascade-demo", "network", "create", f"sn-{tag}")
    try:
        assert cli.json("cascade-demo", "network", "show", net["id"])["name"] == f"sn-{tag}"
        cli("cascade-demo", "network", "set", "--name", f"sn2-{tag}", net["id"])
        assert cli.json("cascade-demo", "network", "show", net["id"])["name"] == f"sn2-{tag}"
        cli.json("cascade-demo", "subnet", "create", "--network", net["id"], "--subnet-range",
                 "10.77.0.0/24", f"ss-{tag}")
        port = cli.json("cascade-demo", "port", "create", "--network", net["id"], f"sp-{tag}")
        cli("cascade-demo", "port", "set", "--name", f"sp2-{tag}", port["id"])
        assert cli.json("cascade-demo", "port", "show", port["id"])["name"] == f"sp2-{tag}"
        group = cli.json("cascade-demo", "security", "group", "create", f"sg-{tag}")
        rule = cli.json("cascade-demo", "security", "group", "rule", "create", "--protocol",
                        "tcp", "--dst-port", "22", group["id"])
        rules = cli.json("cascade-demo", "security", "group", "rule", "list", group["id"])
        assert rule["id"] in {r["ID"] for r in rules}
        cli("cascade-demo", "security", "group", "delete", group["id"])
        assert cli("cascade-demo", "security", "group", "show", group["id"],
                   check=False).returncode != 0
        cli("cascade-demo", "port", "delete", port["id"])
        assert cli("cascade-demo", "port", "show", port["id"], check=False).returncode != 0
    finally:
        cli("cascade-demo", "network", "delete", net["id"], check=False)
    assert cli("cascade-demo", "network", "show", net["id"], check=False).returncode != 0


def test_both_doors_served_and_every_process_is_still_up(scaled: ScaledOut) -> None:
    """The calls above really went through both doors, and nothing died doing it."""
    assert scaled.cli.calls > 20
    for label, proc in scaled.cascade.procs.items():
        assert proc.poll() is None, f"{label} died:\n{scaled.cascade.logs()}"
    wait_for("both doors answer", lambda: all(answers(u) for u in scaled.urls), timeout=10)
