"""The request context: who is asking, with which token, under which request id."""
from __future__ import annotations

import random
from typing import Any, Mapping, NamedTuple

from cascade import errors

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
    #: The process's policy (None: the rules' defaults, for background work).
    policy: Any = None

    @property
    def is_admin(self) -> bool:
        """Whether policy's ``context_is_admin`` admits the caller (by default, the
        admin role): administrators see and act on every project's objects."""
        return self.can("context_is_admin", fatal=False)

    def can(self, rule: str, target: Mapping[str, Any] | None = None, *,
            fatal: bool = True) -> bool:
        """Whether policy allows ``rule`` on ``target`` (``project_id``, ``user_id``
        of the object; the caller's own by default), as Nova's ``context.can``.

        :raises PolicyForbidden: not allowed and ``fatal``.
        """
        allowed = (self.policy or _default_policy()).allowed(
            rule, self.roles, self.project_id, self.user_id, target)
        if not allowed and fatal:
            raise errors.PolicyForbidden(rule)
        return bool(allowed)


_DEFAULT: list[Any] = []


def _default_policy() -> Any:
    """The rules' defaults without any policy file (built once, on first use)."""
    if not _DEFAULT:
        from oslo_config import cfg

        from cascade.policy.enforcer import Policy

        conf = cfg.ConfigOpts()
        conf([], default_config_files=[])
        conf.register_opts([cfg.FloatOpt("policy_reload_interval", default=2.0)], "api")
        _DEFAULT.append(Policy(conf))
    return _DEFAULT[0]
