"""Installing Cascade puts one Python package into site-packages: ``cascade``.

The folders ``api/``, ``mapping/`` and ``sync/`` ship as ``cascade.api``,
``cascade.mapping`` and ``cascade.sync`` (symlinks under ``cascade/``), so no
bare ``api``, ``mapping`` or ``sync`` package can collide with another
distribution's.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_only_the_cascade_package(tmp_path: Path) -> None:
    # Built from a copy (symlinks kept as symlinks): a build writes into its tree.
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "build", "__pycache__", ".mypy_cache",
        ".ruff_cache", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path), str(source)],
                   check=True, cwd=tmp_path, capture_output=True)
    [wheel] = tmp_path.glob("cascade-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"cascade", wheel.name.split("-")[0] + "-"
                                                 + wheel.name.split("-")[1] + ".dist-info"}
    # the three folders are inside, each module once
    for folder in ("api", "mapping", "sync"):
        shipped = {n for n in names if n.startswith(f"cascade/{folder}/")}
        on_disk = {f"cascade/{p.relative_to(ROOT).as_posix()}"
                   for p in (ROOT / folder).rglob("*.py")}
        assert on_disk and on_disk <= shipped
    assert "cascade/db/migrations/versions/0001_initial.py" in names
