"""Images through Cascade with the real CLI and real Glance in two regions:
upload, save, copy-image, boots needing a replica, a crash mid-copy, a corrupt source."""
from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.e2e.conftest import REGIONS_HOME, CascadeProcess, Cli
from tests.e2e.test_cli_compute import _token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def _wait(what: str, check: Callable[[], Any], timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _api(cascade: CascadeProcess, method: str, path: str, token: str,
         body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(cascade.url + path, data=data, method=method, headers={
        "X-Auth-Token": token, "Content-Type": "application/json",
        "OpenStack-API-Version": "compute 2.96"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _glance(cascade: CascadeProcess, image_id: str) -> dict[str, Any]:
    """The image as Cascade's Glance API answers (the CLI hides some fields)."""
    status, body = _api(cascade, "GET", f"/image/v2/images/{image_id}", _token())
    assert status == 200, body
    return dict(body)


def _copies_of(image_id: str, glance_port: int, token: str) -> list[dict[str, Any]]:
    """Every image a region's Glance holds for this global image (any regional id)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{glance_port}/v2/images?cascade_global_id={image_id}",
        headers={"X-Auth-Token": token})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return list(json.loads(resp.read())["images"])


def _jobs(cascade: CascadeProcess, admin: str, kind: str) -> list[dict[str, Any]]:
    status, body = _api(cascade, "GET", f"/v1/jobs?kind={kind}&limit=1000", admin)
    assert status == 200, body
    return list(body["jobs"])


def _regional_images(cli: Cli, region: str) -> dict[str, str]:
    return {i["ID"]: i["Status"] for i in cli.json("regions-admin", "image", "list",
                                                    region=region)}


def _make_file(path: Path, mib: int) -> bytes:
    data = os.urandom(mib << 20)
    path.write_bytes(data)
    return data


def test_upload_save_copy_and_boot_elsewhere(cli: Cli, cascade: CascadeProcess,
                                             tmp_path: Path) -> None:
    data = _make_file(tmp_path / "disk.raw", 24)
    image = cli.json("cascade-demo", "image", "create", "--disk-format", "raw",
                     "--container-format", "bare", "--file", str(tmp_path / "disk.raw"),
                     "e2e-image")
    image_id = image["id"]
    shown = cli.json("cascade-demo", "image", "show", image_id)
    assert shown["status"] == "active" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert _glance(cascade, image_id)["stores"] == "RegionOne"
    assert image_id in [i["ID"] for i in cli.json("cascade-demo", "image", "list")]
    assert _regional_images(cli, "RegionOne")[image_id] == "active"
    assert image_id not in _regional_images(cli, "RegionTwo")

    cli("cascade-demo", "image", "save", "--file", str(tmp_path / "back.raw"), image_id)
    assert (tmp_path / "back.raw").read_bytes() == data

    # Boot in RegionTwo: the image is copied there first, then the server is built.
    server = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano", "--image",
                      image_id, "--nic", "none", "--availability-zone", "RegionTwo",
                      "--wait", "img-boot")
    assert server["status"] == "ACTIVE"
    assert _regional_images(cli, "RegionTwo")[image_id] == "active"
    assert _glance(cascade, image_id)["stores"] == "RegionOne,RegionTwo"
    cli("cascade-demo", "server", "delete", "--wait", server["id"])

    cli("cascade-demo", "image", "delete", image_id)
    _wait("replicas deleted", lambda: all(
        image_id not in _regional_images(cli, r) for r in ("RegionOne", "RegionTwo")))


def test_copy_image_import_and_concurrent_boots(cli: Cli, cascade: CascadeProcess,
                                               tmp_path: Path) -> None:
    _make_file(tmp_path / "disk.raw", 8)
    image_id = cli.json("cascade-demo", "image", "create", "--disk-format", "raw",
                        "--container-format", "bare", "--file", str(tmp_path / "disk.raw"),
                        "e2e-copy")["id"]
    cli("cascade-admin", "image", "import", image_id, "--method", "copy-image", "--store",
        "RegionTwo")
    _wait("copy-image to RegionTwo", lambda: _glance(
        cascade, image_id).get("stores") == "RegionOne,RegionTwo")
    assert _glance(cascade, image_id)["os_glance_failed_import"] == ""

    # A second image only in RegionOne; 20 boots at once in RegionTwo need it.
    _make_file(tmp_path / "other.raw", 8)
    other = cli.json("cascade-demo", "image", "create", "--disk-format", "raw",
                     "--container-format", "bare", "--file", str(tmp_path / "other.raw"),
                     "e2e-many")["id"]
    token, admin = _token(), _token("admin")
    body = {"server": {"name": "many", "flavorRef": "42", "imageRef": other,
                       "networks": "none", "availability_zone": "RegionTwo"}}
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: _api(cascade, "POST", "/compute/v2.1/servers",
                                               token, body), range(20)))
    assert [a[0] for a in answers] == [202] * 20, answers
    ids = [a[1]["server"]["id"] for a in answers]
    copies = [j for j in _jobs(cascade, admin, "image_replication")
              if j["payload"]["image_id"] == other]
    assert len(copies) == 1, copies

    def all_active() -> bool:
        return all(_api(cascade, "GET", f"/compute/v2.1/servers/{i}", token)[1]["server"]
                   ["status"] == "ACTIVE" for i in ids)
    _wait("20 servers ACTIVE", all_active, timeout=300)
    for sid in ids:
        assert _api(cascade, "DELETE", f"/compute/v2.1/servers/{sid}", token)[0] == 204
    for image in (image_id, other):
        cli("cascade-demo", "image", "delete", image)


def test_crash_mid_copy_and_corrupt_source(cli: Cli, cascade: CascadeProcess,
                                           tmp_path: Path) -> None:
    admin = _token("admin")
    data = _make_file(tmp_path / "big.raw", 96)
    image_id = cli.json("cascade-demo", "image", "create", "--disk-format", "raw",
                        "--container-format", "bare", "--file", str(tmp_path / "big.raw"),
                        "e2e-crash")["id"]
    # The sync process dies at its crash point in the middle of the copy (armed, not
    # timed: a poll for a copy under way lost the race to a fast copy), then comes back.
    cascade.kill("cascade-sync")
    cascade.start("cascade-sync", env={"CASCADE_CRASH_AT": "replication.mid_copy"})
    cli("cascade-admin", "image", "import", image_id, "--method", "copy-image", "--store",
        "RegionTwo")
    assert cascade.died("cascade-sync", timeout=120), "the copy did not reach mid-copy"

    def copying() -> Any:
        for job in _jobs(cascade, admin, "image_replication"):
            done = job["progress"]["done"] or 0
            if job["payload"]["image_id"] == image_id and done < len(data):
                return job
        return None
    job = _wait("the interrupted copy's job", copying, timeout=60)
    cascade.start("cascade-sync")

    def replicated() -> bool:
        status, body = _api(cascade, "GET", f"/v1/jobs/{job['id']}", admin)
        return status == 200 and body["job"]["state"] == "succeeded"
    _wait("replication to finish after the crash", replicated)
    assert _glance(cascade, image_id)["stores"] == "RegionOne,RegionTwo"
    regional = cli.json("regions-admin", "image", "show", image_id, region="RegionTwo")
    assert regional["status"] == "active" and regional["size"] == len(data)
    assert regional["checksum"] == hashlib.md5(data).hexdigest()
    copies = _copies_of(image_id, 26292, admin)
    assert [c["status"] for c in copies] == ["active"], "one copy, no partial one left"

    # Corrupt the source copy on RegionOne's disk: the next replica must be refused.
    victim = _make_file(tmp_path / "victim.raw", 4)
    bad_id = cli.json("cascade-demo", "image", "create", "--disk-format", "raw",
                      "--container-format", "bare", "--file", str(tmp_path / "victim.raw"),
                      "e2e-corrupt")["id"]
    stored = REGIONS_HOME / "data" / "r1" / "glance" / "images" / bad_id
    stored.write_bytes(b"\0" + victim[1:])
    cli("cascade-admin", "image", "import", bad_id, "--method", "copy-image", "--store",
        "RegionTwo")

    def failed() -> Any:
        for job in _jobs(cascade, admin, "image_replication"):
            if job["payload"]["image_id"] == bad_id and job["state"] == "failed":
                return job
        return None
    bad_job = _wait("replication refused", failed, timeout=120)
    assert "md5" in bad_job["last_error"]
    assert _copies_of(bad_id, 26292, admin) == [], "the refused replica is gone"
    assert _glance(cascade, bad_id)["os_glance_failed_import"] == "RegionTwo"
    for image in (image_id, bad_id):
        cli("cascade-demo", "image", "delete", image)
