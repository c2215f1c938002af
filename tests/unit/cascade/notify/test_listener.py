"""RegionListeners' hand-over: from broker threads to the loop, coalesced per object."""
from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from cascade.notify.events import Change
from cascade.notify.listener import RegionListeners, _Endpoint, masked_url
from cascade.regions.registry import RegionInfo
from cascade.typedefs import LocalId, RegionName
from tests.conftest import write_conf

R1 = RegionName("RegionOne")


def change(local_id: str, event_type: str = "instance.update") -> Change:
    return Change(R1, "server", LocalId(local_id), event_type)


async def started(tmp_path: Path, on_change: object, **kw: object) -> RegionListeners:
    listeners = RegionListeners(write_conf(tmp_path, ""), [], on_change, **kw)  # type: ignore[arg-type]
    await listeners.start()
    return listeners


async def until(predicate: object, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_changes_from_threads_reach_the_callback_on_the_loop(tmp_path: Path) -> None:
    loop_thread = threading.get_ident()
    seen: list[tuple[Change, int]] = []

    async def on_change(c: Change) -> None:
        seen.append((c, threading.get_ident()))

    listeners = await started(tmp_path, on_change)
    endpoint = _Endpoint(R1, listeners._hand_over)
    payload = {"nova_object.data": {"uuid": "a"}}
    thread = threading.Thread(target=endpoint.info,
                              args=({}, "nova-compute:h", "instance.update", payload, {}))
    thread.start()
    thread.join()
    await until(lambda: seen)
    assert seen == [(change("a"), loop_thread)]
    await listeners.stop()


async def test_a_burst_for_one_object_costs_at_most_two_refreshes(tmp_path: Path) -> None:
    gate = asyncio.Event()
    seen: list[Change] = []

    async def on_change(c: Change) -> None:
        seen.append(c)
        await gate.wait()

    listeners = await started(tmp_path, on_change)
    listeners._hand_over(change("a", "instance.update"))
    await until(lambda: seen)
    for event in ("instance.power_off.start", "instance.update", "instance.power_off.end"):
        listeners._hand_over(change("a", event))
    listeners._hand_over(change("b"))
    await until(lambda: len(seen) == 2)
    gate.set()
    await until(lambda: not listeners._drains)
    # the first refresh, then one for the newest of the three that came meanwhile
    assert [(c.local_id, c.event_type) for c in seen] == [
        ("a", "instance.update"), ("b", "instance.update"), ("a", "instance.power_off.end")]
    await listeners.stop()


async def test_a_failing_refresh_is_logged_and_the_next_one_runs(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    async def on_change(c: Change) -> None:
        seen.append(c.local_id)
        if c.local_id == "bad":
            raise RuntimeError("region said no")

    listeners = await started(tmp_path, on_change)
    with caplog.at_level(logging.ERROR):
        listeners._hand_over(change("bad"))
        await until(lambda: seen == ["bad"])
        listeners._hand_over(change("bad"))
        listeners._hand_over(change("good"))
        await until(lambda: sorted(seen) == ["bad", "bad", "good"])
    assert "refresh after instance.update of server bad in RegionOne failed" in caplog.text
    await listeners.stop()


async def test_refreshes_are_bounded(tmp_path: Path) -> None:
    running = 0
    most = 0
    gate = asyncio.Event()

    async def on_change(c: Change) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await gate.wait()
        running -= 1

    listeners = await started(tmp_path, on_change, concurrency=3)
    for i in range(10):
        listeners._hand_over(change(str(i)))
    await until(lambda: running == 3)
    await asyncio.sleep(0.05)
    assert most == 3
    gate.set()
    await until(lambda: not listeners._drains)
    await listeners.stop()


async def test_stop_cancels_waiting_refreshes_and_drops_late_changes(tmp_path: Path) -> None:
    cancelled = asyncio.Event()

    async def on_change(c: Change) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    listeners = await started(tmp_path, on_change)
    listeners._hand_over(change("a"))
    await until(lambda: listeners._drains)
    await listeners.stop()
    assert cancelled.is_set()
    listeners._hand_over(change("b"))
    await asyncio.sleep(0.05)
    assert not listeners._drains


async def test_only_regions_with_a_transport_are_listened_to(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    regions = [RegionInfo("RegionOne", "RegionOne"),
               RegionInfo("RegionTwo", "RegionTwo",
                          notification_transport_url="nosuchdriver://u:pw@h/v")]

    async def on_change(c: Change) -> None:
        return None

    listeners = RegionListeners(write_conf(tmp_path, ""), regions, on_change)
    with caplog.at_level(logging.ERROR):
        await listeners.start()
        assert listeners.regions == {"RegionTwo": "nosuchdriver://u:pw@h/v"}
        lst = listeners._listeners["RegionTwo"]
        await asyncio.to_thread(lst.started.wait, 10)
    # an unusable URL is reported (without its password), not fatal
    assert "cannot listen to RegionTwo notifications on nosuchdriver://u:***@h/v" in caplog.text
    assert "pw" not in caplog.text
    regions.pop()
    await listeners.update()
    assert listeners.regions == {}
    await listeners.stop()


def test_masked_url() -> None:
    assert masked_url("rabbit://guest:guest@127.0.0.1:5672/cascade-r1") == \
        "rabbit://guest:***@127.0.0.1:5672/cascade-r1"
    assert masked_url("rabbit://a:p1@h1:5672,b:p2@h2:5672/v") == \
        "rabbit://a:***@h1:5672,b:***@h2:5672/v"
    assert masked_url("rabbit://h1/v") == "rabbit://h1/v"
