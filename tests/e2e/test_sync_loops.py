"""Cascade's picture stays true on its own, against the two real regions: a server
stopped directly in a region shows SHUTOFF through the notification path (and through
the poll when notifications are off); a server deleted directly is marked and reported;
a server Cascade did not make is never touched."""
from __future__ import annotations

import json
import secrets
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.e2e.conftest import CascadeProcess, Cli, wait_for
from tests.e2e.test_fault_injection import _auth

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

IMAGE = "cirros-0.6.2-x86_64-disk"


def _wait(what: str, check: Callable[[], Any], timeout: float = 120) -> float:
    """Seconds until ``check`` held."""
    started = time.monotonic()
    wait_for(what, check, timeout, interval=0.25)
    return time.monotonic() - started


def _mapping(cascade: CascadeProcess, global_id: str) -> dict[str, Any]:
    token, _ = _auth("admin")
    req = urllib.request.Request(f"{cascade.url}/v1/mappings/{global_id}",
                                 headers={"X-Auth-Token": token})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return dict(json.loads(resp.read())["mapping"]["resources"][0])


def _cached_status(cascade: CascadeProcess, global_id: str) -> str:
    return str(_mapping(cascade, global_id)["status"])


def _boot(cli: Cli, cascade: CascadeProcess, name: str) -> tuple[str, str]:
    server = cli.json("cascade-demo", "server", "create", "--flavor", "m1.nano", "--image",
                      IMAGE, "--nic", "none", "--availability-zone", "RegionTwo", name)
    gid = server["id"]
    _wait("ACTIVE", lambda: cli.json("cascade-demo", "server", "show", gid)["status"]
          == "ACTIVE")
    (placement,) = _mapping(cascade, gid)["placements"]
    assert placement["region"] == "RegionTwo"
    return gid, str(placement["local_id"])


def test_notifications_poll_missing_and_foreign(cli: Cli, cascade: CascadeProcess,
                                                tmp_path: Path) -> None:
    tag = secrets.token_hex(3)
    gid, local = _boot(cli, cascade, f"sync-{tag}")
    made: list[str] = [gid]
    foreign = None
    try:
        # Notification path: the poll runs every 600 s here, so only the event explains it.
        _wait("cached ACTIVE", lambda: _cached_status(cascade, gid) == "ACTIVE", 60)
        cli("regions-demo", "server", "stop", local, region="RegionTwo")
        delay = _wait("SHUTOFF through notifications",
                      lambda: _cached_status(cascade, gid) == "SHUTOFF", 60)
        print(f"notification path: SHUTOFF seen {delay:.1f} s after the stop call")

        # Poll path: cascade-sync without the listener, polling every 2 s.
        poll = tmp_path / "poll.conf"
        poll.write_text("[sync]\nworkers = *,-notifications\nreconcile_interval = 2\n")
        cascade.kill("cascade-sync")
        cascade.start("cascade-sync", extra_conf=poll)
        try:
            cli("regions-demo", "server", "start", local, region="RegionTwo")
            delay = _wait("ACTIVE through the poll",
                          lambda: _cached_status(cascade, gid) == "ACTIVE", 90)
            print(f"poll path: ACTIVE seen {delay:.1f} s after the start call")
        finally:
            cascade.kill("cascade-sync")
            cascade.start("cascade-sync")

        # Deleted directly in the region: the mapping is marked and reported.
        cli("regions-demo", "server", "delete", "--wait", local, region="RegionTwo")
        _wait("mapping marked missing", lambda: _mapping(cascade, gid)["placements"][0][
            "state"] == "missing", 60)
        verify = cascade.manage("mapping", "verify", "--region", "RegionTwo", "--type",
                                "server", "-f", "json")
        assert verify.returncode == 1, verify.stdout + verify.stderr
        findings = json.loads(verify.stdout)["findings"]
        assert {"action": "missing", "global_id": gid} .items() <= {
            **next(f for f in findings if f["global_id"] == gid)}.items()

        # A server Cascade did not make: never touched, even by a repairing audit.
        foreign = cli.json("regions-demo", "server", "create", "--flavor", "m1.nano",
                           "--image", IMAGE, "--nic", "none", f"foreign-{tag}",
                           region="RegionTwo")["id"]
        adopted = cascade.manage("mapping", "adopt", "--region", "RegionTwo", "--type",
                                 "server", "--grace", "0", "-f", "json")
        assert adopted.returncode in (0, 1), adopted.stdout + adopted.stderr
        assert cli.json("regions-demo", "server", "show", foreign,
                        region="RegionTwo")["id"] == foreign
        assert foreign not in json.dumps(cli.json("cascade-demo", "server", "list"))
    finally:
        for server in made:
            cli("cascade-demo", "server", "delete", server, check=False)
        if foreign:
            cli("regions-demo", "server", "delete", foreign, region="RegionTwo",
                check=False)
