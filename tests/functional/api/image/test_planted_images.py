"""An image somebody planted in a region with a victim's image id is never written
into, adopted or deleted: the victim's upload and copy get copies of their own
(fake regions here; tests/e2e/test_hostile_regions.py does it against real Glance)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.functional.api.image.conftest import DATA, Env, start_env
from tests.functional.gateway import ADMIN, DEMO


@pytest.fixture
async def env(aiohttp_server: Any, aiohttp_client: Any, migrated_db: str,
              tmp_path: Path) -> AsyncIterator[Env]:
    yield await start_env(aiohttp_server, aiohttp_client, migrated_db, tmp_path)


def _plant(env: Env, region: str, image_id: str, **extra: Any) -> dict[str, Any]:
    planted = {"id": image_id, "status": "queued", "owner": "attacker", "size": None,
               "checksum": None, "os_hash_algo": None, "os_hash_value": None,
               "visibility": "shared", **extra}
    env.regions[region].glance[image_id] = planted
    return planted


@pytest.mark.parametrize("marker", [False, True])
async def test_upload_never_fills_an_image_planted_in_the_home_region(
        env: Env, marker: bool) -> None:
    image_id = await env.image()
    # With Cascade's marker copied too: still another project's image.
    extra = {"cascade_global_id": image_id, "cascade_owner": "cascade"} if marker else {}
    planted = _plant(env, "RegionOne", image_id, **extra)
    resp = await env.upload(image_id)
    assert resp.status == 204, await resp.text()
    fake = env.regions["RegionOne"]
    assert fake.glance[image_id] is planted and planted["status"] == "queued"
    assert image_id not in fake.data  # nothing of the victim's went into it
    (copy,) = [i for i in fake.glance.values() if i is not planted]
    assert copy["owner"] == "demo" and fake.data[copy["id"]] == DATA
    resp = await env.client.get(f"/image/v2/images/{image_id}/file", headers=DEMO)
    assert resp.status == 200 and await resp.read() == DATA


async def test_copy_image_never_fills_or_deletes_an_image_planted_in_the_target(
        env: Env) -> None:
    image_id = await env.image()
    assert (await env.upload(image_id)).status == 204
    planted = _plant(env, "RegionTwo", image_id, cascade_global_id=image_id,
                     cascade_owner="cascade")
    resp = await env.client.post(f"/image/v2/images/{image_id}/import", headers=ADMIN,
                                 json={"method": {"name": "copy-image"},
                                       "stores": ["RegionTwo"]})
    assert resp.status == 202, await resp.text()

    async def copied() -> bool:
        return bool((await env.show(image_id)).get("stores") == "RegionOne,RegionTwo")
    await env.until("replica in RegionTwo", copied)
    fake = env.regions["RegionTwo"]
    assert fake.glance[image_id] is planted and planted["status"] == "queued"
    assert image_id not in fake.data
    (copy,) = [i for i in fake.glance.values() if i is not planted]
    assert copy["owner"] == "demo" and fake.data[copy["id"]] == DATA
    # Deleting the image removes Cascade's copies only.
    assert (await env.client.delete(f"/image/v2/images/{image_id}",
                                    headers=DEMO)).status == 204

    async def gone() -> bool:
        return copy["id"] not in fake.glance
    await env.until("replica deleted", gone)
    assert fake.glance[image_id] is planted


async def test_image_adopt_never_takes_another_projects_image_as_a_replica(env: Env) -> None:
    """``cascade-manage image adopt``: an image planted in RegionTwo with the same
    id and the very same data, owned by another project, is a conflict, not a copy."""
    import hashlib

    from cascade.appkeys import REGION_CLIENT, REGIONS, SESSIONS
    from cascade.images.adopt import adopt_images

    image_id = await env.image()
    assert (await env.upload(image_id)).status == 204
    source = env.regions["RegionOne"].glance[image_id]
    _plant(env, "RegionTwo", image_id, status="active", size=len(DATA),
           checksum=hashlib.md5(DATA).hexdigest(), os_hash_algo=source["os_hash_algo"],
           os_hash_value=source["os_hash_value"])
    env.regions["RegionTwo"].data[image_id] = DATA
    app = env.client.server.app
    report = await adopt_images(app[SESSIONS], app[REGION_CLIENT], app[REGIONS])
    assert (image_id, "RegionTwo") in report.conflicts
    assert (image_id, "RegionTwo") not in report.replicas_added
    assert (await env.show(image_id))["stores"] == "RegionOne"
