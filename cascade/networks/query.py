"""Neutron's list query language: filters, ``fields``, sorting and pages.

Neutron filters on any attribute by equality, a repeated key meaning "any of
these"; ``tags``/``tags-any``/``not-tags``/``not-tags-any`` match tag sets;
``fixed_ips=ip_address=...``, ``fixed_ips=ip_address_substr=...`` and
``fixed_ips=subnet_id=...`` match a port's
addresses. Pages are ``limit`` + ``marker`` (an id) on the sort keys, with a
``<collection>_links`` next link. Sorting and paging are the shared engine's
(``cascade/listing/order.py``); the id, owner and parent filters are also
pushed into SQL (:meth:`ListQuery.narrow`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlencode

from multidict import MultiMapping

from cascade import errors
from cascade.db.models import PARENT_KEY
from cascade.listing.narrow import Narrow
from cascade.listing.merge import merge
from cascade.networks import faults
from cascade.listing.order import Order, page

__all__ = ["ListQuery", "parse_query"]

_CONTROL = frozenset({"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"})
_TAG_KEYS = frozenset({"tags", "tags-any", "not-tags", "not-tags-any"})
_COMMON = frozenset({"id", "name", "tenant_id", "project_id", "description", "created_at",
                     "updated_at", "revision_number", *_TAG_KEYS})
#: The attributes Neutron lets each collection filter on (filter-validation): its
#: resources' attributes, Cascade's or not; anything else is a 400.
FILTERABLE: dict[str, frozenset[str]] = {
    "network": _COMMON | {
        "admin_state_up", "mtu", "status", "subnets", "shared", "availability_zone_hints",
        "availability_zones", "ipv4_address_scope", "ipv6_address_scope", "router:external",
        "port_security_enabled", "qos_policy_id", "is_default", "dns_domain",
        "provider:network_type", "provider:physical_network", "provider:segmentation_id",
        "segments", "l2_adjacency"},
    "subnet": _COMMON | {
        "network_id", "ip_version", "subnetpool_id", "enable_dhcp", "ipv6_ra_mode",
        "ipv6_address_mode", "gateway_ip", "cidr", "allocation_pools", "host_routes",
        "dns_nameservers", "service_types", "segment_id", "shared", "dns_publish_fixed_ip",
        "router:external"},
    "port": _COMMON | {
        "network_id", "mac_address", "admin_state_up", "status", "device_id", "device_owner",
        "fixed_ips", "allowed_address_pairs", "extra_dhcp_opts", "security_groups",
        "binding:vnic_type", "binding:host_id", "binding:profile", "binding:vif_type",
        "binding:vif_details", "port_security_enabled", "qos_policy_id", "dns_name",
        "dns_assignment", "dns_domain", "ip_allocation", "propagate_uplink_status",
        "data_plane_status", "resource_request", "numa_affinity_policy", "trusted",
        "hardware_offload_type", "mac_learning_enabled", "qos_network_policy_id"},
    "security_group": _COMMON | {"security_group_rules", "stateful", "shared", "is_default"},
    "security_group_rule": (_COMMON - _TAG_KEYS) | {
        "security_group_id", "direction", "ethertype", "protocol", "port_range_min",
        "port_range_max", "remote_ip_prefix", "remote_group_id", "remote_address_group_id",
        "normalized_cidr", "belongs_to_default_sg"},
    "availability_zone": frozenset({"name", "resource", "state"}),
    "router": _COMMON | {
        "admin_state_up", "status", "external_gateway_info", "routes",
        "availability_zone_hints", "availability_zones", "flavor_id", "distributed", "ha",
        "enable_ndp_proxy", "enable_default_route_bfd", "enable_default_route_ecmp"},
    "floatingip": _COMMON | {
        "floating_ip_address", "floating_network_id", "router_id", "port_id",
        "fixed_ip_address", "status", "port_details", "qos_policy_id", "dns_name",
        "dns_domain", "subnet_id", "port_forwardings", "qos_network_policy_id"},
}
_TRUE = {"true": True, "false": False, "1": True, "0": False}


@dataclasses.dataclass
class ListQuery:
    filters: dict[str, list[str]]
    fields: list[str]
    limit: int | None
    marker: str | None
    sort: list[tuple[str, bool]]  # (key, ascending)
    raw: list[tuple[str, str]]
    #: The attribute that names an object (markers, the last sort key).
    id_key: str = "id"

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` passes every filter."""
        for key, wanted in self.filters.items():
            if key in _TAG_KEYS:
                if not _tags_match(key, wanted, obj.get("tags") or []):
                    return False
                continue
            if key == "fixed_ips":
                if not _fixed_ips_match(wanted, obj.get("fixed_ips") or []):
                    return False
                continue
            if key not in obj:
                continue  # unknown attributes are ignored, as Neutron does by default
            if not any(_equal(obj[key], w) for w in wanted):
                return False
        return True

    def select(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Only the requested ``fields`` (all when none were asked)."""
        if not self.fields:
            return obj
        return {k: v for k, v in obj.items() if k in self.fields}

    def check_filters(self, type_: str, items: Iterable[Mapping[str, Any]] = ()) -> None:
        """Refuse filters on attributes the collection does not have, as Neutron's
        filter validation does (attributes the answer shows always pass).

        :raises BadRequest: ``['x'] is invalid attribute for filtering``.
        """
        known = FILTERABLE.get(type_)
        if known is None:
            return
        unknown = [k for k in self.filters if k not in known]
        if unknown:
            shown = {k for obj in items for k in obj}
            unknown = [k for k in unknown if k not in shown]
        if unknown:
            raise faults.typed_bad_request("HTTPBadRequest",
                                           f"{unknown} is invalid attribute for filtering")

    def narrow(self, type_: str) -> Narrow:
        """The filters an index serves, for reading fewer rows."""
        projects = self.filters.get("project_id") or self.filters.get("tenant_id")
        # The attribute a row's parent_id is derived from is also its filter's name.
        parent_key = PARENT_KEY.get(type_)
        return Narrow(ids=Narrow.of(self.filters.get("id")),
                      projects=Narrow.of(projects),
                      parents=Narrow.of(self.filters.get(parent_key) if parent_key else None))

    def order(self) -> Order[dict[str, Any]]:
        keys = [key for key, _ in self.sort]
        return Order(lambda obj: tuple(_sortable(obj.get(k)) for k in keys),
                     tuple(not ascending for _, ascending in self.sort))

    def page_streams(self, streams: Mapping[str, Iterable[dict[str, Any]]],
                     collection: str, base: str) -> dict[str, Any]:
        """:meth:`page` over answers from several places (regions' port lists), joined
        with the shared heap merge; only what the page needs is merged."""
        order = self.order()
        kept = {name: order.sorted(o for o in rows if self.matches(o))
                for name, rows in streams.items()}
        after = next((o for rows in kept.values() for o in rows
                      if o.get(self.id_key) == self.marker), None) if self.marker else None
        if after is not None:
            start = order.key(after)
            kept = {name: [o for o in rows if start < order.key(o)]
                    for name, rows in kept.items()}
        want = None if self.limit is None else self.limit + 1
        merged = [o for _, o in merge(order.values, order.descending, kept, limit=want)]
        return self._body(merged, self.limit is not None and len(merged) > self.limit,
                          collection, base)

    def _body(self, rows: list[dict[str, Any]], more: bool, collection: str,
              base: str) -> dict[str, Any]:
        chosen = rows[:self.limit] if self.limit is not None else rows
        body: dict[str, Any] = {}
        if more:
            keep = [(k, v) for k, v in self.raw if k != "marker"]
            body[f"{collection}_links"] = [{
                "rel": "next",
                "href": f"{base}?{urlencode(keep + [('marker', chosen[-1][self.id_key])])}"}]
        body[collection] = [self.select(o) for o in chosen]
        return body

    def page(self, items: Iterable[dict[str, Any]], collection: str, base: str,
             marker_obj: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Filtered, sorted, paged answer body with Neutron's next link.

        The page starts after the marker's sort values: the marker among the
        items, or ``marker_obj`` (the caller looked it up: it may be filtered
        out, as in Neutron); an unknown marker starts from the beginning.
        """
        rows = [o for o in items if self.matches(o)]
        after = None
        if self.marker:
            after = next((o for o in rows if o.get(self.id_key) == self.marker), None)
            if after is None and marker_obj is not None:
                after = dict(marker_obj)
        chosen, more = page(rows, self.order(), after=after, limit=self.limit)
        return self._body(chosen, more, collection, base)


def _sortable(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def _equal(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return _TRUE.get(wanted.lower()) is value
    if isinstance(value, list):
        return wanted in [str(v) for v in value]
    if value is None:
        return wanted in ("", "None", "null")
    return str(value) == wanted


def _tags_match(key: str, wanted: list[str], tags: Sequence[str]) -> bool:
    asked = {t for w in wanted for t in w.split(",") if t}
    have = set(tags)
    if key == "tags":
        return asked <= have
    if key == "tags-any":
        return bool(asked & have)
    if key == "not-tags":
        return not asked <= have
    return not asked & have


def _fixed_ips_match(wanted: list[str], fixed_ips: Sequence[Mapping[str, Any]]) -> bool:
    for item in wanted:
        name, _, value = item.partition("=")
        if name == "ip_address_substr":
            if not any(value in str(ip.get("ip_address")) for ip in fixed_ips):
                return False
        elif not any(str(ip.get(name)) == value for ip in fixed_ips):
            return False
    return True


def parse_query(query: MultiMapping[str], sort_keys: frozenset[str],
                id_key: str = "id") -> ListQuery:
    """Parse a list request's query string.

    :raises BadRequest: a bad limit, sort key or sort direction.
    """
    filters: dict[str, list[str]] = {}
    for key, value in query.items():
        if key not in _CONTROL:
            filters.setdefault(key, []).append(value)
    limit = None
    if "limit" in query:
        try:
            limit = int(query["limit"])
        except ValueError:
            raise errors.BadRequest(f"Bad limit request: '{query['limit']}' is not an "
                                    "integer") from None
        if limit < 0:
            raise errors.BadRequest("Bad limit request: limit must be >= 0")
        limit = limit or None
    keys = query.getall("sort_key", [])
    dirs = query.getall("sort_dir", [])
    if dirs and len(dirs) != len(keys):
        raise errors.BadRequest("The number of sort_keys and sort_dirs must be same")
    sort: list[tuple[str, bool]] = []
    for i, key in enumerate(keys):
        if key not in sort_keys:
            raise errors.BadRequest(f"{key} is invalid attribute for sort_keys")
        direction = dirs[i] if dirs else "asc"
        if direction not in ("asc", "desc"):
            raise errors.BadRequest(f"{direction} is invalid value for sort_dirs, "
                                    "valid value is 'asc' and 'desc'")
        sort.append((key, direction == "asc"))
    if not any(k == id_key for k, _ in sort):
        sort.append((id_key, sort[-1][1] if sort else True))
    fields = [f for v in query.getall("fields", []) for f in v.split(",") if f]
    return ListQuery(filters=filters, fields=fields, limit=limit,
                     marker=query.get("marker"), sort=sort, raw=list(query.items()),
                     id_key=id_key)
