"""One oslo.policy enforcer per process, fast enough for the hot path.

oslo.policy costs ~90 us per check and looks at the policy file's mtime on
each one; Cascade checks on every request. So decisions are remembered per
(rule, roles, caller's project and user, target's project and user), and the
policy file is re-read off the event loop by ``watch`` every
``[api] policy_reload_interval`` seconds: a change to ``policy.yaml`` applies
within that time, without a restart, and drops every remembered decision.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any, Mapping

from oslo_config import cfg
from oslo_policy import policy

from cascade.policy.rules import list_rules

__all__ = ["Policy", "get_enforcer"]

LOG = logging.getLogger(__name__)

_CACHE_MAX = 20_000


class _Enforcer(policy.Enforcer):
    """An Enforcer that reads its files only when ``reload`` says so."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        super().__init__(conf)
        self._may_read = True

    def load_rules(self, force_reload: bool = False) -> None:
        if self._may_read:
            super().load_rules(force_reload)

    def reload(self) -> bool:
        """Re-read the policy files (blocking: run in a thread); whether they changed."""
        before = self.rules
        self._may_read = True
        try:
            super().load_rules()
        finally:
            self._may_read = False
        return self.rules is not before


class Policy:
    """Authorize requests against Cascade's rules and the operator's overrides."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self._enforcer = _Enforcer(conf)
        self._enforcer.register_defaults(list_rules())
        self._enforcer.reload()
        self._interval = conf.api.policy_reload_interval
        self._decisions: OrderedDict[tuple[Any, ...], bool] = OrderedDict()

    @property
    def enforcer(self) -> policy.Enforcer:
        return self._enforcer

    def allowed(self, rule: str, roles: tuple[str, ...], project_id: str, user_id: str,
                target: Mapping[str, Any] | None = None) -> bool:
        """Whether a caller with ``roles`` in ``project_id`` may do ``rule`` on
        ``target`` (an object's ``project_id`` and ``user_id``; the caller's own
        by default)."""
        t_project = project_id if target is None else target.get("project_id", project_id)
        t_user = user_id if target is None else target.get("user_id", user_id)
        key = (rule, roles, project_id, user_id, t_project, t_user)
        hit = self._decisions.get(key)
        if hit is not None:
            return hit
        creds = {"roles": list(roles), "project_id": project_id, "user_id": user_id}
        verdict = bool(self._enforcer.enforce(
            rule, {"project_id": t_project, "user_id": t_user}, creds))
        self._decisions[key] = verdict
        if len(self._decisions) > _CACHE_MAX:
            self._decisions.popitem(last=False)
        return verdict

    async def watch(self) -> None:
        """Re-read the policy file every interval (forever); drop decisions on change."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._interval)
            try:
                changed = await loop.run_in_executor(None, self._enforcer.reload)
            except Exception as exc:  # noqa: BLE001 - a bad file keeps the last good rules
                LOG.error("policy file not loaded (keeping the previous rules): %s", exc)
                continue
            if changed:
                LOG.info("policy rules reloaded")
                self._decisions.clear()


def get_enforcer() -> policy.Enforcer:
    """For ``oslopolicy-policy-generator`` (the ``oslo.policy.enforcer`` entry point)."""
    from cascade import config

    conf = config.load([])
    return Policy(conf).enforcer
