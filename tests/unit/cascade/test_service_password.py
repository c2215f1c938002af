"""Cascade refuses to start without its service user's password (no default):
the real entry points, as processes of their own."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("module", ["cascade.cmd.api", "cascade.cmd.sync"])
def test_processes_refuse_to_start_without_a_service_password(module: str,
                                                              tmp_path: Path) -> None:
    conf = tmp_path / "cascade.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n")
    proc = subprocess.run(
        [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())",
         "--config-file", str(conf)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "[service_credentials] password" in proc.stderr
