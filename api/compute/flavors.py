"""Flavors: what the regions offer, matched across regions by flavor id."""
from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web

from cascade.jsonutil import json_response

from cascade.api.body import json_body
from cascade.api.compute.microversion import MICROVERSION
from cascade.api.urls import compute_base
from cascade import errors
from cascade.appkeys import CONF, CTX, REGION_CLIENT, REGIONS
from cascade.regions import paths
from cascade.regions.fanout import scatter_gather, split_results
from cascade.mapping.rewrite import flavor_to_global

__all__ = ["list_flavors", "list_flavors_detail", "show_flavor", "create_flavor",
           "delete_flavor"]


def _raise_callers_error(failed: list[Any], but_not: int | None = None) -> None:
    """A region's 4xx is the caller's error, whatever the other regions did.

    :raises RegionHTTPError: the first regional 4xx (other than ``but_not``).
    """
    for failure in failed:
        error = failure.error
        if (isinstance(error, errors.RegionHTTPError) and 400 <= error.status < 500
                and error.status != but_not):
            raise error


async def _ask_all(request: web.Request, path: str,
                   params: dict[str, str] | None = None) -> dict[str, Any]:
    client = request.config_dict[REGION_CLIENT]
    ctx = request[CTX]
    regions = [r.name for r in request.config_dict[REGIONS].usable()]
    if not regions:
        raise errors.ServiceUnavailable("No region is available.")

    async def ask(region: str) -> Any:
        resp = await client.get(ctx, region, "compute", path, params=params,
                                microversion=request[MICROVERSION])
        return resp.body

    results = await scatter_gather(regions, ask,
                                   timeout=request.config_dict[CONF].api.region_timeout)
    good, failed = split_results(results)
    _raise_callers_error(failed, but_not=404)  # a bad filter, say
    if not good:
        not_found = [f for f in failed if isinstance(f.error, errors.RegionHTTPError)
                     and f.error.status == 404]
        if not_found:
            raise errors.NotFound(f"Flavor {request.match_info.get('flavor_id')} "
                                  "could not be found.")
        raise errors.ServiceUnavailable("; ".join(f.message for f in failed))
    # Keep registry order (weight, then name) so the first region's view wins.
    return {r: good[r] for r in regions if r in good}


async def _list(request: web.Request, path: str) -> web.Response:
    params = {k: v for k, v in request.query.items() if k not in ("limit", "marker")}
    answers = await _ask_all(request, path, params)
    client = request.config_dict[REGION_CLIENT]
    seen: dict[str, dict[str, Any]] = {}
    for region, body in answers.items():
        base = client.base_url(region, "compute")
        for flavor in (body or {}).get("flavors", []):
            seen.setdefault(str(flavor["id"]),
                            flavor_to_global(flavor, base, compute_base(request)))
    flavors = sorted(seen.values(), key=lambda f: (_id_order(f["id"])))
    return json_response({"flavors": flavors})


def _id_order(flavor_id: str) -> tuple[int, int | str]:
    return (0, int(flavor_id)) if str(flavor_id).isdigit() else (1, str(flavor_id))


async def list_flavors(request: web.Request) -> web.Response:
    """GET /flavors: union of the regions' flavors by id."""
    return await _list(request, "/flavors")


async def list_flavors_detail(request: web.Request) -> web.Response:
    """GET /flavors/detail."""
    return await _list(request, "/flavors/detail")


async def show_flavor(request: web.Request) -> web.Response:
    """GET /flavors/{id}: from the first region (by weight) that has it."""
    flavor_id = request.match_info["flavor_id"]
    answers = await _ask_all(request, _flavor_path(flavor_id))
    region, body = next(iter(answers.items()))
    base = request.config_dict[REGION_CLIENT].base_url(region, "compute")
    return json_response({"flavor": flavor_to_global(body["flavor"], base,
                                                         compute_base(request))})


#: Nova's flavor id: letters, digits, ``. _-``, no spaces at either end, at most 255.
_FLAVOR_ID = re.compile(r"(?! )[a-zA-Z0-9. _-]{1,255}(?<! )")


def _flavor_path(flavor_id: str) -> str:
    """``/flavors/<id>``, the id checked and encoded.

    :raises NotFound: the id cannot name a flavor (Nova's words).
    """
    try:
        return paths.build("flavors", flavor_id)
    except paths.UnsafePath:
        raise errors.NotFound(f"Flavor {flavor_id} could not be found.") from None


def _require_admin(request: web.Request, action: str) -> None:
    """:raises PolicyForbidden: ``os_compute_api:os-flavor-manage:<action>`` refused."""
    request[CTX].can(f"os_compute_api:os-flavor-manage:{action}")


async def _everywhere(request: web.Request, method: str, path: str,
                      json: Any = None) -> tuple[dict[str, Any], list[Any]]:
    client = request.config_dict[REGION_CLIENT]
    ctx = request[CTX]
    regions = [r.name for r in request.config_dict[REGIONS].enabled()]

    async def call(region: str) -> Any:
        return (await client.request(ctx, region, "compute", method, path, json=json,
                                     microversion=request[MICROVERSION])).body

    results = await scatter_gather(regions, call,
                                   timeout=request.config_dict[CONF].api.region_timeout)
    return split_results(results)


async def create_flavor(request: web.Request) -> web.Response:
    """POST /flavors (admin): the same flavor, same id, in every enabled region.

    If any region refuses or cannot be reached, the regions that created it
    delete it again, so a flavor is everywhere or nowhere.
    """
    _require_admin(request, "create")
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("flavor"), dict):
        raise errors.BadRequest("Invalid input for field/attribute flavor.")
    flavor = dict(body["flavor"])
    if flavor.get("id") in (None, "", "auto"):
        flavor["id"] = str(uuid.uuid4())
    flavor_id = flavor["id"]
    if (not isinstance(flavor_id, str) or _FLAVOR_ID.fullmatch(flavor_id) is None
            or flavor_id in (".", "..")):
        raise errors.BadRequest("Invalid input for field/attribute id. Value: "
                                f"{flavor_id!r}. Does not match the flavor id pattern")
    made, failed = await _everywhere(request, "POST", "/flavors", {"flavor": flavor})
    if failed:
        for region in made:
            try:
                await request.config_dict[REGION_CLIENT].delete(
                    request[CTX], region, "compute", _flavor_path(flavor["id"]))
            except errors.RegionError:
                pass
        _raise_callers_error(failed)  # the id is taken, a bad field
        raise errors.ServiceUnavailable(
            "Flavor not created: " + "; ".join(f.message for f in failed))
    region, answer = next(iter(made.items()))
    base = request.config_dict[REGION_CLIENT].base_url(region, "compute")
    return json_response({"flavor": flavor_to_global(answer["flavor"], base,
                                                         compute_base(request))})


async def delete_flavor(request: web.Request) -> web.Response:
    """DELETE /flavors/{id} (admin): removed from every enabled region that has it."""
    _require_admin(request, "delete")
    flavor_id = request.match_info["flavor_id"]
    done, failed = await _everywhere(request, "DELETE", _flavor_path(flavor_id))
    real = [f for f in failed if not (isinstance(f.error, errors.RegionHTTPError)
                                      and f.error.status == 404)]
    if real:
        raise errors.ServiceUnavailable("Flavor not deleted everywhere: "
                                        + "; ".join(f.message for f in real))
    if not done:
        raise errors.NotFound(f"Flavor {flavor_id} could not be found.")
    return web.Response(status=202)
