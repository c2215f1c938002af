"""Which error a converge run ends with when several regions fail: a region that
answered with an error wins over one that could not be reached, so the job counts
the attempt instead of waiting forever for the unreachable one."""
from __future__ import annotations

from cascade import errors
from cascade.networks.router_converge import _graver


def test_an_answered_error_wins_over_an_unreachable_region_in_either_order() -> None:
    down = errors.RegionUnavailable("R1", "down")
    late = errors.RegionTimeout("R3", "no answer")
    refused = errors.RegionHTTPError("R2", 409, None, "conflict")
    assert _graver(_graver(None, down), refused) is refused
    assert _graver(_graver(None, refused), down) is refused
    assert _graver(_graver(None, down), late) is down  # both only waited for


def test_the_first_of_two_answered_errors_is_kept() -> None:
    first = errors.RegionHTTPError("R1", 500, None, "boom")
    second = errors.RegionHTTPError("R2", 409, None, "conflict")
    assert _graver(_graver(None, first), second) is first
