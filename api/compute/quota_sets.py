"""/os-quota-sets: the global limits Cascade keeps per project, in Nova's shapes.

What Nova shows depends on the microversion: 2.36 dropped the limits that
proxied the network service (``fixed_ips``, ``floating_ips``,
``security_groups``, ``security_group_rules``), 2.57 the personality-file ones;
an update naming a field the microversion does not show is a 400, as in Nova.
Quotas are per project: ``?user_id=`` is accepted on reads (the project's
quotas answer), and refused on writes, since Cascade keeps no per-user quotas.
"""
from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from cascade.api.body import json_body
from cascade.api.compute.microversion import MICROVERSION, parse
from cascade import errors
from cascade.appkeys import CTX, QUOTAS
from cascade.context import RequestContext
from cascade.jsonutil import json_response
from cascade.quota import resources as catalogue
from cascade.quota.resources import checked_project_id

__all__ = ["show_quota_set", "show_quota_set_detail", "show_quota_set_defaults",
           "update_quota_set", "delete_quota_set", "shown_resources", "parse_limit"]

#: Nova's schema for a limit: an integer (or its decimal string) from -1 up.
_INT_RE = re.compile(r"^-?[0-9]+$")
_MAX_LIMIT = 0x7FFFFFFF
_TRUE = ("1", "t", "true", "on", "y", "yes")
_FALSE = ("0", "f", "false", "off", "n", "no")


def shown_resources(request: web.Request) -> list[str]:
    """Names of the compute limits Nova shows at the request's microversion."""
    version = parse(request[MICROVERSION])
    return [r.name for r in catalogue.of_service(catalogue.COMPUTE) if r.shown_at(version)]


def _project(request: web.Request) -> str:
    """The project id of the path: Keystone's ids are at most 64 characters.

    :raises BadRequest: longer, or not one path segment.
    """
    return checked_project_id(request.match_info["project_id"])


def _authorize(ctx: RequestContext, project_id: str | None, action: str) -> None:
    """By policy (``os_compute_api:os-quota-sets:<action>``): by default admins do
    anything, a project's readers read its quotas.

    :raises PolicyForbidden: refused.
    """
    ctx.can(f"os_compute_api:os-quota-sets:{action}",
            {"project_id": project_id if project_id is not None else ""})


def parse_limit(name: str, value: Any) -> int:
    """A limit from a request body.

    :raises BadRequest: not an integer, below -1 or above Nova's maximum.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (
            isinstance(value, str) and not _INT_RE.match(value)):
        raise errors.BadRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                                f"{value!r} is not of type 'integer', 'string'")
    limit = int(value)
    if limit < -1 or limit > _MAX_LIMIT:
        raise errors.BadRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                                f"{limit} is not between -1 and {_MAX_LIMIT}")
    return limit


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise errors.BadRequest(f"Invalid input for field/attribute force. Value: {value}. "
                            f"{value!r} is not of type 'boolean', 'string'")


def _parse_update(body: Any, allowed: list[str]) -> tuple[dict[str, int], bool]:
    """(limits, force) from ``{"quota_set": {...}}``. :raises BadRequest:"""
    if not isinstance(body, dict) or not isinstance(body.get("quota_set"), dict):
        raise errors.BadRequest("Invalid input for field/attribute quota_set. "
                                "'quota_set' is a required property")
    extra = sorted(set(body) - {"quota_set"})
    if extra:
        raise errors.BadRequest("Additional properties are not allowed "
                                f"({', '.join(repr(e) for e in extra)} was unexpected)")
    values = dict(body["quota_set"])
    force = _bool(values.pop("force", False))
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise errors.BadRequest("Invalid input for field/attribute quota_set. Additional "
                                "properties are not allowed "
                                f"({', '.join(repr(u) for u in unknown)} was unexpected)")
    return {k: parse_limit(k, v) for k, v in values.items()}, force


def _per_project_only(request: web.Request) -> None:
    if request.query.get("user_id"):
        raise errors.BadRequest("Cascade keeps quotas per project; per-user quotas are "
                                "not supported.")


async def show_quota_set(request: web.Request) -> web.Response:
    """GET /os-quota-sets/{project_id}: the project's limits."""
    project_id = _project(request)
    _authorize(request[CTX], project_id, "show")
    limits = await request.config_dict[QUOTAS].limits(project_id)
    return json_response({"quota_set": {
        "id": project_id, **{n: limits[n] for n in shown_resources(request)}}})


async def show_quota_set_detail(request: web.Request) -> web.Response:
    """GET /os-quota-sets/{project_id}/detail: limits with in_use and reserved."""
    project_id = _project(request)
    _authorize(request[CTX], project_id, "detail")
    details = await request.config_dict[QUOTAS].details(project_id)
    return json_response({"quota_set": {"id": project_id, **{
        n: {"limit": details[n].limit, "in_use": details[n].in_use,
            "reserved": details[n].reserved} for n in shown_resources(request)}}})


async def show_quota_set_defaults(request: web.Request) -> web.Response:
    """GET /os-quota-sets/{project_id}/defaults: the defaults (anyone may look)."""
    defaults = request.config_dict[QUOTAS].defaults
    return json_response({"quota_set": {
        "id": _project(request),
        **{n: defaults[n] for n in shown_resources(request)}}})


async def update_quota_set(request: web.Request) -> web.Response:
    """PUT /os-quota-sets/{project_id} (admin): set limits; without ``force`` a
    limit below what is in use and reserved is refused. Answers every limit, no id."""
    project_id = _project(request)
    _authorize(request[CTX], None, "update")
    _per_project_only(request)
    shown = shown_resources(request)
    values, force = _parse_update(await json_body(request), shown)
    limits = await request.config_dict[QUOTAS].update(project_id, values,
                                                      check_usage=not force)
    return json_response({"quota_set": {n: limits[n] for n in shown}})


async def delete_quota_set(request: web.Request) -> web.Response:
    """DELETE /os-quota-sets/{project_id} (admin): back to the defaults; 202 as Nova."""
    project_id = _project(request)
    _authorize(request[CTX], None, "delete")
    _per_project_only(request)
    compute = [r.name for r in catalogue.of_service(catalogue.COMPUTE)]
    await request.config_dict[QUOTAS].reset(project_id, compute)
    return web.Response(status=202)
