"""Flavors: what the regions offer, matched across regions by flavor id.

A list asks every usable region at once for its flavors in the list's order
(``sort_key``/``sort_dir``, and the ``minDisk``, ``minRam`` and ``is_public``
filters, passed on), merges the answers with the same heap merge as server
lists (``cascade/listing/merge.py``), keeps the first region's copy of each
flavor id (regions in registry order: weight, then name), and pages the
result itself: ``marker`` is a flavor id, as in Nova, so it means the same
in every region.

Creates and deletes go to every enabled region, so a flavor is everywhere or
nowhere.
"""
from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Any, Callable

from multidict import MultiMapping

from cascade import errors
from cascade.coherence import Coherence
from cascade.context import RequestContext
from cascade.listing.merge import merge
from cascade.mapping.rewrite import flavor_to_global
from cascade.regions import paths
from cascade.regions.client import RegionClient
from cascade.regions.fanout import RegionFailure, scatter_gather, split_results
from cascade.regions.registry import RegionRegistry

__all__ = ["Flavors", "FlavorQuery", "parse_query", "summary", "MAX_LIMIT"]

#: Nova's default [api] max_limit.
MAX_LIMIT = 1000
#: Nova's flavor sort keys, and the field of the detailed view that holds each
#: (None: not shown, so regions' answers are joined in registry order).
SORT_FIELDS: dict[str, str | None] = {
    "flavorid": "id", "name": "name", "memory_mb": "ram", "root_gb": "disk",
    "vcpus": "vcpus", "ephemeral_gb": "OS-FLV-EXT-DATA:ephemeral", "swap": "swap",
    "rxtx_factor": "rxtx_factor", "is_public": "os-flavor-access:is_public",
    "disabled": "OS-FLV-DISABLED:disabled", "description": "description",
    "id": None, "created_at": None, "updated_at": None, "vcpu_weight": None}
#: Nova's flavor id: letters, digits, ``. _-``, no spaces at either end, at most 255.
_FLAVOR_ID = re.compile(r"(?! )[a-zA-Z0-9. _-]{1,255}(?<! )")


@dataclasses.dataclass(frozen=True)
class FlavorQuery:
    """A flavor list request: what regions are asked, and how Cascade pages."""

    params: dict[str, str]
    sort_field: str | None
    descending: bool
    limit: int
    marker: str | None


def _schema_error(name: str, value: str, why: str) -> errors.BadRequest:
    """Nova's words for a query parameter its schema refuses."""
    return errors.BadRequest(f"Invalid input for query parameters {name}. Value: {value}. "
                             f"{why}")


def parse_query(query: MultiMapping[str]) -> FlavorQuery:
    """Nova's flavor list parameters, checked as Nova checks them.

    :raises BadRequest: a bad limit, sort key, sort direction, minDisk or minRam.
    """
    raw_limit = query.get("limit")
    if raw_limit is not None and re.fullmatch(r"[0-9]*", raw_limit) is None:
        raise _schema_error("limit", raw_limit, f"'{raw_limit}' does not match '^[0-9]*$'")
    for name in ("minRam", "minDisk"):
        if name in query:
            try:
                int(query[name])
            except ValueError:
                raise errors.BadRequest(f"Invalid {name} filter [{query[name]}]") from None
    sort_key = query.get("sort_key", "flavorid")
    if sort_key not in SORT_FIELDS:
        raise _schema_error("sort_key", sort_key,
                            f"'{sort_key}' is not one of {sorted(SORT_FIELDS)}")
    sort_dir = query.get("sort_dir", "asc")
    if sort_dir not in ("asc", "desc"):
        raise _schema_error("sort_dir", sort_dir, f"'{sort_dir}' is not one of "
                                                  "['asc', 'desc']")
    params = {k: query[k] for k in ("minRam", "minDisk", "is_public") if k in query}
    params.update(sort_key=sort_key, sort_dir=sort_dir)
    limit = int(raw_limit) if raw_limit else MAX_LIMIT
    return FlavorQuery(params=params, sort_field=SORT_FIELDS[sort_key],
                       descending=sort_dir == "desc", limit=min(limit, MAX_LIMIT),
                       marker=query.get("marker"))


def summary(flavor: dict[str, Any]) -> dict[str, Any]:
    """The ``/flavors`` view of a detailed flavor (``description`` where shown)."""
    return {k: flavor[k] for k in ("id", "name", "description", "links") if k in flavor}


def flavor_path(flavor_id: str) -> str:
    """``/flavors/<id>``, the id checked and encoded.

    :raises NotFound: the id cannot name a flavor (Nova's words).
    """
    try:
        return paths.build("flavors", flavor_id)
    except paths.UnsafePath:
        raise errors.NotFound(f"Flavor {flavor_id} could not be found.") from None


def _raise_callers_error(failed: list[RegionFailure], but_not: int | None = None) -> None:
    """A region's 4xx is the caller's error, whatever the other regions did.

    :raises RegionHTTPError: the first regional 4xx (other than ``but_not``).
    """
    for failure in failed:
        error = failure.error
        if (isinstance(error, errors.RegionHTTPError) and 400 <= error.status < 500
                and error.status != but_not):
            raise error


def _sort_value(field: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    def value(flavor: dict[str, Any]) -> tuple[Any, ...]:
        v = flavor.get(field)
        # swap is "" for none below microversion 2.75; None sorts first, as NULL does.
        return ((0, 0),) if v in (None, "") else ((1, v),)
    return value


class Flavors:
    """The flavor service: lists merged across regions, shows, creates and deletes."""

    def __init__(self, client: RegionClient, registry: RegionRegistry,
                 region_timeout: float, coherence: Coherence | None = None) -> None:
        self._client = client
        self._registry = registry
        self._timeout = region_timeout
        self._coherence = coherence

    async def _changed(self, flavor_id: str) -> None:
        # Flavors live in the regions, not the database: no trigger sees them.
        if self._coherence is not None:
            await self._coherence.publish("flavor", flavor_id)

    async def _ask_all(self, ctx: RequestContext, microversion: str, path: str,
                       params: dict[str, str] | None = None,
                       flavor_id: str | None = None) -> dict[str, Any]:
        """Every usable region's answer, in registry order.

        :raises NotFound: no region answered and one said 404.
        :raises ServiceUnavailable: no region answered.
        """
        regions = [r.name for r in self._registry.usable()]
        if not regions:
            raise errors.ServiceUnavailable("No region is available.")

        async def ask(region: str) -> Any:
            resp = await self._client.get(ctx, region, "compute", path, params=params,
                                          microversion=microversion)
            return resp.body

        good, failed = split_results(await scatter_gather(regions, ask,
                                                          timeout=self._timeout))
        _raise_callers_error(failed, but_not=404)  # a bad filter, say
        if not good:
            if any(isinstance(f.error, errors.RegionHTTPError) and f.error.status == 404
                   for f in failed):
                raise errors.NotFound(f"Flavor {flavor_id} could not be found.")
            raise errors.ServiceUnavailable("; ".join(f.message for f in failed))
        return {r: good[r] for r in regions if r in good}

    async def list_page(self, ctx: RequestContext, microversion: str, query: FlavorQuery,
                        public_base: str) -> tuple[list[dict[str, Any]], bool]:
        """Detailed flavors after the marker, at most ``limit``; and whether the page
        is full (Nova then gives a next link).

        :raises BadRequest: the marker is no flavor the caller can see.
        """
        answers = await self._ask_all(ctx, microversion, "/flavors/detail", query.params)
        streams = {region: [flavor_to_global(f, self._client.base_url(region, "compute"),
                                             public_base)
                            for f in (body or {}).get("flavors", [])]
                   for region, body in answers.items()}
        if query.sort_field is None:
            ordered = [f for flavors in streams.values() for f in flavors]
        else:
            ordered = [f for _, f in merge(_sort_value(query.sort_field),
                                           [query.descending], streams)]
        flavors: list[dict[str, Any]] = []
        seen: set[str] = set()
        for flavor in ordered:
            if str(flavor["id"]) not in seen:
                seen.add(str(flavor["id"]))
                flavors.append(flavor)
        if query.marker is not None:
            at = next((i for i, f in enumerate(flavors) if str(f["id"]) == query.marker),
                      None)
            if at is None:
                raise errors.BadRequest(f"marker [{query.marker}] not found")
            flavors = flavors[at + 1:]
        page = flavors[:query.limit]
        return page, bool(page) and len(page) == query.limit

    async def show(self, ctx: RequestContext, microversion: str, flavor_id: str,
                   public_base: str) -> dict[str, Any]:
        """The flavor as the first region (by weight) that has it shows it."""
        answers = await self._ask_all(ctx, microversion, flavor_path(flavor_id),
                                      flavor_id=flavor_id)
        region, body = next(iter(answers.items()))
        return flavor_to_global(body["flavor"], self._client.base_url(region, "compute"),
                                public_base)

    async def _everywhere(self, ctx: RequestContext, microversion: str, method: str,
                          path: str, json: Any = None
                          ) -> tuple[dict[str, Any], list[RegionFailure]]:
        regions = [r.name for r in self._registry.enabled()]

        async def call(region: str) -> Any:
            return (await self._client.request(ctx, region, "compute", method, path,
                                               json=json, microversion=microversion)).body

        return split_results(await scatter_gather(regions, call, timeout=self._timeout))

    async def create(self, ctx: RequestContext, microversion: str, body: Any,
                     public_base: str) -> dict[str, Any]:
        """The same flavor, same id, in every enabled region.

        If any region refuses or cannot be reached, the regions that created it
        delete it again.

        :raises BadRequest: no flavor, or an id Nova would refuse.
        """
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
        made, failed = await self._everywhere(ctx, microversion, "POST", "/flavors",
                                              {"flavor": flavor})
        await self._changed(flavor_id)
        if failed:
            for region in made:
                try:
                    await self._client.delete(ctx, region, "compute", flavor_path(flavor_id))
                except errors.RegionError:
                    pass
            _raise_callers_error(failed)  # the id is taken, a bad field
            raise errors.ServiceUnavailable(
                "Flavor not created: " + "; ".join(f.message for f in failed))
        region, answer = next(iter(made.items()))
        return flavor_to_global(answer["flavor"], self._client.base_url(region, "compute"),
                                public_base)

    async def delete(self, ctx: RequestContext, microversion: str, flavor_id: str) -> None:
        """Removed from every enabled region that has it.

        :raises NotFound: no region had it.
        """
        done, failed = await self._everywhere(ctx, microversion, "DELETE",
                                              flavor_path(flavor_id))
        await self._changed(flavor_id)
        real = [f for f in failed if not (isinstance(f.error, errors.RegionHTTPError)
                                          and f.error.status == 404)]
        if real:
            raise errors.ServiceUnavailable("Flavor not deleted everywhere: "
                                            + "; ".join(f.message for f in real))
        if not done:
            raise errors.NotFound(f"Flavor {flavor_id} could not be found.")
