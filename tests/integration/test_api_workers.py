"""cascade-api with several workers (gunicorn's arbiter) on a real PostgreSQL: the
workers share one port, a worker that dies is replaced, and SIGTERM lets the
requests in flight finish before everything stops."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

import asyncpg
import pytest

from tests.conftest import PG_ADMIN_DSN, pg_url

ROOT = Path(__file__).resolve().parents[2]
HEADERS = {"X-Auth-Token": "u1:demo"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _sql(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class _Silent:
    """A region that takes connections and never answers: requests to it stay in
    flight until Cascade's region deadline."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    name = f"cascade_workers_{uuid.uuid4().hex[:10]}"
    asyncio.run(_sql(f'CREATE DATABASE "{name}"'))
    silent = _Silent()
    port = _free_port()
    conf = tmp_path / "cascade.conf"
    conf.write_text(f"""[DEFAULT]
state_path = {tmp_path}
regions = RegionOne

[api]
bind_port = {port}
workers = 2
auth_strategy = noauth
region_timeout = 3
graceful_shutdown_timeout = 20

[database]
connection = {pg_url(name)}

[service_credentials]
auth_url = {silent.url}/identity/v3
password = secret

[region_RegionOne]
compute_endpoint = {silent.url}/compute/v2.1
image_endpoint = {silent.url}/image
network_endpoint = {silent.url}/network
""")
    entry = "import sys; from cascade.cmd.{0} import main; sys.exit(main())"
    synced = subprocess.run([sys.executable, "-c", entry.format("manage"), "--config-file",
                             str(conf), "db", "sync"], cwd=ROOT, capture_output=True)
    assert synced.returncode == 0, synced.stderr
    log = tmp_path / "api.log"
    proc = subprocess.Popen([sys.executable, "-c", entry.format("api"), "--config-file",
                             str(conf), "--log-file", str(log)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "err.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while len(_workers(proc.pid)) < 2 or not _answers(url):
            assert proc.poll() is None, (tmp_path / "err.log").read_text()
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for pid in _workers(proc.pid):
            os.kill(pid, signal.SIGKILL)
        silent.sock.close()
        asyncio.run(_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _workers(parent: int) -> list[int]:
    try:
        text = Path(f"/proc/{parent}/task/{parent}/children").read_text()
    except OSError:
        return []
    return [int(pid) for pid in text.split()]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthcheck", timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def _get(url: str, timeout: float = 30) -> int:
    request = urllib.request.Request(f"{url}/compute/v2.1/flavors", headers=HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_dead_worker_is_replaced_and_the_port_keeps_answering(api: tuple) -> None:
    proc, url = api
    workers = _workers(proc.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        now = _workers(proc.pid)
        if len(now) == 2 and workers[0] not in now and all(_answers(url) for _ in range(4)):
            break
        assert time.monotonic() < deadline, f"no replacement worker: {now}"
        time.sleep(0.2)
    assert workers[1] in now, "the other worker was left alone"


def test_sigterm_lets_requests_in_flight_finish(api: tuple) -> None:
    proc, url = api
    answers: list[int] = []
    # Each of these waits on the silent region until Cascade's 3 s deadline.
    threads = [threading.Thread(target=lambda: answers.append(_get(url))) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(30)
    # Answered (the region's 503), not cut off.
    assert answers == [503] * 4
    assert proc.wait(30) == 0
    assert _workers(proc.pid) == []
    assert not _answers(url), "nothing listens after the shutdown"
