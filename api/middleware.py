"""Root middlewares: request id, error rendering, body size, authentication.

Order matters: the request id comes first so every answer (errors included)
carries it; errors are rendered in the format of the service the path belongs
to; authentication runs last, after the route is known, so version documents
(marked with ``@public``) stay unauthenticated.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, TypeVar

from aiohttp import web
from oslo_config import cfg

from api.faults import fault_response, unauthorized_response
from cascade import errors
from cascade.appkeys import AUTH, CONF, CTX, REQUEST_ID, SERVICE
from cascade.context import RequestContext, new_request_id

__all__ = ["public", "request_id_middleware", "errors_middleware", "auth_middleware",
           "service_of_path"]

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
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = new_request_id()
    request[REQUEST_ID] = request_id
    service = service_of_path(request.path)
    request[SERVICE] = service
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        # aiohttp's own answers (404 unknown route, 405, 413) in the service's format.
        response = fault_response(service, exc.status, exc.reason or exc.text or "")
    if not response.prepared:
        response.headers["x-openstack-request-id"] = request_id
        if service == "compute":
            response.headers["x-compute-request-id"] = request_id
    return response


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    service = request.get(SERVICE, "root")
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except errors.RegionHTTPError as exc:
        LOG.info("%s region %s answered %s: %s", request[REQUEST_ID], exc.region,
                 exc.status, exc.message)
        status = exc.status if exc.status < 500 else 503
        message = exc.message if exc.status < 500 else (
            f"Region {exc.region} failed: {exc.message}")
        return fault_response(service, status, message)
    except errors.CascadeError as exc:
        if exc.status >= 500:
            LOG.warning("%s %s: %s", request[REQUEST_ID], type(exc).__name__, exc.message)
        status, message, neutron_type = exc.fault(service)
        return fault_response(service, status, message, neutron_type=neutron_type)
    except Exception:
        LOG.exception("%s unexpected error on %s %s", request[REQUEST_ID], request.method,
                      request.path)
        return fault_response(service, 500, "An unexpected error prevented the server "
                                            "from fulfilling your request.")


def _www_authenticate_uri(conf: cfg.ConfigOpts) -> str:
    """Where clients get tokens: keystonemiddleware's setting, else Cascade's own."""
    try:
        uri = conf.keystone_authtoken.www_authenticate_uri
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
        uri = None
    return str(uri or conf.service_credentials.auth_url)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route_handler = getattr(request.match_info, "handler", None)
    if getattr(route_handler, "cascade_public", False) or request.match_info.http_exception:
        return await handler(request)
    # A root middleware: the request's app is the root one, which holds AUTH and CONF
    # (no ChainMapProxy over every sub-app per request).
    app = request.app
    token = request.headers.get("X-Auth-Token")
    identity = await app[AUTH].authenticate(token) if token else None
    if identity is None:
        return unauthorized_response(_www_authenticate_uri(app[CONF]))
    request[CTX] = RequestContext(
        request_id=request[REQUEST_ID], project_id=identity.project_id,
        user_id=identity.user_id, roles=identity.roles, auth_token=token,
        project_name=identity.project_name, user_name=identity.user_name,
        global_request_id=_valid_global_request_id(
            request.headers.get("X-OpenStack-Request-ID")))
    return await handler(request)
