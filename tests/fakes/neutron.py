"""The Neutron v2.0 subset of the fake region: networks, subnets, ports, security groups,
tags and quotas, kept in memory.

Written from the Networking API v2.0 reference. Resources are stored as dicts in their
wire form (what an admin sees), so tests can read and seed ``FakeNeutron.networks`` and
friends directly; answers use Neutron's shapes and failures come back as ``NeutronError``
bodies with Neutron's status codes.

The caller is read from the token as keystonemiddleware would report it: the tests'
NoAuth form ``user:project[:role,role]``, overridden by ``X-Project-Id``/``X-Roles``
headers when given; the fake's own service token is an admin. Other tokens are their
own project, as the fake's Nova part treats them.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import ipaddress
import itertools
import re
import uuid
from typing import Any, Awaitable, Callable

from aiohttp import web
from multidict import MultiMapping

__all__ = ["FakeNeutron", "NeutronFault", "Caller", "EXTENSIONS", "QUOTA_DEFAULTS",
           "SERVICE_TOKEN"]

PREFIX = "/network/v2.0"
#: The token the fake's Keystone hands Cascade; it acts as an admin.
SERVICE_TOKEN = "service-token"
QUOTA_DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
                  "security_group": 10, "security_group_rule": 100, "rbac_policy": 10,
                  "subnetpool": -1}
#: alias -> name, for GET /v2.0/extensions; each one is something this fake honours.
EXTENSIONS = {
    "allowed-address-pairs": "Allowed Address Pairs",
    "availability_zone": "Availability Zone",
    "binding": "Port Binding",
    "external-net": "Neutron external network",
    "filter-validation": "Filter parameters validation",
    "net-mtu": "Network MTU",
    "net-mtu-writable": "Network MTU (writable)",
    "network_availability_zone": "Network Availability Zone",
    "pagination": "Pagination support",
    "port-security": "Port Security",
    "project-id": "project_id field enabled",
    "quota_details": "Quota details management support",
    "quotas": "Quota management support",
    "security-group": "security-group",
    "sorting": "Sorting support",
    "standard-attr-description": "standard-attr-description",
    "standard-attr-revisions": "Resource revision numbers",
    "standard-attr-tag": "Tag support for resources with standard attribute",
    "standard-attr-timestamp": "Resource timestamps",
    "stateful-security-group": "Stateful security group",
    "tag-creation": "Tag support for resource creation",
}
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
_DHCP = "network:dhcp"
#: Port fields Neutron's default policy shows to admins only.
_ADMIN_PORT_FIELDS = ("binding:host_id", "binding:profile", "binding:vif_type",
                      "binding:vif_details")
_PROTOCOLS = {"any": 0, "ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "icmp": 1,
              "icmpv6": 58, "igmp": 2, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44,
              "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43,
              "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17,
              "udplite": 136, "vrrp": 112}
_PORT_PROTOCOLS = {6, 17, 33, 132, 136}
_ICMP_PROTOCOLS = {1, 58}
_BOOLS = {"admin_state_up", "shared", "router:external", "port_security_enabled",
          "enable_dhcp", "stateful"}
_INTS = {"mtu", "ip_version", "revision_number", "port_range_min", "port_range_max"}
#: List fields a filter matches by membership; other list/dict fields are not filters.
_MEMBER_FILTERS = {"subnets", "availability_zone_hints", "availability_zones",
                   "dns_nameservers", "security_groups"}
_COMPOUND = {"subnets", "availability_zone_hints", "availability_zones", "tags",
             "allocation_pools", "dns_nameservers", "host_routes", "fixed_ips",
             "allowed_address_pairs", "security_groups", "binding:profile",
             "binding:vif_details", "security_group_rules"}
_CONTROL = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}


class NeutronFault(Exception):
    """A failure answered as Neutron does: ``{"NeutronError": {type, message, detail}}``."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message

    def response(self) -> web.Response:
        if self.status == 401:  # keystonemiddleware answers before Neutron sees it
            body: dict[str, Any] = {"error": {"code": 401, "title": "Unauthorized",
                                              "message": self.message}}
        else:
            body = {"NeutronError": {"type": self.type, "message": self.message,
                                     "detail": ""}}
        return web.json_response(body, status=self.status)


def _bad(message: str, type_: str = "HTTPBadRequest") -> NeutronFault:
    return NeutronFault(400, type_, message)


def _invalid(message: str) -> NeutronFault:
    return NeutronFault(400, "InvalidInput", f"Invalid input for operation: {message}.")


def _conflict(type_: str, message: str) -> NeutronFault:
    return NeutronFault(409, type_, message)


def _forbid(rule: str) -> NeutronFault:
    return NeutronFault(403, "PolicyNotAuthorized", f"rule:{rule} is disallowed by policy")


@dataclasses.dataclass(frozen=True)
class Caller:
    project_id: str
    roles: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def caller_of(request: web.Request) -> Caller:
    """Who is asking; 401 without a token.

    :raises NeutronFault: no X-Auth-Token.
    """
    token = request.headers.get("X-Auth-Token", "")
    if not token:
        raise NeutronFault(401, "Unauthorized",
                           "The request you have made requires authentication.")
    parts = token.split(":")
    if token == SERVICE_TOKEN:
        found = Caller("service", ("admin", "service"))
    elif len(parts) >= 2 and parts[1]:
        roles = parts[2] if len(parts) > 2 else "member"
        found = Caller(parts[1], tuple(r for r in roles.split(",") if r))
    else:
        found = Caller(token, ("member",))
    roles_header = request.headers.get("X-Roles")
    return Caller(request.headers.get("X-Project-Id") or found.project_id,
                  tuple(r for r in roles_header.split(",") if r) if roles_header is not None
                  else found.roles)


# -- attribute checks: each returns the converted value or raises ValueError(reason) ----

Check = Callable[[Any], Any]


def _string(limit: int = 255) -> Check:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"'{value}' is not a valid string")
        if len(value) > limit:
            raise ValueError(f"'{value}' exceeds maximum length of {limit}")
        return value
    return check


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int)) and str(value).lower() in ("true", "1", "false", "0"):
        return str(value).lower() in ("true", "1")
    raise ValueError(f"'{value}' cannot be converted to boolean")


def _integer(low: int, high: int | None = None) -> Check:
    def check(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not re.fullmatch(r"-?\d+", str(value).strip()):
            raise ValueError(f"'{value}' is not an integer")
        number = int(value)
        if number < low or (high is not None and number > high):
            raise ValueError(f"'{number}' is not in the range {low} through {high}"
                             if high is not None else
                             f"'{number}' should be greater than or equal to {low}")
        return number
    return check


def _one_of(*values: Any) -> Check:
    def check(value: Any) -> Any:
        if value not in values:
            raise ValueError(f"'{value}' is not in {list(values)}")
        return value
    return check


def _uuid(value: Any) -> Any:
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a valid UUID") from None
    return value


def _ip(value: Any) -> Any:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a valid IP address") from None


def _cidr(value: Any) -> Any:
    try:
        net = ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError):
        raise ValueError(f"'{value}' is not a valid IP subnet") from None
    if str(net) != value:
        raise ValueError(f"'{value}' isn't a recognized IP subnet cidr, '{net}' is recommended")
    return value


def _prefix(value: Any) -> Any:
    try:
        ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError):
        raise ValueError(f"'{value}' is not a valid IP subnet") from None
    return value


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _list_of(check: Check) -> Check:
    def run(value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError(f"'{value}' is not a list")
        return [check(item) for item in value]
    return run


def _tags(value: Any) -> list[str]:
    tags = _list_of(_string(60))(value)
    if not all(tags):
        raise ValueError("'' is not a valid tag")
    return list(dict.fromkeys(tags))


def _mac(value: Any) -> Any:
    if not isinstance(value, str) or not re.fullmatch(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}",
                                                      value):
        raise ValueError(f"'{value}' is not a valid MAC address")
    return value.lower()


def _records(what: str, keys: dict[str, Check], required: tuple[str, ...]) -> Check:
    """A list of dicts such as allocation pools: only ``keys``, ``required`` present."""
    def check(value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError(f"'{value}' is not a list")
        out = []
        for item in value:
            if (not isinstance(item, dict) or set(item) - set(keys)
                    or any(k not in item for k in required)):
                raise ValueError(f"Invalid data format for {what}: '{item}'")
            try:
                out.append({k: keys[k](v) for k, v in item.items()})
            except ValueError:
                raise ValueError(f"Invalid data format for {what}: '{item}'") from None
        return out
    return check


def _dict(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"'{value}' is not a dictionary")
    return value


_CHECKS: dict[str, Check] = {
    "name": _string(), "description": _string(), "device_id": _string(),
    "device_owner": _string(), "binding:host_id": _string(),
    "project_id": _string(), "tenant_id": _string(),
    **{attr: _boolean for attr in _BOOLS},
    "mtu": _integer(68), "ip_version": lambda v: _one_of(4, 6)(_integer(0)(v)),
    "port_range_min": _integer(0, 65535), "port_range_max": _integer(0, 65535),
    "tags": _tags, "network_id": _uuid, "security_group_id": _uuid,
    "remote_group_id": _optional(_uuid), "security_groups": _list_of(_uuid),
    "cidr": _cidr, "remote_ip_prefix": _optional(_prefix), "gateway_ip": _optional(_ip),
    "dns_nameservers": _list_of(_ip), "mac_address": _mac,
    "availability_zone_hints": _list_of(_string()),
    "allocation_pools": _records("IP pool", {"start": _ip, "end": _ip}, ("start", "end")),
    "host_routes": _records("hostroute", {"destination": _cidr, "nexthop": _ip},
                            ("destination", "nexthop")),
    "fixed_ips": _records("fixed IP", {"subnet_id": _uuid, "ip_address": _ip}, ()),
    "allowed_address_pairs": _records("allowed address pair",
                                      {"ip_address": _prefix, "mac_address": _mac},
                                      ("ip_address",)),
    "direction": _one_of("ingress", "egress"),
    "ethertype": lambda v: _one_of("IPv4", "IPv6")(
        {"ipv4": "IPv4", "ipv6": "IPv6"}.get(str(v).lower(), v)),
    "ipv6_ra_mode": _optional(_one_of("slaac", "dhcpv6-stateful", "dhcpv6-stateless")),
    "ipv6_address_mode": _optional(_one_of("slaac", "dhcpv6-stateful", "dhcpv6-stateless")),
    "binding:vnic_type": _one_of("normal", "direct", "macvtap", "baremetal",
                                 "direct-physical", "virtio-forwarder", "smart-nic",
                                 "remote-managed", "vdpa"),
    "binding:profile": _dict,
}


@dataclasses.dataclass(frozen=True)
class _Kind:
    """How one collection is addressed, named, validated and protected."""

    path: str                    #: URL collection: "security-groups"
    member: str                  #: body key: "security_group"
    plural: str                  #: list key and FakeNeutron attribute: "security_groups"
    missing: str                 #: 404 message, ``{}`` is the id
    not_found: str               #: 404 NeutronError type
    attrs: tuple[str, ...]       #: wire fields
    post: frozenset[str]
    put: frozenset[str]
    required: tuple[str, ...] = ()
    quota: str = ""

    @property
    def sortable(self) -> set[str]:
        return set(self.attrs) - _COMPOUND


#: ``tags`` are taken in a create body for ports only, as by Neutron's tagging
#: extension (``Attribute 'tags' not allowed in POST`` for the others).
_STD = ("tags", "created_at", "updated_at", "revision_number")
_OWNER = frozenset({"project_id", "tenant_id"})
NETWORK = _Kind(
    "networks", "network", "networks", "Network {} could not be found.", "NetworkNotFound",
    ("id", "name", "project_id", "tenant_id", "admin_state_up", "status", "subnets",
     "shared", "mtu", "availability_zone_hints", "availability_zones", "router:external",
     "port_security_enabled", "description", *_STD),
    _OWNER | {"name", "admin_state_up", "shared", "description", "mtu",
              "availability_zone_hints", "port_security_enabled", "router:external"},
    frozenset({"name", "description", "admin_state_up", "shared", "mtu",
               "port_security_enabled", "router:external"}), quota="network")
SUBNET = _Kind(
    "subnets", "subnet", "subnets", "Subnet {} could not be found.", "SubnetNotFound",
    ("id", "name", "project_id", "tenant_id", "network_id", "ip_version", "cidr",
     "gateway_ip", "allocation_pools", "enable_dhcp", "dns_nameservers", "host_routes",
     "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id", "description", *_STD),
    _OWNER | {"network_id", "cidr", "ip_version", "name", "gateway_ip", "allocation_pools",
              "enable_dhcp", "dns_nameservers", "host_routes", "ipv6_ra_mode",
              "ipv6_address_mode", "description"},
    frozenset({"name", "description", "gateway_ip", "allocation_pools", "enable_dhcp",
               "dns_nameservers", "host_routes"}),
    ("network_id", "ip_version", "cidr"), quota="subnet")
PORT = _Kind(
    "ports", "port", "ports", "Port {} could not be found.", "PortNotFound",
    ("id", "name", "project_id", "tenant_id", "network_id", "mac_address", "admin_state_up",
     "status", "device_id", "device_owner", "fixed_ips", "allowed_address_pairs",
     "security_groups", "port_security_enabled", "description", "binding:host_id",
     "binding:profile", "binding:vif_type", "binding:vif_details", "binding:vnic_type",
     *_STD),
    _OWNER | {"network_id", "name", "fixed_ips", "mac_address", "device_id", "device_owner",
              "security_groups", "admin_state_up", "tags", "description", "binding:host_id",
              "binding:vnic_type", "binding:profile", "port_security_enabled",
              "allowed_address_pairs"},
    frozenset({"name", "fixed_ips", "device_id", "device_owner", "security_groups",
               "admin_state_up", "description", "binding:host_id", "binding:vnic_type",
               "binding:profile", "port_security_enabled", "allowed_address_pairs"}),
    ("network_id",), quota="port")
SECURITY_GROUP = _Kind(
    "security-groups", "security_group", "security_groups", "Security group {} does not exist",
    "SecurityGroupNotFound",
    ("id", "name", "project_id", "tenant_id", "description", "stateful",
     "security_group_rules", *_STD),
    _OWNER | {"name", "description", "stateful"},
    frozenset({"name", "description", "stateful"}), quota="security_group")
SECURITY_GROUP_RULE = _Kind(
    "security-group-rules", "security_group_rule", "security_group_rules",
    "Security group rule {} does not exist", "SecurityGroupRuleNotFound",
    ("id", "project_id", "tenant_id", "security_group_id", "direction", "ethertype",
     "protocol", "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id",
     "normalized_cidr", "description", "created_at", "updated_at", "revision_number"),
    _OWNER | {"security_group_id", "direction", "ethertype", "protocol", "port_range_min",
              "port_range_max", "remote_ip_prefix", "remote_group_id", "description"},
    frozenset(), ("security_group_id", "direction"), quota="security_group_rule")
_KINDS = {k.path: k for k in (NETWORK, SUBNET, PORT, SECURITY_GROUP, SECURITY_GROUP_RULE)}

Handler = Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]


@dataclasses.dataclass
class _Injected:
    method: str
    collection: str
    fault: NeutronFault
    times: int


class FakeNeutron:
    """Neutron state of one fake region; ``routes()`` serves it under ``/network/v2.0``."""

    def __init__(self) -> None:
        self.networks: dict[str, dict[str, Any]] = {}
        self.subnets: dict[str, dict[str, Any]] = {}
        self.ports: dict[str, dict[str, Any]] = {}
        self.security_groups: dict[str, dict[str, Any]] = {}
        self.security_group_rules: dict[str, dict[str, Any]] = {}
        #: project -> quota limits set by PUT (defaults elsewhere); every PUT, in order.
        self.quotas: dict[str, dict[str, int]] = {}
        self.quota_puts: list[tuple[str, dict[str, int]]] = []
        #: (method, path below /network/v2.0, caller's project) of every v2.0 call.
        self.calls: list[tuple[str, str, str]] = []
        #: Availability zones that ``availability_zone_hints`` may name.
        self.zones = ["nova"]
        #: When True, a DHCP-enabled subnet gets a network:dhcp port, as the agent adds.
        self.auto_dhcp_port = False
        self._defaults: dict[str, str] = {}   # project -> its default security group
        self._injected: list[_Injected] = []
        self._clock = itertools.count()

    # -- for tests ---------------------------------------------------------------

    def fail(self, method: str, collection: str, status: int = 500,
             type_: str = "HTTPInternalServerError",
             message: str = "Request Failed: internal server error while processing your "
                            "request.", *, times: int = 1) -> None:
        """Answer the next ``times`` ``method`` calls on ``collection`` with this fault."""
        self._injected.append(_Injected(method.upper(), collection,
                                        NeutronFault(status, type_, message), times))

    def default_security_group(self, project_id: str) -> dict[str, Any]:
        """The project's ``default`` group, made as Neutron does on first use."""
        sg = self.security_groups.get(self._defaults.get(project_id, ""))
        if sg is None:
            sg = self._make_group(project_id, "default", "Default security group")
            self._defaults[project_id] = sg["id"]
            for ethertype in ("IPv4", "IPv6"):
                self._make_rule(sg, "ingress", ethertype, remote_group_id=sg["id"])
        return sg

    def quota(self, project_id: str) -> dict[str, int]:
        return {**QUOTA_DEFAULTS, **self.quotas.get(project_id, {})}

    def usage(self, project_id: str) -> dict[str, int]:
        used = dict.fromkeys(QUOTA_DEFAULTS, 0)
        for kind in (NETWORK, SUBNET, PORT, SECURITY_GROUP, SECURITY_GROUP_RULE):
            used[kind.quota] = sum(r["project_id"] == project_id for r in self._table(kind))
        return used

    def routes(self) -> list[web.RouteDef]:
        every = "{coll:networks|subnets|ports|security-groups|security-group-rules}"
        some = "{coll:networks|subnets|ports|security-groups}"
        table: list[tuple[str, str, Handler]] = [
            ("GET", "", self._resources), ("GET", "/", self._resources),
            ("GET", "/extensions", self._extensions),
            ("GET", "/extensions/{alias}", self._extension),
            ("GET", f"/{every}", self._list), ("POST", f"/{every}", self._create),
            ("GET", f"/{every}/{{id}}", self._show), ("PUT", f"/{some}/{{id}}", self._update),
            ("DELETE", f"/{every}/{{id}}", self._delete),
            ("GET", f"/{some}/{{id}}/tags", self._get_tags),
            ("PUT", f"/{some}/{{id}}/tags", self._replace_tags),
            ("DELETE", f"/{some}/{{id}}/tags", self._clear_tags),
            ("GET", f"/{some}/{{id}}/tags/{{tag}}", self._has_tag),
            ("PUT", f"/{some}/{{id}}/tags/{{tag}}", self._add_tag),
            ("DELETE", f"/{some}/{{id}}/tags/{{tag}}", self._remove_tag),
            ("GET", "/quotas", self._list_quotas),
            ("GET", "/quotas/{project_id}", self._show_quota),
            ("PUT", "/quotas/{project_id}", self._set_quota),
            ("DELETE", "/quotas/{project_id}", self._reset_quota),
            ("GET", "/quotas/{project_id}/details", self._quota_details),
            ("GET", "/quotas/{project_id}/default", self._quota_defaults),
        ]
        return [web.route(method, PREFIX + path, self._wrap(handler))
                for method, path, handler in table]

    def _wrap(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                caller = caller_of(request)
                path = request.path[len(PREFIX):]
                self.calls.append((request.method, path, caller.project_id))
                self._raise_injected(request.method, path.strip("/").split("/")[0])
                return await handler(request, caller)
            except NeutronFault as fault:
                return fault.response()
        return run

    def _raise_injected(self, method: str, collection: str) -> None:
        for entry in self._injected:
            if (entry.method, entry.collection) == (method, collection):
                entry.times -= 1
                if entry.times <= 0:
                    self._injected.remove(entry)
                raise entry.fault

    # -- shared machinery ----------------------------------------------------------

    def _now(self) -> str:
        moment = _EPOCH + dt.timedelta(seconds=next(self._clock))
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _stamp(self, project_id: str, revision: int) -> dict[str, Any]:
        now = self._now()
        return {"id": str(uuid.uuid4()), "project_id": project_id, "tenant_id": project_id,
                "created_at": now, "updated_at": now, "revision_number": revision}

    def _touch(self, resource: dict[str, Any]) -> None:
        resource["revision_number"] += 1
        resource["updated_at"] = self._now()

    def _table(self, kind: _Kind) -> list[dict[str, Any]]:
        return list(getattr(self, kind.plural).values())

    def _visible(self, kind: _Kind, res: dict[str, Any], caller: Caller) -> bool:
        if caller.is_admin or res["project_id"] == caller.project_id:
            return True
        if kind is NETWORK:
            return bool(res["shared"] or res["router:external"])
        if kind in (SUBNET, PORT):
            net = self.networks.get(res["network_id"], {})
            return bool(net.get("project_id") == caller.project_id
                        or (kind is SUBNET and net.get("shared")))
        if kind is SECURITY_GROUP_RULE:
            sg = self.security_groups.get(res["security_group_id"], {})
            return bool(sg.get("project_id") == caller.project_id)
        return False

    def _find(self, kind: _Kind, rid: str, caller: Caller) -> dict[str, Any]:
        """The resource ``rid`` if the caller may see it.

        :raises NeutronFault: 404 in the kind's own type.
        """
        res: dict[str, Any] | None = getattr(self, kind.plural).get(rid)
        if res is None or not self._visible(kind, res, caller):
            raise NeutronFault(404, kind.not_found, kind.missing.format(rid))
        return res

    def _owned(self, kind: _Kind, rid: str, caller: Caller, action: str) -> dict[str, Any]:
        """The resource ``rid`` if the caller may change it (404 unseen, 403 seen only)."""
        res = self._find(kind, rid, caller)
        net = self.networks.get(res.get("network_id", ""), {})
        if not (caller.is_admin or res["project_id"] == caller.project_id
                or (kind in (SUBNET, PORT) and net.get("project_id") == caller.project_id)):
            raise _forbid(f"{action}_{kind.member}")
        return res

    def _render(self, kind: _Kind, res: dict[str, Any], caller: Caller) -> dict[str, Any]:
        out = copy.deepcopy(res)
        if kind is SECURITY_GROUP:
            out["security_group_rules"] = [
                copy.deepcopy(r) for r in self.security_group_rules.values()
                if r["security_group_id"] == res["id"]]
        if kind is PORT and not caller.is_admin:
            for field in _ADMIN_PORT_FIELDS:
                out.pop(field, None)
        return out

    @staticmethod
    async def _body(request: web.Request, member: str) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise _bad("Malformed request body") from None
        if not isinstance(body, dict) or not isinstance(body.get(member), dict):
            raise _bad(f"Unable to find '{member}' in request body")
        found: dict[str, Any] = body[member]
        return found

    @staticmethod
    def _accept(kind: _Kind, data: dict[str, Any], caller: Caller, *,
                update: bool) -> dict[str, Any]:
        """``data`` checked against the kind's POST or PUT attributes and converted."""
        allowed = kind.put if update else kind.post
        unknown = [k for k in data if k not in kind.attrs and k not in allowed]
        if unknown:
            raise _bad(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
        for key in data:
            if key not in allowed:
                raise _bad(f"Cannot update read-only attribute {key}" if update
                           else f"Attribute '{key}' not allowed in POST")
        for key in () if update else kind.required:
            if key not in data:
                raise _bad(f"Failed to parse request. Required attribute '{key}' not specified")
        out = {}
        for key, value in data.items():
            try:
                out[key] = _CHECKS[key](value) if key in _CHECKS else value
            except ValueError as exc:
                raise _bad(f"Invalid input for {key}. Reason: {exc}.") from None
        if not update:
            project, tenant = out.pop("project_id", None), out.pop("tenant_id", None)
            if project and tenant and project != tenant:
                raise _bad("'project_id' and 'tenant_id' do not match")
            owner = project or tenant or caller.project_id
            if owner != caller.project_id and not caller.is_admin:
                raise _bad("Specifying 'project_id' or 'tenant_id' other than the "
                           "authenticated project in request requires admin privileges")
            out["project_id"] = owner
        return out

    def _check_quota(self, kind: _Kind, project_id: str) -> None:
        limit = self.quota(project_id)[kind.quota]
        if 0 <= limit <= self.usage(project_id)[kind.quota]:
            raise _conflict("OverQuota", f"Quota exceeded for resources: ['{kind.quota}'].")

    # -- listing: filters, fields, sorting, pagination --------------------------------

    @staticmethod
    def _matcher(kind: _Kind, key: str, values: list[str]) -> Callable[[dict[str, Any]], bool]:
        if key in ("tags", "tags-any", "not-tags", "not-tags-any"):
            wanted = {t for v in values for t in v.split(",") if t}
            test = all if key in ("tags", "not-tags") else any
            negate = key.startswith("not-")
            return lambda r: test(t in r["tags"] for t in wanted) != negate
        if key == "fixed_ips" and kind is PORT:
            parsed: dict[str, set[str]] = {}
            for value in values:
                name, sep, wanted_value = value.partition("=")
                if not sep or name not in ("ip_address", "subnet_id", "ip_address_substr"):
                    raise _invalid(f"'{value}' is not of the form <key>=[value]")
                parsed.setdefault(name, set()).add(wanted_value)

            def ips_match(port: dict[str, Any]) -> bool:
                def has(name: str, ok: Callable[[dict[str, str]], bool]) -> bool:
                    return name not in parsed or any(ok(ip) for ip in port["fixed_ips"])
                return (has("ip_address", lambda ip: ip["ip_address"] in parsed["ip_address"])
                        and has("subnet_id", lambda ip: ip["subnet_id"] in parsed["subnet_id"])
                        and has("ip_address_substr", lambda ip: any(
                            s in ip["ip_address"] for s in parsed["ip_address_substr"])))
            return ips_match
        if key not in kind.attrs or (key in _COMPOUND and key not in _MEMBER_FILTERS):
            raise _bad(f"[{key}] is invalid attribute for filtering")
        try:
            wanted_values = [_boolean(v) if key in _BOOLS else int(v) if key in _INTS else v
                             for v in values]
        except ValueError:
            raise _invalid(f"'{values[0]}' is not a valid value for {key}") from None
        if key in _MEMBER_FILTERS:
            return lambda r: any(v in r.get(key, []) for v in wanted_values)
        return lambda r: key in r and r[key] is not None and r[key] in wanted_values

    @staticmethod
    def _sorts(kind: _Kind, query: MultiMapping[str]) -> list[tuple[str, bool]]:
        keys, dirs = query.getall("sort_key", []), query.getall("sort_dir", [])
        if len(keys) != len(dirs):
            raise _bad("The number of sort_keys and sort_dirs must be same")
        absent = [k for k in keys if k not in kind.sortable]
        if absent:
            raise _bad(f"{absent} is invalid attribute for sort_keys")
        wrong = [d for d in dirs if d not in ("asc", "desc")]
        if wrong:
            raise _bad(f"{wrong} is invalid value for sort_dirs, valid value is 'asc' and "
                       f"'desc'")
        return [(k, d == "desc") for k, d in zip(keys, dirs)]

    async def _list(self, request: web.Request, caller: Caller) -> web.Response:
        kind, query = _KINDS[request.match_info["coll"]], request.query
        if kind is SECURITY_GROUP:
            self.default_security_group(caller.project_id)
        items = [self._render(kind, r, caller) for r in self._table(kind)
                 if self._visible(kind, r, caller)]
        for key in dict.fromkeys(query):
            if key not in _CONTROL:
                match = self._matcher(kind, key, query.getall(key))
                items = [r for r in items if match(r)]
        sorts = self._sorts(kind, query)
        limit_text = query.get("limit", "0")
        if not limit_text.isdigit():
            raise _bad(f"Limit must be an integer 0 or greater and not '{limit_text}'")
        limit, marker = int(limit_text), query.get("marker")
        reverse = query.get("page_reverse", "false").lower() in ("true", "1")
        if sorts or limit or marker:
            if "id" not in (k for k, _ in sorts):
                sorts.append(("id", False))
            if marker:
                marked = self._render(kind, self._find(kind, marker, caller), caller)
                if marker not in (r["id"] for r in items):
                    items.append(marked)
            for key, desc in reversed(sorts):
                items.sort(key=lambda r: _sort_value(r.get(key)), reverse=desc != reverse)
            if marker:
                items = items[[r["id"] for r in items].index(marker) + 1:]
        page = items[:limit] if limit else items
        if reverse:
            page.reverse()
        fields = [f for f in query.getall("fields", []) if f]
        body: dict[str, Any] = {kind.plural: [
            {f: r[f] for f in fields if f in r} if fields else r for r in page]}
        links = self._links(request, page, limit, reverse)
        if links:
            body[f"{kind.plural}_links"] = links
        return web.json_response(body)

    @staticmethod
    def _links(request: web.Request, page: list[dict[str, Any]], limit: int,
               reverse: bool) -> list[dict[str, str]]:
        if not limit or not page:
            return []
        kept = [(k, v) for k, v in request.query.items() if k not in ("marker", "page_reverse")]
        links = []
        if not (len(page) < limit and not reverse):
            url = request.url.with_query([*kept, ("marker", page[-1]["id"])])
            links.append({"rel": "next", "href": str(url)})
        if not (len(page) < limit and reverse):
            url = request.url.with_query([*kept, ("marker", page[0]["id"]),
                                          ("page_reverse", "True")])
            links.append({"rel": "previous", "href": str(url)})
        return links

    # -- generic resource handlers ----------------------------------------------------

    async def _resources(self, request: web.Request, caller: Caller) -> web.Response:
        base = str(request.url.with_query(None)).rstrip("/")
        return web.json_response({"resources": [
            {"name": k.member, "collection": k.plural,
             "links": [{"href": f"{base}/{k.path}", "rel": "self"}]} for k in _KINDS.values()]})

    async def _extensions(self, request: web.Request, caller: Caller) -> web.Response:
        return web.json_response({"extensions": [self._extension_body(a) for a in EXTENSIONS]})

    async def _extension(self, request: web.Request, caller: Caller) -> web.Response:
        alias = request.match_info["alias"]
        if alias not in EXTENSIONS:
            raise NeutronFault(404, "HTTPNotFound", f"Extension with alias {alias} does not exist")
        return web.json_response({"extension": self._extension_body(alias)})

    @staticmethod
    def _extension_body(alias: str) -> dict[str, Any]:
        return {"alias": alias, "name": EXTENSIONS[alias],
                "description": f"{EXTENSIONS[alias]} (fake region)",
                "updated": "2026-01-01T00:00:00-00:00", "links": []}

    async def _show(self, request: web.Request, caller: Caller) -> web.Response:
        kind = _KINDS[request.match_info["coll"]]
        if kind is SECURITY_GROUP:
            self.default_security_group(caller.project_id)
        res = self._render(kind, self._find(kind, request.match_info["id"], caller), caller)
        fields = [f for f in request.query.getall("fields", []) if f]
        return web.json_response(
            {kind.member: {f: res[f] for f in fields if f in res} if fields else res})

    async def _create(self, request: web.Request, caller: Caller) -> web.Response:
        kind = _KINDS[request.match_info["coll"]]
        data = self._accept(kind, await self._body(request, kind.member), caller, update=False)
        make = {NETWORK: self._create_network, SUBNET: self._create_subnet,
                PORT: self._create_port, SECURITY_GROUP: self._create_group,
                SECURITY_GROUP_RULE: self._create_rule}[kind]
        res = make(data, caller)
        return web.json_response({kind.member: self._render(kind, res, caller)}, status=201)

    async def _update(self, request: web.Request, caller: Caller) -> web.Response:
        kind = _KINDS[request.match_info["coll"]]
        res = self._owned(kind, request.match_info["id"], caller, "update")
        data = self._accept(kind, await self._body(request, kind.member), caller, update=True)
        if kind is NETWORK:
            self._update_network(res, data, caller)
        elif kind is SUBNET:
            self._update_subnet(res, data)
        elif kind is PORT:
            self._update_port(res, data, caller)
        res.update(data)
        if kind is PORT:
            _settle(res)
        self._touch(res)
        return web.json_response({kind.member: self._render(kind, res, caller)})

    async def _delete(self, request: web.Request, caller: Caller) -> web.Response:
        kind = _KINDS[request.match_info["coll"]]
        res = self._owned(kind, request.match_info["id"], caller, "delete")
        {NETWORK: self._delete_network, SUBNET: self._delete_subnet,
         PORT: self._delete_port, SECURITY_GROUP: self._delete_group,
         SECURITY_GROUP_RULE: self._delete_rule}[kind](res, caller)
        return web.Response(status=204)

    # -- networks ---------------------------------------------------------------------

    def _create_network(self, data: dict[str, Any], caller: Caller) -> dict[str, Any]:
        for attr in ("shared", "router:external"):
            if data.get(attr) and not caller.is_admin:
                raise _forbid(f"create_network:{attr}")
        for zone in data.get("availability_zone_hints", []):
            if zone not in self.zones:
                raise NeutronFault(404, "AvailabilityZoneNotFound",
                                   f"AvailabilityZone {zone} could not be found.")
        self._check_quota(NETWORK, data["project_id"])
        net = {**self._stamp(data.pop("project_id"), 1), "name": "", "admin_state_up": True,
               "status": "ACTIVE", "subnets": [], "shared": False, "mtu": 1500,
               "availability_zone_hints": [], "availability_zones": [],
               "router:external": False, "port_security_enabled": True, "description": "",
               "tags": [], **data}
        self.networks[net["id"]] = net
        return net

    def _update_network(self, net: dict[str, Any], data: dict[str, Any],
                        caller: Caller) -> None:
        for attr in ("shared", "router:external"):
            if attr in data and data[attr] != net[attr] and not caller.is_admin:
                raise _forbid(f"update_network:{attr}")

    def _delete_network(self, net: dict[str, Any], caller: Caller) -> None:
        ports = [p for p in self.ports.values() if p["network_id"] == net["id"]]
        if any(p["device_owner"] != _DHCP for p in ports):
            raise _conflict("NetworkInUse", f"Unable to complete operation on network "
                            f"{net['id']}. There are one or more ports still in use on the "
                            f"network.")
        for port in ports:
            del self.ports[port["id"]]
        for sid in net["subnets"]:
            del self.subnets[sid]
        del self.networks[net["id"]]

    def _refresh_zones(self, net: dict[str, Any]) -> None:
        """A network shows zones once a DHCP-serving subnet places it on an agent."""
        served = any(self.subnets[s]["enable_dhcp"] for s in net["subnets"])
        net["availability_zones"] = (list(net["availability_zone_hints"]) or self.zones[:1]
                                     if served else [])

    # -- subnets ----------------------------------------------------------------------

    def _create_subnet(self, data: dict[str, Any], caller: Caller) -> dict[str, Any]:
        net = self._find(NETWORK, data["network_id"], caller)
        if not caller.is_admin and net["project_id"] != caller.project_id:
            raise _forbid("create_subnet")
        cidr = ipaddress.ip_network(data["cidr"])
        if cidr.version != data["ip_version"]:
            raise _invalid(f"Invalid CIDR {data['cidr']} for IP version {data['ip_version']}")
        for sid in net["subnets"]:
            if cidr.overlaps(ipaddress.ip_network(self.subnets[sid]["cidr"])):
                raise _invalid(f"Requested subnet with cidr: {cidr} for network: {net['id']} "
                               f"overlaps with another subnet")
        if "gateway_ip" not in data:
            data["gateway_ip"] = str(cidr.network_address + 1) if cidr.num_addresses > 1 else None
        elif data["gateway_ip"] is not None and \
                ipaddress.ip_address(data["gateway_ip"]).version != cidr.version:
            raise _invalid(f"gateway_ip {data['gateway_ip']} does not match the ip_version")
        if "allocation_pools" not in data:
            data["allocation_pools"] = _default_pools(cidr, data["gateway_ip"])
        _check_pools(cidr, data["allocation_pools"], data["gateway_ip"])
        self._check_quota(SUBNET, data["project_id"])
        subnet = {**self._stamp(data.pop("project_id"), 0), "name": "", "enable_dhcp": True,
                  "dns_nameservers": [], "host_routes": [], "ipv6_ra_mode": None,
                  "ipv6_address_mode": None, "subnetpool_id": None, "description": "",
                  "tags": [], **data}
        self.subnets[subnet["id"]] = subnet
        net["subnets"].append(subnet["id"])
        self._refresh_zones(net)
        self._touch(net)
        if self.auto_dhcp_port and subnet["enable_dhcp"]:
            self._serve_dhcp(net, subnet)
        return subnet

    def _serve_dhcp(self, net: dict[str, Any], subnet: dict[str, Any]) -> None:
        port = next((p for p in self.ports.values()
                     if p["network_id"] == net["id"] and p["device_owner"] == _DHCP), None)
        if port is None:
            port = self._new_port(net, {"project_id": net["project_id"], "fixed_ips": [],
                                        "device_owner": _DHCP,
                                        "device_id": f"dhcp-{net['id']}"})
        port["fixed_ips"] += self._allocate(net, [{"subnet_id": subnet["id"]}], port["id"])

    def _update_subnet(self, subnet: dict[str, Any], data: dict[str, Any]) -> None:
        cidr = ipaddress.ip_network(subnet["cidr"])
        gateway = data.get("gateway_ip", subnet["gateway_ip"])
        if gateway is not None and ipaddress.ip_address(gateway).version != cidr.version:
            raise _invalid(f"gateway_ip {gateway} does not match the ip_version")
        _check_pools(cidr, data.get("allocation_pools", subnet["allocation_pools"]), gateway)
        if "enable_dhcp" in data:
            subnet["enable_dhcp"] = data["enable_dhcp"]
            self._refresh_zones(self.networks[subnet["network_id"]])

    def _delete_subnet(self, subnet: dict[str, Any], caller: Caller) -> None:
        users = [p for p in self.ports.values()
                 if any(ip["subnet_id"] == subnet["id"] for ip in p["fixed_ips"])]
        if any(p["device_owner"] != _DHCP for p in users):
            raise _conflict("SubnetInUse", f"Unable to complete operation on subnet "
                            f"{subnet['id']}: One or more ports have an IP allocation from "
                            f"this subnet.")
        for port in users:
            port["fixed_ips"] = [ip for ip in port["fixed_ips"]
                                 if ip["subnet_id"] != subnet["id"]]
        del self.subnets[subnet["id"]]
        net = self.networks[subnet["network_id"]]
        net["subnets"].remove(subnet["id"])
        self._refresh_zones(net)
        self._touch(net)

    # -- ports --------------------------------------------------------------------------

    def _create_port(self, data: dict[str, Any], caller: Caller) -> dict[str, Any]:
        net = self._find(NETWORK, data["network_id"], caller)
        for attr in ("binding:host_id", "binding:profile"):
            if data.get(attr) and not caller.is_admin:
                raise _forbid(f"create_port:{attr}")
        self._check_quota(PORT, data["project_id"])
        return self._new_port(net, data, caller)

    def _new_port(self, net: dict[str, Any], data: dict[str, Any],
                  caller: Caller | None = None) -> dict[str, Any]:
        project = data.pop("project_id")
        mac = data.pop("mac_address", None) or self._mint_mac()
        if any(p["network_id"] == net["id"] and p["mac_address"] == mac
               for p in self.ports.values()):
            raise _conflict("MacAddressInUse", f"Unable to complete operation for network "
                            f"{net['id']}. The mac address {mac} is in use.")
        fixed_ips = self._allocate(net, data.pop("fixed_ips", None))
        secure = data.get("port_security_enabled", net["port_security_enabled"])
        if "security_groups" in data:
            groups = self._groups(data.pop("security_groups"), caller)
        elif data.get("device_owner", "").startswith("network:") or not secure:
            groups = []
        else:
            groups = [self.default_security_group(project)["id"]]
        if groups and not secure:
            raise _conflict("PortSecurityAndIPRequiredForSecurityGroups",
                            "Port security must be enabled and port must have an IP address "
                            "in order to use security groups.")
        port = {**self._stamp(project, 1), "name": "", "network_id": net["id"],
                "mac_address": mac, "admin_state_up": True, "status": "DOWN", "device_id": "",
                "device_owner": "", "fixed_ips": fixed_ips, "allowed_address_pairs": [],
                "security_groups": groups, "port_security_enabled": secure,
                "description": "", "binding:host_id": "", "binding:profile": {},
                "binding:vif_type": "unbound", "binding:vif_details": {},
                "binding:vnic_type": "normal", "tags": [], **data}
        _settle(port)
        self.ports[port["id"]] = port
        return port

    def _update_port(self, port: dict[str, Any], data: dict[str, Any], caller: Caller) -> None:
        for attr in ("binding:host_id", "binding:profile"):
            if attr in data and not caller.is_admin:
                raise _forbid(f"update_port:{attr}")
        if "fixed_ips" in data:
            data["fixed_ips"] = self._allocate(self.networks[port["network_id"]],
                                               data["fixed_ips"], port["id"])
        if "security_groups" in data:
            data["security_groups"] = self._groups(data["security_groups"], caller)
        if data.get("security_groups", port["security_groups"]) and not data.get(
                "port_security_enabled", port["port_security_enabled"]):
            raise _conflict("PortSecurityAndIPRequiredForSecurityGroups",
                            "Port security must be enabled and port must have an IP address "
                            "in order to use security groups.")

    def _delete_port(self, port: dict[str, Any], caller: Caller) -> None:
        del self.ports[port["id"]]

    def _groups(self, ids: list[str], caller: Caller | None) -> list[str]:
        for sid in ids:
            sg = self.security_groups.get(sid)
            if sg is None or (caller is not None and not self._visible(SECURITY_GROUP, sg,
                                                                        caller)):
                raise NeutronFault(404, "SecurityGroupNotFound",
                                   f"Security group {sid} does not exist")
        return list(dict.fromkeys(ids))

    def _mint_mac(self) -> str:
        used = {p["mac_address"] for p in self.ports.values()}
        while True:
            mac = "fa:16:3e:" + ":".join(f"{b:02x}" for b in uuid.uuid4().bytes[:3])
            if mac not in used:
                return mac

    def _allocate(self, net: dict[str, Any], wanted: list[dict[str, str]] | None,
                  port_id: str = "") -> list[dict[str, str]]:
        """Fixed IPs for a port on ``net``: the lowest free address of each requested
        subnet, the exact one asked for, or (nothing asked) one from the first subnet
        with room. ``port_id``'s own addresses count as free (an update).

        :raises NeutronFault: 404 unknown subnet, 400 address outside it, 409 taken/full.
        """
        out: list[dict[str, str]] = []

        def taken(sid: str) -> set[str]:
            return {ip["ip_address"] for p in self.ports.values() if p["id"] != port_id
                    for ip in p["fixed_ips"] if ip["subnet_id"] == sid} | {
                ip["ip_address"] for ip in out if ip["subnet_id"] == sid}

        if wanted is None:
            for sid in net["subnets"]:
                free = _first_free(self.subnets[sid], taken(sid))
                if free:
                    return [{"subnet_id": sid, "ip_address": free}]
            if net["subnets"]:
                raise _conflict("IpAddressGenerationFailure", f"No more IP addresses available "
                                f"for subnet {net['subnets'][-1]}.")
            return []
        for entry in wanted:
            sid, address = entry.get("subnet_id"), entry.get("ip_address")
            subnet: dict[str, Any] | None
            if sid is None and address is None:
                raise _bad(f"Invalid input for fixed_ips. Reason: Invalid data format for "
                           f"fixed IP: '{entry}'.")
            if sid is not None:
                subnet = self.subnets.get(sid)
                if subnet is None:
                    raise NeutronFault(404, "SubnetNotFound", f"Subnet {sid} could not be found.")
                if subnet["network_id"] != net["id"]:
                    raise _invalid(f"Failed to create port on network {net['id']}, because "
                                   f"fixed_ips included invalid subnet {sid}")
                if address is not None and ipaddress.ip_address(address) not in \
                        ipaddress.ip_network(subnet["cidr"]):
                    raise _bad(f"IP address {address} is not a valid IP for the specified "
                               f"subnet.", "InvalidIpForSubnet")
            elif address is not None:
                subnet = next((self.subnets[s] for s in net["subnets"]
                               if ipaddress.ip_address(address)
                               in ipaddress.ip_network(self.subnets[s]["cidr"])), None)
                if subnet is None:
                    raise _bad(f"IP address {address} is not a valid IP for any of the subnets "
                               f"on the specified network.", "InvalidIpForNetwork")
            assert subnet is not None
            if address is not None:
                if address in taken(subnet["id"]):
                    raise _conflict("IpAddressAlreadyAllocated", f"IP address {address} "
                                    f"already allocated in subnet {subnet['id']}")
            else:
                address = _first_free(subnet, taken(subnet["id"]))
                if address is None:
                    raise _conflict("IpAddressGenerationFailure", f"No more IP addresses "
                                    f"available for subnet {subnet['id']}.")
            out.append({"subnet_id": subnet["id"], "ip_address": address})
        return out

    # -- security groups and rules --------------------------------------------------------

    def _make_group(self, project: str, name: str, description: str, *, stateful: bool = True,
                    tags: list[str] | None = None) -> dict[str, Any]:
        sg = {**self._stamp(project, 1), "name": name, "description": description,
              "stateful": stateful, "tags": list(tags or [])}
        self.security_groups[sg["id"]] = sg
        for ethertype in ("IPv4", "IPv6"):
            self._make_rule(sg, "egress", ethertype)
        return sg

    def _make_rule(self, sg: dict[str, Any], direction: str, ethertype: str,
                   **fields: Any) -> dict[str, Any]:
        rule = {**self._stamp(sg["project_id"], 0), "security_group_id": sg["id"],
                "direction": direction, "ethertype": ethertype, "protocol": None,
                "port_range_min": None, "port_range_max": None, "remote_ip_prefix": None,
                "remote_group_id": None, "normalized_cidr": None, "description": "",
                **fields}
        self.security_group_rules[rule["id"]] = rule
        return rule

    def _create_group(self, data: dict[str, Any], caller: Caller) -> dict[str, Any]:
        project = data["project_id"]
        self.default_security_group(project)
        if data.get("name") == "default":
            raise _conflict("SecurityGroupDefaultAlreadyExists",
                            "Default security group already exists.")
        self._check_quota(SECURITY_GROUP, project)
        return self._make_group(project, data.get("name", ""), data.get("description", ""),
                                stateful=data.get("stateful", True), tags=data.get("tags"))

    def _delete_group(self, sg: dict[str, Any], caller: Caller) -> None:
        if self._defaults.get(sg["project_id"]) == sg["id"] and not caller.is_admin:
            raise _conflict("SecurityGroupCannotRemoveDefault",
                            "Insufficient rights for removing default security group.")
        if any(sg["id"] in p["security_groups"] for p in self.ports.values()):
            raise _conflict("SecurityGroupInUse", f"Security Group {sg['id']} in use.")
        for rule in self._table(SECURITY_GROUP_RULE):
            if sg["id"] in (rule["security_group_id"], rule["remote_group_id"]):
                del self.security_group_rules[rule["id"]]
        if self._defaults.get(sg["project_id"]) == sg["id"]:
            del self._defaults[sg["project_id"]]
        del self.security_groups[sg["id"]]

    def _create_rule(self, data: dict[str, Any], caller: Caller) -> dict[str, Any]:
        sg = self._owned(SECURITY_GROUP, data.pop("security_group_id"), caller, "update")
        data.pop("project_id")
        if data.get("remote_group_id"):
            self._groups([data["remote_group_id"]], caller)
        if data.get("remote_group_id") and data.get("remote_ip_prefix"):
            raise _bad("Only remote_ip_prefix or remote_group_id may be provided.",
                       "SecurityGroupRemoteGroupAndRemoteIpPrefix")
        ethertype = data.setdefault("ethertype", "IPv4")
        number = _protocol_number(data)
        low, high = data.get("port_range_min"), data.get("port_range_max")
        if (low is not None or high is not None) and number is None:
            raise _bad("Must also specify protocol if port range is given.",
                       "SecurityGroupProtocolRequiredWithPorts")
        if number in _PORT_PROTOCOLS and low is not None and high is not None:
            if 0 in (low, high):
                raise _bad("Invalid value for port 0", "SecurityGroupInvalidPortValue")
            if low > high:
                raise _bad("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                           "SecurityGroupInvalidPortRange")
        if number in _ICMP_PROTOCOLS:
            if (low is not None and low > 255) or (high is not None and high > 255):
                raise _bad(f"Invalid value for ICMP {'type' if (low or 0) > 255 else 'code'}",
                           "SecurityGroupInvalidIcmpValue")
            if high is not None and low is None:
                raise _bad(f"ICMP code (port-range-max) {high} is provided but ICMP type "
                           f"(port-range-min) is missing.", "SecurityGroupMissingIcmpType")
        prefix = data.get("remote_ip_prefix")
        if prefix is not None:
            net = ipaddress.ip_network(prefix, strict=False)
            if f"IPv{net.version}" != ethertype:
                raise _bad(f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                           "SecurityGroupRuleParameterConflict")
            data["normalized_cidr"] = str(net)
        same = ("direction", "ethertype", "port_range_min", "port_range_max",
                "normalized_cidr", "remote_group_id")
        for rule in self._table(SECURITY_GROUP_RULE):
            if (rule["security_group_id"] == sg["id"] and _protocol_number(rule) == number
                    and all(rule[k] == data.get(k) for k in same)):
                raise _conflict("SecurityGroupRuleExists",
                                f"Security group rule already exists. Rule id is {rule['id']}.")
        self._check_quota(SECURITY_GROUP_RULE, sg["project_id"])
        rule = self._make_rule(sg, data.pop("direction"), data.pop("ethertype"), **data)
        self._touch(sg)
        return rule

    def _delete_rule(self, rule: dict[str, Any], caller: Caller) -> None:
        del self.security_group_rules[rule["id"]]
        sg = self.security_groups.get(rule["security_group_id"])
        if sg is not None:
            self._touch(sg)

    # -- tags ---------------------------------------------------------------------------

    def _tagged(self, request: web.Request, caller: Caller, write: bool) -> dict[str, Any]:
        kind, rid = _KINDS[request.match_info["coll"]], request.match_info["id"]
        res = getattr(self, kind.plural).get(rid)
        if res is None or not self._visible(kind, res, caller):
            raise NeutronFault(404, "TagResourceNotFound",
                               f"Resource {kind.member} {rid} could not be found.")
        return self._owned(kind, rid, caller, "update") if write else res

    async def _get_tags(self, request: web.Request, caller: Caller) -> web.Response:
        return web.json_response({"tags": self._tagged(request, caller, False)["tags"]})

    async def _replace_tags(self, request: web.Request, caller: Caller) -> web.Response:
        res = self._tagged(request, caller, True)
        try:
            body = await request.json()
            tags = _tags(body["tags"])
        except (ValueError, KeyError, TypeError) as exc:
            raise _bad(f"Invalid input for tags. Reason: {exc}.") from None
        res["tags"] = tags
        self._touch(res)
        return web.json_response({"tags": tags})

    async def _clear_tags(self, request: web.Request, caller: Caller) -> web.Response:
        res = self._tagged(request, caller, True)
        res["tags"] = []
        self._touch(res)
        return web.Response(status=204)

    async def _has_tag(self, request: web.Request, caller: Caller) -> web.Response:
        tag = request.match_info["tag"]
        if tag not in self._tagged(request, caller, False)["tags"]:
            raise NeutronFault(404, "TagNotFound", f"Tag {tag} could not be found.")
        return web.Response(status=204)

    async def _add_tag(self, request: web.Request, caller: Caller) -> web.Response:
        res = self._tagged(request, caller, True)
        try:
            tag = _tags([request.match_info["tag"]])[0]
        except ValueError as exc:
            raise _bad(f"Invalid input for tags. Reason: {exc}.") from None
        if tag not in res["tags"]:
            res["tags"].append(tag)
            self._touch(res)
        return web.Response(status=201)

    async def _remove_tag(self, request: web.Request, caller: Caller) -> web.Response:
        res, tag = self._tagged(request, caller, True), request.match_info["tag"]
        if tag not in res["tags"]:
            raise NeutronFault(404, "TagNotFound", f"Tag {tag} could not be found.")
        res["tags"].remove(tag)
        self._touch(res)
        return web.Response(status=204)

    # -- quotas ---------------------------------------------------------------------------

    @staticmethod
    def _quota_target(request: web.Request, caller: Caller, action: str) -> str:
        project = request.match_info["project_id"]
        if not caller.is_admin and (action != "get" or project != caller.project_id):
            raise _forbid(f"{action}_quota")
        return project

    async def _list_quotas(self, request: web.Request, caller: Caller) -> web.Response:
        if not caller.is_admin:
            raise _forbid("get_quota")
        return web.json_response({"quotas": [
            {**self.quota(p), "project_id": p, "tenant_id": p} for p in self.quotas]})

    async def _show_quota(self, request: web.Request, caller: Caller) -> web.Response:
        return web.json_response(
            {"quota": self.quota(self._quota_target(request, caller, "get"))})

    async def _quota_defaults(self, request: web.Request, caller: Caller) -> web.Response:
        self._quota_target(request, caller, "get")
        return web.json_response({"quota": dict(QUOTA_DEFAULTS)})

    async def _quota_details(self, request: web.Request, caller: Caller) -> web.Response:
        project = self._quota_target(request, caller, "get")
        used = self.usage(project)
        return web.json_response({"quota": {
            name: {"limit": limit, "used": used[name], "reserved": 0}
            for name, limit in self.quota(project).items()}})

    async def _set_quota(self, request: web.Request, caller: Caller) -> web.Response:
        project = self._quota_target(request, caller, "update")
        wanted = await self._body(request, "quota")
        unknown = [k for k in wanted if k not in QUOTA_DEFAULTS]
        if unknown:
            raise _bad(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
        try:
            limits = {k: _integer(-1)(v) for k, v in wanted.items()}
        except ValueError as exc:
            raise _bad(f"Invalid input for quota. Reason: {exc}.") from None
        self.quotas.setdefault(project, {}).update(limits)
        self.quota_puts.append((project, limits))
        return web.json_response({"quota": self.quota(project)})

    async def _reset_quota(self, request: web.Request, caller: Caller) -> web.Response:
        self.quotas.pop(self._quota_target(request, caller, "delete"), None)
        return web.Response(status=204)


def _settle(port: dict[str, Any]) -> None:
    """Status and binding details follow from device_id and host, as once plugged."""
    port["status"] = "ACTIVE" if port["device_id"] and port["admin_state_up"] else "DOWN"
    bound = bool(port["binding:host_id"])
    port["binding:vif_type"] = "ovs" if bound else "unbound"
    port["binding:vif_details"] = {"port_filter": True, "connectivity": "l2"} if bound else {}


def _sort_value(value: Any) -> tuple[bool, Any]:
    """Nulls first, and never compared with values."""
    return (value is not None, 0 if value is None else value)


def _protocol_number(rule: dict[str, Any]) -> int | None:
    """The rule's protocol as a number (``tcp`` and ``6`` are the same rule).

    :raises NeutronFault: a protocol Neutron does not know.
    """
    protocol = rule.get("protocol")
    if protocol is None:
        return None
    text = str(protocol).lower()
    if text in _PROTOCOLS:
        number = _PROTOCOLS[text]
    elif text.isdigit() and int(text) <= 255:
        number = int(text)
    else:
        raise _bad(f"Security group rule protocol {protocol} not supported. Only protocol "
                   f"values {sorted(_PROTOCOLS)} and integer representations [0 to 255] are "
                   f"supported.", "SecurityGroupRuleInvalidProtocol")
    rule["protocol"] = text
    return None if number == 0 else number


def _default_pools(cidr: ipaddress.IPv4Network | ipaddress.IPv6Network,
                   gateway: str | None) -> list[dict[str, str]]:
    """Every host address but the gateway (IPv4 also keeps its broadcast address out)."""
    first = int(cidr.network_address) + 1
    last = int(cidr.broadcast_address) - (1 if cidr.version == 4 else 0)
    ranges = [(first, last)]
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        if first <= gw <= last:
            ranges = [(first, gw - 1), (gw + 1, last)]
    return [{"start": _address(cidr, a), "end": _address(cidr, b)}
            for a, b in ranges if a <= b]


def _check_pools(cidr: ipaddress.IPv4Network | ipaddress.IPv6Network,
                 pools: list[dict[str, str]], gateway: str | None) -> None:
    """:raises NeutronFault: a pool outside the subnet, inverted, overlapping, or holding
    the gateway."""
    spans: list[tuple[int, int, str]] = []
    for pool in pools:
        start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        text = f"{start}-{end}"
        if start.version != cidr.version or start not in cidr or end not in cidr:
            raise _bad(f"The allocation pool {text} spans beyond the subnet cidr {cidr}.",
                       "OutOfBoundsAllocationPool")
        if int(start) > int(end):
            raise _bad(f"The allocation pool {text} is not valid.", "InvalidAllocationPool")
        spans.append((int(start), int(end), text))
    spans.sort()
    for (_, a_end, a_text), (b_start, _, b_text) in zip(spans, spans[1:]):
        if b_start <= a_end:
            raise _bad(f"Found overlapping allocation pools: {a_text} and {b_text} for "
                       f"subnet {cidr}.", "OverlappingAllocationPools")
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        for start_int, end_int, text in spans:
            if start_int <= gw <= end_int:
                raise _conflict("GatewayConflictWithAllocationPools",
                                f"Gateway ip {gateway} conflicts with allocation pool {text}")


def _first_free(subnet: dict[str, Any], taken: set[str]) -> str | None:
    cidr = ipaddress.ip_network(subnet["cidr"])
    for pool in subnet["allocation_pools"]:
        for number in range(int(ipaddress.ip_address(pool["start"])),
                            int(ipaddress.ip_address(pool["end"])) + 1):
            address = _address(cidr, number)
            if address not in taken and address != subnet["gateway_ip"]:
                return address
    return None


def _address(cidr: ipaddress.IPv4Network | ipaddress.IPv6Network, number: int) -> str:
    return str(ipaddress.IPv4Address(number) if cidr.version == 4
               else ipaddress.IPv6Address(number))
