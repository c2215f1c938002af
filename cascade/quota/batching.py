"""Admissions of one project batched within a process, as a database batches flushes.

Every admission of a project locks the same usage rows until its transaction
commits, so one busy project's creates queue behind one another's commit
flush. While one transaction admits a project's requests, the requests for
that project arriving meanwhile wait, and the next transaction admits them
together (``ledger.reserve_many``: one statement, one lock of the rows and
one commit flush for all of them when their sum fits). A request that comes
alone is admitted at once: batching adds no delay, it only forms while the
database is busy.

Exactness is the ledger's: each request is admitted as if alone after the
ones before it, all or none. A caller that goes away (its request cancelled)
after its reservations were made has them released at once, else the sweep
would only give them back after their expiry.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Hashable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.quota import ledger, tables

__all__ = ["AdmissionBatcher"]

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class _Waiting:
    request: ledger.Request
    answer: asyncio.Future[list[str]]


@dataclasses.dataclass(slots=True)
class _Queue:
    project_id: str
    ttl: float
    defaults: Mapping[str, int]
    waiting: list[_Waiting] = dataclasses.field(default_factory=list)


class AdmissionBatcher:
    """Admits reservations, batching concurrent admissions of one project."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *,
                 max_batch: int = 64) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._queues: dict[Hashable, _Queue] = {}
        self._leaders: set[asyncio.Task[None]] = set()

    async def reserve(self, project_id: str, deltas: Mapping[str, int], *, ttl: float,
                      defaults: Mapping[str, int], count: int = 1,
                      message: str | None = None) -> list[str]:
        """``count`` reservations of ``deltas``, all or none; their ids.

        :raises OverQuota: they do not fit; nothing is held.
        :raises ValueError: a resource the ledger does not count, or a negative delta.
        """
        tables.checked(deltas)  # refused here, not in a batch with others
        key = (project_id, ttl, tuple(sorted(defaults.items())))
        answer: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue(project_id, ttl, dict(defaults))
            leader = asyncio.create_task(self._lead(key, queue))
            self._leaders.add(leader)
            leader.add_done_callback(self._leaders.discard)
        queue.waiting.append(_Waiting(ledger.Request(deltas, count, message), answer))
        return await answer

    async def _lead(self, key: Hashable, queue: _Queue) -> None:
        """Admit the queue's requests, batch after batch, until none wait."""
        try:
            while queue.waiting:
                batch = [w for w in queue.waiting[:self._max_batch] if not w.answer.done()]
                del queue.waiting[:self._max_batch]
                if batch:
                    await self._admit(queue, batch)
        finally:
            del self._queues[key]
            for waiting in queue.waiting:  # only when this task was cancelled
                waiting.answer.cancel()

    async def _admit(self, queue: _Queue, batch: list[_Waiting]) -> None:
        try:
            async with self._sessions.begin() as session:
                outcomes = await ledger.reserve_many(
                    session, queue.project_id, [w.request for w in batch], ttl=queue.ttl,
                    defaults=queue.defaults)
        except Exception as exc:  # the database failed them all: each caller hears why
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)
            return
        except BaseException:  # this task cancelled (shutdown): so are its callers
            for waiting in batch:
                waiting.answer.cancel()
            raise
        abandoned: list[str] = []
        for waiting, outcome in zip(batch, outcomes):
            if isinstance(outcome, errors.OverQuota):
                if not waiting.answer.done():
                    waiting.answer.set_exception(outcome)
            elif waiting.answer.done():
                abandoned += outcome
            else:
                waiting.answer.set_result(outcome)
        if abandoned:
            await self._give_back(abandoned)

    async def _give_back(self, reservations: list[str]) -> None:
        try:
            async with self._sessions.begin() as session:
                for reservation in reservations:
                    await ledger.release(session, reservation)
        except Exception:  # noqa: BLE001 - the sweep releases them on expiry
            LOG.warning("could not release %d abandoned reservations now; they expire",
                        len(reservations), exc_info=True)
