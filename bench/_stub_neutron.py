"""Many stub Neutron regions in one process, one loopback port each (not a benchmark).

Just enough of Neutron v2.0 for routers across regions: networks, subnets, ports
and routers with create, show, list (``id``, ``tags``, ``project_id``,
``device_id``, ``network_id`` and ``router:external`` filters), update, delete,
tags, and ``add_router_interface`` / ``remove_router_interface`` by port; plus
the service token and a version document for anything else Cascade probes.
State is in memory, per region::

    python bench/_stub_neutron.py --regions 50     # prints READY <port,port,...> <pid>
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from typing import Any

from aiohttp import web

_COLLECTIONS = {"networks": "network", "subnets": "subnet", "ports": "port",
                "routers": "router"}


def _answer(body: Any, status: int = 200, headers: dict[str, str] | None = None
            ) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status,
                        content_type="application/json", headers=headers)


class StubNeutron:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in _COLLECTIONS}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_routes([
            web.post("/identity/v3/auth/tokens", self.token),
            web.get("/network/v2.0/{coll}", self.list_),
            web.post("/network/v2.0/{coll}", self.create),
            web.get("/network/v2.0/{coll}/{id}", self.show),
            web.put("/network/v2.0/{coll}/{id}", self.update),
            web.delete("/network/v2.0/{coll}/{id}", self.delete),
            web.put("/network/v2.0/{coll}/{id}/tags", self.tags),
            web.put("/network/v2.0/routers/{id}/add_router_interface", self.attach),
            web.put("/network/v2.0/routers/{id}/remove_router_interface", self.detach),
            web.get("/{tail:.*}", self.versions),
        ])
        return app

    async def token(self, request: web.Request) -> web.Response:
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
        return _answer({"token": {"expires_at": expires, "catalog": []}}, 201,
                       {"X-Subject-Token": "bench-service-token"})

    async def versions(self, request: web.Request) -> web.Response:
        return _answer({"versions": [{"id": "v2.0", "status": "CURRENT"}],
                        "version": {"id": "v2.1", "status": "CURRENT", "version": "2.90",
                                    "min_version": "2.1"}})

    def _coll(self, request: web.Request) -> str:
        coll = request.match_info["coll"]
        if coll not in _COLLECTIONS:
            raise web.HTTPNotFound()
        return coll

    def _get(self, coll: str, oid: str) -> dict[str, Any]:
        obj = self.objects[coll].get(oid)
        if obj is None:
            raise web.HTTPNotFound(text=json.dumps({"NeutronError": {
                "type": "NotFound", "message": f"{oid} not found", "detail": ""}}),
                content_type="application/json")
        return obj

    async def list_(self, request: web.Request) -> web.Response:
        coll = self._coll(request)
        query = request.query
        out = []
        for obj in self.objects[coll].values():
            ok = True
            for key in ("id", "project_id", "device_id", "network_id", "name"):
                wanted = query.getall(key, [])
                if wanted and str(obj.get(key)) not in wanted:
                    ok = False
            for tag in query.getall("tags", []):
                if tag not in obj.get("tags", []):
                    ok = False
            if "router:external" in query and not obj.get("router:external"):
                ok = False
            if ok:
                out.append(obj)
        return _answer({coll: out})

    async def create(self, request: web.Request) -> web.Response:
        coll = self._coll(request)
        body = (await request.json())[_COLLECTIONS[coll]]
        obj = {"id": str(uuid.uuid4()), "tags": [], "project_id": body.get("project_id",
                                                                           "bench"),
               "status": "ACTIVE", **body}
        if coll == "ports":
            obj.setdefault("device_id", "")
            obj.setdefault("device_owner", "")
            obj.setdefault("fixed_ips", [])
        if coll == "routers":
            obj.setdefault("routes", [])
            obj.setdefault("external_gateway_info", None)
        self.objects[coll][obj["id"]] = obj
        return _answer({_COLLECTIONS[coll]: obj}, 201)

    async def show(self, request: web.Request) -> web.Response:
        coll = self._coll(request)
        return _answer({_COLLECTIONS[coll]: self._get(coll, request.match_info["id"])})

    async def update(self, request: web.Request) -> web.Response:
        coll = self._coll(request)
        obj = self._get(coll, request.match_info["id"])
        obj.update((await request.json())[_COLLECTIONS[coll]])
        return _answer({_COLLECTIONS[coll]: obj})

    async def delete(self, request: web.Request) -> web.Response:
        coll = self._coll(request)
        self._get(coll, request.match_info["id"])
        del self.objects[coll][request.match_info["id"]]
        return web.Response(status=204)

    async def tags(self, request: web.Request) -> web.Response:
        coll = self._coll(request)
        obj = self._get(coll, request.match_info["id"])
        obj["tags"] = list((await request.json())["tags"])
        return _answer({"tags": obj["tags"]})

    async def attach(self, request: web.Request) -> web.Response:
        router = self._get("routers", request.match_info["id"])
        port = self._get("ports", (await request.json())["port_id"])
        port.update(device_id=router["id"], device_owner="network:router_interface")
        return _answer({"id": router["id"], "port_id": port["id"]})

    async def detach(self, request: web.Request) -> web.Response:
        router = self._get("routers", request.match_info["id"])
        port = self._get("ports", (await request.json())["port_id"])
        del self.objects["ports"][port["id"]]
        return _answer({"id": router["id"], "port_id": port["id"]})


async def _serve(count: int) -> None:
    ports = []
    for _ in range(count):
        runner = web.AppRunner(StubNeutron().app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.append(runner.addresses[0][1])
    print(f"READY {','.join(map(str, ports))} {os.getpid()}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--regions", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(_serve(args.regions))


if __name__ == "__main__":
    main()
