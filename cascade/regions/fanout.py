"""Ask several regions at once; never raise, report who failed.

``scatter_gather`` runs one coroutine per region in parallel, each under its own
deadline, and returns ``{region: result | RegionFailure}``. Callers decide
whether a failure fails the request or is omitted and reported as partial.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Awaitable, Callable, Iterable, TypeVar

from cascade import errors

__all__ = ["RegionFailure", "scatter_gather", "split_results"]

LOG = logging.getLogger(__name__)

T = TypeVar("T")


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


async def _one(region: str, fn: Callable[[str], Awaitable[T]],
               timeout: float) -> T | RegionFailure:
    try:
        return await asyncio.wait_for(fn(region), timeout)
    except asyncio.TimeoutError:
        return RegionFailure(region, None, timed_out=True)
    except errors.CascadeError as exc:
        return RegionFailure(region, exc)
    except Exception as exc:  # noqa: BLE001 - one region's bug must not fail the rest
        LOG.exception("unexpected error asking region %s", region)
        return RegionFailure(region, exc)


async def scatter_gather(regions: Iterable[str], fn: Callable[[str], Awaitable[T]], *,
                         timeout: float) -> dict[str, T | RegionFailure]:
    """Run ``fn(region)`` for every region in parallel, each within ``timeout`` seconds."""
    names = list(regions)
    results = await asyncio.gather(*(_one(r, fn, timeout) for r in names))
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
