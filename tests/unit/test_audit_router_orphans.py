"""The audit's clean-up of orphan router interfaces never sends a region a path built
from a hostile regional value: a port's ``device_id`` is the tenant's to set."""
from __future__ import annotations

from typing import Any

import pytest

from cascade.regions import paths
from sync import audit


class _Client:
    def __init__(self, port: dict[str, Any]) -> None:
        self.port = port
        self.sent: list[tuple[str, str]] = []

    async def get(self, ctx: Any, region: str, service: str, path: str,
                  **kw: Any) -> Any:
        paths.check(path)
        return type("R", (), {"body": {"port": self.port}})()

    async def request(self, ctx: Any, region: str, service: str, method: str, path: str,
                      **kw: Any) -> Any:
        paths.check(path)
        self.sent.append((method, path))


@pytest.mark.parametrize("device_id", ["../../v2.0/networks/x", "a/b", "..", "x%2Fy/.."])
async def test_a_hostile_device_id_reaches_no_region(device_id: str) -> None:
    client = _Client({"device_owner": "network:router_interface", "device_id": device_id})
    try:
        await audit._detach_port(client, "R1", "p1")  # type: ignore[arg-type]
    except paths.UnsafePath:
        pass
    for _, path in client.sent:
        assert path == "/v2.0/routers/" + paths.segment(device_id) + \
            "/remove_router_interface"
        assert ".." not in path.split("/")


async def test_an_orphan_interface_is_taken_off_its_router() -> None:
    client = _Client({"device_owner": "network:router_interface", "device_id": "r-1"})
    await audit._detach_port(client, "R1", "p1")  # type: ignore[arg-type]
    assert client.sent == [("PUT", "/v2.0/routers/r-1/remove_router_interface")]
