"""Glance's metadata definitions (``/v2/metadefs/...``, ``/v2/schemas/metadefs/...``)
from the catalog's home region (``cascade/images/metadefs.py``), and the tasks API.

Tasks: Glance's task API (admins only, ``tasks_api_access``) would have a
region import images behind Cascade's back, so Cascade runs none: the list is
empty, a task is never found, and a create is refused with a pointer to the
image import API (``/v2/images/{id}/import``), which Cascade serves.
"""
from __future__ import annotations

from aiohttp import web

from cascade import errors
from cascade.api.body import json_body
from cascade.api.image.keys import METADEFS
from cascade.appkeys import CTX
from cascade.jsonutil import json_response

__all__ = ["metadefs", "schemas", "list_tasks", "show_task", "create_task"]


async def _forward(request: web.Request, root: str) -> web.Response:
    tail = request.match_info.get("tail", "")
    segments = [s for s in tail.split("/")] if tail else []
    body = None
    if request.method in ("POST", "PUT") and request.can_read_body:
        body = await json_body(request)
    resp = await request.app[METADEFS].call(request[CTX], request.method, root, segments,
                                            params=list(request.query.items()) or None,
                                            body=body)
    if resp.body is None or resp.status == 204:
        return web.Response(status=resp.status)
    return json_response(resp.body, status=resp.status)


async def metadefs(request: web.Request) -> web.Response:
    """Any method on /v2/metadefs/...: forwarded to the catalog's home region."""
    return await _forward(request, "metadefs")


async def schemas(request: web.Request) -> web.Response:
    """GET /v2/schemas/metadefs/... and /v2/schemas/task(s)."""
    name = request.match_info["name"]
    root = "schemas/metadefs" if name == "metadefs" else f"schemas/{name}"
    return await _forward(request, root)


def _tasks_allowed(request: web.Request) -> None:
    if not request[CTX].can("tasks_api_access", fatal=False):
        raise errors.Forbidden("You are not authorized to complete tasks_api_access "
                               "action.")


async def list_tasks(request: web.Request) -> web.Response:
    """GET /v2/tasks: none (admins); 403 for others, as Glance."""
    _tasks_allowed(request)
    return json_response({"tasks": [], "first": "/v2/tasks", "schema": "/v2/schemas/tasks"})


async def show_task(request: web.Request) -> web.Response:
    """GET /v2/tasks/{task_id}: never found."""
    _tasks_allowed(request)
    raise errors.NotFound(f"Task with the given ID {request.match_info['task_id']} was "
                          "not found")


async def create_task(request: web.Request) -> web.Response:
    """POST /v2/tasks: refused; images are imported with /v2/images/{id}/import."""
    _tasks_allowed(request)
    await json_body(request)
    raise errors.BadRequest("Cascade runs no Glance tasks: create the image, then use "
                            "the image import API (/v2/images/{image_id}/import).")
