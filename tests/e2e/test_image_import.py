"""glance-direct through Cascade against real Glance: the data staged into the home
region, imported there, the image active with its size and hashes, downloadable
through Cascade."""
from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import pytest

from tests.e2e.conftest import CascadeProcess, Cli, http, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_glance_direct_import(cli: Cli, cascade: CascadeProcess, tmp_path: Path) -> None:
    data = os.urandom(256 * 1024)
    source = tmp_path / "image.raw"
    source.write_bytes(data)
    name = f"e2e-gd-{secrets.token_hex(3)}"
    # Through the API: the CLI's image create reads data from a stdin that is not a
    # terminal, which would make the image active at once.
    token = cli.json("cascade-demo", "token", "issue")["id"]
    status, image = http("POST", cascade.url + "/image/v2/images", token, {
        "name": name, "disk_format": "raw", "container_format": "bare"})
    assert status == 201, image
    try:
        cli("cascade-demo", "image", "stage", "--file", str(source), image["id"])
        assert cli.json("cascade-demo", "image", "show", image["id"])["status"] == "uploading"
        cli("cascade-demo", "image", "import", "--method", "glance-direct", image["id"])
        wait_for("imported", lambda: cli.json("cascade-demo", "image", "show",
                                              image["id"])["status"] == "active", timeout=180)
        shown = cli.json("cascade-demo", "image", "show", image["id"])
        assert shown["size"] == len(data)
        assert shown["checksum"] == hashlib.md5(data).hexdigest()
        out = tmp_path / "back.raw"
        cli("cascade-demo", "image", "save", "--file", str(out), image["id"])
        assert out.read_bytes() == data
    finally:
        cli("cascade-demo", "image", "delete", image["id"], check=False)
