"""The durable job queue: enqueue in the caller's transaction, claim, lease, finish.

A job is written in the same transaction as the change it serves, so the
change and its follow-up work commit together or not at all. Workers claim
with one ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)
RETURNING`` on PostgreSQL (SQLite serialises writers, so the plain form is
enough there), hold a lease they renew while working, and a job whose lease
expired is claimed again by anyone. A dedupe key makes a second request for
the same work join the first (unique among queued and running jobs).
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Iterable

import tenacity
from sqlalchemy import and_, delete, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.db.models import Job, JobState

__all__ = ["enqueue", "claim", "renew", "finish", "complete", "retry_later", "defer", "progress",
           "backoff", "retry", "cancel", "get", "list_jobs", "purge_finished"]

LOG = logging.getLogger(__name__)


#: The predicate of the partial unique index on ``dedupe_key``.
ACTIVE_PREDICATE = text("state IN ('queued', 'running')")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def enqueue(session: AsyncSession, kind: str, payload: dict[str, Any], *,
                  dedupe_key: str | None = None, delay: float = 0.0) -> int:
    """Add a job in the caller's transaction; the id of the job doing this work.

    With ``dedupe_key``, an already queued or running job with the same key is
    joined: its id is returned and nothing is added.
    """
    values = {"kind": kind, "payload": payload, "dedupe_key": dedupe_key,
              "state": JobState.QUEUED, "attempts": 0,
              "run_after": _now() + dt.timedelta(seconds=delay),
              "created_at": _now(), "updated_at": _now()}
    if dedupe_key is None:
        job = Job(**values)
        session.add(job)
        await session.flush()
        return job.id
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    # NOTE: the predicate is literal SQL, exactly the partial index's: PostgreSQL
    # cannot match an index predicate written with bound parameters.
    stmt = insert(Job).values(**values).on_conflict_do_nothing(
        index_elements=[Job.dedupe_key], index_where=ACTIVE_PREDICATE
    ).returning(Job.id)
    new_id = (await session.execute(stmt)).scalar()
    if new_id is not None:
        return int(new_id)
    existing = (await session.execute(select(Job.id, Job.state).where(
        Job.dedupe_key == dedupe_key, Job.state.in_(JobState.ACTIVE)))).first()
    if existing is None:  # finished between the insert and the select: add anew
        return await enqueue(session, kind, payload, dedupe_key=dedupe_key, delay=delay)
    if existing.state == JobState.RUNNING:
        # The running work may already be past what this request needs: ask it to
        # run again (``complete`` sees the new run_after and queues it instead of
        # ending it). If it ended meanwhile, this request adds its own job.
        joined = await session.execute(update(Job).where(
            Job.id == existing.id, Job.state == JobState.RUNNING).values(run_after=_now()))
        if not joined.rowcount:  # type: ignore[attr-defined]
            return await enqueue(session, kind, payload, dedupe_key=dedupe_key, delay=delay)
    return int(existing.id)


async def claim(sessions: async_sessionmaker[AsyncSession], owner: str,
                kinds: Iterable[str], lease_seconds: float) -> Job | None:
    """Take one due job (or one whose lease expired) for ``owner``; None when idle."""
    now = _now()
    due = or_(and_(Job.state == JobState.QUEUED, Job.run_after <= now),
              and_(Job.state == JobState.RUNNING, Job.lease_expires < now))
    async with sessions.begin() as session:
        pick = (select(Job.id).where(due, Job.kind.in_(list(kinds)))
                .order_by(Job.run_after, Job.id).limit(1))
        if _dialect(session) == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stmt = (update(Job).where(Job.id == pick.scalar_subquery())
                .values(state=JobState.RUNNING, lease_owner=owner,
                        lease_expires=now + dt.timedelta(seconds=lease_seconds),
                        attempts=Job.attempts + 1, updated_at=now)
                .returning(Job))
        job = (await session.scalars(stmt, execution_options={"synchronize_session": False})
               ).first()
        return job


async def renew(sessions: async_sessionmaker[AsyncSession], job_id: int, owner: str,
                lease_seconds: float) -> bool:
    """Extend the lease; False when the job is no longer ours (lost lease, cancelled)."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(Job).where(Job.id == job_id, Job.lease_owner == owner,
                              Job.state == JobState.RUNNING)
            .values(lease_expires=_now() + dt.timedelta(seconds=lease_seconds),
                    updated_at=_now()))
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def progress(sessions: async_sessionmaker[AsyncSession], job_id: int, owner: str,
                   done: int, total: int | None) -> None:
    """Record bytes done (and total) for operators."""
    async with sessions.begin() as session:
        await session.execute(update(Job).where(Job.id == job_id, Job.lease_owner == owner)
                              .values(progress_done=done, progress_total=total,
                                      updated_at=_now()))


async def finish(sessions: async_sessionmaker[AsyncSession], job_id: int, owner: str,
                 state: str, error: str | None = None) -> None:
    """End the job (succeeded, failed or dead) if it is still ours."""
    async with sessions.begin() as session:
        await session.execute(update(Job).where(Job.id == job_id, Job.lease_owner == owner)
                              .values(state=state, last_error=error, lease_owner=None,
                                      lease_expires=None, updated_at=_now()))


async def complete(sessions: async_sessionmaker[AsyncSession], job: Job, owner: str) -> bool:
    """End the job as succeeded if it is still ours; True if it ended.

    A request that joined it while it ran (``enqueue`` with its dedupe key) moved
    its run_after: then it is queued to run again at once instead, and False.
    """
    now = _now()
    async with sessions.begin() as session:
        again = await session.execute(
            update(Job).where(Job.id == job.id, Job.lease_owner == owner,
                              Job.state == JobState.RUNNING, Job.run_after != job.run_after)
            .values(state=JobState.QUEUED, lease_owner=None, lease_expires=None,
                    attempts=Job.attempts - 1, updated_at=now))
        if again.rowcount:  # type: ignore[attr-defined]
            return False
        await session.execute(update(Job).where(Job.id == job.id, Job.lease_owner == owner)
                              .values(state=JobState.SUCCEEDED, last_error=None,
                                      lease_owner=None, lease_expires=None, updated_at=now))
    return True


def backoff(attempt: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential with full jitter."""
    wait = tenacity.wait_random_exponential(multiplier=base, max=cap)
    state = tenacity.RetryCallState(tenacity.AsyncRetrying(), None, (), {})
    state.attempt_number = max(attempt, 1)
    return float(wait(state))


async def retry_later(sessions: async_sessionmaker[AsyncSession], job: Job, owner: str,
                      error: str, max_attempts: int) -> str:
    """Queue the job again after a jittered backoff, or mark it dead; the new state."""
    if job.attempts >= max_attempts:
        await finish(sessions, job.id, owner, JobState.DEAD, error)
        return JobState.DEAD
    await defer(sessions, job.id, owner, backoff(job.attempts), error=error)
    return JobState.QUEUED


async def defer(sessions: async_sessionmaker[AsyncSession], job_id: int, owner: str,
                delay: float, *, error: str | None = None, uncount: bool = False) -> None:
    """Put the job back in the queue to run after ``delay`` seconds.

    ``uncount`` gives back the attempt (waiting on something is not a failure).
    """
    values: dict[str, Any] = {"state": JobState.QUEUED, "lease_owner": None,
                              "lease_expires": None, "updated_at": _now(),
                              "run_after": _now() + dt.timedelta(seconds=delay)}
    if error is not None:
        values["last_error"] = error
    if uncount:
        values["attempts"] = Job.attempts - 1
    async with sessions.begin() as session:
        await session.execute(update(Job).where(Job.id == job_id, Job.lease_owner == owner)
                              .values(**values))


async def get(session: AsyncSession, job_id: int) -> Job:
    """:raises NotFound: no such job."""
    job = await session.get(Job, job_id)
    if job is None:
        raise errors.NotFound(f"Job {job_id} not found")
    return job


async def list_jobs(session: AsyncSession, *, state: str | None = None,
                    kind: str | None = None, limit: int = 100,
                    marker: int | None = None) -> list[Job]:
    """Jobs, newest first, filtered."""
    stmt = select(Job).order_by(Job.id.desc()).limit(limit)
    if state:
        stmt = stmt.where(Job.state == state)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    if marker:
        stmt = stmt.where(Job.id < marker)
    return list((await session.scalars(stmt)).all())


async def retry(session: AsyncSession, job_id: int) -> Job:
    """Queue a failed, dead or cancelled job again now.

    :raises NotFound: no such job. :raises Conflict: it is queued or running.
    """
    job = await get(session, job_id)
    if job.state in JobState.ACTIVE:
        raise errors.Conflict(f"Job {job_id} is {job.state}")
    job.state, job.run_after, job.attempts = JobState.QUEUED, _now(), 0
    job.lease_owner = job.lease_expires = None
    await session.flush()
    return job


async def cancel(session: AsyncSession, job_id: int) -> Job:
    """Stop a queued or running job (a running worker notices at its next lease renewal).

    :raises NotFound: no such job. :raises Conflict: it already ended.
    """
    job = await get(session, job_id)
    if job.state not in JobState.ACTIVE:
        raise errors.Conflict(f"Job {job_id} already {job.state}")
    job.state, job.lease_owner, job.lease_expires = JobState.CANCELLED, None, None
    job.last_error = "cancelled by an operator"
    await session.flush()
    return job


async def purge_finished(sessions: async_sessionmaker[AsyncSession],
                         older_than: dt.timedelta) -> int:
    """Delete jobs that ended (succeeded, failed, dead, cancelled) longer than
    ``older_than`` ago; queued and running jobs are never touched.

    :returns: how many were deleted.
    """
    cutoff = _now() - older_than
    async with sessions.begin() as session:
        result = await session.execute(
            delete(Job).where(Job.state.not_in(JobState.ACTIVE), Job.updated_at < cutoff))
    deleted = int(getattr(result, "rowcount", 0) or 0)
    if deleted:
        LOG.info("purged %d finished jobs older than %s", deleted, older_than)
    return deleted
