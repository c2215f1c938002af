"""Regional notifications over the machine's real RabbitMQ reach Cascade's callback.

Notifications are published the way the services do (an oslo.messaging Notifier
on the service's control exchange), on a topic and pools unique to each test;
the queues are deleted afterwards.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Iterator
from urllib.parse import urlsplit

import kombu
import oslo_messaging as messaging
import pytest

from cascade.notify.events import Change
from cascade.notify.listener import RegionListeners
from cascade.regions.registry import RegionInfo
from cascade.typedefs import LocalId, RegionName
from tests.conftest import write_conf

TRANSPORT = os.environ.get("CASCADE_TEST_TRANSPORT_URL", "rabbit://guest:guest@127.0.0.1:5672/")
SERVER = "0b5a3cf6-8a3e-4f3c-9b1e-2d9b5a1f4c77"
PORT = "7f1f5d1e-3b0c-4a55-8f23-5f6a2b0e9d11"
IMAGE = "8a1a2f3e-6c1d-4f6b-9a55-2f0e7d1c0a01"


def _amqp_url(transport_url: str) -> str:
    return transport_url.replace("rabbit://", "amqp://", 1)


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    """A topic and two pools for this test; their queues are deleted afterwards."""
    tag = uuid.uuid4().hex[:8]
    made = {"topic": f"cascade-test-notify-{tag}", "a": f"cascade-test-{tag}-a",
            "b": f"cascade-test-{tag}-b"}
    yield made
    queues = [made["a"], made["b"]] + [f"{made['topic']}.{p}" for p in ("info", "error")]
    with kombu.Connection(_amqp_url(TRANSPORT)) as conn:
        for queue in queues:
            with contextlib.suppress(Exception):
                conn.channel().queue_delete(queue)


class Service:
    """Publishes as Nova, Neutron or Glance would (their control exchange)."""

    def __init__(self, tmp_path: Path, exchange: str, topic: str) -> None:
        (tmp_path / exchange).mkdir()
        conf = write_conf(tmp_path / exchange, f"[DEFAULT]\ncontrol_exchange = {exchange}\n")
        self.transport = messaging.get_notification_transport(conf, url=TRANSPORT)
        self.notifier = messaging.Notifier(self.transport, publisher_id=f"{exchange}:test",
                                           driver="messagingv2", topics=[topic])

    async def info(self, event_type: str, payload: dict[str, Any]) -> None:
        await asyncio.to_thread(self.notifier.info, {}, event_type, payload)

    def close(self) -> None:
        self.transport.cleanup()


class Received:
    """A callback that records what it gets, and waits for it."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self._new = asyncio.Event()

    async def __call__(self, change: Change) -> None:
        self.changes.append(change)
        self._new.set()

    async def wait_for(self, local_id: str, timeout: float = 5.0) -> Change:
        async with asyncio.timeout(timeout):
            while True:
                for change in self.changes:
                    if change.local_id == local_id:
                        return change
                self._new.clear()
                await self._new.wait()


@contextlib.asynccontextmanager
async def listening(tmp_path: Path, url: str, topic: str, pool: str,
                    received: Received) -> AsyncIterator[RegionListeners]:
    conf = write_conf(tmp_path, "[oslo_messaging_rabbit]\nrabbit_retry_interval = 1\n")
    regions = [RegionInfo("RegionOne", "RegionOne", notification_transport_url=url)]
    listeners = RegionListeners(conf, regions, received, topic=topic, pool=pool)
    await listeners.start()
    try:
        assert await listeners.ready(30), "the listener did not connect"
        yield listeners
    finally:
        await listeners.stop()


async def test_each_service_reaches_the_callback_and_other_pools_keep_their_copy(
        tmp_path: Path, names: dict[str, str]) -> None:
    topic = names["topic"]
    nova, neutron, glance = (Service(tmp_path, ex, topic) for ex in ("nova", "neutron", "glance"))
    cascade, other = Received(), Received()
    try:
        async with listening(tmp_path, TRANSPORT, topic, names["a"], cascade), \
                listening(tmp_path, TRANSPORT, topic, names["b"], other):
            loop = asyncio.get_running_loop()
            sent = loop.time()
            await nova.info("instance.power_off.end", {
                "nova_object.name": "InstanceActionPayload",
                "nova_object.data": {"uuid": SERVER, "state": "stopped"}})
            await neutron.info("port.update.end", {"port": {"id": PORT, "status": "DOWN"}})
            await glance.info("image.update", {"id": IMAGE, "status": "active"})
            got = await cascade.wait_for(SERVER)
            assert loop.time() - sent < 5
            assert got == Change(RegionName("RegionOne"), "server", LocalId(SERVER),
                                 "instance.power_off.end")
            assert (await cascade.wait_for(PORT)).kind == "port"
            assert (await cascade.wait_for(IMAGE)).kind == "image"
            # a consumer in another pool got its own copy of every one
            for local_id in (SERVER, PORT, IMAGE):
                await other.wait_for(local_id)
            await asyncio.sleep(0.3)
            assert len(cascade.changes) == len(other.changes) == 3
    finally:
        for service in (nova, neutron, glance):
            service.close()


class _Proxy:
    """A TCP proxy to the broker whose connections can be cut, as in a broker outage."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def test_listener_survives_a_broker_outage(tmp_path: Path, names: dict[str, str]) -> None:
    parts = urlsplit(TRANSPORT)
    proxy = _Proxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    await proxy.start()
    via_proxy = TRANSPORT.replace(f"@{parts.hostname}:{parts.port or 5672}",
                                  f"@127.0.0.1:{proxy.port}", 1)
    nova = Service(tmp_path, "nova", names["topic"])
    received = Received()
    try:
        async with listening(tmp_path, via_proxy, names["topic"], names["a"], received):
            await nova.info("instance.update", {"nova_object.data": {"uuid": "before"}})
            await received.wait_for("before")
            await proxy.cut()
            # published while Cascade cannot reach the broker: kept in its queue
            await nova.info("instance.update", {"nova_object.data": {"uuid": "during"}})
            await asyncio.sleep(2)
            await proxy.start()
            await received.wait_for("during", timeout=30)
            await nova.info("instance.update", {"nova_object.data": {"uuid": "after"}})
            await received.wait_for("after", timeout=10)
    finally:
        nova.close()
        with contextlib.suppress(Exception):
            await proxy.cut()


async def test_start_does_not_wait_for_a_broker_that_is_down(tmp_path: Path,
                                                             names: dict[str, str]) -> None:
    parts = urlsplit(TRANSPORT)
    proxy = _Proxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    with socket.socket() as s:   # a port nobody listens on, until the proxy does
        s.bind(("127.0.0.1", 0))
        proxy.port = s.getsockname()[1]
    via_proxy = TRANSPORT.replace(f"@{parts.hostname}:{parts.port or 5672}",
                                  f"@127.0.0.1:{proxy.port}", 1)
    conf = write_conf(tmp_path, "[oslo_messaging_rabbit]\nrabbit_retry_interval = 1\n")
    received = Received()
    regions = [RegionInfo("RegionOne", "RegionOne", notification_transport_url=via_proxy)]
    listeners = RegionListeners(conf, regions, received, topic=names["topic"],
                                pool=names["a"])
    nova = Service(tmp_path, "nova", names["topic"])
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        await listeners.start()
        assert loop.time() - began < 1, "start() waited for the broker"
        assert not await listeners.ready(1.5)
        await proxy.start()
        assert await listeners.ready(30), "the listener did not connect once the broker was up"
        await nova.info("instance.update", {"nova_object.data": {"uuid": "late"}})
        await received.wait_for("late")
    finally:
        await listeners.stop()
        nova.close()
        with contextlib.suppress(Exception):
            await proxy.cut()
