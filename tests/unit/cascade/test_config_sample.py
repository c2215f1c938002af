"""etc/cascade.conf.sample must be what oslo-config-generator produces today."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_sample_config_is_fresh(tmp_path: Path) -> None:
    out = tmp_path / "cascade.conf.sample"
    subprocess.run([sys.executable, "-m", "oslo_config.generator", "--config-file",
                    str(ROOT / "etc" / "cascade-config-generator.conf"), "--output-file",
                    str(out)], check=True, cwd=ROOT)
    assert out.read_text() == (ROOT / "etc" / "cascade.conf.sample").read_text(), (
        "etc/cascade.conf.sample is stale: run "
        "oslo-config-generator --config-file etc/cascade-config-generator.conf")


def test_every_option_has_help() -> None:
    from cascade.config import list_opts
    missing = [f"[{group}] {opt.name}" for group, opts in list_opts() for opt in opts
               if not opt.help]
    assert missing == []
