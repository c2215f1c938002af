"""Shelve through Cascade against real Nova: a shelved (offloaded) server deletes
cleanly (no 500, the mapping and the regional server both gone); the image Nova
makes for a shelve is a Cascade image of the project, listed by its name as
Nova's own is, and it goes when Nova deletes it (unshelve, delete)."""
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


def _shelve_images(cli: Cli, name: str) -> list[dict[str, str]]:
    return list(cli.json("cascade-demo", "image", "list", "--name", f"{name}-shelved"))


def test_a_shelve_image_is_listed_while_shelved_and_goes_after(
        cli: Cli, cascade: CascadeProcess) -> None:
    name = f"e2e-shelf-{secrets.token_hex(3)}"
    server = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano", "--image",
                      IMAGE, "--nic", "none", name)
    wait_for("active", lambda: _status(cli, server["id"]) == "ACTIVE")
    try:
        cli("cascade-demo", "server", "shelve", server["id"])
        wait_for("offloaded", lambda: _status(cli, server["id"]) == "SHELVED_OFFLOADED",
                 timeout=180)
        [image] = _shelve_images(cli, name)
        shown = cli.json("cascade-demo", "image", "show", image["ID"])
        assert shown["owner"] == cli.json("cascade-demo", "token", "issue")["project_id"]
        cli("cascade-demo", "server", "unshelve", server["id"])
        wait_for("unshelved", lambda: _status(cli, server["id"]) == "ACTIVE", timeout=180)
        wait_for("shelve image gone", lambda: _shelve_images(cli, name) == [], timeout=120)
        # Shelved again, then deleted: Nova deletes the image with the server.
        cli("cascade-demo", "server", "shelve", server["id"])
        wait_for("offloaded again",
                 lambda: _status(cli, server["id"]) == "SHELVED_OFFLOADED", timeout=180)
        assert len(_shelve_images(cli, name)) == 1
    finally:
        cli("cascade-demo", "server", "delete", "--wait", server["id"], check=False)
    wait_for("shelve image gone with the server", lambda: _shelve_images(cli, name) == [],
             timeout=120)
