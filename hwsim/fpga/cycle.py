"""Cycle tier of N3H-Core's heterogeneous DSP + LUT GEMM cores: a tile-level simulation.

Sources: Gong, Xu, He et al., "N3H-Core", FPGA'22 (arXiv 2112.08193) and the authors' released
latency model (github.com/zhihanxu/N3H-Core, ``lib/env/linear_quantize_env_ru.py``: ``cal_bismo``,
``cal_dsp``), REFERENCE.md section 1; the LUT core is BISMO (Umuroglu, Rasnayake, Sjalander,
FPL'18; TRETS'19) whose instruction generators (github.com/EECS-NTNU/bismo,
``src/main/resources/hls/{Fetch,Exec,Result}InstrGen.cpp``) give the stage and token structure;
the DSP core is a 16x16 VTA-style block (Moreau et al., "A Hardware-Software Blueprint for
Flexible Deep Learning Specialization", IEEE Micro'19): load, compute, store.

What is simulated
-----------------
Each core is three in-order stages, each running its own instruction stream. One instruction is
one tile: a DMA of one activation or weight tile, one tile product, one result write. Stages
hand buffers to each other through token queues (BISMO's sync FIFOs, VTA's dependency queues):
a consumer waits for a "filled" token, a producer for a "free" one. Each queue is as deep as the
buffer regions it guards (a credit protocol, so no queue overflows). A DMA costs a fixed setup
(no bandwidth used) and then its bytes at the engine's width. All DMA engines of both cores
share ONE DRAM port of ``dram_bytes_per_cycle``.

* **LUT core** (BISMO): *fetch* (activation and weight tiles), *execute* (tile products),
  *result* (accumulator write-back), after a 238-cycle launch. **DSP core** (16x16 block):
  *load* (input sub-tiles and weight chunks), *compute*, *store*, after 32 cycles. Their tiling,
  per-op cycle formulas and token structure are in :mod:`hwsim.fpga.cycle_schedules`.
* **Shared DRAM port**: round-robin arbitration between the engines that are transferring,
  modelled in its fluid limit, max-min fair sharing: every active transfer gets an equal share
  of the port, capped by its engine's width, and what a capped engine leaves goes to the others.
  Reads and writes (result writes, stores) share it. With ``dram_bytes_per_cycle = inf``
  every engine runs at its own width (a dedicated port).
  A layer runs the LUT core on ``n_L = round(n*lut_fraction)`` output channels and the DSP core
  on ``n - n_L`` (channels are conserved; the analytic tier rounds both shares) from cycle 0;
  it ends when both have.
* **Repetitions** (``count > 1``: groups of a grouped or depthwise convolution, heads,
  experts): split whole, as in the analytic tier, ``c_L = round(count*lut_fraction)`` on the
  LUT core and ``c_D = count - c_L`` on the DSP core, each with all ``n`` channels. A core runs
  its repetitions back to back as one instruction stream: one launch, and the token queues
  carry over, so a repetition's first fetches overlap the previous one's last products. The
  two streams share the port while both run; the longer one finishes alone.
* **Dependent repetitions** (``independent=False``: an LSTM's time steps, each needing the
  previous one's hidden state): each step is split by output channels as a ``count == 1``
  GEMM, and the steps run one after another, each starting when both cores have finished the
  previous one (no overlap across steps: the next step's activations do not exist yet). The
  steps are identical, so one step is simulated and its cycles, bytes, ops and stall and
  contention times are multiplied by ``count`` (``events`` stays the one step's).

The simulation is event driven at tile granularity: identical cycles inside a tile are one
event, so a layer costs a few events per tile product, not per cycle (ResNet-18's largest
GEMM is about 17 k events, about a millisecond in numba). ``dram_contention_cycles`` is the transfer
time lost to sharing: the integral over transfers of ``1 - rate/solo_rate``, with
``solo_rate = min(engine width, port)``. It is part of a stage's busy time.

The event engine (stages, token queues, the shared port and its accounting) is
:mod:`hwsim.engine.events`; this module builds both cores' ops into one table, runs it and
returns the records below.

How far the cycle tier is from the analytic tier, and why: :mod:`hwsim.fpga.cycle_bands`
(re-exported here: :func:`lut_agreement`, :func:`dsp_agreement`, :class:`Agreement`,
:data:`AGREEMENT_TOLERANCE`). In short: within 15 % plus one pipeline fill and drain where
both tiers compose the operations alike, and named regimes (``"fetch_overlap"``,
``"stall_miscount"``, ``"result_bound"``, ``"load_miscount"``, ``"store_bound"``) where the
equations miscount or leave out a term.

Laws
----
Contention exists only in this tier, and it only slows a core down: with the other core on the
port, each core is at least as slow as alone on the same port. A wider port never slows a core
that is alone on it. With both cores on it, a wider port can reorder which transfers overlap,
so one core can lose a few per cent while the other gains (4.3 % worst in 45 k random layers);
the layer never lost more than 0.05 %. These are tested laws, not proven ones: every transfer
runs at most at its solo rate, and an in-order stage behind token queues starts an op late
only when something before it was late, but sharing can reorder overlaps.

A bigger buffer regroups the tiles into rounds (regions). A smaller last round can leave its
weight fetches unhidden, so a bigger buffer can be slower, by less than one round's (region's)
share of its fetch (load) work: up to 25 % on small GEMMs, never more than 0.75 of that share
in 47 k random cases (tested with the share as the bound).

Kernels are ``numba.njit`` functions (the engine's :func:`~hwsim.engine.events.simulate`, the
builders of :mod:`hwsim.fpga.cycle_schedules`) behind the validating public functions; this
module holds them under the private names ``_simulate``, ``_finish_op``, ``_set_op``,
``_build_lut`` and ``_build_dsp``. ``.py_func`` gives the plain Python and
``NUMBA_DISABLE_JIT=1`` runs everything as Python.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.engine.events import OpTable
from hwsim.engine.events import finish_op as _finish_op  # noqa: F401  (its .py_func: see tests)
from hwsim.engine.events import set_op as _set_op  # noqa: F401  (its .py_func: see tests)
from hwsim.engine.events import simulate as _simulate
from hwsim.errors import Checker, CodesignError, RecordError

# importable from here before the engine split; their home is hwsim.fpga.analytic
from hwsim.fpga.analytic import dsp_core_cycles, lut_core_cycles, split_gemm  # noqa: F401
from hwsim.fpga.cycle_bands import AGREEMENT_TOLERANCE, Agreement, dsp_agreement, lut_agreement
from hwsim.fpga.cycle_schedules import (
    DSP_LAUNCH_CYCLES,
    DSP_STAGES,
    LUT_LAUNCH_CYCLES,
    LUT_STAGES,
    DspPlan,
    LutPlan,
    dsp_plan,
    lut_plan,
)
from hwsim.fpga.cycle_schedules import build_dsp as _build_dsp
from hwsim.fpga.cycle_schedules import build_lut as _build_lut
from hwsim.spec.records import DspCore, LutCore

__all__ = [
    "CoreSim",
    "LayerSim",
    "StageSim",
    "AGREEMENT_TOLERANCE",
    "Agreement",
    "dsp_agreement",
    "lut_agreement",
    "simulate_dsp_core",
    "simulate_layer",
    "simulate_lut_core",
]

# ---------------------------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageSim:
    """Where one pipeline stage's time went.

    ``busy_cycles + stall_cycles`` is the core's latency. Busy: an op in progress (a DMA's
    setup and transfer, a tile product). Stall: no op in progress, waiting for a token (a
    buffer to fill or drain), for the core's launch, or done while the other stages drain.
    ``dram_contention_cycles`` is the part of busy time lost to sharing the DRAM port.
    """

    name: str
    busy_cycles: float
    stall_cycles: float
    ops: int
    dram_bytes: float
    dram_contention_cycles: float

    @property
    def utilisation(self) -> float:
        """Busy share of the core's latency, in [0, 1]."""
        total = self.busy_cycles + self.stall_cycles
        return self.busy_cycles / total if total > 0 else 0.0


@dataclass(frozen=True, slots=True)
class CoreSim:
    """One core's simulated run: latency, its three stages, DRAM traffic.

    ``channels`` counts the output channels it computed over all its repetitions. ``tiling``
    names the tile counts the schedule used, e.g. ``("R", 51)``, per repetition, and
    ``("repetitions", c)`` when it ran ``c > 1`` repetitions back to back, ``("steps", c)``
    when it ran ``c > 1`` dependent repetitions one after another.
    """

    name: str
    channels: int
    cycles: float
    stages: tuple[StageSim, ...]
    dram_bytes: float
    dram_contention_cycles: float
    tiling: tuple[tuple[str, int], ...]

    def stage(self, name: str) -> StageSim:
        """The stage called ``name`` (LUT: fetch, execute, result; DSP: load, compute, store)."""
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"{self.name} core has no stage {name!r}; it has "
                       f"{', '.join(s.name for s in self.stages)}")


@dataclass(frozen=True, slots=True)
class LayerSim:
    """A GEMM (all its repetitions) simulated on the LUT and DSP cores sharing one DRAM port.

    ``total_cycles = max(lut_cycles, dsp_cycles)``; a core with no channels takes 0 cycles and
    has no :class:`CoreSim`. ``lut_channels`` and ``dsp_channels`` count each core's output
    channels over the whole GEMM (``c_L*n`` and ``c_D*n`` when the GEMM's ``count > 1`` is
    split by repetitions); ``lut_repetitions`` and ``dsp_repetitions`` say how many repetitions
    each core runs (1 for a core with channels of a ``count == 1`` GEMM, ``count`` for one with
    channels of a GEMM of dependent repetitions, 0 for an idle core). ``dram_bytes`` and
    ``dram_contention_cycles`` add up both cores; ``events`` counts the simulation's steps (of
    one step for dependent repetitions). An infeasible layer (a buffer cannot hold one tile)
    has ``feasible=False``, the reason, ``inf`` cycles on the core that cannot run, and no core
    records.
    """

    feasible: bool
    reason: str
    total_cycles: float
    lut_cycles: float
    dsp_cycles: float
    lut_channels: int
    dsp_channels: int
    lut_repetitions: int
    dsp_repetitions: int
    lut: CoreSim | None
    dsp: CoreSim | None
    dram_bytes: float
    dram_contention_cycles: float
    events: int

    @property
    def stages(self) -> dict[str, StageSim]:
        """Every stage of both cores, keyed ``"lut.fetch"``, ``"dsp.compute"``, ..."""
        out: dict[str, StageSim] = {}
        for core in (self.lut, self.dsp):
            if core is not None:
                for s in core.stages:
                    out[f"{core.name}.{s.name}"] = s
        return out


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------


MAX_SIMULATED_OPS = 5_000_000
"""Most tile operations one simulation takes (about 360 MiB of op tables, 72 bytes an op, and
seconds of event simulation); ResNet-18's whole network is about 44,000. Larger GEMMs are
refused with a message rather than left to exhaust the machine."""


def _run(lut: LutPlan | None, dsp: DspPlan | None, n_l: int, c_l: int, n_d: int, c_d: int,
         port: float) -> tuple[CoreSim | None, CoreSim | None, int]:
    """Build both cores' ops into one op table and simulate them on one port; the LUT core runs
    ``c_l`` repetitions of its plan back to back, the DSP core ``c_d``."""
    n_ops = (lut.n_ops * c_l if lut else 0) + (dsp.n_ops * c_d if dsp else 0)
    if n_ops > MAX_SIMULATED_OPS:
        raise CodesignError(
            f"GEMM too large for the cycle tier: {n_ops:,} tile operations to simulate (at most "
            f"{MAX_SIMULATED_OPS:,}); use the analytic tier (--fidelity analytic)")
    n_sems = (lut.n_sems if lut else 0) + (dsp.n_sems if dsp else 0)
    tab = OpTable.empty(n_ops, n_sems)
    first: list[int] = []  # three engine stages a core: their op ranges
    last: list[int] = []
    starts: list[float] = []
    op0 = sem0 = 0
    if lut is not None:
        x0, r0, end = _build_lut(lut.t_m, lut.t_n, lut.big_r, lut.rhs_regions, lut.act_bytes,
                                 lut.wgt_bytes, lut.res_bytes, lut.width, lut.c_ex, c_l, op0,
                                 sem0, tab.fixed, tab.nbytes, tab.cap, tab.wait, tab.signal,
                                 tab.queue_init)
        first += [op0, x0, r0]
        last += [x0, r0, end]
        starts += [LUT_LAUNCH_CYCLES] * 3
        op0, sem0 = end, sem0 + lut.n_sems
    if dsp is not None:
        c0, s0, end = _build_dsp(dsp.m, dsp.t_k, dsp.t_n, dsp.r_l, dsp.r_r, dsp.weight_regions,
                                 dsp.wgt_block_bytes, dsp.wgt_width, dsp.in_word_bytes,
                                 dsp.out_vec_bytes, dsp.cycles_per_block, c_d, op0, sem0,
                                 tab.fixed, tab.nbytes, tab.cap, tab.wait, tab.signal,
                                 tab.queue_init)
        first += [op0, c0, s0]
        last += [c0, s0, end]
        starts += [DSP_LAUNCH_CYCLES] * 3
    busy, contention, finish, events, stuck = _simulate(
        np.array(first, np.int64), np.array(last, np.int64), np.array(starts), tab.fixed,
        tab.nbytes, tab.cap, tab.wait, tab.signal, tab.queue_init, float(port))
    if stuck:  # pragma: no cover - a schedule bug, never a user error
        raise RuntimeError("cycle simulation deadlocked; please report the GEMM and cores")

    def core_sim(name: str, engine: int, stage_names: tuple[str, ...], channels: int,
                 reps: int, tiling: tuple[tuple[str, int], ...]) -> CoreSim:
        if reps > 1:
            tiling += (("repetitions", reps),)
        # the engine's accounting, as hwsim.engine.events.stage_runs but without its records
        # (a few microseconds a layer); stall is measured to the core's end, its last stage
        end_cycles = float(max(finish[engine:engine + 3]))
        stages = tuple(StageSim(
            name=stage_name,
            busy_cycles=float(busy[e]),
            stall_cycles=end_cycles - float(busy[e]),
            ops=last[e] - first[e],
            dram_bytes=float(tab.nbytes[first[e]:last[e]].sum()),
            dram_contention_cycles=float(contention[e]),
        ) for e, stage_name in enumerate(stage_names, start=engine))
        return CoreSim(name=name, channels=channels * reps, cycles=end_cycles, stages=stages,
                       dram_bytes=sum(st.dram_bytes for st in stages),
                       dram_contention_cycles=sum(st.dram_contention_cycles for st in stages),
                       tiling=tiling)

    lut_sim = dsp_sim = None
    if lut is not None:
        lut_sim = core_sim("lut", 0, LUT_STAGES, n_l, c_l, (
            ("T_m", lut.t_m), ("T_n", lut.t_n), ("T_k", lut.t_k), ("R", lut.big_r),
            ("rhs_regions", lut.rhs_regions)))
    if dsp is not None:
        dsp_sim = core_sim("dsp", 3 if lut is not None else 0, DSP_STAGES, n_d, c_d, (
            ("T_n", dsp.t_n), ("T_k", dsp.t_k), ("r_l", dsp.r_l), ("r_r", dsp.r_r),
            ("weight_regions", dsp.weight_regions)))
    return lut_sim, dsp_sim, int(events)


def _check_gemm(c: Checker, m: Any, n: Any, k: Any) -> None:
    for name, value in (("m", m), ("n", n), ("k", k)):
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
        c.require(bool(ok), name, value, "must be an int >= 1")


def _check_count(c: Checker, count: Any) -> None:
    ok = isinstance(count, (int, np.integer)) and not isinstance(count, bool) and count >= 1
    c.require(bool(ok), "count", count, "must be an int >= 1 (the GEMM's repetitions)")


def _check_bits(c: Checker, name: str, value: Any, hi: int) -> None:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 1 <= value <= hi
    c.require(bool(ok), name, value, f"must be an int in [1, {hi}]")


def _check_port(c: Checker, value: Any) -> None:
    ok = (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
          and value > 0)  # NaN fails the comparison
    c.require(bool(ok), "dram_bytes_per_cycle", value,
              "must be a number > 0 (math.inf: every DMA engine at its own width)")


def _infeasible(reason: str, n_l: int, c_l: int, n_d: int, c_d: int) -> LayerSim:
    return LayerSim(feasible=False, reason=reason, total_cycles=math.inf,
                    lut_cycles=math.inf if n_l else 0.0, dsp_cycles=math.inf if n_d else 0.0,
                    lut_channels=n_l * c_l, dsp_channels=n_d * c_d, lut_repetitions=c_l,
                    dsp_repetitions=c_d, lut=None, dsp=None, dram_bytes=0.0,
                    dram_contention_cycles=0.0, events=0)


def _layer(m: int, n_l: int, c_l: int, n_d: int, c_d: int, k: int, w_bits: int, a_bits: int,
           lut_core: LutCore | None, dsp_core: DspCore | None, port: float, ping_pong: bool
           ) -> LayerSim:
    """The LUT core runs ``n_l`` channels on each of ``c_l`` repetitions, the DSP core ``n_d``
    on each of ``c_d``; a core with ``n_x*c_x == 0`` is idle."""
    if not c_l:
        n_l = 0
    if not c_d:
        n_d = 0
    lut = lut_plan(m, n_l, k, w_bits, a_bits, lut_core) if n_l and lut_core else None
    dsp = dsp_plan(m, n_d, k, a_bits, dsp_core, ping_pong) if n_d and dsp_core else None
    problems = [p for p in (lut, dsp) if isinstance(p, str)]
    if problems:
        return _infeasible("; ".join(problems), n_l, c_l, n_d, c_d)
    assert not isinstance(lut, str) and not isinstance(dsp, str)
    lut_sim, dsp_sim, events = _run(lut, dsp, n_l, c_l, n_d, c_d, port)
    lut_cycles = lut_sim.cycles if lut_sim else 0.0
    dsp_cycles = dsp_sim.cycles if dsp_sim else 0.0
    sims = [c for c in (lut_sim, dsp_sim) if c is not None]
    return LayerSim(
        feasible=True, reason="", total_cycles=max(lut_cycles, dsp_cycles),
        lut_cycles=lut_cycles, dsp_cycles=dsp_cycles, lut_channels=n_l * c_l,
        dsp_channels=n_d * c_d, lut_repetitions=c_l, dsp_repetitions=c_d,
        lut=lut_sim, dsp=dsp_sim, dram_bytes=sum(c.dram_bytes for c in sims),
        dram_contention_cycles=sum(c.dram_contention_cycles for c in sims), events=events)


def _scale_core(core: CoreSim | None, steps: int) -> CoreSim | None:
    if core is None:
        return None
    stages = tuple(dataclasses.replace(
        st, busy_cycles=st.busy_cycles * steps, stall_cycles=st.stall_cycles * steps,
        ops=st.ops * steps, dram_bytes=st.dram_bytes * steps,
        dram_contention_cycles=st.dram_contention_cycles * steps) for st in core.stages)
    return dataclasses.replace(
        core, channels=core.channels * steps, cycles=core.cycles * steps, stages=stages,
        dram_bytes=core.dram_bytes * steps,
        dram_contention_cycles=core.dram_contention_cycles * steps,
        tiling=(*core.tiling, ("steps", steps)))


def _steps(sim: LayerSim, steps: int) -> LayerSim:
    """``steps`` dependent repetitions of the one-step ``sim``, one after another (see the
    module notes): every total times ``steps``; ``events`` stays the one simulated step's."""
    if steps == 1:
        return sim
    return dataclasses.replace(
        sim, total_cycles=sim.total_cycles * steps, lut_cycles=sim.lut_cycles * steps,
        dsp_cycles=sim.dsp_cycles * steps, lut_channels=sim.lut_channels * steps,
        dsp_channels=sim.dsp_channels * steps, lut_repetitions=sim.lut_repetitions * steps,
        dsp_repetitions=sim.dsp_repetitions * steps, lut=_scale_core(sim.lut, steps),
        dsp=_scale_core(sim.dsp, steps), dram_bytes=sim.dram_bytes * steps,
        dram_contention_cycles=sim.dram_contention_cycles * steps)


def _check_flag(c: Checker, independent: Any) -> None:
    ok = isinstance(independent, (bool, np.bool_))
    c.require(ok, "independent", independent,
              "must be a bool (whether the repetitions may run concurrently)")


def _check_cores(lut_core: object, dsp_core: object) -> None:
    if lut_core is not None and not isinstance(lut_core, LutCore):
        raise TypeError(f"lut_core: expected a LutCore, got {type(lut_core).__name__}")
    if dsp_core is not None and not isinstance(dsp_core, DspCore):
        raise TypeError(f"dsp_core: expected a DspCore, got {type(dsp_core).__name__}")


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------


def simulate_layer(m: int, n: int, k: int, w_bits: int, a_bits: int, lut_fraction: float,
                   lut_core: LutCore, dsp_core: DspCore, dram_bytes_per_cycle: float, *,
                   count: int = 1, independent: bool = True,
                   dsp_weight_ping_pong: bool = False) -> LayerSim:
    """Simulate one ``(m x k) @ (k x n)`` GEMM, repeated ``count`` times, split between the LUT
    and DSP cores; the result covers all the repetitions.

    ``count == 1``: ``n_L = round(n*lut_fraction)`` (half to even) output channels go to the
    LUT core, the other ``n - n_L`` to the DSP core. ``count > 1``: whole repetitions are split
    as in the analytic tier, ``c_L = round(count*lut_fraction)`` of them (all ``n`` channels
    each) to the LUT core and ``c_D = count - c_L`` to the DSP core. Each core runs its
    repetitions back to back as one instruction stream (one launch; a repetition's first
    fetches overlap the previous one's last products), while the other core runs its own on the
    shared port; when one core is done the other has the port to itself. ``count > 1`` and not
    ``independent`` (an LSTM's time steps): every step is split by channels as for
    ``count == 1`` and the steps run one after another; one step is simulated and multiplied by
    ``count`` (see the module notes).

    :param m: output pixels (GEMM rows), >= 1.
    :param n: output channels of one repetition, >= 1.
    :param k: reduction length, >= 1.
    :param w_bits: LUT-core weight bits, 1..``lut_core.max_bits`` (DSP-core weights keep
        ``dsp_core.weight_bits``).
    :param a_bits: activation bits, 1..``lut_core.max_bits`` (and <= 8 when the DSP core has
        channels); the DSP core packs two MACs per DSP when ``a_bits <= pack_act_bits``.
    :param lut_fraction: share of output channels on the LUT core, in [0, 1].
    :param dram_bytes_per_cycle: the DRAM port both cores share, bytes per core clock cycle
        (an :class:`~hwsim.spec.records.FpgaDevice`'s ``dram_bytes_per_cycle``); ``math.inf``
        lets every DMA engine run at its own width.
    :param count: repetitions of the GEMM (``Gemm.count``: groups, heads, experts, time
        steps), >= 1.
    :param independent: whether the repetitions may run concurrently on different cores
        (``Gemm.independent``); false for an LSTM's time steps.
    :param dsp_weight_ping_pong: split the DSP weight buffer into two halves so that weight loads
        overlap compute (not in the N3H-Core equations; see :mod:`hwsim.fpga.cycle_schedules`).
    :return: the :class:`LayerSim`; ``feasible=False`` with a reason when a buffer cannot hold
        one tile. Malformed input raises :class:`~hwsim.errors.RecordError`.
    """
    _check_cores(lut_core, dsp_core)
    c = Checker()
    _check_gemm(c, m, n, k)
    _check_bits(c, "w_bits", w_bits, lut_core.max_bits)
    _check_bits(c, "a_bits", a_bits, lut_core.max_bits)
    ok = (isinstance(lut_fraction, (int, float, np.integer, np.floating))
          and not isinstance(lut_fraction, bool) and 0.0 <= lut_fraction <= 1.0)
    c.require(bool(ok), "lut_fraction", lut_fraction, "must be a number in [0, 1]")
    _check_port(c, dram_bytes_per_cycle)
    _check_count(c, count)
    _check_flag(c, independent)
    c.raise_if_any(RecordError, "simulate_layer input")
    steps = 1  # dependent repetitions: one simulated step, times count
    n_l, c_l, n_d, c_d = split_gemm(int(n), int(count), float(lut_fraction), bool(independent))
    if count == 1 or not independent:
        # The analytic tier's split, except that the DSP core takes the channels left,
        # n - n_L (the release's round(n*(1-rho)) can lose or add one: see analytic's notes).
        n_d = int(n) - n_l
        c_l, c_d = int(n_l > 0), int(n_d > 0)
        steps = int(count)
    if n_d:
        _check_bits(c, "a_bits", a_bits, 8)
        c.raise_if_any(RecordError, "simulate_layer input (the DSP core has 8-bit input words)")
    return _steps(_layer(int(m), n_l, c_l, n_d, c_d, int(k), int(w_bits), int(a_bits), lut_core,
                         dsp_core, float(dram_bytes_per_cycle), dsp_weight_ping_pong), steps)


def simulate_lut_core(m: int, n: int, k: int, w_bits: int, a_bits: int, core: LutCore,
                      dram_bytes_per_cycle: float, *, count: int = 1,
                      independent: bool = True) -> LayerSim:
    """Simulate the GEMM on the LUT core alone (all ``n`` channels of all ``count`` repetitions,
    back to back, or one after another when they are not ``independent``), with the port to
    itself.

    Parameters as :func:`simulate_layer`; ``dsp_cycles`` is 0 and ``dsp`` is ``None``.
    """
    _check_cores(core, None)
    c = Checker()
    _check_gemm(c, m, n, k)
    _check_count(c, count)
    _check_flag(c, independent)
    _check_bits(c, "w_bits", w_bits, core.max_bits)
    _check_bits(c, "a_bits", a_bits, core.max_bits)
    _check_port(c, dram_bytes_per_cycle)
    c.raise_if_any(RecordError, "simulate_lut_core input")
    streamed = int(count) if independent else 1
    return _steps(_layer(int(m), int(n), streamed, 0, 0, int(k), int(w_bits), int(a_bits), core,
                         None, float(dram_bytes_per_cycle), False), int(count) // streamed)


def simulate_dsp_core(m: int, n: int, k: int, a_bits: int, core: DspCore,
                      dram_bytes_per_cycle: float, *, count: int = 1, independent: bool = True,
                      weight_ping_pong: bool = False) -> LayerSim:
    """Simulate the GEMM on the DSP core alone (all ``n`` channels of all ``count``
    repetitions, back to back, or one after another when they are not ``independent``; 8-bit
    weights), with the port to itself.

    Parameters as :func:`simulate_layer`; ``a_bits`` in 1..8; ``lut_cycles`` is 0 and ``lut``
    is ``None``.
    """
    _check_cores(None, core)
    c = Checker()
    _check_gemm(c, m, n, k)
    _check_count(c, count)
    _check_flag(c, independent)
    _check_bits(c, "a_bits", a_bits, 8)
    _check_port(c, dram_bytes_per_cycle)
    c.raise_if_any(RecordError, "simulate_dsp_core input")
    streamed = int(count) if independent else 1
    return _steps(_layer(int(m), 0, 0, int(n), streamed, int(k), 1, int(a_bits), None, core,
                         float(dram_bytes_per_cycle), weight_ping_pong), int(count) // streamed)
