"""Nova's version documents at Cascade's URLs (unauthenticated, as in Nova)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cascade.jsonutil import json_response

from cascade.api.compute.microversion import supported_range
from cascade.api.middleware import public
from cascade.api.urls import public_base
from cascade.appkeys import REGIONS

__all__ = ["versions", "version_v2", "version_v21"]

_UPDATED = "2013-07-23T11:33:21Z"
#: What Nova's v2.0 entry says (the legacy API, kept listed as deprecated).
_V2_UPDATED = "2025-07-04T12:00:00Z"


def _v2(request: web.Request) -> dict[str, Any]:
    return {
        "id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
        "updated": _V2_UPDATED,
        "links": [{"rel": "self", "href": public_base(request) + "/compute/v2/"}],
    }


def _v21(request: web.Request) -> dict[str, Any]:
    low, high = supported_range(request.config_dict[REGIONS])
    return {
        "id": "v2.1", "status": "CURRENT", "version": high, "min_version": low,
        "updated": _UPDATED,
        "links": [{"rel": "self", "href": public_base(request) + "/compute/v2.1/"}],
    }


@public
async def versions(request: web.Request) -> web.Response:
    """GET /compute/: the list of API versions, v2.0 (deprecated) first, as Nova lists
    them. Only v2.1 is served beyond its version document."""
    return json_response({"versions": [_v2(request), _v21(request)]})


@public
async def version_v2(request: web.Request) -> web.Response:
    """GET /compute/v2/: the deprecated v2.0 version document."""
    doc = _v2(request)
    doc["links"].append({"rel": "describedby", "type": "text/html",
                         "href": "http://docs.openstack.org/"})
    doc["media-types"] = [{"base": "application/json",
                           "type": "application/vnd.openstack.compute+json;version=2"}]
    return json_response({"version": doc})


@public
async def version_v21(request: web.Request) -> web.Response:
    """GET /compute/v2.1/: the v2.1 version document with its microversion range."""
    doc = _v21(request)
    doc["links"].append({"rel": "describedby", "type": "text/html",
                         "href": "https://docs.openstack.org/"})
    doc["media-types"] = [{"base": "application/json",
                           "type": "application/vnd.openstack.compute+json;version=2.1"}]
    return json_response({"version": doc})
