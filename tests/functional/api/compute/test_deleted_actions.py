"""A deleted server's action log (microversion 2.21) through its tombstone (two fake
regions, SQLite and PostgreSQL): reachable by its project once the delete is
done, 404 for others and below 2.21, gone after the retention."""
from __future__ import annotations

from cascade.appkeys import REGION_CLIENT, SESSIONS
from cascade.sync.deletes import sweep_deletes
from tests.functional.api.compute.conftest import Gateway
from tests.functional.gateway import ALT, DEMO


def _at(headers: dict[str, str], version: str) -> dict[str, str]:
    return {**headers, "OpenStack-API-Version": f"compute {version}"}


async def test_a_deleted_servers_actions_stay_readable_then_go(gw: Gateway) -> None:
    server = (await (await gw.create("RegionTwo")).json())["server"]["id"]
    path = f"/compute/v2.1/servers/{server}/os-instance-actions"
    assert (await gw.client.delete(f"/compute/v2.1/servers/{server}",
                                   headers=DEMO)).status == 204
    assert await sweep_deletes(gw.app[SESSIONS], gw.app[REGION_CLIENT]) == 1
    assert (await gw.client.get(f"/compute/v2.1/servers/{server}", headers=DEMO)).status \
        == 404
    resp = await gw.client.get(path, headers=_at(DEMO, "2.21"))
    assert resp.status == 200, await resp.text()
    [action] = (await resp.json())["instanceActions"]
    assert action["instance_uuid"] == server and action["action"] == "create"
    assert (await gw.client.get(path, headers=_at(DEMO, "2.20"))).status == 404
    assert (await gw.client.get(path, headers=_at(ALT, "2.21"))).status == 404
    # Not kept past the retention.
    await sweep_deletes(gw.app[SESSIONS], gw.app[REGION_CLIENT], retention=0)
    assert (await gw.client.get(path, headers=_at(DEMO, "2.21"))).status == 404
