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
        roles = [r for r in (parts[2].split(",") if len(parts) > 2 else ["member"]) if r]
        # As Keystone's default implied roles: admin implies member, member reader.
        for role, implied in (("admin", "member"), ("member", "reader")):
            if role in roles and implied not in roles:
                roles.append(implied)
        return Identity(project_id=parts[1], user_id=parts[0], roles=tuple(roles))

    async def close(self) -> None:
        return None
