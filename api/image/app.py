"""The image sub-application, mounted at ``/image``.

For now images are read through from the regions (union by id: an image with
the same id in several regions is one image). The full Glance facade with
Cascade as the source of truth replaces this (issue 4).
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from api.middleware import public
from api.urls import image_base
from cascade import errors
from cascade.appkeys import CONF, CTX, REGION_CLIENT, REGIONS
from cascade.regions.fanout import scatter_gather, split_results

__all__ = ["create_image_app"]

#: Glance v2 minor versions; Cascade advertises those every region serves.
_ALL_MINORS = [f"v2.{n}" for n in range(0, 18)]


def _served_versions(request: web.Request) -> list[str]:
    common = set(_ALL_MINORS)
    for region in request.config_dict[REGIONS].enabled():
        seen = (region.capabilities.get("image") or {}).get("versions")
        if seen:
            common &= set(seen)
    return sorted(common or {"v2.0"}, key=lambda v: int(v.split(".")[1]), reverse=True)


@public
async def versions(request: web.Request) -> web.Response:
    """GET /image/ and /image/versions: Glance answers 300 Multiple Choices."""
    href = image_base(request) + "/v2/"
    served = _served_versions(request)
    docs = [{"id": v, "status": "CURRENT" if i == 0 else "SUPPORTED",
             "links": [{"rel": "self", "href": href}]} for i, v in enumerate(served)]
    status = 200 if request.path.endswith("/versions") else 300
    return web.json_response({"versions": docs}, status=status)


async def _ask(request: web.Request, path: str,
               params: dict[str, str] | None = None) -> tuple[dict[str, Any], list[Any]]:
    client = request.config_dict[REGION_CLIENT]
    ctx = request[CTX]
    regions = [r.name for r in request.config_dict[REGIONS].usable()]

    async def ask(region: str) -> Any:
        return (await client.get(ctx, region, "image", path, params=params)).body

    results = await scatter_gather(regions, ask,
                                   timeout=request.config_dict[CONF].api.region_timeout)
    good, failed = split_results(results)
    return {r: good[r] for r in regions if r in good}, failed


def _rewrite(image: dict[str, Any]) -> dict[str, Any]:
    # Glance links (self, file, schema) are relative to the endpoint, so they
    # already point at Cascade once served under /image.
    return image


async def list_images(request: web.Request) -> web.Response:
    """GET /image/v2/images: union of the regions' images by id."""
    params = {k: v for k, v in request.query.items() if k not in ("limit", "marker")}
    answers, failed = await _ask(request, "/v2/images", params)
    if not answers and failed:
        raise errors.ServiceUnavailable("; ".join(f.message for f in failed))
    seen: dict[str, dict[str, Any]] = {}
    for body in answers.values():
        for image in (body or {}).get("images", []):
            seen.setdefault(image["id"], _rewrite(image))
    images = sorted(seen.values(), key=lambda i: (i.get("created_at") or "", i["id"]),
                    reverse=True)
    return web.json_response({"images": images, "first": "/v2/images",
                              "schema": "/v2/schemas/images"})


async def show_image(request: web.Request) -> web.Response:
    """GET /image/v2/images/{id}: from the first region that has it."""
    image_id = request.match_info["image_id"]
    answers, failed = await _ask(request, f"/v2/images/{image_id}")
    if answers:
        return web.json_response(_rewrite(next(iter(answers.values()))))
    if all(isinstance(f.error, errors.RegionHTTPError) and f.error.status == 404
           for f in failed):
        raise errors.NotFound(f"No image found with ID {image_id}")
    raise errors.ServiceUnavailable("; ".join(f.message for f in failed))


def create_image_app() -> web.Application:
    app = web.Application()
    app.router.add_routes([
        web.get("", versions),
        web.get("/", versions),
        web.get("/versions", versions),
        web.get("/v2/images", list_images),
        web.get("/v2/images/{image_id}", show_image),
    ])
    return app
