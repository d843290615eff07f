"""The accuracy-oracle interface: ``(design) -> AccuracyEstimate``.

The Gymnasium environment and every searcher take an :class:`AccuracyOracle`, so a real
measurement (:class:`~rl_search.accuracy.real.RealOracle`), the calibrated proxy and the
weight-free prior (:class:`~rl_search.accuracy.proxy.ProxyOracle`) are interchangeable.

Every estimate says what it is (``kind``): ``"real"`` (a compressed torch model measured on
data), ``"proxy"`` (a noise model of the actual weights, calibrated against real evaluations) or
``"prior"`` (assumed weights, a link fitted to published results; no model was seen).

Batch convention of :meth:`AccuracyOracle.estimate_batch`: integer arrays ``weight_bits`` and
``act_bits`` and a float array ``lut_fraction`` of shape ``[n_designs, n_layers]``, and an
optional integer ``rank`` array of the same shape in which ``0`` keeps a layer dense (the
``None`` of :attr:`cost_models.design.Design.rank`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from cost_models.design import Design, DesignError
from hwsim.errors import Problem

if TYPE_CHECKING:
    from hwsim.ir import Workload

KINDS = ("real", "proxy", "prior")
"""What an estimate rests on: a measurement, a calibrated noise model, or assumptions only."""


@dataclass(frozen=True, slots=True)
class AccuracyEstimate:
    """An oracle's answer for one design.

    :param accuracy: top-1 accuracy in [0, 1] (for the prior on a network whose float top-1
        it does not know, 1 minus the points lost over 100).
    :param baseline: the uncompressed model's accuracy on the same data, in [0, 1].
    :param kind: ``"real"``, ``"proxy"`` or ``"prior"`` (see :data:`KINDS`).
    :param details: read-only extra information (per-layer error terms, timings, cache hits).
    """

    accuracy: float
    baseline: float
    kind: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        for name in ("accuracy", "baseline"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v) \
                    or not 0.0 <= v <= 1.0:
                problems.append(Problem(name, v, "must be a number in [0, 1]"))
        if self.kind not in KINDS:
            problems.append(Problem("kind", self.kind, f"must be one of {KINDS}"))
        if problems:
            raise DesignError("AccuracyEstimate", problems)
        object.__setattr__(self, "accuracy", float(self.accuracy))
        object.__setattr__(self, "baseline", float(self.baseline))
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    @property
    def delta(self) -> float:
        """``accuracy - baseline``: negative when compression costs accuracy."""
        return self.accuracy - self.baseline


class AccuracyOracle(ABC):
    """Maps a :class:`~cost_models.design.Design` to an :class:`AccuracyEstimate`.

    Subclasses set :attr:`kind` and implement :attr:`layer_names`, :attr:`baseline` and
    :meth:`estimate`; :meth:`estimate_batch` loops over :meth:`estimate` unless a subclass has a
    vectorised form (the proxy does).

    Every oracle needs concrete ``lut_fraction`` values: which channels stay at 8 bits changes
    the accuracy. A design that leaves them to the hardware's balance point (``None``) must be
    resolved first, ``cost_models.get_target(name).solve_mapping(workload, design)``, and the
    result passed as ``fractions=``.
    """

    kind: ClassVar[str]

    @property
    @abstractmethod
    def layer_names(self) -> tuple[str, ...]:
        """The layers a design must list, in order (the traced workload's names)."""

    @property
    @abstractmethod
    def baseline(self) -> float:
        """Accuracy of the uncompressed model."""

    @property
    def workload(self) -> Workload | None:
        """The workload the oracle's designs are written for, when it knows one."""
        return None

    @abstractmethod
    def estimate(self, design: Design, *,
                 fractions: Sequence[float] | None = None) -> AccuracyEstimate:
        """Accuracy of ``design``.

        :param fractions: per-layer ``lut_fraction`` overriding the design's (needed when the
            design leaves them to the balance point).
        :raises DesignError: the design does not fit the oracle's layers, or a fraction is unset.
        """

    def __call__(self, design: Design) -> AccuracyEstimate:
        return self.estimate(design)

    def estimate_batch(self, weight_bits: Any, act_bits: Any, lut_fraction: Any,
                       rank: Any = None) -> np.ndarray:
        """Accuracies of many designs given as ``[n_designs, n_layers]`` arrays (see the module
        docstring); returns a float64 array of length ``n_designs``."""
        wb, ab, fr, rk = batch_arrays(self.layer_names, weight_bits, act_bits, lut_fraction, rank)
        out = np.empty(wb.shape[0])
        for i in range(wb.shape[0]):
            out[i] = self.estimate(design_from_row(self.layer_names, wb[i], ab[i], fr[i],
                                                   rk[i])).accuracy
        return out


# ------------------------------------------------------------------------------------ helpers

def check_layers(design: Design, layer_names: Sequence[str], owner: str) -> None:
    """Raise :class:`DesignError` naming every layer of ``design`` that is not ``layer_names``."""
    problems = []
    if len(design.layer_names) != len(layer_names):
        problems.append(Problem("layers", len(design.layer_names),
                                f"{owner} has {len(layer_names)} layers: {list(layer_names)}"))
    for i, (mine, theirs) in enumerate(zip(design.layer_names, layer_names, strict=False)):
        if mine != theirs:
            problems.append(Problem(f"layers[{i}].name", mine,
                                    f"unknown layer here; {owner} has {theirs!r}"))
    if problems:
        raise DesignError(f"design for {owner}", problems)


def resolve_fractions(design: Design,
                      fractions: Sequence[float] | None = None) -> tuple[float, ...]:
    """The design's per-layer ``lut_fraction`` mapping (the share of each layer's output
    channels at the design's weight bits; the rest run at 8 bits) as floats, ``fractions``
    taking precedence.

    :raises DesignError: naming every layer whose fraction is unset or out of [0, 1].
    """
    values: Sequence[float | None] = (design.mapping_values("lut_fraction") if fractions is None
                                      else fractions)
    problems = []
    if len(values) != len(design.layer_names):
        raise DesignError("fractions", [Problem("fractions", len(values),
                                                f"needs one entry per layer "
                                                f"({len(design.layer_names)})")])
    out = []
    for name, f in zip(design.layer_names, values, strict=True):
        if f is None:
            problems.append(Problem(
                f"{name}.lut_fraction", None,
                "the accuracy oracle needs a concrete share of LUT-core channels; let the target "
                "choose it first (cost_models.get_target(name).solve_mapping(workload, "
                "design)), pass it as fractions=, or set lut_fraction in the design"))
        elif not isinstance(f, (int, float, np.floating, np.integer)) or isinstance(f, bool) \
                or math.isnan(f) or not 0.0 <= f <= 1.0:
            problems.append(Problem(f"{name}.lut_fraction", f, "must be in [0, 1]"))
        else:
            out.append(float(f))
    if problems:
        raise DesignError("design fractions", problems)
    return tuple(out)


def lut_channels(n_channels: int, fraction: float) -> int:
    """Channels on the LUT core: ``round(n * rho)``, half to even, the cost model's own split
    (:func:`hwsim.fpga.analytic.split_gemm`); the remaining ``n - n_L`` stay on the DSP core at
    8 bits."""
    from hwsim.fpga.analytic import split_gemm

    return min(n_channels, split_gemm(n_channels, 1, fraction)[0])


def design_key(design: Design, fractions: Sequence[float]) -> str:
    """A stable hash of the knobs that change accuracy (names, bits, fractions, ranks); hardware
    core sizes and the balance mode are left out on purpose."""
    import hashlib
    import json

    payload = {
        "layers": list(design.layer_names),
        "weight_bits": list(design.weight_bits),
        "act_bits": list(design.act_bits),
        "lut_fraction": [repr(float(f)) for f in fractions],
        "rank": None if design.rank is None else list(design.rank),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def batch_arrays(layer_names: Sequence[str], weight_bits: Any, act_bits: Any, lut_fraction: Any,
                 rank: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate and broadcast batch knobs to ``[n_designs, n_layers]`` arrays.

    :raises DesignError: wrong shapes, bits outside [1, 16], fractions outside [0, 1] or NaN
        (unsolved balance points), negative ranks; each problem names the first offending layer.
    """
    n_layers = len(layer_names)
    wb = np.atleast_2d(np.asarray(weight_bits))
    ab = np.atleast_2d(np.asarray(act_bits))
    fr = np.atleast_2d(np.asarray(lut_fraction, dtype=np.float64))
    rk = np.zeros(wb.shape, dtype=np.int64) if rank is None else np.atleast_2d(np.asarray(rank))
    problems = []
    for name, arr in (("weight_bits", wb), ("act_bits", ab), ("lut_fraction", fr), ("rank", rk)):
        if arr.ndim != 2 or arr.shape[1] != n_layers or arr.shape != wb.shape:
            problems.append(Problem(name, arr.shape,
                                    f"must have shape [n_designs, {n_layers}] like weight_bits "
                                    f"{wb.shape}"))
    if problems:
        raise DesignError("design batch", problems)
    for name, arr in (("weight_bits", wb), ("act_bits", ab), ("rank", rk)):
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                problems.append(Problem(name, arr.dtype, "must hold integers"))
    for name, arr in (("weight_bits", wb), ("act_bits", ab)):
        bad = (arr < 1) | (arr > 16)
        if bad.any():
            col = int(np.argwhere(bad)[0][1])
            problems.append(Problem(f"{layer_names[col]}.{name}", arr[bad][0],
                                    "must be an int in [1, 16]"))
    bad = ~((fr >= 0.0) & (fr <= 1.0))  # NaN included
    if bad.any():
        col = int(np.argwhere(bad)[0][1])
        problems.append(Problem(
            f"{layer_names[col]}.lut_fraction", fr[bad][0],
            "must be in [0, 1]; NaN (unsolved balance point) is not accepted: solve it with "
            "cost_models.get_target(name).solve_mapping first"))
    if (rk < 0).any():
        col = int(np.argwhere(rk < 0)[0][1])
        problems.append(Problem(f"{layer_names[col]}.rank", rk[rk < 0][0],
                                "must be >= 0 (0 keeps the layer dense)"))
    if problems:
        raise DesignError("design batch", problems)
    return wb.astype(np.int64), ab.astype(np.int64), fr, rk.astype(np.int64)


def design_from_row(layer_names: Sequence[str], weight_bits: np.ndarray, act_bits: np.ndarray,
                    lut_fraction: np.ndarray, rank: np.ndarray) -> Design:
    """One :class:`Design` from one row of batch arrays (rank 0 = dense)."""
    ranks = tuple(int(r) if r > 0 else None for r in rank)
    return Design(tuple(layer_names), tuple(int(b) for b in weight_bits),
                  tuple(int(b) for b in act_bits),
                  rank=ranks if any(r is not None for r in ranks) else None,
                  mapping={"lut_fraction": tuple(float(f) for f in lut_fraction)})


def design_rows(designs: Sequence[Design]) -> dict[str, np.ndarray]:
    """Designs with concrete fractions as batch arrays (rank 0 = dense)."""
    return {
        "weight_bits": np.array([d.weight_bits for d in designs], dtype=np.int64),
        "act_bits": np.array([d.act_bits for d in designs], dtype=np.int64),
        "lut_fraction": np.array([resolve_fractions(d) for d in designs], dtype=np.float64),
        "rank": np.array([[0 if d.rank is None or r is None else r
                           for r in (d.rank or (None,) * len(d))] for d in designs],
                         dtype=np.int64),
    }


__all__ = ["KINDS", "AccuracyEstimate", "AccuracyOracle", "batch_arrays", "check_layers",
           "design_from_row", "design_key", "design_rows", "lut_channels", "resolve_fractions"]
