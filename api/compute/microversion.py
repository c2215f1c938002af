"""Compute microversions: the range Cascade advertises, parsing and answering headers.

Cascade can only promise what every enabled region supports: the advertised
maximum is the lowest regional maximum, the minimum the highest regional minimum.
"""
from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from cascade.api.faults import fault_response
from cascade.appkeys import REGIONS
from cascade.regions.registry import RegionRegistry

__all__ = ["Version", "supported_range", "microversion_middleware", "MICROVERSION"]

#: Version used when no region has reported yet, and Nova's floor.
FLOOR = "2.1"

MICROVERSION = web.RequestKey("microversion", str)

Version = tuple[int, int]


def parse(value: str) -> Version:
    """``"2.37"`` -> (2, 37); raises ValueError for anything else."""
    major, _, minor = value.strip().partition(".")
    if not major.isdigit() or not minor.isdigit():
        raise ValueError(value)
    return int(major), int(minor)


def fmt(v: Version) -> str:
    return f"{v[0]}.{v[1]}"


def supported_range(registry: RegionRegistry) -> tuple[str, str]:
    """(min, max) compute microversion every enabled region supports."""
    low, high, _, _ = _parsed_range(registry)
    return low, high


def _parsed_range(registry: RegionRegistry) -> tuple[str, str, Version, Version]:
    # Memoised by the registry until a region changes: this runs for every request.
    return registry.memo("compute_range", lambda: _with_parsed(_compute_range(registry)))


def _with_parsed(rng: tuple[str, str]) -> tuple[str, str, Version, Version]:
    return rng[0], rng[1], parse(rng[0]), parse(rng[1])


def _compute_range(registry: RegionRegistry) -> tuple[str, str]:
    lows: list[Version] = []
    highs: list[Version] = []
    for region in registry.enabled():
        rng = region.compute_versions()
        if rng:
            lows.append(parse(rng[0]))
            highs.append(parse(rng[1]))
    if not highs:
        return FLOOR, FLOOR
    low, high = max(lows), min(highs)
    return fmt(low), fmt(max(low, high))


def _requested(request: web.Request) -> str | None:
    header = request.headers.get("OpenStack-API-Version")
    if header:
        for item in header.split(","):
            service, _, version = item.strip().partition(" ")
            if service.lower() == "compute" and version.strip():
                return version.strip()
    return request.headers.get("X-OpenStack-Nova-API-Version")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def microversion_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Pick the request's microversion (406 when out of range) and echo it back."""
    # REGIONS is on the compute app too: no ChainMapProxy walk per request.
    low, high, low_v, high_v = _parsed_range(request.app[REGIONS])
    asked = _requested(request)
    if asked is None:
        version = low
    elif asked.lower() == "latest":
        version = high
    else:
        try:
            wanted = parse(asked)
        except ValueError:
            return fault_response("compute", 400, f"Invalid format for API version {asked}. "
                                  "Format must be 'major.minor'.")
        if not low_v <= wanted <= high_v:
            return fault_response("compute", 406, f"Version {asked} is not supported by "
                                  f"the API. Minimum is {low} and maximum is {high}.")
        version = fmt(wanted)
    request[MICROVERSION] = version
    response = await handler(request)
    if not response.prepared:
        response.headers["OpenStack-API-Version"] = f"compute {version}"
        response.headers["X-OpenStack-Nova-API-Version"] = version
        response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    return response
