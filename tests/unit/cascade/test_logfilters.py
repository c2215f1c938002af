"""A malformed HTTP request (anyone can send one) is one INFO line, not an ERROR
with a traceback: a real aiohttp server, raw bytes on a socket."""
from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cascade import logfilters

MALFORMED = [
    b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n",
    b"GET /x HTTP/1.1\r\nBad Header\x01: v\r\n\r\n",
    b"GET /x HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
    b"GET /x HTTP/9.9\r\n\r\n",
    b"POST /x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
]


async def test_malformed_requests_log_one_info_line_each(
        caplog: pytest.LogCaptureFixture) -> None:
    logfilters.install()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await request.read())))

    app = web.Application()
    app.router.add_route("*", "/x", handler)
    server = TestServer(app)
    await server.start_server()
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    try:
        for raw in MALFORMED:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            writer.write(raw)
            await writer.drain()
            assert (await asyncio.wait_for(reader.read(12), 5)).startswith(b"HTTP/1.")
            writer.close()
        await asyncio.sleep(0.1)
    finally:
        await server.close()
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert records and all(r.levelno == logging.INFO for r in records), [
        (r.levelname, r.getMessage()) for r in records]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records)
