"""Change notices within one process (SQLite, all-in-one): handlers by kind, reloads
that never run twice at once and never miss a request, the barrier waiting for
what notices started. Across processes: tests/integration/test_coherence.py."""
from __future__ import annotations

import asyncio

from cascade import config
from cascade.coherence import Coherence, Reloader


async def test_a_published_change_reaches_this_process_handlers_by_kind() -> None:
    coherence = Coherence(config.load([]), None)
    heard: list[tuple[str, str]] = []
    coherence.on("flavor", lambda key: heard.append(("flavor", key)))
    coherence.on("region", lambda key: heard.append(("region", key)))
    await coherence.publish("flavor", "f1")
    await coherence.publish("region")
    coherence.dispatch("placement:server:x")  # nobody listens: nothing happens
    assert heard == [("flavor", "f1"), ("region", "")]


async def test_a_failing_handler_does_not_stop_the_others() -> None:
    coherence = Coherence(config.load([]), None)
    heard: list[str] = []

    def broken(key: str) -> None:
        raise RuntimeError("boom")

    coherence.on("region", broken)
    coherence.on("region", heard.append)
    coherence.dispatch("region:R1")
    assert heard == ["R1"]


async def test_requests_during_a_reload_make_exactly_one_more() -> None:
    runs: list[int] = []
    gate = asyncio.Event()

    async def refresh() -> None:
        runs.append(len(runs))
        await gate.wait()

    reloader = Reloader(refresh)
    reloader.request()
    await asyncio.sleep(0)
    for _ in range(10):  # all while the first runs
        reloader.request()
    gate.set()
    await reloader.wait()
    await asyncio.sleep(0)
    await reloader.wait()
    assert len(runs) == 2, "one run for the ten asks made during the first"


async def test_the_barrier_waits_for_the_work_notices_started() -> None:
    coherence = Coherence(config.load([]), None)
    done: list[str] = []

    async def slow(key: str) -> None:
        await asyncio.sleep(0.05)
        done.append(key)

    coherence.on("region", slow)
    coherence.dispatch("region:R1")
    await coherence.barrier()
    assert done == ["R1"]
