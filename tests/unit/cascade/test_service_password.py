"""Cascade refuses to start without its service user's password (no default)."""
from __future__ import annotations

from pathlib import Path

import pytest

from cascade.cmd import api, sync


@pytest.mark.parametrize("main", [api.main, sync.main])
def test_processes_refuse_to_start_without_a_service_password(
        main: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "cascade.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n")
    with pytest.raises(SystemExit) as exit_:
        main(["--config-file", str(conf)])  # type: ignore[operator]
    assert exit_.value.code == 2
    assert "[service_credentials] password" in capsys.readouterr().err
