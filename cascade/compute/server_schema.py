"""Validation of server create requests, before anything is written or forwarded.

Only what Cascade itself relies on is checked here; the region's Nova validates
the rest and its 400 comes back unchanged (the mapping row is then removed).
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from cascade import errors

__all__ = ["validate_create", "validate_subresource", "counts"]

_NETWORK_KEYS = {"uuid", "port", "fixed_ip", "tag"}


def _shown(value: Any, quoted: bool = False) -> str:
    """A JSON value as Nova's schema errors print it (Python's spelling)."""
    return repr(value) if quoted else str(value)


def _bad(message: str) -> errors.BadRequest:
    return errors.BadRequest(f"Invalid input for field/attribute {message}")


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _check_networks(networks: Any) -> None:
    if networks in ("none", "auto"):
        return
    if not isinstance(networks, list):
        raise _bad("networks. Value: must be 'none', 'auto' or a list of networks")
    for net in networks:
        if not isinstance(net, dict) or not set(net) <= _NETWORK_KEYS:
            raise _bad(f"networks. Value: {net!r} is not a valid network request")
        if "uuid" in net and not _is_uuid(net["uuid"]):
            raise errors.BadRequest(f"Bad networks format: network uuid is not in proper "
                                    f"format ({net['uuid']})")
        if "port" in net and net["port"] is not None and not _is_uuid(net["port"]):
            raise _bad(f"port. Value: {net['port']}. {net['port']!r} is not a 'uuid'")


#: Where a create's scheduler hints ride inside the server spec, until the regional
#: create sends them at the top of its body again.
HINTS_KEY = "os:scheduler_hints"


def scheduler_hints(body: dict[str, Any]) -> dict[str, Any]:
    """A create's ``os:scheduler_hints`` (or ``OS-SCH-HNT:scheduler_hints``).

    :raises BadRequest: not an object.
    """
    hints = body.get("os:scheduler_hints", body.get("OS-SCH-HNT:scheduler_hints")) or {}
    if not isinstance(hints, dict):
        raise _bad(f"os:scheduler_hints. Value: {hints}. {hints!r} is not of type 'object'")
    group = hints.get("group")
    if group is not None and not _is_uuid(group):
        raise _bad(f"group. Value: {group}. {group!r} is not a 'uuid'")
    return dict(hints)


def validate_create(body: Any) -> dict[str, Any]:
    """The ``server`` object of a create request, checked.

    :raises BadRequest: in Nova's words, what is wrong.
    """
    if not isinstance(body, dict) or not isinstance(body.get("server"), dict):
        raise errors.BadRequest("Invalid input for field/attribute server. "
                                "Value: missing or not an object")
    server = dict(body["server"])
    name = server.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise _bad("name. Value: must be a non-empty string of at most 255 characters")
    flavor = server.get("flavorRef")
    if not isinstance(flavor, (str, int)) or isinstance(flavor, bool) or str(flavor) == "":
        raise _bad("flavorRef. Value: required")
    image = server.get("imageRef")
    if image is not None and not isinstance(image, str):
        raise _bad(f"imageRef. Value: {image!r}. {image!r} is not of type 'string'")
    if image and not _is_uuid(image):
        raise errors.BadRequest("Invalid imageRef provided.")
    if "networks" in server:
        _check_networks(server["networks"])
    zone = server.get("availability_zone")
    if zone is not None and (not isinstance(zone, str) or not zone):
        raise _bad("availability_zone. Value: must be a non-empty string")
    meta = server.get("metadata", {})
    if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise _bad("metadata. Value: must map strings to strings")
    server["metadata"] = meta
    return server


def counts(server: dict[str, Any]) -> tuple[int, int]:
    """(min_count, max_count) of a create request.

    :raises BadRequest: not positive integers, or min above max.
    """
    low, high = server.get("min_count", 1), server.get("max_count")
    # Nova's schema: an integer, or a string of digits; never a float, a bool or null.
    for key, value in (("min_count", low), ("max_count", high)):
        if value is None and (key == "max_count" and "max_count" not in server):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise _bad(f"{key}. Value: {_shown(value)}. {_shown(value, True)} is not of "
                       "type 'integer', 'string'")
        if isinstance(value, str) and not (value.isdigit() and value.isascii()):
            raise _bad(f"{key}. Value: {value}. {value!r} does not match '^[0-9]*$'")
        if int(value) < 1:
            raise _bad(f"{key}. Value: {value}. {value} is less than the minimum of 1")
    low = int(low)
    high = int(high) if high is not None else low
    if low > high:
        raise errors.BadRequest("min_count must be <= max_count")
    return low, high


#: Nova's metadata key pattern (parameter_types.metadata) and value length.
_META_KEY = re.compile(r"[a-zA-Z0-9-_:. ]{1,255}")
#: Nova's tag rules: no '/' or ',', 1 to 60 characters; at most 50 per server.
_MAX_TAGS = 50


def _metadata_items(items: Any) -> dict[str, str]:
    if not isinstance(items, dict):
        raise _bad("metadata. Value: must be an object")
    for key, value in items.items():
        if not _META_KEY.fullmatch(key):
            raise _bad(f"metadata. Additional properties are not allowed ({key!r} was "
                       "unexpected)")
        if not isinstance(value, str) or len(value) > 255:
            raise _bad(f"metadata. Value: {value!r} is not a string of at most 255 "
                       "characters")
    return items


def validate_subresource(method: str, tail: str, body: Any) -> None:
    """A metadata or tags request body as Nova's schema takes it, checked before
    any region sees it (a body Nova would refuse must be Cascade's 400 too).

    :raises BadRequest: as Nova words it.
    """
    parts = tail.split("/")
    if parts[0] == "metadata" and method in ("PUT", "POST"):
        if len(parts) == 1:
            if not isinstance(body, dict) or set(body) != {"metadata"}:
                raise _bad("metadata. Value: the body must be {\"metadata\": {...}}")
            _metadata_items(body["metadata"])
            return
        if not isinstance(body, dict) or set(body) != {"meta"}:
            raise _bad("meta. Value: the body must be {\"meta\": {...}}")
        items = _metadata_items(body["meta"])
        if len(items) != 1:
            raise errors.BadRequest("Request body contains too many items")
        if parts[1] not in items:
            raise errors.BadRequest("Request body and URI mismatch")
    elif parts[0] == "tags" and method == "PUT":
        if len(parts) == 2:
            tag = parts[1]
            if not 0 < len(tag) <= 60 or "," in tag:
                raise _bad(f"tag. Value: {tag!r} is not a valid tag")
            return
        tags = body.get("tags") if isinstance(body, dict) and set(body) == {"tags"} else None
        if not isinstance(tags, list) or len(tags) > _MAX_TAGS or not all(
                isinstance(t, str) and 0 < len(t) <= 60 and "," not in t and "/" not in t
                for t in tags):
            raise _bad("tags. Value: must be a list of at most 50 tags of 1 to 60 "
                       "characters without '/' or ','")
