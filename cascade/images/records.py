"""Image records: how a global image is kept, who may see it, how Glance shows it.

An image is a ``resources`` row of type ``image`` (the global id is the image
id, which the client may choose, as Glance allows) and one ``placements`` row
per region holding a replica; the regional image has the same id.

- ``Resource.status``: Glance's status (queued, saving, active, killed,
  deactivated, deleted, importing).
- ``Resource.spec``: what the owner sets: name, disk_format, container_format,
  visibility, protected, os_hidden, min_disk, min_ram, tags, and ``properties``
  (every other key, shown at the top level as Glance does).
- ``Resource.attrs``: what the data decides and bookkeeping: size,
  virtual_size, checksum, os_hash_algo, os_hash_value, created_at, updated_at,
  home_region, members ({project: {status, created_at, updated_at}}),
  importing_to and failed_import (region lists for the import properties).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Placement, PlacementState, Resource

__all__ = ["IMAGE", "BASE_KEYS", "READ_ONLY", "now", "visible", "editable", "to_glance",
           "check_publicize",
           "active_regions", "new_image_spec"]

IMAGE = "image"

#: Image attributes Glance defines; everything else is an extra property.
BASE_KEYS = frozenset({
    "name", "disk_format", "container_format", "visibility", "protected", "os_hidden",
    "min_disk", "min_ram", "tags"})
#: Attributes no one may set through the API.
READ_ONLY = frozenset({
    "id", "status", "owner", "size", "virtual_size", "checksum", "os_hash_algo",
    "os_hash_value", "created_at", "updated_at", "self", "file", "schema", "stores",
    "locations", "direct_url", "os_glance_importing_to_stores", "os_glance_failed_import"})
DISK_FORMATS = frozenset({"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi",
                          "iso", "ploop"})
CONTAINER_FORMATS = frozenset({"ami", "ari", "aki", "bare", "ovf", "ova", "docker",
                               "compressed"})
VISIBILITIES = frozenset({"public", "private", "shared", "community"})


def now() -> str:
    """Glance's timestamp format."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def visible(ctx: RequestContext, res: Resource, *, listing: bool = False) -> bool:
    """Whether the caller may see the image (Glance's visibility rules).

    Shared images are visible to members; in lists only to members who
    accepted (or when the member filters by status, which the caller handles).
    """
    if ctx.is_admin or res.project_id == ctx.project_id:
        return True
    vis = res.spec.get("visibility", "shared")
    if vis == "public":
        return True
    if vis == "community":
        return not listing
    if vis == "shared":
        member = (res.attrs.get("members") or {}).get(ctx.project_id)
        if member is None:
            return False
        return not listing or member.get("status") == "accepted"
    return False


def check_publicize(ctx: RequestContext, visibility: Any) -> None:
    """Glance's default policy: only admins make images public (``publicize_image``).

    :raises Forbidden: a non-admin asks for ``public``.
    """
    if visibility == "public":
        ctx.can("publicize_image")
    elif visibility == "community":
        ctx.can("communitize_image")


def editable(ctx: RequestContext, res: Resource, rule: str = "modify_image") -> None:
    """:raises Forbidden: policy's ``rule`` refuses the caller this image (by
    default: not an admin nor a member of the image's project)."""
    if not ctx.can(rule, {"project_id": res.project_id}, fatal=False):
        raise errors.Forbidden("You are not permitted to modify this image.")


def active_regions(placements: list[Placement]) -> list[str]:
    """Regions holding an active replica, by name."""
    return sorted(p.region for p in placements if p.state == PlacementState.ACTIVE)


def chosen_owner(ctx: RequestContext, owner: Any) -> str:
    """The project a new image belongs to: the caller's, or (admins only, as in
    Glance) the ``owner`` the create names.

    :raises BadRequest: an owner that is not a project id.
    :raises Forbidden: a non-admin naming another project.
    """
    if owner is None or owner == ctx.project_id:
        return str(ctx.project_id)
    if not isinstance(owner, str) or not 0 < len(owner) <= 255:
        raise errors.BadRequest(f"Invalid owner: {owner!r}")
    if not ctx.is_admin:
        raise errors.Forbidden(f"You are not permitted to create images owned by '{owner}'")
    return owner


def new_image_spec(body: dict[str, Any]) -> dict[str, Any]:
    """The spec of a new image from a create request.

    :raises BadRequest: read-only or malformed attributes.
    """
    spec: dict[str, Any] = {"visibility": "shared", "protected": False, "os_hidden": False,
                            "min_disk": 0, "min_ram": 0, "tags": [], "properties": {},
                            "name": None, "disk_format": None, "container_format": None}
    for key, value in body.items():
        if key == "id":
            continue
        if key in READ_ONLY or key.startswith("os_glance"):
            raise errors.Forbidden(f"Attribute '{key}' is read-only.")
        set_attribute(spec, key, value)
    return spec


def set_attribute(spec: dict[str, Any], key: str, value: Any) -> None:
    """Set one attribute on a spec, checking it as Glance does.

    :raises BadRequest: wrong type or value.
    """
    if key in ("min_disk", "min_ram"):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise errors.BadRequest(f"Invalid value for {key}: {value!r}")
    elif key in ("protected", "os_hidden"):
        if not isinstance(value, bool):
            raise errors.BadRequest(f"Invalid value for {key}: {value!r}")
    elif key == "visibility":
        if not isinstance(value, str) or value not in VISIBILITIES:
            raise errors.BadRequest(f"Invalid visibility value: {value}")
    elif key == "disk_format":
        if value is not None and (not isinstance(value, str) or value not in DISK_FORMATS):
            raise errors.BadRequest(f"Invalid value '{value}' for disk_format")
    elif key == "container_format":
        if value is not None and (not isinstance(value, str)
                                  or value not in CONTAINER_FORMATS):
            raise errors.BadRequest(f"Invalid value '{value}' for container_format")
    elif key == "name":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise errors.BadRequest("Invalid value for name: at most 255 characters")
    elif key == "tags":
        if not isinstance(value, list) or not all(isinstance(t, str) and len(t) <= 255
                                                  for t in value):
            raise errors.BadRequest("Invalid value for tags")
        value = list(dict.fromkeys(value))
    else:
        if key in READ_ONLY:
            raise errors.Forbidden(f"Attribute '{key}' is read-only.")
        if len(key) > 255:
            raise errors.BadRequest("Property names are at most 255 characters")
        if not isinstance(value, str):
            raise errors.BadRequest(f"Invalid value for property {key}: must be a string")
        spec.setdefault("properties", {})[key] = value
        return
    spec[key] = value


def to_glance(res: Resource, placements: list[Placement]) -> dict[str, Any]:
    """The image as Glance v2 shows it (links are relative, as Glance's are)."""
    spec, attrs = res.spec, res.attrs
    out: dict[str, Any] = dict(spec.get("properties") or {})
    out.update({
        "id": res.global_id, "name": spec.get("name"), "status": res.status,
        "visibility": spec.get("visibility", "shared"),
        "protected": spec.get("protected", False), "os_hidden": spec.get("os_hidden", False),
        "owner": res.project_id, "min_disk": spec.get("min_disk", 0),
        "min_ram": spec.get("min_ram", 0), "disk_format": spec.get("disk_format"),
        "container_format": spec.get("container_format"), "tags": spec.get("tags", []),
        "size": attrs.get("size"), "virtual_size": attrs.get("virtual_size"),
        "checksum": attrs.get("checksum"), "os_hash_algo": attrs.get("os_hash_algo"),
        "os_hash_value": attrs.get("os_hash_value"),
        "created_at": attrs.get("created_at"), "updated_at": attrs.get("updated_at"),
        "self": f"/v2/images/{res.global_id}", "file": f"/v2/images/{res.global_id}/file",
        "schema": "/v2/schemas/image",
    })
    stores = active_regions(placements)
    if stores:
        out["stores"] = ",".join(stores)
    if attrs.get("importing_to") is not None:
        out["os_glance_importing_to_stores"] = ",".join(attrs.get("importing_to") or [])
        out["os_glance_failed_import"] = ",".join(attrs.get("failed_import") or [])
    return out
