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


def test_a_server_planted_with_the_victims_marker_is_neither_adopted_nor_deleted(
        cli: Cli, cascade: CascadeProcess) -> None:
    """Another project boots a server straight in RegionTwo carrying the metadata
    of the victim's server and of this Cascade deployment: a repairing audit
    reports it as foreign and leaves it, and the victim's mapping is untouched."""
    victim = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano", "--image",
                      "cirros-0.6.2-x86_64-disk", "--nic", "none", "--availability-zone",
                      "RegionTwo", "--wait", "e2e-victim-vm")
    before = _placement(cascade, victim["id"])
    planted = cli.json("regions-alt", "server", "create", "--flavor", "m1.nano", "--image",
                       "cirros-0.6.2-x86_64-disk", "--nic", "none", "--property",
                       f"cascade_global_id={victim['id']}", "--property",
                       "cascade_owner=cascade-e2e", "--wait", "e2e-planted-vm",
                       region="RegionTwo")
    try:
        audit = cascade.manage("mapping", "adopt", "--region", "RegionTwo", "--type",
                               "server", "--grace", "0", "-f", "json")
        assert audit.returncode in (0, 1), audit.stdout + audit.stderr
        findings = [f for f in json.loads(audit.stdout)["findings"]
                    if f.get("local_id") == planted["id"]]
        assert [f["action"] for f in findings] == ["orphan_foreign"], findings
        assert cli.json("regions-admin", "server", "show", planted["id"],
                        region="RegionTwo")["status"] == "ACTIVE"
        after = _placement(cascade, victim["id"])
        assert (after["local_id"], after["state"]) == (before["local_id"], before["state"])
        shown = cli.json("cascade-demo", "server", "show", victim["id"])
        assert shown["status"] == "ACTIVE"
    finally:
        cli("regions-alt", "server", "delete", "--wait", planted["id"], region="RegionTwo")
        cli("cascade-demo", "server", "delete", "--wait", victim["id"])


def test_a_security_group_planted_with_the_victims_tag_is_not_adopted(
        cli: Cli, cascade: CascadeProcess) -> None:
    """The attacker's group in RegionTwo tagged with the victim's group id and this
    deployment's name is never used for the victim's server there."""
    victim_project = _project_of(cli, "regions-demo")
    group = cli.json("cascade-demo", "security", "group", "create", "e2e-victim-sg")
    planted = cli.json("regions-alt", "security", "group", "create", "e2e-planted-sg",
                       region="RegionTwo")
    cli("regions-alt", "security", "group", "set", "--tag", f"cascade:{group['id']}",
        "--tag", "cascade-owner:cascade-e2e", planted["id"], region="RegionTwo")
    # Shared with the victim's project, so the victim's own token can see it.
    rbac = cli.json("regions-alt", "network", "rbac", "create", "--type", "security_group",
                    "--action", "access_as_shared", "--target-project", victim_project,
                    planted["id"], region="RegionTwo")
    net = cli.json("cascade-demo", "network", "create", "e2e-sg-net")
    cli.json("cascade-demo", "subnet", "create", "--network", net["id"], "--subnet-range",
             "10.78.0.0/24", "e2e-sg-subnet")
    server = None
    try:
        server = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano",
                          "--image", "cirros-0.6.2-x86_64-disk", "--nic",
                          f"net-id={net['id']}", "--security-group", group["id"],
                          "--availability-zone", "RegionTwo", "--wait", "e2e-sg-vm")
        local = _placement(cascade, server["id"])["local_id"]
        for listed in cli.json("regions-admin", "port", "list", "--server", local,
                               region="RegionTwo"):
            port = cli.json("regions-admin", "port", "show", listed["ID"], region="RegionTwo")
            assert planted["id"] not in port["security_group_ids"], port
            for sg in port["security_group_ids"]:
                owner = cli.json("regions-admin", "security", "group", "show", sg,
                                 region="RegionTwo")["project_id"]
                assert owner == victim_project, sg
    finally:
        if server:
            cli("cascade-demo", "server", "delete", "--wait", server["id"])
        cli("regions-alt", "network", "rbac", "delete", rbac["id"], region="RegionTwo")
        cli("regions-alt", "security", "group", "delete", planted["id"], region="RegionTwo")
        cli("cascade-demo", "network", "delete", net["id"], check=False)
        cli("cascade-demo", "security", "group", "delete", group["id"], check=False)
