"""Helpers every ``codesign`` subcommand shares: text tables, ``KEY=VALUE`` options and
workload lookup."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned text columns, numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(headers))]
    lines = []
    for j, row in enumerate(cells):
        parts = [c.rjust(w) if numeric[i] and j else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:g}"


def _parse_params(items: Sequence[str], flag: str = "--param") -> dict[str, Any]:
    """``KEY=VALUE`` items of option ``flag``; values read as int, float or text."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CodesignError(f"{flag} expects KEY=VALUE, got {item!r}")
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        params[key] = value
    return params


def load_workload(spec: str, params: dict[str, Any] | None = None) -> Any:
    """A zoo name (with builder params) or the path of a workload TOML file."""
    from hwsim.ir import zoo

    if spec.endswith(".toml") or Path(spec).exists():
        from hwsim.ir.toml_workload import load_workload_toml

        if params:
            raise CodesignError("--param applies to zoo workloads, not to TOML files")
        return load_workload_toml(spec)
    return zoo.get(spec, **(params or {}))
