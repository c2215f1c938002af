"""Server groups (``/os-server-groups``): recorded by Cascade, living in one region.

A group is Cascade's record (global id, name, policy, rules) until its first
member boots: the server's region is then the group's, the group is made
there (by the member's own request), and every later member goes to that
region, where the region's Nova enforces the policy (affinity,
anti-affinity, soft-*). A group counts one ``server_groups`` against its
project; a boot into a full group (``server_group_members``) is refused.
Members are the regional group's, shown by their global ids.

Views follow Nova per microversion: ``policies`` (a list) and ``metadata``
before 2.64, ``policy`` and ``rules`` from it; ``project_id`` and ``user_id``
from 2.13.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.compute.server_cache import SERVER
from cascade.compute.versions import at_least
from cascade.context import RequestContext
from cascade.db.models import Placement, PlacementState, Resource
from cascade.mapping import store
from cascade.quota import ledger
from cascade.quota.forget import forget
from cascade.quota.service import QuotaService
from cascade.regions import paths
from cascade.regions.client import RegionClient

__all__ = ["SERVER_GROUP", "ServerGroups"]

SERVER_GROUP = "server_group"
_POLICIES = ("affinity", "anti-affinity")
_SOFT_POLICIES = ("soft-affinity", "soft-anti-affinity")


def _invalid(field: str, value: Any, why: str) -> errors.BadRequest:
    return errors.BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. "
                             f"{why}")


def _parse_create(body: Any, microversion: str) -> dict[str, Any]:
    """The group a create asks for, checked as Nova's schema for ``microversion``.

    :raises BadRequest: in Nova's words.
    """
    group = body.get("server_group") if isinstance(body, dict) else None
    if not isinstance(group, dict):
        raise _invalid("server_group", group, f"{group!r} is not of type 'object'")
    name = group.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise _invalid("name", name, f"{name!r} is not a valid name")
    allowed = _POLICIES + (_SOFT_POLICIES if at_least(microversion, "2.15") else ())
    if at_least(microversion, "2.64"):
        extra = sorted(set(group) - {"name", "policy", "rules"})
        policy = group.get("policy")
        rules = group.get("rules") or {}
        if policy not in allowed:
            raise _invalid("policy", policy, f"{policy!r} is not one of {list(allowed)}")
        if not isinstance(rules, dict) or (rules and (
                policy != "anti-affinity" or set(rules) != {"max_server_per_host"}
                or not isinstance(rules["max_server_per_host"], int)
                or rules["max_server_per_host"] < 1)):
            raise errors.BadRequest("Only anti-affinity policy supports "
                                    "max_server_per_host rule, a positive integer.")
    else:
        extra = sorted(set(group) - {"name", "policies"})
        policies = group.get("policies")
        if not isinstance(policies, list) or len(policies) != 1 or policies[0] not in allowed:
            raise _invalid("policies", policies, f"must be one of {list(allowed)}")
        policy, rules = policies[0], {}
    if extra:
        raise _invalid("server_group", group, "Additional properties are not allowed "
                       f"({', '.join(repr(k) for k in extra)} was unexpected)")
    return {"name": name, "policy": policy, "rules": rules}


class ServerGroups:
    """Create, list, show and delete groups; place them with their first member."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], client: RegionClient,
                 quotas: QuotaService) -> None:
        self._sessions = sessions
        self._client = client
        self._quotas = quotas

    async def create(self, ctx: RequestContext, body: Any, microversion: str
                     ) -> dict[str, Any]:
        """:raises OverQuota: the project has its ``server_groups`` limit of groups."""
        ctx.can("os_compute_api:os-server-groups:create")
        spec = _parse_create(body, microversion)
        res = Resource(global_id=store.new_global_id(), type=SERVER_GROUP,
                       project_id=ctx.project_id, user_id=ctx.user_id, spec=spec,
                       attrs={}, status="ACTIVE", usage={"server_groups": 1})
        async with self._sessions.begin() as session:
            session.add(res)
            await session.flush()
            await ledger.charge(session, ctx.project_id, {"server_groups": 1},
                                defaults=self._quotas.defaults,
                                message="Quota exceeded, too many server groups.")
        return self._view(res, [], microversion)

    def _view(self, res: Resource, members: list[str], microversion: str) -> dict[str, Any]:
        spec = res.spec
        out: dict[str, Any] = {"id": res.global_id, "name": spec["name"], "members": members}
        if at_least(microversion, "2.64"):
            out.update(policy=spec["policy"], rules=spec.get("rules") or {})
        else:
            out.update(policies=[spec["policy"]], metadata={})
        if at_least(microversion, "2.13"):
            out.update(project_id=res.project_id, user_id=res.user_id)
        return out

    async def _get(self, session: AsyncSession, ctx: RequestContext, group_id: str
                   ) -> Resource:
        res = await session.get(Resource, group_id)
        if res is None or res.type != SERVER_GROUP or (
                res.project_id != ctx.project_id and not ctx.is_admin):
            raise errors.NotFound(f"Server group {group_id} could not be found.")
        return res

    async def members(self, ctx: RequestContext, res: Resource) -> tuple[str | None,
                                                                          list[str]]:
        """The group's region (None: not placed yet) and its members' global ids."""
        async with self._sessions() as session:
            placed = (await _placements(session, res.global_id))
        pl = next((p for p in placed if p.local_id), None)
        if pl is None:
            return None, []
        resp = await self._client.get(ctx, pl.region, "compute",
                                      paths.build("os-server-groups", pl.local_id))
        local = list(((resp.body or {}).get("server_group") or {}).get("members") or [])
        async with self._sessions() as session:
            found = await store.map_local_ids(session, SERVER, pl.region, local, None)
        return pl.region, [found[m][0] if m in found else m for m in local]

    async def show(self, ctx: RequestContext, group_id: str, microversion: str
                   ) -> dict[str, Any]:
        ctx.can("os_compute_api:os-server-groups:show")
        async with self._sessions() as session:
            res = await self._get(session, ctx, group_id)
        _, members = await self.members(ctx, res)
        return self._view(res, members, microversion)

    async def list_groups(self, ctx: RequestContext, microversion: str, *,
                          all_projects: bool, limit: int | None, offset: int
                          ) -> list[dict[str, Any]]:
        ctx.can("os_compute_api:os-server-groups:index")
        stmt = select(Resource).where(Resource.type == SERVER_GROUP)
        if not (all_projects and ctx.can("os_compute_api:os-server-groups:index:all_projects",
                                         fatal=False)):
            stmt = stmt.where(Resource.project_id == ctx.project_id)
        async with self._sessions() as session:
            rows = sorted((await session.scalars(stmt)).all(), key=lambda r: r.global_id)
        rows = rows[offset:offset + limit] if limit is not None else rows[offset:]
        out = []
        for res in rows:
            _, members = await self.members(ctx, res)
            out.append(self._view(res, members, microversion))
        return out

    async def delete(self, ctx: RequestContext, group_id: str) -> None:
        """The regional group goes first (its members stay, as in Nova)."""
        ctx.can("os_compute_api:os-server-groups:delete")
        async with self._sessions() as session:
            res = await self._get(session, ctx, group_id)
            placed = await _placements(session, group_id)
        for pl in placed:
            if pl.local_id:
                try:
                    await self._client.delete(ctx, pl.region, "compute",
                                              paths.build("os-server-groups", pl.local_id))
                except errors.RegionHTTPError as exc:
                    if exc.status != 404:
                        raise
        async with self._sessions.begin() as session:
            await forget(session, res.global_id)

    # -- boots -------------------------------------------------------------

    async def region_of(self, ctx: RequestContext, group_id: str) -> str | None:
        """The region a new member must go to (None: the group has none yet).

        :raises BadRequest: no such group for the caller.
        :raises OverQuota: the group has its ``server_group_members`` limit.
        """
        async with self._sessions() as session:
            try:
                res = await self._get(session, ctx, group_id)
            except errors.NotFound:
                raise errors.BadRequest(f"Invalid server group {group_id}.") from None
        region, members = await self.members(ctx, res)
        limit = (await self._quotas.limits(ctx.project_id)).get("server_group_members", -1)
        if 0 <= limit <= len(members):
            name = "server_group_members"
            raise errors.OverQuota([name], {name: 1}, {name: len(members)}, {name: limit},
                                   message="Quota exceeded, too many servers in group")
        return region

    async def in_region(self, ctx: RequestContext, group_id: str, region: str) -> str:
        """The group's regional id in ``region``, made there on first use (once, even
        when members boot at the same time: the group's row is locked meanwhile).

        :raises Conflict: the group already lives in another region.
        """
        async with self._sessions.begin() as session:
            await _lock(session, group_id)
            res = await self._get(session, ctx, group_id)
            placed = [p for p in await _placements(session, group_id) if p.local_id]
            if placed:
                if placed[0].region != region:
                    raise errors.Conflict(f"Server group {group_id} lives in another "
                                          "region.")
                return str(placed[0].local_id)
            spec = res.spec
            resp = await self._client.post(ctx, region, "compute", "/os-server-groups",
                                           microversion="2.64", json={"server_group": {
                                               "name": spec["name"], "policy": spec["policy"],
                                               **({"rules": spec["rules"]}
                                                  if spec.get("rules") else {})}})
            local = str(resp.body["server_group"]["id"])
            try:
                await store.ensure_placement(session, global_id=group_id, type_=SERVER_GROUP,
                                             region=region, local_id=local,
                                             state=PlacementState.ACTIVE)
            except IntegrityError:
                raise errors.Conflict(f"Server group {group_id} is being placed.") from None
            return local


async def _placements(session: AsyncSession, group_id: str) -> list[Placement]:
    rows = await session.scalars(select(Placement).where(Placement.global_id == group_id)
                                 .order_by(Placement.id))
    return list(rows.all())


async def _lock(session: AsyncSession, group_id: str) -> None:
    if (await session.connection()).dialect.name == "sqlite":
        # SQLite has no row locks: a no-op write takes the database write lock.
        await session.execute(text("UPDATE resources SET global_id = global_id "
                                   "WHERE global_id = :id"), {"id": group_id})
    else:
        await session.execute(select(Resource.global_id)
                              .where(Resource.global_id == group_id).with_for_update())
