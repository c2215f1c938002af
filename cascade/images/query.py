"""GET /v2/images query semantics: who sees what, Glance's filters, sorting, paging.

Visibility lives in the JSON spec, so the database gives the candidates
(``store.list_candidates``: the caller's project's images and those seen
beyond their project, narrowed in SQL by the ``id`` and ``owner`` filters,
which an index serves) and everything else Glance's SQL would do happens
here, in the same order: the visibility union (owned, public, community,
shared-with-me at ``member_status``), the ``visibility`` filter (community
images of others only when asked for), ``os_hidden``, the attribute and
property filters, then keyset paging (the shared engine,
``cascade/listing/order.py``) on the sort keys with ``created_at`` and
``id`` appended, so pages stay stable while images come and go.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import operator
from typing import Any, Callable, Sequence

from multidict import MultiMapping
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.context import RequestContext
from cascade.db.models import Placement, Resource
from cascade.images import records, store
from cascade.listing.narrow import Narrow
from cascade.listing.order import Order, page

__all__ = ["LIMIT_DEFAULT", "LIMIT_MAX", "SORT_KEYS", "ImageQuery", "parse", "filter_sort_page",
           "list_images"]

#: Glance's limit_param_default and api_limit_max.
LIMIT_DEFAULT = 25
LIMIT_MAX = 1000
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id",
             "created_at", "updated_at")

Row = tuple[Resource, list[Placement]]
Test = Callable[[Resource], bool]

_VISIBILITIES = ("public", "private", "shared", "community", "all")
_MEMBER_STATUSES = ("pending", "accepted", "rejected", "all")
#: Parameters that are not attribute or property filters.
_CONTROL = frozenset({"limit", "marker", "member_status", "tag", "sort", "sort_key",
                      "sort_dir", "visibility", "os_hidden", "protected"})
_IN_KEYS = frozenset({"name", "id", "status", "container_format", "disk_format"})
_RANGE_KEYS = frozenset({"size", "virtual_size", "min_disk", "min_ram"})
_EXACT_KEYS = frozenset({"owner", "checksum", "os_hash_algo", "os_hash_value", "size",
                         "virtual_size", "min_disk", "min_ram"})
_SPEC_KEYS = frozenset({"name", "container_format", "disk_format", "visibility",
                        "min_disk", "min_ram", "protected", "os_hidden"})
_TIME_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "neq": operator.ne, "gt": operator.gt, "gte": operator.ge,
    "lt": operator.lt, "lte": operator.le}


def _value(res: Resource, key: str) -> Any:
    if key == "id":
        return res.global_id
    if key == "status":
        return res.status
    if key == "owner":
        return res.project_id
    if key in _SPEC_KEYS:
        return res.spec.get(key)
    return (res.attrs or {}).get(key)


def _time(text: Any) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _split_op(expr: str) -> tuple[str, str]:
    """Glance's ``op:value`` split; a bare ISO time keeps its colons."""
    left, sep, right = expr.partition(":")
    if not sep or _time(expr) is not None:
        return "eq", expr
    return left, right


def _split_quoted(value: str) -> list[str]:
    """``a,"b,c",d`` -> ``["a", "b,c", "d"]`` (Glance's ``in:`` list syntax)."""
    out: list[str] = []
    i, n = 0, len(value)
    while True:
        if i < n and value[i] == '"':
            j, buf = i + 1, []
            while j < n and value[j] != '"':
                if value[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(value[j])
                j += 1
            if j >= n:
                raise errors.BadRequest(f"Invalid filter value {value}. The quote is not "
                                        f"closed.")
            j += 1
            if j < n and value[j] != ",":
                raise errors.BadRequest(f"Invalid filter value {value}. There is no comma "
                                        f"after closing quotation mark.")
            out.append("".join(buf))
        else:
            j = value.find(",", i)
            j = n if j < 0 else j
            if '"' in value[i:j]:
                raise errors.BadRequest(f"Invalid filter value {value}. There is no comma "
                                        f"before opening quotation mark.")
            out.append(value[i:j])
        if j >= n:
            return out
        i = j + 1


def _in_values(value: str) -> set[str]:
    """The values an ``in``-capable filter (``name``, ``id``...) accepts."""
    op, text = _split_op(value)
    # NOTE: Glance answers 400 to any other prefix; a name holding a colon
    # ("ubuntu:22.04") is more likely than a mistyped operator, so it is literal.
    return set(_split_quoted(text)) if op == "in" else {text if op == "eq" else value}


def _bool(query: MultiMapping[str], key: str, default: str | None) -> bool | None:
    raw = query.get(key, default)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise errors.BadRequest(f"Invalid value '{raw}' for '{key}' filter. Valid values "
                                f"are 'true' or 'false'.")
    return raw.lower() == "true"


def _filter(key: str, value: str) -> Test:
    """One attribute or property filter, checked up front (bad values are 400s)."""
    if key == "changes-since":
        raise errors.BadRequest('The "changes-since" filter is no longer available on v2.')
    if key[-4:] in ("_min", "_max") and key[:-4] in _RANGE_KEYS:
        try:
            bound = int(value)
        except ValueError:
            raise errors.BadRequest("Unable to filter on a range with a non-numeric "
                                    "value.") from None
        cmp = operator.ge if key.endswith("_min") else operator.le
        attr = key[:-4]
        return lambda r: isinstance(_value(r, attr), int) and cmp(_value(r, attr), bound)
    if key in ("created_at", "updated_at"):
        op, text = _split_op(value)
        if op not in _TIME_OPS:
            raise errors.BadRequest(f"Unable to filter by unknown operator '{op}'.")
        threshold = _time(text)
        if threshold is None:
            raise errors.BadRequest(f'Bad "{key}" query filter format. Use ISO 8601 '
                                    f'DateTime notation.')
        compare = _TIME_OPS[op]

        def timed(r: Resource) -> bool:
            when = _time(_value(r, key))
            return when is not None and compare(when, threshold)
        return timed
    if key in _IN_KEYS:
        wanted = _in_values(value)
        return lambda r: _value(r, key) in wanted
    if key in _EXACT_KEYS:
        return lambda r: _value(r, key) is not None and str(_value(r, key)) == value
    return lambda r: (r.spec.get("properties") or {}).get(key) == value


def _tests(query: MultiMapping[str]) -> list[Test]:
    tests: list[Test] = []
    hidden = _bool(query, "os_hidden", "false")
    tests.append(lambda r: bool(r.spec.get("os_hidden", False)) == hidden)
    protected = _bool(query, "protected", None)
    if protected is not None:
        tests.append(lambda r: bool(r.spec.get("protected", False)) == protected)
    tags = [t.strip() for t in query.getall("tag", [])]
    if tags:
        tests.append(lambda r: all(t in (r.spec.get("tags") or []) for t in tags))
    for key in dict.fromkeys(query.keys()):
        if key not in _CONTROL:
            tests.append(_filter(key, query[key]))
    return tests


def _listable(ctx: RequestContext, res: Resource, visibility: str | None,
              member_status: str) -> bool:
    """Glance's list visibility: the union it selects, then the visibility filter."""
    vis = res.spec.get("visibility", "shared")
    own = res.project_id == ctx.project_id
    if not ctx.is_admin:
        member = ((res.attrs or {}).get("members") or {}).get(ctx.project_id)
        shared_with_me = vis == "shared" and member is not None and (
            member_status == "all" or member.get("status") == member_status)
        if not (own or vis in ("public", "community") or shared_with_me):
            return False
        # Never list what show would hide.
        if not records.visible(ctx, res):
            return False
    if visibility is None:
        return own or vis != "community"
    return visibility == "all" or vis == visibility


def _sorting(query: MultiMapping[str]) -> list[tuple[str, bool]]:
    """(key, descending) pairs, ``created_at`` and ``id`` appended as Glance does."""
    def key_of(k: str) -> str:
        if k not in SORT_KEYS:
            raise errors.BadRequest(f"Invalid sort key: {k}. It must be one of the "
                                    f"following: {', '.join(SORT_KEYS)}.")
        return k

    def dir_of(d: str) -> str:
        if d not in ("asc", "desc"):
            raise errors.BadRequest(f"Invalid sort direction: {d}")
        return d

    keys: list[str] = []
    dirs: list[str] = []
    if "sort" in query:
        if "sort_key" in query or "sort_dir" in query:
            raise errors.BadRequest("Old and new sorting syntax cannot be combined")
        for part in query["sort"].strip().split(","):
            key, _, direction = part.partition(":")
            keys.append(key_of(key.strip()))
            dirs.append(dir_of(direction.strip() or "desc"))
    else:
        keys = [key_of(k.strip()) for v in query.getall("sort_key", []) for k in v.split(",")]
        dirs = [dir_of(d.strip()) for v in query.getall("sort_dir", []) for d in v.split(",")]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise errors.BadRequest("Number of sort dirs does not match the number of "
                                    "sort keys")
    keys = keys or ["created_at"]
    default = dirs[0] if len(dirs) == 1 else "desc"
    if len(dirs) <= 1:
        dirs = [default] * len(keys)
    pairs = [(k, d == "desc") for k, d in zip(keys, dirs)]
    pairs += [(k, default == "desc") for k in ("created_at", "id") if k not in keys]
    return pairs


def _limit(query: MultiMapping[str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return LIMIT_DEFAULT
    try:
        limit = int(raw)
    except ValueError:
        raise errors.BadRequest("limit param must be an integer") from None
    if limit < 0:
        raise errors.BadRequest("limit param must be positive")
    return min(limit, LIMIT_MAX)


def _sort_value(res: Resource, key: str) -> Any:
    # Glance's paging compares NULL as the column's default ('' or 0).
    value = _value(res, key)
    if value is None:
        return 0 if key == "size" else ""
    return value


@dataclasses.dataclass(frozen=True)
class ImageQuery:
    """A parsed image list request, every bad value already refused."""

    tests: list[Test]
    order: Order[Row]
    limit: int
    marker: str | None
    member_status: str
    visibility: str | None
    narrow: Narrow


def parse(query: MultiMapping[str]) -> ImageQuery:
    """:raises BadRequest: a bad filter, sort, limit, visibility or member_status."""
    member_status = query.get("member_status", "accepted")
    if member_status not in _MEMBER_STATUSES:
        raise errors.BadRequest(f"Invalid status: {member_status}")
    visibility = query.get("visibility")
    if visibility is not None and visibility not in _VISIBILITIES:
        raise errors.BadRequest(f"Invalid visibility value: {visibility}")
    sorting = _sorting(query)
    order: Order[Row] = Order(
        lambda row: tuple(_sort_value(row[0], key) for key, _ in sorting),
        tuple(descending for _, descending in sorting))
    owner = query.get("owner")
    return ImageQuery(
        tests=_tests(query), order=order, limit=_limit(query), marker=query.get("marker"),
        member_status=member_status, visibility=visibility,
        narrow=Narrow(ids=Narrow.of(_in_values(query["id"]) if "id" in query else None),
                      projects=Narrow.of([owner] if owner is not None else None)))


def filter_sort_page(ctx: RequestContext, rows: Sequence[Row], query: MultiMapping[str]
                     ) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the caller's image list, rendered, and the next page's marker.

    ``rows`` are the candidates (``store.list_candidates``), and the marker's
    row if it is not among them. The next marker is given only when more
    images follow (Glance gives one whenever the page is full, costing clients
    an empty last page).

    :raises BadRequest: a bad filter, sort, limit or member_status, or a marker
        that is not an image the caller can see.
    """
    q = parse(query)
    after = None
    if q.marker is not None:
        # The marker need only be visible (as in Glance): filtered out or not,
        # its sort values say where the next page starts.
        after = next((row for row in rows if row[0].global_id == q.marker
                      and records.visible(ctx, row[0])), None)
        if after is None:
            raise errors.BadRequest(f"No image found with ID {q.marker}")
    tests = q.tests

    def chosen(row: Row) -> bool:
        res = row[0]
        return (_listable(ctx, res, q.visibility, q.member_status)
                and all(test(res) for test in tests))

    rows_page, more = page(rows, q.order, tests=[chosen], after=after, limit=q.limit)
    next_marker = rows_page[-1][0].global_id if rows_page and more else None
    return [records.to_glance(res, pls) for res, pls in rows_page], next_marker


async def list_images(sessions: async_sessionmaker[AsyncSession], ctx: RequestContext,
                      query: MultiMapping[str]) -> tuple[list[dict[str, Any]], str | None]:
    """:func:`filter_sort_page` over the candidates read from the database, narrowed
    in SQL by what an index serves."""
    q = parse(query)
    async with sessions() as session:
        rows = list(await store.list_candidates(session, ctx, q.narrow))
        if q.marker and all(row[0].global_id != q.marker for row in rows):
            # Outside the narrowed rows, the marker still says where a page starts;
            # the filters keep it off the page.
            try:
                rows.append(await store.get_image(session, q.marker))
            except errors.NotFound:
                pass
    return filter_sort_page(ctx, rows, query)
