"""Bad input on every endpoint gets a 4xx in its service's own error format, never a
500; other projects' objects answer as if absent (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yarl

from tests.fakes.region import IMAGE_ID, FakeRegion
from tests.functional.gateway import ADMIN, ALT, DEMO, gateway_app, gateway_conf

BIG = b"x" * 200_000
DEEP = b'{"server": ' + b"[" * 5000 + b"]" * 5000 + b"}"
#: Bodies that parse in a lenient JSON reader and then break what follows.
HOSTILE_JSON = [
    DEEP, b'{"server": {"name": "\\ud800", "flavorRef": "1"}}',
    b'{"server": {"name": "vm", "flavorRef": "1", "min_count": 18446744073709551617}}',
    b'{"server": {"name": "vm", "flavorRef": "1", "min_count": 9223372036854775808}}',
    b'{"server": {"name": NaN, "flavorRef": "1"}}', b'{"server": {"name": Infinity}}',
    b'{"server": {"name": "\xff"}}',
]


def _check_format(service: str, status: int, ctype: str, text: str) -> None:
    if service == "image":
        assert ctype == "text/html" and f"<title>{status} " in text, text
        return
    body = json.loads(text)
    if service == "compute":
        (fault,) = body.values()
        assert fault["code"] == status and fault["message"], body
    elif service == "network":
        assert body["NeutronError"]["type"] and "message" in body["NeutronError"], body
    else:
        assert body["error"]["code"] == status, body


# (service, method, path, body (bytes or JSON), headers, expected status)
CASES: list[tuple[str, str, str, Any, dict[str, str], int]] = [
    ("compute", "POST", "/compute/v2.1/servers", b"[1", DEMO, 400),
    ("compute", "POST", "/compute/v2.1/servers", BIG, DEMO, 413),
    ("compute", "POST", "/compute/v2.1/servers",
     {"server": {"name": "vm", "flavorRef": "1", "min_count": "x"}}, DEMO, 400),
    ("compute", "PUT", "/compute/v2.1/servers/{server}", [], DEMO, 400),
    ("compute", "PUT", "/compute/v2.1/servers/{server}", {"server": {"name": "x"}}, ALT, 404),
    ("compute", "POST", "/compute/v2.1/servers/{server}/action", [], DEMO, 400),
    ("compute", "POST", "/compute/v2.1/servers/{server}/action",
     {"os-stop": None, "reboot": {}}, DEMO, 400),
    ("compute", "POST", "/compute/v2.1/servers/{server}/action", {"os-stop": None}, ALT, 404),
    ("compute", "GET", "/compute/v2.1/servers/{server}/metadata", None, ALT, 404),
    ("compute", "PUT", "/compute/v2.1/servers/{server}/metadata", b"{bad", DEMO, 400),
    ("compute", "DELETE", "/compute/v2.1/servers/{server}", None, ALT, 404),
    ("compute", "GET", "/compute/v2.1/servers?limit=abc", None, DEMO, 400),
    ("compute", "GET", "/compute/v2.1/servers?sort_key=host", None, DEMO, 400),
    ("compute", "POST", "/compute/v2.1/os-keypairs", {"keypair": {"name": "a/b"}}, DEMO, 400),
    ("compute", "POST", "/compute/v2.1/os-keypairs",
     {"keypair": {"name": "k", "public_key": "junk"}}, DEMO, 400),
    ("compute", "GET", "/compute/v2.1/os-keypairs/k?user_id=someone", None, DEMO, 403),
    ("compute", "POST", "/compute/v2.1/flavors", {"flavor": {"name": "f"}}, DEMO, 403),
    ("compute", "POST", "/compute/v2.1/flavors", b"{", ADMIN, 400),
    ("compute", "GET", "/compute/v2.1/os-availability-zone/detail", None, DEMO, 403),
    ("compute", "GET", "/compute/v2.1/no-such-thing", None, DEMO, 404),
    ("image", "POST", "/image/v2/images", b"{", DEMO, 400),
    ("image", "POST", "/image/v2/images", BIG, DEMO, 413),
    ("image", "POST", "/image/v2/images", {"id": "not-a-uuid"}, DEMO, 400),
    ("image", "POST", "/image/v2/images", {"id": {"a": 1}}, DEMO, 400),
    ("image", "POST", "/image/v2/images", {"id": ["x"]}, DEMO, 400),
    ("image", "POST", "/image/v2/images", {"size": 5}, DEMO, 403),
    ("image", "GET", "/image/v2/images/{image}", None, ALT, 404),
    ("image", "PUT", "/image/v2/images/{image}/file", None, ALT, 404),
    ("image", "POST", "/image/v2/images/{image}/import", b"{", ADMIN, 400),
    ("image", "POST", "/image/v2/images/{image}/import",
     {"method": {"name": "web-download"}}, ADMIN, 400),
    ("image", "PATCH", "/image/v2/images/{image}", [], DEMO, 415),
    ("image", "DELETE", "/image/v2/images/{image}", None, ALT, 404),
    ("image", "GET", "/image/v2/images?limit=abc", None, DEMO, 400),
    ("admin", "GET", "/v1/jobs", None, DEMO, 403),
    ("admin", "POST", "/v1/regions", b"{", ADMIN, 400),
    ("admin", "POST", "/v1/regions", BIG, ADMIN, 413),
    ("network", "GET", "/networking/v2.0/no-such-thing", None, DEMO, 404),
    *[("compute", "POST", "/compute/v2.1/servers", b, DEMO, 400) for b in HOSTILE_JSON],
    *[("network", "POST", "/networking/v2.0/networks", b.replace(b"server", b"network"),
       DEMO, 400) for b in HOSTILE_JSON],
    *[("image", "POST", "/image/v2/images", b, DEMO, 400) for b in HOSTILE_JSON],
    ("compute", "PUT", "/compute/v2.1/servers/{server}/tags/{deep_tag}", None, DEMO, 404),
]


@pytest.fixture
async def client(aiohttp_server: Any, aiohttp_client: Any, migrated_db: str,
                 tmp_path: Path) -> Any:
    fake = FakeRegion("RegionOne")
    srv = await aiohttp_server(fake.app())
    fake.base = str(srv.make_url("")).rstrip("/")
    return await aiohttp_client(gateway_app(gateway_conf(
        tmp_path, migrated_db, {"RegionOne": fake.base})))


async def test_bad_input_answers_4xx_in_the_service_format(client: Any) -> None:
    resp = await client.post("/compute/v2.1/servers", headers=DEMO, json={"server": {
        "name": "vm", "flavorRef": "1", "imageRef": IMAGE_ID, "networks": "none"}})
    server = (await resp.json())["server"]["id"]
    resp = await client.post("/image/v2/images", headers=DEMO, json={
        "name": "i", "disk_format": "raw", "container_format": "bare",
        "visibility": "private"})
    image = (await resp.json())["id"]
    for service, method, path, body, headers, status in CASES:
        url = path.format(server=server, image=image, deep_tag="..%2F..%2F..%2Fservers")
        kwargs: dict[str, Any] = {"headers": dict(headers)}
        if isinstance(body, bytes):
            kwargs["data"] = body
            kwargs["headers"]["Content-Type"] = "application/json"
        elif body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["headers"]["Content-Type"] = "application/json"
        resp = await client.request(method, yarl.URL(url, encoded=True), **kwargs)
        text = await resp.text()
        assert resp.status == status, (method, url, resp.status, text)
        _check_format(service, status, resp.content_type, text)
        assert resp.headers["x-openstack-request-id"].startswith("req-")


async def test_a_body_with_a_content_encoding_is_refused(client: Any) -> None:
    """Plain JSON labelled gzip (and a real gzip body): 400, nothing inflated."""
    import gzip

    body = json.dumps({"network": {"name": "n"}}).encode()
    for data in (body, gzip.compress(body)):
        resp = await client.post("/networking/v2.0/networks", data=data, headers={
            **DEMO, "Content-Type": "application/json", "Content-Encoding": "gzip"})
        text = await resp.text()
        assert resp.status == 400, text
        _check_format("network", 400, resp.content_type, text)
        assert resp.headers["x-openstack-request-id"].startswith("req-")


async def test_an_error_quoting_a_lone_surrogate_still_renders(client: Any) -> None:
    resp = await client.get(yarl.URL("/compute/v2.1/flavors/%ED%A0%80", encoded=True),
                            headers=DEMO)
    assert resp.status == 404
    assert resp.headers["x-openstack-request-id"].startswith("req-")


async def test_a_client_image_id_cannot_take_another_projects_keypair_id(client: Any) -> None:
    """Keypair rows are keyed by a name-based id anyone can compute: an image
    created first with that id must not block the owner's keypair."""
    import uuid

    from cascade.compute.keypair_ops import _key_id

    stolen = _key_id("u1", "mykey")
    resp = await client.post("/image/v2/images", headers=ALT, json={
        "id": stolen, "name": "i", "disk_format": "raw", "container_format": "bare"})
    assert resp.status == 400, await resp.text()
    assert uuid.UUID(stolen).version == 5
    resp = await client.post("/compute/v2.1/os-keypairs", headers=DEMO,
                             json={"keypair": {"name": "mykey"}})
    assert resp.status in (200, 201), await resp.text()
