"""Network objects in Cascade's database: one resource row each, placements per region.

A row's ``attrs`` hold the object as Neutron shows it, with global ids; what
depends on other rows (a network's subnets and zones, a group's rules) is
added when the view is built. Every function takes the caller's session.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Iterable, Sequence

from sqlalchemy import and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cascade.context import RequestContext
from cascade.db.models import Placement, Resource
from cascade.listing.narrow import Narrow
from cascade.networks import faults

__all__ = ["NETWORK", "SUBNET", "PORT", "SECURITY_GROUP", "RULE", "COLLECTION", "TAG_PREFIX",
           "tag_for", "global_of_tag", "now", "visible", "get", "get_for_update",
           "placements", "of_types", "children", "placement_in", "derived_id",
           "OWNER_TAG_PREFIX", "owner_of_tags", "ROUTER", "FLOATINGIP", "CASCADE_PROJECT"]

NETWORK = "network"
SUBNET = "subnet"
PORT = "port"
SECURITY_GROUP = "security_group"
RULE = "security_group_rule"
ROUTER = "router"
FLOATINGIP = "floatingip"
COLLECTION = {NETWORK: "networks", SUBNET: "subnets", PORT: "ports",
              SECURITY_GROUP: "security_groups", RULE: "security_group_rules",
              ROUTER: "routers", FLOATINGIP: "floatingips"}
#: Owner of Cascade's own network objects (projects' bridge networks): no
#: tenant's project, so no tenant ever sees them.
CASCADE_PROJECT = "cascade"
#: Regional objects Cascade made carry this tag followed by their global id.
TAG_PREFIX = "cascade:"
#: ... and this one, naming the Cascade deployment that made them.
OWNER_TAG_PREFIX = "cascade-owner:"
_NAMESPACE = uuid.UUID("0b8f5a8e-7d7e-4f53-9b1c-6a2f1d1e9c42")


def tag_for(global_id: str) -> str:
    return TAG_PREFIX + global_id


def global_of_tag(tags: Iterable[str]) -> str | None:
    """The global id a regional object's tags name, if Cascade made it."""
    for tag in tags or ():
        if tag.startswith(TAG_PREFIX):
            return tag[len(TAG_PREFIX):]
    return None


def owner_of_tags(tags: Iterable[str]) -> str | None:
    """The deployment a regional object's tags name."""
    for tag in tags or ():
        if tag.startswith(OWNER_TAG_PREFIX):
            return tag[len(OWNER_TAG_PREFIX):]
    return None


def derived_id(*parts: str) -> str:
    """A stable global id derived from ``parts`` (default groups, adopted ports)."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def visible(ctx: RequestContext, res: Resource) -> bool:
    """Own objects, shared networks (and their subnets); admins see everything."""
    if ctx.is_admin or res.project_id == ctx.project_id:
        return True
    if res.type == NETWORK:
        return bool(res.attrs.get("shared") or res.attrs.get("router:external"))
    return bool(res.type == SUBNET and (res.attrs.get("shared")
                                        or res.attrs.get("router:external")))


async def get(session: AsyncSession, ctx: RequestContext | None, type_: str,
              global_id: str) -> Resource:
    """The object if the caller (None: Cascade) may see it.

    :raises NotFound: in Neutron's words (``NetworkNotFound``...).
    """
    res = await session.get(Resource, global_id)
    if res is None or res.type != type_ or (ctx is not None and not visible(ctx, res)):
        raise faults.not_found(type_, global_id)
    if ctx is not None and res.attrs.get("released_by"):
        # A router interface's port removed with its interface: deleted, as in
        # Neutron, while its regional copies are being removed.
        raise faults.not_found(type_, global_id)
    return res


async def get_for_update(session: AsyncSession, ctx: RequestContext | None, type_: str,
                         global_id: str) -> Resource:
    """Like :func:`get`, with the row locked until the transaction ends.

    Call inside ``sessions.begin()``; a read-modify-write of ``attrs`` then
    never loses a concurrent change.
    """
    conn = await session.connection()
    if conn.dialect.name == "sqlite":
        # SQLite has no row locks: a no-op write takes the database write lock.
        await session.execute(text("UPDATE resources SET global_id = global_id "
                                   "WHERE global_id = :id"), {"id": global_id})
    else:
        await session.execute(select(Resource.global_id)
                              .where(Resource.global_id == global_id).with_for_update())
    res = await get(session, ctx, type_, global_id)
    await session.refresh(res)
    return res


async def placements(session: AsyncSession, global_ids: Iterable[str]
                     ) -> dict[str, dict[str, Placement]]:
    """global id -> region -> placement."""
    ids = list(global_ids)
    out: dict[str, dict[str, Placement]] = {i: {} for i in ids}
    if not ids:
        return out
    rows = await session.scalars(select(Placement).where(Placement.global_id.in_(ids)))
    for pl in rows.all():
        out[pl.global_id][pl.region] = pl
    return out


async def placement_in(session: AsyncSession, global_id: str, region: str) -> Placement | None:
    return (await session.scalars(select(Placement).where(
        Placement.global_id == global_id, Placement.region == region))).first()


async def of_types(session: AsyncSession, ctx: RequestContext | None,
                   types: Sequence[str], narrow: Narrow | None = None) -> list[Resource]:
    """Every object of ``types`` the caller may see (None: all), within ``narrow``.

    In SQL, by index: the caller's project's rows, shared networks and their
    subnets; another project's private rows are never read.
    """
    narrow = narrow or Narrow()
    of_type = Resource.type.in_(list(types))
    if ctx is None or ctx.is_admin:
        stmt = narrow.apply(select(Resource).where(of_type))
        return list((await session.scalars(stmt)).all())
    # NOTE: each branch carries its own index's columns: PostgreSQL then ORs
    # index scans (one type test around the OR made it scan, 4x slower).
    scope = [and_(of_type, Resource.project_id == ctx.project_id)]
    if NETWORK in types:
        scope.append(and_(Resource.type == NETWORK, Resource.beyond_project.is_(True)))
    if SUBNET in types:
        shared = select(Resource.global_id).where(Resource.type == NETWORK,
                                                  Resource.beyond_project.is_(True))
        scope.append(and_(Resource.type == SUBNET, Resource.parent_id.in_(shared)))
    stmt = narrow.apply(select(Resource).where(or_(*scope)))
    return list((await session.scalars(stmt)).all())


async def children(session: AsyncSession, types: Sequence[str],
                   parents: Iterable[str]) -> list[Resource]:
    """Objects of ``types`` belonging to ``parents`` (subnets and ports of networks,
    rules of groups), by index, whoever owns them."""
    ids = list(parents)
    if not ids:
        return []
    return list((await session.scalars(select(Resource).where(
        Resource.type.in_(list(types)), Resource.parent_id.in_(ids)))).all())
