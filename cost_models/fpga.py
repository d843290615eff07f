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
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cost_models.design import Design, DesignError, default_design
from cost_models.report import CostReport, LayerCost
from cost_models.targets import Target, register_target
from hwsim.errors import Problem
from hwsim.fpga import analytic
from hwsim.fpga.resources import Resources, check_feasible, total_resources
from hwsim.ir import Workload
from hwsim.spec import DspCore, FpgaDevice, Hardware, LutCore

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
        packed = a_bits <= dsp.pack_act_bits
        t_k = -(-k // (dsp.block_rows * (2 if packed else 1)))
        rows_per_group = max(dsp.input_buffer_depth // t_k, 1)
        blocks_per_group = max(dsp.weight_buffer_depth // t_k // 2, 1)
        t_n = -(-n_dsp // dsp.block_cols)
        input_groups = -(-m // rows_per_group)
        weight_groups = -(-t_n // blocks_per_group)
        total += dsp_repetitions * (m * k * weight_groups + t_n * dsp.block_cols * k * input_groups
                                    + m * n_dsp)
    return math.ceil(total)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Costs of many designs of one workload: float64/bool arrays of shape ``[n_designs]``.

    ``lut_fraction`` (``[n_designs, n_layers]``) holds the splits used: the given fractions,
    and where the balance point was solved, the LUT core's share of the output channels of the
    layer's largest GEMM, ``n_lut/(n*count)`` (:func:`hwsim.fpga.analytic.exact_balance`), so a
    layer keeps work on the DSP core exactly when its solved fraction is below 1.
    """

    cycles: FloatArray
    latency_ms: FloatArray
    feasible: npt.NDArray[np.bool_]
    lut_fraction: FloatArray


class HeteroFpgaTarget(Target):
    """N3H-Core style FPGA: ``[fpga]`` + ``[dsp_core]`` + ``[lut_core]`` in the preset."""

    fidelities = ("analytic", "cycle")

    def __init__(self, hardware: Hardware) -> None:
        super().__init__(hardware)
        assert hardware.fpga and hardware.dsp_core and hardware.lut_core
        self.device = hardware.fpga
        self.lut_core = hardware.lut_core
        self.dsp_core = hardware.dsp_core

    def default_design(self, workload: Workload) -> Design:
        return default_design(workload)

    def cores(self, design: Design) -> tuple[LutCore, DspCore]:
        return design.lut_core or self.lut_core, design.dsp_core or self.dsp_core

    # ------------------------------------------------------------------------------ checks

    def _check_bits(self, workload: Workload, design: Design, lut: LutCore) -> None:
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
        if problems:
            raise DesignError(f"design for {workload.name!r} on {self.name!r}", problems)

    # ------------------------------------------------------------------------------ balance

    def solve_splits(self, workload: Workload, design: Design) -> list[float]:
        """Per-layer ``lut_fraction``: the design's, or the balance point of the layer's largest
        GEMM (the exact integer optimum as ``n_lut/(n*count)``, or N3H-Core's 0.01 sweep); a
        GEMM of several independent repetitions balances whole repetitions, one of dependent
        repetitions (an LSTM's steps) each step's channels."""
        lut, dsp = self.cores(design)
        fractions: list[float] = []
        for i, layer in enumerate(workload.layers):
            given = design.lut_fraction[i]
            if given is not None:
                fractions.append(float(given))
                continue
            g = max(layer.gemms(), key=lambda g: g.macs)
            wb, ab = design.weight_bits[i], design.act_bits[i]
            if design.balance == "n3h-sweep":
                fractions.append(float(analytic.n3h_sweep_balance(g.m, g.n, g.k, wb, ab, lut,
                                                                  dsp, count=g.count,
                                                                  independent=g.independent)))
            else:
                n_lut, _ = analytic.exact_balance(g.m, g.n, g.k, wb, ab, lut, dsp,
                                                  count=g.count, independent=g.independent)
                fractions.append(int(n_lut) / (g.n * g.count))
        return fractions

    # ------------------------------------------------------------------------------ evaluate

    def _evaluate(self, workload: Workload, design: Design, fidelity: str) -> CostReport:
        workload = design.apply_to(workload)
        lut, dsp = self.cores(design)
        self._check_bits(workload, design, lut)
        fractions = self.solve_splits(workload, design)
        layers: list[LayerCost] = []
        reasons: list[str] = []
        dsp_act_max = 1
        for i, layer in enumerate(workload.layers):
            wb, ab, rho = design.weight_bits[i], design.act_bits[i], fractions[i]
            lut_total = dsp_total = cycles = 0.0
            traffic = lut_channels = 0
            stages: dict[str, Any] = {}
            gemms = layer.gemms()
            main = max(gemms, key=lambda g: g.macs)
            for g in gemms:
                n_lut, c_lut, n_dsp, c_dsp = analytic.split_gemm(g.n, g.count, rho,
                                                                 g.independent)
                if n_dsp * c_dsp:
                    dsp_act_max = max(dsp_act_max, ab)
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
                weight_bits=wb, act_bits=ab, lut_fraction=rho,
                lut_channels=lut_channels, lut_cycles=lut_total, dsp_cycles=dsp_total,
                cycles=cycles, bound="lut" if lut_total >= dsp_total else "dsp",
                dram_bytes=traffic, stages=stages))
        used = total_resources(self.device, dsp, lut, dsp_act_max)
        fits, violations = check_feasible(used, self.device)
        limits = {"lut": self.device.lut, "ff": self.device.ff, "dsp": self.device.dsp,
                  "bram36": self.device.bram36, "uram": self.device.uram}
        resources = {f.name: int(getattr(used, f.name)) for f in dataclasses.fields(Resources)
                     if f.name in limits}
        notes = ("analytic: N3H-Core's released latency equations (REFERENCE.md section 1); "
                 "DRAM bytes first-order",) if fidelity == "analytic" else (
                 "cycle: stage-level simulation with a shared DRAM port (hwsim.fpga.cycle)",)
        return CostReport(
            target=self.name, workload=workload.name, fidelity=fidelity,
            clock_mhz=self.device.clock_mhz, layers=tuple(layers), resources=resources,
            limits=limits, feasible=fits and not reasons,
            violations=tuple(violations) + tuple(dict.fromkeys(reasons)), notes=notes)

    # ------------------------------------------------------------------------------ batch

    def evaluate_batch(self, workload: Workload, weight_bits: Any, act_bits: Any,
                       lut_fraction: Any | None = None, *, lut_core: LutCore | None = None,
                       dsp_core: DspCore | None = None) -> BatchResult:
        """Analytic cost of many designs at once (the search inner loop).

        :param weight_bits, act_bits: int arrays ``[n_designs, n_layers]``.
        :param lut_fraction: float array of the same shape; NaN (or ``None`` for all) solves
            that layer's exact balance point (on its largest GEMM, by whole repetitions when
            that GEMM has several independent ones).
        :param lut_core, dsp_core: core sizes shared by the batch (default: the preset's).
        """
        lut = lut_core or self.lut_core
        dsp = dsp_core or self.dsp_core
        wb = np.atleast_2d(np.asarray(weight_bits, dtype=np.int64))
        ab = np.atleast_2d(np.asarray(act_bits, dtype=np.int64))
        rho = (np.full(wb.shape, np.nan) if lut_fraction is None
               else np.atleast_2d(np.asarray(lut_fraction, dtype=np.float64)).copy())
        arrays = workload.to_arrays()
        missing = np.isnan(rho)
        if missing.any():
            main = _main_gemms(workload)
            d_idx, l_idx = np.nonzero(missing)
            g = main[l_idx]
            n, reps = arrays.n[g], arrays.count[g]
            n_lut, _ = analytic.exact_balance(arrays.m[g], n, arrays.k[g], wb[d_idx, l_idx],
                                              ab[d_idx, l_idx], lut, dsp, count=reps,
                                              independent=arrays.independent[g])
            rho[d_idx, l_idx] = n_lut / (n * reps)
        cycles = analytic.batch_network_cycles(arrays, wb, ab, rho, lut, dsp)
        feasible = np.isfinite(cycles)
        # Resources depend on the designs only through the widest activation on the DSP core,
        # over every GEMM that leaves it work (analytic.split_gemm, vectorised).
        rho_g = rho[:, arrays.layer]
        count = arrays.count
        by_repetition = (count > 1) & (arrays.independent != 0)
        dsp_share = np.where(by_repetition, count - np.rint(count * rho_g),
                             np.rint(arrays.n * (1 - rho_g)))
        widest = np.where(dsp_share > 0, ab[:, arrays.layer], 1).max(axis=1)
        for bits in np.unique(widest):
            if not _fits(self.device, dsp, lut, int(bits)):
                feasible &= widest != bits
        return BatchResult(cycles=cycles, latency_ms=cycles / (self.device.clock_mhz * 1e3),
                           feasible=feasible, lut_fraction=rho)


@functools.lru_cache(maxsize=4096)
def _fits(device: FpgaDevice, dsp: DspCore, lut: LutCore, act_bits_max: int) -> bool:
    return check_feasible(total_resources(device, dsp, lut, act_bits_max), device)[0]


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
    macs = arrays.macs
    first = arrays.first_gemm
    main = first[:-1].copy()
    for i in np.nonzero(np.diff(first) > 1)[0]:  # only layers with several GEMMs need a search
        main[i] = first[i] + int(np.argmax(macs[first[i]:first[i + 1]]))
    return main


register_target(
    lambda hw: hw.fpga is not None and hw.dsp_core is not None and hw.lut_core is not None,
    HeteroFpgaTarget,
    "heterogeneous FPGA (presets with [fpga], [dsp_core] and [lut_core], e.g. n3h-zcu102)",
)
