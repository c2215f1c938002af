"""``openstack server image create`` through Cascade against real Nova and Glance: the
snapshot is a Cascade image of the project, listed and shown by its global id while
the region saves it, and deleting it removes the region's image.

Nova's fake virt driver never uploads snapshot data (its images stay ``queued``
in Glance, directly as through Cascade), so the image becoming active, being
downloaded and booting elsewhere is proven against fake regions
(tests/functional/api/image/test_snapshots.py)."""
from __future__ import annotations

import secrets

import pytest

from tests.e2e.conftest import CascadeProcess, Cli, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

IMAGE = "cirros-0.6.2-x86_64-disk"


def _regional_image(cli: Cli, image_id: str) -> bool:
    found = cli("regions-admin", "image", "show", image_id, region="RegionOne", check=False)
    return found.returncode == 0


def test_a_snapshot_is_a_cascade_image_of_the_project(cli: Cli,
                                                      cascade: CascadeProcess) -> None:
    tag = secrets.token_hex(3)
    server = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano", "--image",
                      IMAGE, "--nic", "none", "--availability-zone", "RegionOne",
                      f"e2e-snap-{tag}")
    try:
        wait_for("server active", lambda: cli.json(
            "cascade-demo", "server", "show", server["id"])["status"] == "ACTIVE")
        snap = cli.json("cascade-demo", "server", "image", "create", "--name",
                        f"e2e-snap-{tag}", server["id"])
        image_id = snap["id"]
        shown = cli.json("cascade-demo", "image", "show", image_id)
        assert shown["name"] == f"e2e-snap-{tag}" and shown["status"] in ("saving",
                                                                          "active")
        listed = cli.json("cascade-demo", "image", "list", "--private")
        assert image_id in {i["ID"] for i in listed}
        assert cli("cascade-alt", "image", "show", image_id, check=False).returncode != 0
        assert _regional_image(cli, image_id), "the region's own image, same id"
        cli("cascade-demo", "image", "delete", image_id)
        wait_for("regional image deleted", lambda: not _regional_image(cli, image_id),
                 timeout=120)
    finally:
        cli("cascade-demo", "server", "delete", "--wait", server["id"], check=False)
