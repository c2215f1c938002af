"""A tenant who also reaches the real regions directly plants objects there
before the victim's operation: the victim's operation succeeds on objects of
its own, and the planted ones are left as they were (never written, adopted
or deleted by Cascade)."""
from __future__ import annotations

import json
from pathlib import Path
import pytest

from tests.e2e.conftest import CascadeProcess, Cli
from tests.e2e.test_cli_images import _glance, _wait
from tests.e2e.test_cli_servers import _placement

pytestmark = pytest.mark.e2e


def _project_of(cli: Cli, cloud: str) -> str:
    return str(cli.json(cloud, "token", "issue")["project_id"])


def test_an_image_planted_with_the_victims_id_is_never_filled(
        cli: Cli, cascade: CascadeProcess, tmp_path: Path) -> None:
    (tmp_path / "disk.raw").write_bytes(b"victim-private-data" * 50_000)
    image_id = cli.json("cascade-demo", "image", "create", "--disk-format", "raw",
                        "--container-format", "bare", "--private", "--file",
                        str(tmp_path / "disk.raw"), "e2e-victim-image")["id"]
    # The attacker, straight to RegionTwo's Glance, takes the victim's id there.
    planted = cli.json("regions-alt", "image", "create", "--id", image_id,
                       "--disk-format", "raw", "--container-format", "bare",
                       "--property", f"cascade_global_id={image_id}",
                       "--property", "cascade_owner=cascade-e2e", "planted",
                       region="RegionTwo")
    # (The CLI may upload its stdin into it: whatever it holds now must stay.)
    planted = cli.json("regions-admin", "image", "show", image_id, region="RegionTwo")
    server = None
    try:
        cli("cascade-admin", "image", "import", image_id, "--method", "copy-image",
            "--store", "RegionTwo")
        _wait("copy-image to RegionTwo", lambda: _glance(
            cascade, image_id).get("stores") == "RegionOne,RegionTwo")
        still = cli.json("regions-admin", "image", "show", image_id, region="RegionTwo")
        for key in ("status", "owner", "size", "checksum", "updated_at"):
            assert still.get(key) == planted.get(key), key
        server = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano",
                          "--image", image_id, "--nic", "none", "--availability-zone",
                          "RegionTwo", "--wait", "e2e-hostile-img")
        assert server["status"] == "ACTIVE"
    finally:
        if server:
            cli("cascade-demo", "server", "delete", "--wait", server["id"])
        cli("cascade-demo", "image", "delete", image_id)
    # The victim's delete removed Cascade's copies, not the planted image.
    _wait("Cascade's copies deleted", lambda: image_id not in [
        i["ID"] for i in cli.json("cascade-admin", "image", "list")])
    left = cli.json("regions-admin", "image", "show", image_id, region="RegionTwo")
    for key in ("status", "owner", "size", "checksum"):
        assert left.get(key) == planted.get(key), key
    cli("regions-alt", "image", "delete", image_id, region="RegionTwo")


def test_a_shared_network_planted_with_the_victims_tag_is_not_adopted(
        cli: Cli, cascade: CascadeProcess) -> None:
    victim_project = _project_of(cli, "regions-demo")
    net = cli.json("cascade-demo", "network", "create", "e2e-victim-net")
    cli.json("cascade-demo", "subnet", "create", "--network", net["id"], "--subnet-range",
             "10.77.0.0/24", "e2e-victim-subnet")
    planted = cli.json("regions-alt", "network", "create", "e2e-planted",
                       region="RegionTwo")
    cli("regions-alt", "network", "set", "--tag", f"cascade:{net['id']}", "--tag",
        "cascade-owner:cascade-e2e", planted["id"], region="RegionTwo")
    cli.json("regions-alt", "subnet", "create", "--network", planted["id"],
             "--subnet-range", "10.77.0.0/24", "e2e-planted-subnet", region="RegionTwo")
    rbac = cli.json("regions-alt", "network", "rbac", "create", "--type", "network",
                    "--action", "access_as_shared", "--target-project", victim_project,
                    planted["id"], region="RegionTwo")
    server = None
    try:
        server = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano",
                          "--image", "cirros-0.6.2-x86_64-disk", "--nic",
                          f"net-id={net['id']}", "--availability-zone", "RegionTwo",
                          "--wait", "e2e-hostile-net")
        assert server["status"] == "ACTIVE"
        local = _placement(cascade, server["id"])["local_id"]
        ports = cli.json("regions-admin", "port", "list", "--server", local,
                         region="RegionTwo")
        assert ports, "the server has a port"
        for listed in ports:
            port = cli.json("regions-admin", "port", "show", listed["ID"], region="RegionTwo")
            network = cli.json("regions-admin", "network", "show", port["network_id"],
                               region="RegionTwo")
            assert network["id"] != planted["id"]
            assert network["project_id"] == victim_project, json.dumps(network)
        # The planted network is untouched: still the attacker's, with its tags.
        after = cli.json("regions-admin", "network", "show", planted["id"],
                         region="RegionTwo")
        assert after["project_id"] == planted["project_id"]
        assert f"cascade:{net['id']}" in after["tags"]
    finally:
        if server:
            cli("cascade-demo", "server", "delete", "--wait", server["id"])
        cli("regions-alt", "network", "rbac", "delete", rbac["id"], region="RegionTwo")
        cli("regions-alt", "network", "delete", planted["id"], region="RegionTwo")
        cli("cascade-demo", "network", "delete", net["id"], check=False)
