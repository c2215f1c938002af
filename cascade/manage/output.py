"""Table, JSON and YAML output for cascade-manage, as OSC's ``-f`` offers."""
from __future__ import annotations

import json
from typing import Any, Sequence

import yaml

__all__ = ["emit_list", "emit_one", "FORMATS"]

FORMATS = ("table", "json", "yaml")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    return "\n".join([sep, line(list(headers)), sep, *(line(r) for r in cells), sep])


def emit_list(fmt: str, columns: Sequence[str], items: Sequence[dict[str, Any]]) -> str:
    """A list of objects, restricted to ``columns`` for tables."""
    if fmt == "json":
        return json.dumps(list(items), indent=2, sort_keys=True, default=str)
    if fmt == "yaml":
        return yaml.safe_dump(json.loads(json.dumps(list(items), default=str)),
                              sort_keys=True).rstrip()
    return _table(columns, [[i.get(c) for c in columns] for i in items])


def emit_one(fmt: str, item: dict[str, Any]) -> str:
    """One object as Field/Value rows."""
    if fmt == "json":
        return json.dumps(item, indent=2, sort_keys=True, default=str)
    if fmt == "yaml":
        return yaml.safe_dump(json.loads(json.dumps(item, default=str)),
                              sort_keys=True).rstrip()
    return _table(["Field", "Value"], sorted(item.items()))
