"""The regions kit itself: each real region boots servers with --nic none and with a
port, and offers what routers across regions need (the router extensions, an
external network, the shared VLAN physnet)."""
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Cli

pytestmark = pytest.mark.e2e


def test_each_region_boots_servers_directly(regions_up: object) -> None:
    proc = subprocess.run([str(ROOT / "devstack" / "lite" / "regions"), "smoke"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("region", ["RegionOne", "RegionTwo"])
def test_each_region_offers_what_routers_across_regions_need(regions_up: Path,
                                                             region: str) -> None:
    cli = Cli(regions_up)
    aliases = {e["Alias"] for e in cli.json("regions-admin", "extension", "list",
                                            "--network", region=region)}
    assert {"router", "extraroute", "router_availability_zone", "standard-attr-tag",
            "provider"} <= aliases
    external = cli.json("regions-admin", "network", "list", "--external", "--long",
                        region=region)
    assert [n["Name"] for n in external] == ["public"]
    # A VLAN segment on physnet1 can be taken (and given back): the shared wire.
    made = cli.json("regions-admin", "network", "create", "--provider-network-type", "vlan",
                    "--provider-physical-network", "physnet1", "kit-physnet1-check",
                    region=region)
    try:
        assert made["provider:segmentation_id"] in range(1000, 2000)
    finally:
        cli("regions-admin", "network", "delete", made["id"], region=region)
