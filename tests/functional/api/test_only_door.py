"""No path through Cascade to a region's own API.

A corpus of hostile path segments (encoded separators, dot segments, double
encoding, backslashes, ``;`` parameters, controls, overlong ids) is put into
every route that forwards to a region. Every request the fake regions receive
meanwhile is recorded as it came on the wire, and each must be one Cascade
means: a known regional route, built from canonical segments. Cascade answers
each hostile request with a 4xx in the service's own format (SQLite and
PostgreSQL).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yarl

from tests.fakes.region import IMAGE_ID, FakeRegion
from tests.functional.gateway import ADMIN, DEMO, gateway_app, gateway_conf

#: Hostile values for one path segment, written as they go on the wire.
PAYLOADS = [
    "..%2F..%2F..%2Fservers", "..%2f..%2fservers", "%2e%2e%2f%2e%2e%2fservers",
    "..%252F..%252Fservers", "%252e%252e%252fservers", "..%5C..%5Cservers",
    "..\\..\\servers", "a;b=..%2Fservers", ";..%2Fservers", "%2F", "%2Fservers",
    "%00", "a%0Ab", "%2e", "%2e%2e", ".%2e", "%c0%ae%c0%ae%2fservers", "%ff",
    "a%3Fall_tenants=1", "a%23b", "x" * 3000, "servers%2F..", "%20..%2F",
]

#: (method, route with {X} for the payload, needs admin, service of the answer)
ROUTES = [
    ("GET", "/compute/v2.1/servers/{sid}/tags/{X}", False, "compute"),
    ("PUT", "/compute/v2.1/servers/{sid}/tags/{X}", False, "compute"),
    ("DELETE", "/compute/v2.1/servers/{sid}/tags/{X}", False, "compute"),
    ("GET", "/compute/v2.1/servers/{sid}/metadata/{X}", False, "compute"),
    ("PUT", "/compute/v2.1/servers/{sid}/metadata/{X}", False, "compute"),
    ("DELETE", "/compute/v2.1/servers/{sid}/metadata/{X}", False, "compute"),
    ("GET", "/compute/v2.1/servers/{sid}/ips/{X}", False, "compute"),
    ("GET", "/compute/v2.1/servers/{sid}/os-interface/{X}", False, "compute"),
    ("DELETE", "/compute/v2.1/servers/{sid}/os-interface/{X}", False, "compute"),
    ("GET", "/compute/v2.1/servers/{sid}/os-instance-actions/{X}", False, "compute"),
    ("GET", "/compute/v2.1/servers/{sid}/os-server-password/{X}", False, "compute"),
    ("GET", "/compute/v2.1/servers/{sid}/tags/{X}/servers", False, "compute"),
    ("GET", "/compute/v2.1/servers/{sid}/{X}", False, "compute"),
    ("POST", "/compute/v2.1/servers/{sid}/{X}", False, "compute"),
    ("GET", "/compute/v2.1/servers/{X}", False, "compute"),
    ("PUT", "/compute/v2.1/servers/{X}", False, "compute"),
    ("DELETE", "/compute/v2.1/servers/{X}", False, "compute"),
    ("POST", "/compute/v2.1/servers/{X}/action", False, "compute"),
    ("GET", "/compute/v2.1/flavors/{X}", False, "compute"),
    ("DELETE", "/compute/v2.1/flavors/{X}", True, "compute"),
    ("GET", "/compute/v2.1/os-keypairs/{X}", False, "compute"),
    ("DELETE", "/compute/v2.1/os-keypairs/{X}", False, "compute"),
    ("GET", "/compute/v2.1/os-quota-sets/{X}", True, "compute"),
    ("PUT", "/compute/v2.1/os-quota-sets/{X}", True, "compute"),
    ("GET", "/image/v2/images/{X}", False, "image"),
    ("GET", "/image/v2/images/{X}/file", False, "image"),
    ("PUT", "/image/v2/images/{X}/file", False, "image"),
    ("DELETE", "/image/v2/images/{X}", False, "image"),
    ("PUT", "/image/v2/images/{iid}/tags/{X}", False, "image"),
    ("PUT", "/image/v2/images/{X}/stage", False, "image"),
    ("POST", "/image/v2/images/{X}/import", False, "image"),
    ("GET", "/image/v2/metadefs/namespaces/{X}", False, "image"),
    ("DELETE", "/image/v2/metadefs/namespaces/{X}/objects/{X}", False, "image"),
    ("GET", "/image/v2/metadefs/{X}", False, "image"),
    ("GET", "/networking/v2.0/networks/{X}", False, "network"),
    ("PUT", "/networking/v2.0/networks/{X}", False, "network"),
    ("DELETE", "/networking/v2.0/ports/{X}", False, "network"),
    ("PUT", "/networking/v2.0/networks/{nid}/tags/{X}", False, "network"),
    ("GET", "/networking/v2.0/quotas/{X}", True, "network"),
    ("PUT", "/networking/v2.0/quotas/{X}", True, "network"),
    ("GET", "/v1/regions/{X}", True, "admin"),
    ("GET", "/v1/mappings/{X}", True, "admin"),
]

_SEG = r"(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})+"
_ID = r"[0-9a-f-]{36}"
#: Every regional path Cascade means (after the endpoint's own prefix).
MEANT = [re.compile(p) for p in (
    rf"/compute/v2\.1/servers/{_ID}(/action|/(metadata|tags|ips|os-interface"
    rf"|os-instance-actions)(/{_SEG})?|/os-server-password)?",
    rf"/compute/v2\.1/flavors(/detail|/{_SEG})?",
    rf"/compute/v2\.1/os-keypairs(/{_SEG})?",
    rf"/compute/v2\.1/os-quota-sets/{_SEG}(/detail)?",
    rf"/image/v2/images(/{_ID}(/file|/stage|/import|/actions/(de|re)activate)?)?",
    rf"/image/v2/metadefs(/{_SEG})+",
    rf"/network/v2\.0/(networks|subnets|ports|security-groups|security-group-rules)"
    rf"(/{_ID}(/tags(/{_SEG})?)?)?",
    rf"/network/v2\.0/quotas/{_SEG}(/details)?",
    r"/identity/v3/auth/tokens", r"/compute/v2\.1", r"/image/", r"/network/",
)]


def _meant(raw: str) -> bool:
    if not any(p.fullmatch(raw) for p in MEANT):
        return False
    return all(unquote(part) not in (".", "..") and "/" not in unquote(part)
               and "\\" not in unquote(part) for part in raw.split("/")[1:])


def _one_segment(payload: str) -> bool:
    try:
        value = unquote(payload, errors="strict")
    except UnicodeDecodeError:
        return False
    return (value not in (".", "..") and len(value) <= 255
            and re.search(r"[/\\\x00-\x1f]", value) is None)


def _in_format(service: str, status: int, ctype: str, text: str) -> bool:
    if service == "image":
        return ctype == "text/html" and f"<title>{status} " in text
    body = json.loads(text)
    if service == "compute":
        (fault,) = body.values()
        return bool(fault["code"] == status and fault["message"])
    if service == "network":
        return "message" in body["NeutronError"]
    return bool(body["error"]["code"] == status)


@pytest.fixture
async def setup(aiohttp_server: Any, aiohttp_client: Any, migrated_db: str,
                tmp_path: Path) -> Any:
    fakes = {"RegionOne": FakeRegion("RegionOne"), "RegionTwo": FakeRegion("RegionTwo")}
    for fake in fakes.values():
        srv = await aiohttp_server(fake.app())
        fake.base = str(srv.make_url("")).rstrip("/")
    client = await aiohttp_client(gateway_app(gateway_conf(
        tmp_path, migrated_db, {n: f.base for n, f in fakes.items()})))
    return client, fakes


async def test_no_hostile_segment_reaches_a_region_on_a_path_cascade_did_not_mean(
        setup: Any) -> None:
    client, fakes = setup
    resp = await client.post("/compute/v2.1/servers", headers=DEMO, json={"server": {
        "name": "vm", "flavorRef": "1", "imageRef": IMAGE_ID, "networks": "none",
        "availability_zone": "RegionOne"}})
    sid = (await resp.json())["server"]["id"]
    resp = await client.post("/image/v2/images", headers=DEMO, json={
        "name": "i", "disk_format": "raw", "container_format": "bare"})
    iid = (await resp.json())["id"]
    resp = await client.post("/networking/v2.0/networks", headers=DEMO,
                             json={"network": {"name": "n"}})
    nid = (await resp.json())["network"]["id"]
    for fake in fakes.values():
        fake.raw_requests.clear()
    answered = 0
    for method, route, admin, service in ROUTES:
        for payload in PAYLOADS:
            url = route.format(sid=sid, iid=iid, nid=nid, X=payload)
            kwargs: dict[str, Any] = {"headers": dict(ADMIN if admin else DEMO)}
            if method in ("PUT", "POST"):
                kwargs["data"] = b"{}"
                kwargs["headers"]["Content-Type"] = "application/json"
            resp = await client.request(method, yarl.URL(url, encoded=True), **kwargs)
            text = await resp.text()
            # A payload that decodes to one harmless segment (double encoding
            # leaves a literal "%2F") may name a tag or a project: 2xx allowed.
            low = 200 if _one_segment(payload) else 400
            assert low <= resp.status < 500, (method, url[:200], resp.status, text[:300])
            answered += 1
            if resp.status < 400:
                continue
            assert _in_format(service, resp.status, resp.content_type, text), (url, text)
            assert resp.headers["x-openstack-request-id"].startswith("req-")
    assert answered == len(ROUTES) * len(PAYLOADS)
    for name, fake in fakes.items():
        for method, raw in fake.raw_requests:
            assert _meant(raw), (name, method, raw)
            # Never the region's own collection of servers: that is the bypass.
            assert not re.fullmatch(r"/compute/v2\.1/servers(/detail)?", raw), (method, raw)


async def test_a_benign_odd_tag_is_forwarded_as_one_encoded_segment(setup: Any) -> None:
    """Characters a tag may hold reach the region percent-encoded, in one segment."""
    client, fakes = setup
    resp = await client.post("/compute/v2.1/servers", headers=DEMO, json={"server": {
        "name": "vm", "flavorRef": "1", "imageRef": IMAGE_ID, "networks": "none",
        "availability_zone": "RegionOne"}})
    sid = (await resp.json())["server"]["id"]
    fakes["RegionOne"].raw_requests.clear()
    await client.put(yarl.URL(f"/compute/v2.1/servers/{sid}/tags/a%3Bb%20c%25d", encoded=True),
                     headers=DEMO)
    (method, raw), = fakes["RegionOne"].raw_requests
    assert method == "PUT" and raw.endswith("/tags/a%3Bb%20c%25d"), raw


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:1/compute/../../v2.1", "http://127.0.0.1:1/a%2F..%2Fb",
    "file:///etc/passwd", "http://user:pw@127.0.0.1:1/compute", "http://127.0.0.1:1/c?x=1",
    "http://127.0.0.1:1/c#frag", "ftp://127.0.0.1/x", "not a url",
])
async def test_endpoint_overrides_must_be_plain_http_urls(setup: Any, url: str) -> None:
    client, _ = setup
    resp = await client.post("/v1/regions", headers=ADMIN, json={"region": {
        "name": "RegionX", "compute_endpoint": url}})
    assert resp.status == 400, await resp.text()
    resp = await client.patch("/v1/regions/RegionOne", headers=ADMIN, json={"region": {
        "image_endpoint": url}})
    assert resp.status == 400, await resp.text()
