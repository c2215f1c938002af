"""Glance facade periphery on in-memory image rows: PATCH, members, tags, schemas, list rules.

The HTTP handlers over a real database are in test_periphery_http.py.
"""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from multidict import MultiDict

from cascade.api.image import schemas
from cascade.images import members, tags
from cascade.images import query as listing
from cascade.images.patch import apply_patch
from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Resource
from cascade.images import records

OWNER = RequestContext(request_id="req-1", project_id="demo", user_id="u1",
                       roles=("member", "reader"))
ALT = RequestContext(request_id="req-2", project_id="alt", user_id="u2",
                     roles=("member", "reader"))
OTHER = RequestContext(request_id="req-3", project_id="other", user_id="u3")
ADMIN = RequestContext(request_id="req-4", project_id="admin", user_id="a", roles=("admin",))


def image(owner: str = "demo", status: str = "queued", n: int = 0, attrs: Any = None,
          **spec: Any) -> Resource:
    base = {"name": f"img{n}", "visibility": "shared", "protected": False, "os_hidden": False,
            "min_disk": 0, "min_ram": 0, "tags": [], "properties": {},
            "disk_format": "qcow2", "container_format": "bare"}
    stamp = f"2024-01-01T00:00:{n:02d}Z"
    return Resource(global_id=str(uuid.UUID(int=n + 1)), type="image", project_id=owner,
                    status=status, spec={**base, **spec},
                    attrs={"created_at": stamp, "updated_at": stamp, **(attrs or {})})


def fails(exc: type[errors.CascadeError], fn: Any, *args: Any) -> str:
    with pytest.raises(exc) as info:
        fn(*args)
    return info.value.message


# -- PATCH ----------------------------------------------------------------------------

def test_patch_sets_attributes_properties_and_escaped_names() -> None:
    res = image()
    before = res.spec
    apply_patch(OWNER, res, [
        {"op": "replace", "path": "/name", "value": "new"},
        {"op": "add", "path": "/a~1b~0c", "value": "x"},
        {"op": "add", "path": "/min_ram", "value": 512},
        {"op": "replace", "path": "/tags", "value": ["t1", "t2", "t1"]},
        {"op": "replace", "path": "/os_hidden", "value": True}])
    assert res.spec is not before and before["name"] == "img0"
    assert res.spec["name"] == "new" and res.spec["properties"] == {"a/b~c": "x"}
    assert res.spec["min_ram"] == 512 and res.spec["tags"] == ["t1", "t2"]
    assert res.attrs["updated_at"] != "2024-01-01T00:00:00Z"
    # add is "set" in v2.1; replace and remove need the property.
    apply_patch(OWNER, res, [{"op": "add", "path": "/a~1b~0c", "value": "y"},
                             {"op": "replace", "path": "/a~1b~0c", "value": "z"}])
    assert res.spec["properties"] == {"a/b~c": "z"}
    apply_patch(OWNER, res, [{"op": "remove", "path": "/a~1b~0c"}])
    assert res.spec["properties"] == {}


def test_patch_errors_are_glances() -> None:
    res = image(properties={"p": "1"})
    assert fails(errors.Conflict, apply_patch, OWNER, res,
                 [{"op": "remove", "path": "/x"}]) == "Property x does not exist."
    fails(errors.Conflict, apply_patch, OWNER, res, [{"op": "replace", "path": "/x",
                                                      "value": "1"}])
    for path in ("/status", "/size", "/id", "/checksum", "/locations"):
        assert "read-only" in fails(errors.Forbidden, apply_patch, OWNER, res,
                                    [{"op": "replace", "path": path, "value": "v"}])
    # the owner: only an admin changes it, as in Glance
    assert fails(errors.Forbidden, apply_patch, OWNER, res, [
        {"op": "replace", "path": "/owner", "value": "v"}]) == \
        "Owner can't be updated by non admin."
    apply_patch(ADMIN, res, [{"op": "replace", "path": "/owner", "value": "v"}])
    assert res.project_id == "v"
    res.project_id = OWNER.project_id
    assert "reserved" in fails(errors.Forbidden, apply_patch, OWNER, res,
                               [{"op": "add", "path": "/os_glance_x", "value": "v"}])
    assert fails(errors.Forbidden, apply_patch, OWNER, res, [
        {"op": "remove", "path": "/name"}]) == "Property name may not be removed."
    for bad in ({"op": "move", "path": "/name", "value": "n"}, {"path": "/name"},
                {"op": "add", "path": "/name"}, {"op": "add", "value": "n"},
                {"op": "add", "path": "name", "value": "n"},
                {"op": "add", "path": "/a/b", "value": "n"},
                {"op": "add", "path": "/a~2", "value": "n"},
                {"op": "add", "path": "/", "value": "n"},
                {"op": "replace", "path": "/min_ram", "value": -1},
                {"op": "replace", "path": "/protected", "value": "yes"},
                {"op": "replace", "path": "/visibility", "value": "everyone"},
                {"op": "add", "path": "/p", "value": 3}, "op"):
        fails(errors.BadRequest, apply_patch, OWNER, res, [bad])
    fails(errors.BadRequest, apply_patch, OWNER, res, {"op": "add"})
    assert res.spec["properties"] == {"p": "1"}


def test_patch_is_all_or_nothing() -> None:
    res = image()
    fails(errors.Conflict, apply_patch, OWNER, res, [
        {"op": "replace", "path": "/name", "value": "changed"},
        {"op": "remove", "path": "/nope"}])
    assert res.spec["name"] == "img0" and res.attrs["updated_at"] == "2024-01-01T00:00:00Z"


def test_patch_ownership_publicize_and_queued_only_formats() -> None:
    res = image()
    op = [{"op": "replace", "path": "/name", "value": "n"}]
    fails(errors.Forbidden, apply_patch, ALT, res, op)
    apply_patch(ADMIN, res, op)
    assert "publicize_image" in fails(errors.Forbidden, apply_patch, OWNER, res, [
        {"op": "replace", "path": "/visibility", "value": "public"}])
    apply_patch(ADMIN, res, [{"op": "replace", "path": "/visibility", "value": "public"}])
    apply_patch(OWNER, res, [{"op": "replace", "path": "/disk_format", "value": "raw"}])
    active = image(status="active")
    for key in ("disk_format", "container_format"):
        assert "queued" in fails(errors.Forbidden, apply_patch, OWNER, active, [
            {"op": "replace", "path": f"/{key}", "value": "ami"}])
    fails(errors.BadRequest, apply_patch, OWNER, res, [
        {"op": "replace", "path": "/disk_format", "value": "exe"}])


def test_patch_visibility_keeps_members_and_quota_stops_growth() -> None:
    res = image(attrs={"members": {"alt": {"status": "accepted"}}})
    apply_patch(OWNER, res, [{"op": "replace", "path": "/visibility", "value": "private"}])
    apply_patch(OWNER, res, [{"op": "replace", "path": "/visibility", "value": "shared"}])
    assert res.attrs["members"] == {"alt": {"status": "accepted"}}
    many = [{"op": "add", "path": f"/p{i}", "value": "v"} for i in range(129)]
    fails(errors.RequestTooLarge, apply_patch, OWNER, res, many)
    fails(errors.RequestTooLarge, apply_patch, OWNER, res, [
        {"op": "replace", "path": "/tags", "value": [str(i) for i in range(129)]}])


# -- members --------------------------------------------------------------------------

def test_members_owner_adds_member_accepts_owner_removes() -> None:
    res = image()
    view = members.add_member(OWNER, res, "alt")
    assert view["status"] == "pending" and view["schema"] == "/v2/schemas/member"
    assert set(view) == {"image_id", "member_id", "status", "created_at", "updated_at",
                         "schema"}
    members.add_member(OWNER, res, "other")
    fails(errors.Conflict, members.add_member, OWNER, res, "alt")
    fails(errors.Forbidden, members.add_member, ALT, res, "third")
    assert [m["member_id"] for m in members.members_seen_by(OWNER, res)] == ["alt", "other"]
    assert [m["member_id"] for m in members.members_seen_by(ALT, res)] == ["alt"]
    fails(errors.NotFound, members.find_member, ALT, res, "other")
    assert members.change_status(ALT, res, "alt", "accepted")["status"] == "accepted"
    fails(errors.Forbidden, members.change_status, OWNER, res, "alt", "rejected")
    fails(errors.BadRequest, members.change_status, ALT, res, "alt", "maybe")
    fails(errors.NotFound, members.change_status, ALT, res, "other", "accepted")
    fails(errors.Forbidden, members.remove_member, ALT, res, "alt")
    members.remove_member(OWNER, res, "alt")
    fails(errors.NotFound, members.remove_member, OWNER, res, "alt")
    assert list(res.attrs["members"]) == ["other"]


def test_only_shared_images_have_members() -> None:
    for vis in ("private", "public", "community"):
        res = image(visibility=vis)
        msg = fails(errors.Forbidden, members.add_member, OWNER, res, "alt")
        assert msg == "Only shared images have members."
        fails(errors.Forbidden, members.members_seen_by, OWNER, res)


# -- tags -----------------------------------------------------------------------------

def test_tags_add_is_idempotent_and_remove_needs_the_tag() -> None:
    res = image(tags=["a"])
    tags.add_tag(OWNER, res, "b")
    tags.add_tag(OWNER, res, "b")
    assert res.spec["tags"] == ["a", "b"]
    fails(errors.Forbidden, tags.add_tag, ALT, res, "c")
    fails(errors.BadRequest, tags.add_tag, OWNER, res, "x" * 256)
    tags.remove_tag(OWNER, res, "a")
    assert res.spec["tags"] == ["b"]
    fails(errors.NotFound, tags.remove_tag, OWNER, res, "a")
    fails(errors.RequestTooLarge, tags.add_tag, OWNER,
          image(tags=[str(i) for i in range(128)]), "one-more")


# -- schemas --------------------------------------------------------------------------

def test_schemas_have_glances_shapes() -> None:
    img = schemas.image_schema()
    assert img["name"] == "image" and img["additionalProperties"] == {"type": "string"}
    props = img["properties"]
    assert set(props["disk_format"]["enum"]) == records.DISK_FORMATS | {None}
    assert set(props["container_format"]["enum"]) == records.CONTAINER_FORMATS | {None}
    assert set(props["visibility"]["enum"]) == records.VISIBILITIES
    assert props["status"]["readOnly"] is True and props["min_ram"]["type"] == "integer"
    # Every attribute Cascade renders is described (glanceclient validates images).
    shown = records.to_glance(image(), [])
    assert set(shown) - {"stores"} <= set(props)
    imgs = schemas.images_schema()
    assert imgs["properties"]["images"]["items"] == img
    assert [link["rel"] for link in imgs["links"]] == ["first", "next", "describedby"]
    member = schemas.member_schema()
    assert member["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    assert schemas.members_schema()["properties"]["members"]["items"] == member


# -- listing --------------------------------------------------------------------------

def catalog() -> list[Any]:
    rows = [
        image("demo", n=0, visibility="private", name="mine", size=10),
        image("demo", n=1, visibility="community", name="my-community"),
        image("alt", n=2, visibility="public", name="pub", tags=["x", "y"], size=30),
        image("alt", n=3, visibility="community", name="comm", properties={"os": "linux"}),
        image("alt", n=4, visibility="shared", name="sh-ok",
              attrs={"members": {"demo": {"status": "accepted"}}}),
        image("alt", n=5, visibility="shared", name="sh-pending",
              attrs={"members": {"demo": {"status": "pending"}}}),
        image("alt", n=6, visibility="private", name="theirs"),
        image("demo", n=7, visibility="public", name="hidden", os_hidden=True,
              status="active", container_format="ova"),
    ]
    for i, res in enumerate(rows):
        res.attrs = {**res.attrs, "size": res.spec.pop("size", None) or i}
    return [(r, []) for r in rows]


def names(ctx: RequestContext, query: Any = (), rows: Any = None) -> list[str]:
    page, _ = listing.filter_sort_page(ctx, rows or catalog(), MultiDict(query))
    return [i["name"] for i in page]


def test_list_visibility_rules() -> None:
    assert names(OWNER) == ["sh-ok", "pub", "my-community", "mine"]
    assert names(OWNER, {"visibility": "community"}) == ["comm", "my-community"]
    assert names(OWNER, {"visibility": "all"}) == ["sh-ok", "comm", "pub", "my-community",
                                                   "mine"]
    assert names(OWNER, {"visibility": "shared", "member_status": "pending"}) == [
        "sh-pending"]
    assert names(OWNER, {"visibility": "shared", "member_status": "all"}) == [
        "sh-pending", "sh-ok"]
    assert names(OTHER) == ["pub"]
    # Admins see everything but others' community images, unless they ask.
    assert names(ADMIN) == ["theirs", "sh-pending", "sh-ok", "pub", "mine"]
    assert names(OWNER, {"os_hidden": "true"}) == ["hidden"]
    for bad in ({"visibility": "nobody"}, {"member_status": "maybe"},
                {"os_hidden": "yes"}, {"protected": "1"}, {"changes-since": "x"}):
        fails(errors.BadRequest, names, OWNER, bad)


def test_list_filters() -> None:
    assert names(OWNER, {"name": "pub"}) == ["pub"]
    assert names(OWNER, {"name": 'in:mine,"pub"'}) == ["pub", "mine"]
    ids = ",".join(str(uuid.UUID(int=n)) for n in (1, 3))
    assert names(OWNER, {"id": f"in:{ids}"}) == ["pub", "mine"]
    assert names(OWNER, {"owner": "alt"}) == ["sh-ok", "pub"]
    assert names(OWNER, [("tag", "x"), ("tag", "y")]) == ["pub"]
    assert names(OWNER, [("tag", "x"), ("tag", "z")]) == []
    assert names(OWNER, {"size_min": "10", "size_max": "30"}) == ["pub", "mine"]
    assert names(OWNER, {"os": "linux", "visibility": "all"}) == ["comm"]
    assert names(OWNER, {"status": "active", "os_hidden": "true",
                         "container_format": "ova", "disk_format": "qcow2"}) == ["hidden"]
    assert names(OWNER, {"created_at": "gte:2024-01-01T00:00:02Z"}) == ["sh-ok", "pub"]
    assert names(OWNER, {"protected": "false"}) == names(OWNER)
    assert names(OWNER, {"name": "in:"}) == []
    for bad in ({"size_min": "big"}, {"created_at": "gte:yesterday"},
                {"created_at": "near:2024-01-01T00:00:00Z"}, {"name": 'in:"open'},
                {"name": 'in:"a"b'}, {"name": 'in:a"b"'}):
        fails(errors.BadRequest, names, OWNER, bad)


def test_list_sorting() -> None:
    assert names(OWNER, {"sort_key": "name", "sort_dir": "asc"}) == [
        "mine", "my-community", "pub", "sh-ok"]
    assert names(OWNER, {"sort": "size:asc,name"}) == ["my-community", "sh-ok", "mine",
                                                       "pub"]
    assert names(OWNER, [("sort_key", "status"), ("sort_key", "name"), ("sort_dir", "desc"),
                         ("sort_dir", "asc")]) == ["mine", "my-community", "pub", "sh-ok"]
    assert names(OWNER, {"sort_key": "created_at", "sort_dir": "asc"}) == [
        "mine", "my-community", "pub", "sh-ok"]
    for bad in ({"sort_key": "owner"}, {"sort_dir": "up"}, {"sort": "name:up"},
                {"sort": "name", "sort_key": "name"},
                [("sort_key", "name"), ("sort_dir", "asc"), ("sort_dir", "desc"),
                 ("sort_dir", "asc")]):
        fails(errors.BadRequest, names, OWNER, bad)


def test_list_paging() -> None:
    rows = [(image("demo", n=n), []) for n in range(30)]
    page, marker = listing.filter_sort_page(OWNER, rows, MultiDict())
    assert len(page) == 25 and marker == page[-1]["id"]
    page2, marker2 = listing.filter_sort_page(OWNER, rows, MultiDict(marker=marker))
    assert len(page2) == 5 and marker2 is None
    assert {i["id"] for i in page} | {i["id"] for i in page2} == {r.global_id for r, _ in rows}
    page, marker = listing.filter_sort_page(OWNER, rows, MultiDict(limit="30"))
    assert len(page) == 30 and marker is None
    page, marker = listing.filter_sort_page(OWNER, rows, MultiDict(limit="0"))
    assert page == [] and marker is None
    assert len(listing.filter_sort_page(OWNER, rows * 40, MultiDict(limit="5000"))[0]) == 1000
    # A marker filtered out still positions the page (Glance pages by sort values).
    page, _ = listing.filter_sort_page(
        OWNER, rows, MultiDict(marker=rows[10][0].global_id, name="img3"))
    assert [i["name"] for i in page] == ["img3"]
    theirs = image("alt", n=99, visibility="private")
    for bad in ({"limit": "ten"}, {"limit": "-1"}, {"marker": "nope"},
                {"marker": theirs.global_id}):
        fails(errors.BadRequest, listing.filter_sort_page, OWNER, rows + [(theirs, [])],
              MultiDict(bad))
