"""Wake-ups for the sync loops: oslo.messaging casts over RabbitMQ, or in process.

A wake-up only shortens a loop's sleep; every loop also sweeps on its own
interval, so a lost message or a broker restart loses nothing (it only delays).
oslo.messaging is blocking, so casts run in a thread and the RPC server uses
its threading executor; received casts are handed to the event loop with
``call_soon_threadsafe``.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from oslo_config import cfg

__all__ = ["Waker", "InProcessWaker", "RpcWaker", "make_waker", "TOPIC"]

LOG = logging.getLogger(__name__)

#: RPC topic the sync workers listen on.
TOPIC = "cascade-sync"
#: Longest a caller waits for a wake-up to be handed to the broker, in seconds.
_CAST_DEADLINE = 2.0


class Waker:
    """Per-loop wake-up events in this process; ``wake`` may come from anywhere."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def event(self, loop_name: str) -> asyncio.Event:
        """The event a loop waits on between rounds."""
        return self._events.setdefault(loop_name, asyncio.Event())

    def _set_local(self, loop_name: str) -> None:
        ev = self._events.get(loop_name)
        if ev is not None:
            ev.set()

    async def wake(self, loop_name: str) -> None:
        """Ask ``loop_name`` to run a round now (in whatever process runs it)."""
        self._set_local(loop_name)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class InProcessWaker(Waker):
    """All-in-one mode: the loops run in this process; no broker needed."""


class _Endpoint:
    def __init__(self, waker: "RpcWaker", loop: asyncio.AbstractEventLoop) -> None:
        self._waker = waker
        self._loop = loop

    def wake(self, ctxt: dict[str, Any], loop_name: str) -> None:
        self._loop.call_soon_threadsafe(self._waker._set_local, loop_name)


class RpcWaker(Waker):
    """Casts wake-ups on ``TOPIC``; with ``listen`` it also receives them."""

    def __init__(self, conf: cfg.ConfigOpts, *, listen: bool, topic: str = TOPIC) -> None:
        super().__init__()
        import oslo_messaging as messaging

        self._messaging = messaging
        self._transport = messaging.get_rpc_transport(conf)
        self._target = messaging.Target(topic=topic)
        # One attempt, no retries: with the broker away a wake-up fails at once
        # (the sweeps cover it) rather than holding the request that sent it.
        self._client = messaging.get_rpc_client(self._transport, self._target, retry=0)
        self._listen = listen
        self._server: Any = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bus")

    async def start(self) -> None:
        if not self._listen:
            return
        loop = asyncio.get_running_loop()
        target = self._messaging.Target(topic=self._target.topic, server="cascade-sync")
        self._server = self._messaging.get_rpc_server(
            self._transport, target, [_Endpoint(self, loop)])
        await loop.run_in_executor(self._pool, self._server.start)

    async def wake(self, loop_name: str) -> None:
        self._set_local(loop_name)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(
                self._pool, lambda: self._client.cast({}, "wake", loop_name=loop_name)),
                _CAST_DEADLINE)
        except Exception as exc:  # noqa: BLE001 - a wake-up is best effort; sweeps cover it
            LOG.warning("could not cast wake-up for %s: %s", loop_name, exc)

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._server is not None:
            await loop.run_in_executor(self._pool, self._server.stop)
            await loop.run_in_executor(self._pool, self._server.wait)
        await loop.run_in_executor(self._pool, self._transport.cleanup)
        self._pool.shutdown(wait=False)


def make_waker(conf: cfg.ConfigOpts, *, listen: bool, all_in_one: bool) -> Waker:
    """RabbitMQ wake-ups when a transport is configured and processes are split."""
    if all_in_one or not conf.transport_url:
        return InProcessWaker()
    return RpcWaker(conf, listen=listen)
