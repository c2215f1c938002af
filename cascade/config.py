"""Cascade's oslo.config options, and the hook oslo-config-generator calls.

Regions listed in ``[DEFAULT] regions`` each get a ``[region_<name>]`` group,
registered when the configuration is loaded (``register_region_opts``).
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence

from oslo_config import cfg

__all__ = ["CONF", "list_opts", "register_opts", "register_region_opts",
           "region_group", "load", "database_url"]

CONF = cfg.CONF

default_opts = [
    cfg.StrOpt("state_path",
               default=os.path.join(os.path.expanduser("~"), ".local", "state", "cascade"),
               sample_default="$HOME/.local/state/cascade",
               help="Directory for Cascade's embedded state: the SQLite database "
                    "when [database] connection is not set."),
    cfg.ListOpt("regions", default=[],
                help="Regions registered from configuration at start-up. Each may "
                     "have a [region_<name>] group with its own settings; regions "
                     "can also be added through the admin API /v1/regions."),
    cfg.StrOpt("cascade_id", default="cascade",
               help="Name of this Cascade deployment, written on every regional object "
                    "it creates (server metadata cascade_owner, image property "
                    "cascade_owner, Neutron tag cascade-owner:<id>). The audit deletes "
                    "only orphans carrying its own name, so deployments sharing regions "
                    "never touch each other's objects."),
]

api_opts = [
    cfg.FloatOpt("cache_max_age", default=300.0, min=0.0,
                 help="Seconds a cached server status stays current. A down region's "
                      "servers are answered from cache; past this age (or from "
                      "microversion 2.69 on) their status is UNKNOWN, never a stale "
                      "value shown as current."),
    cfg.HostAddressOpt("bind_host", default="127.0.0.1",
                       help="Address cascade-api listens on."),
    cfg.PortOpt("bind_port", default=28080, help="Port cascade-api listens on."),
    cfg.IntOpt("workers", default=os.cpu_count() or 1, min=1,
               sample_default="<number of CPUs>",
               help="cascade-api processes serving the port, supervised by one parent "
                    "(gunicorn's arbiter) that replaces a worker that dies. 1: one "
                    "process and no parent. --all-in-one always runs 1."),
    cfg.IntOpt("graceful_shutdown_timeout", default=30, min=1,
               help="On SIGTERM, seconds the workers have to finish the requests in "
                    "flight before they are killed."),
    cfg.IntOpt("worker_heartbeat_timeout", default=60, min=5,
               help="A worker whose event loop does not report to the parent for this "
                    "many seconds is killed and replaced (workers > 1)."),
    cfg.URIOpt("public_url",
               help="Base URL tenants reach Cascade at, used in links, Location "
                    "headers and version documents. Default: derived from each "
                    "request's Host header."),
    cfg.IntOpt("max_request_body_size", default=114688, min=1024,
               help="Largest request body accepted, in bytes (image data uploads "
                    "are streamed and not bound by this). Larger bodies get 413."),
    cfg.FloatOpt("region_timeout", default=10.0, min=0.1,
                 help="Deadline in seconds for one call to a region, end to end. "
                      "A region that does not answer in time is treated as "
                      "unavailable for that request."),
    cfg.FloatOpt("auth_timeout", default=10.0, min=0.1,
                 help="Deadline in seconds for validating a token with Keystone "
                      "(cached identities need none). A Keystone that does not answer "
                      "in time gets the caller a 503, never a hung request."),
    cfg.FloatOpt("region_connect_timeout", default=2.0, min=0.1,
                 help="Deadline in seconds for opening a connection to a region."),
    cfg.BoolOpt("region_lean_get", default=True,
                help="Send plain GETs to the regions (lists, shows, look-ups) through "
                     "Cascade's lean HTTP/1.1 client, kept-alive connections with a "
                     "request built in one pass, rather than aiohttp's client (used for "
                     "everything else). A list across many regions sends one GET to each "
                     "from one event loop, so the set-up per request decides when the "
                     "last region is asked."),
    cfg.StrOpt("default_availability_zone",
               help="Cascade availability zone used for a server created without "
                    "one. Default: the enabled, healthy region with the highest "
                    "weight (ties broken by name)."),
    cfg.StrOpt("placement_policy", default="affinity", choices=[
                   ("affinity", "Regions where the project already has servers first, "
                                "then by weight."),
                   ("weight", "By weight only.")],
               help="How a region is chosen for a server created without an "
                    "availability zone (among enabled, healthy regions offering the "
                    "flavor). default_availability_zone, when set, comes first."),
    cfg.FloatOpt("build_watch_seconds", default=60.0, min=0,
                 help="How long after a create Cascade watches a server built without "
                      "an explicit zone, to move it to the next candidate region if "
                      "the region answers NoValidHost. 0 disables the fallback."),
    cfg.FloatOpt("regions_in_use_cache_seconds", default=1.0, min=0,
                 help="How long a list reuses which regions a project has servers in, "
                      "instead of asking the database. Creates and deletes through this "
                      "process refresh it at once; one made through another cascade-api "
                      "process shows in lists after at most this long. 0 disables."),
    cfg.IntOpt("list_view_cache_mb", default=64, min=0,
               help="Memory, in MiB, for the list entries cascade-api remembers by the "
                    "exact JSON text their region sent, so that a list does not "
                    "decode, rewrite and encode again a server that has not changed "
                    "(least recently listed out first; a typical server's entry takes "
                    "about 5 KB, so 64 MiB holds some 13,000). 0 disables."),
    cfg.StrOpt("auth_strategy", default="keystone", choices=[
                   ("keystone", "Validate tokens with keystonemiddleware auth_token."),
                   ("noauth", "TESTING ONLY: X-Auth-Token is 'user:project[:role,...]'.")],
               help="How tenant requests are authenticated."),
    cfg.FloatOpt("policy_reload_interval", default=2.0, min=0.1,
                 help="Seconds between looks at the policy file ([oslo_policy] "
                      "policy_file): a changed file applies within this time, without "
                      "a restart."),
    cfg.IntOpt("auth_cache_seconds", default=60, min=0,
               help="How long a validated token's identity is reused without asking "
                    "keystonemiddleware again (never past the token's expiry). "
                    "0 disables this cache."),
]

database_opts = [
    cfg.StrOpt("connection", secret=True,
               help="SQLAlchemy URL of Cascade's database, e.g. "
                    "postgresql+asyncpg://cascade@db/cascade. Default: SQLite file "
                    "cascade.sqlite under state_path (aiosqlite)."),
    cfg.IntOpt("pool_size", default=10, min=1,
               help="Connections kept open per process (PostgreSQL)."),
    cfg.IntOpt("lookup_pool_size", default=4, min=1,
               help="Connections kept open per process (PostgreSQL) for the one-"
                    "statement mapping look-ups of the show path, in a pool of their "
                    "own: autocommit and without the pre-ping round trip of the main "
                    "pool (a connection the database closed is noticed without one). "
                    "As many more are opened under bursts."),
    cfg.FloatOpt("connect_timeout", default=5.0, min=0.1,
                 help="Deadline in seconds for opening a connection to PostgreSQL. "
                      "While the database is away, requests get 503 within this time "
                      "(plus pool_timeout at most), never a hang."),
    cfg.FloatOpt("pool_timeout", default=10.0, min=0.1,
                 help="Longest wait, in seconds, for a free pooled connection before "
                      "the request gets 503."),
]

service_credentials_opts = [
    cfg.URIOpt("auth_url", default="http://127.0.0.1:25000/v3",
               help="Keystone v3 URL Cascade authenticates its own calls against "
                    "and reads the regions' catalog from."),
    cfg.StrOpt("username", default="cascade", help="Cascade's service user."),
    cfg.StrOpt("password", secret=True,
               help="Password of Cascade's service user. Required: cascade-api and "
                    "cascade-sync refuse to start without it (there is no default "
                    "password)."),
    cfg.StrOpt("project_name", default="service",
               help="Project Cascade's service user is scoped to."),
    cfg.StrOpt("user_domain_name", default="Default", help="Domain of the service user."),
    cfg.StrOpt("project_domain_name", default="Default",
               help="Domain of the service project."),
    cfg.StrOpt("interface", default="public", choices=["public", "internal", "admin"],
               help="Catalog interface used for regional endpoints."),
]

sync_opts = [
    cfg.ListOpt("workers", default=["*"],
                help="Which job kinds and loops this process runs: '*' for all, a name "
                     "to add one, '-name' to leave one out (e.g. '*,-image_replication')."),
    cfg.StrOpt("job_secret_key", secret=True,
               help="Fernet key (32 url-safe base64-encoded bytes) sealing the secrets "
                    "a job must carry (a deferred build's user token, adminPass, "
                    "user_data). Every process running jobs needs the same key. "
                    "Default: the key file $state_path/job_secret.key, created on "
                    "first use (enough for one host)."),
    cfg.FloatOpt("job_retention", default=7 * 86400.0, min=0,
                 help="Seconds a finished job (succeeded, failed, dead, cancelled) is "
                      "kept for inspection before the sweep deletes it; 0 keeps none."),
    cfg.FloatOpt("deleted_server_retention", default=30 * 86400.0, min=0,
                 help="Seconds a deleted server's id stays resolvable for its action "
                      "log (os-instance-actions from microversion 2.21, as Nova keeps "
                      "deleted instances until archived); 0 keeps none."),
    cfg.IntOpt("job_concurrency", default=4, min=1,
               help="Jobs one process works on at the same time."),
    cfg.FloatOpt("job_lease_seconds", default=60.0, min=3.0,
                 help="How long a claimed job stays with its worker without renewal; "
                      "renewed every third of it while the work goes on. A worker that "
                      "dies loses its jobs to others after this long."),
    cfg.IntOpt("job_max_attempts", default=6, min=1,
               help="Attempts before a job that keeps failing is declared dead."),
    cfg.FloatOpt("job_sweep_interval", default=2.0, min=0.1,
                 help="Seconds between looks for due jobs when no wake-up arrives "
                      "(wake-ups are only a shortcut; a lost one costs this much)."),
    cfg.FloatOpt("region_probe_interval", default=30.0, min=1.0,
                 help="Seconds between health and capability probes of each region."),
    cfg.IntOpt("region_down_after", default=3, min=1,
               help="Failed probes in a row before a healthy region is marked down "
                    "(one failure alone only makes it degraded)."),
    cfg.IntOpt("region_up_after", default=2, min=1,
               help="Good probes in a row before a down region is marked up again."),
    cfg.FloatOpt("reconcile_interval", default=10.0, min=0.5,
                 help="Seconds between incremental status reconciliations of each "
                      "region (servers changed since the last pass)."),
    cfg.FloatOpt("reconcile_margin", default=60.0, min=0.0,
                 help="Seconds subtracted from the watermark when asking a region for "
                      "changes since it, to cover clock skew between Cascade and the "
                      "region."),
    cfg.FloatOpt("audit_interval", default=600.0, min=5.0,
                 help="Seconds between drift audits of every region."),
    cfg.FloatOpt("audit_grace", default=300.0, min=0.0,
                 help="Age in seconds a regional object Cascade tagged but no longer "
                      "maps must reach before the audit deletes it (creates in flight "
                      "are younger)."),
    cfg.FloatOpt("delete_sweep_interval", default=5.0, min=0.5,
                 help="Seconds between sweeps that finish server deletes once the "
                      "region no longer has the server."),
    cfg.StrOpt("notification_topic", default="cascade_notifications",
               help="Topic Cascade listens to for the regions' Nova, Neutron and Glance "
                    "notifications (in regions with a notification_transport_url). Add "
                    "it to the services' topics (Nova: [notifications] "
                    "versioned_notifications_topics; Neutron, Glance: "
                    "[oslo_messaging_notifications] topics) so that Cascade has its own "
                    "copy of every notification."),
    cfg.StrOpt("notification_pool", default="cascade",
               help="Listener pool of Cascade's notification consumers: the cascade-sync "
                    "processes of one deployment share it and so split the notifications "
                    "between them, while consumers in another pool (or none) get their "
                    "own copy. Give each Cascade deployment using the same regions its "
                    "own pool. Empty: consume the topic's default queues "
                    "(<topic>.info...), which the services create when they publish and "
                    "which otherwise fill up unless a broker policy caps them; only "
                    "for the one deployment that owns the topic."),
]

image_opts = [
    cfg.StrOpt("default_store",
               help="Region that receives image uploads when the client names no store "
                    "(X-Image-Meta-Store). Default: the enabled, healthy region with the "
                    "highest weight."),
    cfg.IntOpt("progress_every_mib", default=16, min=1,
               help="How often (MiB copied) a replication records its progress."),
    cfg.StrOpt("metadefs_region",
               help="Region whose Glance holds the metadata definitions catalog "
                    "(/v2/metadefs) Cascade serves for all regions. Default: the usable "
                    "region with the highest weight (then by name)."),
]

quota_opts = [
    cfg.IntOpt("instances", default=10, min=-1,
               help="Default limit of servers per project (-1: unlimited)."),
    cfg.IntOpt("cores", default=20, min=-1,
               help="Default limit of server vCPUs per project (-1: unlimited)."),
    cfg.IntOpt("ram", default=51200, min=-1,
               help="Default limit of server RAM per project, in MiB (-1: unlimited)."),
    cfg.IntOpt("key_pairs", default=100, min=-1,
               help="Default limit of keypairs per project (-1: unlimited)."),
    cfg.IntOpt("server_groups", default=10, min=-1,
               help="Default limit of server groups per project (-1: unlimited)."),
    cfg.IntOpt("server_group_members", default=10, min=-1,
               help="Default limit of servers per server group (-1: unlimited)."),
    cfg.IntOpt("metadata_items", default=128, min=-1,
               help="Default limit of metadata items per server (-1: unlimited)."),
    cfg.IntOpt("network", default=100, min=-1,
               help="Default limit of networks per project (-1: unlimited)."),
    cfg.IntOpt("subnet", default=100, min=-1,
               help="Default limit of subnets per project (-1: unlimited)."),
    cfg.IntOpt("port", default=500, min=-1,
               help="Default limit of ports per project (-1: unlimited)."),
    cfg.IntOpt("security_group", default=10, min=-1,
               help="Default limit of security groups per project (-1: unlimited)."),
    cfg.IntOpt("security_group_rule", default=100, min=-1,
               help="Default limit of security group rules per project (-1: unlimited)."),
    cfg.IntOpt("router", default=10, min=-1,
               help="Default limit of routers per project (-1: unlimited)."),
    cfg.IntOpt("floatingip", default=50, min=-1,
               help="Default limit of floating IPs per project (-1: unlimited)."),
    cfg.FloatOpt("reservation_expire", default=300.0, min=1.0,
                 help="Seconds a quota reservation (a create between admission and "
                      "completion) holds its share before it is released. It is "
                      "released at once when the create fails; this only bounds "
                      "what a dead process can hold."),
    cfg.FloatOpt("reconcile_interval", default=60.0, min=1.0,
                 help="Seconds between quota sweeps: expired reservations released, "
                      "usage recounted from the resources Cascade holds, and (with "
                      "push_to_regions) regional limits refreshed."),
    cfg.BoolOpt("push_to_regions", default=False,
                help="Also set each project's quotas in every region, to what is left "
                     "of the global limit plus the project's usage in that region, so "
                     "that using a region directly cannot exceed the global limit. "
                     "Needs Cascade's service user to be admin in the regions."),
]

network_opts = [
    cfg.StrOpt("bridge_cidr_pool", default="100.64.0.0/16",
               help="Addresses for projects' bridge networks (where a router's copies in "
                    "several regions meet). Each project with a router spanning regions "
                    "gets one block of bridge_prefixlen from it, never overlapping a subnet "
                    "of its own or one on its routers."),
    cfg.IntOpt("bridge_prefixlen", default=24, min=8, max=29,
               help="Prefix length of each project's bridge subnet (its block of "
                    "bridge_cidr_pool); each regional copy of each of the project's "
                    "spanning routers takes one address of it, so it bounds routers times "
                    "regions per project."),
    cfg.StrOpt("bridge_physical_network", default="physnet1",
               help="Physical network every region shares (same name, same VLAN range in "
                    "each region's ML2 config): bridge networks are VLAN segments on it."),
    cfg.StrOpt("bridge_vlan_range", default="1000:1999",
               help="VLAN ids (first:last) Cascade hands out on bridge_physical_network, "
                    "one per bridge network; the regions must not hand them out "
                    "themselves (their tenant networks use another type or range)."),
    cfg.FloatOpt("router_converge_delay", default=0.0, min=0.0,
                 help="Seconds a router change waits before its regions are brought in "
                      "step, so that a burst of interface changes is applied at once."),
]

region_opts = [
    cfg.StrOpt("availability_zone",
               help="Availability zone name tenants see for this region through "
                    "Cascade; unique across regions. Default: the region name."),
    cfg.StrOpt("local_availability_zone",
               help="Availability zone to ask for inside the region when creating "
                    "servers. Default: none (the region chooses)."),
    cfg.URIOpt("compute_endpoint",
               help="Override of the region's compute endpoint (else the catalog)."),
    cfg.URIOpt("image_endpoint",
               help="Override of the region's image endpoint (else the catalog)."),
    cfg.URIOpt("network_endpoint",
               help="Override of the region's network endpoint (else the catalog)."),
    cfg.IntOpt("weight", default=1, help="Preference among regions; higher first."),
    cfg.BoolOpt("enabled", default=True,
                help="Whether the region takes new placements."),
    cfg.StrOpt("notification_transport_url", secret=True,
               help="oslo.messaging transport URL the region's Nova, Neutron and Glance "
                    "publish notifications on (their [oslo_messaging_notifications] "
                    "transport_url, else their [DEFAULT] transport_url), e.g. "
                    "rabbit://user:pass@host:5672/vhost. When set, Cascade refreshes an "
                    "object as soon as the region notifies a change to it, instead of "
                    "waiting for the next reconciliation. Default: none (no listener)."),
]

coherence_opts = [
    cfg.FloatOpt("barrier_timeout", default=1.0, min=0.01,
                 help="Longest wait, in seconds, before a request for the notices "
                      "committed before it (one round trip on the listening "
                      "connection, shared by concurrent requests). Past it the "
                      "request goes on with this process's caches dropped."),
    cfg.FloatOpt("reconnect_interval", default=1.0, min=0.1,
                 help="Seconds between attempts to listen again after the listening "
                      "connection to PostgreSQL was lost (caches are dropped "
                      "meanwhile)."),
]

_GROUPS: list[tuple[str | None, Sequence[cfg.Opt]]] = [
    (None, default_opts),
    ("api", api_opts),
    ("database", database_opts),
    ("service_credentials", service_credentials_opts),
    ("sync", sync_opts),
    ("image", image_opts),
    ("quota", quota_opts),
    ("network", network_opts),
    ("coherence", coherence_opts),
]


def region_group(name: str) -> str:
    """Name of the config group holding one region's settings."""
    return f"region_{name}"


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register every static option on ``conf``, oslo.messaging's transport ones too."""
    for group, opts in _GROUPS:
        conf.register_opts(opts, group=group)
    from oslo_messaging import opts as messaging_opts

    for group, opts in messaging_opts.list_opts():
        conf.register_opts(opts, group=None if group == "DEFAULT" else group)
    # NOTE: oslo.messaging reads [oslo_messaging_metrics] and [oslo_messaging_tracing]
    # from the transport's own ConfigOpts but registers them only on the global
    # CONF, and list_opts() omits them; copy them over so a private ConfigOpts works.
    from oslo_messaging._metrics import client as metrics
    from oslo_messaging._tracing import client as tracing

    conf.register_opts(metrics.oslo_messaging_metrics, group="oslo_messaging_metrics")
    conf.register_opts(tracing.oslo_messaging_tracing, group="oslo_messaging_tracing")


def register_region_opts(conf: cfg.ConfigOpts) -> None:
    """Register a ``[region_<name>]`` group for each region named in ``regions``."""
    for name in conf.regions:
        conf.register_opts(region_opts, group=region_group(name))


def load(argv: list[str] | None = None, *, conf: cfg.ConfigOpts | None = None,
         default_config_files: list[str] | None = None) -> cfg.ConfigOpts:
    """Parse command line and config files into ``conf`` (a fresh one by default)."""
    conf = conf if conf is not None else cfg.ConfigOpts()
    register_opts(conf)
    conf(argv if argv is not None else [], project="cascade",
         default_config_files=default_config_files)
    register_region_opts(conf)
    return conf


def database_url(conf: cfg.ConfigOpts) -> str:
    """The configured database URL, or the embedded SQLite file."""
    if conf.database.connection:
        return str(conf.database.connection)
    os.makedirs(conf.state_path, exist_ok=True)
    return "sqlite+aiosqlite:///" + os.path.join(conf.state_path, "cascade.sqlite")


def list_opts() -> Iterable[tuple[str, Sequence[cfg.Opt]]]:
    """Options for oslo-config-generator (``[region_name]`` documents the per-region group)."""
    return [(group or "DEFAULT", opts) for group, opts in _GROUPS] + [
        ("region_name", region_opts)]
