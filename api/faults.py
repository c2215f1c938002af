"""Error bodies in each service's own format.

Nova: ``{"itemNotFound": {"code": 404, "message": ...}}``; Neutron:
``{"NeutronError": {"type": ..., "message": ..., "detail": ""}}``; Glance: the
plain HTML page webob renders; 401 for every service is what keystonemiddleware
answers, ``{"error": {"code": 401, "title": "Unauthorized", ...}}``.
"""
from __future__ import annotations

import html
import json
from http import HTTPStatus

from aiohttp import web

__all__ = ["fault_response", "unauthorized_response"]

_NOVA_FAULT_NAMES = {
    400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
    405: "badMethod", 406: "notAcceptable", 409: "conflictingRequest", 413: "overLimit",
    415: "badMediaType", 429: "overLimit", 501: "notImplemented", 503: "serviceUnavailable",
}

_NEUTRON_TYPES = {
    400: "HTTPBadRequest", 401: "HTTPUnauthorized", 403: "HTTPForbidden", 404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed", 409: "HTTPConflict", 413: "HTTPRequestEntityTooLarge",
    415: "HTTPUnsupportedMediaType", 500: "HTTPInternalServerError",
    503: "HTTPServiceUnavailable",
}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body),
                        content_type="application/json", headers=headers)


def fault_response(service: str, status: int, message: str, *,
                   neutron_type: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """An error answer for ``service`` in that service's own format."""
    # A message may quote what the caller sent (a lone surrogate included):
    # it must still encode, or the error itself would become a bare 500.
    message = message.encode("utf-8", "replace").decode("utf-8")
    if service == "compute":
        name = _NOVA_FAULT_NAMES.get(status, "computeFault")
        return _json(status, {name: {"code": status, "message": message}}, headers)
    if service == "network":
        kind = neutron_type or _NEUTRON_TYPES.get(status, "HTTPError")
        return _json(status, {"NeutronError": {"type": kind, "message": message,
                                               "detail": ""}}, headers)
    if service == "image":
        title = f"{status} {_reason(status)}"
        page = (f"<html>\n <head>\n  <title>{title}</title>\n </head>\n <body>\n"
                f"  <h1>{title}</h1>\n  {html.escape(message)}<br /><br />\n\n\n\n"
                f" </body>\n</html>")
        return web.Response(status=status, text=page, content_type="text/html",
                            headers=headers)
    return _json(status, {"error": {"code": status, "title": _reason(status),
                                    "message": message}}, headers)


def unauthorized_response(auth_url: str) -> web.Response:
    """What keystonemiddleware answers every service's unauthenticated caller."""
    return _json(401, {"error": {"code": 401, "title": "Unauthorized",
                                 "message": "The request you have made requires "
                                            "authentication."}},
                 headers={"WWW-Authenticate": f"Keystone uri=\"{auth_url}\""})
