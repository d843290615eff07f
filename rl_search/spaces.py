"""Design spaces: the knobs a search sets and how actions map onto them.

Every space is a list of discrete :class:`Knob` s, each with an ordered tuple of candidate values.
A point of the space is an int vector ``x`` (one choice index per knob): that is what classic
searchers mutate, what ``MultiDiscrete`` actions are, and what run folders store. Continuous
actions ``a`` in ``[0, 1]`` map to indices by HAQ's rounding
(REFERENCE.md section 3: ``bits = round(b_min - 0.5 + a*(b_max - b_min + 1))``, i.e.
``index = floor(a * n_choices)`` clipped to ``n_choices - 1``).

Presets (:func:`make_space`):

* ``n3h``: N3H-Core's space on any target: the target's hardware knobs (on the heterogeneous
  FPGA: Dk, Dm, Dn, LMEM of the LUT core; Dl, Dr of the DSP core), then per layer weight bits and
  activation bits; the per-layer mapping is the target's own choice (``split="balance"``: the
  FPGA's balance point, as the release) or a knob per layer for each of the target's mapping
  knobs (``split="choose"``). The first and last layers are pinned to W8A8 (``pin_edges``), as
  in the release.

Every space is built from the target's knob table (:meth:`cost_models.Target.hardware_knobs`,
:meth:`~cost_models.Target.mapping_knobs`): nothing here knows a hardware family.
* ``haq``: per-layer weight and activation bits on the target's fixed cores (HAQ, CVPR'19).
* ``rank``: per-layer rank for every layer that can be factorised, from hardware-friendly
  multiples of ``rank_step`` (HALOC, REFERENCE.md section 5), or dense.
* ``haq+rank`` and ``n3h+rank``: both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from cost_models import Design, DesignBatch, KnobSpec, Target
from hwsim.errors import CodesignError, Problem, RecordError
from hwsim.ir import Workload
from hwsim.ir.layers import HTLinear, TTLinear
from hwsim.ir.lowrank import full_rank

TENSOR_RANK_CHOICES = 8
"""A TT / HT layer's rank knob offers ranks 1..8 and the workload's own (the published models
use 4; the digits stand-in oracle is trained up to 8)."""

IntArray = npt.NDArray[np.int64]

KINDS = ("weight_bits", "act_bits", "rank", "mapping", "hardware")
"""What a knob sets: compression (bits, rank), a per-layer mapping knob, or a hardware knob."""
SPACE_NAMES = ("n3h", "haq", "rank", "haq+rank", "n3h+rank")


@dataclass(frozen=True, slots=True)
class Knob:
    """One decision.

    :param kind: one of :data:`KINDS`.
    :param layer: the layer index (None for hardware knobs).
    :param key: the target's knob name for ``mapping`` and ``hardware`` knobs
        (``"lut_fraction"``, ``"lut_core.rows"``); the kind otherwise.
    :param base_index: the choice a design takes when the knob is not being searched (the
        preset's value, or the nearest choice, for hardware knobs; the last, densest, for rank).
    """

    name: str
    kind: str
    choices: tuple[Any, ...]
    layer: int | None = None
    key: str = ""
    base_index: int = 0

    @property
    def n(self) -> int:
        return len(self.choices)


class DesignSpace:
    """A finite design space over one workload on one target: knobs, encoding and decoding.

    :param workload: the network.
    :param knobs: decisions in the order a sequential agent takes them.
    :param base: the design whose values every knob not in ``knobs`` keeps.
    :param target: the target whose knob table the mapping and hardware knobs come from.
    """

    def __init__(self, name: str, workload: Workload, knobs: Sequence[Knob], base: Design,
                 target: Target) -> None:
        if not knobs:
            raise CodesignError(f"design space {name!r} has no knobs for {workload.name!r}")
        self.name = name
        self.workload = workload
        self.knobs = tuple(knobs)
        self.base = base
        self.target = target
        self._specs: dict[str, KnobSpec] = {
            k.name: k for k in (*target.mapping_knobs(), *target.hardware_knobs())}
        self.nvec = np.array([k.n for k in self.knobs], dtype=np.int64)
        self._top = self.nvec - 1
        self._nlist = [int(v) for v in self.nvec]
        self._prepare_batch_tables()

    def __len__(self) -> int:
        return len(self.knobs)

    @property
    def size(self) -> float:
        """Number of points (a float: it overflows int64 for real networks)."""
        return math.prod(float(n) for n in self.nvec)

    def has_hardware_knobs(self) -> bool:
        return any(k.layer is None for k in self.knobs)

    def base_point(self) -> IntArray:
        """Every knob at its :attr:`Knob.base_index`."""
        return np.array([k.base_index for k in self.knobs], dtype=np.int64)

    # ------------------------------------------------------------------ actions <-> indices

    def index_from_unit(self, a: Any) -> IntArray:
        """Continuous actions in [0, 1] (one per knob, or a batch) -> choice indices, by HAQ's
        rounding ``floor(a * n)`` clipped to ``n - 1`` (REFERENCE.md section 3).

        NaN and out-of-range values are clipped into the space; :meth:`count_bad_actions` says
        how many there were.
        """
        return self._unit_to_index(a, self.nvec)

    def knob_index_from_unit(self, j: int, a: Any) -> Any:
        """:meth:`index_from_unit` for knob ``j`` alone (the sequential environment's step): an
        int for a scalar ``a``, an int array for an array of them (many environments)."""
        if isinstance(a, (float, int, np.floating, np.integer)):
            # the same map in plain Python: numpy's per-call overhead dominates one value
            n = self._nlist[j]
            u = float(a)
            u = 0.0 if u != u else min(max(u, 0.0), 1.0)  # NaN -> the lowest choice
            return min(int(u * n), n - 1)
        return self._unit_to_index(a, self.nvec[j])

    def knob_index_from_discrete(self, j: int, i: Any, k: int) -> Any:
        """Action ``i`` of a ``Discrete(k)`` shared by every knob -> a choice of knob ``j``:
        ``floor((i + 0.5) / k * n)``, so every action is valid and each of the knob's ``n``
        choices gets a near-equal share of the ``k`` actions (an int array for an array)."""
        n = int(self.nvec[j])
        idx = np.minimum(((np.floor(i) + 0.5) / k * n).astype(np.int64), n - 1)
        return int(idx) if np.ndim(i) == 0 else idx

    @staticmethod
    def _unit_to_index(a: Any, nvec: IntArray) -> IntArray:
        arr = np.asarray(a, dtype=np.float64)
        arr = np.where(np.isnan(arr), 0.0, np.clip(arr, 0.0, 1.0))
        idx = np.floor(arr * nvec).astype(np.int64)
        return np.minimum(idx, nvec - 1)

    def index_from_box(self, a: Any) -> tuple[IntArray, Any]:
        """Actions in ``[-1, 1]`` (a gymnasium ``Box``: one per knob, or ``[n, n_knobs]``) ->
        choice indices, as :meth:`index_from_unit` of ``(a + 1) / 2``, and how many entries
        were NaN or out of range (clipped): an int, or one per row. One pass, for the one-shot
        environments' step."""
        arr = np.asarray(a, dtype=np.float64)
        if arr.ndim == 1:
            idx, bad = _box_indices(np.ascontiguousarray(arr[None, :]), self.nvec)
            return idx[0], int(bad[0])
        return _box_indices(np.ascontiguousarray(arr), self.nvec)

    @staticmethod
    def count_bad_actions(a: Any) -> int:
        arr = np.asarray(a, dtype=np.float64)
        return int(np.count_nonzero(np.isnan(arr) | (arr < 0.0) | (arr > 1.0)))

    def unit_from_index(self, x: Any) -> npt.NDArray[np.float64]:
        """The centre of each choice's interval: ``index_from_unit(unit_from_index(x)) == x``."""
        return (np.asarray(x, dtype=np.float64) + 0.5) / self.nvec

    def clip(self, x: Any, *, out: IntArray | None = None) -> IntArray:
        """Indices clipped into ``[0, nvec)`` (in place into ``out`` when given)."""
        arr = np.asarray(x, dtype=np.int64)
        res = np.maximum(arr, 0, out=out)
        return np.minimum(res, self._top, out=res)

    def random(self, rng: np.random.Generator, n: int | None = None) -> IntArray:
        shape = (n, len(self.knobs)) if n is not None else (len(self.knobs),)
        return (rng.random(shape) * self.nvec).astype(np.int64)

    # ------------------------------------------------------------------ decode / encode

    def decode(self, x: Any) -> Design:
        """The design of point ``x`` (an int vector of choice indices)."""
        xi = self._check(x)
        n = len(self.workload.layers)
        wb, ab = list(self.base.weight_bits), list(self.base.act_bits)
        rank = list(self.base.rank) if self.base.rank is not None else [None] * n
        mapping: dict[str, list[Any]] = {}
        hardware: dict[str, dict[str, Any]] = {}
        for knob, i in zip(self.knobs, xi, strict=True):
            value = knob.choices[int(i)]
            if knob.kind == "hardware":
                component, field = knob.key.split(".")
                hardware.setdefault(component, {})[field] = value
            elif knob.kind == "weight_bits":
                wb[knob.layer] = value  # type: ignore[index]
            elif knob.kind == "act_bits":
                ab[knob.layer] = value  # type: ignore[index]
            elif knob.kind == "mapping":
                values = mapping.setdefault(knob.key, list(self.base.mapping_values(knob.key)))
                values[knob.layer] = value  # type: ignore[index]
            elif knob.kind == "rank":
                rank[knob.layer] = value  # type: ignore[index]
        return self.base.with_changes(
            weight_bits=tuple(wb), act_bits=tuple(ab), mapping=mapping, hardware=hardware,
            rank=tuple(rank) if any(r is not None for r in rank) else None)

    def encode(self, design: Design) -> IntArray:
        """The point of ``design``; raises when a value is not among a knob's choices."""
        problems: list[Problem] = []
        x = np.zeros(len(self.knobs), dtype=np.int64)
        for j, knob in enumerate(self.knobs):
            if knob.kind == "hardware":
                component, field = knob.key.split(".")
                value = design.overrides(component).get(field, self._specs[knob.key].default)
            elif knob.kind == "rank":
                value = design.rank[knob.layer] if design.rank is not None else None
            elif knob.kind == "mapping":
                value = design.mapping_values(knob.key)[knob.layer]  # type: ignore[index]
            else:
                value = getattr(design, knob.kind)[knob.layer]
            if value not in knob.choices:
                problems.append(Problem(knob.name, value, f"not one of {knob.choices}"))
            else:
                x[j] = knob.choices.index(value)
        if problems:
            raise RecordError(f"design in space {self.name!r}", problems)
        return x

    def _check(self, x: Any) -> IntArray:
        xi = np.asarray(x)
        if xi.shape != (len(self.knobs),):
            raise CodesignError(f"space {self.name!r} points have {len(self.knobs)} entries, "
                                f"got shape {xi.shape}")
        if not np.issubdtype(xi.dtype, np.integer) or np.any(xi < 0) or np.any(xi >= self.nvec):
            raise CodesignError(f"space {self.name!r}: indices must be ints in [0, nvec), "
                                f"got {xi.tolist()}")
        return xi.astype(np.int64)

    # ------------------------------------------------------------------ batch decoding

    def decode_batch(self, X: Any, *, in_range: bool = False) -> DesignBatch:
        """The :class:`~cost_models.DesignBatch` of a batch of points (what targets take).

        :param in_range: the caller has clipped ``X`` into the space (:meth:`clip`), so the
            range check is skipped (the search inner loop); otherwise an index out of range
            raises.
        """
        X = np.ascontiguousarray(np.atleast_2d(np.asarray(X, dtype=np.int64)))
        if X.ndim != 2 or X.shape[1] != len(self.knobs):
            raise CodesignError(f"space {self.name!r} points have {len(self.knobs)} entries, "
                                f"got shape {X.shape}")
        if not in_range and X.size and (X.min() < 0 or (X >= self.nvec).any()):
            raise CodesignError(f"space {self.name!r}: indices must be ints in [0, nvec), "
                                f"got {X[(X < 0) | (X >= self.nvec)][:5].tolist()} ...")
        out = {}
        for kind, base in self._base_rows.items():
            gather = self._gathers.get(kind)
            if gather is None:
                out[kind] = np.repeat(base[None, :], X.shape[0], axis=0)
            else:
                out[kind] = _gather(X, base, *gather)
        hardware = {key: table.take(X[:, j]) for key, j, table in self._hw_tables}
        rank = out.pop("rank")
        wb, ab = out.pop("weight_bits"), out.pop("act_bits")
        return DesignBatch.trusted(wb, ab, rank if self._has_rank and rank.any() else None, out,
                                   hardware, dict(self._options))

    def _prepare_batch_tables(self) -> None:
        """Precompute what :meth:`decode_batch` gathers from (it runs once per evaluation)."""
        n_layers = len(self.workload.layers)
        base = self.base
        self._base_rows: dict[str, Any] = {
            "weight_bits": np.array(base.weight_bits, dtype=np.int64),
            "act_bits": np.array(base.act_bits, dtype=np.int64),
            "rank": np.array([0 if r is None else r
                              for r in (base.rank or (None,) * n_layers)], dtype=np.int64),
        }
        mapping_keys = sorted({k.key for k in self.knobs if k.kind == "mapping"}
                              | {name for name, _ in base.mapping})
        for key in mapping_keys:
            spec = self._specs.get(key)
            self._base_rows[key] = np.array(
                [np.nan if v is None else (spec.encode(v) if spec else float(v))
                 for v in base.mapping_values(key)], dtype=np.float64)
        self._gathers: dict[str, tuple[Any, Any, Any]] = {}
        width = int(self.nvec.max())
        for kind in ("weight_bits", "act_bits", "rank", *mapping_keys):
            is_mapping = kind in mapping_keys
            cols = [j for j, k in enumerate(self.knobs)
                    if (k.kind == "mapping" and k.key == kind if is_mapping else k.kind == kind)]
            if not cols:
                continue
            dtype = np.float64 if is_mapping else np.int64
            table = np.zeros((len(cols), width), dtype=dtype)
            spec = self._specs.get(kind)
            for row, j in enumerate(cols):
                values = [(np.nan if is_mapping else 0) if v is None else
                          (spec.encode(v) if spec else v) for v in self.knobs[j].choices]
                table[row, :len(values)] = values
            layers = np.array([self.knobs[j].layer for j in cols], dtype=np.int64)
            self._gathers[kind] = (np.array(cols, dtype=np.int64), layers, table)
        self._hw_tables = [(k.key, j, np.asarray(k.choices)) for j, k in enumerate(self.knobs)
                           if k.kind == "hardware"]
        self._options = dict(base.options)
        self._has_rank = bool(self._base_rows["rank"].any()) or "rank" in self._gathers

    # ------------------------------------------------------------------ observations

    def layer_features(self) -> npt.NDArray[np.float32]:
        """HAQ's per-layer features (REFERENCE.md section 3), min-max normalised across layers:
        is-depthwise, c_in, c_out, stride, kernel, #weights, input feature-map area, layer
        index, log-MACs. Shape ``[L, 9]``."""
        rows = []
        for i, layer in enumerate(self.workload.layers):
            g = max(layer.gemms(), key=lambda g: g.macs)
            depthwise = float(getattr(layer, "is_depthwise", False))
            c_in = float(getattr(layer, "in_channels", getattr(layer, "in_features", g.k)))
            c_out = float(layer.out_channels_total)
            stride = float(getattr(layer, "stride", 1))
            kernel = float(getattr(layer, "kernel_h", 1))
            area = float(getattr(layer, "in_height", 1) * getattr(layer, "in_width", 1))
            rows.append([depthwise, c_in, c_out, stride, kernel, float(layer.weight_params),
                         area, float(i), math.log10(max(layer.macs, 1))])
        feats = np.array(rows, dtype=np.float64)
        lo, hi = feats.min(axis=0), feats.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        return ((feats - lo) / span).astype(np.float32)


# ---------------------------------------------------------------------------- presets


def _bits_knobs(workload: Workload, bits: Sequence[int], act_bits: Sequence[int],
                pinned: set[int]) -> list[Knob]:
    knobs = []
    for i, layer in enumerate(workload.layers):
        if i in pinned:
            continue
        knobs.append(Knob(f"{layer.name}.weight_bits", "weight_bits", tuple(bits), i,
                          "weight_bits", len(bits) - 1))
        knobs.append(Knob(f"{layer.name}.act_bits", "act_bits", tuple(act_bits), i, "act_bits",
                          len(act_bits) - 1))
    return knobs


def _rank_knobs(workload: Workload, step: int, max_candidates: int) -> list[Knob]:
    knobs = []
    for i, layer in enumerate(workload.layers):
        full = full_rank(layer)
        if isinstance(layer, TTLinear | HTLinear):  # small ranks, one by one (TT-RNN, FDHT)
            cands = list(range(1, TENSOR_RANK_CHOICES + 1))
            knobs.append(Knob(f"{layer.name}.rank", "rank", (*cands, None), i, "rank",
                              len(cands)))
            continue
        if full is None or full <= step:
            continue
        cands = list(range(step, full, step))
        if len(cands) > max_candidates - 1:  # thin evenly, keeping the smallest and largest
            keep = np.unique(np.linspace(0, len(cands) - 1, max_candidates - 1).round())
            cands = [cands[int(j)] for j in keep]
        knobs.append(Knob(f"{layer.name}.rank", "rank", (*cands, None), i, "rank", len(cands)))
    return knobs


def _hardware_knob(spec: KnobSpec) -> Knob:
    """A space knob over a target's hardware knob; its base is the preset's value (or the
    nearest choice when the preset's value is not among them)."""
    if spec.default in spec.choices:
        base = spec.choices.index(spec.default)
    elif spec.categorical or spec.default is None:
        base = 0
    else:
        base = int(np.argmin([abs(c - spec.default) for c in spec.choices]))
    return Knob(f"hw.{spec.name}", "hardware", spec.choices, None, spec.name, base)


def make_space(name: str, workload: Workload, target: Target, *,
               weight_bits: Sequence[int] = tuple(range(2, 9)),
               act_bits: Sequence[int] = tuple(range(2, 9)), split: str = "balance",
               pin_edges: bool = True, rank_step: int = 16, max_rank_candidates: int = 16,
               hardware: Sequence[str] | None = None) -> DesignSpace:
    """Build a preset space (see the module docstring) over ``workload`` on ``target``.

    :param weight_bits, act_bits: candidate bit-widths (ascending).
    :param split: ``"balance"`` (every mapping knob left to the target: the FPGA's balance
        point) or ``"choose"`` (a knob per layer for each of the target's mapping knobs).
    :param pin_edges: keep the first and last layers at W8A8 (N3H-Core, HAQ).
    :param hardware: names of the target's hardware knobs the n3h spaces search (default: all
        of them; :meth:`cost_models.Target.hardware_knobs`).
    """
    if name not in SPACE_NAMES:
        raise CodesignError(f"unknown design space {name!r}; known: {', '.join(SPACE_NAMES)}")
    if split not in ("balance", "choose"):
        raise CodesignError(f"split must be 'balance' or 'choose', got {split!r}")
    for label, values in (("weight_bits", weight_bits), ("act_bits", act_bits)):
        if not values or list(values) != sorted(set(values)) or min(values) < 1 or max(values) > 8:
            raise CodesignError(f"{label} candidates must be ascending ints in 1..8, got "
                                f"{list(values)}")
    n = len(workload.layers)
    pinned = {0, n - 1} if pin_edges and n > 2 else set()
    base_bits = tuple(8 for _ in range(n))
    base = Design(workload.layer_names, base_bits, base_bits, workload=workload.name)
    knobs: list[Knob] = []
    parts = name.split("+")
    if "n3h" in parts:
        specs = {k.name: k for k in target.hardware_knobs()}
        for hw in hardware if hardware is not None else specs:
            if hw not in specs:
                raise CodesignError(f"unknown hardware knob {hw!r} for target {target.name!r}; "
                                    f"known: {', '.join(specs) or 'none'}")
            knobs.append(_hardware_knob(specs[hw]))
    if "n3h" in parts or "haq" in parts:
        knobs += _bits_knobs(workload, weight_bits, act_bits, pinned)
        if split == "choose":
            for spec in target.mapping_knobs():
                knobs += [Knob(f"{layer.name}.{spec.name}", "mapping", spec.choices, i,
                               spec.name) for i, layer in enumerate(workload.layers)]
    if "rank" in parts:
        knobs += _rank_knobs(workload, rank_step, max_rank_candidates)
    return DesignSpace(name, workload, knobs, base, target)


@numba.njit(cache=True)
def _gather(X: Any, base: Any, cols: Any, layers: Any, table: Any) -> Any:
    """``[n, L]`` per-layer values of points ``X``: ``base`` everywhere, and for each knob
    ``c`` of this kind ``table[c, X[:, cols[c]]]`` in column ``layers[c]`` (the decode of one
    kind in one pass; indices are in range: the caller clipped them)."""
    n = X.shape[0]
    out = np.empty((n, base.shape[0]), dtype=base.dtype)
    for d in range(n):
        out[d, :] = base
        for c in range(cols.shape[0]):
            out[d, layers[c]] = table[c, X[d, cols[c]]]
    return out


@numba.njit(cache=True)
def _box_indices(a: Any, nvec: Any) -> tuple[Any, Any]:
    """:meth:`DesignSpace.index_from_box` of ``a`` ``[n, n_knobs]``: ``u = (a + 1) * 0.5``,
    NaN -> 0, clipped to [0, 1], ``min(floor(u * n), n - 1)`` per knob (the arithmetic of
    :meth:`index_from_unit`), and the clipped entries counted per row."""
    rows, cols = a.shape
    idx = np.empty((rows, cols), dtype=np.int64)
    bad = np.zeros(rows, dtype=np.int64)
    for r in range(rows):
        for j in range(cols):
            u = (a[r, j] + 1.0) * 0.5
            if np.isnan(u):
                bad[r] += 1
                u = 0.0
            elif u < 0.0:
                bad[r] += 1
                u = 0.0
            elif u > 1.0:
                bad[r] += 1
                u = 1.0
            idx[r, j] = min(int(np.floor(u * nvec[j])), nvec[j] - 1)
    return idx, bad
