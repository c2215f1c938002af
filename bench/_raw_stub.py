"""StubNova on a bare asyncio protocol: the same answers, a tenth of the CPU per request.

``bench/scale.py`` runs 100 stub regions on one core. With aiohttp serving them,
taking a request in and answering it costs the stub about 0.1 ms of CPU, so 100
requests that arrive together are served one after another for about 10 ms:
the stubs themselves, not the gateway, then decide when the last answer leaves,
and real regions (separate machines) do not queue behind each other like that.
This server parses HTTP/1.1 by hand (request line, headers, ``Content-Length``
bodies, keep-alive) and hands each request to ``StubNova``'s own handlers
through a small request shim, so the regions' state and answers are exactly
those of the aiohttp stub.
"""
from __future__ import annotations

import asyncio
import json
import re
import uuid
from http import HTTPStatus
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

from _benchlib import StubNova

__all__ = ["RawStubNova", "serve"]

Answer = tuple[int, dict[str, str], bytes]


def _answer(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    hdrs = {"x-openstack-request-id": f"req-{uuid.uuid4()}",
            "Content-Type": "application/json"}
    hdrs.update(headers or {})
    return status, hdrs, body


class _Request:
    """What StubNova's handlers read of a request."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes,
                 match_info: dict[str, str]) -> None:
        parts = urlsplit(target)
        self.method = method
        self.path = parts.path
        self.query = dict(parse_qsl(parts.query))
        self.headers = _Headers(headers)
        self.match_info = match_info
        self._body = body

    async def json(self) -> Any:
        return json.loads(self._body or b"null")


class _Headers(dict):  # type: ignore[type-arg]
    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


_SERVER = re.compile(r"^/compute/v2\.1/servers/([^/]+)$")


class RawStubNova(StubNova):
    """StubNova's state and handlers; answers built as raw bytes."""

    _json = staticmethod(_answer)

    def route(self, method: str, path: str
              ) -> tuple[Callable[[Any], Awaitable[Answer]] | None, dict[str, str]]:
        path = path.rstrip("/") or "/"
        table = {("GET", "/compute/v2.1"): self.version,
                 ("POST", "/compute/v2.1/servers"): self.create,
                 ("GET", "/compute/v2.1/servers/detail"): self.list_detail,
                 ("GET", "/compute/v2.1/flavors/detail"): self.flavors,
                 ("GET", "/image"): self.image_versions,
                 ("GET", "/network"): self.network_versions,
                 ("POST", "/identity/v3/auth/tokens"): self.token,
                 ("GET", "/_bench/ids"): self.ids,
                 ("GET", "/_bench/list_times"): self.get_list_times,
                 ("POST", "/_bench/hang"): self.set_hang}
        handler = table.get((method, path))
        if handler is not None:
            return handler, {}
        found = _SERVER.match(path)
        if method == "GET" and found:
            return self.show, {"id": found.group(1)}
        return None, {}


class _Connection(asyncio.Protocol):
    """One client connection: requests parsed as they come, answered in order."""

    def __init__(self, stub: RawStubNova) -> None:
        self.stub = stub
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.queue: asyncio.Queue[tuple[str, str, dict[str, str], bytes] | None] = \
            asyncio.Queue()
        self.worker = asyncio.get_running_loop().create_task(self._serve())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            lines = self.buf[:head_end].decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buf) < head_end + 4 + length:
                return
            body = self.buf[head_end + 4:head_end + 4 + length]
            self.buf = self.buf[head_end + 4 + length:]
            self.queue.put_nowait((method, target, headers, body))

    async def _serve(self) -> None:
        while True:
            item = await self.queue.get()
            if item is None or self.transport is None:
                return
            method, target, headers, body = item
            handler, match = self.stub.route(method, urlsplit(target).path)
            if handler is None:
                status, hdrs, payload = _answer(b'{"error": "not found"}', 404)
            else:
                status, hdrs, payload = await handler(
                    _Request(method, target, headers, body, match))
            reason = HTTPStatus(status).phrase
            head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(payload)}"]
            head += [f"{k}: {v}" for k, v in hdrs.items()]
            if not self.transport.is_closing():
                self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
                                     + payload)


async def serve(stub: RawStubNova) -> int:
    """Serve ``stub`` on 127.0.0.1:<ephemeral>; its port."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(stub), "127.0.0.1", 0,
                                      backlog=1024)
    return int(server.sockets[0].getsockname()[1])
