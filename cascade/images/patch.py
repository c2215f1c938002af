"""PATCH /v2/images/{image_id}: Glance's JSON-patch dialect on the image record.

Glance accepts a restricted RFC 6902 under the media type
``application/openstack-images-v2.1-json-patch``: ``add``, ``remove`` and
``replace`` only, one-segment pointers only (``/name``, ``/tags``,
``/<extra property>``), ``add`` meaning "set" (it never conflicts). Clients
(glanceclient, openstacksdk, Horizon) build their patches for exactly this
dialect, so the error codes and messages follow Glance's: malformed -> 400,
read-only or reserved names -> 403, missing property -> 409.

The older ``v2.0`` media type (JSON patch draft 4: ``{"replace": "/name", "value": ...}``)
is accepted too and turned into this form first (:func:`from_draft4`).
"""
from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Resource
from cascade.images import records
from cascade.images.rowlock import load_for_update, touch

__all__ = ["PATCH_MEDIA_TYPE", "PATCH_MEDIA_TYPE_V20", "PROPERTY_QUOTA", "TAG_QUOTA",
           "Change", "parse_changes", "from_draft4", "apply_patch", "patch_image"]

PATCH_MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"
#: The older dialect (JSON patch draft 4): the operation is the member's name,
#: ``{"replace": "/name", "value": ...}``. Glance still accepts it.
PATCH_MEDIA_TYPE_V20 = "application/openstack-images-v2.0-json-patch"
#: Glance's defaults for image_property_quota and image_tag_quota.
PROPERTY_QUOTA = 128
TAG_QUOTA = 128

_OPS = ("add", "remove", "replace")
#: Names Glance reserves beside the read-only ones (403 "reserved").
_RESERVED = frozenset({"location", "deleted", "deleted_at"})
_RESERVED_PREFIX = "os_glance"
#: Glance refuses to change these once data exists (the replicas were made from them).
_QUEUED_ONLY = frozenset({"disk_format", "container_format"})


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """One validated operation: ``key`` is the decoded (unescaped) pointer segment."""

    op: str
    key: str
    value: Any = None


def _decode_pointer(pointer: Any) -> list[str]:
    """The segments of a JSON pointer, with Glance's checks and messages."""
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise errors.BadRequest(f'Pointer `{pointer}` does not start with "/".')
    if re.search(r"/\s*?/", pointer[1:]):
        raise errors.BadRequest(f'Pointer `{pointer}` contains adjacent "/".')
    if len(pointer) > 1 and pointer.endswith("/"):
        raise errors.BadRequest(f'Pointer `{pointer}` end with "/".')
    if re.search(r"~[^01]", pointer) or pointer.endswith("~"):
        raise errors.BadRequest(f'Pointer `{pointer}` contains "~" not part of a '
                                f'recognized escape sequence.')
    parts = [p.replace("~1", "/").replace("~0", "~").strip() for p in pointer[1:].split("/")]
    if not parts[0]:
        raise errors.BadRequest(f"Pointer `{pointer}` does not contains valid token.")
    return parts


def from_draft4(ops: Any) -> Any:
    """A v2.0 (draft 4) patch in the v2.1 form: ``{"replace": "/x", "value": v}`` ->
    ``{"op": "replace", "path": "/x", "value": v}``; anything not a list of objects
    is left for :func:`parse_changes` to refuse.

    :raises BadRequest: an operation naming no operation, or more than one.
    """
    if not isinstance(ops, list):
        return ops
    out: list[Any] = []
    for raw in ops:
        if not isinstance(raw, dict):
            out.append(raw)
            continue
        named = [op for op in ("replace", "add", "remove") if op in raw]
        if len(named) > 1:
            raise errors.BadRequest('Operation objects must contain only one member named '
                                    '"add", "remove", or "replace".')
        if not named:
            raise errors.BadRequest('Operation objects must contain exactly one member '
                                    'named "add", "remove", or "replace".')
        change = {"op": named[0], "path": raw[named[0]]}
        if "value" in raw:
            change["value"] = raw["value"]
        out.append(change)
    return out


def parse_changes(ops: Any) -> list[Change]:
    """Validate a patch document without touching any image.

    Done before the image is loaded, as Glance does, so a malformed patch is
    a 400 (or a 403 for read-only names) even for an image the caller cannot edit.

    :raises BadRequest: not a list of well-formed operations.
    :raises Forbidden: a read-only or reserved attribute.
    """
    if not isinstance(ops, list):
        raise errors.BadRequest("Request body must be a JSON array of operation objects.")
    available = ", ".join(_OPS)
    changes = []
    for raw in ops:
        if not isinstance(raw, dict):
            raise errors.BadRequest("Operations must be JSON objects.")
        op = raw.get("op")
        if op is None:
            raise errors.BadRequest("Unable to find `op` in JSON Schema change. It must be "
                                    f"one of the following: {available}.")
        if op not in _OPS:
            raise errors.BadRequest(f"Invalid operation: `{op}`. It must be one of the "
                                    f"following: {available}.")
        if "path" not in raw:
            raise errors.BadRequest("Unable to find 'path' in JSON Schema change")
        path = _decode_pointer(raw["path"])
        if len(path) != 1:
            raise errors.BadRequest("Invalid JSON pointer for this resource: "
                                    f"'/{'/'.join(path)}'")
        key = path[0]
        if key in records.READ_ONLY and key != "owner":
            raise errors.Forbidden(f"Attribute '{key}' is read-only.")
        if key in _RESERVED or key.startswith(_RESERVED_PREFIX):
            raise errors.Forbidden(f"Attribute '{key}' is reserved.")
        if op != "remove" and "value" not in raw:
            raise errors.BadRequest(f'Operation "{op}" requires a member named "value".')
        changes.append(Change(op, key, raw.get("value")))
    return changes


def _apply(ctx: RequestContext, status: str, spec: dict[str, Any], change: Change) -> None:
    key = change.key
    props: dict[str, Any] = spec.setdefault("properties", {})
    if key in records.BASE_KEYS:
        if change.op == "remove":
            raise errors.Forbidden(f"Property {key} may not be removed.")
        if key in _QUEUED_ONLY and status != "queued":
            raise errors.Forbidden(f"Attribute {key} can be only replaced for a queued image.")
        if key == "visibility":
            records.check_publicize(ctx, change.value)
        records.set_attribute(spec, key, change.value)
        return
    if change.op == "remove":
        if key not in props:
            raise errors.Conflict(f"Property {key} does not exist.")
        del props[key]
        return
    if change.op == "replace" and key not in props:
        raise errors.Conflict(f"Property {key} does not exist.")
    records.set_attribute(spec, key, change.value)


def _check_quotas(before: dict[str, Any], after: dict[str, Any]) -> None:
    # Only growth is refused, as Glance's quota proxies do: an image already over
    # a lowered quota can still be edited down.
    for what, field, quota in (("properties", "properties", PROPERTY_QUOTA),
                               ("tags", "tags", TAG_QUOTA)):
        count = len(after.get(field) or ())
        if count > quota and count > len(before.get(field) or ()):
            raise errors.RequestTooLarge(
                f"The limit has been exceeded on the number of allowed image {what}. "
                f"Attempted: {count}, Maximum: {quota}")


def apply_patch(ctx: RequestContext, res: Resource, ops: Any) -> None:
    """Apply a v2.1 JSON patch to ``res`` (all or nothing).

    The operations run on a copy of the spec, which replaces ``res.spec`` only
    if every one succeeded: a failing patch leaves the image untouched, as
    Glance's single save at the end does. Members are kept whatever the
    visibility becomes (Glance keeps them; they matter again if it goes back
    to ``shared``).

    :raises BadRequest, Forbidden, Conflict, RequestTooLarge: as Glance answers.
    """
    changes = parse_changes(ops)
    records.editable(ctx, res)
    if not changes:
        return
    before = res.spec or {}
    spec = copy.deepcopy(before)
    owner = res.project_id
    for change in changes:
        if change.key == "owner":
            owner = _new_owner(ctx, change)
            continue
        _apply(ctx, res.status, spec, change)
    _check_quotas(before, spec)
    res.spec = spec
    res.project_id = owner
    touch(res)


def _new_owner(ctx: RequestContext, change: Change) -> str:
    """The owner an admin's patch gives the image (Glance lets only admins).

    :raises Forbidden: not an admin, or an attempt to remove the owner.
    :raises BadRequest: not a project id.
    """
    if not ctx.is_admin:
        raise errors.Forbidden("Owner can't be updated by non admin.")
    if change.op == "remove":
        raise errors.Forbidden("Property owner may not be removed.")
    if not isinstance(change.value, str) or not 0 < len(change.value) <= 255:
        raise errors.BadRequest(f"Invalid owner: {change.value!r}")
    return change.value


async def patch_image(sessions: async_sessionmaker[AsyncSession], ctx: RequestContext,
                      image_id: str, ops: Any) -> dict[str, Any]:
    """Validate ``ops``, then apply them to the image under its row lock.

    :returns: the image as Glance shows it after the patch.
    """
    parse_changes(ops)
    async with sessions.begin() as session:
        res, placements = await load_for_update(session, ctx, image_id)
        apply_patch(ctx, res, ops)
        return records.to_glance(res, placements)
