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

* **LUT core** (BISMO, ``Dm x Dk x Dn``, ``T_x = ceil(x/D_x)``):
  *fetch* loads rounds of ``R = floor(LMEM/(T_k*Ab))`` m-tiles into the activation buffer (one
  buffer region per round, as the release's ``lmem_num_regions``). Per round it fetches
  n-tile 0's weights, the round's activation tiles, then the weights of n-tiles ``1..T_n-1``.
  Weight tiles go to ``floor(weight_buffer_depth/(T_k*Wb))`` regions (BISMO's RHS regions: double
  buffered when two fit). Every fetch costs ``46 + bytes/(f/8)`` cycles (the release's
  32 base + 9 transfer + 5 sync; ``f = dram_bits_per_cycle``), which is its ``C_Lf`` and
  ``C_Rf``. *execute* runs the round n-tile by n-tile, m-tile by m-tile,
  ``C_ex = (T_k+8)*Ab*Wb + 8`` cycles per tile product. Activation tiles carry one "filled"
  token each, so n-tile 0 streams behind the activation fetch; the activation region is freed
  once, after the round's last product, so the next round's fetch waits for it. *result*
  writes each ``Dm x Dn`` tile of 32-bit accumulators (BISMO's ``ResultType``) to DRAM through
  two result buffers (BISMO's ``offset_res`` toggles between 2), ``46 + Dm*Dn*4/(f/8)`` cycles.
  The stages start after the release's fixed ``238``-cycle launch.
* **DSP core** (16x16 block, 8-bit weights; ``k_c = 16`` input channels per k-tile, or ``32``
  when ``a_bits <= pack_act_bits`` packs two MACs per DSP; ``T_k = ceil(k/k_c)``,
  ``T_n = ceil(n/16)`` blocks): the input buffer holds one region of
  ``r_l = floor(Dl/T_k)`` pixels, loaded in sub-tiles of 16 pixels at one 16-byte word per cycle,
  ``33 + 16*T_k`` cycles per full sub-tile (the release's ``rdL``), each with its own "filled"
  token. The weight buffer holds one region of ``r_r = floor(Dr/(2*T_k))`` blocks (a block's
  k-tile is two 8-row words; the release's ``Dr_Num = 2``), ``40 + 16*T_k*r_r`` cycles (its
  ``rdR``: one weight row per cycle). *compute* takes 2 cycles per (pixel, block, k-tile)
  (the two 8-row halves; the release's ``EX``) plus 6 per chunk, sub-tile by sub-tile;
  *store* writes int8 outputs (16 bytes per pixel and block, ``32 + bytes/16`` cycles) through
  two output buffers. The load order per input region is: the first weight chunk, the region's
  input sub-tiles, the other weight chunks; so inputs stream behind compute, and a weight chunk
  loads while nothing computes (as the release's ``EX + rdR + rdL`` per iteration says).
  ``dsp_weight_ping_pong=True`` splits the weight buffer into two halves of
  ``floor(Dr/(4*T_k))`` blocks instead, so the next chunk loads while this one computes
  (VTA's double buffering); the release does not model that. The stages start after the
  release's fixed 32 cycles.
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

How far the cycle tier is from the analytic tier, and why
---------------------------------------------------------
Single core, dedicated port; ``err = cycle/analytic - 1``. Both tiers price every tile
operation the same way (the constants above), so they differ only in how the operations
compose. :func:`lut_agreement` and :func:`dsp_agreement` compute, per GEMM, the band the cycle
tier must fall in and name the regime; ``tests/hwsim/fpga/test_cycle.py`` checks the band on
880 sampled single-core runs (ResNet and MobileNet shapes, 1- to 8-bit; about 10 k more held
in development), and ``benchmarks/bench_fpga_cycle.py`` prints the ResNet-18 table.

* ``"matched"``: within :data:`AGREEMENT_TOLERANCE` (15 %) plus one pipeline fill and drain
  (``C_Lf + C_Rf + C_ex`` + one result write; for the DSP core one weight chunk, one input
  sub-tile, one compute and one store), which the equations' constants do not cover and which
  only matters below about 1e4 cycles. Measured: within 11 % from 1e5 cycles up. ResNet-18:
  the DSP core's 18 matched GEMMs ``-6.2 % .. +0.6 %``; the LUT core at A4W4 ``-7.9 % .. -3.5 %``.
* LUT ``"fetch_overlap"``: the equations charge every weight fetch serially (``T_n*C_Rf`` a
  round) and hide 3 products per n-tile (``(R-3)*(T_n-1)*C_ex``); the simulated weight buffer is
  double buffered (BISMO's RHS regions), so a fetch hides behind the previous n-tile's products,
  up to ``F_L*(T_n-1)*min(C_Rf, R*C_ex)`` cycles. Large where ``C_Rf/C_ex ~ 32/Ab`` is, at low
  activation bits on deep layers: ResNet-18 at A4W4 with ``k >= 1152``, ``-23 % .. -3 %``.
* LUT ``"stall_miscount"``: the release's stall terms count m-tiles by the buffer capacity
  ``R``, not by the tiles a round holds. Its ``S`` is 0 when ``I <= R+3`` or when a single round
  has ``r = T_m mod R <= 3`` (``r = 0`` when ``T_m = R``), so execute work goes missing:
  ResNet-18's ``m=49, k=2304, n=512`` at A8W8 gives 165,616 analytic cycles against 374,528
  cycles of tile products, and the cycle tier says 388,930 (+135 %). ``(R-3)`` hides 3 of a few
  m-tiles when rounds are small (ResNet-18's ``k=256`` at ``m=49``: +20 %); ``S`` and ``d``
  charge a partial last round, or ``R > T_m``, as a full round of ``R`` (tiny GEMMs: down to
  -97 %).
* LUT ``"result_bound"``: writing a product's ``Dm x Dn`` int32 accumulators,
  ``46 + 4*Dm*Dn/(f/8)`` cycles (110 for 8x16), is slower than computing it (``C_ex``: 44 at A2W2
  with ``k <= 128``); the equations have no result write-back. 14 of ResNet-18's 21 GEMMs at
  A2W2 (``+1 % .. +1026 %``; network +24 %).
* DSP ``"load_miscount"``: the release charges an input load per (input region, weight chunk)
  instead of once per region, always 16 pixels, and loads for leftover regions or chunks that
  are empty (``T_m mod r_l = 0``, ``T_n mod r_r = 0``). ResNet-18's ``k = 4608``: -11 %.
* DSP ``"store_bound"``: storing a sub-tile's outputs is slower than computing it
  (``T_k = 1``); the equations have no store.

For ``count > 1`` the analytic tier charges each repetition as a separate run
(``c_L*L_LUT``: each with its launch, fill and drain, and each with the per-GEMM differences
above); the streamed repetitions pay the launch once and overlap the fill and drain, which
takes up to ``c - 1`` of those off the cycle tier. Depthwise GEMMs (``n = 1``) are small and
sit in the regimes above: the LUT core's ``d`` counts the whole buffer (MobileNetV2's
``49 x 1 x 9``: 11,818 analytic cycles a repetition, about 1,400 simulated), and the DSP
core is store bound (about 2x the equations).

Network totals, ResNet-18 on the sanity hardware: DSP core -4.4 %; LUT core A8W8 +1.5 %,
A4W4 -7.2 %, A2W2 +23.7 %. Both cores at the analytic tier's balance point: -1.7 % on a
dedicated port; +17 % on a shared 16-byte port, +59 % on an 8-byte one, where the DSP core's 32
bytes per cycle of weight load are throttled even before the LUT core competes.

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

Kernels are private ``numba.njit`` functions behind the validating public functions; ``.py_func``
gives the plain Python and ``NUMBA_DISABLE_JIT=1`` runs everything as Python.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from hwsim.errors import Checker, RecordError
from hwsim.fpga.analytic import dsp_core_cycles, lut_core_cycles
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

# --- LUT core (BISMO) constants: the N3H-Core release's cal_bismo ----------------------------
_LUT_LAUNCH_CYCLES = 238.0  # base_latency
_LUT_DMA_SETUP_CYCLES = 46.0  # fetch_base 32 + fetch_trans (6+1+2) + sync_latency 5
_LUT_EXEC_SLICE_OVERHEAD = 8  # C_ex = (T_k + 8)*Ab*Wb + 8
_LUT_ACC_BYTES = 4  # BISMO's ResultType is int32
_LUT_RESULT_BUFFERS = 2  # BISMO ExecInstrGen: offset_res toggles between 2 result buffers

# --- DSP core constants: the release's cal_dsp ------------------------------------------------
_DSP_LAUNCH_CYCLES = 32.0  # the final "+ 32"
_DSP_WEIGHT_SETUP_CYCLES = 40.0  # readLatencyR: basicLatency 32 + OutputChannel/Dr_Num 8
_DSP_INPUT_SETUP_CYCLES = 33.0  # readLatencyL: basicLatency 32 + Batch 1
_DSP_STORE_SETUP_CYCLES = 32.0  # basicLatency
_DSP_CHUNK_OVERHEAD = 6  # EX = 2*T_k*r_r*r_l + 6
_RELEASE_DR_NUM = 2  # Dr_Num: the release's cycles per block, DspCore.cycles_per_block here
_DSP_SUBTILE_PIXELS = 16  # rdL = 33 + 16*T_k: 16 pixels, one input word per cycle
_DSP_OUTPUT_BUFFERS = 2

# --- kernel encoding ---------------------------------------------------------------------------
_WAIT, _FIXED, _XFER = 0, 1, 2
_MAX_DEPS = 3  # tokens one op may wait for / signal
_DONE_REL_TOL = 1e-9  # a transfer with this share of its bytes left has finished (rounding)

_LUT_STAGES = ("fetch", "execute", "result")
_DSP_STAGES = ("load", "compute", "store")


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
# kernels
# ---------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _simulate(eng_first: Any, eng_last: Any, eng_start: Any, op_fixed: Any, op_bytes: Any,
              op_cap: Any, op_wait: Any, op_sig: Any, sem_init: Any, port: float
              ) -> tuple[Any, Any, Any, int, bool]:
    """Run in-order engines over a shared DRAM port until every op is done.

    Engine ``e`` runs ops ``eng_first[e]:eng_last[e]`` in order, not before ``eng_start[e]``.
    An op waits until every semaphore in ``op_wait[i]`` (``-1``: none) holds a token and takes
    one from each, spends ``op_fixed[i]`` cycles, then moves ``op_bytes[i]`` bytes at up to
    ``op_cap[i]`` bytes/cycle, then adds a token to each semaphore in ``op_sig[i]``.
    Transfers in flight share ``port`` bytes/cycle max-min fairly.

    :return: per engine ``(busy, contention, finish)`` cycles, the number of events, and
        whether some engine was left waiting forever (a deadlock: a schedule bug).
    """
    n_eng = eng_first.shape[0]
    ptr = eng_first.copy()
    phase = np.zeros(n_eng, np.int64)
    t_end = np.zeros(n_eng)
    remaining = np.zeros(n_eng)
    op_start = np.zeros(n_eng)
    rate = np.zeros(n_eng)
    busy = np.zeros(n_eng)
    contention = np.zeros(n_eng)
    finish = eng_start.copy()
    sem = sem_init.copy()
    order = np.empty(n_eng, np.int64)
    t = 0.0
    events = 0
    while True:
        # start every op whose tokens are there; a zero-length op finishes at once and may
        # release tokens another engine is waiting for, hence the loop
        progressed = True
        while progressed:
            progressed = False
            for e in range(n_eng):
                if phase[e] != _WAIT or ptr[e] >= eng_last[e] or t < eng_start[e]:
                    continue
                i = ptr[e]
                ready = True
                for j in range(_MAX_DEPS):
                    s = op_wait[i, j]
                    if s >= 0 and sem[s] <= 0:
                        ready = False
                if not ready:
                    continue
                for j in range(_MAX_DEPS):
                    s = op_wait[i, j]
                    if s >= 0:
                        sem[s] -= 1
                op_start[e] = t
                if op_fixed[i] > 0.0:
                    phase[e] = _FIXED
                    t_end[e] = t + op_fixed[i]
                elif op_bytes[i] > 0.0:
                    phase[e] = _XFER
                    remaining[e] = op_bytes[i]
                else:
                    _finish_op(e, i, t, ptr, phase, busy, op_start, finish, eng_last, op_sig, sem)
                    progressed = True
        # max-min fair share of the port: serve the narrowest engines first
        n_act = 0
        for e in range(n_eng):
            if phase[e] == _XFER:
                pos = n_act
                while pos > 0 and op_cap[ptr[order[pos - 1]]] > op_cap[ptr[e]]:
                    order[pos] = order[pos - 1]
                    pos -= 1
                order[pos] = e
                n_act += 1
        left = port
        for a in range(n_act):
            e = order[a]
            rate[e] = min(op_cap[ptr[e]], left / (n_act - a))
            left -= rate[e]
        # next event: a setup ends, a transfer ends, or an engine's launch time comes
        t_next = np.inf
        who = -1
        for e in range(n_eng):
            if phase[e] == _FIXED:
                cand = t_end[e]
            elif phase[e] == _XFER:
                cand = t + remaining[e] / rate[e]
            elif ptr[e] < eng_last[e] and t < eng_start[e]:
                cand = eng_start[e]
            else:
                continue
            if cand < t_next:
                t_next = cand
                who = e
        if who < 0:
            break
        events += 1
        dt = t_next - t
        for a in range(n_act):
            e = order[a]
            remaining[e] -= rate[e] * dt
            contention[e] += dt * (1.0 - rate[e] / min(op_cap[ptr[e]], port))
        t = t_next
        for e in range(n_eng):
            i = ptr[e]
            if phase[e] == _FIXED and t_end[e] <= t:
                if op_bytes[i] > 0.0:
                    phase[e] = _XFER
                    remaining[e] = op_bytes[i]
                else:
                    _finish_op(e, i, t, ptr, phase, busy, op_start, finish, eng_last, op_sig, sem)
            elif phase[e] == _XFER and (e == who or remaining[e] <= _DONE_REL_TOL * op_bytes[i]):
                _finish_op(e, i, t, ptr, phase, busy, op_start, finish, eng_last, op_sig, sem)
    stuck = False
    for e in range(n_eng):
        if ptr[e] < eng_last[e]:
            stuck = True
    return busy, contention, finish, events, stuck


@numba.njit(cache=True)
def _finish_op(e: int, i: int, t: float, ptr: Any, phase: Any, busy: Any, op_start: Any,
               finish: Any, eng_last: Any, op_sig: Any, sem: Any) -> None:
    for j in range(_MAX_DEPS):
        s = op_sig[i, j]
        if s >= 0:
            sem[s] += 1
    busy[e] += t - op_start[e]
    ptr[e] += 1
    phase[e] = _WAIT
    if ptr[e] == eng_last[e]:
        finish[e] = t


@numba.njit(cache=True)
def _set_op(i: int, fixed: float, nbytes: float, cap: float, w0: int, w1: int, w2: int, s0: int,
            s1: int, s2: int, op_fixed: Any, op_bytes: Any, op_cap: Any, op_wait: Any,
            op_sig: Any) -> None:
    op_fixed[i] = fixed
    op_bytes[i] = nbytes
    op_cap[i] = cap
    op_wait[i, 0] = w0
    op_wait[i, 1] = w1
    op_wait[i, 2] = w2
    op_sig[i, 0] = s0
    op_sig[i, 1] = s1
    op_sig[i, 2] = s2


@numba.njit(cache=True)
def _build_lut(t_m: int, t_n: int, big_r: int, rhs_regions: int, act_bytes: float,
               wgt_bytes: float, res_bytes: float, width: float, c_ex: float, reps: int,
               op0: int, sem0: int, op_fixed: Any, op_bytes: Any, op_cap: Any, op_wait: Any,
               op_sig: Any, sem_init: Any) -> tuple[int, int, int]:
    """Write the LUT core's fetch, execute and result ops for ``reps`` repetitions of the GEMM
    from ``op0`` and its semaphores from ``sem0``; return the first op of the execute and result
    stages and the end."""
    f_l = (t_m + big_r - 1) // big_r
    n_fetch = reps * (f_l * t_n + t_m)
    n_prod = reps * t_m * t_n
    x0 = op0 + n_fetch
    r0 = x0 + n_prod
    region = sem0  # the activation buffer, one region per round
    lhs_full = sem0 + 1  # one "filled" token per m-tile slot
    rhs_free = lhs_full + big_r
    rhs_full = rhs_free + rhs_regions
    res_free = rhs_full + rhs_regions
    res_full = res_free + _LUT_RESULT_BUFFERS
    sem_init[region] = 1
    for s in range(rhs_regions):
        sem_init[rhs_free + s] = 1
    for q in range(_LUT_RESULT_BUFFERS):
        sem_init[res_free + q] = 1
    fi = op0
    xi = x0
    ri = r0
    fetched = 0  # weight tiles fetched so far: picks the RHS region
    for _ in range(reps):  # repetitions back to back, one instruction stream
        for f in range(f_l):
            mt = min(big_r, t_m - f * big_r)
            for j in range(t_n):
                s = (fetched + j) % rhs_regions
                _set_op(fi, _LUT_DMA_SETUP_CYCLES, wgt_bytes, width, rhs_free + s, -1, -1,
                        rhs_full + s, -1, -1, op_fixed, op_bytes, op_cap, op_wait, op_sig)
                fi += 1
                if j == 0:
                    for i in range(mt):
                        _set_op(fi, _LUT_DMA_SETUP_CYCLES, act_bytes, width,
                                region if i == 0 else -1, -1, -1, lhs_full + i, -1, -1,
                                op_fixed, op_bytes, op_cap, op_wait, op_sig)
                        fi += 1
            for j in range(t_n):
                s = (fetched + j) % rhs_regions
                for i in range(mt):
                    q = (xi - x0) % _LUT_RESULT_BUFFERS
                    last = i == mt - 1
                    _set_op(xi, c_ex, 0.0, 1.0, res_free + q,
                            lhs_full + i if j == 0 else -1, rhs_full + s if i == 0 else -1,
                            res_full + q, rhs_free + s if last else -1,
                            region if last and j == t_n - 1 else -1,
                            op_fixed, op_bytes, op_cap, op_wait, op_sig)
                    _set_op(ri, _LUT_DMA_SETUP_CYCLES, res_bytes, width, res_full + q, -1, -1,
                            res_free + q, -1, -1, op_fixed, op_bytes, op_cap, op_wait, op_sig)
                    xi += 1
                    ri += 1
            fetched += t_n
    return x0, r0, ri


@numba.njit(cache=True)
def _build_dsp(m: int, t_k: int, t_n: int, r_l: int, r_r: int, weight_regions: int,
               wgt_block_bytes: float, wgt_width: float, in_word_bytes: float,
               out_vec_bytes: float, cycles_per_block: int, reps: int, op0: int,
               sem0: int, op_fixed: Any, op_bytes: Any, op_cap: Any, op_wait: Any, op_sig: Any,
               sem_init: Any) -> tuple[int, int, int]:
    """Write the DSP core's load, compute and store ops for ``reps`` repetitions of the GEMM
    from ``op0`` and its semaphores from ``sem0``; return the first op of the compute and store
    stages and the end."""
    g_max = _DSP_SUBTILE_PIXELS
    n_regions = (m + r_l - 1) // r_l
    n_chunks = (t_n + r_r - 1) // r_r
    last_px = m - (n_regions - 1) * r_l
    n_sub = (n_regions - 1) * ((r_l + g_max - 1) // g_max) + (last_px + g_max - 1) // g_max
    c0 = op0 + reps * (n_regions * n_chunks + n_sub)
    s0 = c0 + reps * n_chunks * n_sub
    in_region = sem0
    in_full = sem0 + 1  # one "filled" token per 16-pixel sub-tile slot
    w_free = in_full + (r_l + g_max - 1) // g_max
    w_full = w_free + weight_regions
    out_free = w_full + weight_regions
    out_full = out_free + _DSP_OUTPUT_BUFFERS
    sem_init[in_region] = 1
    for b in range(weight_regions):
        sem_init[w_free + b] = 1
    for q in range(_DSP_OUTPUT_BUFFERS):
        sem_init[out_free + q] = 1
    li = op0
    ci = c0
    si = s0
    chunk = 0
    for _ in range(reps):  # repetitions back to back, one instruction stream
        for a in range(n_regions):
            pa = min(r_l, m - a * r_l)
            n_sa = (pa + g_max - 1) // g_max
            for b in range(n_chunks):
                blocks = min(r_r, t_n - b * r_r)
                w = chunk % weight_regions
                _set_op(li, _DSP_WEIGHT_SETUP_CYCLES, blocks * wgt_block_bytes, wgt_width,
                        w_free + w, -1, -1, w_full + w, -1, -1, op_fixed, op_bytes, op_cap,
                        op_wait, op_sig)
                li += 1
                if b == 0:
                    for s in range(n_sa):
                        g = min(g_max, pa - s * g_max)
                        _set_op(li, _DSP_INPUT_SETUP_CYCLES, g * t_k * in_word_bytes,
                                in_word_bytes, in_region if s == 0 else -1, -1, -1,
                                in_full + s, -1, -1, op_fixed, op_bytes, op_cap, op_wait, op_sig)
                        li += 1
                for s in range(n_sa):
                    g = min(g_max, pa - s * g_max)
                    q = (ci - c0) % _DSP_OUTPUT_BUFFERS
                    last = s == n_sa - 1
                    cycles = cycles_per_block * t_k * g * blocks
                    if last:
                        cycles += _DSP_CHUNK_OVERHEAD
                    _set_op(ci, cycles, 0.0, 1.0, out_free + q, w_full + w if s == 0 else -1,
                            in_full + s if b == 0 else -1, out_full + q, w_free + w if last else -1,
                            in_region if last and b == n_chunks - 1 else -1,
                            op_fixed, op_bytes, op_cap, op_wait, op_sig)
                    _set_op(si, _DSP_STORE_SETUP_CYCLES, g * blocks * out_vec_bytes, out_vec_bytes,
                            out_full + q, -1, -1, out_free + q, -1, -1,
                            op_fixed, op_bytes, op_cap, op_wait, op_sig)
                    ci += 1
                    si += 1
                chunk += 1
    return c0, s0, si


# ---------------------------------------------------------------------------------------------
# tiling (plain Python: the closed-form sizes the builders fill)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LutPlan:
    t_m: int
    t_n: int
    t_k: int
    big_r: int  # m-tiles per round (capped at T_m)
    rhs_regions: int
    act_bytes: float
    wgt_bytes: float
    res_bytes: float
    width: float
    c_ex: float

    @property
    def rounds(self) -> int:
        return -(-self.t_m // self.big_r)

    @property
    def n_ops(self) -> int:
        return self.rounds * self.t_n + self.t_m + 2 * self.t_m * self.t_n

    @property
    def n_sems(self) -> int:
        return 1 + self.big_r + 2 * self.rhs_regions + 2 * _LUT_RESULT_BUFFERS


@dataclass(frozen=True, slots=True)
class _DspPlan:
    m: int
    t_k: int
    t_n: int
    r_l: int  # pixels per input region (capped at m)
    r_r: int  # blocks per weight chunk (capped at T_n)
    weight_regions: int
    wgt_block_bytes: float
    wgt_width: float
    in_word_bytes: float
    out_vec_bytes: float
    cycles_per_block: int

    @property
    def n_regions(self) -> int:
        return -(-self.m // self.r_l)

    @property
    def n_chunks(self) -> int:
        return -(-self.t_n // self.r_r)

    @property
    def n_sub(self) -> int:
        g = _DSP_SUBTILE_PIXELS
        last_px = self.m - (self.n_regions - 1) * self.r_l
        return (self.n_regions - 1) * (-(-self.r_l // g)) + (-(-last_px // g))

    @property
    def n_ops(self) -> int:
        return self.n_regions * self.n_chunks + self.n_sub * (1 + 2 * self.n_chunks)

    @property
    def n_sems(self) -> int:
        return (1 + -(-self.r_l // _DSP_SUBTILE_PIXELS) + 2 * self.weight_regions
                + 2 * _DSP_OUTPUT_BUFFERS)


def _lut_plan(m: int, n: int, k: int, w_bits: int, a_bits: int, core: LutCore
              ) -> _LutPlan | str:
    t_m, t_n, t_k = -(-m // core.rows), -(-n // core.cols), -(-k // core.depth_bits)
    problems = []
    if t_k * a_bits > core.act_buffer_depth:
        problems.append(f"LUT core: one m-tile needs ceil(k/Dk)*a_bits = {t_k}*{a_bits} = "
                        f"{t_k * a_bits} activation-buffer entries, act_buffer_depth = "
                        f"{core.act_buffer_depth}")
    if t_k * w_bits > core.weight_buffer_depth:
        problems.append(f"LUT core: one n-tile needs ceil(k/Dk)*w_bits = {t_k}*{w_bits} = "
                        f"{t_k * w_bits} weight-buffer entries, weight_buffer_depth = "
                        f"{core.weight_buffer_depth}")
    if problems:
        return "; ".join(problems)
    width = core.dram_bits_per_cycle / 8.0
    return _LutPlan(
        t_m=t_m, t_n=t_n, t_k=t_k,
        big_r=min(core.act_buffer_depth // (t_k * a_bits), t_m),
        rhs_regions=min(core.weight_buffer_depth // (t_k * w_bits), t_n),
        act_bytes=core.rows * core.depth_bits * t_k * a_bits / 8.0,
        wgt_bytes=core.cols * core.depth_bits * t_k * w_bits / 8.0,
        res_bytes=float(core.rows * core.cols * _LUT_ACC_BYTES),
        width=width,
        c_ex=float((t_k + _LUT_EXEC_SLICE_OVERHEAD) * a_bits * w_bits
                   + _LUT_EXEC_SLICE_OVERHEAD),
    )


def _dsp_plan(m: int, n: int, k: int, a_bits: int, core: DspCore, ping_pong: bool
              ) -> _DspPlan | str:
    packed = a_bits <= core.pack_act_bits
    k_c = core.block_cols * (core.macs_per_dsp_packed if packed else 1)
    t_k = -(-k // k_c)
    t_n = -(-n // core.block_rows)
    # the block computes one weight word (a 1/cycles_per_block slice of its rows) a cycle
    words_per_block = core.cycles_per_block * t_k
    regions = 2 if ping_pong else 1
    problems = []
    if t_k > core.input_buffer_depth:
        problems.append(f"DSP core: one pixel needs T_k = ceil(k/{k_c}) = {t_k} input words, "
                        f"input_buffer_depth = {core.input_buffer_depth}")
    if regions * words_per_block > core.weight_buffer_depth:
        what = "each half of the weight buffer" if ping_pong else "the weight buffer"
        problems.append(f"DSP core: one block needs {words_per_block} weight words "
                        f"({core.cycles_per_block} per k-tile), {what} has "
                        f"{core.weight_buffer_depth // regions} (weight_buffer_depth = "
                        f"{core.weight_buffer_depth})")
    if problems:
        return "; ".join(problems)
    return _DspPlan(
        m=m, t_k=t_k, t_n=t_n,
        r_l=min(core.input_buffer_depth // t_k, m),
        r_r=min(core.weight_buffer_depth // (regions * words_per_block), t_n),
        weight_regions=regions,
        # one weight row of a block's k-tile a cycle (the release's 16 cycles a block k-tile)
        wgt_block_bytes=core.block_rows * k_c * core.weight_bits / 8.0 * t_k,
        wgt_width=k_c * core.weight_bits / 8.0,
        # one input word (a pixel's k-tile: 16 x int8, or 32 x int4 packed) a cycle
        in_word_bytes=k_c * (core.pack_act_bits if packed else 8) / 8.0,
        out_vec_bytes=float(core.block_rows),  # int8 outputs, one block's vector a cycle
        cycles_per_block=core.cycles_per_block,
    )


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------


def _run(lut: _LutPlan | None, dsp: _DspPlan | None, n_l: int, c_l: int, n_d: int, c_d: int,
         port: float) -> tuple[CoreSim | None, CoreSim | None, int]:
    """Build both cores' ops into one op table and simulate them on one port; the LUT core runs
    ``c_l`` repetitions of its plan back to back, the DSP core ``c_d``."""
    n_ops = (lut.n_ops * c_l if lut else 0) + (dsp.n_ops * c_d if dsp else 0)
    n_sems = (lut.n_sems if lut else 0) + (dsp.n_sems if dsp else 0)
    op_fixed = np.zeros(n_ops)
    op_bytes = np.zeros(n_ops)
    op_cap = np.ones(n_ops)
    op_wait = np.full((n_ops, _MAX_DEPS), -1, np.int64)
    op_sig = np.full((n_ops, _MAX_DEPS), -1, np.int64)
    sem_init = np.zeros(n_sems, np.int64)
    first: list[int] = []  # three engines a core: its stages' op ranges
    last: list[int] = []
    starts: list[float] = []
    op0 = sem0 = 0
    if lut is not None:
        x0, r0, end = _build_lut(lut.t_m, lut.t_n, lut.big_r, lut.rhs_regions, lut.act_bytes,
                                 lut.wgt_bytes, lut.res_bytes, lut.width, lut.c_ex, c_l, op0,
                                 sem0, op_fixed, op_bytes, op_cap, op_wait, op_sig, sem_init)
        first += [op0, x0, r0]
        last += [x0, r0, end]
        starts += [_LUT_LAUNCH_CYCLES] * 3
        op0, sem0 = end, sem0 + lut.n_sems
    if dsp is not None:
        c0, s0, end = _build_dsp(dsp.m, dsp.t_k, dsp.t_n, dsp.r_l, dsp.r_r, dsp.weight_regions,
                                 dsp.wgt_block_bytes, dsp.wgt_width, dsp.in_word_bytes,
                                 dsp.out_vec_bytes, dsp.cycles_per_block, c_d, op0, sem0,
                                 op_fixed, op_bytes, op_cap, op_wait, op_sig, sem_init)
        first += [op0, c0, s0]
        last += [c0, s0, end]
        starts += [_DSP_LAUNCH_CYCLES] * 3
    busy, contention, finish, events, stuck = _simulate(
        np.array(first, np.int64), np.array(last, np.int64), np.array(starts), op_fixed,
        op_bytes, op_cap, op_wait, op_sig, sem_init, float(port))
    if stuck:  # pragma: no cover - a schedule bug, never a user error
        raise RuntimeError("cycle simulation deadlocked; please report the GEMM and cores")

    def core_sim(name: str, engine: int, stage_names: tuple[str, ...], channels: int,
                 reps: int, tiling: tuple[tuple[str, int], ...]) -> CoreSim:
        if reps > 1:
            tiling += (("repetitions", reps),)
        end_cycles = float(max(finish[engine:engine + 3]))
        stages = tuple(StageSim(
            name=stage_name,
            busy_cycles=float(busy[e]),
            stall_cycles=end_cycles - float(busy[e]),
            ops=last[e] - first[e],
            dram_bytes=float(op_bytes[first[e]:last[e]].sum()),
            dram_contention_cycles=float(contention[e]),
        ) for e, stage_name in enumerate(stage_names, start=engine))
        return CoreSim(name=name, channels=channels * reps, cycles=end_cycles, stages=stages,
                       dram_bytes=sum(st.dram_bytes for st in stages),
                       dram_contention_cycles=sum(st.dram_contention_cycles for st in stages),
                       tiling=tiling)

    lut_sim = dsp_sim = None
    if lut is not None:
        lut_sim = core_sim("lut", 0, _LUT_STAGES, n_l, c_l, (
            ("T_m", lut.t_m), ("T_n", lut.t_n), ("T_k", lut.t_k), ("R", lut.big_r),
            ("rhs_regions", lut.rhs_regions)))
    if dsp is not None:
        dsp_sim = core_sim("dsp", 3 if lut is not None else 0, _DSP_STAGES, n_d, c_d, (
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
    lut = _lut_plan(m, n_l, k, w_bits, a_bits, lut_core) if n_l and lut_core else None
    dsp = _dsp_plan(m, n_d, k, a_bits, dsp_core, ping_pong) if n_d and dsp_core else None
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
        overlap compute (not in the N3H-Core equations; see the module notes).
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
    if count == 1 or not independent:
        n_l = round(n * float(lut_fraction))
        n_d = n - n_l
        c_l, c_d = int(n_l > 0), int(n_d > 0)
        steps = int(count)
    else:
        c_l = round(count * float(lut_fraction))
        c_d = int(count) - c_l
        n_l, n_d = (int(n) if c_l else 0), (int(n) if c_d else 0)
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


AGREEMENT_TOLERANCE = 0.15
"""Relative tolerance of the cycle tier against the analytic tier in the ``"matched"`` regime."""
_REGIME_SHARE = 0.10  # a miscounted term above this share of the analytic number names the regime


@dataclass(frozen=True, slots=True)
class Agreement:
    """Where the cycle tier of one single-core GEMM (dedicated port) is expected to fall
    relative to the N3H-Core equations, and why (see the module notes).

    ``regime`` names the largest mechanism at work: ``"matched"`` (within
    :data:`AGREEMENT_TOLERANCE`, plus one pipeline fill and drain the equations' constants do
    not cover), or a term the equations miscount: LUT ``"result_bound"``, ``"stall_miscount"``,
    ``"fetch_overlap"``; DSP ``"store_bound"``, ``"load_miscount"``. ``"outside_domain"``: the
    equations give ``inf`` (or, for the DSP core, ``cycles_per_block`` is not the release's 2).
    ``low_cycles <= cycle tier <= high_cycles``, for the default single-buffered DSP weights.
    """

    regime: str
    analytic_cycles: float
    low_cycles: float
    high_cycles: float


def lut_agreement(m: int, n: int, k: int, w_bits: int, a_bits: int, core: LutCore) -> Agreement:
    """The band the LUT core's cycle tier falls in around ``L_LUT`` (REFERENCE.md section 1),
    for a GEMM the cycle tier can run (the equations ignore the weight buffer's depth).

    With the release's ``R, F_L, r, I, C_Lf, C_Rf, C_ex, d`` and its stall ``S``, which counts
    ``E = S/C_ex`` products as waiting on execute where the simulated schedule has
    ``(T_n - 1)*T_m`` (every n-tile after a round's first):

    * over-count ``max(0, E - (T_n-1)*T_m)*C_ex`` plus ``d``'s excess (both scale with the
      buffer capacity ``R``, also in a partial last round and when ``R > T_m``); under-count
      ``max(0, (T_n-1)*T_m - E)*C_ex`` (``S = 0`` when ``I <= R+3`` or one round has
      ``r <= 3``; ``(r-3)`` hides 3 of a few m-tiles);
    * ``F_L*(T_n-1)*min(C_Rf, R*C_ex)`` of weight fetch, serial in the equations, hidden behind
      the previous n-tile by the double-buffered weight buffer;
    * ``I*(46 + 4*Dm*Dn/(f/8))`` of result write-back, left out of the equations, when it is
      slower than the execute stage.
    """
    an = lut_core_cycles(m, n, k, w_bits, a_bits, core)
    if not math.isfinite(an):
        return Agreement("outside_domain", an, 0.0, math.inf)
    t_m, t_n, t_k = -(-m // core.rows), -(-n // core.cols), -(-k // core.depth_bits)
    width_bits = core.dram_bits_per_cycle
    big_r = core.act_buffer_depth // (t_k * a_bits)
    f_l, r = -(-t_m // big_r), t_m % big_r
    products = t_m * t_n
    c_lf = _LUT_DMA_SETUP_CYCLES + core.rows * core.depth_bits * a_bits * t_k / width_bits
    c_rf = _LUT_DMA_SETUP_CYCLES + core.cols * core.depth_bits * w_bits * t_k / width_bits
    c_ex = (t_k + _LUT_EXEC_SLICE_OVERHEAD) * a_bits * w_bits + _LUT_EXEC_SLICE_OVERHEAD
    write = _LUT_DMA_SETUP_CYCLES + core.rows * core.cols * _LUT_ACC_BYTES * 8.0 / width_bits
    counted = 0  # the release's S / C_ex
    if products > big_r + 3:
        if f_l > 1:
            counted = (big_r - 3) * (t_n - 1) * f_l + r
        elif r > 3:
            counted = (r - 3) * (t_n - 1)
    waiting = (t_n - 1) * t_m
    over = float(max(0, counted - waiting) * c_ex)
    under = float(max(0, waiting - counted) * c_ex)
    if c_lf - 1.0 <= c_ex:  # the release's d: execute slower than the activation fetch
        release_d = f_l * (10.0 + (big_r - 3) * (c_ex - c_lf))
        simulated_d = t_m * (c_ex - c_lf)
        over += max(0.0, release_d - simulated_d)
        under += max(0.0, simulated_d - release_d)
    hidden = f_l * (t_n - 1) * min(c_rf, min(big_r, t_m) * c_ex)
    result = products * write if write > c_ex else 0.0
    slack = c_lf + c_rf + c_ex + write
    if result > 0.0:
        regime = "result_bound"
    elif over + under + hidden > _REGIME_SHARE * an:
        regime = "stall_miscount" if over + under >= hidden else "fetch_overlap"
    else:
        regime = "matched"
    return _band(regime, an, slack, over, under, hidden, result)


def dsp_agreement(m: int, n: int, k: int, a_bits: int, core: DspCore) -> Agreement:
    """The band the DSP core's cycle tier falls in around ``L_DSP`` (REFERENCE.md section 1).

    The release charges loads the simulated schedule does not make: an input load
    ``rdL = 33 + 16*T_k`` for every (input region, weight chunk) pair, always 16 pixels (the
    simulation streams each region's inputs once, behind its first chunk, ``33 + g*T_k`` for
    ``g <= 16`` pixels), and the weight and input loads of its leftover terms when nothing is
    left over (``T_m mod r_l = 0`` or ``T_n mod r_r = 0``). The release has no output store;
    when storing a sub-tile's outputs (``32 + 16*blocks`` cycles) is slower than computing it
    (``2*T_k*16*blocks``), the store stage's whole work is the under-count.
    """
    an = dsp_core_cycles(m, n, k, a_bits, core)
    if not math.isfinite(an) or core.cycles_per_block != _RELEASE_DR_NUM:
        return Agreement("outside_domain", an, 0.0, math.inf)
    plan = _dsp_plan(m, n, k, a_bits, core, False)
    assert isinstance(plan, _DspPlan)  # the analytic tier is finite, so the buffers fit
    t_k, blocks = plan.t_k, plan.r_r
    g = min(_DSP_SUBTILE_PIXELS, plan.r_l)
    rd_l = _DSP_INPUT_SETUP_CYCLES + _DSP_SUBTILE_PIXELS * t_k
    # and 16 pixels' load where a region holds fewer
    over = float(plan.n_regions * ((plan.n_chunks - 1) * rd_l + (_DSP_SUBTILE_PIXELS - g) * t_k))
    # and the loads of its leftover terms when nothing is left over (T_m or T_n a multiple of
    # the region), with the release's uncapped r_l, r_r and their constants 96 and 48
    r_l = core.input_buffer_depth // t_k
    r_r = core.weight_buffer_depth // (_RELEASE_DR_NUM * t_k)
    tr_l, l_l = divmod(m, r_l)
    tr_r, l_r = divmod(plan.t_n, r_r)
    rd_r = _DSP_WEIGHT_SETUP_CYCLES + _DSP_SUBTILE_PIXELS * t_k * r_r
    if l_l == 0:
        over += tr_r * (rd_r + rd_l)
    if l_r == 0:
        over += tr_l * (rd_l + 96)
    if l_l == 0 or l_r == 0:
        over += rd_l + 48 + _DSP_SUBTILE_PIXELS * t_k * l_r
    store = _DSP_STORE_SETUP_CYCLES + g * blocks
    compute = core.cycles_per_block * t_k * g * blocks
    under = (plan.n_sub * plan.n_chunks * _DSP_STORE_SETUP_CYCLES + m * plan.t_n
             if store > compute else 0.0)
    slack = (_DSP_WEIGHT_SETUP_CYCLES + _DSP_SUBTILE_PIXELS * t_k * blocks + rd_l + store
             + compute)
    if under > 0.0:
        regime = "store_bound"
    elif over > _REGIME_SHARE * an:
        regime = "load_miscount"
    else:
        regime = "matched"
    return _band(regime, an, slack, over, 0.0, 0.0, under)


def _band(regime: str, an: float, slack: float, over: float, under: float, hidden: float,
          missing: float) -> Agreement:
    tol = AGREEMENT_TOLERANCE
    if regime == "matched":
        return Agreement(regime, an, an * (1.0 - tol) - slack, an * (1.0 + tol) + slack)
    return Agreement(regime, an, an * (1.0 - tol) - over - hidden - slack,
                     an * (1.0 + tol) + under + missing + slack)
