"""Inputs that kill mutants of the analytic kernels the random tests in test_analytic.py let live.

Each case was found by ``benchmarks/mutation_hunt.py`` (a random search for inputs on which a
surviving cosmic-ray mutant of ``hwsim/fpga/analytic.py`` and the original disagree, README
"Mutation testing") and is checked here against the plain-Python references of
``tests/naive.py``, never against the kernel itself. The comment of each case names the mutant
it kills.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from hwsim.fpga import analytic as an
from hwsim.ir.workload import WorkloadArrays


def _load_naive():  # tests/ is not a package; load tests/naive.py by path
    path = Path(__file__).resolve().parents[2] / "naive.py"
    spec = importlib.util.spec_from_file_location("codesign_tests_naive_mutants", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


naive = _load_naive()

# (m, n, k, count, independent, w_bits, a_bits, lut (Dm, Dk, Dn, LMEM, f), dsp (Dl, Dr, pack),
#  valid_only)
BALANCE_CASES = [
    # `if status == 2` -> `== 1` (the verbatim release's R < 3 handed to the bisection): with
    # R < 3 L_LUT is not monotone in the LUT core's channels, and the tile search picks another
    # split
    (196, 96, 618, 1, False, 8, 7, (60, 128, 16, 38, 64), (26544, 11885, 8), False),
    (7694, 32, 2718, 1, True, 6, 6, (34, 192, 6, 108, 64), (95737, 1024, 8), False),
    # `f & (f - 1) == 0` -> `f & (f + 1) == 0` (f = 7 taken for a power of two): C_Lf as
    # X * (1/7) instead of X / 7 is one ulp off
    (16, 237, 1970, 1, False, 2, 6, (62, 64, 21, 609013, 7), (24576, 43, 8), False),
    # `c2 = c_lf * 128.0` -> `* 129.0` (_lf_exact): with f = 27, C_Lf is inexact, yet 129*C_Lf
    # rounds to an integer, so the mutant takes C_Lf*T_m for C_Lf*I/T_n: one ulp off
    (13169, 507, 286, 1, False, 2, 6, (41, 192, 45, 18432, 27), (20, 11171, 4), False),
]


@pytest.mark.parametrize("case", BALANCE_CASES)
def test_balance_solve_matches_the_full_scan(case: tuple) -> None:
    """The fast solve's split and cycles are the plain full scan's, bitwise."""
    m, n, k, count, indep, w, a, lut, dsp, valid_only = case
    want = naive.scan_balance(m, n, k, w, a, lut, dsp, valid_only, count, indep)
    assert an._balance_one(m, n, k, count, indep, w, a, lut, dsp, valid_only)[:2] == want
    assert an._exact_one(m, n, k, count, indep, w, a, lut, dsp, valid_only) == want


def test_memoised_designs_on_many_pairs_of_cores_match_the_naive_network() -> None:
    """Eight designs on eight different pairs of cores, every split solved: the memoised path
    (more groups than any other dimension of its tables) gives each design the plain scan's
    splits on the layer's largest GEMM and the plain network sum at those splits.
    Kills ``n_groups = lut_arr.shape[0]`` -> ``shape[1]`` (tables sized for 5 groups)."""
    # three layers: two GEMMs (the second the largest), one with independent repetitions, one
    # with dependent ones
    m = [196, 196, 49, 4]
    n = [64, 128, 1, 512]
    k = [576, 576, 9, 384]
    count = [1, 1, 96, 8]
    layer = [0, 0, 1, 2]
    first = [0, 2, 3, 4]
    indep = [1, 1, 1, 0]
    arrays = WorkloadArrays(*[np.array(v, dtype=np.int64) for v in
                                 (m, n, k, count, layer, first, indep)])
    main = np.array([1, 2, 3], dtype=np.int64)
    rng = np.random.default_rng(3)
    size = 8
    luts = [(int(rng.choice([4, 8, 16])), 128, int(rng.choice([8, 16])), 1024 * (d + 1), 64)
            for d in range(size)]
    dsps = [(2048 * (1 + d % 3), 1024, 4) for d in range(size)]
    w = rng.integers(2, 9, size=(size, 3))
    a = rng.integers(2, 9, size=(size, 3))
    rho = np.full((size, 3), np.nan)
    lut_rows = np.array(luts, dtype=np.int64)
    dsp_rows = np.array(dsps, dtype=np.int64)
    _, _, groups = an._hardware_groups(lut_rows, dsp_rows, an._MEMO_MAX_GROUPS)
    assert groups == size  # the memoised path, with eight groups
    cycles, rho_out, _, _ = an.batch_designs(arrays, main, w, a, rho, lut_rows, dsp_rows)
    for d in range(size):
        want_rho = []
        for i, g in enumerate(main):
            n_lut, _ = naive.scan_balance(m[g], n[g], k[g], int(w[d, i]), int(a[d, i]), luts[d],
                                          dsps[d], True, count[g], bool(indep[g]))
            want_rho.append(n_lut / (n[g] * count[g]))
        assert rho_out[d].tolist() == want_rho
        want = naive.network_cycles(m, n, k, count, layer, w[d].tolist(), a[d].tolist(),
                                    want_rho, luts[d], dsps[d], True, [bool(x) for x in indep])
        assert cycles[d] == want


def test_memoised_designs_without_dsp_work_report_widest_one() -> None:
    """A DSP core too small to run anything (Dl < T_k: no row fits) leaves every layer on the
    LUT core; ``widest`` is then 1 (the documented value when no layer uses the DSP core) and
    no layer is marked as using it. Kills ``widest_d = 1`` -> ``0`` in the memoised path."""
    arrays = WorkloadArrays(*[np.array(v, dtype=np.int64) for v in
                              ([196, 49], [64, 128], [576, 1152], [1, 1], [0, 1], [0, 1, 2],
                               [1, 1])])
    main = np.array([0, 1], dtype=np.int64)
    lut = np.array([(8, 128, 16, 4096, 64)] * 3, dtype=np.int64)
    dsp = np.array([(1, 1, 4)] * 3, dtype=np.int64)  # r_l = Dl // T_k = 0: cannot run
    w = np.array([[4, 8], [2, 2], [8, 4]])
    a = np.array([[4, 8], [2, 2], [8, 4]])
    rho = np.full((3, 2), np.nan)
    cycles, rho_out, widest, on_dsp = an.batch_designs(arrays, main, w, a, rho, lut, dsp)
    assert widest.tolist() == [1, 1, 1]
    assert on_dsp.tolist() == [[0, 0]] * 3
    assert rho_out.tolist() == [[1.0, 1.0]] * 3
    for d in range(3):  # everything on the LUT core: the plain LUT-core cycles, summed
        want = sum(naive.lut_core_cycles(arrays.m[g], arrays.n[g], arrays.k[g], int(w[d, g]),
                                         int(a[d, g]), 8, 128, 16, 4096, 64) for g in range(2))
        assert cycles[d] == want


@pytest.mark.parametrize("w_bits", [1, 2, 8])
def test_lut_core_from_its_terms_matches_the_naive_model_on_small_tile_counts(w_bits: int) -> None:
    """The tile search's L_LUT (``_lut_at`` on ``_lut_terms``), at every small (T_m, R, T_n) with
    T_k = 1, Dm = Dn = 1: bitwise the plain transcription of the release's ``cal_bismo``.
    Small counts put ``I = T_n*T_m`` on the stall's threshold ``R + 3`` (kills ``i > big_r + 3``
    -> ``+ 2`` in ``_lut_at``, which the balance tests never evaluate there)."""
    k, a_bits, dk, f = 64, 1, 64, 64
    for lmem in range(3, 11):  # R = LMEM // (T_k * a_bits) = LMEM
        for m in range(1, 13):  # T_m = m
            status, terms = an._lut_terms(m, k, w_bits, a_bits, (1, dk, 1, lmem, f), True)
            assert status == 0
            for n in range(1, 7):  # T_n = n
                want = naive.lut_core_cycles(m, n, k, w_bits, a_bits, 1, dk, 1, lmem, f)
                assert an._lut_at(n, terms, -1.0) == want
                exact = an._lf_exact(terms[4], m, n + 1.0)
                assert an._lut_at(n, terms, exact) == want


def test_two_independent_repetitions_split_whole_on_the_dsp_flag() -> None:
    """A layer of two independent repetitions at a given split of 0.8 runs both on the LUT
    core: c_L = round(2 * 0.8) = 2, c_D = 0 (split_gemm's rule, worked by hand), so the layer
    leaves no work on the DSP core and the widest DSP activation stays 1, although a split by
    channels would give the DSP core round(64 * 0.2) = 13 of them. Kills ``count > 1`` ->
    ``count > 2`` in ``_gemm_term``."""
    arrays = WorkloadArrays(*[np.array(v, dtype=np.int64) for v in
                              ([196, 196], [64, 64], [576, 576], [1, 2], [0, 1], [0, 1, 2],
                               [1, 1])])
    main = np.array([0, 1], dtype=np.int64)
    lut = np.array([(8, 128, 16, 4096, 64)], dtype=np.int64)
    dsp = np.array([(2048, 1024, 4)], dtype=np.int64)
    w = np.array([[4, 4]])
    a = np.array([[8, 6]])
    rho = np.array([[1.0, 0.8]])  # layer 0 all on the LUT core; layer 1 by repetitions
    cycles, _, widest, on_dsp = an.batch_designs(arrays, main, w, a, rho, lut, dsp)
    assert on_dsp.tolist() == [[0, 0]]
    assert widest.tolist() == [1]
    lut_hw = (8, 128, 16, 4096, 64)
    want = (naive.lut_core_cycles(196, 64, 576, 4, 8, *lut_hw)
            + 2 * naive.lut_core_cycles(196, 64, 576, 4, 6, *lut_hw))
    assert cycles[0] == want
