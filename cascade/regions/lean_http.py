"""Bodiless HTTP/1.1 requests (GET) to the regions on kept-alive connections.

A list across many regions sends one GET to each at once, all from one event
loop, so the cost of *sending* each one adds up before the last region is even
asked: with aiohttp's request set-up (about 0.09 ms a request here) the
hundredth region was asked 9 ms after the first (docs/benchmarks.md, "where
the list's time goes"). This client keeps idle connections per endpoint and
sends a request as one write of bytes built in one pass; it reads the status
line, the headers and a ``Content-Length``, chunked or read-to-close body,
and nothing else: no redirects, cookies, proxies, compression or request
bodies. Everything else goes through aiohttp (``RegionClient``).

Errors are the ones aiohttp raises for the same failures (``ClientConnectorError``
when no connection could be made, ``ServerDisconnectedError`` when the region
closed it without an answer, ``ClientPayloadError`` for an answer that cannot be
read), so the caller maps both clients' failures the same way. A kept-alive
connection the region closed while idle is retried once on a new connection.
"""
from __future__ import annotations

import asyncio
import collections
import ssl as ssl_module
from typing import Any, Mapping

import aiohttp
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

__all__ = ["LeanHTTP", "LeanResponse"]

_MAX_HEAD = 64 * 1024
_USER_AGENT = "cascade"


class LeanResponse:
    """What ``RegionClient`` reads of an answer: status, reason, headers, body."""

    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, reason: str, headers: CIMultiDictProxy[str],
                 body: bytes) -> None:
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


class _Parsed:
    __slots__ = ("status", "reason", "headers", "keep_alive", "length", "chunked")

    def __init__(self, status: int, reason: str, headers: CIMultiDict[str], keep_alive: bool,
                 length: int | None, chunked: bool) -> None:
        self.status, self.reason, self.headers = status, reason, headers
        self.keep_alive, self.length, self.chunked = keep_alive, length, chunked


def _head(raw: bytes, method: str) -> _Parsed:
    """Status line and headers; how the body is delimited.

    :raises ValueError: not an HTTP/1.x answer we can read.
    """
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ValueError(f"bad status line {lines[0][:80]!r}")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"bad header line {line[:80]!r}")
        headers.add(name, value.strip())
    status = int(code)
    connection = headers.get("Connection", "").lower()
    keep_alive = ("close" not in connection if version == "HTTP/1.1"
                  else "keep-alive" in connection)
    chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
    length: int | None = None
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        length, chunked = 0, False
    elif not chunked:
        declared = headers.get("Content-Length")
        if declared is not None:
            if not declared.isdigit():
                raise ValueError(f"bad Content-Length {declared[:40]!r}")
            length = int(declared)
        else:
            keep_alive = False  # the body ends when the region closes
    return _Parsed(status, reason, headers, keep_alive, length, chunked)


class _Connection(asyncio.Protocol):
    """One connection: one request at a time, its answer parsed as bytes arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.answered_any = False  # bytes of an answer seen on this connection
        self.idle_since = 0.0  # loop time it was parked in the pool
        self._buf = bytearray()
        self._method = "GET"
        self._parsed: _Parsed | None = None
        self._body = bytearray()
        self._waiter: asyncio.Future[tuple[_Parsed, bytes]] | None = None

    # -- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # an answer nobody asked for: the connection cannot be trusted
            return
        self.answered_any = True
        self._buf += data
        try:
            self._advance()
        except ValueError as exc:
            self._fail(aiohttp.ClientPayloadError(str(exc)))

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        parsed = self._parsed
        if parsed is not None and parsed.length is None and not parsed.chunked:
            self._body += self._buf
            parsed.keep_alive = False
            waiter.set_result((parsed, bytes(self._body)))
        elif not self.answered_any:
            waiter.set_exception(aiohttp.ServerDisconnectedError())
        else:
            waiter.set_exception(aiohttp.ClientPayloadError(
                f"connection closed mid-answer: {exc or 'by the region'}"))

    # -- one exchange ------------------------------------------------------------

    def send(self, method: str, request: bytes) -> asyncio.Future[tuple[_Parsed, bytes]]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._method, self._parsed = method, None
        self._buf.clear()
        self._body.clear()
        self.answered_any = False
        self.transport.write(request)
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.close()

    def _advance(self) -> None:
        buf = self._buf
        while self._parsed is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise ValueError("answer headers too large")
                return
            parsed = _head(bytes(buf[:end]), self._method)
            del buf[:end + 4]
            if 100 <= parsed.status < 200:
                continue  # an interim answer: the real one follows
            self._parsed = parsed
        parsed = self._parsed
        if parsed.chunked:
            self._advance_chunks()
        elif parsed.length is not None and len(buf) >= parsed.length:
            body = bytes(buf[:parsed.length])
            if len(buf) > parsed.length:
                parsed.keep_alive = False  # bytes past the answer: do not reuse
            self._done(parsed, body)

    def _advance_chunks(self) -> None:
        buf = self._buf
        while True:
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                return
            size_text = bytes(buf[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ValueError(f"bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                trailer_end = buf.find(b"\r\n", line_end + 2)
                while trailer_end >= 0 and trailer_end != line_end + 2:
                    # trailers: skip header lines until the empty one
                    line_end = trailer_end
                    trailer_end = buf.find(b"\r\n", line_end + 2)
                if trailer_end < 0:
                    return
                assert self._parsed is not None
                self._done(self._parsed, bytes(self._body))
                return
            if len(buf) < line_end + 2 + size + 2:
                return
            start = line_end + 2
            self._body += buf[start:start + size]
            del buf[:start + size + 2]

    def _done(self, parsed: _Parsed, body: bytes) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((parsed, body))


class LeanHTTP:
    """Kept-alive connections per endpoint: at most ``limit_per_host`` in use at once
    to one endpoint and ``limit`` to all (as aiohttp's connector bounds them), so
    many lists at once across many regions wait rather than run out of sockets."""

    def __init__(self, *, limit: int = 200, limit_per_host: int = 50,
                 connect_timeout: float = 10.0, keepalive_timeout: float = 15.0,
                 idle_per_host: int = 16,
                 ssl: ssl_module.SSLContext | None = None) -> None:
        self._keepalive = keepalive_timeout
        self._idle_cap = idle_per_host
        self._idle: dict[tuple[str, str, int], collections.deque[_Connection]] = {}
        self._slots: dict[tuple[str, str, int], asyncio.Semaphore] = {}
        self._all = asyncio.Semaphore(limit)
        self._sweeper: asyncio.TimerHandle | None = None
        self._limit = limit_per_host
        self._connect_timeout = connect_timeout
        self._ssl = ssl
        self._closed = False

    async def request(self, method: str, url: URL,
                      headers: Mapping[str, str]) -> LeanResponse:
        """Send a body-less request and read the whole answer.

        :raises ValueError: a header carries a line break, or the URL is not http(s).
        :raises aiohttp.ClientError: as aiohttp would for the same failure.
        """
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise ValueError(f"cannot send to {url}")
        request = _request_bytes(method, url, headers)
        key = (url.scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = asyncio.Semaphore(self._limit)
        async with self._all, slots:
            for attempt in (1, 2):
                conn, reused = await self._acquire(key)
                try:
                    parsed, body = await conn.send(method, request)
                except aiohttp.ServerDisconnectedError:
                    conn.close()
                    if reused and attempt == 1:
                        continue  # closed by the region while it sat idle: once more
                    raise
                except BaseException:
                    conn.close()  # cancelled or broken mid-answer: state unknown
                    raise
                self._release(key, conn, parsed.keep_alive)
                return LeanResponse(parsed.status, parsed.reason,
                                    CIMultiDictProxy(parsed.headers), body)
        raise AssertionError("unreachable")  # pragma: no cover

    def _release(self, key: tuple[str, str, int], conn: _Connection, keep: bool) -> None:
        """Keep the connection for the next request (for ``keepalive_timeout``,
        ``idle_per_host`` at most per endpoint), or close it.

        NOTE: no timer per connection: one sweep for the whole pool closes what
        stayed idle too long (``_sweep``), and ``_acquire`` never hands such a
        one out. A list parks a connection per region every time.
        """
        idle = self._idle.get(key)
        if idle is None:
            idle = self._idle[key] = collections.deque()
        if not keep or conn.closed or self._closed or len(idle) >= self._idle_cap:
            conn.close()
            return
        loop = asyncio.get_running_loop()
        conn.idle_since = loop.time()
        idle.append(conn)
        if self._sweeper is None:
            self._sweeper = loop.call_at(conn.idle_since + self._keepalive, self._sweep)

    def _sweep(self) -> None:
        """Close the connections idle for ``keepalive_timeout``; come back when the
        oldest of the others will be."""
        self._sweeper = None
        loop = asyncio.get_running_loop()
        cutoff = loop.time() - self._keepalive
        oldest: float | None = None
        for idle in self._idle.values():
            while idle and (idle[0].closed or idle[0].idle_since <= cutoff):
                idle.popleft().close()  # the oldest are on the left
            if idle and (oldest is None or idle[0].idle_since < oldest):
                oldest = idle[0].idle_since
        if oldest is not None and not self._closed:
            self._sweeper = loop.call_at(oldest + self._keepalive, self._sweep)

    async def _acquire(self, key: tuple[str, str, int]) -> tuple[_Connection, bool]:
        idle = self._idle.get(key)
        if idle:
            cutoff = asyncio.get_running_loop().time() - self._keepalive
            while idle:
                conn = idle.pop()  # the most recently parked first
                if conn.closed:
                    continue
                if conn.idle_since <= cutoff:  # this one and all older: too long idle
                    conn.close()
                    while idle:
                        idle.pop().close()
                    break
                return conn, True
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        context = None
        if scheme == "https":
            context = self._ssl or ssl_module.create_default_context()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await loop.create_connection(_Connection, host, port, ssl=context)
        except (OSError, asyncio.TimeoutError) as exc:
            raise aiohttp.ClientConnectorError(
                _connection_key(host, port, context),
                OSError(getattr(exc, "errno", None), str(exc) or type(exc).__name__)
            ) from exc
        return conn, False

    def close(self) -> None:
        """Close every idle connection; later answers are not kept."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self._idle.values():
            while idle:
                idle.pop().close()


def _connection_key(host: str, port: int, context: ssl_module.SSLContext | None) -> Any:
    """aiohttp's key for a connection, for its ``ClientConnectorError`` (the fields
    past host, port, TLS and its context are proxy details: none here)."""
    fields = ConnectionKey._fields
    return ConnectionKey(host, port, context is not None, context or True,
                         *([None] * (len(fields) - 4)))


def _request_bytes(method: str, url: URL, headers: Mapping[str, str]) -> bytes:
    """The request head, checked for line breaks in any header."""
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    if url.explicit_port:
        host = f"{host}:{url.port}"
    parts = [f"{method} {url.raw_path_qs or '/'} HTTP/1.1\r\nHost: {host}\r\n"
             f"User-Agent: {_USER_AGENT}\r\n"]
    for name, value in headers.items():
        parts.append(f"{name}: {value}\r\n")
    parts.append("\r\n")
    text = "".join(parts)
    bare = text.replace("\r\n", "")
    if text.count("\r\n") != len(headers) + 4 or "\n" in bare or "\r" in bare:
        raise ValueError("a header name or value carries a line break")
    return text.encode("latin-1")
