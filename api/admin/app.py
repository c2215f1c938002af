"""The admin sub-application, mounted at ``/v1``."""
from __future__ import annotations

from aiohttp import web

from cascade.api.admin import jobs, mappings, network_check, regions
from cascade.api.admin.keys import REGION_ADMIN
from cascade.regions.admin import RegionAdmin

__all__ = ["create_admin_app"]


def create_admin_app(region_admin: RegionAdmin) -> web.Application:
    app = web.Application()
    app[REGION_ADMIN] = region_admin
    app.router.add_routes([
        web.get("/regions", regions.list_regions),
        web.post("/regions", regions.add_region),
        web.get("/regions/{name}", regions.show_region),
        web.patch("/regions/{name}", regions.update_region),
        web.delete("/regions/{name}", regions.remove_region),
        web.get("/jobs", jobs.list_jobs),
        web.get("/jobs/{job_id}", jobs.show_job),
        web.post("/jobs/{job_id}/retry", jobs.retry_job),
        web.post("/jobs/{job_id}/cancel", jobs.cancel_job),
        web.get("/mappings", mappings.list_mappings),
        web.get("/mappings/{id}", mappings.show_mapping),
        web.get("/network-check/{project_id}", network_check.network_check),
    ])
    return app
