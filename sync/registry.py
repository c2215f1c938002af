"""Job handlers and periodic loops by name; ``[sync] workers`` picks which run here."""
from __future__ import annotations

from typing import Iterable

from cascade.sync import (image_follow, image_replication, router_converge, server_build,
                          shelve_release)
from cascade.sync.worker import Handler

__all__ = ["HANDLERS", "enabled"]

#: Job kind -> handler.
HANDLERS: dict[str, Handler] = {
    "image_replication": image_replication.handle,
    "image_replica_delete": image_replication.delete_replica,
    "image_snapshot": image_follow.handle,
    "image_import": image_follow.handle,
    "server_build": server_build.handle,
    "shelve_image_release": shelve_release.handle,
    "router_converge": router_converge.handle,
}


def enabled(names: Iterable[str], spec: list[str]) -> set[str]:
    """The names ``spec`` turns on: '*' for all, 'name' adds one, '-name' drops one."""
    names = set(names)
    on: set[str] = set()
    for item in spec:
        item = item.strip()
        if item == "*":
            on |= names
        elif item.startswith("-"):
            on.discard(item[1:])
        elif item in names:
            on.add(item)
    return on
