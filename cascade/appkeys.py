"""Every typed key of application and request state, in one place."""
from __future__ import annotations

import aiohttp
from aiohttp import web
from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade.auth.identity import Authenticator
from cascade.bus import Waker
from cascade.coherence import Coherence
from cascade.context import RequestContext
from cascade.policy.enforcer import Policy
from cascade.public_urls import PublicUrls
from cascade.quota.service import QuotaService
from cascade.regions.client import RegionClient
from cascade.regions.registry import RegionRegistry
from cascade.regions.service_auth import ServiceAuth

__all__ = ["CONF", "SESSIONS", "REGIONS", "REGION_CLIENT", "AUTH", "SERVICE_AUTH",
           "HTTP", "WAKER", "URLS", "QUOTAS", "POLICY", "CTX", "REQUEST_ID", "SERVICE",
           "PUBLIC_URLS", "COHERENCE"]

CONF = web.AppKey("conf", cfg.ConfigOpts)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
REGIONS = web.AppKey("regions", RegionRegistry)
REGION_CLIENT = web.AppKey("region_client", RegionClient)
AUTH = web.AppKey("auth", Authenticator)
SERVICE_AUTH = web.AppKey("service_auth", ServiceAuth)
HTTP = web.AppKey("http", aiohttp.ClientSession)
WAKER = web.AppKey("waker", Waker)
#: Cascade's public base URL (``[api] public_url`` or each request's host).
URLS = web.AppKey("urls", PublicUrls)
#: Limits and usage per project (the quota APIs, admission, the quota sweep).
QUOTAS = web.AppKey("quotas", QuotaService)
POLICY = web.AppKey("policy", Policy)
#: This process's end of the change notices between processes.
COHERENCE = web.AppKey("coherence", Coherence)

#: The authenticated caller; set by the auth middleware.
CTX = web.RequestKey("ctx", RequestContext)
#: This request's id, set first of all so every answer carries it.
REQUEST_ID = web.RequestKey("request_id", str)
#: Which API the request is for: compute, image, network, admin or root.
SERVICE = web.RequestKey("service", str)
#: Cascade's public base URLs (``api.urls.PublicUrls``), handed to every request by
#: the root middleware so handlers in sub-apps need no ``config_dict`` lookup.
PUBLIC_URLS = web.RequestKey("public_urls", PublicUrls)
