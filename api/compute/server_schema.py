"""Validation of server create requests, before anything is written or forwarded.

Only what Cascade itself relies on is checked here; the region's Nova validates
the rest and its 400 comes back unchanged (the mapping row is then removed).
"""
from __future__ import annotations

import uuid
from typing import Any

from cascade import errors

__all__ = ["validate_create"]

_NETWORK_KEYS = {"uuid", "port", "fixed_ip", "tag"}


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
    # Nova's schema: an integer, or a string of digits; never a float or a bool.
    for value in (low, high):
        if value is None:
            continue
        if isinstance(value, bool) or not (
                isinstance(value, int) or (isinstance(value, str) and value.isdigit()
                                           and value.isascii())):
            raise _bad("min_count/max_count. Value: must be integers")
    low = int(low)
    high = int(high) if high is not None else low
    if low < 1 or high < 1:
        raise _bad("min_count/max_count. Value: must be at least 1")
    if low > high:
        raise errors.BadRequest("min_count must be <= max_count")
    return low, high
