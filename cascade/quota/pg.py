"""PostgreSQL's one-statement forms of admission and release (``ledger`` uses them).

The portable ledger spends one round trip per resource and step: reserving a
server (instances, cores, RAM) and committing it took 18 round trips with the
pool's pre-ping, about 2.5 ms of client CPU per admission. On PostgreSQL each
step is one statement instead, with the same guarantees:

* rows are locked in sorted resource order (``ORDER BY ... FOR UPDATE``: the
  sort runs below the row locking), so admissions never deadlock, with each
  other or with the portable path;
* the limit check reads the locked, latest row versions (READ COMMITTED
  re-reads a row it waited for), and every resource is checked before any is
  changed, so the statement admits all of the request or none of it;
* the reservation rows are written by the same statement, only when admitted;
* releasing deletes the reservation rows (only those not committed) and
  returns their deltas in one statement: whoever deletes them does the
  accounting, exactly once. (Committing touches no usage row at all:
  ``cascade.quota.settlement.commit``.)

A request naming a usage row that does not exist yet locks nothing and says so
(``present``); the caller creates the rows and asks again.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["Verdict", "reserve", "release"]

_NAMES = "CAST(:names AS VARCHAR[])"

_RESERVE = text(f"""
WITH req AS (
    SELECT * FROM unnest({_NAMES}, CAST(:deltas AS INTEGER[]), CAST(:defaults AS INTEGER[]))
        AS r(resource, delta, dflt)
), present AS (
    SELECT count(*) AS n FROM quota_usages
    WHERE project_id = :p AND resource = ANY({_NAMES})
), locked AS (
    SELECT u.resource, u.in_use, u.reserved, q.delta,
           COALESCE(l.hard_limit, q.dflt) AS lim
    FROM quota_usages u
    JOIN req q ON q.resource = u.resource
    LEFT JOIN quota_limits l ON l.project_id = u.project_id AND l.resource = u.resource
    WHERE u.project_id = :p AND (SELECT n FROM present) = cardinality({_NAMES})
    ORDER BY u.resource
    FOR UPDATE OF u
), verdict AS (
    SELECT count(*) = cardinality({_NAMES})
           AND COALESCE(bool_and(lim < 0 OR in_use + reserved + delta <= lim), false) AS ok
    FROM locked
), reserve AS (
    UPDATE quota_usages u SET reserved = u.reserved + k.delta, updated_at = :now
    FROM locked k, verdict v
    WHERE v.ok AND u.project_id = :p AND u.resource = k.resource
), hold AS (
    INSERT INTO reservations (id, resource, project_id, delta, expires_at, created_at)
    SELECT h.id, h.resource, :p, h.delta, CAST(:expires AS TIMESTAMPTZ),
           CAST(:now AS TIMESTAMPTZ)
    FROM unnest(CAST(:hold_ids AS VARCHAR[]), CAST(:hold_names AS VARCHAR[]),
                CAST(:hold_deltas AS INTEGER[])) AS h(id, resource, delta), verdict v
    WHERE v.ok
)
SELECT v.ok, k.resource, k.in_use, k.reserved, k.lim
FROM verdict v LEFT JOIN locked k ON true
""")


_RELEASE = text("""
WITH gone AS (
    DELETE FROM reservations WHERE id = :id AND NOT committed
    RETURNING project_id, resource, delta
), locked AS (
    SELECT u.project_id, u.resource FROM quota_usages u
    JOIN gone g ON g.project_id = u.project_id AND g.resource = u.resource
    ORDER BY u.project_id, u.resource
    FOR UPDATE OF u
)
UPDATE quota_usages u SET reserved = GREATEST(u.reserved - g.delta, 0), updated_at = :now
FROM gone g JOIN locked k ON k.project_id = g.project_id AND k.resource = g.resource
WHERE u.project_id = g.project_id AND u.resource = g.resource
RETURNING u.resource
""")


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """What one reserve statement found."""

    admitted: bool
    #: Resources whose usage row does not exist yet (nothing was locked).
    missing: list[str]
    #: Resource -> (in use + reserved, effective limit), as locked.
    held: dict[str, tuple[int, int]]


async def reserve(session: AsyncSession, project_id: str,
                  holds: Mapping[str, Mapping[str, int]], defaults: Mapping[str, int],
                  now: dt.datetime, expires: dt.datetime) -> Verdict:
    """Admit every reservation of ``holds`` (id -> deltas), all or none, and write
    their rows, in one statement. The limits are checked against the sum."""
    deltas: dict[str, int] = {}
    hold_rows = []
    for reservation_id, wanted in holds.items():
        for name, delta in sorted(wanted.items()):
            deltas[name] = deltas.get(name, 0) + delta
            hold_rows.append((reservation_id, name, delta))
    names = sorted(deltas)
    rows = (await session.execute(_RESERVE, {
        "names": names, "deltas": [deltas[n] for n in names],
        "defaults": [defaults[n] for n in names], "p": project_id,
        "hold_ids": [h[0] for h in hold_rows], "hold_names": [h[1] for h in hold_rows],
        "hold_deltas": [h[2] for h in hold_rows], "now": now, "expires": expires})).all()
    held = {r.resource: (int(r.in_use) + int(r.reserved), int(r.lim))
            for r in rows if r.resource is not None}
    return Verdict(bool(rows and rows[0].ok), [n for n in names if n not in held], held)


async def release(session: AsyncSession, reservation_id: str, now: dt.datetime) -> bool:
    """Give back a reservation not committed; whether it was held."""
    rows = (await session.execute(_RELEASE, {"id": reservation_id, "now": now})).all()
    return bool(rows)
