"""Nova's ``same_host`` and ``different_host`` scheduler hints across regions.

Both name servers by id; through Cascade those are global ids, and a host is in
one region. ``same_host`` servers pin the new server to their region (servers
in two regions share no host: 400); the region is told their regional ids.
``different_host`` servers in other regions are on other hosts already, so the
region is told only about those it holds. A server the caller cannot see is
refused (400, Nova's ``Instance ... could not be found``) rather than passed
on: a region's ids never leak through, nor another project's.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.compute.server_cache import SERVER
from cascade.context import RequestContext
from cascade.mapping import store

__all__ = ["HostHints"]

_KEYS = ("same_host", "different_host")


def _ids(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise errors.BadRequest(f"Invalid input for field/attribute scheduler hint. "
                            f"Value: {value}. {value!r} is not valid under any of the "
                            "given schemas")


class HostHints:
    """Where ``same_host`` / ``different_host`` servers are, in regional ids."""

    def __init__(self, hints: dict[str, Any], where: dict[str, tuple[str, str]]) -> None:
        self._hints = hints
        self._where = where  # global id -> (region, regional id)

    @classmethod
    async def resolve(cls, sessions: async_sessionmaker[AsyncSession], ctx: RequestContext,
                      hints: dict[str, Any]) -> "HostHints":
        """:raises BadRequest: a malformed hint, or a server the caller cannot see."""
        named = {gid for key in _KEYS if key in hints for gid in _ids(hints[key])}
        where: dict[str, tuple[str, str]] = {}
        async with sessions() as session:
            for gid in sorted(named):
                try:
                    _, pl = await store.resolve(session, SERVER, gid,
                                                None if ctx.is_admin else ctx.project_id)
                except errors.MappingNotFound:
                    raise errors.BadRequest(f"Instance {gid} could not be found.") from None
                if pl.local_id:
                    where[gid] = (pl.region, pl.local_id)
        return cls(hints, where)

    def regions(self) -> set[str] | None:
        """The only region ``same_host`` allows (None: any).

        :raises BadRequest: its servers are in more than one region.
        """
        if "same_host" not in self._hints:
            return None
        found = {self._where[g][0] for g in _ids(self._hints["same_host"]) if g in self._where}
        if len(found) > 1:
            raise errors.BadRequest("same_host names servers in different regions: no host "
                                    "can hold them all.")
        return found or None

    def for_region(self, region: str) -> dict[str, Any]:
        """The hints as ``region`` takes them: its own ids; other regions' servers left
        out of ``different_host`` (a hint left empty is dropped)."""
        out = {k: v for k, v in self._hints.items() if k not in _KEYS}
        for key in _KEYS:
            if key not in self._hints:
                continue
            local = [self._where[g][1] for g in _ids(self._hints[key])
                     if g in self._where and self._where[g][0] == region]
            if local:
                out[key] = local
        return out
