"""What the quota APIs and loops need, over the ledger: one object in app state.

The handlers (Nova ``os-quota-sets`` and ``/limits``, Neutron ``/v2.0/quotas``)
check policy and render; this reads and writes the ledger in short
transactions, checks a new limit against usage, and pushes limits to the
regions when ``[quota] push_to_regions`` is on.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Iterable, Mapping

from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.quota import ledger, push
from cascade.quota.batching import AdmissionBatcher
from cascade.quota import resources as catalogue
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionRegistry

__all__ = ["QuotaService", "Usage"]

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """One resource of a project: its limit, what is in use and what is reserved."""

    limit: int
    in_use: int
    reserved: int


class QuotaService:
    """Limits and usage per project; the defaults come from ``[quota]``."""

    def __init__(self, conf: cfg.ConfigOpts, sessions: async_sessionmaker[AsyncSession],
                 client: RegionClient, registry: RegionRegistry) -> None:
        self.defaults: Mapping[str, int] = catalogue.defaults(conf)
        #: Seconds a reservation is held (``ledger.reserve(ttl=...)``).
        self.ttl: float = conf.quota.reservation_expire
        self.push_enabled: bool = conf.quota.push_to_regions
        self._sessions = sessions
        self._batcher = AdmissionBatcher(sessions)
        self._client = client
        self._registry = registry
        self._timeout: float = conf.api.region_timeout

    async def admit(self, project_id: str, deltas: Mapping[str, int], *, count: int = 1,
                    message: str | None = None) -> list[str]:
        """``count`` reservations of ``deltas`` (all or none, held for ``ttl``),
        batched with this process's concurrent admissions of the project.

        :raises OverQuota: they do not fit; nothing is held.
        """
        return await self._batcher.reserve(project_id, deltas, ttl=self.ttl,
                                           defaults=self.defaults, count=count,
                                           message=message)

    async def limits(self, project_id: str) -> dict[str, int]:
        """Every resource's effective limit for the project."""
        async with self._sessions() as session:
            return await ledger.limits(session, project_id, self.defaults)

    async def details(self, project_id: str) -> dict[str, Usage]:
        """Every resource's limit and usage (zeros for limits the ledger does not count)."""
        async with self._sessions() as session:
            limits = await ledger.limits(session, project_id, self.defaults)
            held = await ledger.usage(session, project_id)
        return {name: Usage(limit, *held.get(name, (0, 0))) for name, limit in limits.items()}

    async def custom(self, names: Iterable[str]) -> dict[str, dict[str, int]]:
        """Projects with a limit of their own for one of ``names`` -> every effective
        limit of theirs."""
        wanted = set(names)
        async with self._sessions() as session:
            own = await ledger.custom_projects(session)
        return {pid: {**self.defaults, **values} for pid, values in own.items()
                if wanted & set(values)}

    async def update(self, project_id: str, values: Mapping[str, int], *,
                     check_usage: bool) -> dict[str, int]:
        """Set the project's limits; its effective limits afterwards.

        :param check_usage: refuse a limit below what is in use and reserved
            (Nova's behaviour without ``force``).
        :raises BadRequest: with ``check_usage``, a limit below the usage.
        """
        async with self._sessions.begin() as session:
            if check_usage:
                held = await ledger.usage(session, project_id, [
                    n for n in values if catalogue.get(n).counted])
                for name, (in_use, reserved) in sorted(held.items()):
                    value = values[name]
                    if 0 <= value < in_use + reserved:
                        raise errors.BadRequest(
                            f"Quota limit {value} for {name} must be greater than or equal "
                            f"to already used and reserved {in_use + reserved}.")
            await ledger.set_limits(session, project_id, values)
            limits = await ledger.limits(session, project_id, self.defaults)
        await self.push(project_id)
        return limits

    async def reset(self, project_id: str, names: Iterable[str] | None = None) -> None:
        """Forget the project's own limits (all, or ``names``): defaults apply again."""
        async with self._sessions.begin() as session:
            await ledger.delete_limits(session, project_id, names)
        await self.push(project_id)

    async def push(self, project_id: str) -> None:
        """Refresh the project's regional limits, when pushing is on (best effort:
        a region that fails is logged and refreshed by the next quota sweep)."""
        if not self.push_enabled:
            return
        try:
            await push.push_project(self._sessions, self._client, self._registry,
                                    project_id, self.defaults, timeout=self._timeout)
        except Exception:  # noqa: BLE001 - the limits are stored; the sweep retries
            LOG.exception("quota push for project %s failed", project_id)
