"""Validating create and update bodies into the attributes Cascade stores.

The shapes and defaults are Neutron's; unknown attributes are refused as
Neutron refuses them ("Unrecognized attribute(s)").
"""
from __future__ import annotations

import ipaddress
import random
from typing import Any, Callable, Mapping

from cascade.networks import faults

__all__ = ["network", "subnet", "port", "security_group", "rule", "update", "mint_mac",
           "UPDATABLE", "DEFAULT_RULES"]

_Check = Callable[[str, Any], Any]


def _str(limit: int) -> _Check:
    def check(name: str, value: Any) -> Any:
        if not isinstance(value, str) or len(value) > limit:
            raise faults.bad_request(f"'{value}' is not a valid string for '{name}' "
                                     f"(at most {limit} characters)")
        return value
    return check


def _bool(name: str, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise faults.bad_request(f"'{value}' cannot be converted to boolean")


def _int_or_none(name: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise faults.bad_request(f"'{value}' is not an integer") from None


def _str_list(name: str, value: Any) -> Any:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise faults.bad_request(f"'{value}' is not a list of strings for '{name}'")
    return value


def _list(name: str, value: Any) -> Any:
    if not isinstance(value, list):
        raise faults.bad_request(f"'{value}' is not a list")
    return value


def _dict(name: str, value: Any) -> Any:
    if not isinstance(value, dict):
        raise faults.bad_request(f"'{value}' is not a dictionary")
    return value


def _uuid(name: str, value: Any) -> Any:
    import uuid

    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise faults.bad_request(f"'{value}' is not a valid UUID") from None


def _any(name: str, value: Any) -> Any:
    return value


_NAME = _str(255)
_DESC = _str(255)

_NETWORK: dict[str, _Check] = {
    "name": _NAME, "description": _DESC, "admin_state_up": _bool, "shared": _bool,
    "mtu": _int_or_none, "tags": _str_list, "availability_zone_hints": _str_list,
    "port_security_enabled": _bool, "dns_domain": _str(255), "project_id": _str(64),
    "tenant_id": _str(64), "router:external": _bool, "is_default": _bool,
    "qos_policy_id": _any, "provider:network_type": _str(32),
    "provider:physical_network": _str(64), "provider:segmentation_id": _int_or_none,
}
_SUBNET: dict[str, _Check] = {
    "name": _NAME, "description": _DESC, "network_id": _uuid, "cidr": _str(64),
    "ip_version": _int_or_none, "gateway_ip": _any, "allocation_pools": _list,
    "enable_dhcp": _bool, "dns_nameservers": _str_list, "host_routes": _list,
    "ipv6_ra_mode": _any, "ipv6_address_mode": _any, "tags": _str_list,
    "project_id": _str(64), "tenant_id": _str(64), "subnetpool_id": _any,
    "service_types": _str_list, "segment_id": _any, "dns_publish_fixed_ip": _bool,
}
_PORT: dict[str, _Check] = {
    "name": _NAME, "description": _DESC, "network_id": _uuid, "admin_state_up": _bool,
    "mac_address": _str(32), "fixed_ips": _list, "device_id": _str(255),
    "device_owner": _str(255), "security_groups": _str_list,
    "port_security_enabled": _bool, "allowed_address_pairs": _list,
    "binding:vnic_type": _str(64), "binding:host_id": _str(255), "binding:profile": _dict,
    "tags": _str_list, "dns_name": _str(255), "extra_dhcp_opts": _list,
    "project_id": _str(64), "tenant_id": _str(64), "qos_policy_id": _any,
    "propagate_uplink_status": _bool,
}
_SECURITY_GROUP: dict[str, _Check] = {
    "name": _NAME, "description": _DESC, "tags": _str_list, "stateful": _bool,
    "project_id": _str(64), "tenant_id": _str(64),
}
_RULE: dict[str, _Check] = {
    "security_group_id": _uuid, "direction": _str(16), "ethertype": _str(8),
    "protocol": _any, "port_range_min": _int_or_none, "port_range_max": _int_or_none,
    "remote_ip_prefix": _any, "remote_group_id": _any, "description": _DESC,
    "remote_address_group_id": _any, "project_id": _str(64), "tenant_id": _str(64),
}

def _uuid_or_none(name: str, value: Any) -> Any:
    return None if value is None else _uuid(name, value)


_ROUTER: dict[str, _Check] = {
    "name": _NAME, "description": _DESC, "admin_state_up": _bool,
    "external_gateway_info": _any, "availability_zone_hints": _str_list,
    "project_id": _str(64), "tenant_id": _str(64), "tags": _str_list, "flavor_id": _any,
    "distributed": _bool, "ha": _bool, "routes": _any,
}
_FLOATINGIP: dict[str, _Check] = {
    "floating_network_id": _uuid, "port_id": _uuid_or_none,
    "fixed_ip_address": _str(64), "floating_ip_address": _str(64), "subnet_id": _uuid,
    "description": _DESC, "project_id": _str(64), "tenant_id": _str(64),
    "tags": _str_list, "dns_name": _str(255), "dns_domain": _str(255),
    "qos_policy_id": _any,
}

#: Attributes an update may change, per type.
UPDATABLE: dict[str, frozenset[str]] = {
    "network": frozenset({"name", "description", "admin_state_up", "shared", "mtu",
                          "port_security_enabled", "dns_domain"}),
    "subnet": frozenset({"name", "description", "gateway_ip", "allocation_pools",
                         "enable_dhcp", "dns_nameservers", "host_routes"}),
    "port": frozenset({"name", "description", "admin_state_up", "security_groups",
                       "port_security_enabled", "allowed_address_pairs", "device_id",
                       "device_owner", "dns_name", "extra_dhcp_opts", "binding:host_id",
                       "binding:profile", "fixed_ips", "mac_address"}),
    "security_group": frozenset({"name", "description", "stateful"}),
    "security_group_rule": frozenset({"description"}),
    "router": frozenset({"name", "description", "admin_state_up", "external_gateway_info",
                         "routes"}),
    "floatingip": frozenset({"port_id", "fixed_ip_address", "description"}),
}

_TYPES = {"network": _NETWORK, "subnet": _SUBNET, "port": _PORT,
          "security_group": _SECURITY_GROUP, "security_group_rule": _RULE,
          "router": _ROUTER, "floatingip": _FLOATINGIP}


def _checked(type_: str, body: Any, *, for_update: bool = False) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get(type_), dict):
        raise faults.bad_request(f"Resource body required: expected '{type_}'")
    obj = body[type_]
    allowed = _TYPES[type_]
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise faults.bad_request(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    if for_update:
        fixed = sorted(set(obj) - UPDATABLE[type_])
        if fixed:
            raise faults.bad_request(f"Cannot update read-only attribute {fixed[0]}")
    elif "tags" in obj and type_ not in TAGGED_ON_CREATE:
        # Neutron takes tags in a create body for ports only; others are tagged after.
        raise faults.refused("HTTPBadRequest", "Attribute 'tags' not allowed in POST")
    return {k: allowed[k](k, v) for k, v in obj.items()}


#: Types whose create body may carry ``tags`` (Neutron's tagging extension).
TAGGED_ON_CREATE = frozenset({"port"})


def network(body: Any) -> dict[str, Any]:
    """A network create body -> attributes (defaults as Neutron gives them)."""
    obj = _checked("network", body)
    if obj.get("router:external"):
        raise faults.bad_request("external networks are not managed through Cascade")
    provider = {k: obj[k] for k in PROVIDER_KEYS if obj.get(k) is not None}
    return {**provider, "name": obj.get("name", ""),
            "description": obj.get("description", ""),
            "admin_state_up": obj.get("admin_state_up", True),
            "shared": obj.get("shared", False), "mtu": obj.get("mtu") or 1500,
            "port_security_enabled": obj.get("port_security_enabled", True),
            "availability_zone_hints": obj.get("availability_zone_hints", []),
            "tags": obj.get("tags", []), "router:external": False,
            "dns_domain": obj.get("dns_domain", ""), "status": "ACTIVE"}


#: A network's provider attributes (admins only, as in Neutron).
PROVIDER_KEYS = ("provider:network_type", "provider:physical_network",
                 "provider:segmentation_id")


def subnet(body: Any) -> dict[str, Any]:
    """A subnet create body -> attributes; gateway and pools computed as Neutron does."""
    obj = _checked("subnet", body)
    if "network_id" not in obj:
        raise faults.bad_request("network_id is required")
    if obj.get("subnetpool_id") or "cidr" not in obj:
        raise faults.bad_request("a cidr is required (subnet pools are not federated)")
    try:
        net = ipaddress.ip_network(obj["cidr"], strict=False)
    except ValueError:
        raise faults.bad_request(f"'{obj['cidr']}' is not a valid IP subnet") from None
    version = obj.get("ip_version") or net.version
    if version != net.version:
        raise faults.bad_request("Cidr and ip_version mismatch")
    if net.num_addresses < 4:
        raise faults.bad_request(f"'{obj['cidr']}' is too small for a subnet")
    hosts = net.hosts() if net.version == 4 else (net[i] for i in range(1, 1 << 16))
    first = next(iter(hosts))
    gateway = obj.get("gateway_ip", str(first))
    if gateway is not None:
        try:
            gw = ipaddress.ip_address(gateway)
        except ValueError:
            raise faults.bad_request(f"'{gateway}' is not a valid IP address") from None
        if gw not in net:
            raise faults.bad_request(f"Gateway ip {gateway} conflicts with the subnet cidr")
    pools = obj.get("allocation_pools") or _default_pools(net, gateway)
    return {"name": obj.get("name", ""), "description": obj.get("description", ""),
            "network_id": obj["network_id"], "cidr": str(net), "ip_version": version,
            "gateway_ip": gateway, "allocation_pools": pools,
            "enable_dhcp": obj.get("enable_dhcp", True),
            "dns_nameservers": obj.get("dns_nameservers", []),
            "host_routes": obj.get("host_routes", []),
            "ipv6_ra_mode": obj.get("ipv6_ra_mode"),
            "ipv6_address_mode": obj.get("ipv6_address_mode"),
            "service_types": obj.get("service_types", []),
            "tags": obj.get("tags", []), "subnetpool_id": None, "segment_id": None}


def _default_pools(net: ipaddress.IPv4Network | ipaddress.IPv6Network,
                   gateway: str | None) -> list[dict[str, str]]:
    """Every usable address except the gateway (and, for IPv4, broadcast)."""
    first = net.network_address + 1
    last = net.broadcast_address - (1 if net.version == 4 else 0)
    gw: Any = ipaddress.ip_address(gateway) if gateway else None
    if gw == first:
        first += 1
    elif gw == last:
        last -= 1
    elif gw is not None and first < gw < last:
        return [{"start": str(first), "end": str(gw - 1)},
                {"start": str(gw + 1), "end": str(last)}]
    return [{"start": str(first), "end": str(last)}]


def mint_mac() -> str:
    """A MAC address in OpenStack's base (``fa:16:3e``)."""
    return "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


def port(body: Any) -> dict[str, Any]:
    """A port create body -> attributes (no addresses yet: allocation is regional)."""
    obj = _checked("port", body)
    if "network_id" not in obj:
        raise faults.bad_request("network_id is required")
    for ip in obj.get("fixed_ips", []):
        if not isinstance(ip, dict) or not set(ip) <= {"subnet_id", "ip_address"}:
            raise faults.bad_request(f"Invalid data format for fixed IP: '{ip}'")
    return {"name": obj.get("name", ""), "description": obj.get("description", ""),
            "network_id": obj["network_id"], "admin_state_up": obj.get("admin_state_up", True),
            "mac_address": obj.get("mac_address") or mint_mac(),
            "requested_fixed_ips": obj.get("fixed_ips"), "fixed_ips": [],
            "device_id": obj.get("device_id", ""), "device_owner": obj.get("device_owner", ""),
            "security_groups": obj.get("security_groups"),
            "port_security_enabled": obj.get("port_security_enabled", True),
            "allowed_address_pairs": obj.get("allowed_address_pairs", []),
            "extra_dhcp_opts": obj.get("extra_dhcp_opts", []),
            "binding:vnic_type": obj.get("binding:vnic_type", "normal"),
            "binding:profile": obj.get("binding:profile", {}),
            "dns_name": obj.get("dns_name", ""), "tags": obj.get("tags", []),
            "status": "DOWN"}


def security_group(body: Any) -> dict[str, Any]:
    obj = _checked("security_group", body)
    if obj.get("name") == "default":
        raise faults.conflict("SecurityGroupDefaultAlreadyExists",
                              "Default security group already exists.")
    return {"name": obj.get("name", ""), "description": obj.get("description", ""),
            "stateful": obj.get("stateful", True), "tags": obj.get("tags", []),
            "shared": False}


_PROTOCOLS = {"tcp": "6", "udp": "17", "icmp": "1", "icmpv6": "58", "ipv6-icmp": "58"}
#: Every protocol name Neutron takes (besides numbers 0 to 255), in its own order.
_PROTOCOL_NAMES = ("any", "ah", "dccp", "egp", "esp", "gre", "hopopt", "icmp", "igmp", "ip",
                   "ipip", "ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt",
                   "ipv6-opts", "ipv6-route", "ospf", "pgm", "rsvp", "sctp", "tcp", "udp",
                   "udplite", "vrrp")


def _check_protocol(protocol: str) -> None:
    """:raises BadRequest: ``SecurityGroupRuleInvalidProtocol``, in Neutron's words."""
    if protocol in _PROTOCOL_NAMES or (protocol.isdigit() and int(protocol) < 256):
        return
    names = ", ".join(["None", *(repr(n) for n in _PROTOCOL_NAMES)])
    raise faults.typed_bad_request(
        "SecurityGroupRuleInvalidProtocol",
        f"Security group rule protocol {protocol} not supported. Only protocol values "
        f"({names}) and integer representations [0 to 255] are supported.")


def _check_ports(protocol: str | None, low: Any, high: Any) -> Any:
    """Neutron's port checks; the range's upper end (``low`` when only it is given).

    :raises BadRequest: ``SecurityGroupInvalidPortValue`` or
        ``SecurityGroupInvalidPortRange``.
    """
    for port in (low, high):
        if port is not None and not 0 <= port <= 65535:
            raise faults.typed_bad_request("SecurityGroupInvalidPortValue",
                                           f"Invalid value for port {port}")
    if protocol in ("tcp", "udp", "6", "17") and low is not None:
        high = low if high is None else high
        if low == 0:
            raise faults.typed_bad_request("SecurityGroupInvalidPortValue",
                                           "Invalid value for port 0")
        if low > high:
            raise faults.typed_bad_request("SecurityGroupInvalidPortRange",
                                           "For TCP/UDP protocols, port_range_min must be "
                                           "<= port_range_max")
    return high


def rule(body: Any) -> dict[str, Any]:
    """A rule create body -> attributes, checked as Neutron checks them."""
    obj = _checked("security_group_rule", body)
    if "security_group_id" not in obj:
        raise faults.bad_request("security_group_id is required")
    direction = obj.get("direction")
    if direction not in ("ingress", "egress"):
        raise faults.bad_request(f"{direction} is not in ['ingress', 'egress']")
    ethertype = obj.get("ethertype", "IPv4")
    if ethertype not in ("IPv4", "IPv6"):
        raise faults.bad_request(f"{ethertype} is not in ['IPv4', 'IPv6']")
    protocol = obj.get("protocol")
    if protocol is not None:
        protocol = str(protocol).lower()
        _check_protocol(protocol)
    low = obj.get("port_range_min")
    high = _check_ports(protocol, low, obj.get("port_range_max"))
    prefix = obj.get("remote_ip_prefix")
    if prefix is not None:
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise faults.bad_request(f"'{prefix}' is not a valid IP subnet") from None
        if f"IPv{net.version}" != ethertype:
            raise faults.bad_request(f"Conflicting value ethertype {ethertype} for CIDR "
                                     f"{prefix}")
        prefix = str(net)
    if prefix is not None and obj.get("remote_group_id"):
        raise faults.bad_request("Only remote_ip_prefix or remote_group_id may be provided.")
    return {"security_group_id": obj["security_group_id"], "direction": direction,
            "ethertype": ethertype, "protocol": protocol, "port_range_min": low,
            "port_range_max": high, "remote_ip_prefix": prefix,
            "remote_group_id": obj.get("remote_group_id"), "remote_address_group_id": None,
            "description": obj.get("description", "")}


def rule_key(attrs: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two rules the same rule (Neutron refuses duplicates)."""
    protocol = attrs.get("protocol")
    protocol = _PROTOCOLS.get(protocol, protocol) if protocol else None
    return (attrs.get("direction"), attrs.get("ethertype"), protocol,
            attrs.get("port_range_min"), attrs.get("port_range_max"),
            attrs.get("remote_ip_prefix"), attrs.get("remote_group_id"))


def checked(type_: str, body: Any) -> dict[str, Any]:
    """A create body's attributes, each checked for its type (``router``,
    ``floatingip``: their services read what they need from it).

    :raises BadRequest: no body for ``type_``, unknown attributes, bad values.
    """
    return _checked(type_, body)


def update(type_: str, body: Any) -> dict[str, Any]:
    """The attributes an update body changes.

    :raises BadRequest: unknown or read-only attributes.
    """
    return _checked(type_, body, for_update=True)


#: The rules Neutron gives every project's ``default`` group: all egress, and
#: ingress from members of the group, for IPv4 and IPv6. ``remote_group_id``
#: "self" stands for the group's own id.
DEFAULT_RULES: list[dict[str, Any]] = [
    {"direction": "egress", "ethertype": "IPv4", "remote_group_id": None},
    {"direction": "egress", "ethertype": "IPv6", "remote_group_id": None},
    {"direction": "ingress", "ethertype": "IPv4", "remote_group_id": "self"},
    {"direction": "ingress", "ethertype": "IPv6", "remote_group_id": "self"},
]
