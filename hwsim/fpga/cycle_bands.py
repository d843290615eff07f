"""Agreement bands of the FPGA cycle tier: how far it may fall from the analytic tier, and why.

:func:`lut_agreement` and :func:`dsp_agreement` give, per single-core GEMM on a dedicated port,
the band of cycles the cycle tier (:mod:`hwsim.fpga.cycle`, which re-exports this module's
public names) must fall in around the N3H-Core equations (:mod:`hwsim.fpga.analytic`,
REFERENCE.md section 1), and name the mechanism behind the difference.

How far the cycle tier is from the analytic tier, and why
---------------------------------------------------------
Single core, dedicated port; ``err = cycle/analytic - 1``. Both tiers price every tile
operation the same way (the constants in :mod:`hwsim.fpga.cycle_schedules`), so they differ
only in how the operations compose. :func:`lut_agreement` and :func:`dsp_agreement` compute,
per GEMM, the band the cycle tier must fall in and name the regime;
``tests/hwsim/fpga/test_cycle.py`` checks the band on 880 sampled single-core runs (ResNet
and MobileNet shapes, 1- to 8-bit; about 10 k more held in development), and
``benchmarks/bench_fpga_cycle.py`` prints the ResNet-18 table.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwsim.fpga.analytic import dsp_core_cycles, lut_core_cycles
from hwsim.fpga.cycle_schedules import (
    DSP_INPUT_SETUP_CYCLES,
    DSP_STORE_SETUP_CYCLES,
    DSP_SUBTILE_PIXELS,
    DSP_WEIGHT_SETUP_CYCLES,
    LUT_ACC_BYTES,
    LUT_DMA_SETUP_CYCLES,
    LUT_EXEC_SLICE_OVERHEAD,
    RELEASE_DR_NUM,
    DspPlan,
    dsp_plan,
)
from hwsim.spec.records import DspCore, LutCore

__all__ = ["AGREEMENT_TOLERANCE", "Agreement", "dsp_agreement", "lut_agreement"]

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
    c_lf = LUT_DMA_SETUP_CYCLES + core.rows * core.depth_bits * a_bits * t_k / width_bits
    c_rf = LUT_DMA_SETUP_CYCLES + core.cols * core.depth_bits * w_bits * t_k / width_bits
    c_ex = (t_k + LUT_EXEC_SLICE_OVERHEAD) * a_bits * w_bits + LUT_EXEC_SLICE_OVERHEAD
    write = LUT_DMA_SETUP_CYCLES + core.rows * core.cols * LUT_ACC_BYTES * 8.0 / width_bits
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
    if not math.isfinite(an) or core.cycles_per_block != RELEASE_DR_NUM:
        return Agreement("outside_domain", an, 0.0, math.inf)
    plan = dsp_plan(m, n, k, a_bits, core, False)
    assert isinstance(plan, DspPlan)  # the analytic tier is finite, so the buffers fit
    t_k, blocks = plan.t_k, plan.r_r
    g = min(DSP_SUBTILE_PIXELS, plan.r_l)
    rd_l = DSP_INPUT_SETUP_CYCLES + DSP_SUBTILE_PIXELS * t_k
    # and 16 pixels' load where a region holds fewer
    over = float(plan.n_regions * ((plan.n_chunks - 1) * rd_l + (DSP_SUBTILE_PIXELS - g) * t_k))
    # and the loads of its leftover terms when nothing is left over (T_m or T_n a multiple of
    # the region), with the release's uncapped r_l, r_r and their constants 96 and 48
    r_l = core.input_buffer_depth // t_k
    r_r = core.weight_buffer_depth // (RELEASE_DR_NUM * t_k)
    tr_l, l_l = divmod(m, r_l)
    tr_r, l_r = divmod(plan.t_n, r_r)
    rd_r = DSP_WEIGHT_SETUP_CYCLES + DSP_SUBTILE_PIXELS * t_k * r_r
    if l_l == 0:
        over += tr_r * (rd_r + rd_l)
    if l_r == 0:
        over += tr_l * (rd_l + 96)
    if l_l == 0 or l_r == 0:
        over += rd_l + 48 + DSP_SUBTILE_PIXELS * t_k * l_r
    store = DSP_STORE_SETUP_CYCLES + g * blocks
    compute = core.cycles_per_block * t_k * g * blocks
    under = (plan.n_sub * plan.n_chunks * DSP_STORE_SETUP_CYCLES + m * plan.t_n
             if store > compute else 0.0)
    slack = (DSP_WEIGHT_SETUP_CYCLES + DSP_SUBTILE_PIXELS * t_k * blocks + rd_l + store
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
