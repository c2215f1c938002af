"""Regional port answers in global ids: what a regional port refers to (networks,
subnets, groups, servers), which global port it is, and adopting the ports
Cascade did not create (Nova's, for ``--nic net-id=`` boots) with ids no one
else can claim."""
from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.db.models import PlacementState, Resource
from cascade.mapping import store
from cascade.networks import records
from cascade.networks.records import NETWORK, PORT, ROUTER, SECURITY_GROUP, SUBNET
from cascade.quota import ledger

__all__ = ["PortIds"]

_SERVER = "server"


class PortIds:
    """Global ids for regional ports and what they refer to."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], owner_tag: str,
                 quota_defaults: Any) -> None:
        self._sessions = sessions
        self._owner_tag = owner_tag
        self._quota_defaults = quota_defaults

    async def global_ids(self, region: str, ports: list[dict[str, Any]]) -> dict[str, str]:
        """Regional ids of networks, subnets, groups and servers -> global ids."""
        wanted: dict[str, set[str]] = {NETWORK: set(), SUBNET: set(), SECURITY_GROUP: set(),
                                       _SERVER: set(), ROUTER: set()}
        for p in ports:
            wanted[NETWORK].add(p.get("network_id", ""))
            wanted[SUBNET].update(ip.get("subnet_id", "") for ip in p.get("fixed_ips") or [])
            wanted[SECURITY_GROUP].update(p.get("security_groups") or [])
            if p.get("device_id"):
                # A server's port, or a router's interface.
                wanted[_SERVER].add(p["device_id"])
                wanted[ROUTER].add(p["device_id"])
        out: dict[str, str] = {}
        async with self._sessions() as session:
            for type_, ids in wanted.items():
                found = await store.map_local_ids(session, type_, region, ids, None)
                out.update({local: gid for local, (gid, _, _) in found.items()})
        return out

    async def mapped_ports(self, region: str, ports: list[dict[str, Any]]) -> dict[str, str]:
        async with self._sessions() as session:
            found = await store.map_local_ids(session, PORT, region,
                                              [p["id"] for p in ports], None)
        return {local: gid for local, (gid, _, _) in found.items()}

    async def _adopted_id(self, session: AsyncSession, region: str, port: dict[str, Any],
                          project: str) -> str:
        """The global id an unmapped regional port is adopted under: the one its tag
        names only when the port proves to be Cascade's (this deployment's tag, and
        the tagged port, if Cascade knows it, is a port of the same project);
        otherwise one derived from its regional id, which no one else can claim."""
        tags = port.get("tags") or []
        tagged = records.global_of_tag(tags)
        if tagged and self._owner_tag in tags:
            known = await session.get(Resource, tagged)
            if known is None or (known.type == PORT and known.project_id == project):
                return tagged
        return records.derived_id("port", region, str(port["id"]))

    async def adopt(self, region: str, ports: list[dict[str, Any]]) -> dict[str, str]:
        """Map ports Cascade did not create (Nova's, for net-id boots); their global ids."""
        out = {}
        async with self._sessions.begin() as session:
            insert = (pg_insert if session.get_bind().dialect.name == "postgresql"
                      else sqlite_insert)
            for port in ports:
                project = str(port.get("project_id") or port.get("tenant_id") or "")
                gid = await self._adopted_id(session, region, port, project)
                out[port["id"]] = gid
                now = records.now()
                made = await session.execute(insert(Resource).values(
                    global_id=gid, type=PORT, project_id=project, user_id=None, spec={},
                    status=port.get("status", "DOWN"), usage={"port": 1},
                    attrs={"name": port.get("name", ""), "network_id": None,
                           "adopted": True, "created_at": now, "updated_at": now,
                           "tags": [], "revision_number": 0},
                ).on_conflict_do_nothing(index_elements=[Resource.global_id])
                    .returning(Resource.global_id))
                if made.first() is not None:
                    # Counted, never refused: the region already created it.
                    await ledger.charge(session, project, {"port": 1},
                                        defaults=self._quota_defaults, check=False)
                await store.ensure_placement(session, global_id=gid, type_=PORT,
                                             region=region, local_id=port["id"],
                                             state=PlacementState.ACTIVE)
        return out
