"""Batches of designs as numpy arrays, their costs, and the knob table a target publishes.

A search evaluates thousands of designs a second, so between the search layer and a target a
design is not a :class:`~cost_models.design.Design` but a row of arrays (:class:`DesignBatch`):

* compression, the same on every target: ``weight_bits``, ``act_bits`` (int ``[n, L]``) and
  ``rank`` (int ``[n, L]``, 0 = dense);
* mapping, owned by the target: ``mapping[name]`` float ``[n, L]`` per per-layer mapping knob
  (NaN = the target's own choice, e.g. the FPGA's balance point; a categorical knob holds its
  choice index) and design-wide ``options`` shared by the batch (the FPGA's ``balance``);
* hardware, owned by the target: ``hardware["component.field"]`` ``[n]`` values that override
  the preset's (absent = the preset's value).

A target answers with a :class:`BatchCost`: latency, whether every layer can run, resources
against the limits (and which limits each design violates), the mapping it used, and the share
of each layer's output channels computed at the design's weight bits (what the accuracy oracles
need).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hwsim.errors import Checker, RecordError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SCOPES = ("layer", "hardware")


@dataclass(frozen=True, slots=True)
class KnobSpec:
    """One knob a target offers, in its knob table.

    :param name: a per-layer mapping knob's name (``"lut_fraction"``), or a hardware knob's
        ``"component.field"`` (``"lut_core.rows"``), the key a design's overrides use.
    :param scope: ``"layer"`` (mapping, one value per layer) or ``"hardware"`` (one per design).
    :param choices: the candidate values a design space offers, ascending for numbers.
    :param default: the value a design gets when it leaves the knob out: the preset's value
        for hardware knobs, ``None`` for a mapping knob the target chooses itself.
    :param description: one line for ``codesign hardware show`` and the docs.
    :param categorical: values are labels (a batch holds the choice index).
    """

    name: str
    scope: str
    choices: tuple[Any, ...]
    default: Any = None
    description: str = ""
    categorical: bool = False

    def __post_init__(self) -> None:
        c = Checker()
        c.require(self.scope in SCOPES, "scope", self.scope, f"must be one of {SCOPES}")
        c.require(len(self.choices) > 0, "choices", self.choices, "needs at least one value")
        if self.scope == "hardware":
            c.require(self.name.count(".") == 1, "name", self.name,
                      "a hardware knob is named 'component.field'")
        c.raise_if_any(RecordError, f"knob {self.name!r}")

    @property
    def component(self) -> str:
        return self.name.split(".")[0]

    @property
    def field(self) -> str:
        return self.name.split(".")[-1]

    def encode(self, value: Any) -> float:
        """The batch-array value of ``value`` (``None`` -> NaN, a label -> its index)."""
        if value is None:
            return math.nan
        return float(self.choices.index(value)) if self.categorical else float(value)

    def decode(self, value: float) -> Any:
        """Inverse of :meth:`encode`."""
        if math.isnan(value):
            return None
        if self.categorical:
            return self.choices[int(value)]
        return int(value) if isinstance(self.choices[0], int) else float(value)


def _int_matrix(c: Checker, name: str, value: Any, shape: tuple[int, int] | None) -> IntArray:
    """An int64 ``[n, L]`` array from ``value``, every problem added to ``c``: wrong rank or
    shape, non-numeric entries, non-integer values (4.5 is not a bit-width)."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged lists
        c.add(name, type(value).__name__, f"is not an array: {exc}")
        return np.zeros((0, 0), dtype=np.int64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        c.add(name, arr.shape, "must be 2-D [n_designs, n_layers]")
        return np.zeros((0, 0), dtype=np.int64)
    if shape is not None and arr.shape != shape:
        c.add(name, arr.shape, f"must have the shape of weight_bits, {shape}")
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind != "f":
            c.add(name, str(arr.dtype), "must hold numbers")
            return np.zeros(arr.shape, dtype=np.int64)
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            c.add(name, arr[bad].flat[0], "must hold whole numbers")
            return np.zeros(arr.shape, dtype=np.int64)
        huge = np.abs(arr) >= 2.0**62
        if huge.any():
            c.add(name, arr[huge].flat[0], "is out of range")
            return np.zeros(arr.shape, dtype=np.int64)
    return np.ascontiguousarray(arr, dtype=np.int64)


@dataclass(frozen=True)
class DesignBatch:
    """Many designs of one workload as arrays (see the module docstring).

    Construction validates shapes and types and reports every problem at once; the ranges
    (which bits, which mapping values) are the target's to check.
    """

    weight_bits: IntArray
    act_bits: IntArray
    rank: IntArray | None = None
    mapping: Mapping[str, FloatArray] = field(default_factory=dict)
    hardware: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = Checker()
        wb = _int_matrix(c, "weight_bits", self.weight_bits, None)
        shape = wb.shape if wb.ndim == 2 else None
        ab = _int_matrix(c, "act_bits", self.act_bits, shape)
        rank = None if self.rank is None else _int_matrix(c, "rank", self.rank, shape)
        mapping: dict[str, FloatArray] = {}
        for name, value in dict(self.mapping).items():
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (ValueError, TypeError):
                c.add(f"mapping.{name}", type(value).__name__, "must hold numbers (NaN = the "
                      "target's choice)")
                continue
            if arr.ndim == 1:
                arr = arr[None, :]
            if arr.shape != shape:
                c.add(f"mapping.{name}", arr.shape, f"must have the shape of weight_bits, "
                      f"{shape}")
            mapping[name] = arr
        hardware: dict[str, npt.NDArray[Any]] = {}
        n = shape[0] if shape else 0
        for name, value in dict(self.hardware).items():
            arr = np.asarray(value)
            if arr.ndim == 0:
                arr = np.full(n, arr[()])
            if arr.shape != (n,):
                c.add(f"hardware.{name}", arr.shape, f"must have one value per design ({n})")
            elif arr.dtype.kind not in "iufb":
                c.add(f"hardware.{name}", str(arr.dtype), "must hold numbers")
            hardware[name] = arr
        c.raise_if_any(RecordError, "design batch")
        object.__setattr__(self, "weight_bits", wb)
        object.__setattr__(self, "act_bits", ab)
        object.__setattr__(self, "rank", None if rank is None or not rank.any() else rank)
        object.__setattr__(self, "mapping", mapping)
        object.__setattr__(self, "hardware", hardware)
        object.__setattr__(self, "options", dict(self.options))

    @classmethod
    def trusted(cls, weight_bits: IntArray, act_bits: IntArray, rank: IntArray | None,
                mapping: dict[str, FloatArray], hardware: dict[str, npt.NDArray[Any]],
                options: dict[str, Any]) -> DesignBatch:
        """A batch from arrays already of the right dtypes and shapes (int64 ``[n, L]`` bits,
        ``rank`` None or with a non-zero entry, float64 mapping, ``[n]`` hardware columns), as
        :meth:`rl_search.spaces.DesignSpace.decode_batch` builds them: no validation, for the
        search inner loop. Anything else goes through the validating constructor."""
        batch = object.__new__(cls)
        object.__setattr__(batch, "weight_bits", weight_bits)
        object.__setattr__(batch, "act_bits", act_bits)
        object.__setattr__(batch, "rank", rank)
        object.__setattr__(batch, "mapping", mapping)
        object.__setattr__(batch, "hardware", hardware)
        object.__setattr__(batch, "options", options)
        return batch

    def __len__(self) -> int:
        return int(self.weight_bits.shape[0])

    @property
    def n_layers(self) -> int:
        return int(self.weight_bits.shape[1])

    def take(self, rows: Any) -> DesignBatch:
        """The designs at ``rows`` (an index array or slice)."""
        rank = None if self.rank is None else self.rank[rows]
        return DesignBatch.trusted(self.weight_bits[rows], self.act_bits[rows],
                                   rank if rank is not None and rank.any() else None,
                                   {k: v[rows] for k, v in self.mapping.items()},
                                   {k: v[rows] for k, v in self.hardware.items()},
                                   dict(self.options))


@dataclass(frozen=True)
class BatchCost:
    """What a batch of designs costs: arrays over the designs (``[n]`` unless noted).

    :param cycles, latency_ms: the whole network (``inf`` when a layer cannot run).
    :param runnable: every layer can run on the hardware.
    :param feasible: runnable and every resource within its limit.
    :param resources: used amount per resource name (``{"lut": [n], ...}``).
    :param limits: the hardware's amount per resource name.
    :param labels: how each resource is named in messages (``"lut"`` -> ``"LUT"``).
    :param mapping: the per-layer mapping used, ``[n, L]`` per knob, with the target's own
        choices filled in (the FPGA's solved balance points).
    :param precision_share: ``[n, L]`` share of each layer's output channels computed at the
        design's weight bits; the rest run at the target's fixed precision (the FPGA's DSP core:
        8 bits). 1 on targets with one datapath. The accuracy oracles take it.
    :param details: target-specific arrays over the designs (the FPGA's ``dsp_act_bits``,
        ``[n, L]``: each layer's activation bits where it leaves work on the DSP core, else 1).
    """

    cycles: FloatArray
    latency_ms: FloatArray
    runnable: BoolArray
    feasible: BoolArray
    resources: Mapping[str, npt.NDArray[Any]]
    limits: Mapping[str, float]
    labels: Mapping[str, str]
    mapping: Mapping[str, FloatArray]
    precision_share: FloatArray
    details: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.cycles.shape[0])

    @property
    def utilisation(self) -> dict[str, FloatArray]:
        """Used / available per resource with a non-zero limit."""
        return {k: np.asarray(v, dtype=np.float64) / self.limits[k]
                for k, v in self.resources.items() if self.limits.get(k)}

    @property
    def max_utilisation(self) -> FloatArray:
        """The largest utilisation of any resource, per design (0 when there are none)."""
        out = None
        for key, used in self.resources.items():
            have = self.limits.get(key)
            if have:
                share = np.asarray(used, dtype=np.float64) / have
                out = share if out is None else np.maximum(out, share, out=out)
        return np.zeros(len(self)) if out is None else out

    @property
    def violated(self) -> BoolArray:
        """``[n, n_resources]``: which limits each design exceeds, columns in
        :attr:`resources` order."""
        if not self.resources:
            return np.zeros((len(self), 0), dtype=bool)
        return np.stack([np.asarray(v) > self.limits.get(k, math.inf)
                         for k, v in self.resources.items()], axis=1)

    def violations(self, i: int) -> list[str]:
        """The limits design ``i`` exceeds, one line each: ``"LUT 61,234 > 53,200 (115.1%)"``."""
        out = []
        for key, used in self.resources.items():
            need, have = used[i], self.limits.get(key, math.inf)
            if need > have:
                out.append(format_excess(self.labels.get(key, key), need, have))
        return out

    @staticmethod
    def concat(parts: Sequence[BatchCost], order: IntArray | None = None) -> BatchCost:
        """The parts one after another; with ``order``, row ``order[j]`` of the result is row
        ``j`` of the concatenation (to undo a grouping)."""
        first = parts[0]

        def cat(values: Sequence[Any]) -> Any:
            out = np.concatenate(values)
            if order is None:
                return out
            back = np.empty_like(out)
            back[order] = out
            return back

        return BatchCost(
            cycles=cat([p.cycles for p in parts]), latency_ms=cat([p.latency_ms for p in parts]),
            runnable=cat([p.runnable for p in parts]), feasible=cat([p.feasible for p in parts]),
            resources={k: cat([p.resources[k] for p in parts]) for k in first.resources},
            limits=first.limits, labels=first.labels,
            mapping={k: cat([p.mapping[k] for p in parts]) for k in first.mapping},
            precision_share=cat([p.precision_share for p in parts]),
            details={k: cat([p.details[k] for p in parts]) for k in first.details})


def format_excess(label: str, need: float, have: float) -> str:
    """One violated limit, as every report names it."""
    share = f"{100 * need / have:.1f}%" if have else "device has none"
    fmt = (lambda v: f"{int(v):,}") if float(need).is_integer() else (lambda v: f"{v:,.4g}")
    return f"{label} {fmt(need)} > {fmt(have)} ({share})"
