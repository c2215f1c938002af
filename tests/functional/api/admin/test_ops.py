"""/healthcheck and /metrics: no token needed, honest about the database and regions."""
from __future__ import annotations

from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import ADMIN, DEMO


async def test_healthcheck_answers_anyone_and_details_only_admins(gw: Gateway) -> None:
    resp = await gw.client.get("/healthcheck")
    assert resp.status == 200 and await resp.text() == "OK"
    for headers in ({}, DEMO, {"X-Auth-Token": "garbage"}):
        resp = await gw.client.get("/healthcheck?detail", headers=headers)
        assert resp.status == 200 and await resp.text() == "OK", headers
    detail = await (await gw.client.get("/healthcheck?detail", headers=ADMIN)).json()
    assert detail["database"] == "OK"
    assert set(detail["regions"]) == {"RegionOne", "RegionTwo"}


async def test_metrics_count_regional_calls_errors_and_jobs(gw: Gateway) -> None:
    for zone in ("RegionOne", "RegionTwo"):
        assert (await gw.create(zone)).status == 202
    gw.regions["RegionTwo"].down = True
    await gw.client.get("/compute/v2.1/servers/detail", headers=DEMO)
    resp = await gw.client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    text = await resp.text()
    assert '# TYPE cascade_region_request_seconds histogram' in text
    assert 'cascade_region_request_seconds_count{region="RegionOne",service="compute"}' in text
    assert 'cascade_region_request_errors_total{kind="5xx",region="RegionTwo"' in text
    assert 'cascade_region_up{region="RegionOne"} 1' in text
    assert "# TYPE cascade_jobs gauge" in text
