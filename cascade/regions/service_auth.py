"""Cascade's own Keystone token (service credentials), with the catalog it carries."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import aiohttp
from oslo_config import cfg

from cascade import errors

__all__ = ["ServiceAuth", "Catalog"]

LOG = logging.getLogger(__name__)

#: Renew the token this long before Keystone says it expires.
_RENEW_MARGIN = dt.timedelta(minutes=5)

#: {region: {service_type: url}}
Catalog = dict[str, dict[str, str]]


class ServiceAuth:
    """Fetches and caches a project-scoped token for Cascade's service user."""

    def __init__(self, conf: cfg.ConfigOpts, session: aiohttp.ClientSession) -> None:
        self._conf = conf.service_credentials
        self._session = session
        self._token: str | None = None
        self._expires = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
        self._catalog: Catalog = {}
        self._lock = asyncio.Lock()

    @property
    def auth_url(self) -> str:
        return str(self._conf.auth_url).rstrip("/")

    async def token(self) -> str:
        """A valid service token, renewed when close to expiry.

        :raises RegionUnavailable: Keystone cannot be reached or refuses.
        """
        await self._refresh_if_needed()
        assert self._token is not None
        return self._token

    async def catalog(self, *, force: bool = False) -> Catalog:
        """Endpoints by region and service type for the configured interface."""
        await self._refresh_if_needed(force=force)
        return self._catalog

    async def _refresh_if_needed(self, force: bool = False) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        if not force and self._token and now < self._expires - _RENEW_MARGIN:
            return
        async with self._lock:
            if not force and self._token and now < self._expires - _RENEW_MARGIN:
                return
            await self._authenticate()

    async def _authenticate(self) -> None:
        c = self._conf
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "password": c.password,
                "domain": {"name": c.user_domain_name}}}},
            "scope": {"project": {"name": c.project_name,
                                  "domain": {"name": c.project_domain_name}}},
        }}
        try:
            # NOTE: Keystone, not a region: RegionClient needs this token (and
            # the catalog it comes with) before it can call any region.
            async with self._session.post(
                    f"{self.auth_url}/auth/tokens", json=body,
                    timeout=aiohttp.ClientTimeout(total=10)) as resp:
                if resp.status != 201:
                    text = await resp.text()
                    raise errors.RegionUnavailable(
                        "keystone", f"Keystone refused Cascade's credentials ({resp.status}): "
                                    f"{text[:200]}")
                data: dict[str, Any] = await resp.json()
                self._token = resp.headers["X-Subject-Token"]
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise errors.RegionUnavailable("keystone", f"Keystone unreachable: {exc}") from exc
        token = data["token"]
        self._expires = dt.datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00"))
        self._catalog = self._parse_catalog(token.get("catalog", []))

    def _parse_catalog(self, catalog: list[dict[str, Any]]) -> Catalog:
        out: Catalog = {}
        for service in catalog:
            for ep in service.get("endpoints", []):
                if ep.get("interface") != self._conf.interface:
                    continue
                region = ep.get("region_id") or ep.get("region")
                if region:
                    out.setdefault(region, {})[service["type"]] = ep["url"]
        return out
