"""Heterogeneous FPGA target: a DSP GEMM core and a BISMO LUT GEMM core side by side (N3H-Core).

Per layer, ``lut_fraction`` of the output channels run on the LUT core at the design's weight and
activation bits; the rest run on the DSP core with 8-bit weights. The cores run concurrently and
the layer takes as long as the slower one; layers run one after another (REFERENCE.md section 1).
A GEMM of one repetition (``Gemm.count == 1``) is split by output channels; one of several
independent repetitions (the groups of a grouped or depthwise convolution, attention heads, MoE
experts) is split by whole repetitions, ``round(count*lut_fraction)`` of them on the LUT core, so
that a depthwise layer (one channel a group) can still be shared. Dependent repetitions
(``Gemm.independent`` false: an LSTM's time steps) cannot run on both cores at once, so each is
split by output channels and they run one after another (:mod:`hwsim.fpga.analytic`).

Fidelities: ``analytic`` (N3H-Core's released equations, :mod:`hwsim.fpga.analytic`) and
``cycle`` (the stage-level simulation, :mod:`hwsim.fpga.cycle`, which adds DRAM contention).

DRAM traffic reported at the ``analytic`` tier is a first-order count derived from the same
tiling the equations assume (see :func:`dram_bytes`); the ``cycle`` tier counts what its
simulated DMA moves.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numba
import numpy as np
import numpy.typing as npt

from cost_models.batch import BatchCost, DesignBatch, KnobSpec
from cost_models.design import Design, DesignError
from cost_models.report import CostReport, LayerCost
from cost_models.targets import Target, register_target
from hwsim.errors import Problem, RecordError, SpecError
from hwsim.fpga import analytic
from hwsim.fpga.dsp_array import dsp_core_dram_bytes
from hwsim.fpga.resources import (
    Resources,
    dsp_core_resources,
    lut_core_resources,
    shell_resources,
)
from hwsim.ir import Workload
from hwsim.spec import DspCore, Hardware, LutCore

FloatArray = npt.NDArray[np.float64]

DSP_MAX_ACT_BITS = 8
"""The DSP core's operands are 8-bit (N3H-Core); activations above 8 bits are malformed."""


def dram_bytes(m: int, n_lut: int, n_dsp: int, k: int, w_bits: int, a_bits: int,
               lut: LutCore, dsp: DspCore, *, lut_repetitions: int = 1,
               dsp_repetitions: int = 1) -> int:
    """First-order DRAM traffic of one GEMM split between the cores (bytes).

    LUT core (BISMO): every m-tile of activations is fetched once (``Dm*ceil(m/Dm)`` rows of
    ``k*a_bits`` bits), the weights once per activation-buffer round ``F_L``, and 32-bit results
    written back. DSP core (VTA-like): inputs (8-bit storage) re-read once per weight-buffer
    group, weights once per input-buffer group, 8-bit outputs. Both follow the loop nests of
    the N3H-Core equations (REFERENCE.md section 1).

    Each core moves this for each of its repetitions: ``n_lut`` channels ``lut_repetitions``
    times, ``n_dsp`` channels ``dsp_repetitions`` times (as :func:`hwsim.fpga.analytic.split_gemm`
    gives them: whole repetitions of a ``count > 1`` GEMM of independent repetitions, each
    repetition's channel split of a dependent one).
    """
    total = 0.0
    if n_lut and lut_repetitions:
        t_k = -(-k // lut.depth_bits)
        regions = max(lut.act_buffer_depth // (t_k * a_bits), 1)
        t_m = -(-m // lut.rows)
        rounds = -(-t_m // regions)
        n_pad = -(-n_lut // lut.cols) * lut.cols
        total += lut_repetitions * (t_m * lut.rows * k * a_bits / 8
                                    + rounds * n_pad * k * w_bits / 8 + m * n_lut * 4)
    if n_dsp and dsp_repetitions:
        total += dsp_repetitions * dsp_core_dram_bytes(m, n_dsp, k, a_bits, dsp)
    return math.ceil(total)


BALANCE_MODES = ("exact", "n3h-sweep")
"""How an unset ``lut_fraction`` is chosen: the exact integer balance point, or N3H-Core's
released 0.01 sweep (REFERENCE.md section 1)."""
SPLIT_LEVELS = tuple(round(0.1 * i, 1) for i in range(11))
"""The ``lut_fraction`` values a design space offers when it searches the split."""
HARDWARE_CHOICES: dict[str, tuple[int, ...]] = {
    # Ranges after N3H-Core's release (REFERENCE.md section 1): Dk in {64, 128, 192, 256}, Dm and
    # Dn in 1..50 (a hardware-friendly subset here), Dl 1024..25600, Dr 1024..4096.
    "lut_core.depth_bits": (64, 128, 192, 256),
    "lut_core.rows": (1, 2, 4, 8, 12, 16),
    "lut_core.cols": (2, 4, 8, 16, 24, 32),
    "lut_core.act_buffer_depth": (1024, 2048, 4096, 8192),
    "dsp_core.input_buffer_depth": (1024, 2048, 4096, 8192, 16384),
    "dsp_core.weight_buffer_depth": (1024, 2048, 4096),
}
_HARDWARE_TEXT = {
    "lut_core.depth_bits": "Dk, the LUT core's popcount width",
    "lut_core.rows": "Dm, activation rows per LUT-core tile",
    "lut_core.cols": "Dn, weight columns per LUT-core tile",
    "lut_core.act_buffer_depth": "LMEM, the LUT core's activation buffer depth",
    "dsp_core.input_buffer_depth": "Dl, the DSP core's input buffer depth",
    "dsp_core.weight_buffer_depth": "Dr, the DSP core's weight buffer depth",
}
_SMALL_BATCH = 16
RESOURCE_LABELS = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram36": "BRAM36", "uram": "URAM"}
_RESOURCE_KEYS = tuple(RESOURCE_LABELS)


def _resource_vector(r: Resources) -> npt.NDArray[np.int64]:
    return np.array([getattr(r, k) for k in _RESOURCE_KEYS], dtype=np.int64)


def _rows_of(rows: list[npt.NDArray[Any]], index: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """``rows[index[d]]`` for every design ``d``, as one array."""
    if len(rows) == 1:
        return np.repeat(rows[0][None, :], index.shape[0], axis=0)
    return np.stack(rows)[index]


def _codes(columns: list[npt.NDArray[Any]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Unique rows of ``columns`` (equal-length 1-D arrays): ``(first row of each unique
    combination, inverse)``. Each column is ranked on its own and the ranks combined in mixed
    radix: much faster than ``np.unique(axis=0)`` for the few columns of a hardware knob table."""
    code = np.zeros(columns[0].shape[0], dtype=np.int64)
    for col in columns:
        _, rank = np.unique(col, return_inverse=True)
        code = code * (int(rank.max()) + 1) + rank.reshape(-1)
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


@dataclass(frozen=True)
class _Grid:
    """A core's hardware-knob grid (see :meth:`HeteroFpgaTarget._grid`)."""

    names: list[str]
    choices: list[npt.NDArray[Any]]
    rows: npt.NDArray[np.int64]
    res: npt.NDArray[np.int64]
    max_bits: npt.NDArray[np.int64]
    valid: npt.NDArray[np.bool_]


class HeteroFpgaTarget(Target):
    """N3H-Core style FPGA: ``[fpga]`` + ``[dsp_core]`` + ``[lut_core]`` in the preset.

    Knob table: per layer ``lut_fraction`` (the LUT core's share of output channels; unset =
    the balance point), the design-wide ``balance`` option, and six core sizes (Dk, Dm, Dn,
    LMEM of the LUT core; Dl, Dr of the DSP core) over N3H-Core's ranges.
    """

    fidelities = ("analytic", "cycle")
    mapping_options: ClassVar[dict[str, tuple[Any, ...]]] = {"balance": BALANCE_MODES}

    def __init__(self, hardware: Hardware) -> None:
        super().__init__(hardware)
        assert hardware.fpga and hardware.dsp_core and hardware.lut_core
        self.device = hardware.fpga
        self.lut_core = hardware.lut_core
        self.dsp_core = hardware.dsp_core
        self.max_bits = hardware.lut_core.max_bits
        self._shell = _resource_vector(shell_resources(self.device))
        self._limits = {k: getattr(self.device, k) for k in _RESOURCE_KEYS}
        self._limit_row = np.array([self._limits[k] for k in _RESOURCE_KEYS])
        self._lut_cache: dict[tuple[Any, ...], tuple[LutCore, Any, Any]] = {}
        self._dsp_cache: dict[tuple[Any, ...], tuple[DspCore, Any]] = {}
        self._dsp_res: dict[tuple[DspCore, int], npt.NDArray[np.int64]] = {}
        self._grids: dict[str, _Grid] = {}

    # ------------------------------------------------------------------------ knob table

    def mapping_knobs(self) -> tuple[KnobSpec, ...]:
        return (KnobSpec("lut_fraction", "layer", SPLIT_LEVELS, None,
                         "the LUT core's share of the layer's output channels (whole "
                         "repetitions of a grouped GEMM); unset = the balance point"),)

    def hardware_knobs(self) -> tuple[KnobSpec, ...]:
        out = []
        for name, choices in HARDWARE_CHOICES.items():
            component, field = name.split(".")
            out.append(KnobSpec(name, "hardware", choices,
                                getattr(getattr(self.hardware, component), field),
                                _HARDWARE_TEXT[name]))
        return tuple(out)

    def overridable(self) -> tuple[str, ...]:
        return ("lut_core", "dsp_core")

    def precision_note(self) -> str:
        return ("the LUT core runs its share of channels at the design's weight bits; the DSP "
                "core runs the rest at 8 bits")

    def cores(self, design: Design) -> tuple[LutCore, DspCore]:
        """The LUT and DSP cores ``design`` runs on (the preset's, overrides merged)."""
        parts = self.components_for(design)
        return parts["lut_core"], parts["dsp_core"]

    def _component_problems(self, components: dict[str, Any]) -> list[Problem]:
        try:
            analytic.hardware_rows([components["lut_core"]], [components["dsp_core"]])
        except SpecError as exc:  # outside the analytic model's domain
            problems = getattr(exc, "problems", None)
            if problems:
                return [dataclasses.replace(p, field=f"hardware.dsp_core.{p.field}")
                        for p in problems]
            return [Problem("hardware", str(exc), "the analytic model cannot describe it")]
        return []

    def _design_problems(self, design: Design) -> list[Problem]:
        lut, _ = self.cores(design)
        problems = []
        limit = min(lut.max_bits, DSP_MAX_ACT_BITS)
        for name, wb, ab in zip(design.layer_names, design.weight_bits, design.act_bits,
                                strict=True):
            if wb > lut.max_bits:
                problems.append(Problem(f"{name}.weight_bits", wb,
                                        f"the LUT core supports 1..{lut.max_bits} bits"))
            if ab > limit:
                problems.append(Problem(f"{name}.act_bits", ab,
                                        f"the cores support 1..{limit} activation bits"))
        return problems

    # ------------------------------------------------------------------------ evaluate

    def _evaluate(self, workload: Workload, design: Design, fidelity: str) -> CostReport:
        batch = self.evaluate_batch(workload, self.design_batch([design]))
        fractions = batch.mapping["lut_fraction"][0]
        workload = design.apply_to(workload)
        lut, dsp = self.cores(design)
        layers: list[LayerCost] = []
        reasons: list[str] = []
        for i, layer in enumerate(workload.layers):
            wb, ab, rho = design.weight_bits[i], design.act_bits[i], float(fractions[i])
            lut_total = dsp_total = cycles = 0.0
            traffic = lut_channels = 0
            stages: dict[str, Any] = {}
            gemms = layer.gemms()
            main = max(gemms, key=lambda g: g.macs)
            for g in gemms:
                n_lut, c_lut, n_dsp, c_dsp = analytic.split_gemm(g.n, g.count, rho,
                                                                 g.independent)
                if g is main:
                    lut_channels = n_lut * c_lut
                # each tier's cycles and bytes cover the whole GEMM, all its repetitions
                if fidelity == "cycle":
                    from hwsim.fpga import cycle

                    sim = cycle.simulate_layer(g.m, g.n, g.k, wb, ab, rho, lut, dsp,
                                               self.device.dram_bytes_per_cycle, count=g.count,
                                               independent=g.independent)
                    lut_c, dsp_c, both = sim.lut_cycles, sim.dsp_cycles, sim.total_cycles
                    traffic += math.ceil(sim.dram_bytes)
                    if not sim.feasible:
                        reasons.append(f"layer {layer.name}: {sim.reason}")
                    if g is main:
                        stages = {name: {"busy_cycles": st.busy_cycles,
                                         "stall_cycles": st.stall_cycles,
                                         "dram_contention_cycles": st.dram_contention_cycles}
                                  for name, st in sim.stages.items()}
                        stages["dram_contention_cycles"] = sim.dram_contention_cycles
                else:
                    lut_a, dsp_a, both_a = analytic.hetero_layer_cycles(
                        g.m, g.n, g.k, wb, ab, rho, lut, dsp, count=g.count,
                        independent=g.independent)
                    lut_c, dsp_c, both = float(lut_a), float(dsp_a), float(both_a)
                    traffic += dram_bytes(g.m, n_lut, n_dsp, g.k, wb, ab, lut, dsp,
                                          lut_repetitions=c_lut, dsp_repetitions=c_dsp)
                    if math.isinf(both):
                        for why in (analytic.lut_core_problem(g.k, wb, ab, lut)
                                    if n_lut * c_lut else None,
                                    analytic.dsp_core_problem(g.k, ab, dsp)
                                    if n_dsp * c_dsp else None):
                            if why:
                                reasons.append(f"layer {layer.name}: {why}")
                lut_total += lut_c
                dsp_total += dsp_c
                cycles += both
            layers.append(LayerCost(
                name=layer.name, kind=layer.kind, m=main.m, n=main.n, k=main.k, count=main.count,
                weight_bits=wb, act_bits=ab, cycles=cycles,
                units={"dsp_core": dsp_total, "lut_core": lut_total},
                bound="lut_core" if lut_total >= dsp_total else "dsp_core",
                mapping={"lut_fraction": rho, "lut_channels": lut_channels},
                dram_bytes=traffic,
                rank=None if design.rank is None else design.rank[i], details=stages))
        resources = {k: int(v[0]) for k, v in batch.resources.items()}
        violations = batch.violations(0)
        notes = ("analytic: N3H-Core's released latency equations (REFERENCE.md section 1); "
                 "DRAM bytes first-order",) if fidelity == "analytic" else (
                 "cycle: stage-level simulation with a shared DRAM port (hwsim.fpga.cycle)",)
        return CostReport(
            target=self.name, workload=workload.name, fidelity=fidelity,
            clock_mhz=self.device.clock_mhz, layers=tuple(layers), resources=resources,
            limits=dict(self._limits), feasible=not violations and not reasons,
            violations=tuple(violations) + tuple(dict.fromkeys(reasons)), notes=notes,
            hardware={"lut_core": dataclasses.asdict(lut), "dsp_core": dataclasses.asdict(dsp)})

    # ------------------------------------------------------------------------ batch

    def _lut_entry(self, fields: tuple[tuple[str, Any], ...]) -> tuple[LutCore, Any, Any]:
        hit = self._lut_cache.get(fields)
        if hit is None:
            core = dataclasses.replace(self.lut_core, **dict(fields)) if fields else self.lut_core
            row, _ = analytic.hardware_rows([core], [self.dsp_core])
            hit = (core, row[0], _resource_vector(lut_core_resources(core)))
            self._lut_cache[fields] = hit
        return hit

    def _dsp_entry(self, fields: tuple[tuple[str, Any], ...]) -> tuple[DspCore, Any]:
        hit = self._dsp_cache.get(fields)
        if hit is None:
            core = dataclasses.replace(self.dsp_core, **dict(fields)) if fields else self.dsp_core
            _, row = analytic.hardware_rows([self.lut_core], [core])
            hit = (core, row[0])
            self._dsp_cache[fields] = hit
        return hit

    def _core_rows(self, batch: DesignBatch, component: str
                   ) -> tuple[list[Any], npt.NDArray[np.int64]]:
        """Per design, the index of its ``component`` among the unique cores of the batch, and
        those cores' cache entries (one Python step per unique core, not per design)."""
        names = sorted(k for k in batch.hardware if k.startswith(component + "."))
        entry = self._lut_entry if component == "lut_core" else self._dsp_entry
        if not names:
            return [entry(())], np.zeros(len(batch), dtype=np.int64)
        cols = [batch.hardware[k] for k in names]
        fields = [n.split(".", 1)[1] for n in names]
        if len(batch) <= _SMALL_BATCH:  # a dict over the rows beats sorting for a few designs
            seen: dict[tuple[Any, ...], int] = {}
            rows = list(zip(*(c.tolist() for c in cols), strict=True))
            inverse = np.array([seen.setdefault(r, len(seen)) for r in rows], dtype=np.int64)
            return [entry(tuple(zip(fields, r, strict=True))) for r in seen], inverse
        first, inverse = _codes(cols)
        entries = [entry(tuple((f, c[i].item()) for f, c in zip(fields, cols, strict=True)))
                   for i in first]
        return entries, inverse

    def _grid(self, component: str) -> _Grid:
        """Every combination of ``component``'s hardware knobs (the knob table's choices), its
        kernel row and resources computed once (the LUT core: 576 combinations; the DSP core:
        15, by the widest activation it runs): a batch whose hardware columns stay on this
        grid is then costed by gathers instead of one Python step per distinct core."""
        grid = self._grids.get(component)
        if grid is not None:
            return grid
        names = sorted(k for k in HARDWARE_CHOICES if k.startswith(component + "."))
        choices = [np.array(sorted(HARDWARE_CHOICES[k])) for k in names]
        fields = [n.split(".", 1)[1] for n in names]
        combos = list(itertools.product(*(c.tolist() for c in choices)))
        rows, res, max_bits, valid = [], [], [], []
        for combo in combos:
            key = tuple(zip(fields, combo, strict=True))
            try:
                if component == "lut_core":
                    lut, row, r = self._lut_entry(key)
                    res.append(r)
                    max_bits.append(lut.max_bits)
                else:
                    dsp, row = self._dsp_entry(key)
                    res.append(np.stack([self._dsp_resources(dsp, max(w, 1))  # widest >= 1
                                         for w in range(17)]))
                rows.append(row)
                valid.append(True)
            except RecordError:  # a combination the core or the model cannot describe
                rows.append(rows[-1] if rows else np.zeros(5 if component == "lut_core" else 3,
                                                           dtype=np.int64))
                res.append(res[-1] if res else np.zeros(5, dtype=np.int64))
                max_bits.append(0)
                valid.append(False)
        grid = _Grid(names, choices, np.array(rows), np.array(res), np.array(max_bits),
                     np.array(valid))
        self._grids[component] = grid
        return grid

    def _grid_codes(self, batch: DesignBatch, component: str) -> npt.NDArray[np.int64] | None:
        """Each design's index into :meth:`_grid`, or None when some design's core is off the
        grid (a field that is not a hardware knob, a value that is not a choice)."""
        names = [k for k in batch.hardware if k.startswith(component + ".")]
        grid = self._grid(component)
        if not set(names) <= set(grid.names):
            return None
        code = np.zeros(len(batch), dtype=np.int64)
        for name, choices in zip(grid.names, grid.choices, strict=True):
            col = batch.hardware.get(name)
            if col is None:
                preset = getattr(getattr(self.hardware, component), name.split(".", 1)[1])
                hit = np.nonzero(choices == preset)[0]
                if hit.size == 0:
                    return None
                pos: Any = int(hit[0])
            else:
                pos = np.minimum(np.searchsorted(choices, col), len(choices) - 1)
                if not (choices[pos] == col).all():
                    return None
            code = code * len(choices) + pos
        return code if grid.valid[code].all() else None

    def _lut_side(self, batch: DesignBatch) -> tuple[Any, Any, int]:
        """LUT-core kernel rows ``[n, 5]``, resources ``[n, 5]`` and the smallest max_bits."""
        code = self._grid_codes(batch, "lut_core") if len(batch) > _SMALL_BATCH else None
        if code is not None:
            grid = self._grid("lut_core")
            return grid.rows[code], grid.res[code], int(grid.max_bits[code].min())
        luts, lut_of = self._core_rows(batch, "lut_core")
        return (_rows_of([e[1] for e in luts], lut_of), _rows_of([e[2] for e in luts], lut_of),
                min(e[0].max_bits for e in luts))

    def _dsp_side(self, batch: DesignBatch) -> tuple[Any, Callable[[Any], Any]]:
        """DSP-core kernel rows ``[n, 3]``, and its resources ``[n, 5]`` given each design's
        widest DSP activation."""
        code = self._grid_codes(batch, "dsp_core") if len(batch) > _SMALL_BATCH else None
        if code is not None:
            grid = self._grid("dsp_core")
            return grid.rows[code], lambda widest: grid.res[code, widest]
        dsps, dsp_of = self._core_rows(batch, "dsp_core")

        def resources(widest: Any) -> Any:
            if len(dsps) == 1 and len(batch) <= _SMALL_BATCH:
                return np.stack([self._dsp_resources(dsps[0][0], w) for w in widest.tolist()])
            pair, pair_of = np.unique(dsp_of * 64 + widest, return_inverse=True)
            return np.stack([self._dsp_resources(dsps[int(p) // 64][0], int(p) % 64)
                             for p in pair])[pair_of.reshape(-1)]

        return _rows_of([e[1] for e in dsps], dsp_of), resources

    def _evaluate_batch(self, workload: Workload, batch: DesignBatch) -> BatchCost:
        arrays = workload.to_arrays()
        lut_rows, lut_res, w_limit = self._lut_side(batch)
        dsp_rows, dsp_resources = self._dsp_side(batch)
        rho = batch.mapping.get("lut_fraction")
        if rho is None:
            rho = np.full(batch.weight_bits.shape, np.nan)
        wb, ab = batch.weight_bits, batch.act_bits
        a_limit = min(w_limit, DSP_MAX_ACT_BITS)
        if ab.max() > a_limit or wb.max() > w_limit:
            field, value, limit = (("act_bits", ab.max(), a_limit) if ab.max() > a_limit
                                   else ("weight_bits", wb.max(), w_limit))
            raise DesignError(f"design batch on {self.name!r}", [Problem(
                field, int(value), f"the cores of this batch run 1..{limit} bits")])
        cycles, used_rho, widest, on_dsp = analytic.batch_designs(
            arrays, _main_gemms(workload), wb, ab, rho, lut_rows, dsp_rows,
            balance=batch.options.get("balance", "exact"))
        # Resources: shell + LUT core + DSP core at the widest activation it runs.
        used = self._shell + lut_res + dsp_resources(widest)
        resources = {k: used[:, j] for j, k in enumerate(_RESOURCE_KEYS)}
        runnable = np.isfinite(cycles)
        feasible = runnable & (used <= self._limit_row).all(axis=1)
        return BatchCost(cycles=cycles, latency_ms=cycles / (self.device.clock_mhz * 1e3),
                         runnable=runnable, feasible=feasible, resources=resources,
                         limits=dict(self._limits), labels=RESOURCE_LABELS,
                         mapping={"lut_fraction": used_rho}, precision_share=used_rho,
                         details={"dsp_act_bits": np.where(on_dsp == 1, ab, 1)})

    def fits_with_dsp_act(self, lut: LutCore, dsp: DspCore, act_bits_max: int) -> bool:
        """Whether cores ``lut`` and ``dsp``, the DSP core running activations of at most
        ``act_bits_max`` bits, fit the device (the same charge as :meth:`evaluate_batch`)."""
        used = self._shell + _resource_vector(lut_core_resources(lut)) + self._dsp_resources(
            dsp, act_bits_max)
        return bool((used <= np.array([self._limits[k] for k in _RESOURCE_KEYS])).all())

    def _dsp_resources(self, core: DspCore, act_bits_max: int) -> npt.NDArray[np.int64]:
        key = (core, act_bits_max)
        hit = self._dsp_res.get(key)
        if hit is None:
            hit = _resource_vector(dsp_core_resources(core, act_bits_max))
            self._dsp_res[key] = hit
        return hit


_MAIN_GEMMS: dict[int, tuple[Workload, npt.NDArray[np.int64]]] = {}

def _main_gemms(workload: Workload) -> npt.NDArray[np.int64]:
    """Index (into ``to_arrays()``) of each layer's largest GEMM, cached per workload object
    (keyed by identity: hashing a workload's layers costs more than the search step)."""
    hit = _MAIN_GEMMS.get(id(workload))
    if hit is not None and hit[0] is workload:
        return hit[1]
    if len(_MAIN_GEMMS) > 256:
        _MAIN_GEMMS.clear()
    result = _compute_main_gemms(workload)
    _MAIN_GEMMS[id(workload)] = (workload, result)
    return result


def _compute_main_gemms(workload: Workload) -> npt.NDArray[np.int64]:
    arrays = workload.to_arrays()
    return _largest_in_layers(np.ascontiguousarray(arrays.macs), arrays.first_gemm)


@numba.njit(cache=True)
def _largest_in_layers(macs: Any, first: Any) -> Any:
    """Per layer, the index of its GEMM with the most MACs (the first of equals, as
    ``np.argmax``)."""
    main = np.empty(first.shape[0] - 1, dtype=np.int64)
    for i in range(main.shape[0]):
        best = first[i]
        for g in range(first[i] + 1, first[i + 1]):
            if macs[g] > macs[best]:
                best = g
        main[i] = best
    return main


register_target(
    lambda hw: hw.fpga is not None and hw.dsp_core is not None and hw.lut_core is not None,
    HeteroFpgaTarget,
    "heterogeneous FPGA (presets with [fpga], [dsp_core] and [lut_core], e.g. n3h-zcu102)",
)
