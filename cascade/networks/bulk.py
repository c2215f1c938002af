"""Neutron's bulk create: ``{"networks": [...]}`` makes every object or none.

The objects are made one after another; if one is refused, the ones already
made are deleted again (newest first) and the refusal is the answer. A bulk
create is checked as a whole first (a list of objects, at least one), so a
malformed request makes nothing.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from cascade import errors
from cascade.networks import faults

__all__ = ["create_all", "split_bulk"]

LOG = logging.getLogger(__name__)


def split_bulk(type_: str, collection: str, body: Any) -> list[dict[str, Any]] | None:
    """The single-object bodies of a bulk request, or None for a single create.

    :raises BadRequest: the collection is not a non-empty list of objects.
    """
    if not isinstance(body, dict) or collection not in body or type_ in body:
        return None
    items = body[collection]
    if not isinstance(items, list) or not items or not all(isinstance(i, dict)
                                                            for i in items):
        raise faults.bad_request(f"Resource body required: expected a list of "
                                 f"'{type_}' objects in '{collection}'")
    return [{type_: item} for item in items]


async def create_all(items: list[dict[str, Any]],
                     create: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
                     delete: Callable[[str], Awaitable[None]]) -> list[dict[str, Any]]:
    """Every item made, in order; or none, and the first refusal raised."""
    made: list[dict[str, Any]] = []
    try:
        for item in items:
            made.append(await create(item))
    except BaseException:
        for obj in reversed(made):
            try:
                await delete(obj["id"])
            except errors.CascadeError as exc:
                # Left for the audit to find: recorded, so never an orphan.
                LOG.warning("bulk create: could not undo %s: %s", obj["id"], exc)
        raise
    return made
