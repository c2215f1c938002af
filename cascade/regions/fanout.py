"""Ask several regions at once; never raise, report who failed.

``scatter_gather`` runs one coroutine per region in parallel, each under its own
deadline, and returns ``{region: result | RegionFailure}``. Callers decide
whether a failure fails the request or is omitted and reported as partial.
``scatter_process`` also hands each answer to a second coroutine as soon as it
arrives, so that work on the early answers overlaps the wait for the slow ones.
"""
from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
from typing import Any, Awaitable, Callable, Iterable, TypeVar

from cascade import errors

__all__ = ["DEADLINE", "RegionFailure", "scatter_gather", "scatter_process", "split_results"]

LOG = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")


@dataclasses.dataclass(frozen=True, slots=True)
class RegionFailure:
    """Why a region gave no result: the error, or ``timed_out``."""

    region: str
    error: BaseException | None
    timed_out: bool = False

    @property
    def message(self) -> str:
        if self.timed_out:
            return f"Region {self.region} did not answer in time"
        return getattr(self.error, "message", None) or str(self.error)


#: The task a fan-out runs a region's call in, and the deadline (loop time) it
#: put around it: ``RegionClient`` adds no timer of its own under a deadline as
#: near (a list across 100 regions set 200 timers; now 100). Only that task: a
#: task started inside the call inherits the variable but not the deadline.
DEADLINE: contextvars.ContextVar[tuple[asyncio.Task[Any], float] | None] = \
    contextvars.ContextVar("cascade_fanout_deadline", default=None)


async def _one(region: str, fn: Callable[[str], Awaitable[T]],
               timeout: float) -> T | RegionFailure:
    task = asyncio.current_task()
    mark = None if task is None else DEADLINE.set(
        (task, asyncio.get_running_loop().time() + timeout))
    try:
        async with asyncio.timeout(timeout):  # no extra task per region, unlike wait_for
            return await fn(region)
    except asyncio.TimeoutError:
        return RegionFailure(region, None, timed_out=True)
    except errors.CascadeError as exc:
        return RegionFailure(region, exc)
    except Exception as exc:  # noqa: BLE001 - one region's bug must not fail the rest
        LOG.exception("unexpected error asking region %s", region)
        return RegionFailure(region, exc)
    finally:
        if mark is not None:
            DEADLINE.reset(mark)


async def scatter_gather(regions: Iterable[str], fn: Callable[[str], Awaitable[T]], *,
                         timeout: float) -> dict[str, T | RegionFailure]:
    """Run ``fn(region)`` for every region in parallel, each within ``timeout`` seconds."""
    names = list(regions)
    results = await asyncio.gather(*(_one(r, fn, timeout) for r in names))
    return dict(zip(names, results))


async def scatter_process(regions: Iterable[str], fn: Callable[[str], Awaitable[T]],
                          process: Callable[[str, T], Awaitable[U]], *,
                          timeout: float) -> dict[str, U | RegionFailure]:
    """``scatter_gather``, then ``process(region, result)`` on each region's answer
    as soon as it arrives.

    The deadline bounds ``fn`` only: a region that answered in time is not
    failed by Cascade's own work on its answer. ``process`` raising a
    ``RegionError`` (the answer turned out to be unusable) fails its region;
    other ``process`` errors are Cascade's, not the region's: they propagate
    (the other regions' work is cancelled).
    """
    async def one(region: str) -> U | RegionFailure:
        result = await _one(region, fn, timeout)
        if isinstance(result, RegionFailure):
            return result
        try:
            return await process(region, result)
        except errors.RegionError as exc:
            return RegionFailure(region, exc)

    names = list(regions)
    tasks = [asyncio.ensure_future(one(r)) for r in names]
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
    return dict(zip(names, results))


def split_results(results: dict[str, T | RegionFailure]) -> tuple[dict[str, T],
                                                                 list[RegionFailure]]:
    """Separate good answers from failures."""
    good: dict[str, T] = {}
    bad: list[RegionFailure] = []
    for region, result in results.items():
        if isinstance(result, RegionFailure):
            bad.append(result)
        else:
            good[region] = result
    return good, bad
