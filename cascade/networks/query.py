"""Neutron's list query language: filters, ``fields``, sorting and pages.

Neutron filters on any attribute by equality, a repeated key meaning "any of
these"; ``tags``/``tags-any``/``not-tags``/``not-tags-any`` match tag sets;
``fixed_ips=ip_address=...`` and ``fixed_ips=subnet_id=...`` match a port's
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
from cascade.listing.order import Order, page

__all__ = ["ListQuery", "parse_query"]

_CONTROL = frozenset({"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"})
_TAG_KEYS = frozenset({"tags", "tags-any", "not-tags", "not-tags-any"})
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

    def page(self, items: Iterable[dict[str, Any]], collection: str,
             base: str) -> dict[str, Any]:
        """Filtered, sorted, paged answer body with Neutron's next link.

        The marker counts only when it passes the filters itself.
        """
        rows = [o for o in items if self.matches(o)]
        after = next((o for o in rows if o.get(self.id_key) == self.marker), None) \
            if self.marker \
            else None
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
        if not any(str(ip.get(name)) == value for ip in fixed_ips):
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
