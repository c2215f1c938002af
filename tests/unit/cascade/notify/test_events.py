"""Notifications are reduced to the object they are about; everything else is ignored.

The EXAMPLE payloads are written from the services' notification references
(trimmed to the fields that matter and a few around them).
"""
from __future__ import annotations

from typing import Any

import pytest

from cascade.notify.events import Change, parse
from cascade.typedefs import LocalId, RegionName

R1 = RegionName("RegionOne")
UUID = "0b5a3cf6-8a3e-4f3c-9b1e-2d9b5a1f4c77"
OTHER = "7f1f5d1e-3b0c-4a55-8f23-5f6a2b0e9d11"

#: Nova versioned instance.power_off.end (InstanceActionPayload).
NOVA_VERSIONED: dict[str, Any] = {
    "nova_object.name": "InstanceActionPayload",
    "nova_object.namespace": "nova",
    "nova_object.version": "1.8",
    "nova_object.data": {
        "uuid": UUID, "host": "r1-compute", "state": "stopped", "power_state": "shutdown",
        "task_state": None, "tenant_id": "6f70656e737461636b20342065766572",
    },
}

#: Nova legacy compute.instance.update.
NOVA_LEGACY = {"instance_id": UUID, "state": "active", "old_state": "building",
               "tenant_id": "6f70656e737461636b20342065766572"}

NEUTRON_PORT = {"id": UUID, "network_id": OTHER, "status": "ACTIVE",
                "device_owner": "compute:nova", "fixed_ips": []}

#: Glance image.activate (and image.update, image.upload...).
GLANCE_IMAGE = {"id": UUID, "name": "cirros", "status": "active", "owner": "p1",
                "visibility": "public", "size": 1048576, "properties": {}, "tags": []}

GLANCE_MEMBER = {"image_id": UUID, "member_id": "p2", "status": "pending"}


def one(kind: str, event_type: str, local_id: str = UUID) -> list[Change]:
    return [Change(R1, kind, LocalId(local_id), event_type)]


@pytest.mark.parametrize("event_type", [
    "instance.update", "instance.power_off.end", "instance.power_off.start",
    "instance.delete.end", "instance.create.error"])
def test_nova_versioned_instance_events(event_type: str) -> None:
    assert parse(R1, event_type, NOVA_VERSIONED) == one("server", event_type)


def test_nova_legacy_instance_events() -> None:
    assert parse(R1, "compute.instance.update", NOVA_LEGACY) == one(
        "server", "compute.instance.update")


@pytest.mark.parametrize("event_type,payload", [
    ("port.create.end", {"port": NEUTRON_PORT}),
    ("port.update.end", {"port": NEUTRON_PORT}),
    ("port.delete.end", {"port_id": UUID, "port": NEUTRON_PORT}),
])
def test_neutron_port_events(event_type: str, payload: dict[str, Any]) -> None:
    assert parse(R1, event_type, payload) == one("port", event_type)


@pytest.mark.parametrize("kind", ["network", "subnet", "security_group",
                                  "security_group_rule"])
def test_other_neutron_kinds(kind: str) -> None:
    assert parse(R1, f"{kind}.update.end", {kind: {"id": UUID}}) == one(
        kind, f"{kind}.update.end")
    assert parse(R1, f"{kind}.delete.end", {f"{kind}_id": UUID}) == one(
        kind, f"{kind}.delete.end")


def test_neutron_bulk_create_names_every_object() -> None:
    changes = parse(R1, "port.create.end", {"ports": [{"id": UUID}, {"id": OTHER}]})
    assert [c.local_id for c in changes] == [UUID, OTHER]


def test_neutron_start_events_come_before_the_change() -> None:
    assert parse(R1, "port.update.start", {"id": UUID, "port": {"name": "x"}}) == []
    assert parse(R1, "port.create.start", {"port": {"name": "x"}}) == []
    assert parse(R1, "port.delete.start", {"port_id": UUID}) == []


@pytest.mark.parametrize("event_type", ["image.create", "image.update", "image.upload",
                                        "image.activate", "image.delete"])
def test_glance_image_events(event_type: str) -> None:
    assert parse(R1, event_type, GLANCE_IMAGE) == one("image", event_type)


def test_glance_member_events_name_the_image() -> None:
    assert parse(R1, "image.member.create", GLANCE_MEMBER) == one(
        "image", "image.member.create")


@pytest.mark.parametrize("event_type,payload", [
    ("image.send", {"image_id": UUID, "bytes_sent": 10}),       # a download
    ("instance.exists", NOVA_VERSIONED),                         # periodic audit
    ("compute.instance.exists", NOVA_LEGACY),
    ("router.update.end", {"router": {"id": UUID}}),             # not a Cascade kind
    ("aggregate.create.end", {"nova_object.data": {"uuid": UUID}}),
    ("task.run", {"id": UUID}),
    ("instance.update", {"nova_object.data": "garbage"}),         # malformed
    ("instance.update", {}),
    ("port.update.end", {"port": {"id": None}}),
    ("port.update.end", {"ports": ["not-a-dict"]}),
    ("image.update", {"id": 42}),
])
def test_what_is_not_about_a_tracked_object(event_type: str, payload: Any) -> None:
    assert parse(R1, event_type, payload) == []


def test_payloads_that_are_not_objects() -> None:
    assert parse(R1, "instance.update", None) == []
    assert parse(R1, "instance.update", "text") == []
    assert parse(R1, None, NOVA_VERSIONED) == []  # type: ignore[arg-type]


def test_key_names_the_object() -> None:
    a, = parse(R1, "instance.update", NOVA_VERSIONED)
    b, = parse(R1, "instance.power_off.end", NOVA_VERSIONED)
    assert a.key == b.key == ("RegionOne", "server", UUID)
