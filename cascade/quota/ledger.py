"""The quota ledger: limits, usage and reservations, kept exact in the database.

Admission is a compare-and-set: one guarded ``UPDATE`` per resource adds the
request to ``reserved`` only if ``in_use + reserved + delta`` stays within the
limit (or the limit is -1). The database serialises concurrent updates of a
row and re-checks the guard on the row it finally updates, so concurrent
creates can never overshoot, whichever process they run in. Rows are always
locked in sorted resource order, so two admissions never deadlock.

A reservation is a set of rows in ``reservations`` (one per resource) that
expire. Completion marks it committed (``commit``: the resource now counts as
in use, and no usage row is touched, so a busy project's rows are locked once
per admission), failure gives it back (``release``), and a sweep gives back
what a dead owner held (``expire``). Committed reservations move from
``reserved`` to ``in_use`` when the usage rows are next folded (``fold``: on
deletions and recounts); ``usage`` counts them as in use either way. Whoever
deletes the reservation rows does the accounting, so each of these is
idempotent and they never count twice.

``in_use`` mirrors the ``usage`` of the project's resources: the resource row
is written with its usage in the transaction that commits the reservation,
and deleting it gives the usage back (``mapping.store.remove``). ``recount``
sets the ledger from that truth, for the periodic sweep and for operators.

On PostgreSQL, reserving and settling are one statement each with the same
guarantees (``cascade.quota.pg``: fewer round trips, half the CPU per
admission); SQLite runs the portable statements (``cascade.quota.tables``),
serialised by its single writer.

Every function takes the caller's session: the caller decides the
transaction. Run ``reserve`` in its own short transaction (it holds the usage
rows until that transaction ends), and ``commit`` in the transaction that
writes the resource.

The parts: admission (``reserve``, ``reserve_many``, ``charge``) in ``cascade.quota.admission``;
settling and giving back (``commit``, ``release``, ``fold``, ``expire``,
``give_back``)
in ``cascade.quota.settlement``; limits and usage in ``cascade.quota.limits``;
``recount`` in ``cascade.quota.recount``; the tables and statements they share
in ``cascade.quota.tables``. Callers use them all through this module.
"""
from __future__ import annotations

from cascade.quota.admission import Request, charge, reserve, reserve_many
from cascade.quota.limits import custom_projects, delete_limits, limits, set_limits, usage
from cascade.quota.recount import Correction, projects, recount
from cascade.quota.settlement import commit, expire, expired, fold, give_back, release

__all__ = ["Request", "reserve", "reserve_many", "commit", "release", "fold", "charge",
           "give_back", "expired", "expire", "recount",
           "limits", "usage", "set_limits", "delete_limits", "projects", "custom_projects",
           "Correction"]
