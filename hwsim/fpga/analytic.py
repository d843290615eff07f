"""Analytic latency tier of N3H-Core's heterogeneous DSP + LUT GEMM cores.

Length: over 600 lines on purpose. The numba kernels call each other (cost, split, balance,
network sums), and numba's on-disk cache does not see edits across modules, so they live in one
module (STYLE.md); the public wrappers that validate their inputs sit beside them.

Source: Gong, Xu, He et al., "N3H-Core: Neuron-designed Neural Network Accelerator via
FPGA-based Heterogeneous Computing Cores", FPGA'22 (arXiv 2112.08193), and the authors' released
latency model (github.com/zhihanxu/N3H-Core, ``lib/env/linear_quantize_env_ru.py``: ``cal_bismo``,
``cal_dsp``, ``cal_ratio``), as written out in REFERENCE.md section 1. The LUT core is BISMO
(Umuroglu et al., FPL'18); the DSP core is a 16x16 VTA-style block.

A GEMM is ``(m x k) @ (k x n)``: ``m`` output pixels, ``k`` reduction length, ``n`` output
channels, repeated ``count`` times with different operands (``Gemm.count``: the groups of a
grouped or depthwise convolution, attention heads, MoE experts). ``rho`` (``lut_fraction``) is
the share of the GEMM's output channels on the LUT core; the cores run concurrently, and a
network takes the sum over its GEMMs (no overlap between layers). The split rule:

* ``count == 1``: the output channels are split, ``n_L = round(n*rho)`` on the LUT core and
  ``n_D = round(n*(1-rho))`` on the DSP core (REFERENCE.md), and the GEMM takes
  ``max(L_LUT(n_L), L_DSP(n_D))`` cycles.
* ``count > 1`` and independent repetitions (``Gemm.independent``: groups, heads, experts):
  whole repetitions are split, since they can go to different cores: ``c_L = round(count*rho)``
  (half to even) run on the LUT core with all ``n`` channels each, back to back, and the other
  ``c_D = count - c_L`` on the DSP core, so the GEMM takes ``max(c_L*L_LUT(n), c_D*L_DSP(n))``
  cycles (a core with no repetitions: 0). The LUT core then holds ``c_L*n`` of the ``count*n``
  channels. Splitting each repetition's ``n`` channels instead would make a depthwise
  convolution (``n = 1``) all-or-nothing. The release has no grouped layers (ResNet-18), so
  this is our extension of its model.
* ``count > 1`` and dependent repetitions (``independent=False``: an LSTM cell's time steps,
  each needing the previous hidden state): they cannot run concurrently, so each is split by
  output channels as a ``count == 1`` GEMM, one after another: ``count*max(L_LUT(n_L),
  L_DSP(n_D))`` cycles, the LUT core holding ``count*n_L`` channels.

Every cycle count a public function returns covers the whole GEMM, all its repetitions.
Everything here is in clock cycles; the release multiplies by 1e-5 (ms at 100 MHz).

Faithfulness notes (each one checked in ``tests/hwsim/fpga/test_analytic.py``):

* True division where the release divides with ``/``: the LUT core's fetch costs
  ``C_Lf = 32 + 9 + Dm*(Dk*Ab*T_k/f) + 5`` and ``C_Rf`` divide by the DRAM word ``f`` in floating
  point (exact for ``f = 64``), and so does ``C_Lf*I/T_n``; the kernels keep the release's
  operation order, so results are bitwise the release's. The DSP core is integer arithmetic
  (its ``/`` terms are exact for the fixed 16x16 block, 8-bit words and 64-bit port).
* Split: ``n_L = round(n*rho)``, ``n_D = round(n*(1-rho))``, rounding half to even (Python's
  ``round`` in the release, ``np.rint`` here, which agree on floats). The two need not add up
  to ``n``: ``n = 25, rho = 0.02`` gives ``0 + 24`` (a channel lost) and ``rho = 0.06`` gives
  ``2 + 24 = 26``. This happens when ``n*rho`` is a half-integer and ``n`` is odd, or when
  float error leaves ``n*(1-rho)`` just below a half (``n = 30, rho = 0.55``: ``16 + 13``).
  On the 0.01 grid, 3,539 of the 303,000 pairs with ``n <= 3000`` are affected; none with
  ResNet-18's ``n``. We follow REFERENCE.md; :func:`exact_balance` works on integer splits
  with ``n_D = n - n_L`` instead (repetitions are always conserved, ``c_D = count - c_L``).
  The release's sweep, which steps back to a cheaper split, can land on such a split: for
  ``n = 1`` (and ``count = 1``) it returns ``rho = 0.5``, which gives 0 channels to each core
  and a 0-cycle layer.
* A core with 0 channels takes 0 cycles (REFERENCE.md). The release's ``cal_dsp`` returns 0 only
  when ``rho == 1``, so when ``round(n*(1-rho)) == 0`` with ``rho < 1`` (only when
  ``n*(1-rho) <= 0.5``, for example ``n < 50`` at ``rho = 0.99``) it charges an empty DSP pass.
  We don't charge for it.
* The LUT core's weight-buffer depth has no effect (the release: ``RMEM = 1024  # NO impact``).
  The DSP core's ``sync`` stall is zero whenever ``r_r >= 1``, so it is left out.
* The DSP core's packing follows ``a_bits <= pack_act_bits``. The release instead pins the first
  and last layers to W8A8 and packs the rest.

Infeasible and out-of-domain configurations give ``inf`` cycles, never an exception. Inside
numba there is no division by zero:

* Infeasible, where the release divides by zero: the LUT core's activation buffer cannot hold
  one m-tile (``T_k*Ab > LMEM``, ``R = 0``), or a DSP buffer cannot hold one row (``T_k > Dl``,
  ``r_l = 0``; ``2*T_k > Dr``, ``r_r = 0``).
* Outside the equations' domain (``valid_only=True``, the default): ``R < 3``, where the stall
  term ``(R-3)*(T_n-1)*F_L*C_ex`` turns negative (ResNet-18's last stage at 8-bit activations
  with Dm = Dn = 1, Dk = 64, LMEM = 1024 reaches ``-6e7`` cycles), and a negative stall
  ``d = 10 + (R-3)*(C_ex - C_Lf)``, which the release's ``C_Lf - 1 > C_ex`` test lets through
  when ``C_ex = C_Lf - 1``. With ``f = 64`` that needs ``Ab*((T_k+8)*Wb - Dm*T_k*Dk/64) = 37``,
  so ``Ab = 1``. ResNet-18 on the sanity hardware (R >= 3 at 8 bits) reaches neither.
  ``valid_only=False`` gives the release's numbers verbatim.

:func:`lut_core_problem` and :func:`dsp_core_problem` say why, for the cost layer's
``feasible=False`` reason.

Monotonicity (inside the domain; property tests pin down every exception): L_DSP never grows
with Dl or Dr and never falls with ``m``, ``n``, ``k`` or ``a_bits``. L_LUT never falls with
``n`` or ``w_bits``. It can fall with ``a_bits``, ``k`` or ``m``: when R changes or ``T_m mod R``
wraps to 0, the stall term ``r`` drops. It can grow with Dm, Dn or Dk (the fetch covers the
padded tiles, ``Dm*ceil(m/Dm)``), with LMEM (``d`` and ``(R-3)*F_L`` scale with the buffer's
tile count R, not the tiles used), and with the DRAM word ``f`` (a faster fetch exposes the
execute stall ``d``).

The exact balance (:func:`exact_balance`, and :func:`batch_designs` for NaN splits) is solved by
``_balance_one``, bitwise equal to the plain bisection ``_exact_one`` kept as its reference
(see the comment above ``_balance_channels``).

The kernels are private ``numba.njit`` functions behind public functions that validate their
inputs first. ``.py_func`` gives the plain Python, and ``NUMBA_DISABLE_JIT=1`` makes them plain
Python. Hardware goes in as tuples: ``lut_hw = (Dm, Dk, Dn, LMEM, f)``,
``dsp_hw = (Dl, Dr, pack_act_bits)``.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from numba import prange

from hwsim.errors import Checker, Problem, RecordError, SpecError
from hwsim.ir.workload import WorkloadArrays
from hwsim.spec.records import DspCore, LutCore

__all__ = [
    "batch_designs",
    "batch_network_cycles",
    "dsp_core_cycles",
    "dsp_core_problem",
    "exact_balance",
    "hardware_rows",
    "hetero_layer_cycles",
    "lut_core_cycles",
    "lut_core_problem",
    "n3h_sweep_balance",
    "split_gemm",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
LutHw = tuple[int, int, int, int, int]
DspHw = tuple[int, int, int]

_DSP_BLOCK = 16  # the release's InputChannel = OutputChannel = 16
_MIN_REGIONS = 3  # the stall terms assume three m-tiles in flight: (R - 3)
_PARALLEL_MIN_DESIGNS = 64  # below this a thread-pool launch costs more than it saves
_MEMO_MAX_GROUPS = 64  # batch_designs memoises per pair of cores up to this many pairs
_MEMO_MAX_BITS = 64  # ... and bit widths up to this (the memo tables are [.., w+1, a+1])


# --------------------------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _lut_cycles(m: int, n: int, k: int, w_bits: int, a_bits: int, dm: int, dk: int, dn: int,
                lmem: int, f: int, valid_only: bool) -> float:
    """BISMO cycles, ``L_LUT`` of REFERENCE.md section 1 (``cal_bismo``).

    ``inf`` when R = 0; with ``valid_only`` also when R < 3 or the stall ``d`` is negative.
    """
    if n == 0:
        return 0.0
    t_m = (m + dm - 1) // dm
    t_n = (n + dn - 1) // dn
    t_k = (k + dk - 1) // dk
    big_r = lmem // (t_k * a_bits)
    if big_r == 0:
        return np.inf
    # 32 fetch base + (6+1+2) transfer + BRAM words + 5 sync, in the release's order
    c_lf = 41.0 + dm * (dk * a_bits * t_k / f) + 5.0
    c_rf = 41.0 + dn * (t_k * w_bits * dk / f) + 5.0
    c_ex = (t_k + 8) * w_bits * a_bits + 8
    if c_lf - 1.0 > c_ex:
        d = 0.0
    else:
        d = 10.0 + (big_r - 3) * (c_ex - c_lf)
    if valid_only and (big_r < _MIN_REGIONS or d < 0.0):
        return np.inf
    f_l = (t_m + big_r - 1) // big_r
    r = t_m % big_r
    if r != 0:
        i = big_r * t_n * (f_l - 1) + r * t_n
    else:
        i = big_r * t_n * f_l
    s = 0
    if i > big_r + 3:
        if f_l > 1:
            s = ((big_r - 3) * (t_n - 1) * f_l + r) * c_ex
        elif r > 3:
            s = (r - 3) * (t_n - 1) * c_ex
    stall = s + d * f_l
    return 238.0 + c_lf * i / t_n + c_rf * f_l * t_n + stall


@numba.njit(cache=True)
def _dsp_cycles(m: int, n: int, k: int, packed: bool, dl: int, dr: int) -> float:
    """DSP-core cycles, ``L_DSP`` of REFERENCE.md section 1 (``cal_dsp``); ``inf`` when a
    buffer cannot hold one row (``r_l = 0`` or ``r_r = 0``)."""
    if n == 0:
        return 0.0
    if packed:  # two W8 x A<=4 MACs share a DSP: half the k-tiles
        t_k = (k + 2 * _DSP_BLOCK - 1) // (2 * _DSP_BLOCK)
    else:
        t_k = (k + _DSP_BLOCK - 1) // _DSP_BLOCK
    t_m = m
    t_n = (n + _DSP_BLOCK - 1) // _DSP_BLOCK
    r_l = dl // t_k
    r_r = dr // t_k // 2
    if r_l == 0 or r_r == 0:
        return np.inf
    tr_l = t_m // r_l
    l_l = t_m % r_l
    tr_r = t_n // r_r
    l_r = t_n % r_r
    rd_r = 40 + 16 * t_k * r_r
    rd_l = 33 + 16 * t_k
    ex = 2 * t_k * r_r * r_l + 6
    lat_l = 2 * t_k * l_l * r_r + rd_r + 33 + 16 * t_k
    lat_r = 2 * t_k * r_l * l_r + rd_l + 96 + 16 * t_k * l_r
    lat_lr = 2 * t_k * l_r * l_l + 33 + 16 * t_k + 48 + 16 * t_k * l_r
    return float(tr_l * tr_r * (ex + rd_r + rd_l) + tr_r * lat_l + tr_l * lat_r + lat_lr + 32)


@numba.njit(cache=True)
def _split(n: int, rho: float) -> tuple[int, int]:
    """``(round(n*rho), round(n*(1-rho)))``, half to even like Python's ``round``."""
    return int(np.rint(n * rho)), int(np.rint(n * (1.0 - rho)))


@numba.njit(cache=True)
def _split_count(count: int, rho: float) -> int:
    """``c_L = round(count*rho)``, half to even: the repetitions a ``count > 1`` GEMM runs on the
    LUT core (the DSP core runs the other ``count - c_L``)."""
    return int(np.rint(count * rho))


@numba.njit(cache=True)
def _pair(m: int, n_l: int, n_d: int, k: int, w_bits: int, a_bits: int, lut_hw: LutHw,
          dsp_hw: DspHw, valid_only: bool) -> tuple[float, float]:
    """(L_LUT with ``n_l`` channels, L_DSP with ``n_d`` channels) of one GEMM."""
    dm, dk, dn, lmem, f = lut_hw
    dl, dr, pack_act_bits = dsp_hw
    return (_lut_cycles(m, n_l, k, w_bits, a_bits, dm, dk, dn, lmem, f, valid_only),
            _dsp_cycles(m, n_d, k, a_bits <= pack_act_bits, dl, dr))


@numba.njit(cache=True)
def _times(reps: int, cycles: float) -> float:
    """``reps`` back-to-back runs of ``cycles``; 0 runs take 0 cycles (even an ``inf`` one)."""
    return reps * cycles if reps else 0.0


@numba.njit(cache=True)
def _repeated(m: int, n: int, k: int, c_l: int, c_d: int, w_bits: int, a_bits: int,
              lut_hw: LutHw, dsp_hw: DspHw, valid_only: bool) -> tuple[float, float]:
    """(LUT, DSP) cycles of ``c_l`` and ``c_d`` repetitions of the full ``n``-channel GEMM."""
    lut_c, dsp_c = _pair(m, n if c_l else 0, n if c_d else 0, k, w_bits, a_bits, lut_hw,
                         dsp_hw, valid_only)
    return _times(c_l, lut_c), _times(c_d, dsp_c)


@numba.njit(cache=True)
def _hetero_one(m: int, n: int, k: int, count: int, independent: Any, w_bits: int, a_bits: int,
                rho: float, lut_hw: LutHw, dsp_hw: DspHw, valid_only: bool
                ) -> tuple[float, float]:
    """(LUT, DSP) cycles of the whole GEMM, all ``count`` repetitions, split by ``rho``: by
    whole repetitions when ``count > 1`` and they are ``independent``, else each repetition by
    output channels, ``count`` times in sequence (``count * 1.0 == 1.0``: bitwise unchanged for
    ``count == 1``)."""
    if count == 1 or not independent:
        n_l, n_d = _split(n, rho)
        lut_c, dsp_c = _pair(m, n_l, n_d, k, w_bits, a_bits, lut_hw, dsp_hw, valid_only)
        return count * lut_c, count * dsp_c
    c_l = _split_count(count, rho)
    return _repeated(m, n, k, c_l, count - c_l, w_bits, a_bits, lut_hw, dsp_hw, valid_only)


@numba.njit(cache=True)
def _hetero_batch(m: Any, n: Any, k: Any, count: Any, independent: Any, w_bits: Any,
                  a_bits: Any, rho: Any, lut_hw: LutHw, dsp_hw: DspHw, valid_only: bool
                  ) -> tuple[Any, Any, Any]:
    size = m.shape[0]
    lut = np.empty(size)
    dsp = np.empty(size)
    layer = np.empty(size)
    for g in range(size):
        lut_c, dsp_c = _hetero_one(m[g], n[g], k[g], count[g], independent[g], w_bits[g],
                                   a_bits[g], rho[g], lut_hw, dsp_hw, valid_only)
        lut[g] = lut_c
        dsp[g] = dsp_c
        layer[g] = max(lut_c, dsp_c)
    return lut, dsp, layer


@numba.njit(cache=True)
def _design_cycles(d: int, m: Any, n: Any, k: Any, count: Any, independent: Any, layer: Any,
                   w_bits: Any, a_bits: Any, rho: Any, lut_hw: LutHw, dsp_hw: DspHw,
                   valid_only: bool) -> float:
    """Total cycles of design ``d``, summed in GEMM order so the sum is reproducible."""
    total = 0.0
    for g in range(m.shape[0]):
        i = layer[g]
        lut_c, dsp_c = _hetero_one(m[g], n[g], k[g], count[g], independent[g], w_bits[d, i],
                                   a_bits[d, i], rho[d, i], lut_hw, dsp_hw, valid_only)
        total += max(lut_c, dsp_c)
    return total


@numba.njit(cache=True)
def _network_serial(m: Any, n: Any, k: Any, count: Any, independent: Any, layer: Any,
                    w_bits: Any, a_bits: Any, rho: Any, lut_hw: LutHw, dsp_hw: DspHw,
                    valid_only: bool) -> Any:
    out = np.empty(w_bits.shape[0])
    for d in range(w_bits.shape[0]):
        out[d] = _design_cycles(d, m, n, k, count, independent, layer, w_bits, a_bits, rho,
                                lut_hw, dsp_hw, valid_only)
    return out


@numba.njit(cache=True, parallel=True)
def _network_parallel(m: Any, n: Any, k: Any, count: Any, independent: Any, layer: Any,
                      w_bits: Any, a_bits: Any, rho: Any, lut_hw: LutHw, dsp_hw: DspHw,
                      valid_only: bool) -> Any:
    # one thread sums one design in GEMM order: bitwise equal to _network_serial
    out = np.empty(w_bits.shape[0])
    for d in prange(w_bits.shape[0]):
        out[d] = _design_cycles(d, m, n, k, count, independent, layer, w_bits, a_bits, rho,
                                lut_hw, dsp_hw, valid_only)
    return out


@numba.njit(cache=True, inline="always")
def _solve_layer(m: int, n: int, k: int, count: int, independent: Any, w_bits: int,
                 a_bits: int, lut_hw: LutHw, dsp_hw: DspHw, sweep: bool, valid_only: bool
                 ) -> tuple[float, float, int]:
    """Solve a layer's NaN split on its largest GEMM (``m, n, k, count, independent``).

    :return: ``(rho, solved, on_dsp)``: the split, that GEMM's cycles at it when the solve has
        them in hand (NaN otherwise: cost it anew) and 1 when the solved GEMM leaves work on
        the DSP core.
    """
    if sweep:
        r = _sweep_one(m, n, k, count, independent, w_bits, a_bits, lut_hw, dsp_hw, valid_only)
        return r, np.nan, 0
    # r = n_lut/(n*count) with _exact_one's n_lut, and the GEMM costed there
    n_lut, _, r, solved = _balance_one(m, n, k, count, independent, w_bits, a_bits, lut_hw,
                                       dsp_hw, valid_only)
    # costed (not NaN): r splits as solved, so the DSP core has the rest of it
    on_dsp = 1 if not np.isnan(solved) and n_lut < n * count else 0
    return r, solved, on_dsp


@numba.njit(cache=True, inline="always")
def _gemm_term(m: int, n: int, k: int, count: int, independent: Any, w_bits: int, a_bits: int,
               r: float, lut_hw: LutHw, dsp_hw: DspHw, valid_only: bool) -> tuple[float, int]:
    """A GEMM's term of the network sum at split ``r`` (all its repetitions), and 1 when it
    leaves work on the DSP core (by :func:`split_gemm`'s rule). A layer's solved main GEMM is
    not costed again: its term is :func:`_solve_layer`'s ``solved``, bitwise this value."""
    lut_c, dsp_c = _hetero_one(m, n, k, count, independent, w_bits, a_bits, r, lut_hw, dsp_hw,
                               valid_only)
    if count > 1 and independent:
        on_dsp = count - _split_count(count, r)
    else:
        on_dsp = _split(n, r)[1]
    return max(lut_c, dsp_c), 1 if on_dsp > 0 else 0


@numba.njit(cache=True)
def _design_full(d: int, m: Any, n: Any, k: Any, count: Any, independent: Any, layer: Any,
                 main: Any, w_bits: Any, a_bits: Any, rho_in: Any, rho_out: Any, on_dsp_out: Any,
                 solved_out: Any, lut_arr: Any, dsp_arr: Any, sweep: bool, valid_only: bool
                 ) -> tuple[float, int]:
    """Design ``d`` on its own cores (row ``d`` of ``lut_arr`` / ``dsp_arr``): solve every NaN
    split on the layer's largest GEMM (``main``), then sum the GEMMs in order.

    Fills row ``d`` of ``rho_out`` (the splits used) and of ``on_dsp_out`` (1 where some GEMM
    of the layer leaves work on the DSP core); row ``d`` of ``solved_out`` is scratch (the
    solved main GEMMs' cycles, which the solve has in hand, NaN for the others).

    :return: ``(cycles, widest)``: total cycles (bitwise :func:`_design_cycles` with the solved
        splits) and the widest activation of any GEMM that leaves work on the DSP core (1 when
        none does): what the DSP core's resources depend on (:mod:`hwsim.fpga.resources`).
    """
    lut_hw = (lut_arr[d, 0], lut_arr[d, 1], lut_arr[d, 2], lut_arr[d, 3], lut_arr[d, 4])
    dsp_hw = (dsp_arr[d, 0], dsp_arr[d, 1], dsp_arr[d, 2])
    solved = solved_out[d]  # layer i's main GEMM costed at its solved split; NaN: not solved
    widest = 1
    for i in range(rho_in.shape[1]):
        r = rho_in[d, i]
        solved[i] = np.nan
        on_dsp_out[d, i] = 0
        if np.isnan(r):
            g = main[i]
            r, s, on = _solve_layer(m[g], n[g], k[g], count[g], independent[g], w_bits[d, i],
                                    a_bits[d, i], lut_hw, dsp_hw, sweep, valid_only)
            solved[i] = s
            if on:
                on_dsp_out[d, i] = 1
                if a_bits[d, i] > widest:
                    widest = a_bits[d, i]
        rho_out[d, i] = r
    total = 0.0
    for g in range(m.shape[0]):
        i = layer[g]
        if main[i] == g and not np.isnan(solved[i]):
            total += solved[i]  # bitwise the _gemm_term below; its DSP share is counted above
            continue
        term, on = _gemm_term(m[g], n[g], k[g], count[g], independent[g], w_bits[d, i],
                              a_bits[d, i], rho_out[d, i], lut_hw, dsp_hw, valid_only)
        total += term
        if on:
            on_dsp_out[d, i] = 1
            if a_bits[d, i] > widest:
                widest = a_bits[d, i]
    return total, widest


@numba.njit(cache=True)
def _designs_memo(m: Any, n: Any, k: Any, count: Any, independent: Any, layer: Any,
                  first: Any, main: Any, w_bits: Any, a_bits: Any, group: Any, lut_arr: Any,
                  dsp_arr: Any, sweep: bool, valid_only: bool) -> tuple[Any, Any, Any, Any]:
    """:func:`_designs_serial` with every split solved (``rho_in`` all NaN), for designs that
    share few pairs of cores: design ``d`` runs on row ``group[d]`` of ``lut_arr`` /
    ``dsp_arr``, and each (cores, layer, weight bits, activation bits) is solved and costed
    once, on first use, by the same :func:`_solve_layer` and :func:`_gemm_term`; every design
    then sums the memoised GEMM terms in GEMM order: bitwise :func:`_designs_serial`."""
    size, n_layers = w_bits.shape
    n_gemms = m.shape[0]
    wmax = 1
    amax = 1
    for d in range(size):
        for i in range(n_layers):
            wmax = max(wmax, w_bits[d, i])
            amax = max(amax, a_bits[d, i])
    n_groups = lut_arr.shape[0]
    done = np.zeros((n_groups, n_layers, wmax + 1, amax + 1), dtype=np.bool_)
    t_rho = np.empty((n_groups, n_layers, wmax + 1, amax + 1))
    t_on = np.empty((n_groups, n_layers, wmax + 1, amax + 1), dtype=np.int8)
    t_term = np.empty((n_groups, n_gemms, wmax + 1, amax + 1))
    cycles = np.empty(size)
    widest = np.empty(size, dtype=np.int64)
    rho_out = np.empty((size, n_layers))
    on_dsp = np.empty((size, n_layers), dtype=np.int8)
    for d in range(size):
        h = group[d]
        widest_d = 1
        for i in range(n_layers):
            w = w_bits[d, i]
            a = a_bits[d, i]
            if not done[h, i, w, a]:
                lut_hw = (lut_arr[h, 0], lut_arr[h, 1], lut_arr[h, 2], lut_arr[h, 3],
                          lut_arr[h, 4])
                dsp_hw = (dsp_arr[h, 0], dsp_arr[h, 1], dsp_arr[h, 2])
                g0 = main[i]
                r, solved, on = _solve_layer(m[g0], n[g0], k[g0], count[g0], independent[g0],
                                             w, a, lut_hw, dsp_hw, sweep, valid_only)
                for g in range(first[i], first[i + 1]):
                    if g == g0 and not np.isnan(solved):
                        t_term[h, g, w, a] = solved
                        continue
                    term, on_g = _gemm_term(m[g], n[g], k[g], count[g], independent[g], w, a,
                                            r, lut_hw, dsp_hw, valid_only)
                    t_term[h, g, w, a] = term
                    if on_g:
                        on = 1
                t_rho[h, i, w, a] = r
                t_on[h, i, w, a] = on
                done[h, i, w, a] = True
            rho_out[d, i] = t_rho[h, i, w, a]
            on_dsp[d, i] = t_on[h, i, w, a]
            if on_dsp[d, i] and a > widest_d:
                widest_d = a
        total = 0.0
        for g in range(n_gemms):
            i = layer[g]
            total += t_term[h, g, w_bits[d, i], a_bits[d, i]]
        cycles[d] = total
        widest[d] = widest_d
    return cycles, rho_out, widest, on_dsp


@numba.njit(cache=True)
def _hardware_groups(lut: Any, dsp: Any, cap: int) -> tuple[Any, Any, int]:
    """Group designs by their pair of cores (rows of ``lut`` and ``dsp``), by a scan over the
    groups found so far (in order of first appearance).

    :return: ``(group [n], first [n_groups], n_groups)``: design ``d`` is in group
        ``group[d]``, whose first design is ``first[group[d]]``; ``n_groups`` is -1 (and the
        arrays partial) once more than ``cap`` groups appear.
    """
    size = lut.shape[0]
    group = np.empty(size, dtype=np.int64)
    first = np.empty(cap + 1, dtype=np.int64)
    n_groups = 0
    for d in range(size):
        found = -1
        for h in range(n_groups):
            f = first[h]
            same = True
            for j in range(lut.shape[1]):
                if lut[d, j] != lut[f, j]:
                    same = False
                    break
            if same:
                for j in range(dsp.shape[1]):
                    if dsp[d, j] != dsp[f, j]:
                        same = False
                        break
            if same:
                found = h
                break
        if found < 0:
            if n_groups == cap:
                return group, first[:n_groups], -1
            first[n_groups] = d
            found = n_groups
            n_groups += 1
        group[d] = found
    return group, first[:n_groups], n_groups


@numba.njit(cache=True)
def _designs_serial(m: Any, n: Any, k: Any, count: Any, independent: Any, layer: Any, main: Any,
                    w_bits: Any, a_bits: Any, rho_in: Any, lut_arr: Any, dsp_arr: Any,
                    sweep: bool, valid_only: bool) -> tuple[Any, Any, Any, Any]:
    size = w_bits.shape[0]
    cycles = np.empty(size)
    widest = np.empty(size, dtype=np.int64)
    rho_out = np.empty(rho_in.shape)
    on_dsp = np.empty(rho_in.shape, dtype=np.int8)
    solved = np.empty(rho_in.shape)
    for d in range(size):
        cycles[d], widest[d] = _design_full(d, m, n, k, count, independent, layer, main, w_bits,
                                            a_bits, rho_in, rho_out, on_dsp, solved, lut_arr,
                                            dsp_arr, sweep, valid_only)
    return cycles, rho_out, widest, on_dsp


@numba.njit(cache=True, parallel=True)
def _designs_parallel(m: Any, n: Any, k: Any, count: Any, independent: Any, layer: Any,
                      main: Any, w_bits: Any, a_bits: Any, rho_in: Any, lut_arr: Any,
                      dsp_arr: Any, sweep: bool, valid_only: bool) -> tuple[Any, Any, Any, Any]:
    # one thread per design, summing in GEMM order: bitwise equal to _designs_serial
    size = w_bits.shape[0]
    cycles = np.empty(size)
    widest = np.empty(size, dtype=np.int64)
    rho_out = np.empty(rho_in.shape)
    on_dsp = np.empty(rho_in.shape, dtype=np.int8)
    solved = np.empty(rho_in.shape)
    for d in prange(size):
        c, w = _design_full(d, m, n, k, count, independent, layer, main, w_bits, a_bits, rho_in,
                            rho_out, on_dsp, solved, lut_arr, dsp_arr, sweep, valid_only)
        cycles[d] = c
        widest[d] = w
    return cycles, rho_out, widest, on_dsp


@numba.njit(cache=True)
def _sweep_one(m: int, n: int, k: int, count: int, independent: Any, w_bits: int, a_bits: int,
               lut_hw: LutHw, dsp_hw: DspHw, valid_only: bool) -> float:
    """``cal_ratio``: the first rho = i*0.01 with L_DSP < L_LUT, minus 0.01 when L_LUT(rho) >
    L_DSP(rho - 0.01); returned as the release's ``round(ratio, 2)``, that is ``j/100``. The
    cycles are the whole GEMM's, split by :func:`_hetero_one` (repetitions when ``count > 1``
    and they are independent)."""
    for i in range(101):
        rho = i * 0.01
        lut_c, dsp_c = _hetero_one(m, n, k, count, independent, w_bits, a_bits, rho, lut_hw,
                                   dsp_hw, valid_only)
        if dsp_c < lut_c:
            dsp_back = _hetero_one(m, n, k, count, independent, w_bits, a_bits, rho - 0.01,
                                   lut_hw, dsp_hw, valid_only)[1]
            if lut_c > dsp_back:
                return (i - 1) / 100.0
            return i / 100.0
    return 1.0  # unreachable for n >= 1: at rho = 1 the DSP core has nothing to run


@numba.njit(cache=True)
def _sweep_batch(m: Any, n: Any, k: Any, count: Any, independent: Any, w_bits: Any, a_bits: Any,
                 lut_hw: LutHw, dsp_hw: DspHw, valid_only: bool) -> Any:
    out = np.empty(m.shape[0])
    for g in range(m.shape[0]):
        out[g] = _sweep_one(m[g], n[g], k[g], count[g], independent[g], w_bits[g], a_bits[g],
                            lut_hw, dsp_hw, valid_only)
    return out


@numba.njit(cache=True)
def _exact_channels(m: int, n: int, k: int, w_bits: int, a_bits: int, lut_hw: LutHw,
                    dsp_hw: DspHw, valid_only: bool) -> tuple[int, float]:
    """The smallest integer ``x = n_L`` in [0, n] minimising ``h(x) = max(L_LUT(x), L_DSP(n-x))``.

    L_LUT is non-decreasing in ``x`` and L_DSP in ``n - x`` (so non-increasing in ``x``), which
    makes ``L_LUT(x) - L_DSP(n-x)`` non-decreasing. Bisection finds the first ``x*`` where the
    LUT side is the slower one. The optimum is ``x*``, or else the left end of the DSP-bound
    plateau that reaches ``x* - 1`` (found by a second bisection).

    L_LUT is monotone in ``n_L`` when R >= 3, and trivially when R = 0 (0, then inf). For
    R in {1, 2} it need not be, and only ``valid_only=False`` evaluates those cases. There this
    falls back to a full scan.
    """
    dk, lmem = lut_hw[1], lut_hw[3]
    big_r = lmem // (((k + dk - 1) // dk) * a_bits)
    if not valid_only and 0 < big_r < _MIN_REGIONS:
        best_x = 0
        best = np.inf
        for x in range(n + 1):
            lut_c, dsp_c = _pair(m, x, n - x, k, w_bits, a_bits, lut_hw, dsp_hw, valid_only)
            if max(lut_c, dsp_c) < best:
                best_x = x
                best = max(lut_c, dsp_c)
        return best_x, best
    lo = 0
    hi = n  # at x = n the DSP side is 0 cycles, so the LUT side is the slower one
    while lo < hi:
        mid = (lo + hi) // 2
        lut_c, dsp_c = _pair(m, mid, n - mid, k, w_bits, a_bits, lut_hw, dsp_hw, valid_only)
        if lut_c >= dsp_c:
            hi = mid
        else:
            lo = mid + 1
    x_star = lo
    lut_c, dsp_c = _pair(m, x_star, n - x_star, k, w_bits, a_bits, lut_hw, dsp_hw, valid_only)
    at_star = max(lut_c, dsp_c)
    if x_star == 0:
        return 0, at_star
    # left of x* the DSP side is the slower one, so h(x* - 1) = L_DSP(n - x* + 1)
    before = _pair(m, x_star - 1, n - x_star + 1, k, w_bits, a_bits, lut_hw, dsp_hw,
                   valid_only)[1]
    if at_star < before:
        return x_star, at_star
    lo = 0
    hi = x_star - 1
    while lo < hi:  # the first x whose DSP side is already down to `before`
        mid = (lo + hi) // 2
        if _pair(m, mid, n - mid, k, w_bits, a_bits, lut_hw, dsp_hw, valid_only)[1] <= before:
            hi = mid
        else:
            lo = mid + 1
    return lo, before


@numba.njit(cache=True)
def _exact_repetitions(m: int, n: int, k: int, count: int, w_bits: int, a_bits: int,
                       lut_hw: LutHw, dsp_hw: DspHw, valid_only: bool) -> tuple[int, float]:
    """The smallest integer ``c = c_L`` in [0, count] minimising
    ``h(c) = max(c*A, (count-c)*B)``, with ``A = L_LUT(n)`` and ``B = L_DSP(n)`` per repetition.

    For ``A, B > 0`` the first piece rises and the second falls strictly, so ``h`` is smallest
    next to where they cross, ``c* = count*B/(A+B)``: a closed form, checked on the integers
    around ``floor(c*)`` against rounding. A core that cannot run (``inf``) gets nothing. The
    verbatim ``A <= 0`` (``valid_only=False``, R < 3) falls back to a scan over ``c``.
    """
    lut_c, dsp_c = _pair(m, n, n, k, w_bits, a_bits, lut_hw, dsp_hw, valid_only)
    return _repetition_split(count, lut_c, dsp_c)


@numba.njit(cache=True)
def _repetition_split(count: int, lut_c: float, dsp_c: float) -> tuple[int, float]:
    """:func:`_exact_repetitions` from one repetition's cycles on each core (``A``, ``B``)."""
    lo = 0
    hi = count
    if np.isinf(lut_c):
        hi = 0
    elif np.isinf(dsp_c):
        lo = count
    elif lut_c > 0.0:  # dsp_c > 0 always: the DSP core's launch alone is 32 cycles
        cross = int(np.floor(count * dsp_c / (lut_c + dsp_c)))
        lo = max(cross - 1, 0)
        hi = min(cross + 2, count)
    best_c = lo
    best = np.inf
    for c in range(lo, hi + 1):
        value = max(_times(c, lut_c), _times(count - c, dsp_c))
        if value < best:
            best_c = c
            best = value
    return best_c, best


@numba.njit(cache=True)
def _exact_one(m: int, n: int, k: int, count: int, independent: Any, w_bits: int, a_bits: int,
               lut_hw: LutHw, dsp_hw: DspHw, valid_only: bool) -> tuple[int, float]:
    """(LUT-core channels of the whole GEMM, its cycles) at the exact balance point: ``n_L`` in
    [0, n] when ``count == 1``, ``c_L*n`` with ``c_L`` in [0, count] when ``count > 1`` and the
    repetitions are independent, ``count*n_L`` (the one-repetition optimum, every repetition in
    sequence) when they are not."""
    if count == 1 or not independent:
        n_l, value = _exact_channels(m, n, k, w_bits, a_bits, lut_hw, dsp_hw, valid_only)
        return count * n_l, count * value
    c_l, value = _exact_repetitions(m, n, k, count, w_bits, a_bits, lut_hw, dsp_hw, valid_only)
    return c_l * n, value


@numba.njit(cache=True)
def _exact_batch(m: Any, n: Any, k: Any, count: Any, independent: Any, w_bits: Any, a_bits: Any,
                 lut_hw: LutHw, dsp_hw: DspHw, valid_only: bool) -> tuple[Any, Any]:
    n_lut = np.empty(m.shape[0], dtype=np.int64)
    cycles = np.empty(m.shape[0])
    for g in range(m.shape[0]):
        x, value, _, _ = _balance_one(m[g], n[g], k[g], count[g], independent[g], w_bits[g],
                                      a_bits[g], lut_hw, dsp_hw, valid_only)
        n_lut[g] = x
        cycles[g] = value
    return n_lut, cycles


# --------------------------------------------------------------------------------------------
# the balance solve of batch_designs and exact_balance: _exact_one's answers, bitwise, faster
# --------------------------------------------------------------------------------------------
#
# L_LUT depends on the LUT core's channels n_L only through T_n = ceil(n_L/Dn), and L_DSP on
# n_D = n - n_L only through its tile count ceil(n_D/16). Everything else (T_m, T_k, R, F_L, r,
# C_Lf, C_Rf, C_ex, d; T_k, r_l, r_r, ...) is computed once per GEMM (_lut_terms, _dsp_terms),
# and each core is then a few operations of its tile count (_lut_at, _dsp_at), bitwise equal to
# _lut_cycles and _dsp_cycles: the same floating-point operations in the same order, and
# integer arithmetic regrouped (exact, and equal modulo 2^64 even on overflow).
#
# _exact_channels's bisections find the smallest minimiser of h(x) = max(L_LUT(x), L_DSP(n-x))
# whenever L_LUT is non-decreasing in x >= 1 and L_DSP in n - x (the cases they run on). That
# minimiser is x = 0 or a point where the DSP core's tile count just dropped (h(x-1) > h(x)
# needs L_DSP(n-x+1) > L_DSP(n-x)): x = n - 16*T for T DSP tiles. _balance_channels searches
# T in [0, ceil(n/16)] (16 times fewer points) for the first T where the DSP side is the slower
# one, starting from the continuous crossing of the two cores' linear trends and galloping out
# from it, and takes that T or the one before. Cases where that monotonicity is not proven go to
# _exact_channels: R in {1, 2} or a negative stall d (valid_only=False only), inputs of 2^24 or
# more (an int64 product could wrap), and cycle counts beyond 2^50, where float rounding could
# break the strict growth the argument uses.

_SAFE_CYCLES = 2.0**50  # below this L_LUT and L_DSP grow strictly with their tile counts


@numba.njit(cache=True, inline="always")
def _lut_terms(m: int, k: int, w_bits: int, a_bits: int, lut_hw: LutHw, valid_only: bool
               ) -> tuple[int, tuple[int, int, int, int, float, float, int, float]]:
    """The terms of :func:`_lut_cycles` that do not depend on ``n``, computed as it computes them.

    :return: ``(status, (T_m, R, F_L, r, C_Lf, C_Rf*F_L, C_ex, d*F_L))``; ``status`` is 0 when
        the core runs, 1 when it gives ``inf`` for every ``n >= 1``, and 2 for the verbatim
        release (``valid_only=False``) with R < 3 or a negative stall ``d``.
    """
    dm, dk, dn, lmem, f = lut_hw
    t_m = (m + dm - 1) // dm
    t_k = (k + dk - 1) // dk
    big_r = lmem // (t_k * a_bits)
    if big_r == 0:
        return 1, (t_m, big_r, 1, 0, 0.0, 0.0, 0, 0.0)
    if f & (f - 1) == 0:  # f = 2^j: X/f is X*2^-j exactly, and 2^-j is exact
        inv_f = 1.0 / f
        c_lf = 41.0 + dm * (dk * a_bits * t_k * inv_f) + 5.0
        c_rf = 41.0 + dn * (t_k * w_bits * dk * inv_f) + 5.0
    else:
        c_lf = 41.0 + dm * (dk * a_bits * t_k / f) + 5.0
        c_rf = 41.0 + dn * (t_k * w_bits * dk / f) + 5.0
    c_ex = (t_k + 8) * w_bits * a_bits + 8
    if c_lf - 1.0 > c_ex:
        d = 0.0
    else:
        d = 10.0 + (big_r - 3) * (c_ex - c_lf)
    status = 0
    if big_r < _MIN_REGIONS or d < 0.0:
        status = 1 if valid_only else 2
    f_l = t_m // big_r  # then ceil(T_m/R), the release's F_L, from the same division
    r = t_m - f_l * big_r
    if r != 0:
        f_l += 1
    return status, (t_m, big_r, f_l, r, c_lf, c_rf * f_l, c_ex, d * f_l)


@numba.njit(cache=True, inline="always")
def _lut_at(t_n: int, terms: tuple[int, int, int, int, float, float, int, float],
            lf_tm: float) -> float:
    """:func:`_lut_cycles` at ``t_n >= 1`` n-tiles from :func:`_lut_terms` (status 0), bitwise.

    ``lf_tm``: ``C_Lf*T_m`` when :func:`_lf_exact` says that ``C_Lf*I/T_n`` is exactly that,
    else negative (then it is computed as the release does).
    """
    t_m, big_r, f_l, r, c_lf, c_rf_fl, c_ex, d_fl = terms
    i = t_n * t_m  # the release's R*T_n*(F_L-1) + r*T_n, or R*T_n*F_L when r = 0
    s = 0
    if i > big_r + 3:
        if f_l > 1:
            s = ((big_r - 3) * (t_n - 1) * f_l + r) * c_ex
        elif r > 3:
            s = (r - 3) * (t_n - 1) * c_ex
    stall = s + d_fl
    fetch = lf_tm if lf_tm >= 0.0 else c_lf * i / t_n
    return 238.0 + fetch + c_rf_fl * t_n + stall


@numba.njit(cache=True, inline="always")
def _lf_exact(c_lf: float, t_m: int, tn_top: float) -> float:
    """``C_Lf*T_m`` if ``C_Lf*I/T_n`` equals it exactly for every ``T_n <= tn_top``, else -1.

    When ``128*C_Lf`` is an integer (``f`` a power of two up to 128) and
    ``128*C_Lf*T_m*tn_top < 2^53``, the product ``C_Lf*I`` (``I = T_n*T_m``) is an integer
    multiple of 2^-7 below 2^46, so exact, and dividing it by ``T_n`` gives ``C_Lf*T_m`` exactly,
    itself such a multiple: no rounding anywhere.
    """
    c2 = c_lf * 128.0  # exact: a power of two
    if c2 == np.floor(c2) and c2 * float(t_m) * tn_top < 2.0**53:
        return c_lf * t_m
    return -1.0


@numba.njit(cache=True, inline="always")
def _dsp_terms(m: int, k: int, packed: bool, dl: int, dr: int
               ) -> tuple[bool, tuple[int, int, int, int]]:
    """:func:`_dsp_cycles` as an affine function of ``T = ceil(n/16)``:
    ``a*(T // r_r) + b*(T % r_r) + c`` (the release's integer sum, regrouped).

    :return: ``(runs, (r_r, a, b, c))``; ``runs`` is False when it gives ``inf`` for every
        ``n >= 1``.
    """
    if packed:
        t_k = (k + 2 * _DSP_BLOCK - 1) // (2 * _DSP_BLOCK)
    else:
        t_k = (k + _DSP_BLOCK - 1) // _DSP_BLOCK
    r_l = dl // t_k
    r_r = dr // t_k // 2
    if r_l == 0 or r_r == 0:
        return False, (1, 0, 0, 0)
    tr_l = m // r_l
    l_l = m % r_l
    rd_r = 40 + 16 * t_k * r_r
    rd_l = 33 + 16 * t_k
    ex = 2 * t_k * r_r * r_l + 6
    lat_l = 2 * t_k * l_l * r_r + rd_r + 33 + 16 * t_k
    a = tr_l * (ex + rd_r + rd_l) + lat_l  # per whole round of r_r tiles (tr_r)
    b = tr_l * (2 * t_k * r_l + 16 * t_k) + 2 * t_k * l_l + 16 * t_k  # per leftover tile (l_r)
    c = tr_l * (rd_l + 96) + 33 + 16 * t_k + 48 + 32
    return True, (r_r, a, b, c)


@numba.njit(cache=True, inline="always")
def _dsp_at(tiles: int, terms: tuple[int, int, int, int]) -> float:
    """:func:`_dsp_cycles` at ``tiles >= 1`` 16-channel tiles from :func:`_dsp_terms`, bitwise
    (0 tiles take 0 cycles: the callers know when they have none)."""
    r_r, a, b, c = terms
    if tiles < r_r:
        return float(b * tiles + c)
    return float(a * (tiles // r_r) + b * (tiles % r_r) + c)


@numba.njit(cache=True, inline="always")
def _lut_part(tiles: int, n: int, dn: int,
              terms: tuple[int, int, int, int, float, float, int, float], lf_tm: float) -> float:
    """L_LUT of the ``n - 16*tiles`` channels left to the LUT core (0 cycles when none are)."""
    x = n - _DSP_BLOCK * tiles
    if x <= 0:
        return 0.0
    return _lut_at((x + dn - 1) // dn, terms, lf_tm)


@numba.njit(cache=True, inline="always")
def _balance_channels(m: int, n: int, k: int, w_bits: int, a_bits: int, lut_hw: LutHw,
                      dsp_hw: DspHw, valid_only: bool) -> tuple[int, float, float]:
    """:func:`_exact_channels`'s ``n_L``, with ``(L_LUT(n_L), L_DSP(n - n_L))``, bitwise: its
    value is their max."""
    dn = lut_hw[2]
    status, lt = _lut_terms(m, k, w_bits, a_bits, lut_hw, valid_only)
    runs, dt = _dsp_terms(m, k, a_bits <= dsp_hw[2], dsp_hw[0], dsp_hw[1])
    t_max = (n + _DSP_BLOCK - 1) // _DSP_BLOCK  # the DSP core's tiles with all n channels
    if status == 1:  # the LUT core cannot run a channel: all of them on the DSP core
        return 0, 0.0, _dsp_at(t_max, dt) if runs else np.inf
    tn_top = n / dn + 1.0  # >= ceil(n/Dn)
    t_m, big_r, f_l, r, c_lf, c_rf_fl, c_ex, d_fl = lt
    r_r, a, b, c = dt
    if status == 0 and runs:
        # Inputs below 2^24 (bits below 64) keep every integer of both setups below 2^53, so
        # exact; then these floating-point upper bounds of both cores over every split bound
        # every integer the evaluations form too, and keep them exact below _SAFE_CYCLES.
        inputs = m | n | k | lut_hw[0] | lut_hw[1] | dn | lut_hw[3] | lut_hw[4]
        lut_top = (238.0 + c_lf * t_m + c_rf_fl * tn_top
                   + (float(big_r + f_l) * tn_top * f_l + r) * c_ex + d_fl)
        dsp_top = float(a) * (t_max / r_r + 1.0) + float(b) * min(r_r, t_max + 1) + float(c)
        if ((inputs | dsp_hw[0] | dsp_hw[1]) >> 24 or (w_bits | a_bits) >> 6
                or not (lut_top < _SAFE_CYCLES and dsp_top < _SAFE_CYCLES)):
            status = 2
    if status == 2:
        x, _ = _exact_channels(m, n, k, w_bits, a_bits, lut_hw, dsp_hw, valid_only)
        lut_c, dsp_c = _pair(m, x, n - x, k, w_bits, a_bits, lut_hw, dsp_hw, valid_only)
        return x, lut_c, dsp_c
    lf_tm = _lf_exact(c_lf, t_m, tn_top)
    if not runs:  # the DSP core cannot run a channel: all of them on the LUT core
        return n, _lut_at((n + dn - 1) // dn, lt, lf_tm), 0.0
    # First T in [0, t_max] with L_DSP(T) >= L_LUT(n - 16T): false at T = 0 (L_LUT(n) >= 238
    # > 0 cycles), true at t_max (the LUT core has nothing left). The guess is where the two
    # cores' linear trends cross: L_LUT at the mean T_n, lut_base + lut_slope*(n - 16T)/Dn, and
    # L_DSP at b per tile within its first round of r_r tiles, else at the mean a/r_r.
    if f_l > 1:
        s_slope = float((big_r - 3) * f_l * c_ex)
        s_base = float((r - (big_r - 3) * f_l) * c_ex)
    elif r > 3:
        s_slope = float((r - 3) * c_ex)
        s_base = -s_slope
    else:
        s_slope = 0.0
        s_base = 0.0
    lut_slope = c_rf_fl + s_slope  # per n-tile
    lut_base = 238.0 + c_lf * t_m + d_fl + s_base + 0.5 * lut_slope
    if t_max < r_r:
        cross = ((dn * (lut_base - c) + lut_slope * n)
                 / (dn * float(b) + _DSP_BLOCK * lut_slope))
    else:  # mean L_DSP: c + (b - a/r_r)*(r_r - 1)/2 + (a/r_r)*T, times r_r
        cross = ((dn * (r_r * (lut_base - c) - (b * r_r - a) * (0.5 * (r_r - 1)))
                  + r_r * lut_slope * n)
                 / (dn * float(a) + _DSP_BLOCK * r_r * lut_slope))
    guess = t_max
    if cross < 1.0:
        guess = 1
    elif cross < t_max:
        guess = int(np.ceil(cross))
    d_g = _dsp_at(guess, dt)
    l_g = _lut_part(guess, n, dn, lt, lf_tm)
    step = 1
    if d_g >= l_g:  # gallop down to a T where the LUT side is still the slower one
        hi, l_hi, d_hi = guess, l_g, d_g
        while True:
            lo = hi - step
            if lo <= 0:
                lo, l_lo, d_lo = 0, _lut_part(0, n, dn, lt, lf_tm), 0.0
                break
            l_lo = _lut_part(lo, n, dn, lt, lf_tm)
            d_lo = _dsp_at(lo, dt)
            if d_lo < l_lo:
                break
            hi, l_hi, d_hi = lo, l_lo, d_lo
            step *= 2
    else:  # gallop up to a T where the DSP side is the slower one
        lo, l_lo, d_lo = guess, l_g, d_g
        while True:
            hi = lo + step
            if hi >= t_max:
                hi, l_hi, d_hi = t_max, 0.0, _dsp_at(t_max, dt)
                break
            l_hi = _lut_part(hi, n, dn, lt, lf_tm)
            d_hi = _dsp_at(hi, dt)
            if d_hi >= l_hi:
                break
            lo, l_lo, d_lo = hi, l_hi, d_hi
            step *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        l_mid = _lut_part(mid, n, dn, lt, lf_tm)
        d_mid = _dsp_at(mid, dt)
        if d_mid >= l_mid:
            hi, l_hi, d_hi = mid, l_mid, d_mid
        else:
            lo, l_lo, d_lo = mid, l_mid, d_mid
    # hi is that first T. Left of it h = L_LUT (non-increasing in T), from it on h = L_DSP
    # (strictly increasing): the largest minimising T (the smallest n_L) is lo or hi.
    if l_lo < d_hi:
        return n - _DSP_BLOCK * lo, l_lo, d_lo
    return max(n - _DSP_BLOCK * hi, 0), l_hi, d_hi


@numba.njit(cache=True, inline="always")
def _balance_one(m: int, n: int, k: int, count: int, independent: Any, w_bits: int, a_bits: int,
                 lut_hw: LutHw, dsp_hw: DspHw, valid_only: bool
                 ) -> tuple[int, float, float, float]:
    """:func:`_exact_one`, bitwise, plus what :func:`_design_full` needs next.

    :return: ``(n_lut, cycles, rho, layer)``: :func:`_exact_one`'s pair, the split
        ``rho = n_lut/(n*count)`` and ``max`` of :func:`_hetero_one` at that ``rho`` (the GEMM's
        cycles in the network sum), from the solve's own core cycles when ``rho`` rounds back to
        the solved split (always but for ``n*count`` near 2^50), else NaN: cost it anew.
    """
    total = n * count
    if count == 1 or not independent:
        x, lut_c, dsp_c = _balance_channels(m, n, k, w_bits, a_bits, lut_hw, dsp_hw, valid_only)
        rho = count * x / total
        layer = np.nan
        n_l, n_d = _split(n, rho)
        if n_l == x and n_d == n - x:  # _hetero_one at rho: count*(L_LUT(x), L_DSP(n - x))
            layer = max(count * lut_c, count * dsp_c)
        return count * x, count * max(lut_c, dsp_c), rho, layer
    lut_c, dsp_c = _pair(m, n, n, k, w_bits, a_bits, lut_hw, dsp_hw, valid_only)
    c_l, value = _repetition_split(count, lut_c, dsp_c)
    rho = c_l * n / total
    layer = np.nan
    if _split_count(count, rho) == c_l:  # _hetero_one at rho: _repeated's c_l and count - c_l
        layer = max(_times(c_l, lut_c), _times(count - c_l, dsp_c))
    return c_l * n, value, rho, layer

# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _lut_hw(core: LutCore) -> LutHw:
    if not isinstance(core, LutCore):
        raise TypeError(f"expected a LutCore, got {type(core).__name__}")
    return (core.rows, core.depth_bits, core.cols, core.act_buffer_depth,
            core.dram_bits_per_cycle)


def _dsp_hw(core: DspCore) -> DspHw:
    """(Dl, Dr, pack_act_bits), rejecting cores the release's equations do not describe."""
    if not isinstance(core, DspCore):
        raise TypeError(f"expected a DspCore, got {type(core).__name__}")
    c = Checker()
    fix = "set the release's value or use the cycle tier"
    c.require(core.block_rows == _DSP_BLOCK, "block_rows", core.block_rows,
              f"the N3H-Core equations fix a 16x16 block; {fix}")
    c.require(core.block_cols == _DSP_BLOCK, "block_cols", core.block_cols,
              f"the N3H-Core equations fix a 16x16 block; {fix}")
    c.require(core.weight_bits == 8, "weight_bits", core.weight_bits,
              f"the N3H-Core equations fix 8-bit DSP weights; {fix}")
    c.require(core.macs_per_dsp_packed == 2, "macs_per_dsp_packed", core.macs_per_dsp_packed,
              f"the N3H-Core equations pack two MACs per DSP; {fix}")
    c.raise_if_any(SpecError, "DspCore (analytic N3H-Core model)")
    return core.input_buffer_depth, core.weight_buffer_depth, core.pack_act_bits


def _int_array(c: Checker, name: str, value: Any, minimum: int, maximum: int | None = None
               ) -> IntArray:
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        c.add(name, value if arr.size <= 8 else arr.dtype, "must be integers")
        return np.zeros(arr.shape, dtype=np.int64)
    bad = arr < minimum if maximum is None else (arr < minimum) | (arr > maximum)
    if np.any(bad):
        rule = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        c.add(name, arr[bad].flat[0], f"must be {rule} everywhere")
    return arr.astype(np.int64, copy=False)


def _flag_array(c: Checker, name: str, value: Any) -> IntArray:
    """Booleans (or 0/1 integers) as int64 0/1, the form the kernels take."""
    arr = np.asarray(value)
    if arr.dtype == np.bool_:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer) or np.any((arr != 0) & (arr != 1)):
        c.add(name, value if arr.size <= 8 else arr.dtype, "must be booleans (or 0/1)")
        return np.zeros(arr.shape, dtype=np.int64)
    return arr.astype(np.int64, copy=False)


def _fraction_array(c: Checker, name: str, value: Any) -> FloatArray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        c.add(name, value, "must be numbers in [0, 1]")
        return np.zeros(0)
    bad = ~((arr >= 0.0) & (arr <= 1.0))  # NaN is bad too
    if np.any(bad):
        c.add(name, arr[bad].flat[0], "must be in [0, 1] everywhere")
    return arr


def _gemm_inputs(c: Checker, m: Any, n: Any, k: Any, w_bits: Any, a_bits: Any, max_bits: int,
                 n_min: int) -> list[IntArray]:
    return [_int_array(c, "m", m, 1), _int_array(c, "n", n, n_min), _int_array(c, "k", k, 1),
            _int_array(c, "w_bits", w_bits, 1, max_bits),
            _int_array(c, "a_bits", a_bits, 1, max_bits)]


def _flat(record: str, c: Checker, arrays: list[Any]) -> tuple[tuple[int, ...], list[Any]]:
    """Raise every problem found so far, then broadcast ``arrays`` and flatten them."""
    c.raise_if_any(RecordError, record)
    try:
        shaped = np.broadcast_arrays(*arrays)
    except ValueError:
        c.add("shapes", [np.shape(a) for a in arrays], "the inputs must broadcast together")
        c.raise_if_any(RecordError, record)
        raise
    return shaped[0].shape, [np.ascontiguousarray(a).ravel() for a in shaped]


def _batch_bits(lut: LutCore) -> int:
    return min(lut.max_bits, 8)  # DSP-core activations are at most 8 bits


def lut_core_problem(k: int, w_bits: int, a_bits: int, core: LutCore, *,
                     valid_only: bool = True) -> str | None:
    """Why the LUT core gives ``inf`` for a GEMM of reduction length ``k``, or ``None``.

    Infeasible when the activation buffer cannot hold one m-tile (``T_k*Ab > LMEM``). With
    ``valid_only`` it is also outside the equations' domain when ``R < 3`` or the stall ``d`` is
    negative (see the module notes).
    """
    dm, dk, _, lmem, f = _lut_hw(core)
    t_k = -(-k // dk)
    big_r = lmem // (t_k * a_bits)
    if big_r == 0:
        return (f"LUT core: one m-tile needs ceil(k/Dk)*a_bits = {t_k}*{a_bits} = "
                f"{t_k * a_bits} activation-buffer entries, LMEM = {lmem}")
    if not valid_only:
        return None
    if big_r < _MIN_REGIONS:
        return (f"LUT core: LMEM = {lmem} holds R = {big_r} m-tiles of {t_k * a_bits} entries; "
                f"the N3H-Core equations need R >= {_MIN_REGIONS} (their stall term goes "
                f"negative); use LMEM >= {_MIN_REGIONS * t_k * a_bits}")
    c_lf = 41.0 + dm * (dk * a_bits * t_k / f) + 5.0
    c_ex = (t_k + 8) * w_bits * a_bits + 8
    d = 0.0 if c_lf - 1.0 > c_ex else 10.0 + (big_r - 3) * (c_ex - c_lf)
    if d < 0.0:
        return (f"LUT core: the N3H-Core stall d = 10 + (R-3)*(C_ex - C_Lf) = {d:g} is negative "
                f"(C_ex = {c_ex}, C_Lf = {c_lf:g}, R = {big_r}), outside the equations' domain")
    return None


def dsp_core_problem(k: int, a_bits: int, core: DspCore) -> str | None:
    """Why the DSP core gives ``inf`` for a GEMM of reduction length ``k``, or ``None``.

    The input buffer must hold one row (``T_k <= Dl``), and each of the weight buffer's two halves
    must hold one too (``2*T_k <= Dr``).
    """
    dl, dr, pack = _dsp_hw(core)
    t_k = -(-k // (2 * _DSP_BLOCK)) if a_bits <= pack else -(-k // _DSP_BLOCK)
    problems = []
    if t_k > dl:
        problems.append(f"input buffer Dl = {dl} < T_k = {t_k}")
    if 2 * t_k > dr:
        problems.append(f"weight buffer Dr = {dr} < 2*T_k = {2 * t_k}")
    return "DSP core: " + "; ".join(problems) if problems else None


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def lut_core_cycles(m: int, n: int, k: int, w_bits: int, a_bits: int, core: LutCore, *,
                    valid_only: bool = True) -> float:
    """Cycles of the BISMO LUT core for one ``(m x k) @ (k x n)`` GEMM.

    :param m: output pixels (rows), >= 1.
    :param n: output channels given to this core, >= 0 (0 gives 0 cycles).
    :param k: reduction length, >= 1.
    :param w_bits: weight bits, 1..``core.max_bits``.
    :param a_bits: activation bits, 1..``core.max_bits``.
    :param valid_only: ``inf`` outside the equations' domain (R < 3, negative stall) instead of
        the release's verbatim, possibly negative, number.
    :return: ``L_LUT`` of REFERENCE.md section 1, or ``inf`` (see :func:`lut_core_problem`).
    """
    hw = _lut_hw(core)
    c = Checker()
    mm, nn, kk, wb, ab = _gemm_inputs(c, m, n, k, w_bits, a_bits, core.max_bits, 0)
    c.raise_if_any(RecordError, "lut_core_cycles input")
    return float(_lut_cycles(int(mm), int(nn), int(kk), int(wb), int(ab), *hw, valid_only))


def dsp_core_cycles(m: int, n: int, k: int, a_bits: int, core: DspCore) -> float:
    """Cycles of the 16x16 DSP core for one ``(m x k) @ (k x n)`` GEMM with 8-bit weights.

    Activations of at most ``core.pack_act_bits`` bits pack two MACs per DSP
    (``T_k = ceil(k/32)``); wider ones do not (``T_k = ceil(k/16)``).

    :param n: output channels given to this core, >= 0 (0 gives 0 cycles).
    :param a_bits: activation bits, 1..8.
    :return: ``L_DSP`` of REFERENCE.md section 1, or ``inf`` (see :func:`dsp_core_problem`).
    """
    dl, dr, pack = _dsp_hw(core)
    c = Checker()
    mm, nn, kk, _, ab = _gemm_inputs(c, m, n, k, 8, a_bits, 8, 0)
    c.raise_if_any(RecordError, "dsp_core_cycles input")
    return float(_dsp_cycles(int(mm), int(nn), int(kk), int(ab) <= pack, dl, dr))


def split_gemm(n: int, count: int, lut_fraction: float, independent: bool = True
               ) -> tuple[int, int, int, int]:
    """How the analytic tier splits a GEMM of ``count`` repetitions of ``n`` output channels.

    ``count == 1``, or repetitions that are not ``independent`` (``Gemm.independent``: an LSTM's
    time steps): ``n_L = round(n*rho)`` channels on the LUT core and ``n_D = round(n*(1-rho))``
    on the DSP core, on each of the ``count`` repetitions (none for a core without channels).
    ``count > 1`` and independent: ``c_L = round(count*rho)`` whole repetitions of all ``n``
    channels on the LUT core and ``c_D = count - c_L`` on the DSP core (see the module notes).

    :return: ``(n_lut, lut_repetitions, n_dsp, dsp_repetitions)``: each core runs its channels
        on each of its repetitions, so it holds ``n_lut*lut_repetitions`` of the GEMM's
        ``n*count`` channels; a core with work has ``n_x*x_repetitions > 0``.
    """
    rho = float(lut_fraction)
    if count == 1 or not independent:  # Python's round is half to even, as np.rint
        n_l, n_d = round(n * rho), round(n * (1.0 - rho))
        return n_l, count if n_l > 0 else 0, n_d, count if n_d > 0 else 0
    c_l = round(count * rho)
    c_d = count - c_l
    return (n if c_l else 0), c_l, (n if c_d else 0), c_d


def hetero_layer_cycles(m: Any, n: Any, k: Any, w_bits: Any, a_bits: Any, lut_fraction: Any,
                        lut: LutCore, dsp: DspCore, *, count: Any = 1, independent: Any = True,
                        valid_only: bool = True) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Cycles of GEMMs split between the LUT and DSP cores, vectorised; each result covers the
    whole GEMM, all ``count`` repetitions.

    ``count == 1``: ``n_L = round(n*rho)`` output channels go to the LUT core and
    ``n_D = round(n*(1-rho))`` to the DSP core (REFERENCE.md; the two can differ from ``n`` by
    one, see the module notes). ``count > 1`` and ``independent``: ``c_L = round(count*rho)``
    whole repetitions (all ``n`` channels each) run back to back on the LUT core and
    ``c_D = count - c_L`` on the DSP core, so ``lut = c_L*L_LUT(n)`` and ``dsp = c_D*L_DSP(n)``.
    ``count > 1`` and not ``independent``: each repetition is split by channels as for
    ``count == 1``, in sequence: ``lut = count*L_LUT(n_L)``, ``dsp = count*L_DSP(n_D)``. The
    LUT core runs at
    ``w_bits`` x ``a_bits``; the DSP core keeps 8-bit weights and packs when
    ``a_bits <= dsp.pack_act_bits``.

    :param m, n, k: GEMM shapes (array-likes of ints >= 1), broadcast with the knobs.
    :param w_bits, a_bits: bit-widths, 1..min(``lut.max_bits``, 8).
    :param lut_fraction: ``rho`` in [0, 1], the share of output channels on the LUT core.
    :param count: repetitions of each GEMM (``Gemm.count``), ints >= 1, broadcast.
    :param independent: whether each GEMM's repetitions may run concurrently on different cores
        (``Gemm.independent``), booleans, broadcast.
    :param valid_only: see :func:`lut_core_cycles`.
    :return: ``(lut_cycles, dsp_cycles, layer_cycles)``, float64 arrays of the broadcast shape,
        with ``layer = max(lut, dsp)``; ``inf`` marks a core that cannot run its share.
    """
    lut_hw, dsp_hw = _lut_hw(lut), _dsp_hw(dsp)
    c = Checker()
    ints = _gemm_inputs(c, m, n, k, w_bits, a_bits, _batch_bits(lut), 1)
    reps = _int_array(c, "count", count, 1)
    indep = _flag_array(c, "independent", independent)
    rho = _fraction_array(c, "lut_fraction", lut_fraction)
    shape, (m1, n1, k1, w1, a1, rho1, c1, i1) = _flat("hetero_layer_cycles input", c,
                                                      [*ints, rho, reps, indep])
    lut_c, dsp_c, layer_c = _hetero_batch(m1, n1, k1, c1, i1, w1, a1, rho1, lut_hw, dsp_hw,
                                          valid_only)
    return lut_c.reshape(shape), dsp_c.reshape(shape), layer_c.reshape(shape)


def batch_network_cycles(arrays: WorkloadArrays, w_bits: Any, a_bits: Any, lut_fraction: Any,
                         lut: LutCore, dsp: DspCore, *, parallel: bool | None = None,
                         valid_only: bool = True) -> FloatArray:
    """Total cycles of many designs of one network: the sum over its GEMMs of
    :func:`hetero_layer_cycles` with ``count = arrays.count`` and
    ``independent = arrays.independent`` (``max(L_LUT, L_DSP)`` for a GEMM of one repetition,
    ``max(c_L*L_LUT, c_D*L_DSP)`` for one of several independent ones, ``count`` times the
    channel split's for dependent ones).

    :param arrays: the network's GEMMs (``Workload.to_arrays()``).
    :param w_bits, a_bits, lut_fraction: per-layer design knobs of shape
        ``[n_designs, n_layers]`` (a 1-D ``[n_layers]`` row is one design); GEMM ``g`` uses
        column ``arrays.layer[g]``. The split follows :func:`hetero_layer_cycles`.
    :param parallel: spread the designs over numba's threads; ``None`` does so from 64 designs
        on. One thread sums each design in GEMM order, so the result is bitwise the same
        either way.
    :param valid_only: see :func:`lut_core_cycles`.
    :return: float64 ``[n_designs]`` cycles; ``inf`` where some GEMM cannot run.
    """
    lut_hw, dsp_hw = _lut_hw(lut), _dsp_hw(dsp)
    n_layers = int(arrays.first_gemm.shape[0]) - 1
    c = Checker()
    knobs = [np.atleast_2d(np.asarray(v)) for v in (w_bits, a_bits, lut_fraction)]
    for name, v in zip(("w_bits", "a_bits", "lut_fraction"), knobs, strict=True):
        if v.ndim != 2 or v.shape[1] != n_layers:
            c.add(name, v.shape, f"must have shape [n_designs, {n_layers}], one column a layer")
    if len({v.shape for v in knobs}) != 1:
        c.add("lut_fraction", [v.shape for v in knobs],
              "w_bits, a_bits and lut_fraction must have the same shape")
    wb = _int_array(c, "w_bits", knobs[0], 1, _batch_bits(lut))
    ab = _int_array(c, "a_bits", knobs[1], 1, _batch_bits(lut))
    rho = _fraction_array(c, "lut_fraction", knobs[2])
    c.raise_if_any(RecordError, "batch_network_cycles design")
    use_parallel = wb.shape[0] >= _PARALLEL_MIN_DESIGNS if parallel is None else parallel
    kernel = _network_parallel if use_parallel else _network_serial
    result: FloatArray = kernel(arrays.m, arrays.n, arrays.k, arrays.count, arrays.independent,
                                arrays.layer,
                                np.ascontiguousarray(wb), np.ascontiguousarray(ab),
                                np.ascontiguousarray(rho), lut_hw, dsp_hw, valid_only)
    return result


def n3h_sweep_balance(m: Any, n: Any, k: Any, w_bits: Any, a_bits: Any, lut: LutCore,
                      dsp: DspCore, *, count: Any = 1, independent: Any = True,
                      valid_only: bool = True) -> FloatArray:
    """The release's balance rule (``cal_ratio``), vectorised over GEMMs.

    Sweeps ``rho = 0, 0.01, ..., 1``. At the first ``rho`` with ``L_DSP < L_LUT`` it steps back
    to ``rho - 0.01`` when ``L_LUT(rho) > L_DSP(rho - 0.01)`` (the previous split is then
    faster), then rounds to two decimals as the release's ``step`` does. Splits, and the whole
    GEMM's cycles compared, are :func:`hetero_layer_cycles`'s: output channels when
    ``count == 1`` or the repetitions are not ``independent``, whole repetitions otherwise.

    :param count: repetitions of each GEMM (``Gemm.count``), ints >= 1, broadcast.
    :param independent: ``Gemm.independent`` of each GEMM, booleans, broadcast.
    :return: float64 ``rho`` of the broadcast shape, a multiple of 0.01.
    """
    lut_hw, dsp_hw = _lut_hw(lut), _dsp_hw(dsp)
    c = Checker()
    ints = _gemm_inputs(c, m, n, k, w_bits, a_bits, _batch_bits(lut), 1)
    reps = _int_array(c, "count", count, 1)
    indep = _flag_array(c, "independent", independent)
    shape, (m1, n1, k1, w1, a1, c1, i1) = _flat("n3h_sweep_balance input", c,
                                                [*ints, reps, indep])
    result: FloatArray = _sweep_batch(m1, n1, k1, c1, i1, w1, a1, lut_hw, dsp_hw, valid_only)
    return result.reshape(shape)


def exact_balance(m: Any, n: Any, k: Any, w_bits: Any, a_bits: Any, lut: LutCore, dsp: DspCore,
                  *, count: Any = 1, independent: Any = True, valid_only: bool = True
                  ) -> tuple[IntArray, FloatArray]:
    """The integer split that minimises each GEMM's latency, vectorised over GEMMs.

    ``count == 1``: the smallest ``n_L`` in ``[0, n]`` minimising
    ``max(L_LUT(n_L), L_DSP(n - n_L))``. Channels are conserved, unlike the rounded ``rho``
    split. The search runs over the DSP core's 16-channel tile counts from where the two cores'
    linear trends cross, usually two evaluations of each core once their split-independent
    terms are computed; it relies on L_LUT being non-decreasing in ``n_L`` (true for R >= 3)
    and L_DSP in ``n_D``. For the non-monotone R in {1, 2} and a negative stall, reachable only
    with ``valid_only=False``, a full scan over ``n_L`` (R < 3) or a bisection over it is used
    instead. Either way the answer is bitwise the reference bisection's (``_exact_one``).

    ``count > 1`` and ``independent``: the smallest ``c_L`` in ``[0, count]`` minimising
    ``max(c_L*L_LUT(n), (count - c_L)*L_DSP(n))``, in closed form (two core evaluations; the
    two pieces cross at ``count*L_DSP/(L_LUT + L_DSP)``); the LUT core then holds ``c_L*n``
    channels.

    ``count > 1`` and not ``independent`` (an LSTM's time steps): every repetition takes the
    ``count == 1`` optimum ``n_L``, in sequence: ``count*n_L`` channels, ``count`` times the
    cycles.

    :param count: repetitions of each GEMM (``Gemm.count``), ints >= 1, broadcast.
    :param independent: ``Gemm.independent`` of each GEMM, booleans, broadcast.
    :return: ``(n_lut, layer_cycles)``: int64 output channels on the LUT core over the whole
        GEMM (``n_L``, ``c_L*n`` or ``count*n_L``; ``lut_fraction = n_lut/(n*count)``
        reproduces the split)
        and float64 cycles of the whole GEMM, of the broadcast shape; ``inf`` cycles when no
        split can run.
    """
    lut_hw, dsp_hw = _lut_hw(lut), _dsp_hw(dsp)
    c = Checker()
    ints = _gemm_inputs(c, m, n, k, w_bits, a_bits, _batch_bits(lut), 1)
    reps = _int_array(c, "count", count, 1)
    indep = _flag_array(c, "independent", independent)
    shape, (m1, n1, k1, w1, a1, c1, i1) = _flat("exact_balance input", c, [*ints, reps, indep])
    n_lut, cycles = _exact_batch(m1, n1, k1, c1, i1, w1, a1, lut_hw, dsp_hw, valid_only)
    return n_lut.reshape(shape), cycles.reshape(shape)


def hardware_rows(luts: Any, dsps: Any) -> tuple[IntArray, IntArray]:
    """Kernel rows ``[n, 5]`` (Dm, Dk, Dn, LMEM, f) and ``[n, 3]`` (Dl, Dr, pack_act_bits) of
    sequences of cores, validated as :func:`batch_designs` needs them."""
    lut = np.array([_lut_hw(c) for c in luts], dtype=np.int64).reshape(-1, 5)
    dsp = np.array([_dsp_hw(c) for c in dsps], dtype=np.int64).reshape(-1, 3)
    return lut, dsp


def batch_designs(arrays: WorkloadArrays, main: Any, w_bits: Any, a_bits: Any,
                  lut_fraction: Any, lut_rows: Any, dsp_rows: Any, *, balance: str = "exact",
                  parallel: bool | None = None, valid_only: bool = True,
                  memo: bool | None = None
                  ) -> tuple[FloatArray, FloatArray, IntArray, npt.NDArray[np.int8]]:
    """Many designs of one network, each on its own pair of cores, in one kernel call.

    Where ``lut_fraction`` is NaN the split is solved on the layer's largest GEMM (``main``,
    an index into ``arrays`` per layer) by :func:`exact_balance` (``balance="exact"``, as
    ``n_lut/(n*count)``) or by the release's sweep (``"n3h-sweep"``, :func:`n3h_sweep_balance`);
    then every GEMM is costed as :func:`batch_network_cycles` does, bitwise.

    :param w_bits, a_bits, lut_fraction: ``[n_designs, n_layers]`` (ints; floats, NaN = solve).
    :param lut_rows, dsp_rows: ``[n_designs, 5]`` and ``[n_designs, 3]`` int rows from
        :func:`hardware_rows` (the cores of each design).
    :return: ``(cycles [n], lut_fraction used [n, n_layers], widest [n], on_dsp [n, n_layers])``:
        ``on_dsp`` is 1 where some GEMM of the layer leaves work on the DSP core (by
        :func:`split_gemm`'s rule), and ``widest`` the widest activation of those layers (1 when
        none): the one place the DSP core's resources are charged from.

    When every split is solved and the designs share at most ``_MEMO_MAX_GROUPS`` pairs of
    cores (a space without hardware knobs, a converged population), each (cores, layer, bits)
    is solved once and the designs sum the memoised terms (:func:`_designs_memo`, bitwise the
    same result); ``memo=False`` forces the per-design kernel (``parallel`` applies to it).
    """
    if balance not in ("exact", "n3h-sweep"):
        raise RecordError("batch_designs input", [Problem(
            "balance", balance, "must be 'exact' or 'n3h-sweep'")])
    wb = np.ascontiguousarray(w_bits, dtype=np.int64)
    ab = np.ascontiguousarray(a_bits, dtype=np.int64)
    rho = np.ascontiguousarray(lut_fraction, dtype=np.float64)
    lut = np.ascontiguousarray(lut_rows, dtype=np.int64)
    dsp = np.ascontiguousarray(dsp_rows, dtype=np.int64)
    n_layers = int(arrays.first_gemm.shape[0]) - 1
    n_designs = wb.shape[0] if wb.ndim == 2 else -1
    c = Checker()
    for name, v, width in (("w_bits", wb, n_layers), ("a_bits", ab, n_layers),
                           ("lut_fraction", rho, n_layers), ("lut_rows", lut, 5),
                           ("dsp_rows", dsp, 3)):
        c.require(v.ndim == 2 and v.shape == (n_designs, width), name, v.shape,
                  f"must have shape [{n_designs}, {width}]")
    c.raise_if_any(RecordError, "batch_designs input")
    main = np.ascontiguousarray(main, dtype=np.int64)
    sweep = balance == "n3h-sweep"
    if (memo is not False and n_designs > 1 and np.isnan(rho).all()
            and wb.min() >= 0 and ab.min() >= 0 and max(wb.max(), ab.max()) <= _MEMO_MAX_BITS):
        group, first, n_groups = _hardware_groups(lut, dsp, _MEMO_MAX_GROUPS)
        if n_groups > 0:
            return _designs_memo(arrays.m, arrays.n, arrays.k, arrays.count, arrays.independent,
                                 arrays.layer, arrays.first_gemm, main, wb, ab, group,
                                 lut[first], dsp[first], sweep, valid_only)
    if parallel is None:  # a pool of one thread only adds its launch to the serial loop
        use_parallel = wb.shape[0] >= _PARALLEL_MIN_DESIGNS and numba.get_num_threads() > 1
    else:
        use_parallel = parallel
    kernel = _designs_parallel if use_parallel else _designs_serial
    cycles, rho_out, widest, on_dsp = kernel(arrays.m, arrays.n, arrays.k, arrays.count,
                                             arrays.independent, arrays.layer, main, wb, ab,
                                             rho, lut, dsp, sweep, valid_only)
    return cycles, rho_out, widest, on_dsp
