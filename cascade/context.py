"""The request context: who is asking, with which token, under which request id."""
from __future__ import annotations

import random
from typing import NamedTuple

__all__ = ["RequestContext", "new_request_id"]


def new_request_id() -> str:
    """A request id in the form every OpenStack service uses (``req-<uuid>``).

    Random bits from ``random`` rather than ``os.urandom``: an id needs to be
    unique, not secret. Formatted directly rather than through ``uuid.UUID``
    (a third of the time), since this runs on every request; the version (4) and
    variant (RFC 4122) bits are set as ``uuid.uuid4`` sets them.
    """
    h = "%032x" % (random.getrandbits(128) & _CLEAR | _SET)
    return f"req-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_SET = (0x4000 << 64) | (0x8000 << 48)


class RequestContext(NamedTuple):
    """Identity of one API request, built from the validated token.

    A NamedTuple rather than a frozen dataclass: as immutable, and built in a
    third of the time (a frozen dataclass sets each field through
    ``object.__setattr__``); one is built for every request.
    """

    request_id: str
    project_id: str
    user_id: str
    roles: tuple[str, ...] = ()
    #: The caller's token, forwarded to regions (one Keystone serves them all).
    auth_token: str | None = None
    project_name: str | None = None
    user_name: str | None = None
    #: Request id the caller sent (X-OpenStack-Request-ID), if any.
    global_request_id: str | None = None
    #: Background work for the caller: regions also get Cascade's service token
    #: (X-Service-Token), so the user's token is honoured past its expiry, as
    #: Nova's long-running calls are.
    with_service_token: bool = False

    @property
    def is_admin(self) -> bool:
        """Whether the caller holds the admin role."""
        return "admin" in self.roles
