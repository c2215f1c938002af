"""What a validated token says about its holder, independent of how it was validated."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Protocol

__all__ = ["Identity", "Authenticator", "NoAuth"]


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    project_id: str
    user_id: str
    roles: tuple[str, ...]
    project_name: str | None = None
    user_name: str | None = None
    expires_at: dt.datetime | None = None


class Authenticator(Protocol):
    """Turns a token into an Identity, or None when the token is not valid."""

    async def authenticate(self, token: str) -> Identity | None: ...

    async def close(self) -> None: ...


class NoAuth:
    """TESTING ONLY: the token is ``user:project[:role,role]`` and is believed."""

    async def authenticate(self, token: str) -> Identity | None:
        parts = token.split(":")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            return None
        roles = tuple(r for r in (parts[2].split(",") if len(parts) > 2 else ["member"]) if r)
        return Identity(project_id=parts[1], user_id=parts[0], roles=roles)

    async def close(self) -> None:
        return None
