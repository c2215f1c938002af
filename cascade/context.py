"""The request context: who is asking, with which token, under which request id."""
from __future__ import annotations

import dataclasses
import random
import uuid

__all__ = ["RequestContext", "new_request_id"]


def new_request_id() -> str:
    """A request id in the form every OpenStack service uses (``req-<uuid>``).

    Random bits from ``random`` rather than ``os.urandom``: an id needs to be
    unique, not secret, and this runs on every request.
    """
    return f"req-{uuid.UUID(int=random.getrandbits(128), version=4)}"


@dataclasses.dataclass(frozen=True, slots=True)
class RequestContext:
    """Identity of one API request, built from the validated token."""

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

    @property
    def is_admin(self) -> bool:
        """Whether the caller holds the admin role."""
        return "admin" in self.roles
