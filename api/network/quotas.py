"""/v2.0/quotas: the global network limits Cascade keeps per project, in Neutron's shapes.

Mounted by the network app (``routes()``, paths relative to it). Every path
also answers with the ``.json`` suffix older clients add. A project reads its
own quotas; reading another's, listing and changing them need the admin role.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cascade.api.body import json_body
from cascade.api.compute.quota_sets import parse_limit
from cascade import errors
from cascade.appkeys import CTX, QUOTAS
from cascade.context import RequestContext
from cascade.jsonutil import json_response
from cascade.quota import resources as catalogue
from cascade.quota.resources import checked_project_id

__all__ = ["routes", "NAMES"]

#: The network quota resources, as Neutron names them.
NAMES: tuple[str, ...] = tuple(r.name for r in catalogue.of_service(catalogue.NETWORK))
_TRUE = ("1", "t", "true", "on", "y", "yes")


def _project(request: web.Request) -> str:
    return checked_project_id(request.match_info["project_id"].removesuffix(".json"))


def _may_read(ctx: RequestContext, project_id: str) -> None:
    """:raises Forbidden: ``get_quota`` refused for ``project_id`` (Neutron's words)."""
    if not ctx.can("get_quota", {"project_id": project_id}, fatal=False):
        raise errors.Forbidden("Non-admin is not authorized to access quotas for another "
                               "project")


def _admin_only(ctx: RequestContext, rule: str) -> None:
    """:raises Forbidden: ``rule`` (``get_quota`` of all, ``update_quota``,
    ``delete_quota``) refused (Neutron's words)."""
    if not ctx.can(rule, {"project_id": ""}, fatal=False):
        raise errors.Forbidden("Only admin can view or configure quota")


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.pop(name, False)
    return value is True or (isinstance(value, str) and value.lower() in _TRUE)


def _parse_update(body: Any) -> tuple[dict[str, int], bool]:
    """(limits, check against usage) from ``{"quota": {...}}``. :raises BadRequest:"""
    if not isinstance(body, dict) or not isinstance(body.get("quota"), dict):
        raise errors.BadRequest("Resource body required")
    values = dict(body["quota"])
    # Neutron's quota-check-limit extension: check_limit refuses a limit below
    # the usage, force skips that check.
    check = _flag(values, "check_limit") and not _flag(values, "force")
    values.pop("force", None)
    unknown = sorted(set(values) - set(NAMES))
    if unknown:
        raise errors.BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    try:
        return {k: parse_limit(k, v) for k, v in values.items()}, check
    except errors.BadRequest as exc:
        raise errors.BadRequest(f"Invalid input for operation: {exc.message}") from None


async def list_quotas(request: web.Request) -> web.Response:
    """GET /v2.0/quotas (admin): projects with limits of their own."""
    _admin_only(request[CTX], "get_quota")
    custom = await request.config_dict[QUOTAS].custom(NAMES)
    return json_response({"quotas": [
        {**{n: limits[n] for n in NAMES}, "project_id": pid, "tenant_id": pid}
        for pid, limits in custom.items()]})


async def show_quota(request: web.Request) -> web.Response:
    """GET /v2.0/quotas/{project_id}."""
    project_id = _project(request)
    _may_read(request[CTX], project_id)
    limits = await request.config_dict[QUOTAS].limits(project_id)
    return json_response({"quota": {n: limits[n] for n in NAMES}})


async def show_quota_default(request: web.Request) -> web.Response:
    """GET /v2.0/quotas/{project_id}/default."""
    _may_read(request[CTX], _project(request))
    defaults = request.config_dict[QUOTAS].defaults
    return json_response({"quota": {n: defaults[n] for n in NAMES}})


async def show_quota_details(request: web.Request) -> web.Response:
    """GET /v2.0/quotas/{project_id}/details: limit, used and reserved."""
    project_id = _project(request)
    _may_read(request[CTX], project_id)
    details = await request.config_dict[QUOTAS].details(project_id)
    return json_response({"quota": {
        n: {"limit": details[n].limit, "used": details[n].in_use,
            "reserved": details[n].reserved} for n in NAMES}})


async def update_quota(request: web.Request) -> web.Response:
    """PUT /v2.0/quotas/{project_id} (admin): every network limit afterwards."""
    project_id = _project(request)
    _admin_only(request[CTX], "update_quota")
    values, check = _parse_update(await json_body(request))
    limits = await request.config_dict[QUOTAS].update(project_id, values, check_usage=check)
    return json_response({"quota": {n: limits[n] for n in NAMES}})


async def delete_quota(request: web.Request) -> web.Response:
    """DELETE /v2.0/quotas/{project_id} (admin): back to the defaults; 204."""
    project_id = _project(request)
    _admin_only(request[CTX], "delete_quota")
    await request.config_dict[QUOTAS].reset(project_id, NAMES)
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    """The quota routes, relative to the network app (which serves ``/v2.0/...``)."""
    one = "/v2.0/quotas/{project_id}"
    out = [web.get("/v2.0/quotas", list_quotas), web.get("/v2.0/quotas.json", list_quotas)]
    for suffix in ("", ".json"):
        out += [web.get(f"{one}/default{suffix}", show_quota_default),
                web.get(f"{one}/details{suffix}", show_quota_details)]
    # {project_id} also matches "<id>.json"; the handlers strip the suffix.
    out += [web.get(one, show_quota), web.put(one, update_quota),
            web.delete(one, delete_quota)]
    return out
