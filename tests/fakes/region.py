"""A fake regional cloud (Nova, Glance, Neutron subsets) for unit and functional tests.

Written from the API references; it keeps servers in memory and answers in the
services' own formats. Real regions are used from the integration level up.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from typing import Any

from aiohttp import web

FLAVORS = [{"id": "1", "name": "m1.tiny", "ram": 512, "disk": 1, "vcpus": 1},
           {"id": "42", "name": "m1.nano", "ram": 128, "disk": 1, "vcpus": 1}]
IMAGE_ID = "8a1a2f3e-6c1d-4f6b-9a55-2f0e7d1c0a01"


class FakeRegion:
    """State and behaviour of one fake region; ``app`` serves it."""

    def __init__(self, name: str, max_version: str = "2.100") -> None:
        self.name = name
        self.max_version = max_version
        self.servers: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.delay = 0.0
        self.down = False
        self.base = ""
        self._clock = itertools.count()

    def nova_fault(self, status: int, name: str, message: str) -> web.Response:
        return web.json_response({name: {"code": status, "message": message}}, status=status,
                                 headers={"x-openstack-request-id": f"req-{uuid.uuid4()}"})

    @web.middleware
    async def _mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.down:
            raise web.HTTPServiceUnavailable()
        self.requests.append((request.method, request.path, dict(request.headers)))
        if self.delay:
            await asyncio.sleep(self.delay)
        resp = await handler(request)
        resp.headers["x-openstack-request-id"] = f"req-{uuid.uuid4()}"
        return resp

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._mw])
        app.router.add_routes([
            web.get("/compute/v2.1", self.version),
            web.post("/compute/v2.1/servers", self.create),
            web.get("/compute/v2.1/servers/detail", self.list_detail),
            web.get("/compute/v2.1/servers", self.list_detail),
            web.get("/compute/v2.1/servers/{id}", self.show),
            web.delete("/compute/v2.1/servers/{id}", self.delete),
            web.get("/compute/v2.1/flavors", self.flavors),
            web.get("/compute/v2.1/flavors/detail", self.flavors),
            web.get("/compute/v2.1/flavors/{id}", self.flavor),
            web.get("/image/", self.image_versions),
            web.get("/image/v2/images", self.images),
            web.get("/image/v2/images/{id}", self.image),
            web.get("/network/", self.network_versions),
            web.post("/identity/v3/auth/tokens", self.token),
        ])
        return app

    def _link(self, sid: str) -> list[dict[str, str]]:
        return [{"rel": "self", "href": f"{self.base}/compute/v2.1/servers/{sid}"},
                {"rel": "bookmark", "href": f"{self.base}/compute/servers/{sid}"}]

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": {"id": "v2.1", "status": "CURRENT",
                                              "version": self.max_version,
                                              "min_version": "2.1"}})

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        server = body["server"]
        if server.get("flavorRef") not in {f["id"] for f in FLAVORS}:
            return self.nova_fault(400, "badRequest",
                                   f"Flavor {server.get('flavorRef')} could not be found.")
        if server.get("imageRef") not in (None, "", IMAGE_ID):
            return self.nova_fault(400, "badRequest", "Can not find requested image")
        sid = str(uuid.uuid4())
        created = (dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
                   + dt.timedelta(seconds=next(self._clock))).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.servers[sid] = {
            "id": sid, "name": server["name"], "status": "ACTIVE",
            "metadata": server.get("metadata", {}), "created": created, "updated": created,
            "flavor": {"id": server["flavorRef"]}, "image": {"id": server.get("imageRef")},
            "OS-EXT-AZ:availability_zone": server.get("availability_zone", "nova"),
            "links": self._link(sid), "tenant_id": request.headers.get("X-Auth-Token", ""),
            "addresses": {},
        }
        return web.json_response({"server": {"id": sid, "links": self._link(sid),
                                             "adminPass": "pw", "security_groups": []}},
                                 status=202,
                                 headers={"Location": self._link(sid)[0]["href"]})

    async def show(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        if sid not in self.servers:
            return self.nova_fault(404, "itemNotFound", f"Instance {sid} could not be found.")
        return web.json_response({"server": self.servers[sid]})

    async def list_detail(self, request: web.Request) -> web.Response:
        servers = sorted(self.servers.values(), key=lambda s: s["created"], reverse=True)
        return web.json_response({"servers": servers})

    async def delete(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        if self.servers.pop(sid, None) is None:
            return self.nova_fault(404, "itemNotFound", f"Instance {sid} could not be found.")
        return web.Response(status=204)

    async def flavors(self, request: web.Request) -> web.Response:
        return web.json_response({"flavors": [
            {**f, "links": [{"rel": "self", "href": f"{self.base}/compute/v2.1/flavors/{f['id']}"}]}
            for f in FLAVORS]})

    async def flavor(self, request: web.Request) -> web.Response:
        for f in FLAVORS:
            if f["id"] == request.match_info["id"]:
                return web.json_response({"flavor": f})
        return self.nova_fault(404, "itemNotFound",
                               f"Flavor {request.match_info['id']} could not be found.")

    async def image_versions(self, request: web.Request) -> web.Response:
        return web.json_response({"versions": [{"id": "v2.17", "status": "CURRENT"},
                                               {"id": "v2.16", "status": "SUPPORTED"}]},
                                 status=300)

    async def images(self, request: web.Request) -> web.Response:
        return web.json_response({"images": [{"id": IMAGE_ID, "name": "cirros",
                                              "created_at": "2026-01-01T00:00:00Z"}]})

    async def image(self, request: web.Request) -> web.Response:
        if request.match_info["id"] != IMAGE_ID:
            return web.Response(status=404, text="404 Not Found\n\nNo image found",
                                content_type="text/plain")
        return web.json_response({"id": IMAGE_ID, "name": "cirros"})

    async def token(self, request: web.Request) -> web.Response:
        """A Keystone token with an empty catalog: endpoint overrides serve."""
        expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
        return web.json_response({"token": {"expires_at": expires, "catalog": []}},
                                 status=201, headers={"X-Subject-Token": "service-token"})

    async def network_versions(self, request: web.Request) -> web.Response:
        return web.json_response({"versions": [{"id": "v2.0", "status": "CURRENT"}]})
