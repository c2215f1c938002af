"""Image members (sharing): /v2/images/{image_id}/members[/{member_id}].

Members live in the image row (``attrs["members"]``: project -> status and
timestamps), so sharing needs no table and replicates with the image. The
rules are Glance's: only ``shared`` images have members; the owner (or an
admin) adds and removes them; a member changes only its own status; the owner
sees every member, a member only itself, anyone else gets 404 (the image is
invisible to them). Adding a member does not change the image's
``updated_at``, as in Glance where members are rows of their own.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Resource
from cascade.images import records, store
from cascade.images.rowlock import load_for_update

__all__ = ["MEMBER_STATUSES", "MEMBER_QUOTA", "member_view", "members_seen_by",
           "find_member", "add_member", "change_status", "remove_member", "list_for",
           "show_for", "add", "update", "remove"]

MEMBER_STATUSES = ("pending", "accepted", "rejected")
#: Glance's image_member_quota default.
MEMBER_QUOTA = 128


def member_view(image_id: str, member_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """One membership as Glance shows it."""
    return {"image_id": image_id, "member_id": member_id, "status": record.get("status"),
            "created_at": record.get("created_at"), "updated_at": record.get("updated_at"),
            "schema": "/v2/schemas/member"}


def _members(res: Resource) -> dict[str, dict[str, Any]]:
    # A copy: callers assign a new dict so the JSON column change is seen.
    return {k: dict(v) for k, v in ((res.attrs or {}).get("members") or {}).items()}


def _store(res: Resource, members: dict[str, dict[str, Any]]) -> None:
    res.attrs = {**(res.attrs or {}), "members": members}


def _require_shared(res: Resource) -> None:
    if res.spec.get("visibility", "shared") != "shared":
        raise errors.Forbidden("Only shared images have members.")


def _owns(ctx: RequestContext, res: Resource) -> bool:
    return ctx.is_admin or res.project_id == ctx.project_id


def members_seen_by(ctx: RequestContext, res: Resource) -> list[dict[str, Any]]:
    """The memberships the caller may see: all for the owner, its own for a member.

    :raises Forbidden: the image is not shared.
    """
    _require_shared(res)
    members = _members(res)
    if not _owns(ctx, res):
        members = {k: v for k, v in members.items() if k == ctx.project_id}
    return [member_view(res.global_id, m, r) for m, r in sorted(members.items())]


def find_member(ctx: RequestContext, res: Resource, member_id: str) -> dict[str, Any]:
    """One membership the caller may see.

    :raises Forbidden: the image is not shared.
    :raises NotFound: no such member, or another project's membership.
    """
    _require_shared(res)
    record = _members(res).get(member_id)
    if record is None or not (_owns(ctx, res) or member_id == ctx.project_id):
        raise errors.NotFound(
            f"{member_id} not found in the member list of the image {res.global_id}.")
    return member_view(res.global_id, member_id, record)


def add_member(ctx: RequestContext, res: Resource, member_id: str) -> dict[str, Any]:
    """Share the image with a project (status ``pending`` until it accepts).

    :raises Forbidden: not shared, or the caller is not the owner.
    :raises Conflict: already a member.
    :raises RequestTooLarge: the member quota is reached.
    """
    _require_shared(res)
    if not _owns(ctx, res):
        raise errors.Forbidden(f"Not allowed to create members for image {res.global_id}.")
    members = _members(res)
    if member_id in members:
        raise errors.Conflict(f"Member {member_id} is duplicated for image {res.global_id}")
    if len(members) >= MEMBER_QUOTA:
        raise errors.RequestTooLarge(
            f"Image member limit exceeded for image {res.global_id}: The limit has been "
            f"exceeded on the number of allowed image members for this image. "
            f"Attempted: {len(members) + 1}, Maximum: {MEMBER_QUOTA}")
    stamp = records.now()
    members[member_id] = {"status": "pending", "created_at": stamp, "updated_at": stamp}
    _store(res, members)
    return member_view(res.global_id, member_id, members[member_id])


def change_status(ctx: RequestContext, res: Resource, member_id: str,
                  status: Any) -> dict[str, Any]:
    """A member accepts, rejects or resets its own membership.

    :raises Forbidden: not shared, or the caller is not that member (the owner
        cannot accept on a member's behalf; admins can).
    :raises NotFound: no such membership visible to the caller.
    :raises BadRequest: not one of pending, accepted, rejected.
    """
    find_member(ctx, res, member_id)
    if not ctx.is_admin and ctx.project_id != member_id:
        raise errors.Forbidden(f"Not allowed to update members for image {res.global_id}.")
    if status not in MEMBER_STATUSES:
        raise errors.BadRequest('Incorrect request: Status must be "pending", "accepted" '
                                'or "rejected".')
    members = _members(res)
    members[member_id] = {**members[member_id], "status": status,
                          "updated_at": records.now()}
    _store(res, members)
    return member_view(res.global_id, member_id, members[member_id])


def remove_member(ctx: RequestContext, res: Resource, member_id: str) -> None:
    """Stop sharing with a project (owner only; a member cannot leave by itself).

    :raises Forbidden: not shared, or the caller is not the owner.
    :raises NotFound: no such membership visible to the caller.
    """
    find_member(ctx, res, member_id)
    if not _owns(ctx, res):
        raise errors.Forbidden(f"Not allowed to delete members for image {res.global_id}.")
    members = _members(res)
    del members[member_id]
    _store(res, members)


Sessions = async_sessionmaker[AsyncSession]


async def list_for(sessions: Sessions, ctx: RequestContext, image_id: str
                   ) -> list[dict[str, Any]]:
    """The members the caller may see of an image it can see."""
    async with sessions() as session:
        res, _ = await store.get_visible(session, ctx, image_id)
    return members_seen_by(ctx, res)


async def show_for(sessions: Sessions, ctx: RequestContext, image_id: str,
                   member_id: str) -> dict[str, Any]:
    """One member; Glance answers 404 rather than 403 here, not to reveal anything."""
    async with sessions() as session:
        res, _ = await store.get_visible(session, ctx, image_id)
    try:
        return find_member(ctx, res, member_id)
    except errors.Forbidden as exc:
        raise errors.NotFound(exc.message) from None


async def add(sessions: Sessions, ctx: RequestContext, image_id: str,
              member_id: Any) -> dict[str, Any]:
    """:raises BadRequest: an empty or over-long member id."""
    if not member_id:
        raise errors.BadRequest("Member can't be empty")
    if not isinstance(member_id, str) or len(member_id) > 255:
        raise errors.BadRequest("Member must be a project id of at most 255 characters")
    async with sessions.begin() as session:
        res, _ = await load_for_update(session, ctx, image_id)
        return add_member(ctx, res, member_id)


async def update(sessions: Sessions, ctx: RequestContext, image_id: str, member_id: str,
                 status: Any) -> dict[str, Any]:
    async with sessions.begin() as session:
        res, _ = await load_for_update(session, ctx, image_id)
        return change_status(ctx, res, member_id, status)


async def remove(sessions: Sessions, ctx: RequestContext, image_id: str,
                 member_id: str) -> None:
    async with sessions.begin() as session:
        res, _ = await load_for_update(session, ctx, image_id)
        remove_member(ctx, res, member_id)
