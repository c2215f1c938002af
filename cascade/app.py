"""The application factory: builds the tree of sub-apps without doing I/O.

Each resource's lifetime lives in a cleanup context, registered in dependency
order (database, HTTP session, auth, regions, background loops) so they tear
down in reverse.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import AsyncIterator, Callable

import aiohttp
from aiohttp import web
from oslo_config import cfg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cascade.api import middleware, ops
from cascade.api.admin.app import create_admin_app
from cascade.api.compute.app import create_compute_app
from cascade.compute.extensions import ComputeExtensions
from cascade.compute.flavors import Flavors
from cascade.compute.image_proxy import ImageProxy
from cascade.compute.server_groups import ServerGroups
from cascade.images.metadefs import Metadefs
from cascade.networks.extensions import Extensions
from cascade.regions.admin import RegionAdmin
from cascade.compute.keypair_ops import Keypairs
from cascade.compute.region_choice import RegionChooser
from cascade.compute.server_create import ServerCreator
from cascade.compute.server_ops import Servers
from cascade.api.image.app import create_image_app
from cascade.api.network.app import create_network_app
from cascade import appkeys
from cascade.auth.identity import Authenticator, NoAuth
from cascade.bus import make_waker
from cascade.coherence import Coherence
from cascade.images.service import ImageService
from cascade.networks import external
from cascade.networks.placer import Placer
from cascade.networks.floating_ips import FloatingIps
from cascade.networks.ports import Ports
from cascade.networks.router_converge import RouterConverger
from cascade.networks.routers import Routers
from cascade.networks.service import NetworkObjects
from cascade.db import engine as db_engine
from cascade.db import migrate
from cascade.policy.enforcer import Policy
from cascade.public_urls import PublicUrls
from cascade.quota.service import QuotaService
from cascade.regions import registry as regions_registry
from cascade.regions.client import RegionClient
from cascade.regions.probe import probe_all
from cascade.regions.registry import RegionRegistry
from cascade.regions.lean_http import LeanHTTP
from cascade.regions.service_auth import ServiceAuth
from cascade.sync.loops import sync_context
from cascade.sync.notifications import ON_CHANGE, notify_context
from cascade.sync.refresh import refresher

__all__ = ["create_app"]

LOG = logging.getLogger(__name__)

_DB_ENGINE = web.AppKey("db_engine", object)

#: A resource's lifetime: set up before the yield, torn down after it.
_CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def create_app(conf: cfg.ConfigOpts, *, authenticator: Authenticator | None = None,
               migrate_db: bool = False, background: bool = True, run_sync: bool = False,
               all_in_one: bool = False) -> web.Application:
    """The Cascade API application.

    :param authenticator: overrides ``[api] auth_strategy`` (tests).
    :param migrate_db: upgrade the schema at start-up (all-in-one mode).
    :param background: refresh and probe regions periodically in this process.
    :param run_sync: run the sync loops in this process.
    :param all_in_one: wake-ups stay in process (no broker needed).
    """
    core = _Core.build(conf)
    app = _root_app(conf)
    quotas = _share(app, core)
    contexts = [_database(core.engine, core.lookups, migrate_db),
                _coherence(core.coherence), _http(conf),
                _auth(conf, authenticator), _regions(core, background),
                _bus(conf, run_sync, all_in_one)]
    if run_sync:
        contexts.append(sync_context)
        # Regional notifications make the reconciler look at an object at once.
        contexts.append(notify_context)
        app[ON_CHANGE] = refresher(core.sessions, core.client)
    app.cleanup_ctx.extend(contexts)
    _mount(app, _Services.build(app, core, quotas), core.registry)
    return app


# -- what every part shares ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Core:
    """The database and the regions, built without I/O."""

    conf: cfg.ConfigOpts
    engine: AsyncEngine
    #: one-statement reads on the hot path (``db_engine.make_lookup_engine``)
    lookups: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    registry: RegionRegistry
    client: RegionClient
    coherence: Coherence

    @classmethod
    def build(cls, conf: cfg.ConfigOpts) -> _Core:
        engine = db_engine.make_engine(conf)
        sessions = db_engine.make_sessionmaker(engine)
        registry = RegionRegistry()
        return cls(conf, engine, db_engine.make_lookup_engine(conf, engine), sessions,
                   registry, RegionClient(conf, registry), Coherence(conf, engine))


def _root_app(conf: cfg.ConfigOpts) -> web.Application:
    """The root application, with no state and no routes yet."""
    app = web.Application(
        client_max_size=conf.api.max_request_body_size,
        middlewares=[middleware.api_middleware],
        # Bodies are read as sent: a Content-Encoding is refused by the middleware
        # (no service takes compressed requests), never inflated (no zip bombs).
        handler_args={"auto_decompress": False})
    app.on_response_prepare.append(middleware.stamp_streamed)
    return app


def _share(app: web.Application, core: _Core) -> QuotaService:
    """Put what handlers and background tasks share into the app; the quota service."""
    conf = core.conf
    app[appkeys.CONF] = conf
    app[appkeys.URLS] = PublicUrls(conf.api.public_url)
    app[appkeys.SESSIONS] = core.sessions
    app[appkeys.REGIONS] = core.registry
    app[appkeys.REGION_CLIENT] = core.client
    app[appkeys.COHERENCE] = core.coherence
    quotas = QuotaService(conf, core.sessions, core.client, core.registry)
    app[appkeys.QUOTAS] = quotas
    app[appkeys.POLICY] = Policy(conf)
    app[_DB_ENGINE] = core.engine
    return quotas


# -- lifetimes, in dependency order ------------------------------------------


def _database(engine: AsyncEngine, lookups: AsyncEngine, migrate_db: bool
              ) -> _CleanupContext:
    async def database(app: web.Application) -> AsyncIterator[None]:
        if migrate_db:
            await migrate.upgrade(engine)
        yield
        await db_engine.dispose_lookup_engine(lookups, engine)
        await engine.dispose()
    return database


def _coherence(coherence: Coherence) -> _CleanupContext:
    async def listen(app: web.Application) -> AsyncIterator[None]:
        await coherence.start()
        yield
        await coherence.stop()
    return listen


def _http(conf: cfg.ConfigOpts) -> _CleanupContext:
    async def http(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=200, limit_per_host=50)
        # The regions' deadline is the session's default, so the hot path passes
        # no per-call timeout.
        timeout = aiohttp.ClientTimeout(total=conf.api.region_timeout,
                                        sock_connect=conf.api.region_connect_timeout)
        # No cookie jar: one session serves every tenant, and a cookie a region
        # sets for one caller must never ride along on another's request.
        async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                         cookie_jar=aiohttp.DummyCookieJar()) as session:
            app[appkeys.HTTP] = session
            yield
    return http


def _auth(conf: cfg.ConfigOpts, authenticator: Authenticator | None) -> _CleanupContext:
    async def auth(app: web.Application) -> AsyncIterator[None]:
        authn = authenticator
        if authn is None:
            if conf.api.auth_strategy == "noauth":
                authn = NoAuth()
            else:
                from cascade.auth.keystone import KeystoneAuth
                authn = KeystoneAuth(conf)
        app[appkeys.AUTH] = authn
        # policy.yaml is re-read in the background (cascade.policy.enforcer).
        watcher = asyncio.create_task(app[appkeys.POLICY].watch())
        yield
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await authn.close()
    return auth


def _regions(core: _Core, background: bool) -> _CleanupContext:
    conf, sessions, client = core.conf, core.sessions, core.client

    async def regions(app: web.Application) -> AsyncIterator[None]:
        session = app[appkeys.HTTP]
        service_auth = ServiceAuth(conf, session)
        app[appkeys.SERVICE_AUTH] = service_auth
        lean = (LeanHTTP(limit=200, limit_per_host=50,
                         connect_timeout=conf.api.region_connect_timeout)
                if conf.api.region_lean_get else None)
        client.attach(session, service_auth, lean=lean)

        # Another process changed a region (or its health): reload the rows.
        reloader = core.coherence.reloader(lambda: core.registry.reload(sessions))
        core.coherence.on("region", reloader.request)
        core.coherence.on_reset(reloader.request)
        await regions_registry.register_from_config(conf, sessions)
        await _refresh_regions(app)
        task = asyncio.create_task(_refresh_loop(app)) if background else None
        yield
        if task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if lean is not None:
            lean.close()
    return regions


def _bus(conf: cfg.ConfigOpts, run_sync: bool, all_in_one: bool) -> _CleanupContext:
    async def bus(app: web.Application) -> AsyncIterator[None]:
        waker = make_waker(conf, listen=run_sync, all_in_one=all_in_one)
        await waker.start()
        app[appkeys.WAKER] = waker
        yield
        await waker.stop()
    return bus


# -- services and sub-apps ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Services:
    """The services the sub-apps serve."""

    images: ImageService
    keypairs: Keypairs
    network_objects: NetworkObjects
    ports: Ports
    routers: Routers
    floating_ips: FloatingIps
    servers: Servers
    flavors: Flavors
    extensions: Extensions
    region_admin: RegionAdmin
    image_proxy: ImageProxy
    metadefs: Metadefs
    server_groups: ServerGroups
    compute_extensions: ComputeExtensions

    @classmethod
    def build(cls, app: web.Application, core: _Core, quotas: QuotaService) -> _Services:
        conf, sessions, registry, client = core.conf, core.sessions, core.registry, core.client

        async def wake(name: str) -> None:
            await app[appkeys.WAKER].wake(name)

        image_service = ImageService(conf, sessions, registry, client, wake)
        pairs = Keypairs(sessions, client, quotas)
        placer = Placer(sessions, client, conf.cascade_id)
        placer.wake = wake
        network_objects = NetworkObjects(conf, sessions, registry, placer, quotas.defaults)
        ports = Ports(conf, sessions, registry, client, network_objects, quotas.defaults,
                      quotas.ttl)
        groups = ServerGroups(sessions, client, quotas)
        chooser = RegionChooser(conf, registry, client)
        core.coherence.on("flavor", chooser.flavors_changed)
        core.coherence.on_reset(chooser.flavors_changed)
        creator = ServerCreator(conf, sessions, client, chooser,
                                pairs, image_service, wake, ports=ports, quotas=quotas,
                                groups=groups)
        servers = Servers(conf, sessions, registry, client, creator,
                          waker=lambda: app[appkeys.WAKER], ports=ports,
                          lookups=core.lookups)
        servers.listen(core.coherence)
        timeout = conf.api.region_timeout
        converger = RouterConverger(conf, sessions, placer, registry)
        routers = Routers(conf, sessions, registry, quotas.defaults, wake, converger.converge)
        floating_ips = FloatingIps(conf, sessions, placer, quotas.defaults, quotas.ttl,
                                   converger)
        return cls(image_service, pairs, network_objects, ports, routers, floating_ips,
                   servers, Flavors(client, registry, timeout, core.coherence),
                   Extensions(client, registry, timeout),
                   RegionAdmin(sessions, registry, lambda: _refresh_regions(app)),
                   ImageProxy(sessions, image_service),
                   Metadefs(client, registry, conf.image.metadefs_region), groups,
                   ComputeExtensions(client, registry))


def _mount(app: web.Application, services: _Services, registry: RegionRegistry) -> None:
    """The operational routes and one sub-app per API."""
    app.router.add_get("/healthcheck", ops.healthcheck)
    app.router.add_get("/metrics", ops.prometheus)
    app.add_subapp("/compute", create_compute_app(services.servers, services.keypairs,
                                                  services.flavors, services.image_proxy,
                                                  services.server_groups, registry,
                                                  services.compute_extensions))
    app.add_subapp("/image", create_image_app(services.images, services.metadefs))
    app.add_subapp("/networking", create_network_app(services.network_objects,
                                                     services.ports, services.extensions,
                                                     services.routers,
                                                     services.floating_ips))
    app.add_subapp("/v1", create_admin_app(services.region_admin))


# -- the regions, refreshed --------------------------------------------------


async def _refresh_regions(app: web.Application) -> None:
    """Reload regions from the database and the catalog, then probe them."""
    try:
        catalog = await app[appkeys.SERVICE_AUTH].catalog(force=True)
    except Exception as exc:  # noqa: BLE001 - keep serving with overrides only
        LOG.warning("could not read the Keystone catalog: %s", getattr(exc, "message", exc))
        catalog = {}
    await app[appkeys.REGIONS].load(app[appkeys.SESSIONS], catalog)
    conf = app[appkeys.CONF]
    await probe_all(app[appkeys.HTTP], app[appkeys.REGIONS], app[appkeys.SESSIONS],
                    down_after=conf.sync.region_down_after,
                    up_after=conf.sync.region_up_after)
    await external.refresh(app[appkeys.SESSIONS], app[appkeys.REGION_CLIENT], app[appkeys.REGIONS],
                           timeout=conf.api.region_timeout)


async def _refresh_loop(app: web.Application) -> None:
    interval = app[appkeys.CONF].sync.region_probe_interval
    while True:
        await asyncio.sleep(interval)
        try:
            await _refresh_regions(app)
        except Exception:  # noqa: BLE001 - the loop must survive a bad round
            LOG.exception("region refresh failed")
