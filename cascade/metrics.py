"""Prometheus metrics, kept in process and rendered in the text exposition format.

A few counters and histograms, updated on the hot path with a dict lookup and
an addition (no locks: one event loop writes them), plus gauges computed when
``/metrics`` is scraped (queue depth and age, reconcile lag, region health).
"""
from __future__ import annotations

import bisect
import math
from typing import Iterable, Mapping

__all__ = ["Counter", "Histogram", "REGION_LATENCY", "REGION_ERRORS", "REPLICATION_BYTES",
           "render", "gauge_lines"]

_Labels = tuple[tuple[str, str], ...]


def _fmt_labels(labels: _Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    def __init__(self, name: str, help_: str) -> None:
        self.name, self.help = name, help_
        self.values: dict[_Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        out += [f"{self.name}{_fmt_labels(k)} {_num(v)}" for k, v in sorted(self.values.items())]
        return out


class Histogram:
    def __init__(self, name: str, help_: str, buckets: Iterable[float]) -> None:
        self.name, self.help = name, help_
        self.buckets = sorted(buckets)
        #: labels -> (per-bucket counts, sum, count)
        self.values: dict[_Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        slot = self.values.get(key)
        if slot is None:
            slot = self.values[key] = ([0] * (len(self.buckets) + 1), [0.0, 0.0])
        slot[0][bisect.bisect_left(self.buckets, value)] += 1
        slot[1][0] += value
        slot[1][1] += 1

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, (counts, (total, count)) in sorted(self.values.items()):
            running = 0
            for bound, n in zip([*self.buckets, math.inf], counts):
                running += n
                labels = _fmt_labels((*key, ("le", _num(bound))))
                out.append(f"{self.name}_bucket{labels} {running}")
            out.append(f"{self.name}_sum{_fmt_labels(key)} {_num(total)}")
            out.append(f"{self.name}_count{_fmt_labels(key)} {_num(count)}")
        return out


REGION_LATENCY = Histogram(
    "cascade_region_request_seconds", "Latency of Cascade's calls to regional services.",
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
REGION_ERRORS = Counter(
    "cascade_region_request_errors_total",
    "Calls to regional services that failed (kind: http status class, timeout, unreachable).")
REPLICATION_BYTES = Counter(
    "cascade_replication_bytes_total", "Image bytes copied into each region by replication.")


def gauge_lines(name: str, help_: str, values: Mapping[_Labels, float]) -> list[str]:
    """A gauge computed at scrape time."""
    out = [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
    out += [f"{name}{_fmt_labels(k)} {_num(v)}" for k, v in sorted(values.items())]
    return out


def render(extra: Iterable[str] = ()) -> str:
    """Everything, in Prometheus' text format."""
    lines: list[str] = []
    for metric in (REGION_LATENCY, REGION_ERRORS, REPLICATION_BYTES):
        lines += metric.lines()
    lines += list(extra)
    return "\n".join(lines) + "\n"
