"""The progress bar cascade-manage draws while it waits on a job."""
from __future__ import annotations

import io

from cascade.manage.progress import ProgressLine, render

MiB = 1 << 20


def test_render() -> None:
    assert render(int(12.0 * MiB), 23 * MiB, width=10) == "[#####.....] 52% 12.0/23.0 MiB"
    assert render(None, 5 * MiB, width=4) == "[....] 0% 0.0/5.0 MiB"
    assert render(3 << 30, 3 << 30, width=4) == "[####] 100% 3.0/3.0 GiB"
    assert render(512, 2048, width=4) == "[#...] 25% 0.5/2.0 KiB"
    assert render(10, 20, width=2) == "[#.] 50% 10/20 B"
    # More than announced never draws past the end.
    assert render(30, 20, width=2) == "[##] 100% 30/20 B"
    assert render(int(1.5 * MiB), None) == "1.5 MiB copied"
    assert render(None, 0) == "0 B copied"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_line_redraws_on_a_terminal_and_prints_changes_elsewhere() -> None:
    tty = _Tty()
    line = ProgressLine(tty)
    for text in ("a long text", "b", "b"):
        line.show(text)
    line.close()
    assert tty.getvalue() == "\ra long text\x1b[K\rb\x1b[K\rb\x1b[K\n"

    plain = io.StringIO()
    line = ProgressLine(plain)
    for text in ("a", "a", "b"):
        line.show(text)
    line.close()
    assert plain.getvalue() == "a\nb\n"
