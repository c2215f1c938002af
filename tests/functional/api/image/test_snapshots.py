"""A server's createImage makes a Cascade image: global id, the caller's project, the
region as its home; listed, shown and downloadable through Cascade once the region
has saved it (fake regions with the job worker in process; SQLite and PG)."""
from __future__ import annotations

from tests.fakes.region import IMAGE_ID
from tests.functional.api.image.conftest import Env
from tests.functional.gateway import ALT, DEMO


async def test_create_image_becomes_a_cascade_image(env: Env) -> None:
    resp = await env.client.post("/compute/v2.1/servers", headers=DEMO, json={"server": {
        "name": "vm", "flavorRef": "1", "imageRef": IMAGE_ID, "networks": "none",
        "availability_zone": "RegionTwo"}})
    assert resp.status == 202, await resp.text()
    server_id = (await resp.json())["server"]["id"]
    resp = await env.client.post(f"/compute/v2.1/servers/{server_id}/action", headers={
        **DEMO, "OpenStack-API-Version": "compute 2.45"}, json={"createImage": {
            "name": "snap", "metadata": {"purpose": "backup"}}})
    assert resp.status == 202, await resp.text()
    image_id = (await resp.json())["image_id"]

    async def active() -> bool:
        return (await env.show(image_id)).get("status") == "active"

    await env.until("snapshot active", active)
    image = await env.show(image_id)
    assert (image["name"], image["owner"], image["stores"]) == ("snap", "demo", "RegionTwo")
    assert (image["purpose"], image["instance_uuid"]) == ("backup", server_id)
    assert image["visibility"] == "private"
    listed = await (await env.client.get("/image/v2/images", headers=DEMO)).json()
    assert image_id in {i["id"] for i in listed["images"]}
    assert (await env.client.get(f"/image/v2/images/{image_id}", headers=ALT)).status == 404
    data = await env.client.get(f"/image/v2/images/{image_id}/file", headers=DEMO)
    assert data.status == 200 and await data.read() == b"hello"
    proxy = await (await env.client.get(f"/compute/v2.1/images/{image_id}",
                                        headers=DEMO)).json()
    assert proxy["image"]["server"]["id"] == server_id
    # before 2.45 Nova answers with a Location: it names the image at Cascade
    resp = await env.client.post(f"/compute/v2.1/servers/{server_id}/action", headers=DEMO,
                                 json={"createImage": {"name": "snap2"}})
    assert resp.status == 202
    location = resp.headers["Location"]
    assert location.startswith(str(env.client.make_url("")).rstrip("/") + "/image/v2/images/")
