"""The quota catalogue: every resource Cascade keeps a limit for, and its default.

Two kinds: *counted* resources have usage in the ledger (servers, cores, RAM,
keypairs, networks...); the others are limits only, checked per object
(metadata items per server, members per server group) or kept because Nova
still shows them at old microversions (``injected_files``, ``floating_ips``...).
Names are the services' own, so Nova's ``security_groups`` (a dead proxy
limit) and Neutron's ``security_group`` are different entries.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from oslo_config import cfg

from cascade import errors
from cascade.regions import paths

__all__ = ["QuotaResource", "RESOURCES", "COMPUTE", "NETWORK", "COUNTED", "get",
           "of_service", "defaults", "checked_project_id"]

COMPUTE = "compute"
NETWORK = "network"


@dataclasses.dataclass(frozen=True, slots=True)
class QuotaResource:
    """One entry of the catalogue."""

    name: str
    service: str
    #: Whether the ledger counts usage of it.
    counted: bool
    #: Whether ``[quota] <name>`` holds its default; else ``fixed_default`` applies.
    configurable: bool = True
    fixed_default: int = 0
    #: Compute microversion from which Nova no longer shows it (None: always shown).
    removed_in: tuple[int, int] | None = None

    def shown_at(self, microversion: tuple[int, int]) -> bool:
        """Whether Nova shows this resource at ``microversion``."""
        return self.removed_in is None or microversion < self.removed_in


def _legacy(name: str, default: int, removed_in: tuple[int, int]) -> QuotaResource:
    return QuotaResource(name, COMPUTE, counted=False, configurable=False,
                         fixed_default=default, removed_in=removed_in)


#: Nova 2.36 dropped the limits that proxied the network service; 2.57 personality files.
_NETWORK_PROXIES = (2, 36)
_PERSONALITY = (2, 57)

RESOURCES: dict[str, QuotaResource] = {r.name: r for r in (
    QuotaResource("instances", COMPUTE, counted=True),
    QuotaResource("cores", COMPUTE, counted=True),
    QuotaResource("ram", COMPUTE, counted=True),
    QuotaResource("key_pairs", COMPUTE, counted=True),
    QuotaResource("server_groups", COMPUTE, counted=True),
    QuotaResource("server_group_members", COMPUTE, counted=False),
    QuotaResource("metadata_items", COMPUTE, counted=False),
    # Nova's own defaults for what it still shows before 2.36 / 2.57; Cascade
    # stores what an admin sets for them and enforces none.
    _legacy("injected_files", 5, _PERSONALITY),
    _legacy("injected_file_content_bytes", 10240, _PERSONALITY),
    _legacy("injected_file_path_bytes", 255, _PERSONALITY),
    _legacy("fixed_ips", -1, _NETWORK_PROXIES),
    _legacy("floating_ips", 10, _NETWORK_PROXIES),
    _legacy("security_groups", 10, _NETWORK_PROXIES),
    _legacy("security_group_rules", 20, _NETWORK_PROXIES),
    QuotaResource("network", NETWORK, counted=True),
    QuotaResource("subnet", NETWORK, counted=True),
    QuotaResource("port", NETWORK, counted=True),
    QuotaResource("security_group", NETWORK, counted=True),
    QuotaResource("security_group_rule", NETWORK, counted=True),
    QuotaResource("router", NETWORK, counted=True),
    QuotaResource("floatingip", NETWORK, counted=True),
)}

#: Names of the resources the ledger counts, sorted (the order rows are locked in).
COUNTED: tuple[str, ...] = tuple(sorted(n for n, r in RESOURCES.items() if r.counted))


def get(name: str) -> QuotaResource:
    """The catalogue entry; :raises KeyError: not a quota resource."""
    return RESOURCES[name]


def of_service(service: str) -> list[QuotaResource]:
    """The resources ``service`` (compute or network) shows, in catalogue order."""
    return [r for r in RESOURCES.values() if r.service == service]


def defaults(conf: cfg.ConfigOpts) -> Mapping[str, int]:
    """Every resource's default limit: ``[quota]`` options, else the fixed defaults."""
    group = conf.quota
    return {name: int(group[name]) if r.configurable else r.fixed_default
            for name, r in RESOURCES.items()}


#: Keystone's project ids are at most 64 characters (and so is the ledger's key).
MAX_PROJECT_ID = 64


def checked_project_id(value: str) -> str:
    """A project id named in a quota path, as Nova and Neutron take it: any
    string that is one path segment, at most ``MAX_PROJECT_ID`` long.

    :raises BadRequest: anything else.
    """
    try:
        paths.segment(value)
    except paths.UnsafePath:
        ok = False
    else:
        ok = len(value) <= MAX_PROJECT_ID
    if not ok:
        raise errors.BadRequest(f"Invalid project id {value[:80]!r}")
    return value
