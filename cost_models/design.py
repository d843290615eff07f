"""Design points: the knobs a search sets, per layer and for the hardware.

A ``Design`` holds, per layer of a workload, the LUT core's weight bits, the activation bits and
the share of output channels on the LUT core (``lut_fraction``; ``None`` = solve the balance
point), plus optional overrides of the target's core sizes. The DSP core always keeps 8-bit
weights (N3H-Core, REFERENCE.md section 1).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from hwsim.errors import Problem, RecordError
from hwsim.ir import Workload
from hwsim.ir.lowrank import apply_ranks, rank_problems
from hwsim.spec.records import DspCore, LutCore

BALANCE_MODES = ("exact", "n3h-sweep")
"""How an unset ``lut_fraction`` is chosen: the exact integer balance point, or N3H-Core's
released 0.01 sweep (REFERENCE.md section 1)."""


class DesignError(RecordError):
    """A design that does not fit its workload or target (malformed, not merely infeasible)."""


@dataclass(frozen=True, slots=True)
class Design:
    """One design point for a workload. Per-layer tuples are in the workload's layer order."""

    layer_names: tuple[str, ...]
    weight_bits: tuple[int, ...]
    act_bits: tuple[int, ...]
    lut_fraction: tuple[float | None, ...]
    balance: str = "exact"
    lut_core: LutCore | None = None
    dsp_core: DspCore | None = None
    workload: str = ""
    rank: tuple[int | None, ...] | None = None
    """Per-layer low-rank rank (``None`` entries keep the layer dense); see
    :mod:`hwsim.ir.lowrank`. ``None`` for the whole design means no factorisation."""

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        n = len(self.layer_names)
        for name in ("weight_bits", "act_bits", "lut_fraction"):
            if len(getattr(self, name)) != n:
                problems.append(Problem(name, len(getattr(self, name)),
                                        f"needs one entry per layer ({n})"))
        for i, lname in enumerate(self.layer_names):
            for field in ("weight_bits", "act_bits"):
                values = getattr(self, field)
                if i < len(values):
                    v = values[i]
                    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 16:
                        problems.append(Problem(f"{lname}.{field}", v, "must be an int in [1, 16]"))
            if i < len(self.lut_fraction):
                f = self.lut_fraction[i]
                if f is not None and (not isinstance(f, (int, float)) or isinstance(f, bool)
                                      or math.isnan(f) or not 0.0 <= f <= 1.0):
                    problems.append(Problem(f"{lname}.lut_fraction", f,
                                            "must be in [0, 1] (or omitted for the balance point)"))
        if self.rank is not None:
            if len(self.rank) != n:
                problems.append(Problem("rank", len(self.rank), f"needs one entry per layer ({n})"))
            for lname, r in zip(self.layer_names, self.rank, strict=False):
                if r is not None and (not isinstance(r, int) or isinstance(r, bool) or r < 1):
                    problems.append(Problem(f"{lname}.rank", r, "must be an int >= 1"))
        if self.balance not in BALANCE_MODES:
            problems.append(Problem("balance", self.balance, f"must be one of {BALANCE_MODES}"))
        if problems:
            raise DesignError("design", problems)

    def __len__(self) -> int:
        return len(self.layer_names)

    def check_against(self, workload: Workload) -> None:
        """Raise :class:`DesignError` naming every layer that does not match ``workload``."""
        problems = _name_problems(self.layer_names, workload)
        if not problems and self.rank is not None:
            problems = rank_problems(workload, self.rank)
        if problems:
            raise DesignError(f"design for workload {workload.name!r}", problems)

    def apply_to(self, workload: Workload) -> Workload:
        """The workload this design actually runs: low-rank layers where ranks are set."""
        return workload if self.rank is None else apply_ranks(workload, self.rank)

    # ---------------------------------------------------------------------------------- I/O

    def to_toml(self) -> str:
        lines = ["[design]"]
        if self.workload:
            lines.append(f'workload = "{self.workload}"')
        lines.append(f'balance = "{self.balance}"')
        for section, core in (("lut_core", self.lut_core), ("dsp_core", self.dsp_core)):
            if core is not None:
                lines += ["", f"[{section}]"]
                lines += [f"{f.name} = {getattr(core, f.name)!r}" for f in fields(core)]
        for i, name in enumerate(self.layer_names):
            lines += ["", "[[layers]]", f'name = "{name}"',
                      f"weight_bits = {self.weight_bits[i]}", f"act_bits = {self.act_bits[i]}"]
            frac = self.lut_fraction[i]
            if frac is not None:
                lines.append(f"lut_fraction = {float(frac)!r}")
            if self.rank is not None and self.rank[i] is not None:
                lines.append(f"rank = {self.rank[i]}")
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_toml())


def _name_problems(names: Sequence[str], workload: Workload) -> list[Problem]:
    problems: list[Problem] = []
    if len(names) != len(workload.layers):
        problems.append(Problem("layers", len(names),
                                f"workload {workload.name!r} has {len(workload.layers)} layers"))
    for i, (mine, theirs) in enumerate(zip(names, workload.layer_names, strict=False)):
        if mine != theirs:
            problems.append(Problem(f"layers[{i}].name", mine,
                                    f"workload {workload.name!r} has {theirs!r} here"))
    return problems


def default_design(workload: Workload, *, low_bits: int = 4, edge_bits: int = 8,
                   balance: str = "exact") -> Design:
    """N3H-Core's convention: first and last layers W8A8, the others W4A4 (``low_bits``), every
    layer split at its balance point."""
    n = len(workload.layers)
    bits = tuple(edge_bits if i in (0, n - 1) else low_bits for i in range(n))
    return Design(workload.layer_names, bits, bits, (None,) * n, balance=balance,
                  workload=workload.name)


def uniform_design(workload: Workload, weight_bits: int, act_bits: int,
                   lut_fraction: float | None = None, *, balance: str = "exact") -> Design:
    n = len(workload.layers)
    return Design(workload.layer_names, (weight_bits,) * n, (act_bits,) * n,
                  (lut_fraction,) * n, balance=balance, workload=workload.name)


_LAYER_KEYS = {"name", "weight_bits", "act_bits", "lut_fraction", "rank"}
_DESIGN_KEYS = {"workload", "balance"}


def load_design(path: str | Path, workload: Workload | None = None) -> Design:
    """Read a design TOML file; every problem is reported at once with file and key.

    With ``workload`` the layer count and names are checked against it.
    """
    from hwsim.spec.loader import build_record

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise DesignError("design file", [Problem("path", str(path), "no such file")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise DesignError("design file", [Problem("toml", str(path), f"not valid TOML: {exc}",
                                                  where=str(path))]) from None
    problems: list[Problem] = []

    def bad(key: str, value: object, message: str) -> None:
        problems.append(Problem(key, value, message, where=f"{path.name}: {key}"))

    for key in set(data) - {"design", "layers", "lut_core", "dsp_core"}:
        bad(key, data[key],
            "unknown section; expected [design], [[layers]], [lut_core], [dsp_core]")
    head = data.get("design", {})
    for key in set(head) - _DESIGN_KEYS:
        bad(f"[design] {key}", head[key], f"unknown key; expected one of {sorted(_DESIGN_KEYS)}")
    cores: dict[str, Any] = {}
    for section, cls in (("lut_core", LutCore), ("dsp_core", DspCore)):
        if section in data:
            cores[section] = build_record(cls, data[section], f"{path.name}: [{section}]", problems)
    names: list[str] = []
    wbits: list[Any] = []
    abits: list[Any] = []
    fracs: list[Any] = []
    ranks: list[Any] = []
    layers = data.get("layers", [])
    if not isinstance(layers, list) or not layers:
        bad("layers", layers, "needs one [[layers]] table per layer")
        layers = []
    for i, table in enumerate(layers):
        label = f"[[layers]] #{i} ({table.get('name', '?')})"
        for key in set(table) - _LAYER_KEYS:
            bad(f"{label} {key}", table[key], f"unknown key; expected one of {sorted(_LAYER_KEYS)}")
        for key in ("name", "weight_bits", "act_bits"):
            if key not in table:
                bad(f"{label} {key}", None, "missing")
        names.append(str(table.get("name", f"?{i}")))
        wbits.append(table.get("weight_bits", 8))
        abits.append(table.get("act_bits", 8))
        fracs.append(table.get("lut_fraction"))
        ranks.append(table.get("rank"))
    design = None
    try:
        design = Design(tuple(names), tuple(wbits), tuple(abits), tuple(fracs),
                        balance=head.get("balance", "exact"), workload=head.get("workload", ""),
                        lut_core=cores.get("lut_core"), dsp_core=cores.get("dsp_core"),
                        rank=tuple(ranks) if any(r is not None for r in ranks) else None)
    except RecordError as exc:
        problems += [replace(p, where=f"{path.name}: {p.field}") for p in exc.problems]
    if workload is not None:
        found = _name_problems(names, workload)
        if not found and design is not None and design.rank is not None:
            found = rank_problems(workload, design.rank)
        problems += [replace(p, where=f"{path.name}: {p.field}") for p in found]
    if problems or design is None:
        raise DesignError(f"design file {path}", problems)
    return design
