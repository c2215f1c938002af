"""The compute sub-application, mounted at ``/compute``."""
from __future__ import annotations

from aiohttp import web

from cascade.api.compute import (availability_zones, extensions, flavors, images, keypairs,
                                 limits, quota_sets, server_groups, servers, versions)
from cascade.api.compute.keys import (EXTENSIONS, FLAVORS, IMAGE_PROXY, KEYPAIRS,
                                      SERVER_GROUPS, SERVERS)
from cascade.api.compute.microversion import microversion_middleware
from cascade.appkeys import REGIONS
from cascade.compute.extensions import ComputeExtensions
from cascade.compute.flavors import Flavors
from cascade.compute.image_proxy import ImageProxy
from cascade.compute.keypair_ops import Keypairs
from cascade.compute.server_groups import ServerGroups
from cascade.compute.server_ops import Servers
from cascade.regions.registry import RegionRegistry

__all__ = ["create_compute_app"]

V = "/v2.1"
S = V + "/servers/{server_id}"
Q = V + "/os-quota-sets/{project_id}"


def create_compute_app(ops: Servers, pairs: Keypairs, flavor_service: Flavors,
                       image_proxy: ImageProxy, groups: ServerGroups,
                       registry: RegionRegistry,
                       compute_extensions: ComputeExtensions) -> web.Application:
    """Routes of the Nova API Cascade serves; microversions apply to all of them."""
    app = web.Application(middlewares=[microversion_middleware])
    app[REGIONS] = registry
    app[SERVERS] = ops
    app[KEYPAIRS] = pairs
    app[FLAVORS] = flavor_service
    app[IMAGE_PROXY] = image_proxy
    app[SERVER_GROUPS] = groups
    app[EXTENSIONS] = compute_extensions

    async def stop_watchers(app: web.Application) -> None:
        await ops.creator.close()

    app.on_cleanup.append(stop_watchers)
    app.router.add_routes([
        web.get("", versions.versions),
        web.get("/", versions.versions),
        web.get("/v2", versions.version_v2),
        web.get("/v2/", versions.version_v2),
        web.get(V, versions.version_v21),
        web.get(V + "/", versions.version_v21),
        web.get(V + "/servers", servers.list_servers),
        web.post(V + "/servers", servers.create_server),
        web.get(V + "/servers/detail", servers.list_servers_detail),
        web.get(S, servers.show_server),
        web.put(S, servers.update_server),
        web.delete(S, servers.delete_server),
        web.post(S + "/action", servers.server_action),
        web.route("*", S + "/{tail:(metadata|tags|ips|os-interface|os-instance-actions"
                            "|os-server-password)(/.*)?}",
                  servers.server_subresource),
        web.get(V + "/flavors", flavors.list_flavors),
        web.post(V + "/flavors", flavors.create_flavor),
        web.get(V + "/flavors/detail", flavors.list_flavors_detail),
        web.get(V + "/flavors/{flavor_id}", flavors.show_flavor),
        web.delete(V + "/flavors/{flavor_id}", flavors.delete_flavor),
        web.get(V + "/images", images.list_images),
        web.get(V + "/images/detail", images.list_images_detail),
        web.get(V + "/images/{image_id}", images.show_image),
        web.delete(V + "/images/{image_id}", images.delete_image),
        web.get(V + "/images/{image_id}/metadata", images.show_metadata),
        web.post(V + "/images/{image_id}/metadata", images.update_metadata),
        web.put(V + "/images/{image_id}/metadata", images.replace_metadata),
        web.get(V + "/images/{image_id}/metadata/{key}", images.show_metadata_item),
        web.put(V + "/images/{image_id}/metadata/{key}", images.set_metadata_item),
        web.delete(V + "/images/{image_id}/metadata/{key}", images.delete_metadata_item),
        web.get(V + "/os-server-groups", server_groups.list_groups),
        web.post(V + "/os-server-groups", server_groups.create_group),
        web.get(V + "/os-server-groups/{group_id}", server_groups.show_group),
        web.delete(V + "/os-server-groups/{group_id}", server_groups.delete_group),
        web.get(V + "/os-keypairs", keypairs.list_keypairs),
        web.post(V + "/os-keypairs", keypairs.create_keypair),
        web.get(V + "/os-keypairs/{name}", keypairs.show_keypair),
        web.delete(V + "/os-keypairs/{name}", keypairs.delete_keypair),
        web.get(V + "/os-availability-zone", availability_zones.list_zones),
        web.get(V + "/os-availability-zone/detail", availability_zones.list_zones_detail),
        web.get(Q, quota_sets.show_quota_set),
        web.put(Q, quota_sets.update_quota_set),
        web.delete(Q, quota_sets.delete_quota_set),
        web.get(Q + "/defaults", quota_sets.show_quota_set_defaults),
        web.get(Q + "/detail", quota_sets.show_quota_set_detail),
        web.get(V + "/limits", limits.show_limits),
        web.get(V + "/extensions", extensions.list_extensions),
        web.get(V + "/extensions/{alias}", extensions.show_extension),
    ])
    return app
