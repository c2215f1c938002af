"""The regions kit itself: each real region boots servers with --nic none and with a port."""
import subprocess

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_each_region_boots_servers_directly(regions_up: object) -> None:
    proc = subprocess.run([str(ROOT / "devstack" / "lite" / "regions"), "smoke"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
