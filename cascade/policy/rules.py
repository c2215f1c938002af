"""Every rule Cascade enforces, registered in code (``oslopolicy-sample-generator
--namespace cascade`` writes them out; ``etc/policy.yaml.sample``).

Names are the real services' for the same operation (Nova's
``os_compute_api:...``, Glance's ``get_image``..., Neutron's
``create_network``...), with their defaults; ``cascade:...`` for Cascade's own
admin API. A forwarded call is checked here first, and the region checks its
own service's rule again with the caller's token.
"""
from __future__ import annotations

from oslo_policy import policy

from cascade.policy import base
from cascade.policy.base import (ADMIN, ANY, PROJECT_MEMBER_OR_ADMIN,
                                 PROJECT_READER_OR_ADMIN, USER_OR_ADMIN)

__all__ = ["list_rules"]

S = "/compute/v2.1/servers"
_Op = tuple[str, str]


def _rule(name: str, check: str, description: str, *ops: _Op) -> policy.DocumentedRuleDefault:
    return policy.DocumentedRuleDefault(
        name=name, check_str=check, description=description,
        operations=[{"method": m, "path": p} for m, p in ops])


def _compute() -> list[policy.DocumentedRuleDefault]:
    return _servers() + _compute_other()


def _servers() -> list[policy.DocumentedRuleDefault]:
    c = "os_compute_api:"
    return [
        _rule(c + "servers:index", PROJECT_READER_OR_ADMIN, "List servers.", ("GET", S)),
        _rule(c + "servers:detail", PROJECT_READER_OR_ADMIN, "List servers with details.",
              ("GET", S + "/detail")),
        _rule(c + "servers:index:get_all_tenants", ADMIN,
              "List servers of every project.", ("GET", S + "?all_tenants")),
        _rule(c + "servers:detail:get_all_tenants", ADMIN,
              "List servers of every project with details.",
              ("GET", S + "/detail?all_tenants")),
        _rule(c + "servers:show", PROJECT_READER_OR_ADMIN, "Show a server.",
              ("GET", S + "/{id}")),
        _rule(c + "servers:create", PROJECT_MEMBER_OR_ADMIN, "Create a server.",
              ("POST", S)),
        _rule(c + "servers:update", PROJECT_MEMBER_OR_ADMIN, "Update a server.",
              ("PUT", S + "/{id}")),
        _rule(c + "servers:delete", PROJECT_MEMBER_OR_ADMIN, "Delete a server.",
              ("DELETE", S + "/{id}"), ("POST", S + "/{id}/action (forceDelete)")),
        _rule("cascade:compute:server_action", PROJECT_MEMBER_OR_ADMIN,
              "Forward a server action to the server's region (the region then "
              "checks Nova's own rule for that action).", ("POST", S + "/{id}/action")),
        _rule("cascade:compute:server_subresource_read", PROJECT_READER_OR_ADMIN,
              "Read a server's metadata, tags, addresses, interfaces, actions or "
              "password.",
              ("GET", S + "/{id}/{metadata,tags,ips,os-interface,os-instance-actions,"
                          "os-server-password}")),
        _rule("cascade:compute:server_subresource_write", PROJECT_MEMBER_OR_ADMIN,
              "Change a server's metadata, tags or interfaces, or clear its password.",
              ("PUT", S + "/{id}/{metadata,tags}"), ("POST", S + "/{id}/{metadata,"
                                                     "os-interface}"),
              ("DELETE", S + "/{id}/{metadata,tags,os-interface}/{key}"),
              ("DELETE", S + "/{id}/os-server-password")),
    ]


def _compute_other() -> list[policy.DocumentedRuleDefault]:
    """Flavors, keypairs, zones, quota sets and limits."""
    c = "os_compute_api:"
    return [
        _rule(c + "os-flavor-manage:create", ADMIN, "Create a flavor (in every region).",
              ("POST", "/compute/v2.1/flavors")),
        _rule(c + "os-flavor-manage:delete", ADMIN, "Delete a flavor (in every region).",
              ("DELETE", "/compute/v2.1/flavors/{id}")),
        _rule(c + "os-keypairs:index", USER_OR_ADMIN, "List a user's keypairs.",
              ("GET", "/compute/v2.1/os-keypairs")),
        _rule(c + "os-keypairs:show", USER_OR_ADMIN, "Show a user's keypair.",
              ("GET", "/compute/v2.1/os-keypairs/{name}")),
        _rule(c + "os-keypairs:create", USER_OR_ADMIN, "Create or import a keypair.",
              ("POST", "/compute/v2.1/os-keypairs")),
        _rule(c + "os-keypairs:delete", USER_OR_ADMIN, "Delete a user's keypair.",
              ("DELETE", "/compute/v2.1/os-keypairs/{name}")),
        _rule(c + "os-server-groups:create", PROJECT_MEMBER_OR_ADMIN,
              "Create a server group.", ("POST", "/compute/v2.1/os-server-groups")),
        _rule(c + "os-server-groups:show", PROJECT_READER_OR_ADMIN, "Show a server group.",
              ("GET", "/compute/v2.1/os-server-groups/{id}")),
        _rule(c + "os-server-groups:index", PROJECT_READER_OR_ADMIN,
              "List the project's server groups.",
              ("GET", "/compute/v2.1/os-server-groups")),
        _rule(c + "os-server-groups:index:all_projects", ADMIN,
              "List every project's server groups.",
              ("GET", "/compute/v2.1/os-server-groups?all_projects")),
        _rule(c + "os-server-groups:delete", PROJECT_MEMBER_OR_ADMIN,
              "Delete a server group.", ("DELETE", "/compute/v2.1/os-server-groups/{id}")),
        _rule(c + "extensions", ANY, "List Nova's API extensions, or show one.",
              ("GET", "/compute/v2.1/extensions"),
              ("GET", "/compute/v2.1/extensions/{alias}")),
        _rule(c + "os-availability-zone:list", PROJECT_READER_OR_ADMIN,
              "List availability zones.", ("GET", "/compute/v2.1/os-availability-zone")),
        _rule(c + "os-availability-zone:detail", ADMIN,
              "List availability zones with their hosts.",
              ("GET", "/compute/v2.1/os-availability-zone/detail")),
        _rule(c + "os-quota-sets:show", PROJECT_READER_OR_ADMIN, "Show a project's quota.",
              ("GET", "/compute/v2.1/os-quota-sets/{project_id}")),
        _rule(c + "os-quota-sets:detail", PROJECT_READER_OR_ADMIN,
              "Show a project's quota with usage.",
              ("GET", "/compute/v2.1/os-quota-sets/{project_id}/detail")),
        _rule(c + "os-quota-sets:defaults", ANY, "Show the default quota.",
              ("GET", "/compute/v2.1/os-quota-sets/{project_id}/defaults")),
        _rule(c + "os-quota-sets:update", ADMIN, "Set a project's quota.",
              ("PUT", "/compute/v2.1/os-quota-sets/{project_id}")),
        _rule(c + "os-quota-sets:delete", ADMIN, "Reset a project's quota.",
              ("DELETE", "/compute/v2.1/os-quota-sets/{project_id}")),
        _rule(c + "limits:other_project", ADMIN, "Show another project's limits.",
              ("GET", "/compute/v2.1/limits?tenant_id")),
    ]


def _image() -> list[policy.DocumentedRuleDefault]:
    i = "/image/v2/images"
    # Visibility (private, shared, community, public) is applied by Cascade's
    # queries; these rules decide who may attempt each operation.
    reader = "rule:admin_api or role:reader"
    owner = PROJECT_MEMBER_OR_ADMIN
    return [
        _rule("get_images", reader, "List images.", ("GET", i)),
        _rule("get_image", reader, "Show an image.", ("GET", i + "/{id}")),
        _rule("add_image", "rule:admin_api or (role:member and project_id:%(project_id)s)",
              "Create an image.", ("POST", i)),
        _rule("modify_image", owner, "Update an image.", ("PATCH", i + "/{id}")),
        _rule("delete_image", owner, "Delete an image.", ("DELETE", i + "/{id}")),
        _rule("upload_image", owner, "Upload image data.", ("PUT", i + "/{id}/file")),
        _rule("download_image", reader, "Download image data.", ("GET", i + "/{id}/file")),
        _rule("publicize_image", ADMIN, "Make an image public.", ("PATCH", i + "/{id}")),
        _rule("communitize_image", owner, "Make an image community.",
              ("PATCH", i + "/{id}")),
        _rule("delete_image_location", ADMIN,
              "Delete an image's copy in one store (region).",
              ("DELETE", "/image/v2/stores/{store_id}/{image_id}")),
        _rule("copy_image", ADMIN, "Copy an image to more regions (copy-image import).",
              ("POST", i + "/{id}/import")),
        _rule("deactivate", owner, "Deactivate an image.",
              ("POST", i + "/{id}/actions/deactivate")),
        _rule("reactivate", owner, "Reactivate an image.",
              ("POST", i + "/{id}/actions/reactivate")),
        _rule("tasks_api_access", ADMIN, "Use the (empty) tasks API.",
              ("GET", "/image/v2/tasks"), ("POST", "/image/v2/tasks")),
        _rule("add_member", owner, "Share an image with a project.",
              ("POST", i + "/{id}/members")),
        _rule("delete_member", owner, "Stop sharing an image with a project.",
              ("DELETE", i + "/{id}/members/{member_id}")),
        _rule("get_members", reader, "List or show an image's members.",
              ("GET", i + "/{id}/members")),
        _rule("modify_member", "rule:admin_api or role:member",
              "Accept or reject an image shared with one's project.",
              ("PUT", i + "/{id}/members/{member_id}")),
    ]


def _network() -> list[policy.DocumentedRuleDefault]:
    out: list[policy.DocumentedRuleDefault] = []
    kinds = (("network", "networks"), ("subnet", "subnets"), ("port", "ports"),
             ("security_group", "security-groups"),
             ("security_group_rule", "security-group-rules"), ("router", "routers"),
             ("floatingip", "floatingips"))
    for kind, coll in kinds:
        path = f"/networking/v2.0/{coll}"
        out += [
            _rule(f"create_{kind}", PROJECT_MEMBER_OR_ADMIN, f"Create a {kind}.",
                  ("POST", path)),
            _rule(f"get_{kind}", PROJECT_READER_OR_ADMIN, f"Show or list {kind}s.",
                  ("GET", path), ("GET", path + "/{id}")),
            _rule(f"update_{kind}", PROJECT_MEMBER_OR_ADMIN, f"Update a {kind}.",
                  ("PUT", path + "/{id}")),
            _rule(f"delete_{kind}", PROJECT_MEMBER_OR_ADMIN, f"Delete a {kind}.",
                  ("DELETE", path + "/{id}")),
        ]
        if kind in ("network", "subnet", "port", "security_group", "router", "floatingip"):
            tags = f"{coll.replace('-', '_')}_tags"
            out += [_rule(f"{verb}_{tags}", PROJECT_MEMBER_OR_ADMIN,
                          f"{verb.capitalize()} tags of a {kind} (its own project's only, "
                          "even when the network is shared).", (method, path + "/{id}/tags"))
                    for verb, method in (("create", "PUT"), ("update", "PUT"),
                                         ("delete", "DELETE"))]
    out += [
        _rule("create_network:shared", ADMIN, "Create a shared network.",
              ("POST", "/networking/v2.0/networks")),
        _rule("update_network:shared", ADMIN, "Share or unshare a network.",
              ("PUT", "/networking/v2.0/networks/{id}")),
        _rule("create_network:provider:network_type", ADMIN,
              "Create a network with provider attributes (a VLAN segment of the "
              "physical network every region shares: one L2 domain across regions).",
              ("POST", "/networking/v2.0/networks")),
        _rule("create_port:project_id", ADMIN, "Create a port for another project.",
              ("POST", "/networking/v2.0/ports")),
        _rule("add_router_interface", PROJECT_MEMBER_OR_ADMIN,
              "Connect a router to a subnet or port.",
              ("PUT", "/networking/v2.0/routers/{id}/add_router_interface")),
        _rule("remove_router_interface", PROJECT_MEMBER_OR_ADMIN,
              "Disconnect a router from a subnet or port.",
              ("PUT", "/networking/v2.0/routers/{id}/remove_router_interface")),
        _rule("create_router:external_gateway_info", PROJECT_MEMBER_OR_ADMIN,
              "Create a router with a gateway on an external network.",
              ("POST", "/networking/v2.0/routers")),
        _rule("update_router:external_gateway_info", PROJECT_MEMBER_OR_ADMIN,
              "Set or clear a router's gateway.", ("PUT", "/networking/v2.0/routers/{id}")),
        _rule("create_router:distributed", ADMIN,
              "Create a router choosing whether it is distributed.",
              ("POST", "/networking/v2.0/routers")),
        _rule("create_router:ha", ADMIN, "Create a router choosing whether it is HA.",
              ("POST", "/networking/v2.0/routers")),
        _rule("create_router:external_gateway_info:enable_snat", ADMIN,
              "Choose whether a router's gateway does SNAT.",
              ("POST", "/networking/v2.0/routers"), ("PUT", "/networking/v2.0/routers/{id}")),
        _rule("create_router:external_gateway_info:external_fixed_ips", ADMIN,
              "Choose a router's gateway addresses (refused through Cascade: the "
              "region gives them).",
              ("POST", "/networking/v2.0/routers"), ("PUT", "/networking/v2.0/routers/{id}")),
        _rule("get_availability_zone", PROJECT_READER_OR_ADMIN,
              "List network availability zones (one per region).",
              ("GET", "/networking/v2.0/availability_zones")),
        _rule("get_quota", PROJECT_READER_OR_ADMIN, "Show a project's network quota.",
              ("GET", "/networking/v2.0/quotas/{project_id}")),
        _rule("update_quota", ADMIN, "Set a project's network quota.",
              ("PUT", "/networking/v2.0/quotas/{project_id}")),
        _rule("delete_quota", ADMIN, "Reset a project's network quota.",
              ("DELETE", "/networking/v2.0/quotas/{project_id}")),
    ]
    return out


def _cascade() -> list[policy.DocumentedRuleDefault]:
    out = []
    for thing, verbs in (("regions", ("list", "show", "create", "update", "delete")),
                         ("jobs", ("list", "show", "retry", "cancel")),
                         ("mappings", ("list", "show"))):
        for verb in verbs:
            out.append(_rule(f"cascade:{thing}:{verb}", ADMIN,
                             f"Cascade admin API: {verb} {thing}.", ("*", f"/v1/{thing}")))
    out.append(_rule("cascade:network:check", ADMIN,
                     "Cascade admin API: whether a project's routed subnets reach each other.",
                     ("GET", "/v1/network-check/{project_id}")))
    out.append(_rule("cascade:healthcheck:detail", ADMIN,
                     "See the database's error and each region's health in /healthcheck.",
                     ("GET", "/healthcheck?detail")))
    return out


def list_rules() -> list[policy.RuleDefault]:
    """Every rule, for the enforcer and the ``oslo.policy.policies`` entry point."""
    return [*base.rules(), *_compute(), *_image(), *_network(), *_cascade()]
