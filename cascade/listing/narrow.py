"""Filters a list pushes into SQL: only those an index serves.

A dialect reads them off the query string; the rows still go through every
in-memory test afterwards, so narrowing never changes an answer, only how
many rows are read.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from sqlalchemy import Select

from cascade.db.models import Resource

__all__ = ["Narrow"]


@dataclasses.dataclass(frozen=True)
class Narrow:
    """Row ids, owning projects and parents a list is limited to (None: any).

    Each is served by an index: the primary key, ``ix_resources_project_type``
    and ``ix_resources_type_parent``.
    """

    ids: frozenset[str] | None = None
    projects: frozenset[str] | None = None
    parents: frozenset[str] | None = None

    @staticmethod
    def of(values: Iterable[Any] | None) -> frozenset[str] | None:
        """Usable values of one filter, or None when the filter cannot narrow
        (absent, or asks for an empty value SQL would read differently)."""
        if values is None:
            return None
        out = frozenset(str(v) for v in values)
        return out if out and all(out) else None

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` (a select of ``Resource``) with these limits added."""
        if self.ids is not None:
            stmt = stmt.where(Resource.global_id.in_(sorted(self.ids)))
        if self.projects is not None:
            stmt = stmt.where(Resource.project_id.in_(sorted(self.projects)))
        if self.parents is not None:
            stmt = stmt.where(Resource.parent_id.in_(sorted(self.parents)))
        return stmt

    def admits(self, res: Resource) -> bool:
        """Whether a row read otherwise (a marker, say) lies within these limits."""
        return ((self.ids is None or res.global_id in self.ids)
                and (self.projects is None or res.project_id in self.projects)
                and (self.parents is None or res.parent_id in self.parents))
