"""What Cascade depends on goes away and comes back, against the two real regions:
PostgreSQL restarted during a burst of creates and replications, RabbitMQ
restarted, a cascade-sync process killed while it holds a job's lease. Cascade
here runs on a PostgreSQL instance of its own (so restarting it disturbs nothing
else), with one API process and two sync processes."""
from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e.conftest import (CascadeProcess, _free_port, cascade_conf, keystone_token,
                                wait_for)
from tests.e2e.test_fault_injection import Api, _audit_is_clean

IMAGE = "8a1a2f3e-6c1d-4f6b-9a55-2f0e7d1c0a01"  # cirros, seeded in both regions
LEASE = 6  # [sync] job_lease_seconds in the e2e configuration


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on its own port, owned by the postgres user."""

    def __init__(self) -> None:
        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
        self.dir = Path(tempfile.mkdtemp(prefix="cascade-pg-"))
        self.port = _free_port()
        self.data = self.dir / "data"
        owner = pwd.getpwnam("postgres")
        os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self._as_postgres(self.bin / "initdb", "-D", str(self.data), "-A", "trust",
                          "-U", "postgres")
        self.start()

    def _as_postgres(self, *cmd: Any) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *map(str, cmd)], check=True,
                       capture_output=True, timeout=120)

    def start(self) -> None:
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-w", "-l",
                          self.dir / "server.log", "-o",
                          f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1",
                          "start")

    def stop(self) -> None:
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-w", "-m", "fast", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{db}"

    def destroy(self) -> None:
        try:
            self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Deployment:
    def __init__(self, cascade: CascadeProcess, pg: PrivatePostgres, mark: Path) -> None:
        self.cascade = cascade
        self.pg = pg
        self.mark = mark


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/compute/v2.1/", timeout=2).read()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def deployment(regions_up: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Deployment]:
    pg = PrivatePostgres()
    work = tmp_path_factory.mktemp("cascade-restarts")
    port = _free_port()
    conf_file = work / "cascade.conf"
    conf_file.write_text(cascade_conf(work, port, pg.url(), "cascade-restarts")
                         + "\n[database]\nconnect_timeout = 3\npool_timeout = 5\n")
    cascade = CascadeProcess(f"http://127.0.0.1:{port}", pg.url(), conf_file, work)
    mark = work / "hung.pid"
    # Both sync processes freeze at the same point; only the first to get there does.
    hang = {"CASCADE_HANG_AT": "replication.mid_copy", "CASCADE_HANG_MARK": str(mark)}
    try:
        synced = cascade.manage("db", "sync")
        assert synced.returncode == 0, synced.stdout + synced.stderr
        cascade.start("cascade-api")
        cascade.start("cascade-sync", env=hang, label="sync-1")
        cascade.start("cascade-sync", env=hang, label="sync-2")
        wait_for("Cascade answers", lambda: _answers(cascade.url), timeout=90)
        adopted = cascade.manage("image", "adopt", "-f", "json")
        assert adopted.returncode == 0, adopted.stdout + adopted.stderr
        yield Deployment(cascade, pg, mark)
    finally:
        cascade.stop_all()
        pg.destroy()


def _boot(api: Api, name: str, zone: str) -> tuple[int, Any]:
    return api("POST", "/compute/v2.1/servers", {"server": {
        "name": name, "flavorRef": "1", "imageRef": IMAGE, "networks": "none",
        "availability_zone": zone}})


def _servers(api: Api) -> dict[str, Any]:
    status, body = api("GET", "/compute/v2.1/servers/detail")
    assert status == 200, body
    return {s["id"]: s for s in body["servers"]}


def test_a_sync_process_killed_holding_a_lease_is_taken_over_within_the_lease(
        deployment: Deployment) -> None:
    token, _ = keystone_token("demo")
    admin_token, _ = keystone_token("admin")
    api = Api(deployment.cascade.url, token)
    admin = Api(deployment.cascade.url, admin_token)
    status, image = api("POST", "/image/v2/images", {
        "name": "lease", "disk_format": "raw", "container_format": "bare"})
    assert status == 201, image
    assert api("PUT", f"/image/v2/images/{image['id']}/file",
               data=os.urandom(9 << 20))[0] == 204
    status, _ = admin("POST", f"/image/v2/images/{image['id']}/import", {
        "method": {"name": "copy-image"}, "stores": ["RegionTwo"]})
    assert status == 202
    # One of the two sync processes gets the job and freezes in the middle of the
    # copy (the first to reach that point in this module; this test runs first).
    pid = int(wait_for("a sync process frozen mid-copy",
                       lambda: deployment.mark.exists() and deployment.mark.read_text(),
                       timeout=120, interval=0.2))
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_for("the other sync process finished the copy", lambda: "RegionTwo" in (
        api("GET", f"/image/v2/images/{image['id']}")[1].get("stores") or ""),
        timeout=120, interval=0.2)
    taken_over = time.monotonic() - killed
    # The lease runs out, the other process claims the job on its next sweep and
    # copies 9 MiB: well within two leases.
    assert taken_over < 2 * LEASE + 5, taken_over
    assert api("DELETE", f"/image/v2/images/{image['id']}")[0] == 204


def test_a_postgresql_restart_during_a_burst_loses_nothing(deployment: Deployment) -> None:
    token, project = keystone_token("demo")
    admin_token, _ = keystone_token("admin")
    api = Api(deployment.cascade.url, token)
    admin = Api(deployment.cascade.url, admin_token)
    images = []
    for n in range(2):
        status, image = api("POST", "/image/v2/images", {
            "name": f"burst-{n}", "disk_format": "raw", "container_format": "bare"})
        assert status == 201, image
        assert api("PUT", f"/image/v2/images/{image['id']}/file",
                   data=os.urandom(1 << 20))[0] == 204
        images.append(image["id"])
    accepted: list[str] = []
    answers: list[tuple[int, float]] = []
    stop = threading.Event()

    def burst(worker: int) -> None:
        n = 0
        while not stop.is_set():
            started = time.monotonic()
            status, body = _boot(api, f"burst-{worker}-{n}", ("RegionOne", "RegionTwo")[n % 2])
            answers.append((status, time.monotonic() - started))
            if status == 202:
                accepted.append(body["server"]["id"])
            n += 1
            time.sleep(1.0)

    threads = [threading.Thread(target=burst, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        # Replications asked for just before the database goes.
        for image_id in images:
            status, _ = admin("POST", f"/image/v2/images/{image_id}/import", {
                "method": {"name": "copy-image"}, "stores": ["RegionTwo"]})
            assert status == 202
        deployment.pg.stop()
        time.sleep(6)
        deployment.pg.start()
        time.sleep(4)
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
    statuses = {s for s, _ in answers}
    assert statuses <= {202, 503}, answers
    assert 503 in statuses, "the burst met the outage"
    slowest = max(t for _, t in answers)
    # connect_timeout 3 s + pool_timeout 5 s at most, never a hang.
    assert slowest < 15, answers
    assert accepted, "creates were accepted around the outage"
    # Every accepted create completes; every replication asked for completes.
    wait_for("every accepted server active", lambda: all(
        _servers(api).get(sid, {}).get("status") == "ACTIVE" for sid in accepted),
        timeout=300, interval=2)
    for image_id in images:
        wait_for("replica", lambda: "RegionTwo" in (
            api("GET", f"/image/v2/images/{image_id}")[1].get("stores") or ""), 180)
    _audit_is_clean(deployment.cascade, api, project)
    left = set(_servers(api)) - set(accepted)
    assert not left, f"servers no create was accepted for: {left}"
    for sid in accepted:
        api("DELETE", f"/compute/v2.1/servers/{sid}")
    for image_id in images:
        api("DELETE", f"/image/v2/images/{image_id}")
    _gone(api)
    _audit_is_clean(deployment.cascade, api, project)


def _rabbitmq(action: str) -> None:
    subprocess.run(["rabbitmqctl", action], check=True, capture_output=True, timeout=120)


def test_a_rabbitmq_restart_loses_no_work_and_notifications_resume(
        deployment: Deployment) -> None:
    token, project = keystone_token("alt_demo")
    api = Api(deployment.cascade.url, token)
    status, before = _boot(api, "mq-before", "RegionOne")
    assert status == 202, before
    wait_for("active", lambda: _servers(api).get(before["server"]["id"], {}).get(
        "status") == "ACTIVE", 180)
    _rabbitmq("stop_app")
    try:
        # The API answers at once: the wake-up to the sync processes fails fast.
        started = time.monotonic()
        status, during = _boot(api, "mq-during", "RegionTwo")
        assert status == 202, during
        assert time.monotonic() - started < 10
    finally:
        _rabbitmq("start_app")
    # The job the lost wake-up was for runs on the sweep (the region's own Nova
    # needed the broker too: it completes once both are back).
    wait_for("server made during the outage active", lambda: _servers(api).get(
        during["server"]["id"], {}).get("status") == "ACTIVE", 300, interval=2)
    # Notifications resume: a stop made in the region itself shows through Cascade
    # (the poll runs every 600 s here, so only a notification explains it).
    local = _regional_id(deployment, before["server"]["id"])
    subprocess.run([str(Path.home() / ".cascade-regions" / "venv" / "bin" / "openstack"),
                    "--os-cloud", "regions-alt", "--os-region-name", "RegionOne",
                    "server", "stop", local], check=True, capture_output=True, timeout=120,
                   env={**os.environ, "OS_CLIENT_CONFIG_FILE":
                        str(Path.home() / ".cascade-regions" / "clouds.yaml")})
    wait_for("the regional stop seen through Cascade", lambda: _servers(api).get(
        before["server"]["id"], {}).get("status") == "SHUTOFF", 120, interval=1)
    for server_id in (before["server"]["id"], during["server"]["id"]):
        api("DELETE", f"/compute/v2.1/servers/{server_id}")
    _gone(api)
    _audit_is_clean(deployment.cascade, api, project)


def _gone(api: Api) -> None:
    try:
        wait_for("servers gone", lambda: not _servers(api), 240, interval=2)
    except AssertionError:
        left = {k: (v["status"], v.get("OS-EXT-STS:task_state")) for k, v in
                _servers(api).items()}
        raise AssertionError(f"servers left: {left}") from None


def _regional_id(deployment: Deployment, global_id: str) -> str:
    shown = deployment.cascade.manage("mapping", "show", global_id, "-f", "json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    placements = json.loads(shown.stdout)["resources"][0]["placements"]
    return str(placements[0]["local_id"])
