"""Named points where a test can make this process die at once (SIGKILL), or freeze.

``CASCADE_CRASH_AT=<point>`` in the environment arms one point; when the
process reaches it, it kills itself without cleanup, as a power cut would.
The fault-injection tests use it to prove that a crash at any step leaves a
trace the audit resolves. Unarmed, a point costs one comparison.
"""
from __future__ import annotations

import logging
import os
import signal
import time

__all__ = ["crash_point", "POINTS"]

LOG = logging.getLogger(__name__)

_ARMED = os.environ.get("CASCADE_CRASH_AT") or None
#: ``CASCADE_HANG_AT=<point>`` with ``CASCADE_HANG_MARK=<file>``: the first process
#: of several to reach the point writes its pid to the file and freezes there
#: (event loop and lease renewals too) until killed; the others pass.
_HANG = os.environ.get("CASCADE_HANG_AT") or None
_HANG_MARK = os.environ.get("CASCADE_HANG_MARK") or None

#: Every point, in the order of the operations they interrupt.
POINTS = (
    "server_create.reserved",          # quota reserved, nothing written
    "server_create.mapped",            # mapping written, region not asked
    "server_create.regional_created",  # regional server exists, id not recorded
    "server_delete.marked",            # placement deleting, region not asked
    "server_delete.regional_deleted",  # region asked to delete, mapping still there
    "replication.target_created",      # regional image created, no data
    "replication.mid_copy",            # part of the data copied
    "replication.copied",              # data copied, replica not marked active
    "network.regional_created",        # regional network exists, not recorded
    "port.regional_created",           # regional port exists, not recorded
    "router.regional_created",         # regional router copy exists, not recorded
    "router.interfaces_added",         # interfaces and bridge ports in, routes not set
    "router.routes_set",               # routes set, stale interfaces not removed
    "floatingip.regional_created",     # regional floating IP exists, not recorded
)


def crash_point(name: str) -> None:
    """Die here if ``CASCADE_CRASH_AT`` names this point."""
    if _ARMED is not None and _ARMED == name:
        LOG.critical("crash point %s reached: killing the process", name)
        os.kill(os.getpid(), signal.SIGKILL)
    if _HANG is not None and _HANG == name and _HANG_MARK:
        try:
            fd = os.open(_HANG_MARK, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        LOG.critical("hang point %s reached: frozen until killed", name)
        while True:
            time.sleep(3600)
