"""Policy in code: the sample is what the generator writes today, defaults follow
the real services, and an operator's policy.yaml changes decisions without a
restart."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from oslo_config import cfg

from cascade import config, errors
from cascade.context import RequestContext
from cascade.policy.enforcer import Policy

ROOT = Path(__file__).resolve().parents[3]


def test_policy_sample_is_fresh(tmp_path: Path) -> None:
    out = tmp_path / "policy.yaml.sample"
    subprocess.run([str(Path(sys.executable).parent / "oslopolicy-sample-generator"),
                    "--namespace", "cascade", "--output-file", str(out)], check=True,
                   cwd=ROOT)
    assert out.read_text() == (ROOT / "etc" / "policy.yaml.sample").read_text(), (
        "etc/policy.yaml.sample is stale: run oslopolicy-sample-generator "
        "--namespace cascade --output-file etc/policy.yaml.sample")


def test_the_enforcer_entry_point_answers_policy_generator() -> None:
    proc = subprocess.run([str(Path(sys.executable).parent / "oslopolicy-policy-generator"),
                           "--namespace", "cascade"], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert '"copy_image": "rule:context_is_admin"' in proc.stdout


def _ctx(policy: Policy, *roles: str, project: str = "p1") -> RequestContext:
    return RequestContext("req-x", project, "u1", roles, policy=policy)


def _conf(tmp_path: Path, extra: str = "") -> cfg.ConfigOpts:
    path = tmp_path / "cascade.conf"
    path.write_text(f"[oslo_policy]\npolicy_file = {tmp_path / 'policy.yaml'}\n"
                    "[api]\npolicy_reload_interval = 0.1\n" + extra)
    return config.load(["--config-file", str(path)])


@pytest.mark.parametrize("rule,roles,allowed", [
    ("copy_image", ("member", "reader"), False),  # Glance: admins only
    ("copy_image", ("admin", "member", "reader"), True),
    ("publicize_image", ("member", "reader"), False),
    ("os_compute_api:servers:show", ("member", "reader"), True),
    ("os_compute_api:servers:index:get_all_tenants", ("member", "reader"), False),
    ("create_network:shared", ("member", "reader"), False),
    ("cascade:mappings:list", ("member", "reader"), False),
    ("cascade:mappings:list", ("admin",), True),
    ("os_compute_api:servers:create", ("reader",), False),  # readers read
])
def test_defaults_follow_the_real_services(tmp_path: Path, rule: str,
                                           roles: tuple[str, ...], allowed: bool) -> None:
    ctx = _ctx(Policy(_conf(tmp_path)), *roles)
    assert ctx.can(rule, fatal=False) is allowed


def test_another_projects_object_is_refused_by_owner_rules(tmp_path: Path) -> None:
    ctx = _ctx(Policy(_conf(tmp_path)), "member", "reader")
    assert ctx.can("update_networks_tags", {"project_id": "p1"}, fatal=False)
    with pytest.raises(errors.PolicyForbidden) as err:
        ctx.can("update_networks_tags", {"project_id": "p2"})
    assert err.value.fault("network")[1] == (
        "(rule:update_networks_tags) is disallowed by policy")


async def test_a_policy_file_change_applies_without_a_restart(tmp_path: Path) -> None:
    policy = Policy(_conf(tmp_path))
    reader = _ctx(policy, "reader")
    assert not reader.can("cascade:mappings:list", fatal=False)
    watcher = asyncio.create_task(policy.watch())
    try:
        (tmp_path / "policy.yaml").write_text(
            '"cascade:mappings:list": "rule:admin_api or role:reader"\n')
        for _ in range(50):
            if reader.can("cascade:mappings:list", fatal=False):
                break
            await asyncio.sleep(0.1)
        assert reader.can("cascade:mappings:list", fatal=False)
        assert not reader.can("cascade:mappings:show", fatal=False)
    finally:
        watcher.cancel()
