"""Progress of a long job on the operator's terminal (stderr).

On a terminal one line is redrawn in place; otherwise (logs, pipes) a plain
line is written each time what it says changes, so a log is not flooded.
"""
from __future__ import annotations

from typing import TextIO

__all__ = ["render", "ProgressLine"]

_UNITS = (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def _unit(size: int) -> tuple[str, int]:
    for name, scale in _UNITS:
        if size >= scale:
            return name, scale
    return "B", 1


def _amount(value: int, scale: int) -> str:
    return str(value) if scale == 1 else f"{value / scale:.1f}"


def render(done: int | None, total: int | None, *, width: int = 20) -> str:
    """``[#####.....] 52% 12.0/23.0 MiB``; without a total, ``12.0 MiB copied``.

    Both amounts share the unit of the larger, chosen from its size.
    """
    done = done or 0
    if not total:
        name, scale = _unit(done)
        return f"{_amount(done, scale)} {name} copied"
    fraction = min(max(done / total, 0.0), 1.0)
    filled = int(fraction * width)
    name, scale = _unit(max(done, total))
    return (f"[{'#' * filled}{'.' * (width - filled)}] {int(fraction * 100)}% "
            f"{_amount(done, scale)}/{_amount(total, scale)} {name}")


class ProgressLine:
    """Shows successive status texts on ``stream``; ``close`` ends the line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last: str | None = None

    def show(self, text: str) -> None:
        if self._tty:
            # Redraw in place; \x1b[K clears what a longer previous text left.
            self._stream.write(f"\r{text}\x1b[K")
        elif text != self._last:
            self._stream.write(text + "\n")
        self._stream.flush()
        self._last = text

    def close(self) -> None:
        if self._tty and self._last is not None:
            self._stream.write("\n")
            self._stream.flush()
