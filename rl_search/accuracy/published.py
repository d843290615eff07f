"""The published results the weight-free prior is calibrated on, and its fitted parameters.

Two package-data files, read here and nowhere else:

* ``data/published_accuracy.toml``: published top-1 results (quantisation-aware training,
  post-training quantisation, low-rank factorisation), one ``[[result]]`` each, with its
  source (paper and table, or the authors' repository where the figure comes from there), and
  the float top-1 the prior reports for each zoo network it knows;
* ``data/prior_parameters.toml``: the prior's parameters, written by
  ``python -m rl_search.accuracy.calibrate`` from the table.

The formats are in docs/file-formats.md (published accuracy table, prior parameters). Both
readers check every row and report every problem at once, one line each with file and key.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError

REGIMES = ("qat", "ptq")
"""``qat``: after quantisation-aware training or fine-tuning (LSQ, HAQ, N3H-Core, HALOC);
``ptq``: post-training quantisation with a calibration set, no training (QDrop, ZeroQ,
RepQ-ViT)."""

DEFAULT_REGIME = "qat"
"""The regime of ``prior`` without a suffix: the setting of HAQ and N3H-Core, whose searches
score every design after fine-tuning."""

SPLITS = ("fit", "held-out", "excluded")

DATA = "data"
TABLE_FILE = "published_accuracy.toml"
PARAMETERS_FILE = "prior_parameters.toml"


class TableError(CodesignError):
    """A published-accuracy table or a prior-parameters file is malformed."""


@dataclass(frozen=True, slots=True)
class PublishedResult:
    """One published top-1 figure and the design it was measured on.

    Bits are an int (every layer, the first and last at ``edge_bits`` when that is set) or a
    tuple with one entry per layer of the zoo network; a low-rank row gives
    ``flops_reduction`` instead (the share of MACs removed; the design is a uniform rank ratio
    on every factorisable layer but the first and last, unquantised). The accuracy is
    ``float_top1`` and ``top1``, or ``top1_change`` alone where the source states only the
    change. Percentages throughout (top-1 points).
    """

    network: str
    method: str
    regime: str
    split: str
    source: str
    weight_bits: int | tuple[int, ...] | None = None
    act_bits: int | tuple[int, ...] | None = None
    edge_bits: int | None = None
    flops_reduction: float | None = None
    float_top1: float | None = None
    top1: float | None = None
    top1_change: float | None = None
    note: str = ""

    @property
    def points_lost(self) -> float:
        """Top-1 points lost to compression (negative for a gain)."""
        if self.top1_change is not None:
            return -self.top1_change
        assert self.float_top1 is not None and self.top1 is not None
        return self.float_top1 - self.top1

    @property
    def design(self) -> str:
        """A short description of the design: ``W4A4 (edges 8)``, ``mixed``, ``-72.2% MACs``."""
        if self.flops_reduction is not None:
            return f"-{100 * self.flops_reduction:.1f}% MACs (low rank)"
        if isinstance(self.weight_bits, tuple):
            return "mixed (per layer)"
        edges = f" (edges {self.edge_bits})" if self.edge_bits is not None else ""
        return f"W{self.weight_bits}A{self.act_bits}{edges}"


@dataclass(frozen=True, slots=True)
class PublishedTable:
    """The rows of ``published_accuracy.toml`` and its float top-1 per zoo network."""

    results: tuple[PublishedResult, ...]
    float_top1: Mapping[str, float]
    float_sources: Mapping[str, str]
    path: str


@dataclass(frozen=True, slots=True)
class PriorParameters:
    """The weight-free prior's fitted parameters (docs/formulas.md, accuracy prior).

    Sensitivities: every layer ``scale[regime]``, times ``edge_weight`` for the first and last
    layers and ``depthwise_weight`` for depthwise convolutions; the activation term is
    weighted by ``act_weight`` and the low-rank term by ``rank_weight[regime]``;
    ``steepness[regime]`` is the link's ``k``.
    """

    edge_weight: float
    depthwise_weight: float
    act_weight: float
    scale: Mapping[str, float]
    steepness: Mapping[str, float]
    rank_weight: Mapping[str, float]
    table: str = ""
    fit_rms_points: Mapping[str, float] | None = None


# ------------------------------------------------------------------------------------ reading


def _data_path(name: str) -> Path:
    return Path(str(resources.files("rl_search.accuracy").joinpath(DATA, name)))


def table_path() -> Path:
    """The shipped published-accuracy table."""
    return _data_path(TABLE_FILE)


def parameters_path() -> Path:
    """The shipped prior parameters."""
    return _data_path(PARAMETERS_FILE)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise TableError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise TableError(f"{path}: not valid TOML: {exc}") from None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _bits(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 16


_RESULT_KEYS = {"network", "method", "regime", "split", "source", "weight_bits", "act_bits",
                "edge_bits", "flops_reduction", "float_top1", "top1", "top1_change", "note"}


def _result(raw: Any, where: str, problems: list[str]) -> PublishedResult | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table")
        return None
    start = len(problems)
    for key in sorted(set(raw) - _RESULT_KEYS):
        problems.append(f"{where}.{key}: unknown key; known: {sorted(_RESULT_KEYS)}")
    for key in ("network", "method", "source"):
        if not isinstance(raw.get(key), str) or not raw.get(key):
            problems.append(f"{where}.{key}: required, a non-empty string")
    if raw.get("regime") not in REGIMES:
        problems.append(f"{where}.regime: {raw.get('regime')!r}, expected one of {REGIMES}")
    if raw.get("split") not in SPLITS:
        problems.append(f"{where}.split: {raw.get('split')!r}, expected one of {SPLITS}")
    if raw.get("split") == "excluded" and not raw.get("note"):
        problems.append(f"{where}.note: an excluded row must say why")
    low_rank = "flops_reduction" in raw
    if low_rank:
        fr = raw["flops_reduction"]
        if not _number(fr) or not 0 < fr < 1:
            problems.append(f"{where}.flops_reduction: {fr!r}, expected a number in (0, 1)")
        for key in ("weight_bits", "act_bits", "edge_bits"):
            if key in raw:
                problems.append(f"{where}.{key}: a low-rank row is unquantised; drop it")
    else:
        for key in ("weight_bits", "act_bits"):
            v = raw.get(key)
            ok = _bits(v) or (isinstance(v, list) and v and all(_bits(b) for b in v))
            if not ok:
                problems.append(f"{where}.{key}: {v!r}, expected bits in [1, 16] or a list of "
                                "them, one per layer")
        if isinstance(raw.get("weight_bits"), list) != isinstance(raw.get("act_bits"), list) \
                or (isinstance(raw.get("weight_bits"), list)
                    and len(raw["weight_bits"]) != len(raw["act_bits"])):
            problems.append(f"{where}: weight_bits and act_bits must both be ints or lists of "
                            "the same length")
        if "edge_bits" in raw and (not _bits(raw["edge_bits"])
                                   or isinstance(raw.get("weight_bits"), list)):
            problems.append(f"{where}.edge_bits: {raw['edge_bits']!r}, expected bits in "
                            "[1, 16] with uniform weight_bits / act_bits")
    has_pair = "float_top1" in raw or "top1" in raw
    if has_pair:
        for key in ("float_top1", "top1"):
            v = raw.get(key)
            if not _number(v) or not 0 <= v <= 100:
                problems.append(f"{where}.{key}: {v!r}, expected top-1 in percent, [0, 100]")
        if "top1_change" in raw:
            problems.append(f"{where}.top1_change: give float_top1 and top1, or top1_change "
                            "alone")
    elif not _number(raw.get("top1_change")):
        problems.append(f"{where}: needs float_top1 and top1 (percent), or top1_change (points)")
    if len(problems) > start:
        return None

    def bits(key: str) -> int | tuple[int, ...] | None:
        v = raw.get(key)
        return tuple(v) if isinstance(v, list) else v

    return PublishedResult(
        network=raw["network"], method=raw["method"], regime=raw["regime"],
        split=raw["split"], source=raw["source"], weight_bits=bits("weight_bits"),
        act_bits=bits("act_bits"), edge_bits=raw.get("edge_bits"),
        flops_reduction=raw.get("flops_reduction"),
        float_top1=None if "float_top1" not in raw else float(raw["float_top1"]),
        top1=None if "top1" not in raw else float(raw["top1"]),
        top1_change=None if "top1_change" not in raw else float(raw["top1_change"]),
        note=raw.get("note", ""))


def load_table(path: str | Path | None = None) -> PublishedTable:
    """Read and check a published-accuracy table (the shipped one by default).

    :raises TableError: listing every problem, one line each with the file and the key.
    """
    path = Path(path) if path is not None else table_path()
    data = _read_toml(path)
    problems: list[str] = []
    for key in sorted(set(data) - {"result", "float_top1"}):
        problems.append(f"{path}: {key}: unknown section; expected [[result]] and "
                        "[float_top1.NETWORK]")
    floats: dict[str, float] = {}
    float_sources: dict[str, str] = {}
    for name, entry in (data.get("float_top1") or {}).items():
        where = f"{path}: float_top1.{name}"
        if not isinstance(entry, dict) or not _number(entry.get("top1")) \
                or not 0 < entry["top1"] <= 100 or not isinstance(entry.get("source"), str):
            problems.append(f"{where}: expected top1 (percent) and source")
            continue
        floats[name] = float(entry["top1"])
        float_sources[name] = entry["source"]
    rows = data.get("result", [])
    if not isinstance(rows, list) or not rows:
        problems.append(f"{path}: no [[result]] rows")
        rows = []
    results = [_result(raw, f"{path}: result[{i}]", problems) for i, raw in enumerate(rows)]
    if problems:
        raise TableError(f"{len(problems)} problem(s) in the published-accuracy table:\n  "
                         + "\n  ".join(problems))
    return PublishedTable(tuple(r for r in results if r is not None), floats, float_sources,
                          str(path))


def load_parameters(path: str | Path | None = None) -> PriorParameters:
    """Read the prior's fitted parameters (the shipped file by default).

    :raises TableError: listing every problem, one line each with the file and the key.
    """
    path = Path(path) if path is not None else parameters_path()
    data = _read_toml(path)
    problems: list[str] = []
    shared = data.get("shared", {})
    values: dict[str, float] = {}
    for key in ("edge_weight", "depthwise_weight", "act_weight"):
        v = shared.get(key)
        if not _number(v) or v < 0:
            problems.append(f"{path}: shared.{key}: {v!r}, expected a number >= 0")
        else:
            values[key] = float(v)
    per: dict[str, dict[str, float]] = {"scale": {}, "steepness": {}, "rank_weight": {}}
    rms: dict[str, float] = {}
    for regime in REGIMES:
        section = data.get("regime", {}).get(regime)
        if not isinstance(section, dict):
            problems.append(f"{path}: [regime.{regime}] missing")
            continue
        for key, lo in (("scale", 0.0), ("steepness", 1e-9), ("rank_weight", 0.0)):
            v = section.get(key)
            if not _number(v) or v < lo:
                problems.append(f"{path}: regime.{regime}.{key}: {v!r}, expected a number "
                                f">= {lo:g}")
            else:
                per[key][regime] = float(v)
        if _number(section.get("fit_rms_points")):
            rms[regime] = float(section["fit_rms_points"])
    if problems:
        raise TableError(f"{len(problems)} problem(s) in the prior parameters:\n  "
                         + "\n  ".join(problems))
    return PriorParameters(values["edge_weight"], values["depthwise_weight"],
                           values["act_weight"], per["scale"],
                           per["steepness"], per["rank_weight"], str(data.get("table", "")),
                           rms or None)


def parameters_toml(params: PriorParameters, header: Sequence[str] = ()) -> str:
    """The text of a prior-parameters file (what :func:`load_parameters` reads)."""
    lines = [f"# {h}" if h else "#" for h in header]
    lines += [f'table = "{params.table}"', "", "[shared]",
              f"edge_weight = {params.edge_weight!r}",
              f"depthwise_weight = {params.depthwise_weight!r}",
              f"act_weight = {params.act_weight!r}"]
    for regime in REGIMES:
        lines += ["", f"[regime.{regime}]", f"scale = {params.scale[regime]!r}",
                  f"steepness = {params.steepness[regime]!r}",
                  f"rank_weight = {params.rank_weight[regime]!r}"]
        if params.fit_rms_points and regime in params.fit_rms_points:
            lines.append(f"fit_rms_points = {params.fit_rms_points[regime]!r}")
    return "\n".join(lines) + "\n"


__all__ = ["DEFAULT_REGIME", "REGIMES", "SPLITS", "PriorParameters", "PublishedResult",
           "PublishedTable", "TableError", "load_parameters", "load_table", "parameters_path",
           "parameters_toml", "table_path"]
