"""End-to-end fixtures: the real regions (devstack/lite/regions) and a real cascade-api.

Cascade runs as a subprocess (``cascade-api --all-in-one``) on a throwaway
PostgreSQL database, with real keystonemiddleware against the kit's Keystone.
It listens on 127.0.0.1:28080, the CascadeRegion endpoints of the Keystone
catalog, so the unmodified CLI finds it through the catalog. If that port is
taken (a developer's own Cascade), it uses a free port and endpoint overrides.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import asyncpg
import pytest
import yaml

from tests.conftest import PG_ADMIN_DSN, pg_url

ROOT = Path(__file__).resolve().parents[2]
REGIONS_HOME = Path(os.environ.get("CASCADE_REGIONS_HOME",
                                   Path.home() / ".cascade-regions"))
OPENSTACK = REGIONS_HOME / "venv" / "bin" / "openstack"
CATALOG_PORT = 28080


def http(method: str, url: str, token: str | None, body: Any = None, *,
         compute_version: str | None = None) -> tuple[int, Any]:
    """One JSON call (no client library in between): status and decoded body (None
    when empty or not JSON), errors included."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    if compute_version:
        headers["OpenStack-API-Version"] = f"compute {compute_version}"
    req = urllib.request.Request(url, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, raw = int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        status, raw = int(err.code), err.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def keystone_token(user: str, project: str | None = None) -> tuple[str, str]:
    """(token, project id) for a kit account (password 'secret'; the project is
    named as the user unless given)."""
    body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": "secret", "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": project or user, "domain": {"name": "Default"}}}}})
    req = urllib.request.Request("http://127.0.0.1:25000/v3/auth/tokens",
                                 data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return (str(resp.headers["X-Subject-Token"]),
                json.loads(resp.read())["token"]["project"]["id"])


def wait_for(what: str, check: Callable[[], Any], timeout: float = 180,
             interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something true; that value.

    :raises AssertionError: ``what`` did not happen within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def answers(url: str) -> bool:
    """Whether Cascade at ``url`` answers its compute version document."""
    try:
        urllib.request.urlopen(f"{url}/compute/v2.1/", timeout=2).read()
        return True
    except OSError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_sql(sql: str) -> None:
    import asyncio

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
    asyncio.run(go())


class Cli:
    """Runs the real ``openstack`` CLI against a cloud of the kit's clouds.yaml."""

    def __init__(self, clouds_file: Path) -> None:
        self.env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds_file)}

    def __call__(self, cloud: str, *args: str, region: str | None = None,
                 check: bool = True) -> Any:
        cmd = [str(OPENSTACK), "--os-cloud", cloud, *args]
        if region:
            cmd[3:3] = ["--os-region-name", region]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, cloud: str, *args: str, region: str | None = None) -> Any:
        return json.loads(self(cloud, *args, "-f", "json", region=region).stdout)


class CascadeProcess:
    """cascade-api and cascade-sync as separate processes, wake-ups over RabbitMQ."""

    def __init__(self, url: str, db_url: str, conf_file: Path, work: Path) -> None:
        self.url = url
        self.db_url = db_url
        self.conf_file = conf_file
        self.work = work
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, env: dict[str, str] | None = None,
              extra_conf: Path | None = None, label: str | None = None) -> None:
        """Start cascade-api or cascade-sync (logging to WORK/<label>.log); ``env``
        adds environment variables (``CASCADE_CRASH_AT``), ``extra_conf`` a config
        file read after the main one; ``label`` names a second process of a kind."""
        module = {"cascade-api": "api", "cascade-sync": "sync"}[name]
        entry = f"import sys; from cascade.cmd.{module} import main; sys.exit(main())"
        label = label or name
        log = self.work / f"{label}.log"
        self.procs[label] = subprocess.Popen(
            [sys.executable, "-c", entry, "--config-file", str(self.conf_file),
             "--log-file", str(log),
             *(["--config-file", str(extra_conf)] if extra_conf else [])],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})})

    def kill(self, name: str) -> None:
        """SIGKILL: no clean-up, as a crash."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(10)

    def died(self, name: str, timeout: float = 60) -> bool:
        """Whether the process exits within ``timeout`` seconds (forgotten if so)."""
        try:
            self.procs[name].wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        del self.procs[name]
        return True

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    def wait_up(self, urls: list[str], timeout: float) -> None:
        """Until every URL answers; the test fails if a process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not all(answers(url) for url in urls):
            if time.monotonic() > deadline or any(
                    p.poll() is not None for p in self.procs.values()):
                pytest.fail(f"Cascade did not start:\n{self.logs()}")
            time.sleep(0.3)

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        entry = "import sys; from cascade.cmd.manage import main; sys.exit(main())"
        return subprocess.run([sys.executable, "-c", entry, "--config-file",
                               str(self.conf_file), *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-4000:]}"
                         for p in sorted(self.work.glob("*.log")))


def cascade_conf(work: Path, port: int, db_url: str, cascade_id: str) -> str:
    """cascade.conf for an e2e Cascade on the kit's regions (one API process)."""
    return f"""[DEFAULT]
state_path = {work}
regions = RegionOne,RegionTwo
# Its own deployment name: its audit never deletes what a developer's Cascade on
# the same regions made, nor the other way round.
cascade_id = {cascade_id}
debug = true
transport_url = rabbit://guest:guest@127.0.0.1:5672/

[api]
bind_port = {port}
# One process here (tests/e2e/test_scale_out.py runs several).
workers = 1
region_timeout = 20
policy_reload_interval = 0.5

[oslo_policy]
# Written by tests/e2e/test_policy.py (absent: the defaults in code).
policy_file = {work}/policy.yaml

[database]
connection = {db_url}

[sync]
# A pool of its own: never takes notifications another Cascade on the kit reads.
notification_pool = {cascade_id}-{uuid.uuid4().hex[:8]}
delete_sweep_interval = 1
# Status comes from notifications here; the poll is tested on its own (test_sync_loops).
reconcile_interval = 600
region_probe_interval = 2
job_lease_seconds = 6

[quota]
# The suite boots dozens of servers; tests that exercise quota set their own limits.
instances = 1000
cores = 1000
ram = 1000000

[image]
default_store = RegionOne
progress_every_mib = 4

[service_credentials]
password = secret

[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:25000/v3
auth_url = http://127.0.0.1:25000/v3
auth_type = password
username = cascade
password = secret
project_name = service
user_domain_name = Default
project_domain_name = Default

# Where each region publishes its notifications (devstack/lite/regions).
[region_RegionOne]
notification_transport_url = rabbit://guest:guest@127.0.0.1:5672/cascade-r1

[region_RegionTwo]
notification_transport_url = rabbit://guest:guest@127.0.0.1:5672/cascade-r2
"""


@pytest.fixture(scope="session")
def regions_up() -> Path:
    """The kit's regions must be running (run_tests.sh brings them up)."""
    status = subprocess.run([str(ROOT / "devstack" / "lite" / "regions"), "status"],
                            capture_output=True, text=True)
    if status.returncode != 0:
        pytest.fail("the local regions are not up: run devstack/lite/regions up\n"
                    + status.stdout + status.stderr)
    return REGIONS_HOME / "clouds.yaml"


@pytest.fixture(scope="session")
def cascade(regions_up: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[CascadeProcess]:
    """A real cascade-api --all-in-one on PostgreSQL, torn down after the session."""
    work = tmp_path_factory.mktemp("cascade-e2e")
    port = CATALOG_PORT if _port_free(CATALOG_PORT) else _free_port()
    dbname = f"cascade_e2e_{uuid.uuid4().hex[:10]}"
    _run_sql(f'CREATE DATABASE "{dbname}"')
    db_url = pg_url(dbname)
    conf_file = work / "cascade.conf"
    conf_file.write_text(cascade_conf(work, port, db_url, "cascade-e2e"))
    cascade = CascadeProcess(f"http://127.0.0.1:{port}", db_url, conf_file, work)
    try:
        synced = cascade.manage("db", "sync")
        assert synced.returncode == 0, synced.stdout + synced.stderr
        cascade.start("cascade-api")
        cascade.start("cascade-sync")
        cascade.wait_up([cascade.url], 60)
        adopted = cascade.manage("image", "adopt", "-f", "json")
        assert adopted.returncode == 0, adopted.stdout + adopted.stderr
        yield cascade
    finally:
        cascade.stop_all()
        _run_sql(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.fixture(scope="session")
def cli(cascade: CascadeProcess, regions_up: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The CLI, with clouds.yaml pointing the cascade-* clouds at this Cascade."""
    clouds = yaml.safe_load(regions_up.read_text())
    for cloud in clouds["clouds"].values():
        # openstacksdk takes the first of ``regions`` unless told otherwise.
        wanted = cloud.get("region_name")
        if wanted and wanted in cloud.get("regions", []):
            cloud["regions"] = [wanted] + [r for r in cloud["regions"] if r != wanted]
    if not cascade.url.endswith(f":{CATALOG_PORT}"):
        for name, cloud in clouds["clouds"].items():
            if name.startswith("cascade-"):
                cloud["compute_endpoint_override"] = cascade.url + "/compute/v2.1"
                cloud["image_endpoint_override"] = cascade.url + "/image"
                cloud["network_endpoint_override"] = cascade.url + "/networking"
    path = tmp_path_factory.mktemp("clouds") / "clouds.yaml"
    path.write_text(yaml.safe_dump(clouds))
    return Cli(path)
