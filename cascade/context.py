"""The request context: who is asking, with which token, under which request id."""
from __future__ import annotations

import dataclasses
import uuid

__all__ = ["RequestContext", "new_request_id"]


def new_request_id() -> str:
    """A request id in the form every OpenStack service uses (``req-<uuid>``)."""
    return f"req-{uuid.uuid4()}"


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
