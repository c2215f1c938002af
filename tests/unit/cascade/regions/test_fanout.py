"""scatter_gather never raises, runs regions in parallel and cuts each at its deadline."""
import asyncio
import time

from cascade import errors
from cascade.regions.fanout import RegionFailure, scatter_gather, split_results


async def test_failures_and_timeouts_are_reported_not_raised() -> None:
    async def fn(region: str) -> str:
        if region == "bad":
            raise errors.RegionUnavailable(region, "nope")
        if region == "slow":
            await asyncio.sleep(5)
        await asyncio.sleep(0.1)
        return region.upper()

    started = time.monotonic()
    results = await scatter_gather(["a", "b", "bad", "slow"], fn, timeout=0.3)
    assert time.monotonic() - started < 0.6, "regions are asked in parallel"
    good, failed = split_results(results)
    assert good == {"a": "A", "b": "B"}
    assert {f.region: f.timed_out for f in failed} == {"bad": False, "slow": True}
    assert all(isinstance(f, RegionFailure) for f in failed)


async def test_unexpected_exception_is_contained() -> None:
    async def fn(region: str) -> int:
        raise KeyError(region)

    results = await scatter_gather(["x"], fn, timeout=1)
    assert isinstance(results["x"], RegionFailure)
