"""The FPGA cycle tier's two schedules: N3H-Core's BISMO LUT core and its DSP core as op tables.

Each core is three in-order stages of the event engine (:mod:`hwsim.engine.events`) that hand
buffers to each other through token queues; this module sizes the tiles (the plans) and writes
every stage's instruction stream into an :class:`~hwsim.engine.events.OpTable` (the builders,
``numba.njit``). :mod:`hwsim.fpga.cycle` runs them and holds the public API; what is simulated
overall (the shared port, repetitions, dependent steps) is in its module notes.

Sources: the N3H-Core release (github.com/zhihanxu/N3H-Core,
``lib/env/linear_quantize_env_ru.py``: ``cal_bismo``, ``cal_dsp``) gives the constants;
BISMO's instruction generators (github.com/EECS-NTNU/bismo,
``src/main/resources/hls/{Fetch,Exec,Result}InstrGen.cpp``) the LUT core's stage and token
structure; VTA (Moreau et al., IEEE Micro'19) the DSP core's load, compute, store.

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

Queue ids and op indices are offsets into one table shared by every core of a layer (``op0``,
``sem0``), so both cores run in one :func:`~hwsim.engine.events.simulate` call on one port.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba

from hwsim.engine.events import set_op
from hwsim.spec.records import DspCore, LutCore

__all__ = [
    "DSP_STAGES",
    "LUT_STAGES",
    "DspPlan",
    "LutPlan",
    "build_dsp",
    "build_lut",
    "dsp_plan",
    "lut_plan",
]

# --- LUT core (BISMO) constants: the N3H-Core release's cal_bismo ----------------------------
LUT_LAUNCH_CYCLES = 238.0  # base_latency
LUT_DMA_SETUP_CYCLES = 46.0  # fetch_base 32 + fetch_trans (6+1+2) + sync_latency 5
LUT_EXEC_SLICE_OVERHEAD = 8  # C_ex = (T_k + 8)*Ab*Wb + 8
LUT_ACC_BYTES = 4  # BISMO's ResultType is int32
LUT_RESULT_BUFFERS = 2  # BISMO ExecInstrGen: offset_res toggles between 2 result buffers

# --- DSP core constants: the release's cal_dsp ------------------------------------------------
DSP_LAUNCH_CYCLES = 32.0  # the final "+ 32"
DSP_WEIGHT_SETUP_CYCLES = 40.0  # readLatencyR: basicLatency 32 + OutputChannel/Dr_Num 8
DSP_INPUT_SETUP_CYCLES = 33.0  # readLatencyL: basicLatency 32 + Batch 1
DSP_STORE_SETUP_CYCLES = 32.0  # basicLatency
DSP_CHUNK_OVERHEAD = 6  # EX = 2*T_k*r_r*r_l + 6
RELEASE_DR_NUM = 2  # Dr_Num: the release's cycles per block, DspCore.cycles_per_block here
DSP_SUBTILE_PIXELS = 16  # rdL = 33 + 16*T_k: 16 pixels, one input word per cycle
DSP_OUTPUT_BUFFERS = 2

# --- stage names, in engine order ---------------------------------------------------------
LUT_STAGES = ("fetch", "execute", "result")
DSP_STAGES = ("load", "compute", "store")


# ---------------------------------------------------------------------------------------------
# tiling (plain Python: the closed-form sizes the builders fill)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LutPlan:
    """The LUT core's tiling of one repetition: tile counts ``T_m, T_n, T_k``, ``R`` m-tiles a
    round, the RHS (weight) regions, the DMA sizes in bytes, the DMA width in bytes per cycle
    and ``C_ex``; :attr:`n_ops` ops and :attr:`n_sems` queues in the op table."""

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
        return 1 + self.big_r + 2 * self.rhs_regions + 2 * LUT_RESULT_BUFFERS


@dataclass(frozen=True, slots=True)
class DspPlan:
    """The DSP core's tiling of one repetition: ``r_l`` pixels an input region, ``r_r`` blocks a
    weight chunk, one or two weight regions, the DMA sizes and widths in bytes (per block, per
    input word, per output vector); :attr:`n_ops` ops and :attr:`n_sems` queues in the op
    table."""

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
        g = DSP_SUBTILE_PIXELS
        last_px = self.m - (self.n_regions - 1) * self.r_l
        return (self.n_regions - 1) * (-(-self.r_l // g)) + (-(-last_px // g))

    @property
    def n_ops(self) -> int:
        return self.n_regions * self.n_chunks + self.n_sub * (1 + 2 * self.n_chunks)

    @property
    def n_sems(self) -> int:
        return (1 + -(-self.r_l // DSP_SUBTILE_PIXELS) + 2 * self.weight_regions
                + 2 * DSP_OUTPUT_BUFFERS)


def lut_plan(m: int, n: int, k: int, w_bits: int, a_bits: int, core: LutCore
             ) -> LutPlan | str:
    """The LUT core's tiling of an ``(m x k) @ (k x n)`` GEMM, or why it cannot run (a buffer
    cannot hold one tile)."""
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
    return LutPlan(
        t_m=t_m, t_n=t_n, t_k=t_k,
        big_r=min(core.act_buffer_depth // (t_k * a_bits), t_m),
        rhs_regions=min(core.weight_buffer_depth // (t_k * w_bits), t_n),
        act_bytes=core.rows * core.depth_bits * t_k * a_bits / 8.0,
        wgt_bytes=core.cols * core.depth_bits * t_k * w_bits / 8.0,
        res_bytes=float(core.rows * core.cols * LUT_ACC_BYTES),
        width=width,
        c_ex=float((t_k + LUT_EXEC_SLICE_OVERHEAD) * a_bits * w_bits
                   + LUT_EXEC_SLICE_OVERHEAD),
    )


def dsp_plan(m: int, n: int, k: int, a_bits: int, core: DspCore, ping_pong: bool
             ) -> DspPlan | str:
    """The DSP core's tiling of an ``(m x k) @ (k x n)`` GEMM (``ping_pong``: two weight
    regions), or why it cannot run (a buffer cannot hold one tile)."""
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
    return DspPlan(
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
# builders (numba: one op per tile DMA, tile product, result write)
# ---------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def build_lut(t_m: int, t_n: int, big_r: int, rhs_regions: int, act_bytes: float,
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
    res_full = res_free + LUT_RESULT_BUFFERS
    sem_init[region] = 1
    for s in range(rhs_regions):
        sem_init[rhs_free + s] = 1
    for q in range(LUT_RESULT_BUFFERS):
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
                set_op(fi, LUT_DMA_SETUP_CYCLES, wgt_bytes, width, rhs_free + s, -1, -1,
                       rhs_full + s, -1, -1, op_fixed, op_bytes, op_cap, op_wait, op_sig)
                fi += 1
                if j == 0:
                    for i in range(mt):
                        set_op(fi, LUT_DMA_SETUP_CYCLES, act_bytes, width,
                               region if i == 0 else -1, -1, -1, lhs_full + i, -1, -1,
                               op_fixed, op_bytes, op_cap, op_wait, op_sig)
                        fi += 1
            for j in range(t_n):
                s = (fetched + j) % rhs_regions
                for i in range(mt):
                    q = (xi - x0) % LUT_RESULT_BUFFERS
                    last = i == mt - 1
                    set_op(xi, c_ex, 0.0, 1.0, res_free + q,
                           lhs_full + i if j == 0 else -1, rhs_full + s if i == 0 else -1,
                           res_full + q, rhs_free + s if last else -1,
                           region if last and j == t_n - 1 else -1,
                           op_fixed, op_bytes, op_cap, op_wait, op_sig)
                    set_op(ri, LUT_DMA_SETUP_CYCLES, res_bytes, width, res_full + q, -1, -1,
                           res_free + q, -1, -1, op_fixed, op_bytes, op_cap, op_wait, op_sig)
                    xi += 1
                    ri += 1
            fetched += t_n
    return x0, r0, ri


@numba.njit(cache=True)
def build_dsp(m: int, t_k: int, t_n: int, r_l: int, r_r: int, weight_regions: int,
              wgt_block_bytes: float, wgt_width: float, in_word_bytes: float,
              out_vec_bytes: float, cycles_per_block: int, reps: int, op0: int,
              sem0: int, op_fixed: Any, op_bytes: Any, op_cap: Any, op_wait: Any, op_sig: Any,
              sem_init: Any) -> tuple[int, int, int]:
    """Write the DSP core's load, compute and store ops for ``reps`` repetitions of the GEMM
    from ``op0`` and its semaphores from ``sem0``; return the first op of the compute and store
    stages and the end."""
    g_max = DSP_SUBTILE_PIXELS
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
    out_full = out_free + DSP_OUTPUT_BUFFERS
    sem_init[in_region] = 1
    for b in range(weight_regions):
        sem_init[w_free + b] = 1
    for q in range(DSP_OUTPUT_BUFFERS):
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
                set_op(li, DSP_WEIGHT_SETUP_CYCLES, blocks * wgt_block_bytes, wgt_width,
                       w_free + w, -1, -1, w_full + w, -1, -1, op_fixed, op_bytes, op_cap,
                       op_wait, op_sig)
                li += 1
                if b == 0:
                    for s in range(n_sa):
                        g = min(g_max, pa - s * g_max)
                        set_op(li, DSP_INPUT_SETUP_CYCLES, g * t_k * in_word_bytes,
                               in_word_bytes, in_region if s == 0 else -1, -1, -1,
                               in_full + s, -1, -1, op_fixed, op_bytes, op_cap, op_wait, op_sig)
                        li += 1
                for s in range(n_sa):
                    g = min(g_max, pa - s * g_max)
                    q = (ci - c0) % DSP_OUTPUT_BUFFERS
                    last = s == n_sa - 1
                    cycles = cycles_per_block * t_k * g * blocks
                    if last:
                        cycles += DSP_CHUNK_OVERHEAD
                    set_op(ci, cycles, 0.0, 1.0, out_free + q, w_full + w if s == 0 else -1,
                           in_full + s if b == 0 else -1, out_full + q, w_free + w if last else -1,
                           in_region if last and b == n_chunks - 1 else -1,
                           op_fixed, op_bytes, op_cap, op_wait, op_sig)
                    set_op(si, DSP_STORE_SETUP_CYCLES, g * blocks * out_vec_bytes, out_vec_bytes,
                           out_full + q, -1, -1, out_free + q, -1, -1,
                           op_fixed, op_bytes, op_cap, op_wait, op_sig)
                    ci += 1
                    si += 1
                chunk += 1
    return c0, s0, si

