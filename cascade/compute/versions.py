"""Compute microversions as services compare them (the API layer parses the header)."""
from __future__ import annotations

__all__ = ["at_least"]


def at_least(microversion: str, floor: str) -> bool:
    """Whether ``microversion`` ("2.10") is ``floor`` ("2.2") or later."""
    def parts(v: str) -> tuple[int, int]:
        major, _, minor = v.partition(".")
        return int(major), int(minor or 0)
    return parts(microversion) >= parts(floor)
