"""Wake-ups cross processes over the machine's real RabbitMQ; a lost one costs only time."""
from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path

from cascade.bus import RpcWaker
from cascade.sync.loops import run_periodic
from tests.conftest import write_conf

TRANSPORT = os.environ.get("CASCADE_TEST_TRANSPORT_URL", "rabbit://guest:guest@127.0.0.1:5672/")


async def test_cast_wakes_a_loop_in_another_waker(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, f"[DEFAULT]\ntransport_url = {TRANSPORT}\n")
    topic = f"cascade-test-{uuid.uuid4().hex[:8]}"
    worker = RpcWaker(conf, listen=True, topic=topic)
    api = RpcWaker(conf, listen=False, topic=topic)
    await worker.start()
    rounds = 0

    async def one_round() -> None:
        nonlocal rounds
        rounds += 1

    task = asyncio.create_task(run_periodic("deletes", 3600, one_round,
                                            worker.event("deletes")))
    try:
        await asyncio.sleep(0.2)
        assert rounds == 1
        await api.wake("deletes")
        for _ in range(100):
            if rounds == 2:
                break
            await asyncio.sleep(0.05)
        assert rounds == 2, "the cast over RabbitMQ did not wake the loop"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await api.stop()
        await worker.stop()


async def test_periodic_round_runs_without_any_wake_up() -> None:
    rounds = 0

    async def one_round() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 2:
            raise RuntimeError("a failing round does not stop the loop")

    task = asyncio.create_task(run_periodic("x", 0.05, one_round))
    await asyncio.sleep(0.3)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert rounds >= 4
