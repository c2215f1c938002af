"""The root middleware: request id, authentication, error rendering.

The request id comes first so every answer (errors included) carries it;
errors are rendered in the format of the service the path belongs to;
authentication runs once the route is known, so version documents (marked
with ``@public``) stay unauthenticated.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, TypeVar

from aiohttp import web
from oslo_config import cfg

from cascade.api.faults import fault_response, unauthorized_response
from cascade import errors
from cascade.appkeys import (AUTH, COHERENCE, CONF, CTX, POLICY, PUBLIC_URLS, REQUEST_ID,
                             SERVICE, URLS)
from cascade.context import RequestContext, new_request_id
from cascade.db import engine as db_engine
from cascade.regions import paths

__all__ = ["public", "api_middleware", "service_of_path", "stamp_streamed"]

LOG = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
F = TypeVar("F", bound=Callable[..., Any])

_PREFIXES = (("/compute", "compute"), ("/image", "image"), ("/networking", "network"),
             ("/v1", "admin"))


def public(handler: F) -> F:
    """Mark a handler as reachable without a token (version documents)."""
    setattr(handler, "cascade_public", True)
    return handler


def service_of_path(path: str) -> str:
    """Which API a path belongs to, for error formats and request id headers."""
    for prefix, service in _PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return "root"


def _valid_global_request_id(value: str | None) -> str | None:
    # Same rule as oslo.middleware: only ``req-<uuid>`` is trusted from callers.
    if value and value.startswith("req-") and len(value) == 40:
        return value
    return None


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, authentication and error rendering for every request.

    One middleware rather than three: this runs for every call Cascade serves.
    """
    app = request.app  # a root middleware: the root app, which holds AUTH and CONF
    request_id = new_request_id()
    request[REQUEST_ID] = request_id
    service = service_of_path(request.path)
    request[SERVICE] = service
    request[PUBLIC_URLS] = app[URLS]
    try:
        if not paths.request_path_ok(request.raw_path.partition("?")[0]):
            # Dot segments, encoded separators, empty segments: never routed
            # (see paths.request_path_ok); the answer the services give.
            raise web.HTTPNotFound(reason="The resource could not be found.")
        if request.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise errors.BadRequest("Request bodies with a Content-Encoding are not "
                                    "supported.")
        match_info = request.match_info
        if (getattr(getattr(match_info, "handler", None), "cascade_public", False)
                or match_info.http_exception):
            response = await handler(request)
        else:
            response = await _authenticated(request, handler, app, request_id)
    except web.HTTPException as exc:
        # aiohttp's own answers (404 unknown route, 405, 413) in the service's format.
        response = fault_response(service, exc.status, exc.reason or exc.text or "")
    except errors.RegionHTTPError as exc:
        LOG.info("%s region %s answered %s: %s", request_id, exc.region, exc.status,
                 exc.message)
        status = exc.status if exc.status < 500 else 503
        message = exc.message if exc.status < 500 else (
            f"Region {exc.region} failed: {exc.message}")
        response = fault_response(service, status, message)
    except errors.CascadeError as exc:
        if exc.status >= 500:
            LOG.warning("%s %s: %s", request_id, type(exc).__name__, exc.message)
        status, message, neutron_type = exc.fault(service)
        response = fault_response(service, status, message, neutron_type=neutron_type)
    except Exception as exc:
        if db_engine.unavailable(exc):
            # PostgreSQL restarting or away: a clear, fast 503, no traceback.
            LOG.warning("%s database unavailable on %s %s: %s", request_id, request.method,
                        request.path, exc)
            response = fault_response(service, 503, "The database is unavailable; try "
                                                    "again shortly.")
        elif db_engine.conflicted(exc):
            # Another request changed or removed the same record meanwhile.
            LOG.warning("%s concurrent change on %s %s: %s", request_id, request.method,
                        request.path, exc)
            response = fault_response(service, 409, "The resource was changed by another "
                                                    "request meanwhile; try again.")
        else:
            LOG.exception("%s unexpected error on %s %s", request_id, request.method,
                          request.path)
            response = fault_response(service, 500, "An unexpected error prevented the "
                                                    "server from fulfilling your request.")
    if not response.prepared:
        headers = response.headers
        headers["x-openstack-request-id"] = request_id
        if service == "compute":
            headers["x-compute-request-id"] = request_id
    return response


def _www_authenticate_uri(conf: cfg.ConfigOpts) -> str:
    """Where clients get tokens: keystonemiddleware's setting, else Cascade's own."""
    try:
        uri = conf.keystone_authtoken.www_authenticate_uri
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
        uri = None
    return str(uri or conf.service_credentials.auth_url)


async def _authenticated(request: web.Request, handler: Handler, app: web.Application,
                         request_id: str) -> web.StreamResponse:
    """The handler's answer for a caller with a valid token; 401 for anyone else."""
    token = request.headers.get("X-Auth-Token")
    identity = await app[AUTH].authenticate(token) if token else None
    if identity is None:
        return unauthorized_response(_www_authenticate_uri(app[CONF]))
    if not identity.project_id:
        # An unscoped (or system-scoped) token has no project to own, see or
        # count anything in: it must never share one empty "project" with others.
        raise errors.Forbidden("A project-scoped token is required.")
    request[CTX] = RequestContext(
        request_id=request_id, project_id=identity.project_id,
        user_id=identity.user_id, roles=identity.roles, auth_token=token,
        project_name=identity.project_name, user_name=identity.user_name,
        global_request_id=_valid_global_request_id(
            request.headers.get("X-OpenStack-Request-ID")), policy=app.get(POLICY))
    coherence = app.get(COHERENCE)
    if coherence is not None:
        # What any process committed before this request is seen by it.
        await coherence.barrier()
    return await handler(request)


async def stamp_streamed(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: a response a handler streams itself (image data)
    is sent before ``api_middleware`` sees it, so its request id goes on here."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None and "x-openstack-request-id" not in response.headers:
        response.headers["x-openstack-request-id"] = request_id
        if request.get(SERVICE) == "compute":
            response.headers["x-compute-request-id"] = request_id
