"""Nova's image proxy (/compute/v2.1/images) answers from Cascade's image records, as
Nova answers from Glance: views, filters, pages, metadata, delete, and 404 past
microversion 2.35 (fake regions; SQLite and PostgreSQL)."""
from __future__ import annotations

from tests.functional.api.image.conftest import Env
from tests.functional.gateway import ALT, DEMO

P = "/compute/v2.1/images"


async def test_images_in_novas_words_with_links_at_cascade(env: Env) -> None:
    image_id = await env.image(min_ram=64, os_distro="cirros")
    assert (await env.upload(image_id)).status == 204
    queued = await env.image(name="later")
    base = str(env.client.make_url("")).rstrip("/")
    body = await (await env.client.get(P + "/detail", headers=DEMO)).json()
    by_id = {i["id"]: i for i in body["images"]}
    image = by_id[image_id]
    assert (image["status"], image["progress"], image["minRam"]) == ("ACTIVE", 100, 64)
    assert image["metadata"] == {"os_distro": "cirros"}
    assert image["OS-EXT-IMG-SIZE:size"] > 0
    assert image["links"][0]["href"] == f"{base}/compute/v2.1/images/{image_id}"
    assert (by_id[queued]["status"], by_id[queued]["progress"]) == ("SAVING", 25)
    summary = await (await env.client.get(P, headers=DEMO)).json()
    assert set(summary["images"][0]) == {"id", "name", "links"}
    active = await (await env.client.get(P + "/detail?status=ACTIVE", headers=DEMO)).json()
    assert [i["id"] for i in active["images"]] == [image_id]
    page = await (await env.client.get(P + "?limit=1", headers=DEMO)).json()
    assert len(page["images"]) == 1
    assert page["images_links"][0]["href"].startswith(f"{base}/compute/v2.1/images?")
    shown = await (await env.client.get(f"{P}/{image_id}", headers=DEMO)).json()
    assert shown["image"]["id"] == image_id
    assert (await env.client.get(f"{P}/{image_id}", headers=ALT)).status == 404
    resp = await env.client.get(f"{P}/{image_id}", headers={
        **DEMO, "OpenStack-API-Version": "compute 2.36"})
    assert resp.status == 404


async def test_metadata_and_delete(env: Env) -> None:
    image_id = await env.image(os_distro="cirros")
    url = f"{P}/{image_id}/metadata"
    resp = await env.client.post(url, headers=DEMO, json={"metadata": {"a": "1"}})
    assert (await resp.json())["metadata"] == {"os_distro": "cirros", "a": "1"}
    resp = await env.client.put(url, headers=DEMO, json={"metadata": {"b": "2"}})
    assert (await resp.json())["metadata"] == {"b": "2"}
    resp = await env.client.put(f"{url}/c", headers=DEMO, json={"meta": {"c": "3"}})
    assert (await resp.json())["meta"] == {"c": "3"}
    assert (await (await env.client.get(f"{url}/c", headers=DEMO)).json()) == {
        "meta": {"c": "3"}}
    assert (await env.client.delete(f"{url}/c", headers=DEMO)).status == 204
    assert (await env.client.get(f"{url}/c", headers=DEMO)).status == 404
    assert (await env.show(image_id)).get("b") == "2", "the same image in Glance's API"
    assert (await env.client.put(url, headers=ALT, json={"metadata": {}})).status == 404
    assert (await env.client.delete(f"{P}/{image_id}", headers=DEMO)).status == 204
    assert (await env.client.get(f"/image/v2/images/{image_id}", headers=DEMO)).status == 404
