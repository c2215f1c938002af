"""Glance's interoperable import through Cascade: glance-direct (stage, then import in
the home region) and web-download (the home region fetches the URL), followed until
active or failed (fake regions, job worker in process; SQLite and PG)."""
from __future__ import annotations

from typing import Any

from tests.functional.api.image.conftest import Env
from tests.functional.gateway import ADMIN, DEMO


async def _import(env: Env, image_id: str, method: dict[str, str], **stores: Any) -> int:
    resp = await env.client.post(f"/image/v2/images/{image_id}/import", headers=DEMO,
                                 json={"method": method, **stores})
    return resp.status


async def _staged(env: Env, data: bytes) -> str:
    image_id = await env.image()
    resp = await env.client.put(f"/image/v2/images/{image_id}/stage", data=data,
                                headers={**DEMO, "Content-Type": "application/octet-stream"})
    assert resp.status == 204, await resp.text()
    return image_id


async def test_glance_direct_into_all_stores_or_the_ones_named(env: Env) -> None:
    """Each store is a region: the import runs in the staging region, then the image
    is copied to the other stores asked for, as Glance imports into several."""
    stores = await (await env.client.get("/image/v2/info/stores", headers=DEMO)).json()
    every = sorted(s["id"] for s in stores["stores"])
    assert len(every) == 2
    everywhere = await _staged(env, b"to every store")
    assert await _import(env, everywhere, {"name": "glance-direct"}, all_stores=True) == 202
    named = await _staged(env, b"to the named stores")
    assert await _import(env, named, {"name": "glance-direct"}, stores=every[::-1]) == 202
    for image_id in (everywhere, named):
        async def in_all(image_id: str = image_id) -> bool:
            image = await env.show(image_id)
            return bool(image["status"] == "active" and image["stores"] == ",".join(every)
                        and image["os_glance_importing_to_stores"] == "")

        await env.until("in every store", in_all)
        for fake in env.regions.values():
            assert image_id in fake.glance
    refused = await _staged(env, b"nowhere")
    assert await _import(env, refused, {"name": "glance-direct"}, stores=["Atlantis"]) == 400
    assert (await env.show(refused))["status"] == "uploading", "a refused import changes nothing"


async def test_glance_direct_stages_then_imports_in_the_home_region(env: Env) -> None:
    info = await (await env.client.get("/image/v2/info/import", headers=DEMO)).json()
    assert set(info["import-methods"]["value"]) == {"glance-direct", "web-download",
                                                    "copy-image"}
    image_id = await env.image()
    assert await _import(env, image_id, {"name": "glance-direct"}) == 409, "nothing staged"
    resp = await env.client.put(f"/image/v2/images/{image_id}/stage", data=b"staged bytes",
                                headers={**DEMO, "Content-Type": "application/octet-stream"})
    assert resp.status == 204, await resp.text()
    assert (await env.show(image_id))["status"] == "uploading"
    assert await _import(env, image_id, {"name": "glance-direct"}) == 202

    async def active() -> bool:
        return (await env.show(image_id))["status"] == "active"

    await env.until("imported", active)
    image = await env.show(image_id)
    assert image["size"] == len(b"staged bytes") and image["stores"]
    data = await env.client.get(f"/image/v2/images/{image_id}/file", headers=DEMO)
    assert await data.read() == b"staged bytes"


async def test_web_download_in_the_home_region_and_its_failure(env: Env) -> None:
    image_id = await env.image()
    assert await _import(env, image_id, {"name": "web-download"}) == 400, "no uri"
    assert await _import(env, image_id, {"name": "web-download",
                                         "uri": "http://example.test/img"}) == 202

    async def active() -> bool:
        return (await env.show(image_id))["status"] == "active"

    await env.until("downloaded", active)
    failing = await env.image()
    assert await _import(env, failing, {"name": "web-download",
                                        "uri": "http://example.test/fail"}) == 202

    async def queued_again() -> bool:
        return (await env.show(failing))["status"] == "queued"

    await env.until("failed import queued again", queued_again)
    image = await env.show(failing)
    assert image["os_glance_failed_import"] != ""
    assert all(failing not in fake.glance for fake in env.regions.values()), \
        "the failed regional copy is removed"
    assert await _import(env, image_id, {"name": "bogus"}) == 400


async def test_an_admin_deletes_the_copy_in_one_store(env: Env) -> None:
    """``DELETE /v2/stores/{store}/{id}``: that region's copy goes, the image stays in
    the others; its last store cannot go this way."""
    image_id = await _staged(env, b"in two stores")
    assert await _import(env, image_id, {"name": "glance-direct"}, all_stores=True) == 202

    async def in_both() -> bool:
        return (await env.show(image_id)).get("stores") == "RegionOne,RegionTwo"

    await env.until("in both stores", in_both)
    path = f"/image/v2/stores/RegionTwo/{image_id}"
    assert (await env.client.delete(path, headers=DEMO)).status == 403
    assert (await env.client.delete(f"/image/v2/stores/Atlantis/{image_id}",
                                    headers=ADMIN)).status == 404
    assert (await env.client.delete(path, headers=ADMIN)).status == 204
    shown = await env.show(image_id)
    assert shown.get("stores") == "RegionOne", shown

    async def copy_gone() -> bool:
        return image_id not in env.regions["RegionTwo"].glance

    await env.until("regional copy removed", copy_gone)
    assert (await env.client.delete(path, headers=ADMIN)).status == 404
    last = await env.client.delete(f"/image/v2/stores/RegionOne/{image_id}", headers=ADMIN)
    assert last.status == 409
    assert (await env.show(image_id))["status"] == "active"
    data = await env.client.get(f"/image/v2/images/{image_id}/file", headers=DEMO)
    assert await data.read() == b"in two stores"
