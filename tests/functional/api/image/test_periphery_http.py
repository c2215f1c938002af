"""The periphery handlers over HTTP and a real database (SQLite and PostgreSQL).

A minimal app with Cascade's three root middlewares and an ``/image``
sub-app, so errors come out in Glance's format and tokens are noauth ones.
"""
from __future__ import annotations

import asyncio
import uuid
from typing import Any, AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from cascade.api import middleware
from cascade.api.image import members, schemas, tags
from cascade.images.query import filter_sort_page
from cascade.api.image.patch import PATCH_MEDIA_TYPE, patch_image
from cascade import config
from cascade.appkeys import AUTH, CONF, CTX, SESSIONS, URLS
from cascade.auth.identity import NoAuth
from cascade.db import engine as db_engine
from cascade.db.models import Resource
from cascade.images import store
from cascade.public_urls import PublicUrls
from tests.functional.gateway import ALT, DEMO

OTHER = {"X-Auth-Token": "u3:other"}
PATCH = {**DEMO, "Content-Type": PATCH_MEDIA_TYPE}


async def _list(request: web.Request) -> web.Response:
    async with request.config_dict[SESSIONS]() as session:
        rows = await store.list_candidates(session, request[CTX])
    page, marker = filter_sort_page(request[CTX], rows, request.query)
    return web.json_response({"images": page, "next": marker})


def _app(db_url: str) -> web.Application:
    conf = config.load([])
    engine = db_engine.make_engine(conf, db_url)
    app = web.Application(middlewares=[middleware.api_middleware])
    app[CONF] = conf
    app[URLS] = PublicUrls(None)
    app[SESSIONS] = db_engine.make_sessionmaker(engine)
    app[AUTH] = NoAuth()

    async def dispose(_: web.Application) -> None:
        await engine.dispose()
    app.on_cleanup.append(dispose)
    image = web.Application()
    base = "/v2/images/{image_id}"
    image.router.add_routes([
        web.get("/v2/images", _list),
        web.patch(base, patch_image),
        web.get(base + "/members", members.list_members),
        web.post(base + "/members", members.create_member),
        web.get(base + "/members/{member_id}", members.show_member),
        web.put(base + "/members/{member_id}", members.update_member),
        web.delete(base + "/members/{member_id}", members.delete_member),
        web.put(base + "/tags/{tag_value}", tags.put_tag),
        web.delete(base + "/tags/{tag_value}", tags.delete_tag),
        web.get("/v2/schemas/image", schemas.show_image_schema),
        web.get("/v2/schemas/images", schemas.show_images_schema),
        web.get("/v2/schemas/member", schemas.show_member_schema),
        web.get("/v2/schemas/members", schemas.show_members_schema),
    ])
    app.add_subapp("/image", image)
    return app


class Env:
    def __init__(self, client: TestClient) -> None:
        self.client = client

    async def image(self, owner: str = "demo", **spec: Any) -> str:
        image_id = str(uuid.uuid4())
        async with self.client.server.app[SESSIONS].begin() as session:
            session.add(Resource(
                global_id=image_id, type="image", project_id=owner, status="queued",
                spec={"name": "img", "visibility": "shared", "protected": False,
                      "os_hidden": False, "min_disk": 0, "min_ram": 0, "tags": [],
                      "properties": {}, "disk_format": "raw", "container_format": "bare",
                      **spec},
                attrs={"created_at": "2024-01-01T00:00:00Z",
                       "updated_at": "2024-01-01T00:00:00Z"}))
        return image_id

    async def row(self, image_id: str) -> Resource:
        async with self.client.server.app[SESSIONS]() as session:
            res = await session.get(Resource, image_id)
        assert res is not None
        return res


@pytest.fixture
async def env(aiohttp_client: Any, migrated_db: str) -> AsyncIterator[Env]:
    yield Env(await aiohttp_client(_app(migrated_db)))


async def test_patch(env: Env) -> None:
    image_id = await env.image(name="old")
    url = f"/image/v2/images/{image_id}"
    ops = [{"op": "replace", "path": "/name", "value": "new"},
           {"op": "add", "path": "/os_distro", "value": "ubuntu"}]
    resp = await env.client.patch(url, json=ops, headers=DEMO)
    assert resp.status == 415
    assert "415 Unsupported Media Type" in await resp.text()
    resp = await env.client.patch(url, json=ops, headers=PATCH)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["name"] == "new" and body["os_distro"] == "ubuntu" and body["id"] == image_id
    row = await env.row(image_id)
    assert row.spec["properties"] == {"os_distro": "ubuntu"} and row.spec["name"] == "new"
    assert row.attrs["updated_at"] != "2024-01-01T00:00:00Z"
    resp = await env.client.patch(url, json=[{"op": "remove", "path": "/nope"}],
                                  headers=PATCH)
    assert resp.status == 409 and "Property nope does not exist." in await resp.text()
    assert (await env.client.patch(url, data=b"[{", headers=PATCH)).status == 400
    assert (await env.client.patch(url, json=ops, headers={
        **OTHER, "Content-Type": PATCH_MEDIA_TYPE})).status == 404
    missing = f"/image/v2/images/{uuid.uuid4()}"
    assert (await env.client.patch(missing, json=ops, headers=PATCH)).status == 404
    # A member sees the image but may not change it.
    await env.client.post(url + "/members", json={"member": "alt"}, headers=DEMO)
    assert (await env.client.patch(url, json=ops, headers={
        **ALT, "Content-Type": PATCH_MEDIA_TYPE})).status == 403


async def test_concurrent_patches_lose_nothing(env: Env) -> None:
    # Each PATCH rewrites the whole spec document: without the row lock (or
    # SQLite's write lock) most of these would overwrite each other.
    image_id = await env.image()
    url = f"/image/v2/images/{image_id}"
    answers = await asyncio.gather(*(env.client.patch(
        url, json=[{"op": "add", "path": f"/p{i}", "value": "v"}], headers=PATCH)
        for i in range(8)))
    assert [a.status for a in answers] == [200] * 8
    assert len((await env.row(image_id)).spec["properties"]) == 8


async def test_members(env: Env) -> None:
    image_id = await env.image()
    url = f"/image/v2/images/{image_id}/members"
    assert (await env.client.post(url, json={}, headers=DEMO)).status == 400
    assert (await env.client.post(url, json={"member": ""}, headers=DEMO)).status == 400
    resp = await env.client.post(url, json={"member": "alt"}, headers=DEMO)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "pending"
    assert (await env.client.post(url, json={"member": "alt"}, headers=DEMO)).status == 409
    await env.client.post(url, json={"member": "other"}, headers=DEMO)
    body = await (await env.client.get(url, headers=DEMO)).json()
    assert body["schema"] == "/v2/schemas/members"
    assert [m["member_id"] for m in body["members"]] == ["alt", "other"]
    body = await (await env.client.get(url, headers=ALT)).json()
    assert [m["member_id"] for m in body["members"]] == ["alt"]
    assert (await env.client.get(url + "/other", headers=ALT)).status == 404
    # Accepting puts the image in the member's list.
    listed = await (await env.client.get("/image/v2/images", headers=ALT)).json()
    assert listed["images"] == []
    resp = await env.client.put(url + "/alt", json={"status": "accepted"}, headers=ALT)
    assert resp.status == 200 and (await resp.json())["status"] == "accepted"
    listed = await (await env.client.get("/image/v2/images", headers=ALT)).json()
    assert [i["id"] for i in listed["images"]] == [image_id]
    assert (await env.client.put(url + "/alt", json={"status": "rejected"},
                                 headers=DEMO)).status == 403
    assert (await env.client.put(url + "/alt", json={}, headers=ALT)).status == 400
    shown = await (await env.client.get(url + "/alt", headers=DEMO)).json()
    assert shown["status"] == "accepted" and shown["image_id"] == image_id
    assert (await env.client.delete(url + "/alt", headers=ALT)).status == 403
    assert (await env.client.delete(url + "/alt", headers=DEMO)).status == 204
    assert (await env.client.get(url + "/alt", headers=ALT)).status == 404
    private = await env.image(visibility="private")
    resp = await env.client.get(f"/image/v2/images/{private}/members", headers=DEMO)
    assert resp.status == 403 and "Only shared images have members." in await resp.text()
    resp = await env.client.get(f"/image/v2/images/{private}/members/alt", headers=DEMO)
    assert resp.status == 404


async def test_tags(env: Env) -> None:
    image_id = await env.image()
    url = f"/image/v2/images/{image_id}/tags"
    assert (await env.client.put(url + "/blue", headers=DEMO)).status == 204
    assert (await env.client.put(url + "/blue", headers=DEMO)).status == 204
    assert (await env.row(image_id)).spec["tags"] == ["blue"]
    assert (await env.client.put(url + "/red", headers=OTHER)).status == 404
    assert (await env.client.delete(url + "/blue", headers=DEMO)).status == 204
    resp = await env.client.delete(url + "/blue", headers=DEMO)
    assert resp.status == 404 and resp.content_type == "text/html"
    assert (await env.row(image_id)).spec["tags"] == []


async def test_schemas_and_listing(env: Env) -> None:
    for name in ("image", "images", "member", "members"):
        resp = await env.client.get(f"/image/v2/schemas/{name}", headers=DEMO)
        assert resp.status == 200 and (await resp.json())["name"] == name
    assert (await env.client.get("/image/v2/schemas/image")).status == 401
    first = await env.image(visibility="private", name="a")
    await env.image(visibility="private", name="b")
    body = await (await env.client.get("/image/v2/images?sort=name:asc&limit=1",
                                       headers=DEMO)).json()
    assert [i["name"] for i in body["images"]] == ["a"] and body["next"] == first
    resp = await env.client.get("/image/v2/images?sort_key=owner", headers=DEMO)
    assert resp.status == 400 and "Invalid sort key" in await resp.text()
    assert (await env.client.get("/image/v2/images", headers=OTHER)).status == 200


async def test_patch_in_the_v2_0_dialect(env: Env) -> None:
    """Glance's older media type names the operation by the member's name."""
    image_id = await env.image(name="old")
    url = f"/image/v2/images/{image_id}"
    v20 = {**DEMO, "Content-Type": "application/openstack-images-v2.0-json-patch"}
    resp = await env.client.patch(url, headers=v20, json=[
        {"replace": "/name", "value": "new"}, {"add": "/os_distro", "value": "ubuntu"}])
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["name"], body["os_distro"]) == ("new", "ubuntu")
    resp = await env.client.patch(url, headers=v20, json=[{"remove": "/os_distro"}])
    assert "os_distro" not in await resp.json()
    for bad, words in (([{"op": "replace", "path": "/name", "value": "x"}], "exactly one"),
                       ([{"replace": "/name", "add": "/x", "value": "x"}], "only one"),
                       ([{"replace": "name", "value": "x"}], "does not start with &quot;/")):
        resp = await env.client.patch(url, headers=v20, json=bad)
        assert resp.status == 400, bad
        assert words in await resp.text(), bad
