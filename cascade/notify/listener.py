"""One oslo.messaging notification listener per region, handed to the event loop.

Each region that configures a notification transport URL gets a listener on
``[sync] notification_topic`` in the exchanges Nova, Neutron and Glance publish
to. oslo.messaging is blocking, so the listener runs with its threading
executor and its endpoint only parses the notification and passes the
``Change`` to the loop with ``call_soon_threadsafe``: the broker's threads never
wait for Cascade, and the loop never waits for the broker.

Consumers sharing ``[sync] notification_pool`` share one queue (several
cascade-sync processes split the work); a consumer with another pool, or none,
has its own queue, so Cascade never takes messages meant for someone else.

On the loop, changes to the same object are coalesced: while its refresh waits
or runs, newer changes replace each other, and one more refresh follows. A
refresh reads the object's current state, so nothing is lost, and a burst of
events (Nova sends several per action) costs one or two refreshes.

A broker outage only delays: the listener reconnects by itself, and the queue
holds what was published meanwhile. A region whose broker is down at start-up
keeps connecting in the background; start() does not wait for it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from typing import Any, Awaitable, Callable, Iterable

from oslo_config import cfg

from cascade.notify.events import Change, parse
from cascade.regions.registry import RegionInfo
from cascade.typedefs import RegionName

__all__ = ["RegionListeners", "OnChange", "EXCHANGES", "masked_url"]

LOG = logging.getLogger(__name__)

#: What to do about a change; awaited on the loop, never in a broker thread.
OnChange = Callable[[Change], Awaitable[object]]

#: The control exchanges the services publish their notifications to (each
#: service's own default). A listener's default would be Cascade's own
#: ``control_exchange``, where nobody publishes.
EXCHANGES = ("nova", "neutron", "glance")

#: Priorities listened to: ``info`` for changes, ``warn``/``error`` for
#: failures (``instance.create.error``...), which change state as well.
_PRIORITIES = ("info", "warn", "error")

_PASSWORD = re.compile(r"(://|,)([^:@/,]*):[^@/,]*@")


def masked_url(url: str) -> str:
    """A transport URL with its passwords hidden, for logs."""
    return _PASSWORD.sub(r"\1\2:***@", url)


class _Endpoint:
    """Called by oslo.messaging's worker threads; parses and hands over, nothing more."""

    def __init__(self, region: RegionName, hand_over: Callable[[Change], None]) -> None:
        self._region = region
        self._hand_over = hand_over

    def _notified(self, event_type: str, payload: Any) -> None:
        for change in parse(self._region, event_type, payload):
            self._hand_over(change)

    # oslo.messaging finds the priorities an endpoint handles by method name.
    def info(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any,
             metadata: Any) -> None:
        self._notified(event_type, payload)

    def warn(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any,
             metadata: Any) -> None:
        self._notified(event_type, payload)

    def error(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any,
              metadata: Any) -> None:
        self._notified(event_type, payload)


class _RegionListener:
    """One region's transport and listener; its blocking calls run in threads."""

    def __init__(self, conf: cfg.ConfigOpts, region: RegionName, url: str, topic: str,
                 pool: str, hand_over: Callable[[Change], None]) -> None:
        self.region = region
        self.url = url
        self._conf = conf
        self._topic = topic
        self._pool = pool
        self._hand_over = hand_over
        self._lock = threading.Lock()
        self._stopping = False
        self._transport: Any = None
        self._server: Any = None
        #: set once the listener consumes (or gave up)
        self.started = threading.Event()

    def launch(self) -> None:
        """Connect and consume in a daemon thread: a dead broker must not hold start-up."""
        threading.Thread(target=self._start, name=f"notify-{self.region}",
                         daemon=True).start()

    def _start(self) -> None:
        import oslo_messaging as messaging

        try:
            transport = messaging.get_notification_transport(self._conf, url=self.url)
            targets = [messaging.Target(topic=self._topic, exchange=exchange)
                       for exchange in EXCHANGES]
            server = messaging.get_notification_listener(
                transport, targets, [_Endpoint(self.region, self._hand_over)],
                executor="threading", pool=self._pool)
            with self._lock:
                if self._stopping:
                    transport.cleanup()
                    return
                self._transport, self._server = transport, server
            # NOTE: retries for as long as the broker is unreachable.
            server.start()
            LOG.info("listening to %s notifications on %s (topic %s, pool %s)",
                     self.region, masked_url(self.url), self._topic, self._pool)
        except Exception:  # noqa: BLE001 - a bad URL must not take Cascade down
            LOG.exception("cannot listen to %s notifications on %s", self.region,
                          masked_url(self.url))
            self._shut_down()
        finally:
            self.started.set()
        with self._lock:
            stopped_meanwhile = self._stopping
        if stopped_meanwhile:
            self._shut_down()

    def stop(self, timeout: float) -> None:
        """Stop consuming and close the transport (blocking; run it in a thread)."""
        with self._lock:
            self._stopping = True
        if not self.started.wait(timeout):
            # Still connecting to a dead broker: _start shuts down if it ever gets through.
            LOG.warning("%s notification listener still connecting to %s; left behind",
                        self.region, masked_url(self.url))
            return
        self._shut_down()

    def _shut_down(self) -> None:
        with self._lock:
            server, transport = self._server, self._transport
            self._server = self._transport = None
        if server is not None:
            with contextlib.suppress(Exception):
                server.stop()
                server.wait()
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.cleanup()


class RegionListeners:
    """Listens to every region that has a notification transport; ``on_change`` per object.

    :param regions: re-read by every ``update()`` (a ``RegionRegistry`` or a list).
    :param on_change: awaited on the loop; at most ``concurrency`` at a time, one
        at a time per object.
    """

    def __init__(self, conf: cfg.ConfigOpts, regions: Iterable[RegionInfo],
                 on_change: OnChange, *, topic: str | None = None, pool: str | None = None,
                 concurrency: int = 8, stop_timeout: float = 5.0) -> None:
        self._conf = conf
        self._regions = regions
        self._on_change = on_change
        self.topic = topic or conf.sync.notification_topic
        self.pool = pool or conf.sync.notification_pool
        self._slots = asyncio.Semaphore(concurrency)
        self._stop_timeout = stop_timeout
        self._listeners: dict[str, _RegionListener] = {}
        self._latest: dict[tuple[str, str, str], Change] = {}
        self._drains: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def regions(self) -> dict[str, str]:
        """Region -> transport URL of the listeners running (or connecting)."""
        return {name: lst.url for name, lst in self._listeners.items()}

    async def start(self) -> None:
        """Start a listener for each region with a transport URL; does not wait for brokers."""
        self._loop = asyncio.get_running_loop()
        await self.update()

    async def update(self) -> None:
        """Follow the regions: listen to new ones, stop removed ones, restart changed URLs."""
        wanted = {r.name: r.notification_transport_url for r in self._regions
                  if r.notification_transport_url}
        gone = [lst for name, lst in self._listeners.items() if wanted.get(name) != lst.url]
        for lst in gone:
            del self._listeners[lst.region]
        await self._stop(gone)
        for name, url in sorted(wanted.items()):
            if name in self._listeners:
                continue
            others = sorted(n for n, u in wanted.items() if u == url and n != name)
            if others:
                # NOTE: one queue per pool and transport: the regions would take
                # each other's events and attribute them to themselves.
                LOG.warning("region %s shares its notification transport %s with %s",
                            name, masked_url(url), ", ".join(others))
            lst = _RegionListener(self._conf, RegionName(name), url, self.topic,
                                  self.pool, self._hand_over)
            self._listeners[name] = lst
            lst.launch()

    async def ready(self, timeout: float) -> bool:
        """Wait until every listener consumes (or failed to start); False on timeout.

        Only notifications published after this reach a new pool's queue.
        """
        waits = [asyncio.to_thread(lst.started.wait, timeout)
                 for lst in self._listeners.values()]
        return all(await asyncio.gather(*waits))

    async def stop(self) -> None:
        """Stop every listener, then cancel the refreshes still waiting or running."""
        self._closed = True
        listeners, self._listeners = list(self._listeners.values()), {}
        await self._stop(listeners)
        tasks = list(self._drains.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _stop(self, listeners: list[_RegionListener]) -> None:
        if listeners:
            await asyncio.gather(*(asyncio.to_thread(lst.stop, self._stop_timeout)
                                   for lst in listeners))

    def _hand_over(self, change: Change) -> None:
        """From a broker thread: queue ``change`` on the loop, never wait for it."""
        loop = self._loop
        if loop is None or self._closed:
            return
        try:
            loop.call_soon_threadsafe(self._accept, change)
        except RuntimeError:  # the loop is closed: Cascade is shutting down
            pass

    def _accept(self, change: Change) -> None:
        if self._closed:
            return
        LOG.debug("%s %s %s: %s", change.region, change.kind, change.local_id,
                  change.event_type)
        self._latest[change.key] = change
        if change.key not in self._drains:
            self._drains[change.key] = asyncio.create_task(
                self._drain(change.key), name=f"notify-{change.kind}-{change.local_id}")

    async def _drain(self, key: tuple[str, str, str]) -> None:
        try:
            while (change := self._latest.pop(key, None)) is not None:
                async with self._slots:
                    try:
                        await self._on_change(change)
                    except Exception:  # noqa: BLE001 - one bad refresh must not stop others
                        LOG.exception("refresh after %s of %s %s in %s failed",
                                      change.event_type, change.kind, change.local_id,
                                      change.region)
        finally:
            self._drains.pop(key, None)
