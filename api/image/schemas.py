"""GET /v2/schemas/{image,images,member,members}: the JSON schemas Glance publishes.

Clients read these rather than hard-coding the model: glanceclient builds its
``image-create`` options from the image schema and validates every image it
receives against it (``additionalProperties`` must stay ``{"type": "string"}``
or extra properties break), and marks ``readOnly`` attributes as not settable.
So the shapes follow Glance's; the enums come from ``cascade.images.records``
so the schema never promises a format Cascade refuses.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cascade.jsonutil import json_response

from cascade.images import records

__all__ = ["image_schema", "images_schema", "member_schema", "members_schema",
           "show_image_schema", "show_images_schema", "show_member_schema",
           "show_members_schema"]

_UUID = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
         "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$")
#: Every status a Glance image can have (Cascade uses a subset).
_STATUSES = ["queued", "saving", "active", "killed", "deleted", "uploading", "importing",
             "pending_delete", "deactivated"]


def _str(description: str, *, nullable: bool = False, read_only: bool = False,
         **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": ["null", "string"] if nullable else "string",
                           "description": description}
    if read_only:
        out["readOnly"] = True
    out.update(more)
    return out


def _image_properties() -> dict[str, Any]:
    return {
        "id": _str("An identifier for the image", pattern=_UUID),
        "name": _str("Descriptive name for the image", nullable=True, maxLength=255),
        "status": _str("Status of the image", read_only=True, enum=_STATUSES),
        "visibility": _str("Scope of image accessibility", enum=sorted(records.VISIBILITIES)),
        "protected": {"type": "boolean",
                      "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean", "description": "If true, image will not appear "
                                                        "in default image list response."},
        "checksum": _str("md5 hash of image contents.", nullable=True, read_only=True,
                         maxLength=32),
        "os_hash_algo": _str("Algorithm to calculate the os_hash_value", nullable=True,
                             read_only=True, maxLength=64),
        "os_hash_value": _str("Hexdigest of the image contents using the algorithm "
                              "specified by the os_hash_algo", nullable=True,
                              read_only=True, maxLength=128),
        "owner": _str("Owner of the image", nullable=True, maxLength=255),
        "size": {"type": ["null", "integer"], "readOnly": True,
                 "description": "Size of image file in bytes"},
        "virtual_size": {"type": ["null", "integer"], "readOnly": True,
                         "description": "Virtual size of image in bytes"},
        "container_format": _str("Format of the container", nullable=True,
                                 enum=[None, *sorted(records.CONTAINER_FORMATS)]),
        "disk_format": _str("Format of the disk", nullable=True,
                            enum=[None, *sorted(records.DISK_FORMATS)]),
        "created_at": _str("Date and time of image registration", read_only=True),
        "updated_at": _str("Date and time of the last image modification", read_only=True),
        "tags": {"type": "array", "description": "List of strings related to the image",
                 "items": {"type": "string", "maxLength": 255}},
        "direct_url": _str("URL to access the image file kept in external store",
                           read_only=True),
        "min_ram": {"type": "integer",
                    "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer",
                     "description": "Amount of disk space (in GB) required to boot image."},
        "self": _str("An image self url", read_only=True),
        "file": _str("An image file url", read_only=True),
        "stores": _str("Store in which image data resides. Only present when the operator "
                       "has enabled multiple stores. May be a comma-separated list of store "
                       "identifiers.", read_only=True),
        "schema": _str("An image schema url", read_only=True),
        "locations": {
            "type": "array", "description": "A set of URLs to access the image file kept "
                                            "in external store",
            "items": {"type": "object", "required": ["url", "metadata"],
                      "properties": {"url": {"type": "string", "maxLength": 255},
                                     "metadata": {"type": "object"}}}},
        # Glance's stock schema-image.json adds these; glanceclient turns them
        # into image-create options, so they are kept (all plain strings here).
        "architecture": _str("Operating system architecture as specified in "
                             "https://docs.openstack.org/python-glanceclient/latest/cli"
                             "/property-keys.html", nullable=True),
        "instance_uuid": _str("Metadata which can be used to record which instance this "
                              "image is associated with. (Informational only, does not "
                              "create an instance snapshot.)", nullable=True),
        "kernel_id": _str("ID of image stored in Glance that should be used as the kernel "
                          "when booting an AMI-style image.", nullable=True),
        "ramdisk_id": _str("ID of image stored in Glance that should be used as the "
                           "ramdisk when booting an AMI-style image.", nullable=True),
        "os_distro": _str("Common name of operating system distribution as specified in "
                          "https://docs.openstack.org/python-glanceclient/latest/cli"
                          "/property-keys.html", nullable=True),
        "os_version": _str("Operating system version as specified by the distributor.",
                           nullable=True),
        "description": _str("A human-readable string describing this image.",
                            nullable=True),
    }


def image_schema() -> dict[str, Any]:
    """The ``image`` schema: permissive (extra properties are strings)."""
    return {
        "name": "image",
        "properties": _image_properties(),
        "additionalProperties": {"type": "string"},
        "links": [{"rel": "self", "href": "{self}"},
                  {"rel": "enclosure", "href": "{file}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


def member_schema() -> dict[str, Any]:
    """The ``member`` schema: strict (no other attributes)."""
    return {
        "name": "member",
        "properties": {
            "member_id": _str("An identifier for the image member (tenantId)"),
            "image_id": _str("An identifier for the image", pattern=_UUID),
            "created_at": _str("Date and time of image member creation"),
            "updated_at": _str("Date and time of last modification of image member"),
            "status": _str("The status of this image member",
                           enum=["pending", "accepted", "rejected"]),
            "schema": {"readOnly": True, "type": "string"},
        },
        "additionalProperties": False,
    }


def _collection(name: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {name: {"type": "array", "items": item},
                       "first": {"type": "string"}, "next": {"type": "string"},
                       "schema": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"},
                  {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


def images_schema() -> dict[str, Any]:
    """The ``images`` collection schema (an image list page)."""
    return _collection("images", image_schema())


def members_schema() -> dict[str, Any]:
    """The ``members`` collection schema (a member list)."""
    return _collection("members", member_schema())


async def show_image_schema(request: web.Request) -> web.Response:
    """GET /v2/schemas/image."""
    return json_response(image_schema())


async def show_images_schema(request: web.Request) -> web.Response:
    """GET /v2/schemas/images."""
    return json_response(images_schema())


async def show_member_schema(request: web.Request) -> web.Response:
    """GET /v2/schemas/member."""
    return json_response(member_schema())


async def show_members_schema(request: web.Request) -> web.Response:
    """GET /v2/schemas/members."""
    return json_response(members_schema())
