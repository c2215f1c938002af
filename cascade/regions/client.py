"""One request path to every regional service.

``RegionClient.request`` finds the endpoint, adds the caller's token, the
request id and the microversion, applies the per-region deadline, retries only
idempotent calls that failed to connect, and raises typed errors. Everything
else is a one-line wrapper around it.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
import logging
from typing import Any, AsyncIterator, Mapping

import aiohttp
from yarl import URL
from oslo_config import cfg

from cascade import errors, jsonutil, metrics
from cascade.context import RequestContext
from cascade.db.models import HealthState
from cascade.regions import fanout, paths
from cascade.regions.lean_http import LeanHTTP, LeanResponse
from cascade.regions.registry import RegionRegistry
from cascade.regions.service_auth import ServiceAuth

__all__ = ["RegionClient", "RegionResponse", "IDEMPOTENT_METHODS", "error_message"]

LOG = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

_MICROVERSION_SERVICE = {"compute": "compute"}


@dataclasses.dataclass(frozen=True, slots=True)
class RegionResponse:
    region: str
    status: int
    headers: Mapping[str, str]
    body: Any
    request_id: str | None


def error_message(body: Any) -> str:
    """The human message in a regional error body, whatever the service's format."""
    if isinstance(body, dict) and len(body) == 1:
        inner = next(iter(body.values()))
        if isinstance(inner, dict) and "message" in inner:
            return str(inner["message"])
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    if isinstance(body, str):
        # Glance answers HTML/plain text: "404 Not Found\n\nNo image found with ID x"
        lines = [ln.strip() for ln in body.replace("<br />", "\n").splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith("<")]
        return lines[-1] if lines else body[:200]
    return ""


def _region_error(region: str, exc: BaseException) -> errors.RegionError:
    """A transport failure as Cascade's typed error (did the request reach the region?)."""
    if isinstance(exc, asyncio.TimeoutError):
        return errors.RegionTimeout(region, f"Region {region} did not answer in time")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return errors.RegionUnavailable(region, f"Region {region} unreachable: {exc}",
                                        request_sent=False)
    return errors.RegionUnavailable(region, f"Region {region} failed: {exc}")


def _answer(ctx: RequestContext | None, region: str, method: str, url: URL,
            resp: aiohttp.ClientResponse | LeanResponse, raw: bytes,
            decode: bool = True) -> RegionResponse:
    """A regional response, its body read: decoded (unless not ``decode``), logged,
    4xx/5xx raised (error bodies are always decoded)."""
    headers = resp.headers
    status = resp.status
    rid = headers.get("x-openstack-request-id") or headers.get("x-compute-request-id")
    # Writes and errors at INFO, successful reads at DEBUG (as keystoneauth logs
    # the calls an OpenStack service makes): a list across 100 regions would
    # otherwise write 100 lines, each costing more than the request's own send.
    level = logging.DEBUG if method == "GET" and status < 400 else logging.INFO
    if LOG.isEnabledFor(level):
        LOG.log(level, "%s region=%s %s %s -> %s regional_request_id=%s",
                ctx.request_id if ctx else "-", region, method, url, status, rid)
    body: Any = None
    if not decode and status < 400:
        body = raw
    elif raw:
        if "json" in headers.get("Content-Type", ""):
            try:
                body = jsonutil.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        else:
            body = raw.decode("utf-8", "replace")
    if status >= 400:
        raise errors.RegionHTTPError(region, status, body,
                                     error_message(body) or resp.reason or "",
                                     request_id=rid)
    return RegionResponse(region, status, headers, body, rid)


def _headers(ctx: RequestContext | None, service: str, token: str | None,
             microversion: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    """A regional call's headers: the caller's token and request id with Cascade's
    service ``token``, or (no caller) Cascade's own ``token``; the microversion;
    then the caller's ``extra`` headers."""
    hdrs = {"Accept": "application/json"}
    if ctx is not None:
        if ctx.auth_token:
            hdrs["X-Auth-Token"] = ctx.auth_token
        hdrs["X-OpenStack-Request-ID"] = ctx.request_id
        if token is not None:
            hdrs["X-Service-Token"] = token
    elif token is not None:
        hdrs["X-Auth-Token"] = token
    if microversion and service in _MICROVERSION_SERVICE:
        hdrs["OpenStack-API-Version"] = f"{_MICROVERSION_SERVICE[service]} {microversion}"
    if extra:
        hdrs.update(extra)
    return hdrs


def _count_answered_error(region: str, service: str, started: float,
                          exc: errors.RegionHTTPError) -> None:
    """Metrics of a call the region answered with 4xx/5xx: its latency and class."""
    metrics.REGION_LATENCY.observe(time.perf_counter() - started,
                                   region=region, service=service)
    metrics.REGION_ERRORS.inc(region=region, service=service,
                              kind=f"{exc.status // 100}xx")


def _counted_failure(region: str, service: str, exc: BaseException) -> errors.RegionError:
    """A call that got no answer, counted in the metrics, as Cascade's typed error."""
    failure = _region_error(region, exc)
    metrics.REGION_ERRORS.inc(region=region, service=service, kind=(
        "timeout" if isinstance(failure, errors.RegionTimeout) else "unreachable"))
    return failure


def _checked(path: str) -> None:
    """``paths.check``, logged: a refusal here means a caller skipped validation."""
    try:
        paths.check(path)
    except paths.UnsafePath:
        LOG.warning("refused a regional path Cascade does not build: %r", path[:300])
        raise


class RegionClient:
    """Async HTTP client for every region's Nova, Glance and Neutron."""

    def __init__(self, conf: cfg.ConfigOpts, registry: RegionRegistry) -> None:
        self._registry = registry
        self._session: aiohttp.ClientSession | None = None
        self._service_auth: ServiceAuth | None = None
        self._session_deadline = False
        self._lean: LeanHTTP | None = None
        self._timeout = aiohttp.ClientTimeout(total=conf.api.region_timeout,
                                              sock_connect=conf.api.region_connect_timeout)

    def attach(self, session: aiohttp.ClientSession,
               service_auth: ServiceAuth | None, *, lean: LeanHTTP | None = None) -> None:
        """Give the client its HTTP session (created at start-up, inside the loop),
        and ``lean`` for plain GETs (``[api] region_lean_get``), its owner closes it."""
        self._session = session
        self._service_auth = service_auth
        self._lean = lean
        # The regions' deadline is normally the session default (see cascade.app), so
        # calls need not pass it; a session without it gets it per call.
        self._session_deadline = session.timeout == self._timeout

    def base_url(self, region: str, service: str) -> str:
        """The region's endpoint for ``service``.

        :raises RegionUnavailable: unknown region or no such endpoint.
        """
        info = self._registry.get(region)
        url = info.endpoint(service) if info else None
        if not url:
            raise errors.RegionUnavailable(region, f"Region {region} has no {service} endpoint",
                                           request_sent=False)
        return url.rstrip("/")

    async def request(self, ctx: RequestContext | None, region: str, service: str,
                      method: str, path: str, *, params: Any = None, json: Any = None,
                      headers: Mapping[str, str] | None = None,
                      microversion: str | None = None, allow_down: bool = False,
                      timeout: aiohttp.ClientTimeout | None = None,
                      decode: bool = True) -> RegionResponse:
        """Call ``service`` in ``region``; ``ctx`` None means as Cascade itself.

        ``params``: query pairs, or a query string already percent-encoded (as
        ``yarl.URL.build(query=...).raw_query_string`` gives), sent as it is.
        With ``decode`` false, a successful answer's body is the bytes as read.

        :raises UnsafePath: ``path`` is not one Cascade builds (``paths.check``).
        :raises RegionUnavailable: region down, unknown or not reachable.
        :raises RegionTimeout: no answer within the region deadline.
        :raises RegionHTTPError: the region answered 4xx/5xx.
        """
        _checked(path)
        # NOTE: this runs for every regional call (four per list, one per show), so
        # it stays one coroutine: its parts are plain functions (no helper
        # coroutines), no per-call timeout object unless the caller asks for one,
        # the endpoint looked up once.
        base = self._endpoint(region, service, allow_down)
        # encoded=True: the path is canonical already (checked above) and goes on
        # the wire exactly as built, with no requoting in between.
        if isinstance(params, str):  # encoded already: on the URL as it is
            url = URL(f"{base.rstrip('/')}{path}?{params}" if params
                      else base.rstrip("/") + path, encoded=True)
            params = None
        else:
            url = URL(base.rstrip("/") + path, encoded=True)
        token = None  # Cascade's: a service token beside the caller's, or its own auth
        if self._service_auth is not None and (ctx is None or ctx.with_service_token):
            token = await self._service_auth.token()
        hdrs = _headers(ctx, service, token, microversion, headers)
        if (self._lean is not None and method == "GET" and json is None
                and timeout is None and self._timeout.total):
            return await self._lean_get(ctx, region, service, url, hdrs, params, decode)
        kwargs = self._options(hdrs, service, method, params, json, timeout)
        session = self._session
        if session is None:
            raise errors.RegionUnavailable(region, "Cascade is not started", request_sent=False)
        # One retry, for idempotent calls whose connection failed: a stale pooled
        # connection closed by the region. (A plain loop: this is the hot path.)
        attempts = 2 if method.upper() in IDEMPOTENT_METHODS else 1
        started = time.perf_counter()
        try:
            for attempt in range(attempts):
                try:
                    async with session.request(method, url, **kwargs) as resp:
                        raw = await resp.read()
                        answer = _answer(ctx, region, method, url, resp, raw, decode)
                    metrics.REGION_LATENCY.observe(time.perf_counter() - started,
                                                   region=region, service=service)
                    return answer
                except aiohttp.ClientConnectionError as exc:
                    if attempt + 1 >= attempts or isinstance(exc, asyncio.TimeoutError):
                        raise
                    await asyncio.sleep(random.uniform(0.01, 0.05))
        except errors.RegionHTTPError as exc:
            _count_answered_error(region, service, started, exc)
            raise
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise _counted_failure(region, service, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _lean_get(self, ctx: RequestContext | None, region: str, service: str,
                        url: URL, hdrs: dict[str, str], params: Any,
                        decode: bool) -> RegionResponse:
        """A GET through the lean client (``cascade.regions.lean_http``): the same
        answer, errors and deadline as through aiohttp, with less set-up per call
        (a list asks every region at once, one send after another)."""
        assert self._lean is not None
        if params:
            url = url.extend_query(params)
        started = time.perf_counter()
        try:
            outer = fanout.DEADLINE.get()
            total = self._timeout.total
            assert total is not None  # the lean path is taken only with a deadline
            if (outer is not None and outer[0] is asyncio.current_task()
                    and outer[1] <= asyncio.get_running_loop().time() + total):
                resp = await self._lean.request("GET", url, hdrs)  # bounded by the fan-out
            else:
                async with asyncio.timeout(total):
                    resp = await self._lean.request("GET", url, hdrs)
            answer = _answer(ctx, region, "GET", url, resp, resp.body, decode)
        except errors.RegionHTTPError as exc:
            _count_answered_error(region, service, started, exc)
            raise
        except (asyncio.TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise _counted_failure(region, service, exc) from exc
        metrics.REGION_LATENCY.observe(time.perf_counter() - started,
                                       region=region, service=service)
        return answer

    def _endpoint(self, region: str, service: str, allow_down: bool) -> str:
        """``service``'s endpoint in ``region``, the registry read once.

        :raises RegionUnavailable: not registered, down (unless ``allow_down``),
            or without that endpoint.
        """
        info = self._registry.get(region)
        if info is None:
            raise errors.RegionUnavailable(region, f"Region {region} is not registered",
                                           request_sent=False)
        if info.health == HealthState.DOWN and not allow_down:
            raise errors.RegionUnavailable(region, f"Region {region} is down",
                                           request_sent=False)
        base = info.endpoint(service)
        if not base:
            raise errors.RegionUnavailable(region, f"Region {region} has no {service} endpoint",
                                           request_sent=False)
        return base

    def _options(self, hdrs: dict[str, str], service: str, method: str, params: Any,
                 json: Any, timeout: aiohttp.ClientTimeout | None) -> dict[str, Any]:
        """``session.request``'s keyword arguments: the headers (given their
        Content-Type here), the query, the body and the deadline if not the session's."""
        kwargs: dict[str, Any] = {"headers": hdrs}
        if params:
            kwargs["params"] = params
        if json is not None:
            kwargs["data"] = jsonutil.dumps(json)
            hdrs["Content-Type"] = "application/json"
        elif service == "compute" and method in ("PUT", "POST"):
            # Nova answers 415 to a body-less PUT (a server tag) without a JSON type.
            hdrs["Content-Type"] = "application/json"
        if timeout is not None and timeout is not self._timeout:
            kwargs["timeout"] = timeout
        elif not self._session_deadline:
            kwargs["timeout"] = self._timeout
        return kwargs

    @contextlib.asynccontextmanager
    async def open_stream(self, ctx: RequestContext | None, region: str, service: str,
                          method: str, path: str, *, data: Any = None,
                          headers: Mapping[str, str] | None = None
                          ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A streaming call (image data): the open response, its body not yet read.

        No total deadline applies (a large copy takes as long as it takes); a
        region that stops sending for ``region_timeout`` seconds fails it.

        :raises UnsafePath: ``path`` is not one Cascade builds (``paths.check``).
        :raises RegionUnavailable: down, unknown or unreachable.
        :raises RegionHTTPError: the region answered 4xx/5xx.
        """
        _checked(path)
        info = self._registry.get(region)
        if info is None or self._session is None:
            raise errors.RegionUnavailable(region, f"Region {region} is not available",
                                           request_sent=False)
        url = URL(self.base_url(region, service) + path, encoded=True)
        hdrs = {"X-Auth-Token": ctx.auth_token if ctx and ctx.auth_token
                else await self._service_auth.token() if self._service_auth else ""}
        if ctx is not None:
            hdrs["X-OpenStack-Request-ID"] = ctx.request_id
        hdrs.update(headers or {})
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout.sock_connect,
                                        sock_read=self._timeout.total)
        try:
            async with self._session.request(method, url, data=data, headers=hdrs,
                                             timeout=timeout) as resp:
                LOG.info("%s region=%s %s %s -> %s (streaming) regional_request_id=%s",
                         ctx.request_id if ctx else "-", region, method, url, resp.status,
                         resp.headers.get("x-openstack-request-id"))
                if resp.status >= 400:
                    raw = await resp.read()
                    body = raw.decode("utf-8", "replace")
                    raise errors.RegionHTTPError(region, resp.status, body,
                                                 error_message(body) or resp.reason or "")
                yield resp
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise _region_error(region, exc) from exc

    async def get(self, ctx: RequestContext | None, region: str, service: str, path: str,
                  **kw: Any) -> RegionResponse:
        return await self.request(ctx, region, service, "GET", path, **kw)

    async def post(self, ctx: RequestContext | None, region: str, service: str, path: str,
                   **kw: Any) -> RegionResponse:
        return await self.request(ctx, region, service, "POST", path, **kw)

    async def delete(self, ctx: RequestContext | None, region: str, service: str, path: str,
                     **kw: Any) -> RegionResponse:
        return await self.request(ctx, region, service, "DELETE", path, **kw)
