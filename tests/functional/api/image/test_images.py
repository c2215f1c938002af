"""Images through Cascade: upload to a home region, download, copy-image replication,
verification, boots that need a replica, delete everywhere (fake regions; SQLite, PG)."""
from __future__ import annotations

import asyncio
import hashlib

from sqlalchemy import select

from cascade.appkeys import SESSIONS
from cascade.db.models import Job
from tests.functional.api.image.conftest import DATA, Env
from tests.functional.gateway import ADMIN, ALT, DEMO


async def test_upload_goes_to_the_home_region_with_the_same_id(env: Env) -> None:
    image_id = await env.image()
    assert (await env.show(image_id))["status"] == "queued"
    resp = await env.upload(image_id)
    assert resp.status == 204, await resp.text()
    image = await env.show(image_id)
    assert image["status"] == "active" and image["size"] == len(DATA)
    assert image["checksum"] == hashlib.md5(DATA).hexdigest()
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    assert image["stores"] == "RegionOne"
    assert env.regions["RegionOne"].data[image_id] == DATA
    assert image_id not in env.regions["RegionTwo"].glance
    assert (await env.upload(image_id)).status == 409


async def test_deactivated_images_serve_data_to_admins_only_and_boot_nowhere(
        env: Env) -> None:
    image_id = await env.image()
    url = f"/image/v2/images/{image_id}/actions"
    resp = await env.client.post(f"{url}/deactivate", headers=DEMO)
    assert resp.status == 403, "a queued image cannot be deactivated"
    assert "in status &#x27;queued&#x27;" in await resp.text()
    assert (await env.upload(image_id)).status == 204
    assert (await env.client.post(f"{url}/deactivate", headers=ALT)).status == 404
    assert (await env.client.post(f"{url}/deactivate", headers=DEMO)).status == 204
    assert (await env.show(image_id))["status"] == "deactivated"
    assert env.regions["RegionOne"].glance[image_id]["status"] == "deactivated"
    download = f"/image/v2/images/{image_id}/file"
    assert (await env.client.get(download, headers=DEMO)).status == 403
    resp = await env.client.get(download, headers=ADMIN)
    assert resp.status == 200 and await resp.read() == DATA
    resp = await env.client.post("/compute/v2.1/servers", headers=DEMO, json={"server": {
        "name": "s", "imageRef": image_id, "flavorRef": "1", "networks": "none"}})
    assert resp.status == 400
    assert "is not active" in await resp.text()
    assert (await env.client.post(f"{url}/deactivate", headers=DEMO)).status == 204
    assert (await env.client.post(f"{url}/reactivate", headers=DEMO)).status == 204
    assert (await env.show(image_id))["status"] == "active"
    assert env.regions["RegionOne"].glance[image_id]["status"] == "active"
    assert (await env.client.get(download, headers=DEMO)).status == 200


async def test_download_streams_from_a_replica_with_md5(env: Env) -> None:
    image_id = await env.image()
    await env.upload(image_id, store="RegionTwo")
    resp = await env.client.get(f"/image/v2/images/{image_id}/file", headers=DEMO)
    assert resp.status == 200
    assert resp.headers["Content-MD5"] == hashlib.md5(DATA).hexdigest()
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    assert int(resp.headers["Content-Length"]) == len(DATA)
    assert await resp.read() == DATA
    empty = await env.image()
    assert (await env.client.get(f"/image/v2/images/{empty}/file",
                                 headers=DEMO)).status == 204


async def test_client_chosen_id_and_conflict(env: Env) -> None:
    wanted = "1b7c2c1e-9a5e-4d59-8f53-2a3d3f0c7e11"
    assert await env.image(id=wanted) == wanted
    resp = await env.client.post("/image/v2/images", json={"id": wanted}, headers=DEMO)
    assert resp.status == 409
    assert resp.content_type == "text/html"


async def test_only_an_admin_names_another_owner(env: Env) -> None:
    resp = await env.client.post("/image/v2/images", json={"name": "o", "owner": "alt"},
                                 headers=DEMO)
    assert resp.status == 403
    assert "not permitted to create images owned by" in await resp.text()
    resp = await env.client.post("/image/v2/images", json={"name": "o", "owner": "demo"},
                                 headers=DEMO)
    assert resp.status == 201
    resp = await env.client.post("/image/v2/images", json={"name": "o", "owner": "alt"},
                                 headers=ADMIN)
    assert resp.status == 201
    image = await resp.json()
    assert image["owner"] == "alt"
    shown = await env.client.get(f"/image/v2/images/{image['id']}", headers=ALT)
    assert shown.status == 200, "the new owner sees its private-by-default image"
    patch = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    resp = await env.client.patch(f"/image/v2/images/{image['id']}", headers={
        **ALT, **patch}, json=[{"op": "replace", "path": "/owner", "value": "demo"}])
    assert resp.status == 403
    resp = await env.client.patch(f"/image/v2/images/{image['id']}", headers={
        **ADMIN, **patch}, json=[{"op": "replace", "path": "/owner", "value": "demo"}])
    assert (resp.status, (await resp.json())["owner"]) == (200, "demo")


async def test_private_images_are_invisible_to_other_projects(env: Env) -> None:
    image_id = await env.image(visibility="private")
    assert (await env.client.get(f"/image/v2/images/{image_id}", headers=ALT)).status == 404
    assert (await env.upload(image_id, headers=ALT)).status == 404
    resp = await env.client.post("/image/v2/images", json={"visibility": "public"},
                                 headers=DEMO)
    assert resp.status == 403


async def test_copy_image_import_replicates_and_reports_progress(env: Env) -> None:
    image_id = await env.image()
    await env.upload(image_id)
    resp = await env.client.post(f"/image/v2/images/{image_id}/import", headers=ADMIN,
                                 json={"method": {"name": "copy-image"},
                                       "stores": ["RegionTwo"]})
    assert resp.status == 202, await resp.text()

    async def copied() -> bool:
        image = await env.show(image_id)
        return image.get("stores") == "RegionOne,RegionTwo"
    await env.until("replica in RegionTwo", copied)
    image = await env.show(image_id)
    assert image["os_glance_importing_to_stores"] == ""
    assert image["os_glance_failed_import"] == ""
    assert env.regions["RegionTwo"].data[image_id] == DATA
    assert env.regions["RegionTwo"].glance[image_id]["owner"] == "demo"
    stores = await (await env.client.get("/image/v2/info/stores", headers=DEMO)).json()
    assert {s["id"] for s in stores["stores"]} == {"RegionOne", "RegionTwo"}
    methods = await (await env.client.get("/image/v2/info/import", headers=ADMIN)).json()
    assert "copy-image" in methods["import-methods"]["value"]


async def test_corrupt_source_fails_the_replica_and_leaves_nothing(env: Env) -> None:
    image_id = await env.image()
    await env.upload(image_id)
    env.regions["RegionOne"].data[image_id] = b"X" + DATA[1:]
    await env.client.post(f"/image/v2/images/{image_id}/import", headers=ADMIN,
                          json={"method": {"name": "copy-image"}, "stores": ["RegionTwo"]})

    async def failed() -> bool:
        return (await env.show(image_id)).get("os_glance_failed_import") == "RegionTwo"
    await env.until("failed import", failed)
    assert image_id not in env.regions["RegionTwo"].glance
    async with env.client.server.app[SESSIONS]() as s:
        job = (await s.scalars(select(Job).where(Job.kind == "image_replication"))).one()
    assert job.state == "failed" and "md5" in (job.last_error or "")
    assert (await env.show(image_id))["stores"] == "RegionOne"


async def test_different_hash_algorithms_between_regions(env: Env) -> None:
    env.regions["RegionTwo"].hash_algo = "sha256"
    image_id = await env.image()
    await env.upload(image_id)
    await env.client.post(f"/image/v2/images/{image_id}/import", headers=ADMIN,
                          json={"method": {"name": "copy-image"}, "all_stores": True})

    async def copied() -> bool:
        return (await env.show(image_id)).get("stores") == "RegionOne,RegionTwo"
    await env.until("replica with another algorithm", copied)


async def test_concurrent_boots_start_one_replication(env: Env) -> None:
    image_id = await env.image()
    await env.upload(image_id)
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": image_id,
                       "networks": "none", "availability_zone": "RegionTwo"}}
    # Twenty servers: more than the default quota of ten instances.
    raised = await env.client.put("/compute/v2.1/os-quota-sets/demo", headers=ADMIN,
                                  json={"quota_set": {"instances": 20}})
    assert raised.status == 200, await raised.text()
    answers = await asyncio.gather(*(env.client.post("/compute/v2.1/servers", json=body,
                                                     headers=DEMO) for _ in range(20)))
    assert [a.status for a in answers] == [202] * 20
    ids = [(await a.json())["server"]["id"] for a in answers]
    assert await env.jobs("image_replication") == 1

    async def all_active() -> bool:
        for sid in ids:
            shown = await (await env.client.get(f"/compute/v2.1/servers/{sid}",
                                                headers=DEMO)).json()
            if shown["server"]["status"] != "ACTIVE":
                return False
        return True
    await env.until("servers built after replication", all_active, timeout=30)
    assert len(env.regions["RegionTwo"].servers) == 20
    assert env.regions["RegionTwo"].data[image_id] == DATA


async def test_failed_replication_puts_the_server_in_error(env: Env) -> None:
    image_id = await env.image()
    await env.upload(image_id)
    env.regions["RegionOne"].data[image_id] = b"corrupt"
    resp = await env.client.post("/compute/v2.1/servers", headers=DEMO, json={"server": {
        "name": "vm", "flavorRef": "1", "imageRef": image_id, "networks": "none",
        "availability_zone": "RegionTwo"}})
    sid = (await resp.json())["server"]["id"]

    async def errored() -> bool:
        shown = await (await env.client.get(f"/compute/v2.1/servers/{sid}",
                                            headers=DEMO)).json()
        return bool(shown["server"]["status"] == "ERROR")
    await env.until("server in ERROR", errored)
    shown = await (await env.client.get(f"/compute/v2.1/servers/{sid}", headers=DEMO)).json()
    assert "replicated" in shown["server"]["fault"]["message"]
    assert not env.regions["RegionTwo"].servers


async def test_delete_removes_every_replica(env: Env) -> None:
    image_id = await env.image()
    await env.upload(image_id)
    await env.client.post(f"/image/v2/images/{image_id}/import", headers=ADMIN,
                          json={"method": {"name": "copy-image"}, "all_stores": True})

    async def both() -> bool:
        return (await env.show(image_id)).get("stores") == "RegionOne,RegionTwo"
    await env.until("two replicas", both)
    assert (await env.client.delete(f"/image/v2/images/{image_id}",
                                    headers=ALT)).status == 404
    assert (await env.client.delete(f"/image/v2/images/{image_id}",
                                    headers=DEMO)).status == 204
    assert (await env.client.get(f"/image/v2/images/{image_id}", headers=DEMO)).status == 404

    async def gone() -> bool:
        return all(image_id not in r.glance for r in env.regions.values())
    await env.until("replicas deleted", gone)


async def test_protected_image_cannot_be_deleted(env: Env) -> None:
    image_id = await env.image(protected=True)
    for who in (DEMO, ADMIN):
        resp = await env.client.delete(f"/image/v2/images/{image_id}", headers=who)
        assert resp.status == 403 and "protected" in await resp.text()
    assert (await env.show(image_id))["status"] == "queued"


async def test_a_used_up_id_gets_a_new_regional_id(env: Env) -> None:
    image_id = await env.image()
    await env.upload(image_id)
    good = env.regions["RegionOne"].data[image_id]
    env.regions["RegionOne"].data[image_id] = b"corrupt"
    imp = {"method": {"name": "copy-image"}, "stores": ["RegionTwo"]}
    await env.client.post(f"/image/v2/images/{image_id}/import", headers=ADMIN, json=imp)

    async def failed() -> bool:
        return (await env.show(image_id)).get("os_glance_failed_import") == "RegionTwo"
    await env.until("first copy refused", failed)
    assert image_id in env.regions["RegionTwo"].burned
    env.regions["RegionOne"].data[image_id] = good
    await env.client.post(f"/image/v2/images/{image_id}/import", headers=ADMIN, json=imp)

    async def copied() -> bool:
        return (await env.show(image_id)).get("stores") == "RegionOne,RegionTwo"
    await env.until("second copy under a new regional id", copied)
    (local,) = env.regions["RegionTwo"].glance
    assert local != image_id and env.regions["RegionTwo"].data[local] == DATA
    resp = await env.client.post("/compute/v2.1/servers", headers=DEMO, json={"server": {
        "name": "vm", "flavorRef": "1", "imageRef": image_id, "networks": "none",
        "availability_zone": "RegionTwo"}})
    assert resp.status == 202
    (server,) = env.regions["RegionTwo"].servers.values()
    assert server["image"]["id"] == local
    gid = (await resp.json())["server"]["id"]
    shown = await (await env.client.get(f"/compute/v2.1/servers/{gid}", headers=DEMO)).json()
    assert shown["server"]["image"]["id"] == image_id
