"""Which regional object a notification is about, read from its event type and payload.

A notification only says *that* something changed; Cascade refreshes the object
from the region's API rather than trusting the payload, so all that is kept is
the region, the kind of object, its regional id and the event type.

What each service sends (the payload is the notification's ``payload``):

- Nova, versioned (``[notifications] notification_format = versioned``):
  ``instance.update``, ``instance.power_off.end``... with the instance in
  ``nova_object.data``, its id in ``uuid``.
- Nova, legacy: ``compute.instance.update``... with ``instance_id``.
- Neutron: ``<resource>.<action>.end`` from its API layer. ``create.end`` and
  ``update.end`` carry ``{"port": {...}}`` (a bulk create ``{"ports": [...]}``),
  ``delete.end`` also ``port_id``. The ``.start`` events come before the change
  (and a create's has no id yet), so they are ignored.
- Glance: ``image.create``, ``image.update``, ``image.upload``, ``image.activate``,
  ``image.delete``... with the image's ``id``; ``image.member.*`` with ``image_id``.
  ``image.send`` (a download) changes nothing and is ignored.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from cascade.typedefs import LocalId, RegionName

__all__ = ["Change", "parse", "SERVER", "IMAGE", "NEUTRON_KINDS"]

SERVER = "server"
IMAGE = "image"

#: Neutron resource (as named in its event types) -> its collection key, for
#: the Cascade kinds of the same name.
NEUTRON_KINDS = {
    "network": "networks",
    "subnet": "subnets",
    "port": "ports",
    "security_group": "security_groups",
    "security_group_rule": "security_group_rules",
}

#: Events that change nothing Cascade shows: Nova's periodic usage audit and
#: Glance's image download.
_IGNORED = frozenset({"instance.exists", "compute.instance.exists", "image.send"})


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """Object ``local_id`` of ``kind`` changed in ``region`` (``event_type`` says how)."""

    region: RegionName
    #: Cascade's resource type: server, port, network, subnet, security_group,
    #: security_group_rule or image.
    kind: str
    local_id: LocalId
    event_type: str

    @property
    def key(self) -> tuple[str, str, str]:
        """Which object: changes with the same key are refreshed once."""
        return (self.region, self.kind, self.local_id)


def parse(region: RegionName, event_type: str, payload: Any) -> list[Change]:
    """The objects a notification is about; empty for anything Cascade does not track.

    Never raises: a payload of an unexpected shape is simply not about anything.
    """
    if not isinstance(event_type, str) or not isinstance(payload, dict) \
            or event_type in _IGNORED:
        return []
    kind, ids = _objects(event_type, payload)
    return [Change(region, kind, LocalId(i), event_type)
            for i in dict.fromkeys(ids) if isinstance(i, str) and i]


def _objects(event_type: str, payload: dict[str, Any]) -> tuple[str, list[Any]]:
    if event_type.startswith("instance."):
        data = payload.get("nova_object.data")
        return SERVER, [data.get("uuid")] if isinstance(data, dict) else []
    if event_type.startswith("compute.instance."):
        return SERVER, [payload.get("instance_id")]
    if event_type.startswith("image.member."):
        return IMAGE, [payload.get("image_id")]
    if event_type.startswith("image."):
        return IMAGE, [payload.get("id")]
    resource, _, phase = event_type.partition(".")
    if resource in NEUTRON_KINDS and phase.endswith(".end"):
        return resource, _neutron_ids(resource, payload)
    return "", []


def _neutron_ids(resource: str, payload: dict[str, Any]) -> list[Any]:
    ids = [payload.get(f"{resource}_id")]
    one = payload.get(resource)
    if isinstance(one, dict):
        ids.append(one.get("id"))
    many = payload.get(NEUTRON_KINDS[resource])
    if isinstance(many, list):
        ids.extend(item.get("id") for item in many if isinstance(item, dict))
    return ids
