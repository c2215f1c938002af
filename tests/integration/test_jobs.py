"""The durable job queue on PostgreSQL and SQLite: dedupe, exclusive claims, leases,
retries, permanent failures, cancellation."""
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.db.models import Job, JobState
from cascade.regions.registry import RegionRegistry
from cascade.jobs import queue as jobs
from cascade.sync.worker import JobContext, Outcome, PermanentError, Worker
from tests.conftest import write_conf


@pytest.fixture
def sessions(db_sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    return db_sessions


async def _add(sessions: async_sessionmaker[AsyncSession], n: int, kind: str = "k",
               key: str | None = None) -> list[int]:
    ids = []
    async with sessions.begin() as s:
        for i in range(n):
            ids.append(await jobs.enqueue(s, kind, {"i": i}, dedupe_key=key))
    return ids


async def test_dedupe_key_joins_active_work_only(sessions: Any) -> None:
    first = await _add(sessions, 1, key="image:x:R2")
    again = await _add(sessions, 1, key="image:x:R2")
    assert first == again
    job = await jobs.claim(sessions, "w1", ["k"], 30)
    assert job is not None and job.id == first[0]
    assert await _add(sessions, 1, key="image:x:R2") == first, "running work is joined too"
    await jobs.finish(sessions, job.id, "w1", JobState.SUCCEEDED)
    assert await _add(sessions, 1, key="image:x:R2") != first, "finished work is not"


async def test_concurrent_claims_never_share_a_job(sessions: Any) -> None:
    await _add(sessions, 40)
    claimed: list[int] = []

    async def claimer(name: str) -> None:
        while True:
            job = await jobs.claim(sessions, name, ["k"], 30)
            if job is None:
                return
            claimed.append(job.id)

    await asyncio.gather(*(claimer(f"w{i}") for i in range(6)))
    assert len(claimed) == 40 and len(set(claimed)) == 40


async def test_expired_lease_is_taken_over_and_the_old_owner_is_ignored(
        sessions: Any) -> None:
    (job_id,) = await _add(sessions, 1)
    first = await jobs.claim(sessions, "dead-worker", ["k"], 0.3)
    assert first is not None and await jobs.claim(sessions, "other", ["k"], 30) is None
    await asyncio.sleep(0.5)
    second = await jobs.claim(sessions, "other", ["k"], 30)
    assert second is not None and second.id == job_id and second.attempts == 2
    assert not await jobs.renew(sessions, job_id, "dead-worker", 30)
    await jobs.finish(sessions, job_id, "dead-worker", JobState.FAILED, "late")
    async with sessions() as s:
        assert (await jobs.get(s, job_id)).state == JobState.RUNNING


async def _worker(tmp_path: Path, sessions: Any, handlers: dict[str, Any],
                  **sync: Any) -> Worker:
    opts = {"job_sweep_interval": 0.1, "job_lease_seconds": 3, "job_max_attempts": 3,
            **sync}
    conf = write_conf(tmp_path, "[sync]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items()))
    ev = asyncio.Event()

    async def wake(_: str) -> None:
        ev.set()
    return Worker(conf, sessions, None, RegionRegistry(), handlers, ev, wake)  # type: ignore


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[None]:
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await worker.stop()


async def _state(sessions: Any, job_id: int) -> Job:
    async with sessions() as s:
        return await jobs.get(s, job_id)


async def _until(sessions: Any, job_id: int, states: tuple[str, ...]) -> Job:
    for _ in range(200):
        job = await _state(sessions, job_id)
        if job.state in states:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} stuck in {job.state}")


async def test_worker_retries_transient_errors_then_succeeds(sessions: Any,
                                                             tmp_path: Path) -> None:
    calls = 0

    async def flaky(ctx: JobContext) -> Outcome:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise errors.RegionUnavailable("R", "not yet")
        return Outcome.done()

    worker = await _worker(tmp_path, sessions, {"k": flaky})
    (job_id,) = await _add(sessions, 1)
    jobs_backoff = jobs.backoff  # no real backoff in a test: retries are due at once
    try:
        jobs.backoff = lambda attempt, **kw: 0.05  # type: ignore[assignment]
        async with running(worker):
            job = await _until(sessions, job_id, (JobState.SUCCEEDED, JobState.DEAD))
    finally:
        jobs.backoff = jobs_backoff  # type: ignore[assignment]
    assert job.state == JobState.SUCCEEDED and calls == 3 and job.attempts == 3


async def test_worker_gives_up_dead_and_fails_permanent_errors(sessions: Any,
                                                               tmp_path: Path) -> None:
    async def broken(ctx: JobContext) -> Outcome:
        raise errors.RegionUnavailable("R", "still down")

    async def refused(ctx: JobContext) -> Outcome:
        raise PermanentError("hash mismatch")

    worker = await _worker(tmp_path, sessions, {"k": broken, "p": refused})
    (dead,) = await _add(sessions, 1)
    (failed,) = await _add(sessions, 1, kind="p")
    saved = jobs.backoff
    try:
        jobs.backoff = lambda attempt, **kw: 0.05  # type: ignore[assignment]
        async with running(worker):
            d = await _until(sessions, dead, (JobState.DEAD,))
            f = await _until(sessions, failed, (JobState.FAILED,))
    finally:
        jobs.backoff = saved  # type: ignore[assignment]
    assert d.attempts == 3 and "still down" in (d.last_error or "")
    assert f.attempts == 1 and f.last_error == "hash mismatch"


async def test_waiting_does_not_use_up_attempts(sessions: Any, tmp_path: Path) -> None:
    rounds = 0

    async def waits(ctx: JobContext) -> Outcome:
        nonlocal rounds
        rounds += 1
        return Outcome.wait(0.05) if rounds < 5 else Outcome.done()

    worker = await _worker(tmp_path, sessions, {"k": waits})
    (job_id,) = await _add(sessions, 1)
    async with running(worker):
        job = await _until(sessions, job_id, (JobState.SUCCEEDED,))
    assert rounds == 5 and job.attempts == 1


async def test_a_job_put_back_runs_again_when_due_not_at_the_next_sweep(
        sessions: Any, tmp_path: Path) -> None:
    """With no sweep for a minute and no wake-up from anyone, a job that asks to run
    again shortly still runs again (twice), and ends."""
    rounds = 0

    async def waits(ctx: JobContext) -> Outcome:
        nonlocal rounds
        rounds += 1
        return Outcome.wait(0.0 if rounds == 1 else 0.05) if rounds < 3 else Outcome.done()

    worker = await _worker(tmp_path, sessions, {"k": waits}, job_sweep_interval=60)
    (job_id,) = await _add(sessions, 1)
    async with running(worker):
        job = await _until(sessions, job_id, (JobState.SUCCEEDED,))
    assert rounds == 3 and job.attempts == 1


async def test_a_request_joining_a_running_job_makes_it_run_again(
        sessions: Any, tmp_path: Path) -> None:
    """The running work may be past what the joining request needs, so the job runs
    once more after it; a request after the job ended adds a job of its own."""
    rounds = 0
    first_running, release = asyncio.Event(), asyncio.Event()

    async def work(ctx: JobContext) -> Outcome:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            first_running.set()
            await release.wait()
        return Outcome.done()

    worker = await _worker(tmp_path, sessions, {"k": work}, job_sweep_interval=60)
    (job_id,) = await _add(sessions, 1, key="same")
    async with running(worker):
        await asyncio.wait_for(first_running.wait(), 10)
        assert await _add(sessions, 1, key="same") == [job_id]  # joined, not added
        release.set()
        job = await _until(sessions, job_id, (JobState.SUCCEEDED,))
        assert rounds == 2 and job.attempts == 1
        (later,) = await _add(sessions, 1, key="same")
        assert later != job_id
        worker._event.set()  # the wake-up the enqueuing process would send
        await _until(sessions, later, (JobState.SUCCEEDED,))
    assert rounds == 3


async def test_cancel_stops_running_work(sessions: Any, tmp_path: Path) -> None:
    started, stopped = asyncio.Event(), asyncio.Event()

    async def long(ctx: JobContext) -> Outcome:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.set()
            raise
        return Outcome.done()

    worker = await _worker(tmp_path, sessions, {"k": long}, job_lease_seconds=3)
    (job_id,) = await _add(sessions, 1)
    async with running(worker):
        await asyncio.wait_for(started.wait(), 5)
        async with sessions.begin() as s:
            await jobs.cancel(s, job_id)
        await asyncio.wait_for(stopped.wait(), 5)
    assert (await _state(sessions, job_id)).state == JobState.CANCELLED


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    delays = [jobs.backoff(n, base=1, cap=30) for n in range(1, 10)]
    assert all(0 <= d <= 30 for d in delays)


async def test_a_router_converge_waits_out_a_region_outage_without_dying(
        sessions: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unreachable regions are waited for, however many runs that takes (the job
    never goes dead, so the region catches up when it is back); a region that
    answers with an error counts as a failed attempt as before."""
    from cascade.networks.router_converge import RouterConverger
    from sync import router_converge

    failures: list[BaseException] = [errors.RegionUnavailable("R2", "connection refused")] * 4
    runs = 0

    async def converge(self: Any, project_id: str) -> Any:
        nonlocal runs
        runs += 1
        if failures:
            raise failures.pop()
        return type("Done", (), {"created": [], "removed": [], "routes_set": []})()

    monkeypatch.setattr(RouterConverger, "converge", converge)
    monkeypatch.setattr(RegionRegistry, "get",
                        lambda self, name: object() if name == "R2" else None)
    worker = await _worker(tmp_path, sessions, {"router_converge": router_converge.handle},
                           job_max_attempts=1, region_probe_interval=1.0)
    async with sessions.begin() as s:
        job_id = await jobs.enqueue(s, "router_converge", {"project_id": "p1"})
    async with running(worker):
        job = await _until(sessions, job_id, (JobState.SUCCEEDED, JobState.DEAD))
    assert job.state == JobState.SUCCEEDED and runs == 5
    assert job.attempts <= 1

    # A region that answers with an error, or one no longer registered: counted.
    for failure in (errors.RegionHTTPError("R2", 500, None, "boom"),
                    errors.RegionUnavailable("R9", "Region R9 is not registered")):
        failures.append(failure)
        async with sessions.begin() as s:
            job_id = await jobs.enqueue(s, "router_converge", {"project_id": "p2"})
        async with running(worker):
            job = await _until(sessions, job_id, (JobState.SUCCEEDED, JobState.DEAD))
        assert job.state == JobState.DEAD, failure
