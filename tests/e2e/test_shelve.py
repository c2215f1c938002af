"""A shelved (offloaded) server deletes cleanly through Cascade against real Nova: no
500, the mapping and the regional server both gone."""
from __future__ import annotations

import secrets

import pytest

from tests.e2e.conftest import CascadeProcess, Cli, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

IMAGE = "cirros-0.6.2-x86_64-disk"


def _status(cli: Cli, server: str) -> str:
    return str(cli.json("cascade-demo", "server", "show", server)["status"])


def test_deleting_a_shelved_server(cli: Cli, cascade: CascadeProcess) -> None:
    server = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano", "--image",
                      IMAGE, "--nic", "none", f"e2e-shelve-{secrets.token_hex(3)}")
    wait_for("active", lambda: _status(cli, server["id"]) == "ACTIVE")
    cli("cascade-demo", "server", "shelve", server["id"])
    wait_for("offloaded", lambda: _status(cli, server["id"]) == "SHELVED_OFFLOADED",
             timeout=180)
    cli("cascade-demo", "server", "delete", "--wait", server["id"])
    gone = cli("cascade-demo", "server", "show", server["id"], check=False)
    assert gone.returncode != 0 and "No Server found" in gone.stderr, gone.stderr
