"""Design spaces: the knobs a search sets and how actions map onto them.

Every space is a list of discrete :class:`Knob` s, each with an ordered tuple of candidate values.
A point of the space is an int vector ``x`` (one choice index per knob): that is what classic
searchers mutate, what ``MultiDiscrete`` actions are, and what run folders store. Continuous
actions ``a`` in ``[0, 1]`` map to indices by HAQ's rounding
(REFERENCE.md section 3: ``bits = round(b_min - 0.5 + a*(b_max - b_min + 1))``, i.e.
``index = floor(a * n_choices)`` clipped to ``n_choices - 1``).

Presets (:func:`make_space`):

* ``n3h``: N3H-Core's space: six hardware knobs (Dk, Dm, Dn, LMEM of the LUT core; Dl, Dr of the
  DSP core), then per layer weight bits and activation bits; the split is each layer's balance
  point (``split="balance"``, as the release) or a knob per layer (``split="choose"``). The first
  and last layers are pinned to W8A8 (``pin_edges``), as in the release.
* ``haq``: per-layer weight and activation bits on the target's fixed cores (HAQ, CVPR'19).
* ``rank``: per-layer rank for every layer that can be factorised, from hardware-friendly
  multiples of ``rank_step`` (HALOC, REFERENCE.md section 5), or dense.
* ``haq+rank`` and ``n3h+rank``: both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from cost_models.design import Design
from hwsim.errors import CodesignError, Problem, RecordError
from hwsim.ir import Workload
from hwsim.ir.lowrank import full_rank
from hwsim.spec import DspCore, LutCore

IntArray = npt.NDArray[np.int64]

HW_KNOBS: dict[str, tuple[str, str, tuple[int, ...]]] = {
    # name: (core, field, candidates). Ranges after N3H-Core's release (REFERENCE.md section 1):
    # Dk in {64, 128, 192, 256}, Dm and Dn in 1..50 (a hardware-friendly subset here),
    # Dl 1024..25600, Dr 1024..4096.
    "lut_depth_bits": ("lut", "depth_bits", (64, 128, 192, 256)),
    "lut_rows": ("lut", "rows", (1, 2, 4, 8, 12, 16)),
    "lut_cols": ("lut", "cols", (2, 4, 8, 16, 24, 32)),
    "lut_act_buffer_depth": ("lut", "act_buffer_depth", (1024, 2048, 4096, 8192)),
    "dsp_input_buffer_depth": ("dsp", "input_buffer_depth", (1024, 2048, 4096, 8192, 16384)),
    "dsp_weight_buffer_depth": ("dsp", "weight_buffer_depth", (1024, 2048, 4096)),
}
SPLIT_LEVELS = tuple(round(0.1 * i, 1) for i in range(11))
SPACE_NAMES = ("n3h", "haq", "rank", "haq+rank", "n3h+rank")


@dataclass(frozen=True, slots=True)
class Knob:
    """One decision: ``kind`` names what it sets; ``layer`` is the layer index (None = hardware)."""

    name: str
    kind: str
    choices: tuple[Any, ...]
    layer: int | None = None

    @property
    def n(self) -> int:
        return len(self.choices)


class DesignSpace:
    """A finite design space over one workload: knobs, encoding and decoding.

    :param workload: the network.
    :param knobs: decisions in the order a sequential agent takes them.
    :param base: the design whose values every knob not in ``knobs`` keeps.
    :param lut_core, dsp_core: the cores a design uses unless hardware knobs override them.
    """

    def __init__(self, name: str, workload: Workload, knobs: Sequence[Knob], base: Design,
                 lut_core: LutCore, dsp_core: DspCore) -> None:
        if not knobs:
            raise CodesignError(f"design space {name!r} has no knobs for {workload.name!r}")
        self.name = name
        self.workload = workload
        self.knobs = tuple(knobs)
        self.base = base
        self.lut_core = lut_core
        self.dsp_core = dsp_core
        self.nvec = np.array([k.n for k in self.knobs], dtype=np.int64)
        self._prepare_batch_tables()

    def __len__(self) -> int:
        return len(self.knobs)

    @property
    def size(self) -> float:
        """Number of points (a float: it overflows int64 for real networks)."""
        return math.prod(float(n) for n in self.nvec)

    def has_hardware_knobs(self) -> bool:
        return any(k.layer is None for k in self.knobs)

    # ------------------------------------------------------------------ actions <-> indices

    def index_from_unit(self, a: Any) -> IntArray:
        """Continuous actions in [0, 1] (one per knob, or a batch) -> choice indices.

        NaN and out-of-range values are clipped into the space; :meth:`count_bad_actions` says
        how many there were.
        """
        arr = np.asarray(a, dtype=np.float64)
        arr = np.where(np.isnan(arr), 0.0, np.clip(arr, 0.0, 1.0))
        idx = np.floor(arr * self.nvec).astype(np.int64)
        return np.minimum(idx, self.nvec - 1)

    @staticmethod
    def count_bad_actions(a: Any) -> int:
        arr = np.asarray(a, dtype=np.float64)
        return int(np.count_nonzero(np.isnan(arr) | (arr < 0.0) | (arr > 1.0)))

    def unit_from_index(self, x: Any) -> npt.NDArray[np.float64]:
        """The centre of each choice's interval: ``index_from_unit(unit_from_index(x)) == x``."""
        return (np.asarray(x, dtype=np.float64) + 0.5) / self.nvec

    def clip(self, x: Any) -> IntArray:
        return np.clip(np.asarray(x, dtype=np.int64), 0, self.nvec - 1)

    def random(self, rng: np.random.Generator, n: int | None = None) -> IntArray:
        shape = (n, len(self.knobs)) if n is not None else (len(self.knobs),)
        return (rng.random(shape) * self.nvec).astype(np.int64)

    # ------------------------------------------------------------------ decode / encode

    def decode(self, x: Any) -> Design:
        """The design of point ``x`` (an int vector of choice indices)."""
        xi = self._check(x)
        wb, ab = list(self.base.weight_bits), list(self.base.act_bits)
        frac = list(self.base.lut_fraction)
        rank = list(self.base.rank) if self.base.rank is not None else [None] * len(wb)
        lut_fields: dict[str, int] = {}
        dsp_fields: dict[str, int] = {}
        for knob, i in zip(self.knobs, xi, strict=True):
            value = knob.choices[int(i)]
            if knob.layer is None:
                core, field, _ = HW_KNOBS[knob.kind]
                (lut_fields if core == "lut" else dsp_fields)[field] = value
            elif knob.kind == "weight_bits":
                wb[knob.layer] = value
            elif knob.kind == "act_bits":
                ab[knob.layer] = value
            elif knob.kind == "lut_fraction":
                frac[knob.layer] = value
            elif knob.kind == "rank":
                rank[knob.layer] = value
        lut = replace(self.lut_core, **lut_fields) if lut_fields else self.base.lut_core
        dsp = replace(self.dsp_core, **dsp_fields) if dsp_fields else self.base.dsp_core
        return replace(self.base, weight_bits=tuple(wb), act_bits=tuple(ab),
                       lut_fraction=tuple(frac), lut_core=lut, dsp_core=dsp,
                       rank=tuple(rank) if any(r is not None for r in rank) else None)

    def encode(self, design: Design) -> IntArray:
        """The point of ``design``; raises when a value is not among a knob's choices."""
        problems: list[Problem] = []
        x = np.zeros(len(self.knobs), dtype=np.int64)
        lut = design.lut_core or self.lut_core
        dsp = design.dsp_core or self.dsp_core
        for j, knob in enumerate(self.knobs):
            if knob.layer is None:
                core, field, _ = HW_KNOBS[knob.kind]
                value = getattr(lut if core == "lut" else dsp, field)
            elif knob.kind == "rank":
                value = design.rank[knob.layer] if design.rank is not None else None
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

    def decode_batch(self, X: Any) -> dict[str, Any]:
        """Per-layer knob arrays of a batch of points: ``weight_bits``, ``act_bits`` (int
        ``[n, L]``), ``lut_fraction`` (float, NaN = balance point), ``rank`` (int, 0 = dense),
        and ``hw`` (int ``[n, n_hw_knobs]`` of hardware choice indices, in knob order)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.int64))
        n = X.shape[0]
        out: dict[str, Any] = {kind: np.repeat(base[None, :], n, axis=0)
                               for kind, base in self._base_rows.items()}
        for kind, (cols, layers, table) in self._gathers.items():
            out[kind][:, layers] = table[np.arange(len(cols)), X[:, cols]]
        out["hw"] = X[:, self._hw_cols]
        out["hw_knobs"] = self._hw_knobs
        return out

    def _prepare_batch_tables(self) -> None:
        """Precompute what :meth:`decode_batch` gathers from (it runs once per evaluation)."""
        n_layers = len(self.workload.layers)
        base = self.base
        self._base_rows: dict[str, Any] = {
            "weight_bits": np.array(base.weight_bits, dtype=np.int64),
            "act_bits": np.array(base.act_bits, dtype=np.int64),
            "lut_fraction": np.array([np.nan if f is None else f for f in base.lut_fraction]),
            "rank": np.array([0 if r is None else r
                              for r in (base.rank or (None,) * n_layers)], dtype=np.int64),
        }
        self._gathers: dict[str, tuple[Any, Any, Any]] = {}
        width = int(self.nvec.max())
        for kind, dtype in (("weight_bits", np.int64), ("act_bits", np.int64),
                            ("lut_fraction", np.float64), ("rank", np.int64)):
            cols = [j for j, k in enumerate(self.knobs) if k.kind == kind]
            if not cols:
                continue
            table = np.zeros((len(cols), width), dtype=dtype)
            for row, j in enumerate(cols):
                values = [(np.nan if kind == "lut_fraction" else 0) if v is None else v
                          for v in self.knobs[j].choices]
                table[row, :len(values)] = values
            layers = np.array([self.knobs[j].layer for j in cols], dtype=np.int64)
            self._gathers[kind] = (np.array(cols, dtype=np.int64), layers, table)
        self._hw_cols = np.array([j for j, k in enumerate(self.knobs) if k.layer is None],
                                 dtype=np.int64)
        self._hw_knobs = [self.knobs[j] for j in self._hw_cols]

    def cores_for(self, hw_row: Sequence[int], hw_knobs: Sequence[Knob]) -> tuple[LutCore,
                                                                                   DspCore]:
        lut_fields: dict[str, int] = {}
        dsp_fields: dict[str, int] = {}
        for knob, i in zip(hw_knobs, hw_row, strict=True):
            core, field, _ = HW_KNOBS[knob.kind]
            (lut_fields if core == "lut" else dsp_fields)[field] = knob.choices[int(i)]
        lut = replace(self.lut_core, **lut_fields) if lut_fields else self.lut_core
        dsp = replace(self.dsp_core, **dsp_fields) if dsp_fields else self.dsp_core
        return lut, dsp

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
        knobs.append(Knob(f"{layer.name}.weight_bits", "weight_bits", tuple(bits), i))
        knobs.append(Knob(f"{layer.name}.act_bits", "act_bits", tuple(act_bits), i))
    return knobs


def _rank_knobs(workload: Workload, step: int, max_candidates: int) -> list[Knob]:
    knobs = []
    for i, layer in enumerate(workload.layers):
        full = full_rank(layer)
        if full is None or full <= step:
            continue
        cands = list(range(step, full, step))
        if len(cands) > max_candidates - 1:  # thin evenly, keeping the smallest and largest
            keep = np.unique(np.linspace(0, len(cands) - 1, max_candidates - 1).round())
            cands = [cands[int(j)] for j in keep]
        knobs.append(Knob(f"{layer.name}.rank", "rank", (*cands, None), i))
    return knobs


def make_space(name: str, workload: Workload, lut_core: LutCore, dsp_core: DspCore, *,
               weight_bits: Sequence[int] = tuple(range(2, 9)),
               act_bits: Sequence[int] = tuple(range(2, 9)), split: str = "balance",
               pin_edges: bool = True, rank_step: int = 16, max_rank_candidates: int = 16,
               hardware: Sequence[str] | None = None) -> DesignSpace:
    """Build a preset space (see the module docstring) over ``workload``.

    :param weight_bits, act_bits: candidate bit-widths (ascending).
    :param split: ``"balance"`` (each layer at its balance point) or ``"choose"`` (a knob per
        layer over 0, 0.1, ..., 1).
    :param pin_edges: keep the first and last layers at W8A8 (N3H-Core, HAQ).
    :param hardware: hardware knob names for the n3h spaces (default: all of
        :data:`HW_KNOBS`).
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
    base = Design(workload.layer_names, base_bits, base_bits, (None,) * n,
                  workload=workload.name)
    knobs: list[Knob] = []
    parts = name.split("+")
    if "n3h" in parts:
        for hw in hardware if hardware is not None else HW_KNOBS:
            if hw not in HW_KNOBS:
                raise CodesignError(f"unknown hardware knob {hw!r}; known: {', '.join(HW_KNOBS)}")
            knobs.append(Knob(f"hw.{hw}", hw, HW_KNOBS[hw][2]))
    if "n3h" in parts or "haq" in parts:
        knobs += _bits_knobs(workload, weight_bits, act_bits, pinned)
        if split == "choose":
            knobs += [Knob(f"{layer.name}.lut_fraction", "lut_fraction", SPLIT_LEVELS, i)
                      for i, layer in enumerate(workload.layers)]
    if "rank" in parts:
        knobs += _rank_knobs(workload, rank_step, max_rank_candidates)
    return DesignSpace(name, workload, knobs, base, lut_core, dsp_core)
