"""Slow, obviously correct reference implementations that the jitted kernels are tested against.

Each function is a plain-Python transcription of one kernel, written to be read next to its
source rather than to be fast (the habit of STUMPY's ``tests/naive.py``). Infeasible and
out-of-domain configurations return ``math.inf``, as the kernels do.

N3H-Core formulas: REFERENCE.md section 1, transcribed from the authors' release
(github.com/zhihanxu/N3H-Core, ``lib/env/linear_quantize_env_ru.py``: ``cal_bismo``,
``cal_dsp``, ``cal_ratio``). Hardware tuples: ``lut = (Dm, Dk, Dn, LMEM, f)``,
``dsp = (Dl, Dr, pack_act_bits)``.
"""

from __future__ import annotations

import math

LutHw = tuple[int, int, int, int, int]
DspHw = tuple[int, int, int]


def lut_core_cycles(m: int, n: int, k: int, w_bits: int, a_bits: int, dm: int, dk: int, dn: int,
                    lmem: int, f: int, valid_only: bool = True) -> float:
    """BISMO LUT-core cycles of an ``m x k`` by ``k x n`` GEMM: ``cal_bismo`` without ``1e-5``.

    ``valid_only``: ``inf`` when R < 3 or the stall ``d`` is negative (outside the domain).
    """
    if n == 0:
        return 0.0
    t_m = math.ceil(m / dm)
    t_n = math.ceil(n / dn)
    t_k = math.ceil(k / dk)
    big_r = math.floor(lmem / (t_k * a_bits))
    if big_r == 0:
        return math.inf
    f_l = math.ceil(t_m / big_r)
    r = t_m % big_r
    if r != 0:
        i = big_r * t_n * (f_l - 1) + r * t_n
    else:
        i = big_r * t_n * f_l
    c_lf = 32 + 9 + dm * (dk * a_bits * t_k / f) + 5
    c_rf = 32 + 9 + dn * (t_k * w_bits * dk / f) + 5
    c_ex = (t_k + 8) * w_bits * a_bits + 8
    if c_lf - 1 > c_ex:
        d = 0.0
    else:
        d = 10 + (big_r - 3) * (c_ex - c_lf)
    if valid_only and (big_r < 3 or d < 0):
        return math.inf
    if i > big_r + 3:
        if f_l > 1:
            s = ((big_r - 3) * (t_n - 1) * f_l + r) * c_ex
        elif r > 3:
            s = (r - 3) * (t_n - 1) * c_ex
        else:
            s = 0
    else:
        s = 0
    s = s + d * f_l
    return 238 + c_lf * i / t_n + c_rf * f_l * t_n + s


def dsp_core_cycles(m: int, n: int, k: int, packed: bool, dl: int, dr: int) -> float:
    """DSP-core cycles of an ``m x k`` by ``k x n`` GEMM: ``cal_dsp`` without ``1e-5``."""
    if n == 0:
        return 0.0
    t_k = math.ceil(k / 32) if packed else math.ceil(k / 16)
    t_m = m
    t_n = math.ceil(n / 16)
    r_l = dl // t_k
    r_r = dr // t_k // 2
    if r_l == 0 or r_r == 0:
        return math.inf
    tr_l, l_l = divmod(t_m, r_l)
    tr_r, l_r = divmod(t_n, r_r)
    rd_r = 40 + 16 * t_k * r_r
    rd_l = 33 + 16 * t_k
    ex = 2 * t_k * r_r * r_l + 6
    lat_l = 2 * t_k * l_l * r_r + rd_r + 33 + 16 * t_k
    lat_r = 2 * t_k * r_l * l_r + rd_l + 96 + 16 * t_k * l_r
    lat_lr = 2 * t_k * l_r * l_l + 33 + 16 * t_k + 48 + 16 * t_k * l_r
    return float(tr_l * tr_r * (ex + rd_r + rd_l) + tr_r * lat_l + tr_l * lat_r + lat_lr + 32)


def split_channels(n: int, rho: float) -> tuple[int, int]:
    """REFERENCE.md's split: ``n_L = round(n*rho)``, ``n_D = round(n*(1-rho))`` (Python round)."""
    return round(n * rho), round(n * (1 - rho))


def split_repetitions(count: int, rho: float) -> tuple[int, int]:
    """A ``count > 1`` GEMM's split: ``c_L = round(count*rho)`` whole repetitions on the LUT core,
    the other ``count - c_L`` on the DSP core."""
    c_l = round(count * rho)
    return c_l, count - c_l


def pair_cycles(m: int, n_l: int, n_d: int, k: int, w_bits: int, a_bits: int, lut: LutHw,
                dsp: DspHw, valid_only: bool = True) -> tuple[float, float]:
    """(L_LUT with ``n_l`` channels, L_DSP with ``n_d`` channels)."""
    return (lut_core_cycles(m, n_l, k, w_bits, a_bits, *lut, valid_only=valid_only),
            dsp_core_cycles(m, n_d, k, a_bits <= dsp[2], dsp[0], dsp[1]))


def repetition_cycles(m: int, n: int, k: int, c_l: int, c_d: int, w_bits: int, a_bits: int,
                      lut: LutHw, dsp: DspHw, valid_only: bool = True) -> tuple[float, float]:
    """(LUT, DSP) cycles when the LUT core runs ``c_l`` repetitions of all ``n`` channels back to
    back and the DSP core ``c_d``; a core with no repetitions takes 0 cycles."""
    lut_c = c_l * lut_core_cycles(m, n, k, w_bits, a_bits, *lut, valid_only=valid_only) \
        if c_l else 0.0
    dsp_c = c_d * dsp_core_cycles(m, n, k, a_bits <= dsp[2], dsp[0], dsp[1]) if c_d else 0.0
    return lut_c, dsp_c


def hetero_layer_cycles(m: int, n: int, k: int, w_bits: int, a_bits: int, rho: float, lut: LutHw,
                        dsp: DspHw, valid_only: bool = True, count: int = 1,
                        independent: bool = True) -> tuple[float, float, float]:
    """(LUT, DSP, layer) cycles of one GEMM of ``count`` repetitions split by ``rho``: whole
    repetitions when ``count > 1`` and they are ``independent``; otherwise each repetition's
    output channels, the repetitions one after another (``count`` times one's cycles)."""
    if count == 1 or not independent:
        n_l, n_d = split_channels(n, rho)
        lut_one, dsp_one = pair_cycles(m, n_l, n_d, k, w_bits, a_bits, lut, dsp, valid_only)
        lut_c, dsp_c = count * lut_one, count * dsp_one
    else:
        c_l, c_d = split_repetitions(count, rho)
        lut_c, dsp_c = repetition_cycles(m, n, k, c_l, c_d, w_bits, a_bits, lut, dsp,
                                         valid_only)
    return lut_c, dsp_c, max(lut_c, dsp_c)


def network_cycles(m: list[int], n: list[int], k: list[int], count: list[int], layer: list[int],
                   w_bits: list[int], a_bits: list[int], rho: list[float], lut: LutHw,
                   dsp: DspHw, valid_only: bool = True,
                   independent: list[bool] | None = None) -> float:
    """Sum over GEMMs of their layer cycles (all repetitions); design lists are indexed by layer."""
    total = 0.0
    for g in range(len(m)):
        i = layer[g]
        cycles = hetero_layer_cycles(m[g], n[g], k[g], w_bits[i], a_bits[i], rho[i], lut, dsp,
                                     valid_only, count[g],
                                     True if independent is None else bool(independent[g]))
        total += cycles[2]
    return total


def n3h_sweep_balance(m: int, n: int, k: int, w_bits: int, a_bits: int, lut: LutHw, dsp: DspHw,
                      valid_only: bool = True, count: int = 1, independent: bool = True
                      ) -> float:
    """``cal_ratio`` of the release, then ``round(ratio, 2)`` as its ``step`` does."""
    def cycles(rho: float) -> tuple[float, float, float]:
        return hetero_layer_cycles(m, n, k, w_bits, a_bits, rho, lut, dsp, valid_only, count,
                                   independent)

    ratio = 0.0
    for ratio in [i * 0.01 for i in range(101)]:  # np.arange(0., 1.01, 0.01)
        if cycles(ratio)[1] < cycles(ratio)[0]:
            if cycles(ratio)[0] > cycles(ratio - 0.01)[1]:
                ratio = ratio - 0.01
            break
    return round(ratio, 2)


def scan_balance(m: int, n: int, k: int, w_bits: int, a_bits: int, lut: LutHw, dsp: DspHw,
                 valid_only: bool = True, count: int = 1, independent: bool = True
                 ) -> tuple[int, float]:
    """Full scan over integer splits: the first minimiser, as LUT-core channels of the whole GEMM,
    and its cycles. ``count == 1`` or dependent repetitions: ``n_L`` in [0, n] with
    ``n_D = n - n_L`` on every repetition, reported as ``count*n_L`` channels and ``count`` times
    one repetition's cycles; independent ``count > 1``: ``c_L`` in [0, count] with
    ``c_D = count - c_L``, reported as ``c_L*n`` channels."""
    best_n, best = 0, math.inf
    if count == 1 or not independent:
        for n_l in range(n + 1):
            value = max(pair_cycles(m, n_l, n - n_l, k, w_bits, a_bits, lut, dsp, valid_only))
            if value < best:
                best_n, best = n_l, value
        return count * best_n, count * best
    for c_l in range(count + 1):
        value = max(repetition_cycles(m, n, k, c_l, count - c_l, w_bits, a_bits, lut, dsp,
                                      valid_only))
        if value < best:
            best_n, best = c_l * n, value
    return best_n, best
