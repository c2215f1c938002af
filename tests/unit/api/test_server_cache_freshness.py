"""A cached server status is shown as current only while it is fresh."""
from __future__ import annotations

import datetime as dt

from cascade.compute.server_cache import cached_view
from cascade.db.models import Resource


def _res(seen_seconds_ago: float | None) -> Resource:
    attrs: dict[str, object] = {"server": {"id": "g", "status": "ACTIVE"}}
    if seen_seconds_ago is not None:
        attrs["seen_at"] = (dt.datetime.now(dt.timezone.utc)
                            - dt.timedelta(seconds=seen_seconds_ago)).isoformat()
    return Resource(global_id="g", type="server", project_id="p", spec={}, attrs=attrs,
                    status="ACTIVE")


def test_fresh_cache_keeps_its_status_before_2_69_and_says_when_it_was_seen() -> None:
    view = cached_view(_res(10), "http://c/compute/v2.1", "2.60", max_age=300)
    assert view["status"] == "ACTIVE" and view["cascade:cached_at"]


def test_stale_or_unknown_age_is_never_shown_as_current() -> None:
    assert cached_view(_res(900), "http://c", "2.60", max_age=300)["status"] == "UNKNOWN"
    assert cached_view(_res(None), "http://c", "2.60", max_age=300)["status"] == "UNKNOWN"


def test_from_2_69_a_down_regions_server_is_unknown_however_fresh() -> None:
    assert cached_view(_res(1), "http://c", "2.69", max_age=300)["status"] == "UNKNOWN"
