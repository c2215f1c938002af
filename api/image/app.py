"""The image sub-application, mounted at ``/image``: Glance v2 with regions as stores."""
from __future__ import annotations

from aiohttp import web

from cascade.jsonutil import json_response

from cascade.api.image import images, members, patch, schemas, tags
from cascade.api.image import catalog as catalog_api
from cascade.api.image.keys import IMAGES, METADEFS
from cascade.api.image.list_images import list_images
from cascade.api.middleware import public
from cascade.api.urls import image_base
from cascade.appkeys import REGIONS
from cascade.images.metadefs import Metadefs
from cascade.images.service import ImageService

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
    return json_response({"versions": docs}, status=status)


def create_image_app(service: ImageService, catalog: Metadefs) -> web.Application:
    app = web.Application()
    app[IMAGES] = service
    app[METADEFS] = catalog
    app.router.add_routes([
        web.get("", versions),
        web.get("/", versions),
        web.get("/versions", versions),
        web.get("/v2/images", list_images),
        web.post("/v2/images", images.create_image),
        web.get("/v2/images/{image_id}", images.show_image),
        web.delete("/v2/images/{image_id}", images.delete_image),
        web.put("/v2/images/{image_id}/file", images.upload_data),
        web.get("/v2/images/{image_id}/file", images.download_data),
        web.post("/v2/images/{image_id}/import", images.import_image),
        web.put("/v2/images/{image_id}/stage", images.stage_data),
        web.post("/v2/images/{image_id}/actions/deactivate", images.deactivate_image),
        web.post("/v2/images/{image_id}/actions/reactivate", images.reactivate_image),
        web.get("/v2/info/stores", images.info_stores),
        web.delete("/v2/stores/{store_id}/{image_id}", images.delete_from_store),
        web.get("/v2/info/import", images.info_import),
        web.patch("/v2/images/{image_id}", patch.patch_image),
        web.get("/v2/images/{image_id}/members", members.list_members),
        web.post("/v2/images/{image_id}/members", members.create_member),
        web.get("/v2/images/{image_id}/members/{member_id}", members.show_member),
        web.put("/v2/images/{image_id}/members/{member_id}", members.update_member),
        web.delete("/v2/images/{image_id}/members/{member_id}", members.delete_member),
        web.put("/v2/images/{image_id}/tags/{tag_value}", tags.put_tag),
        web.delete("/v2/images/{image_id}/tags/{tag_value}", tags.delete_tag),
        web.route("*", "/v2/metadefs/{tail:.+}", catalog_api.metadefs),
        web.get("/v2/schemas/{name:metadefs}/{tail:.+}", catalog_api.schemas),
        web.get("/v2/schemas/{name:tasks?}", catalog_api.schemas),
        web.get("/v2/tasks", catalog_api.list_tasks),
        web.post("/v2/tasks", catalog_api.create_task),
        web.get("/v2/tasks/{task_id}", catalog_api.show_task),
        web.get("/v2/schemas/image", schemas.show_image_schema),
        web.get("/v2/schemas/images", schemas.show_images_schema),
        web.get("/v2/schemas/member", schemas.show_member_schema),
        web.get("/v2/schemas/members", schemas.show_members_schema),
    ])
    return app
