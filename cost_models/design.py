"""Design points: compression + mapping + hardware.

A :class:`Design` of a workload holds

* **compression**, per layer and the same on every target: ``weight_bits``, ``act_bits`` and
  ``rank`` (``None`` = dense; SVD / Tucker-2, :mod:`hwsim.ir.lowrank`);
* **mapping**, per layer and owned by the target: ``mapping[knob]`` one value per layer
  (``None`` = the target's own choice). On the heterogeneous FPGA the knob is ``lut_fraction``,
  the LUT core's share of output channels, and ``None`` solves the balance point. Design-wide
  mapping ``options`` (the FPGA's ``balance``) sit beside them;
* **hardware** overrides keyed by component (``{"lut_core": {"rows": 8}}``): they merge onto
  the target's preset, so a partial override changes only the keys it names.

A design is frozen and hashable (targets cache their reports by it): the mappings are stored as
sorted tuples of items, whichever form they were given in. The target checks a design against
its knob table when it evaluates it (:meth:`cost_models.targets.Target.check_design`).

Design files (TOML; complete example in ``docs/file-formats.md``)::

    [design]
    workload = "resnet18"
    [mapping]                 # design-wide mapping options
    balance = "exact"
    [hardware.lut_core]       # merged onto the preset's component
    rows = 8
    [[layers]]
    name = "conv1"
    weight_bits = 8
    act_bits = 8
    rank = 32                 # optional
    lut_fraction = 0.25       # any other key: a mapping knob of the target

Files written before mapping and hardware were split out (top-level ``[lut_core]`` /
``[dsp_core]`` tables, ``balance`` under ``[design]``) still load: the tables are read as
hardware overrides and ``balance`` as a mapping option.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hwsim.errors import Problem, RecordError
from hwsim.ir import Workload
from hwsim.ir.lowrank import apply_ranks, rank_problems
from hwsim.ir.toml_workload import toml_value
from hwsim.spec.records import COMPONENTS

log = logging.getLogger(__name__)

COMPRESSION_KEYS = ("weight_bits", "act_bits", "rank")
_SCALAR = (int, float, str, bool)


class DesignError(RecordError):
    """A design that does not fit its workload or target (malformed, not merely infeasible)."""


def _items(value: Any) -> tuple[tuple[str, Any], ...]:
    """Sorted items of a mapping (or of an already-frozen tuple of items)."""
    if isinstance(value, Mapping):
        return tuple(sorted(value.items()))
    return tuple(sorted(tuple(value)))


@dataclass(frozen=True, slots=True)
class Design:
    """One design point of a workload. Per-layer tuples are in the workload's layer order.

    :param mapping: per-layer mapping knobs, ``{name: (value or None per layer)}``.
    :param options: design-wide mapping options, ``{name: value}``.
    :param hardware: overrides, ``{component: {field: value}}``.
    """

    layer_names: tuple[str, ...]
    weight_bits: tuple[int, ...]
    act_bits: tuple[int, ...]
    rank: tuple[int | None, ...] | None = None
    mapping: Any = ()
    options: Any = ()
    hardware: Any = ()
    workload: str = ""

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        n = len(self.layer_names)
        for name in ("weight_bits", "act_bits"):
            values = getattr(self, name)
            if len(values) != n:
                problems.append(Problem(name, len(values), f"needs one entry per layer ({n})"))
            for lname, v in zip(self.layer_names, values, strict=False):
                if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 16:
                    problems.append(Problem(f"{lname}.{name}", v, "must be an int in [1, 16]"))
        if self.rank is not None:
            if len(self.rank) != n:
                problems.append(Problem("rank", len(self.rank), f"needs one entry per layer ({n})"))
            for lname, r in zip(self.layer_names, self.rank, strict=False):
                if r is not None and (not isinstance(r, int) or isinstance(r, bool) or r < 1):
                    problems.append(Problem(f"{lname}.rank", r, "must be an int >= 1"))
        try:
            mapping = tuple((str(k), tuple(v)) for k, v in _items(self.mapping))
        except TypeError:
            problems.append(Problem("mapping", self.mapping,
                                    "must map knob names to one value per layer"))
            mapping = ()
        for knob, values in mapping:
            if knob in COMPRESSION_KEYS or knob == "name":
                problems.append(Problem(f"mapping.{knob}", knob, "is not a mapping knob"))
            if len(values) != n:
                problems.append(Problem(f"mapping.{knob}", len(values),
                                        f"needs one entry per layer ({n})"))
            for lname, v in zip(self.layer_names, values, strict=False):
                if v is not None and (not isinstance(v, _SCALAR) or isinstance(v, bool)
                                      or (isinstance(v, float) and math.isnan(v))):
                    problems.append(Problem(f"{lname}.{knob}", v,
                                            "must be a number or a label (or omitted)"))
        try:
            options = _items(self.options)
        except TypeError:
            problems.append(Problem("options", self.options, "must map names to values"))
            options = ()
        hardware: list[tuple[str, tuple[tuple[str, Any], ...]]] = []
        try:
            hw_items = _items(self.hardware)
        except TypeError:
            problems.append(Problem("hardware", self.hardware,
                                    "must map components to {field: value}"))
            hw_items = ()
        for component, fields in hw_items:
            if component not in COMPONENTS:
                problems.append(Problem(f"hardware.{component}", component,
                                        f"unknown component; one of {sorted(COMPONENTS)}"))
                continue
            try:
                items = _items(fields)
            except TypeError:
                problems.append(Problem(f"hardware.{component}", fields,
                                        "must be a table of field = value"))
                continue
            if items:
                hardware.append((component, items))
        if problems:
            raise DesignError("design", problems)
        object.__setattr__(self, "mapping", mapping)
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "hardware", tuple(hardware))

    def __len__(self) -> int:
        return len(self.layer_names)

    # ------------------------------------------------------------------------------ access

    def mapping_values(self, knob: str) -> tuple[Any, ...]:
        """The per-layer values of mapping knob ``knob`` (``None`` where unset)."""
        for name, values in self.mapping:
            if name == knob:
                return tuple(values)
        return (None,) * len(self.layer_names)

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)

    def overrides(self, component: str) -> dict[str, Any]:
        """This design's hardware overrides of ``component`` (empty when none)."""
        return dict(dict(self.hardware).get(component, ()))

    def with_changes(self, *, mapping: Mapping[str, Sequence[Any]] | None = None,
                     options: Mapping[str, Any] | None = None,
                     hardware: Mapping[str, Mapping[str, Any]] | None = None,
                     **fields: Any) -> Design:
        """A copy with ``fields`` replaced and ``mapping`` / ``options`` / ``hardware``
        entries merged in (a knob, option or component field named there replaces this
        design's)."""
        merged_map = dict(self.mapping)
        merged_map.update({k: tuple(v) for k, v in (mapping or {}).items()})
        merged_opts = dict(self.options)
        merged_opts.update(options or {})
        merged_hw = {c: dict(f) for c, f in self.hardware}
        for component, values in (hardware or {}).items():
            merged_hw.setdefault(component, {}).update(values)
        return replace(self, mapping=merged_map, options=merged_opts, hardware=merged_hw,
                       **fields)

    def check_against(self, workload: Workload) -> None:
        """Raise :class:`DesignError` naming every layer that does not match ``workload``."""
        problems = workload_problems(self, workload)
        if problems:
            raise DesignError(f"design for workload {workload.name!r}", problems)

    def apply_to(self, workload: Workload) -> Workload:
        """The workload this design actually runs: low-rank layers where ranks are set."""
        return workload if self.rank is None else apply_ranks(workload, self.rank)

    # ---------------------------------------------------------------------------------- I/O

    def to_toml(self) -> str:
        lines = ["[design]"]
        if self.workload:
            lines.append(f"workload = {toml_value(self.workload)}")
        if self.options:
            lines += ["", "[mapping]"] + [f"{k} = {toml_value(v)}" for k, v in self.options]
        for component, fields in self.hardware:
            lines += ["", f"[hardware.{component}]"]
            lines += [f"{k} = {toml_value(v)}" for k, v in fields]
        for i, name in enumerate(self.layer_names):
            lines += ["", "[[layers]]", f"name = {toml_value(name)}",
                      f"weight_bits = {self.weight_bits[i]}", f"act_bits = {self.act_bits[i]}"]
            if self.rank is not None and self.rank[i] is not None:
                lines.append(f"rank = {self.rank[i]}")
            for knob, values in self.mapping:
                if values[i] is not None:
                    lines.append(f"{knob} = {toml_value(values[i])}")
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_toml())


def workload_problems(design: Design, workload: Workload) -> list[Problem]:
    """Layer count, names (and ranks) of ``design`` that do not match ``workload``."""
    problems = _name_problems(design.layer_names, workload)
    if not problems and design.workload and design.workload != workload.name:
        problems.append(Problem("workload", design.workload,
                                f"the design is for another workload than {workload.name!r}"))
    if not problems and design.rank is not None:
        problems = rank_problems(workload, design.rank)
    return problems


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


def default_design(workload: Workload, *, low_bits: int = 4, edge_bits: int = 8) -> Design:
    """N3H-Core's convention: first and last layers W8A8, the others W4A4 (``low_bits``), every
    mapping knob left to the target."""
    n = len(workload.layers)
    bits = tuple(edge_bits if i in (0, n - 1) else low_bits for i in range(n))
    return Design(workload.layer_names, bits, bits, workload=workload.name)


def uniform_design(workload: Workload, weight_bits: int, act_bits: int, *,
                   mapping: Mapping[str, Any] | None = None,
                   options: Mapping[str, Any] | None = None,
                   hardware: Mapping[str, Mapping[str, Any]] | None = None) -> Design:
    """Every layer at ``weight_bits`` / ``act_bits``; a ``mapping`` value that is not a
    sequence applies to every layer (``mapping={"lut_fraction": 0.5}``)."""
    n = len(workload.layers)
    per_layer = {k: tuple(v) if isinstance(v, (list, tuple)) else (v,) * n
                 for k, v in (mapping or {}).items()}
    return Design(workload.layer_names, (weight_bits,) * n, (act_bits,) * n,
                  mapping=per_layer, options=options or {}, hardware=hardware or {},
                  workload=workload.name)


_TOP_KEYS = {"design", "layers", "mapping", "hardware"}
_LEGACY_CORES = ("lut_core", "dsp_core")
_DESIGN_KEYS = {"workload", "target"}


def load_design(path: str | Path, workload: Workload | None = None) -> Design:
    """Read a design TOML file; every problem is reported at once with file and key.

    With ``workload`` the layer count, names and ranks are checked against it. Mapping knob
    names and hardware fields are the target's to check (:meth:`Target.check_design`).
    """
    from hwsim.spec.loader import read_file, read_toml

    path = Path(path)
    data = read_toml(read_file(path, DesignError, "design file"), str(path), DesignError,
                     "design file")
    problems: list[Problem] = []

    def bad(key: str, value: object, message: str) -> None:
        problems.append(Problem(key, value, message, where=f"{path.name}: {key}"))

    def table(key: str, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        bad(key, value, "must be a table")
        return {}

    for key in set(data) - _TOP_KEYS - set(_LEGACY_CORES):
        bad(key, data[key], "unknown section; expected [design], [mapping], [hardware.<component>]"
            " and [[layers]]")
    head = table("[design]", data.get("design", {}))
    options = dict(table("[mapping]", data.get("mapping", {})))
    for key in set(head) - _DESIGN_KEYS:
        if key == "balance":  # legacy: a mapping option now
            options.setdefault("balance", head[key])
        else:
            bad(f"[design] {key}", head[key], f"unknown key; expected one of "
                f"{sorted(_DESIGN_KEYS)}")
    for key, value in options.items():
        if not isinstance(value, _SCALAR):
            bad(f"[mapping] {key}", value, "must be a number, a string or a boolean")
    hardware: dict[str, dict[str, Any]] = {}
    for component, fields in table("[hardware]", data.get("hardware", {})).items():
        hardware[component] = dict(table(f"[hardware.{component}]", fields))
    legacy = [c for c in _LEGACY_CORES if c in data]
    for component in legacy:  # written before hardware overrides were keyed by component
        hardware.setdefault(component, {}).update(table(f"[{component}]", data[component]))
    if legacy:
        log.info("%s: read legacy section(s) %s as [hardware.<component>] overrides", path,
                 ", ".join(f"[{c}]" for c in legacy))
    for component, fields in hardware.items():
        if component not in COMPONENTS:
            bad(f"[hardware.{component}]", component,
                f"unknown component; expected one of {sorted(COMPONENTS)}")
        for key, value in fields.items():
            if not isinstance(value, _SCALAR):
                bad(f"[hardware.{component}] {key}", value, "must be a number or a string")
    layers = data.get("layers", [])
    if not isinstance(layers, list) or not layers or not all(isinstance(t, dict) for t in layers):
        bad("layers", layers, "needs one [[layers]] table per layer")
        layers = []
    names: list[str] = []
    compression: dict[str, list[Any]] = {k: [] for k in COMPRESSION_KEYS}
    mapping: dict[str, list[Any]] = {}
    for i, entry in enumerate(layers):
        label = f"[[layers]] #{i} ({entry.get('name', '?')})"
        if "name" in entry and not isinstance(entry["name"], str):
            bad(f"{label} name", entry["name"], "must be a string")
        for key in ("name", "weight_bits", "act_bits"):
            if key not in entry:
                bad(f"{label} {key}", None, "missing")
        names.append(str(entry.get("name", f"?{i}")))
        compression["weight_bits"].append(entry.get("weight_bits", 8))
        compression["act_bits"].append(entry.get("act_bits", 8))
        compression["rank"].append(entry.get("rank"))
        for key in set(entry) - {"name", *COMPRESSION_KEYS}:
            if not isinstance(entry[key], _SCALAR):
                bad(f"{label} {key}", entry[key], "a mapping value must be a number or a label")
            mapping.setdefault(key, [None] * len(layers))[i] = entry[key]
    design = None
    ranks = compression["rank"]
    try:
        design = Design(tuple(names), tuple(compression["weight_bits"]),
                        tuple(compression["act_bits"]),
                        rank=tuple(ranks) if any(r is not None for r in ranks) else None,
                        mapping=mapping, options=options, hardware=hardware,
                        workload=str(head.get("workload", "")))
    except RecordError as exc:
        problems += [replace(p, where=f"{path.name}: {p.field}") for p in exc.problems]
    if workload is not None:
        found = (workload_problems(design, workload) if design is not None
                 else _name_problems(names, workload))
        problems += [replace(p, where=f"{path.name}: {p.field}") for p in found]
    if problems or design is None:
        raise DesignError(f"design file {path}", problems)
    return design
