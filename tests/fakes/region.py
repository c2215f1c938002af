"""A fake regional cloud (Nova, Glance, Neutron subsets) for unit and functional tests.

Written from the API references; it keeps servers in memory and answers in the
services' own formats. Real regions are used from the integration level up.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from typing import Any, Awaitable, Callable

from aiohttp import web

from tests.fakes.neutron import SERVICE_TOKEN, FakeNeutron

FLAVORS = [{"id": "1", "name": "m1.tiny", "ram": 512, "disk": 1, "vcpus": 1},
           {"id": "42", "name": "m1.nano", "ram": 128, "disk": 1, "vcpus": 1}]
IMAGE_ID = "8a1a2f3e-6c1d-4f6b-9a55-2f0e7d1c0a01"


def _project_of(request: web.Request) -> str:
    """The project of the caller: NoAuth tokens are ``user:project[:roles]``."""
    token = request.headers.get("X-Auth-Token", "")
    parts = token.split(":")
    return parts[1] if len(parts) >= 2 and parts[1] else token


class FakeRegion:
    """State and behaviour of one fake region; ``app`` serves it."""

    def __init__(self, name: str, max_version: str = "2.100") -> None:
        self.name = name
        self.max_version = max_version
        self.servers: dict[str, dict[str, Any]] = {}
        #: Servers deleted, kept for ``changes-since`` lists (as Nova shows them).
        self.deleted: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        #: The ``server`` of every create request, as received.
        self.create_bodies: list[dict[str, Any]] = []
        #: Each create's ``os:scheduler_hints`` (None when it had none).
        self.create_hints: list[dict[str, Any] | None] = []
        #: (method, raw path as it came on the wire, query excluded) of every request.
        self.raw_requests: list[tuple[str, str]] = []
        self.delay = 0.0
        self.down = False
        self.base = ""
        #: Seconds between the ``created`` of consecutive servers (0 makes ties).
        self.tick = 1
        #: When True, new servers fail scheduling as Nova's NoValidHost does.
        self.no_valid_host = False
        #: Awaited with the server's id once a DELETE has removed it, before answering.
        self.on_delete: Callable[[str], Awaitable[None]] | None = None
        #: When set, GET /servers/detail answers these bytes (JSON content type) instead.
        self.list_answer: bytes | None = None
        self.keypairs: dict[str, dict[str, Any]] = {}
        self.flavors = [dict(f) for f in FLAVORS]
        #: Glance: id -> image metadata; data kept apart (bytes).
        self.glance: dict[str, dict[str, Any]] = {}
        #: Server groups by regional id (members: regional server ids).
        self.server_groups: dict[str, dict[str, Any]] = {}
        #: The last server action's body, as the region received it.
        self.last_action: Any = None
        #: Glance metadefs namespaces by name (with the owner's project).
        self.metadefs: dict[str, dict[str, Any]] = {}
        self.data: dict[str, bytes] = {}
        #: Data staged for glance-direct, by image id.
        self.staged: dict[str, bytes] = {}
        self.burned: set[str] = set()
        #: Glance's hashing algorithm in this region.
        self.hash_algo = "sha512"
        #: Neutron: networks, subnets, ports, security groups, tags, quotas.
        self.neutron = FakeNeutron()
        self._clock = itertools.count()

    def nova_fault(self, status: int, name: str, message: str) -> web.Response:
        return web.json_response({name: {"code": status, "message": message}}, status=status,
                                 headers={"x-openstack-request-id": f"req-{uuid.uuid4()}"})

    @web.middleware
    async def _mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.down:
            raise web.HTTPServiceUnavailable()
        self.requests.append((request.method, request.path, dict(request.headers)))
        self.raw_requests.append((request.method, request.raw_path.partition("?")[0]))
        if self.delay:
            await asyncio.sleep(self.delay)
        resp = await handler(request)
        resp.headers["x-openstack-request-id"] = f"req-{uuid.uuid4()}"
        return resp

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._mw], client_max_size=1 << 30)
        app.router.add_routes([
            web.get("/compute/v2.1", self.version),
            web.post("/compute/v2.1/servers", self.create),
            web.get("/compute/v2.1/servers/detail", self.list_detail),
            web.get("/compute/v2.1/servers", self.list_detail),
            web.get("/compute/v2.1/servers/{id}", self.show),
            web.put("/compute/v2.1/servers/{id}", self.update),
            web.delete("/compute/v2.1/servers/{id}", self.delete),
            web.post("/compute/v2.1/servers/{id}/action", self.action),
            web.get("/compute/v2.1/servers/{id}/metadata", self.metadata),
            web.get("/compute/v2.1/servers/{id}/os-instance-actions", self.instance_actions),
            web.post("/compute/v2.1/os-server-groups", self.create_server_group),
            web.get("/compute/v2.1/os-server-groups/{id}", self.server_group),
            web.delete("/compute/v2.1/os-server-groups/{id}", self.delete_server_group),
            web.post("/compute/v2.1/servers/{id}/os-interface", self.attach_interface),
            web.get("/compute/v2.1/servers/{id}/os-interface", self.interfaces),
            web.put("/compute/v2.1/servers/{id}/metadata", self.set_metadata),
            web.get("/compute/v2.1/flavors", self.list_flavors),
            web.post("/compute/v2.1/flavors", self.create_flavor),
            web.get("/compute/v2.1/flavors/detail", self.list_flavors),
            web.get("/compute/v2.1/flavors/{id}", self.flavor),
            web.delete("/compute/v2.1/flavors/{id}", self.delete_flavor),
            web.get("/compute/v2.1/os-keypairs/{name}", self.show_keypair),
            web.post("/compute/v2.1/os-keypairs", self.create_keypair),
            web.delete("/compute/v2.1/os-keypairs/{name}", self.delete_keypair),
            web.get("/image/", self.image_versions),
            web.get("/image/v2/images", self.images),
            web.post("/image/v2/images", self.create_image),
            web.get("/image/v2/images/{id}", self.image),
            web.delete("/image/v2/images/{id}", self.delete_image),
            web.put("/image/v2/images/{id}/file", self.upload),
            web.get("/image/v2/images/{id}/file", self.download),
            web.put("/image/v2/images/{id}/stage", self.stage),
            web.post("/image/v2/images/{id}/import", self.import_image),
            web.post("/image/v2/images/{id}/actions/{action}", self.image_action),
            web.get("/image/v2/metadefs/namespaces", self.namespaces),
            web.post("/image/v2/metadefs/namespaces", self.create_namespace),
            web.get("/image/v2/metadefs/namespaces/{ns}", self.namespace),
            web.delete("/image/v2/metadefs/namespaces/{ns}", self.delete_namespace),
            web.get("/network/", self.network_versions),
            web.post("/identity/v3/auth/tokens", self.token),
            *self.neutron.routes(),
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
        self.create_bodies.append(server)
        self.create_hints.append(body.get("os:scheduler_hints"))
        if server.get("flavorRef") not in {f["id"] for f in self.flavors}:
            return self.nova_fault(400, "badRequest",
                                   f"Flavor {server.get('flavorRef')} could not be found.")
        if server.get("imageRef") not in (None, "", IMAGE_ID, *self.glance):
            return self.nova_fault(400, "badRequest", "Can not find requested image")
        if server.get("key_name") and server["key_name"] not in self.keypairs:
            return self.nova_fault(400, "badRequest", "Invalid key_name provided.")
        group = (body.get("os:scheduler_hints") or {}).get("group")
        if group is not None and group not in self.server_groups:
            return self.nova_fault(404, "itemNotFound",
                                   f"Instance group {group} could not be found.")
        sid = str(uuid.uuid4())
        if group is not None:
            self.server_groups[group]["members"].append(sid)
        created = (dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
                   + dt.timedelta(seconds=next(self._clock) * self.tick)
                   ).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.servers[sid] = {
            "id": sid, "name": server["name"],
            "status": "ERROR" if self.no_valid_host else "ACTIVE",
            "key_name": server.get("key_name"),
            "metadata": server.get("metadata", {}), "created": created, "updated": created,
            "flavor": {"id": server["flavorRef"]}, "image": {"id": server.get("imageRef")},
            "OS-EXT-AZ:availability_zone": server.get("availability_zone", "nova"),
            "links": self._link(sid), "tenant_id": _project_of(request),
            "addresses": {},
        }
        if self.no_valid_host:
            self.servers[sid]["fault"] = {"code": 500, "message": "No valid host was found. "}
        return web.json_response({"server": {"id": sid, "links": self._link(sid),
                                             "adminPass": server.get("adminPass", "pw"),
                                             "security_groups": []}},
                                 status=202,
                                 headers={"Location": self._link(sid)[0]["href"]})

    async def show(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        if sid not in self.servers:
            return self.nova_fault(404, "itemNotFound", f"Instance {sid} could not be found.")
        return web.json_response({"server": self.servers[sid]})

    async def list_detail(self, request: web.Request) -> web.Response:
        if self.list_answer is not None:
            return web.Response(body=self.list_answer, content_type="application/json")
        # Nova's order: the sort key, then its own internal id (creation order here).
        order = list(self.servers) + list(self.deleted)
        key = {"created_at": "created", "display_name": "name",
               "updated_at": "updated"}[request.query.get("sort_key", "created_at")]
        desc = request.query.get("sort_dir", "desc") == "desc"
        pool = list(self.servers.values())
        since = request.query.get("changes-since")
        if since:
            # As Nova: changed at or after the time, deleted servers included.
            pool = [s for s in pool + list(self.deleted.values()) if s["updated"] >= since]
        servers = sorted(pool,
                         key=lambda s: (s[key], order.index(s["id"])), reverse=desc)
        marker = request.query.get("marker")
        if marker:
            if marker not in self.servers:
                return self.nova_fault(400, "badRequest", f"marker [{marker}] not found")
            servers = servers[[s["id"] for s in servers].index(marker) + 1:]
        if "limit" in request.query:
            servers = servers[:int(request.query["limit"])]
        public = [{k: v for k, v in s.items() if k != "adminPass"} for s in servers]
        return web.json_response({"servers": public})

    def _server(self, request: web.Request) -> dict[str, Any] | None:
        return self.servers.get(request.match_info["id"])

    async def update(self, request: web.Request) -> web.Response:
        server = self._server(request)
        if server is None:
            return self.nova_fault(404, "itemNotFound", "Instance could not be found.")
        server.update((await request.json())["server"])
        return web.json_response({"server": server})

    async def action(self, request: web.Request) -> web.Response:
        server = self._server(request)
        sid = request.match_info["id"]
        if server is None:
            return self.nova_fault(404, "itemNotFound", f"Instance {sid} could not be found.")
        body = await request.json()
        name = next(iter(body))
        self.last_action = body
        if name == "createImage":
            return self._snapshot(sid, body["createImage"])
        wanted = {"os-stop": ("ACTIVE", "SHUTOFF"), "os-start": ("SHUTOFF", "ACTIVE"),
                  "reboot": ("ACTIVE", "ACTIVE"), "unshelve": ("SHELVED_OFFLOADED", "ACTIVE"),
                  }.get(name)
        if wanted is None:
            return self.nova_fault(400, "badRequest", f"There is no such action: {name}")
        if server["status"] != wanted[0]:
            return self.nova_fault(409, "conflictingRequest",
                                   f"Cannot '{name}' instance {sid} while it is in "
                                   f"vm_state {server['status'].lower()}")
        server["status"] = wanted[1]
        return web.Response(status=202)

    async def metadata(self, request: web.Request) -> web.Response:
        server = self._server(request)
        assert server is not None
        return web.json_response({"metadata": server["metadata"]})

    async def set_metadata(self, request: web.Request) -> web.Response:
        server = self._server(request)
        assert server is not None
        server["metadata"] = (await request.json())["metadata"]
        return web.json_response({"metadata": server["metadata"]})

    async def delete(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        gone = self.servers.pop(sid, None)
        if gone is None:
            return self.nova_fault(404, "itemNotFound", f"Instance {sid} could not be found.")
        self.deleted[sid] = {**gone, "status": "DELETED", "OS-EXT-STS:vm_state": "deleted",
                             "updated": self.now()}
        if self.on_delete is not None:
            await self.on_delete(sid)
        return web.Response(status=204)

    def now(self) -> str:
        """An ``updated`` stamp (seconds resolution, as Nova)."""
        return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def list_flavors(self, request: web.Request) -> web.Response:
        """Nova's flavor list: minRam/minDisk filters, sort_key/sort_dir (flavorid asc)."""
        flavors = list(self.flavors)
        for key, field in (("minRam", "ram"), ("minDisk", "disk")):
            if key in request.query:
                if not request.query[key].lstrip("-").isdigit():
                    return self.nova_fault(400, "badRequest",
                                           f"Invalid {key} filter [{request.query[key]}]")
                flavors = [f for f in flavors if f[field] >= int(request.query[key])]
        field = {"flavorid": "id", "name": "name", "memory_mb": "ram", "root_gb": "disk",
                 "vcpus": "vcpus"}.get(request.query.get("sort_key", "flavorid"), "id")
        flavors.sort(key=lambda f: f[field], reverse=request.query.get("sort_dir") == "desc")
        return web.json_response({"flavors": [
            {**f, "links": [{"rel": "self",
                             "href": f"{self.base}/compute/v2.1/flavors/{f['id']}"}]}
            for f in flavors]})

    async def create_flavor(self, request: web.Request) -> web.Response:
        flavor = (await request.json())["flavor"]
        if any(f["id"] == flavor["id"] for f in self.flavors):
            return self.nova_fault(409, "conflictingRequest",
                                   f"Flavor with ID {flavor['id']} already exists.")
        self.flavors.append(flavor)
        return web.json_response({"flavor": flavor})

    async def delete_flavor(self, request: web.Request) -> web.Response:
        before = len(self.flavors)
        self.flavors = [f for f in self.flavors if f["id"] != request.match_info["id"]]
        if len(self.flavors) == before:
            return self.nova_fault(404, "itemNotFound", "Flavor could not be found.")
        return web.Response(status=202)

    async def show_keypair(self, request: web.Request) -> web.Response:
        pair = self.keypairs.get(request.match_info["name"])
        if pair is None:
            return self.nova_fault(404, "itemNotFound", "Keypair not found")
        return web.json_response({"keypair": pair})

    async def create_keypair(self, request: web.Request) -> web.Response:
        from cascade.compute.keypair_ops import fingerprint

        pair = (await request.json())["keypair"]
        pair["fingerprint"] = fingerprint(pair["public_key"])
        self.keypairs[pair["name"]] = pair
        return web.json_response({"keypair": pair}, status=201)

    async def delete_keypair(self, request: web.Request) -> web.Response:
        self.keypairs.pop(request.match_info["name"], None)
        return web.Response(status=202)

    async def flavor(self, request: web.Request) -> web.Response:
        for f in self.flavors:
            if f["id"] == request.match_info["id"]:
                return web.json_response({"flavor": f})
        return self.nova_fault(404, "itemNotFound",
                               f"Flavor {request.match_info['id']} could not be found.")

    async def image_versions(self, request: web.Request) -> web.Response:
        return web.json_response({"versions": [{"id": "v2.17", "status": "CURRENT"},
                                               {"id": "v2.16", "status": "SUPPORTED"}]},
                                 status=300)

    async def images(self, request: web.Request) -> web.Response:
        return web.json_response({"images": list(self.glance.values())})

    def _snapshot(self, sid: str, request: dict[str, Any]) -> web.Response:
        """createImage: Glance gets an active image of the server (Nova's answer: the
        image id from 2.45, a Location before)."""
        image_id = str(uuid.uuid4())
        self.glance[image_id] = {
            "id": image_id, "name": request.get("name"), "status": "active", "size": 5,
            "checksum": "5d41402abc4b2a76b9719d911017c592", "disk_format": "raw",
            "container_format": "bare", "min_disk": 0, "min_ram": 0,
            "visibility": "private", "instance_uuid": sid, "image_type": "snapshot",
            **(request.get("metadata") or {})}
        self.data[image_id] = b"hello"
        return web.json_response({"image_id": image_id}, status=202, headers={
            "Location": f"{self.base}/image/v2/images/{image_id}"})

    async def create_server_group(self, request: web.Request) -> web.Response:
        group = dict((await request.json())["server_group"])
        group.update(id=str(uuid.uuid4()), members=[])
        self.server_groups[group["id"]] = group
        return web.json_response({"server_group": group})

    async def server_group(self, request: web.Request) -> web.Response:
        group = self.server_groups.get(request.match_info["id"])
        if group is None:
            return self.nova_fault(404, "itemNotFound", "Server group not found")
        return web.json_response({"server_group": group})

    async def delete_server_group(self, request: web.Request) -> web.Response:
        if self.server_groups.pop(request.match_info["id"], None) is None:
            return self.nova_fault(404, "itemNotFound", "Server group not found")
        return web.Response(status=204)

    async def instance_actions(self, request: web.Request) -> web.Response:
        """Nova's action list: the create, and a next link at this region (2.58+)."""
        sid = request.match_info["id"]
        version = request.headers.get("OpenStack-API-Version", "compute 2.1").split()[-1]
        deleted_ok = tuple(int(p) for p in version.split(".")) >= (2, 21)
        if sid not in self.servers and not (deleted_ok and sid in self.deleted):
            return self.nova_fault(404, "itemNotFound", f"Instance {sid} could not be found.")
        return web.json_response({
            "instanceActions": [{"action": "create", "instance_uuid": sid,
                                 "request_id": "req-fake-1", "message": None}],
            "links": [{"rel": "next", "href": f"{self.base}/compute/v2.1/servers/{sid}/"
                                              "os-instance-actions?marker=req-fake-1"}]})

    async def attach_interface(self, request: web.Request) -> web.Response:
        """Attach: the port named (regional id) goes onto the server."""
        sid = request.match_info["id"]
        attach = (await request.json())["interfaceAttachment"]
        port = self.neutron.ports.get(attach.get("port_id", ""))
        if port is None:
            return self.nova_fault(404, "itemNotFound",
                                   f"Port {attach.get('port_id')} could not be found.")
        port["device_id"] = sid
        return web.json_response({"interfaceAttachment": self._attachment(port)})

    async def interfaces(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        return web.json_response({"interfaceAttachments": [
            self._attachment(p) for p in self.neutron.ports.values()
            if p.get("device_id") == sid]})

    @staticmethod
    def _attachment(port: dict[str, Any]) -> dict[str, Any]:
        return {"port_id": port["id"], "net_id": port["network_id"],
                "fixed_ips": port.get("fixed_ips") or [], "port_state": "ACTIVE",
                "mac_addr": port.get("mac_address")}

    async def namespaces(self, request: web.Request) -> web.Response:
        project = _project_of(request)
        seen = [n for n in self.metadefs.values()
                if n["owner"] == project or n.get("visibility") == "public"]
        return web.json_response({"namespaces": seen, "first": "/v2/metadefs/namespaces",
                                  "schema": "/v2/schemas/metadefs/namespaces"})

    async def create_namespace(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("namespace") in self.metadefs:
            return web.Response(status=409)
        self.metadefs[body["namespace"]] = {**body, "owner": _project_of(request)}
        return web.json_response(self.metadefs[body["namespace"]], status=201)

    async def namespace(self, request: web.Request) -> web.Response:
        ns = self.metadefs.get(request.match_info["ns"])
        if ns is None or (ns["owner"] != _project_of(request)
                          and ns.get("visibility") != "public"):
            return web.Response(status=404, text="Namespace not found")
        return web.json_response(ns)

    async def delete_namespace(self, request: web.Request) -> web.Response:
        ns = self.metadefs.get(request.match_info["ns"])
        if ns is None or ns["owner"] != _project_of(request):
            return web.Response(status=404, text="Namespace not found")
        del self.metadefs[request.match_info["ns"]]
        return web.Response(status=204)

    async def image_action(self, request: web.Request) -> web.Response:
        """Glance's deactivate and reactivate (an active or deactivated image only)."""
        image = self.glance.get(request.match_info["id"])
        if image is None:
            return self._glance_404(request.match_info["id"])
        if image["status"] not in ("active", "deactivated"):
            return web.Response(status=403)
        image["status"] = ("active" if request.match_info["action"] == "reactivate"
                           else "deactivated")
        return web.Response(status=204)

    def _glance_404(self, image_id: str) -> web.Response:
        return web.Response(status=404, text=f"404 Not Found\n\nNo image found with ID "
                                             f"{image_id}\n\n", content_type="text/plain")

    async def create_image(self, request: web.Request) -> web.Response:
        body = await request.json()
        image_id = body.get("id") or str(uuid.uuid4())
        if image_id in self.glance or image_id in self.burned:
            return web.Response(status=409, text="409 Conflict\n\nImage exists",
                                content_type="text/plain")
        self.glance[image_id] = {**body, "id": image_id, "status": "queued", "size": None,
                                 "checksum": None, "os_hash_algo": None,
                                 "os_hash_value": None}
        return web.json_response(self.glance[image_id], status=201)

    async def image(self, request: web.Request) -> web.Response:
        image = self.glance.get(request.match_info["id"])
        if image is None:
            return self._glance_404(request.match_info["id"])
        return web.json_response(image)

    async def delete_image(self, request: web.Request) -> web.Response:
        image_id = request.match_info["id"]
        if self.glance.pop(image_id, None) is None:
            return self._glance_404(image_id)
        self.data.pop(image_id, None)
        self.burned.add(image_id)  # Glance never hands out a deleted image's id again
        return web.Response(status=204)

    async def upload(self, request: web.Request) -> web.Response:
        import hashlib

        image_id = request.match_info["id"]
        image = self.glance.get(image_id)
        if image is None:
            return self._glance_404(image_id)
        image["status"] = "saving"
        data = await request.read()
        self.data[image_id] = data
        image.update(status="active", size=len(data),
                     checksum=hashlib.md5(data).hexdigest(), os_hash_algo=self.hash_algo,
                     os_hash_value=hashlib.new(self.hash_algo, data).hexdigest())
        return web.Response(status=204)

    async def stage(self, request: web.Request) -> web.Response:
        image = self.glance.get(request.match_info["id"])
        if image is None:
            return self._glance_404(request.match_info["id"])
        self.staged[image["id"]] = await request.read()
        image["status"] = "uploading"
        return web.Response(status=204)

    async def import_image(self, request: web.Request) -> web.Response:
        """glance-direct (the staged data) or web-download (``fail`` in the uri fails,
        and Glance puts the image back to queued), done at once."""
        import hashlib

        image = self.glance.get(request.match_info["id"])
        if image is None:
            return self._glance_404(request.match_info["id"])
        method = (await request.json())["method"]
        if method["name"] == "glance-direct":
            data = self.staged.pop(image["id"])
        elif "fail" in method.get("uri", ""):
            image["status"] = "queued"
            return web.Response(status=202)
        else:
            data = b"downloaded:" + method["uri"].encode()
        self.data[image["id"]] = data
        image.update(status="active", size=len(data),
                     checksum=hashlib.md5(data).hexdigest(), os_hash_algo=self.hash_algo,
                     os_hash_value=hashlib.new(self.hash_algo, data).hexdigest())
        return web.Response(status=202)

    async def download(self, request: web.Request) -> web.StreamResponse:
        image_id = request.match_info["id"]
        if image_id not in self.data:
            return self._glance_404(image_id)
        data = self.data[image_id]
        response = web.StreamResponse(headers={"Content-Length": str(len(data)),
                                               "Content-Type": "application/octet-stream"})
        await response.prepare(request)
        for i in range(0, len(data), 65536):
            await response.write(data[i:i + 65536])
        await response.write_eof()
        return response

    async def token(self, request: web.Request) -> web.Response:
        """A Keystone token with an empty catalog: endpoint overrides serve."""
        expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
        return web.json_response({"token": {"expires_at": expires, "catalog": []}},
                                 status=201, headers={"X-Subject-Token": SERVICE_TOKEN})

    async def network_versions(self, request: web.Request) -> web.Response:
        return web.json_response({"versions": [{"id": "v2.0", "status": "CURRENT"}]})
