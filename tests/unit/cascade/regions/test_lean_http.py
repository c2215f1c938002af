"""The lean GET client against real HTTP servers (aiohttp's, and a bare asyncio one
for the answers aiohttp's server never gives): what it reads, what it keeps open,
and that it fails as aiohttp's client fails."""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from cascade.regions.lean_http import LeanHTTP


@pytest.fixture
async def server(aiohttp_server: Any) -> Any:
    peers: list[Any] = []

    async def plain(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport
                     else None)
        return web.json_response({"path": request.path_qs,
                                  "token": request.headers.get("X-Auth-Token")},
                                 headers={"X-Openstack-Request-Id": "req-1"})

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b'{"servers": [', b'1, 2', b', 3]}'):
            await resp.write(part)
        await resp.write_eof()
        return resp

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"itemNotFound": {"code": 404, "message": "no"}},
                                 status=404)

    app = web.Application()
    app.router.add_get("/plain", plain)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/empty", empty)
    app.router.add_get("/missing", missing)
    srv = await aiohttp_server(app)
    srv.peers = peers
    return srv


@pytest.fixture
async def lean() -> AsyncIterator[LeanHTTP]:
    client = LeanHTTP(connect_timeout=2)
    yield client
    client.close()


async def test_reads_status_headers_and_body_and_sends_the_headers(server: Any,
                                                                   lean: LeanHTTP) -> None:
    resp = await lean.request("GET", server.make_url("/plain?a=1&b=%20x"),
                              {"X-Auth-Token": "tok"})
    assert resp.status == 200 and resp.reason == "OK"
    assert resp.headers["x-openstack-request-id"] == "req-1"
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.body == b'{"path": "/plain?a=1&b=%20x", "token": "tok"}'


async def test_chunked_and_bodiless_answers_and_errors_are_read(server: Any,
                                                                lean: LeanHTTP) -> None:
    assert (await lean.request("GET", server.make_url("/chunked"), {})).body == (
        b'{"servers": [1, 2, 3]}')
    empty = await lean.request("GET", server.make_url("/empty"), {})
    assert empty.status == 204 and empty.body == b""
    missing = await lean.request("GET", server.make_url("/missing"), {})
    assert missing.status == 404 and b"itemNotFound" in missing.body


async def test_one_connection_serves_requests_one_after_another(server: Any,
                                                                lean: LeanHTTP) -> None:
    for _ in range(5):
        await lean.request("GET", server.make_url("/plain"), {})
    assert len(set(server.peers)) == 1


async def test_concurrent_requests_get_a_connection_each(server: Any, lean: LeanHTTP) -> None:
    answers = await asyncio.gather(*(lean.request("GET", server.make_url("/plain"), {})
                                     for _ in range(8)))
    assert all(a.status == 200 for a in answers)
    assert len(set(server.peers)) == 8
    await lean.request("GET", server.make_url("/plain"), {})
    assert len(set(server.peers)) == 8  # kept and reused


async def test_a_connection_the_region_closed_while_idle_is_replaced(
        aiohttp_server: Any, lean: LeanHTTP) -> None:
    async def plain(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", plain)
    srv = await aiohttp_server(app, keepalive_timeout=0.05)
    assert (await lean.request("GET", srv.make_url("/"), {})).body == b"ok"
    await asyncio.sleep(0.3)  # the server closes the idle connection
    assert (await lean.request("GET", srv.make_url("/"), {})).body == b"ok"


async def _bare_server(answer: bytes) -> tuple[asyncio.AbstractServer, URL]:
    """A server that reads one request head and sends ``answer`` as it is, then closes."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    return srv, URL(f"http://127.0.0.1:{port}/x")


async def test_a_body_without_a_length_ends_when_the_region_closes(lean: LeanHTTP) -> None:
    srv, url = await _bare_server(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
    async with srv:
        resp = await lean.request("GET", url, {})
    assert resp.status == 200 and resp.body == b"all of it"


async def test_failures_are_aiohttps_own(lean: LeanHTTP, unused_tcp_port: int) -> None:
    with pytest.raises(aiohttp.ClientConnectorError):
        await lean.request("GET", URL(f"http://127.0.0.1:{unused_tcp_port}/"), {})
    srv, url = await _bare_server(b"")
    async with srv:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await lean.request("GET", url, {})
    srv, url = await _bare_server(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
    async with srv:
        with pytest.raises(aiohttp.ClientPayloadError):
            await lean.request("GET", url, {})
    srv, url = await _bare_server(b"SMTP ready\r\n\r\n")
    async with srv:
        with pytest.raises(aiohttp.ClientPayloadError):
            await lean.request("GET", url, {})


async def test_a_header_with_a_line_break_is_never_sent(server: Any, lean: LeanHTTP) -> None:
    for value in ("a\r\nX-Injected: 1", "a\nb", "a\rb"):
        with pytest.raises(ValueError):
            await lean.request("GET", server.make_url("/plain"), {"X-Auth-Token": value})
    assert server.peers == []


async def test_a_cancelled_request_leaves_no_connection_to_reuse(lean: LeanHTTP) -> None:
    hits = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal hits
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            hits += 1
            if hits == 1:
                await asyncio.sleep(0.3)  # answers the first request late
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d" % (
                len(str(hits)), hits))
            await writer.drain()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = URL(f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/")
    async with srv:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await lean.request("GET", url, {})
        # The late answer to the first request is never taken for the second's.
        assert (await lean.request("GET", url, {})).body == b"2"


async def test_idle_connections_are_closed_after_the_keepalive_time(server: Any) -> None:
    lean = LeanHTTP(keepalive_timeout=0.1)
    try:
        await lean.request("GET", server.make_url("/plain"), {})
        assert len(server.runner.server.connections) == 1, "kept alive"
        await asyncio.sleep(0.3)
        # Closed with no further request from Cascade: the region sees it go.
        assert server.runner.server.connections == []
        await lean.request("GET", server.make_url("/plain"), {})
        assert len(set(server.peers)) == 2  # the first was closed, not reused
    finally:
        lean.close()


async def test_a_connection_idle_past_the_keepalive_time_is_never_reused(
        server: Any) -> None:
    lean = LeanHTTP(keepalive_timeout=0.2)
    try:
        url = server.make_url("/plain")
        await asyncio.gather(*(lean.request("GET", url, {}) for _ in range(3)))
        await asyncio.sleep(0.1)
        await lean.request("GET", url, {})  # reuses one of the three
        assert len(set(server.peers)) == 3
        await asyncio.sleep(0.15)  # two have been idle 0.25 s, one 0.15 s
        await asyncio.gather(*(lean.request("GET", url, {}) for _ in range(2)))
        # the one parked last is taken again, the two idle too long are not
        assert len(set(server.peers)) == 4
    finally:
        lean.close()


async def test_connections_in_use_are_bounded_in_all_and_idle_ones_per_endpoint(
        aiohttp_server: Any) -> None:
    in_flight = peak = 0
    peers: set[Any] = set()

    async def slow(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        peers.add(request.transport.get_extra_info("peername") if request.transport
                  else None)
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", slow)
    srv = await aiohttp_server(app)
    lean = LeanHTTP(limit=3, limit_per_host=10, idle_per_host=2)
    try:
        answers = await asyncio.gather(*(lean.request("GET", srv.make_url("/"), {})
                                         for _ in range(9)))
        assert [a.body for a in answers] == [b"ok"] * 9
        assert peak == 3
        for _ in range(3):  # two are kept between rounds: each round opens one more
            before = len(peers)
            await asyncio.gather(*(lean.request("GET", srv.make_url("/"), {})
                                   for _ in range(3)))
            assert len(peers) == before + 1
    finally:
        lean.close()
