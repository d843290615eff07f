"""N3H-Core analytic latency model: golden figures, kernels vs ``tests/naive.py``, properties.

Goldens regenerate with ``python tests/hwsim/fpga/test_analytic.py`` (it prints them).

Length: over 600 lines on purpose: one test module per kernel module, mirroring
hwsim/fpga/analytic.py.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hwsim.errors import RecordError, SpecError
from hwsim.fpga import analytic as an
from hwsim.fpga import (
    batch_network_cycles,
    dsp_core_cycles,
    dsp_core_problem,
    exact_balance,
    hetero_layer_cycles,
    lut_core_cycles,
    lut_core_problem,
    n3h_sweep_balance,
)
from hwsim.ir import zoo
from hwsim.ir.workload import WorkloadArrays
from hwsim.spec.records import DspCore, LutCore


def _load_naive():  # tests/ is not a package; load tests/naive.py by path
    path = Path(__file__).resolve().parents[2] / "naive.py"
    spec = importlib.util.spec_from_file_location("codesign_tests_naive", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


naive = _load_naive()

# ResNet-18 / ImageNet as 21 GEMMs (m, k, n), REFERENCE.md section 1 (the release's arrays)
M = [12544] + [3136] * 4 + [784] * 5 + [196] * 5 + [49] * 5 + [1]
K = [147, 576, 576, 576, 576, 576, 1152, 64, 1152, 1152, 1152, 2304, 128, 2304, 2304,
     2304, 4608, 256, 4608, 4608, 512]
N = [64] * 5 + [128] * 5 + [256] * 5 + [512] * 5 + [1000]
# "DSP core alone": first conv and last FC W8A8, the rest W8 x A<=4 packed (the release's sarray)
A_DSP = [8] + [4] * 19 + [8]

# the sanity hardware: Dm=8, Dk=128, Dn=16, LMEM=1024, Dl=2048, Dr=1024, f=64, 100 MHz
LUT = LutCore(rows=8, depth_bits=128, cols=16, act_buffer_depth=1024)
DSP = DspCore(input_buffer_depth=2048, weight_buffer_depth=1024)
LUT_HW = (8, 128, 16, 1024, 64)
DSP_HW = (2048, 1024, 4)
MS_PER_CYCLE = 1e-5  # 100 MHz

# exact goldens of this transcription (cycles)
GOLDEN_LUT_ALONE = {8: 19084318.0, 4: 5670962.0, 2: 2162154.0}
GOLDEN_DSP_ALONE = 10022833.0
GOLDEN_DSP_ALL_W8A8 = 26278030.0
GOLDEN_DSP_ALL_PACKED = 9460048.0
GOLDEN_SWEEP_A4W4 = [0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 0.63, 0.25, 0.63, 0.63, 0.69, 0.75, 0.44,
                     0.75, 0.75, 0.69, 0.85, 0.56, 0.85, 0.85, 0.33]


def _resnet_arrays() -> WorkloadArrays:
    ro = [np.array(v, dtype=np.int64) for v in (M, N, K, [1] * 21, range(21), range(22),
                                                   [1] * 21)]
    return WorkloadArrays(*ro)


def _lut_only_cycles(bits: int) -> float:
    return float(hetero_layer_cycles(M, N, K, bits, bits, 1.0, LUT, DSP)[2].sum())


def _dsp_only_cycles(a_bits: list[int] | int) -> float:
    return float(hetero_layer_cycles(M, N, K, 8, a_bits, 0.0, LUT, DSP)[2].sum())


# --------------------------------------------------------------------------------------------
# golden numbers: ResNet-18 sanity figures of REFERENCE.md section 1
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("bits", "reference_ms"), [(8, 190.8), (4, 56.7), (2, 21.6)])
def test_resnet18_lut_core_alone(bits: int, reference_ms: float) -> None:
    cycles = _lut_only_cycles(bits)
    assert cycles * MS_PER_CYCLE == pytest.approx(reference_ms, rel=0.005)
    assert cycles == GOLDEN_LUT_ALONE[bits]
    scalar = sum(lut_core_cycles(m, n, k, bits, bits, LUT) for m, n, k in zip(M, N, K, strict=True))
    assert scalar == cycles


def test_resnet18_dsp_core_alone() -> None:
    """100.2 ms is the release's reading: first and last layer W8A8, the other 19 packed.

    All 21 at W8A8 would be 262.8 ms, all 21 packed 94.6 ms; neither matches.
    """
    cycles = _dsp_only_cycles(A_DSP)
    assert cycles * MS_PER_CYCLE == pytest.approx(100.2, rel=0.005)
    assert cycles == GOLDEN_DSP_ALONE
    assert _dsp_only_cycles(8) == GOLDEN_DSP_ALL_W8A8
    assert _dsp_only_cycles(4) == GOLDEN_DSP_ALL_PACKED
    scalar = sum(dsp_core_cycles(m, n, k, a, DSP)
                 for m, n, k, a in zip(M, N, K, A_DSP, strict=True))
    assert scalar == cycles


def test_resnet18_sweep_balance_golden() -> None:
    rho = n3h_sweep_balance(M, N, K, 4, 4, LUT, DSP)
    assert rho.tolist() == GOLDEN_SWEEP_A4W4
    assert all(sum(an._split(n, r)) == n for n, r in zip(N, rho, strict=True))


def test_resnet18_batch_matches_per_layer_sum() -> None:
    arrays = _resnet_arrays()
    rng = np.random.default_rng(0)
    w = rng.integers(2, 9, size=(5, 21))
    a = rng.integers(2, 9, size=(5, 21))
    rho = rng.random((5, 21))
    totals = batch_network_cycles(arrays, w, a, rho, LUT, DSP)
    for d in range(5):
        per_layer = hetero_layer_cycles(M, N, K, w[d], a[d], rho[d], LUT, DSP)[2]
        assert totals[d] == pytest.approx(per_layer.sum(), rel=1e-15)
        naive_total = naive.network_cycles(M, N, K, [1] * 21, list(range(21)), w[d].tolist(),
                                           a[d].tolist(), rho[d].tolist(), LUT_HW, DSP_HW)
        assert totals[d] == naive_total  # same summation order: bitwise


# --------------------------------------------------------------------------------------------
# kernels vs tests/naive.py
# --------------------------------------------------------------------------------------------

# (m, n, k): n below the array width, n = 1, k not a multiple of the tile, k < tile, m = 1, ...
EDGE_SHAPES = [
    (1, 1, 1), (1, 1000, 512), (12544, 64, 147), (7, 15, 63), (8, 16, 64), (9, 17, 65),
    (1, 3, 4608), (49, 512, 4608), (3136, 1, 576), (2, 33, 129), (100, 1000, 31), (5, 2, 1),
]
LUT_HWS = [LUT_HW, (1, 64, 1, 1024, 64), (50, 256, 50, 51200, 64), (3, 192, 7, 3000, 48),
           (8, 64, 16, 1024, 128)]
DSP_HWS = [DSP_HW, (1, 2, 4), (25600, 4096, 4), (100, 37, 0), (2048, 1024, 8)]


@pytest.mark.parametrize("shape", EDGE_SHAPES)
@pytest.mark.parametrize("lut_hw", LUT_HWS)
def test_lut_kernel_matches_naive_on_edges(shape: tuple[int, int, int], lut_hw: tuple) -> None:
    m, n, k = shape
    for w, a in [(1, 1), (2, 2), (8, 8), (3, 7), (5, 1)]:
        for n_l in {0, 1, n // 2, n}:
            for valid_only in (True, False):
                want = naive.lut_core_cycles(m, n_l, k, w, a, *lut_hw, valid_only=valid_only)
                assert an._lut_cycles(m, n_l, k, w, a, *lut_hw, valid_only) == want


@pytest.mark.parametrize("shape", EDGE_SHAPES)
@pytest.mark.parametrize("dsp_hw", DSP_HWS)
def test_dsp_kernel_matches_naive_on_edges(shape: tuple[int, int, int], dsp_hw: tuple) -> None:
    m, n, k = shape
    dl, dr, _ = dsp_hw
    for n_d in {0, 1, n // 2, n}:
        for packed in (True, False):
            want = naive.dsp_core_cycles(m, n_d, k, packed, dl, dr)
            assert an._dsp_cycles(m, n_d, k, packed, dl, dr) == want


@pytest.mark.parametrize("shape", EDGE_SHAPES)
@pytest.mark.parametrize("count", [1, 2, 3, 32])
@pytest.mark.parametrize("indep", [True, False])
def test_split_and_balance_kernels_match_naive_on_edges(shape: tuple[int, int, int],
                                                        count: int, indep: bool) -> None:
    m, n, k = shape
    for lut_hw, dsp_hw in zip(LUT_HWS, DSP_HWS, strict=True):
        for w, a in [(8, 8), (4, 4), (2, 3)]:
            for rho in (0.0, 0.01, 1 / n, 1 / count, 0.5, 0.99, 1.0):
                want = naive.hetero_layer_cycles(m, n, k, w, a, rho, lut_hw, dsp_hw, count=count,
                                                 independent=indep)
                got = an._hetero_one(m, n, k, count, indep, w, a, rho, lut_hw, dsp_hw, True)
                assert got == want[:2]
            assert an._sweep_one(m, n, k, count, indep, w, a, lut_hw, dsp_hw, True) == (
                naive.n3h_sweep_balance(m, n, k, w, a, lut_hw, dsp_hw, count=count,
                                        independent=indep))
            for valid_only in (True, False):
                assert an._exact_one(m, n, k, count, indep, w, a, lut_hw, dsp_hw,
                                     valid_only) == (
                    naive.scan_balance(m, n, k, w, a, lut_hw, dsp_hw, valid_only, count, indep))


counts = st.one_of(st.just(1), st.integers(2, 8), st.integers(2, 1000))
shapes = st.tuples(
    st.one_of(st.integers(1, 64), st.sampled_from([49, 196, 784, 3136, 12544]),
              st.integers(1, 20000)),
    st.one_of(st.integers(1, 40), st.integers(1, 1100)),
    st.one_of(st.integers(1, 300), st.sampled_from([64, 147, 576, 1152, 2304, 4608]),
              st.integers(1, 5000)),
)
bits = st.integers(1, 8)
lut_hws = st.tuples(st.integers(1, 50), st.sampled_from([64, 128, 192, 256]), st.integers(1, 50),
                    st.one_of(st.integers(1, 50).map(lambda x: 1024 * x), st.integers(1, 60000)),
                    st.sampled_from([64, 32, 48, 128]))
dsp_hws = st.tuples(st.one_of(st.integers(1, 25).map(lambda x: 1024 * x), st.integers(1, 30000)),
                    st.one_of(st.integers(1, 4).map(lambda x: 1024 * x), st.integers(1, 5000)),
                    st.sampled_from([4, 4, 0, 8]))


@settings(max_examples=300, deadline=None)
@given(shapes, bits, bits, lut_hws, st.booleans())
def test_lut_kernel_matches_naive(shape: tuple, w: int, a: int, lut_hw: tuple,
                                  valid_only: bool) -> None:
    m, n, k = shape
    want = naive.lut_core_cycles(m, n, k, w, a, *lut_hw, valid_only=valid_only)
    assert an._lut_cycles(m, n, k, w, a, *lut_hw, valid_only) == want
    py_func = getattr(an._lut_cycles, "py_func", an._lut_cycles)
    assert py_func(m, n, k, w, a, *lut_hw, valid_only) == want


@settings(max_examples=300, deadline=None)
@given(shapes, st.booleans(), dsp_hws)
def test_dsp_kernel_matches_naive(shape: tuple, packed: bool, dsp_hw: tuple) -> None:
    m, n, k = shape
    want = naive.dsp_core_cycles(m, n, k, packed, dsp_hw[0], dsp_hw[1])
    assert an._dsp_cycles(m, n, k, packed, dsp_hw[0], dsp_hw[1]) == want


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2000), st.one_of(st.integers(0, 100).map(lambda i: i * 0.01),
                                       st.integers(0, 100).map(lambda i: i / 100),
                                       st.floats(0.0, 1.0)))
def test_split_kernel_matches_python_round(n: int, rho: float) -> None:
    assert an._split(n, rho) == naive.split_channels(n, rho)


@settings(max_examples=150, deadline=None)
@given(shapes, counts, bits, bits, lut_hws, dsp_hws, st.booleans(), st.booleans())
def test_balance_kernels_match_naive(shape: tuple, count: int, w: int, a: int, lut_hw: tuple,
                                     dsp_hw: tuple, valid_only: bool, indep: bool) -> None:
    m, n, k = shape
    assert an._sweep_one(m, n, k, count, indep, w, a, lut_hw, dsp_hw, valid_only) == (
        naive.n3h_sweep_balance(m, n, k, w, a, lut_hw, dsp_hw, valid_only, count, indep))
    assert an._exact_one(m, n, k, count, indep, w, a, lut_hw, dsp_hw, valid_only) == (
        naive.scan_balance(m, n, k, w, a, lut_hw, dsp_hw, valid_only, count, indep))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(shapes, st.integers(1, 40), bits, bits, st.floats(0.0, 1.0),
                          st.booleans()), min_size=1, max_size=8), lut_hws, dsp_hws)
def test_network_kernels_match_naive(gemms: list, lut_hw: tuple, dsp_hw: tuple) -> None:
    m, n, k = (np.array([g[0][i] for g in gemms], dtype=np.int64) for i in range(3))
    count = np.array([g[1] for g in gemms], dtype=np.int64)
    indep = np.array([g[5] for g in gemms], dtype=np.int64)
    layer = np.arange(len(gemms), dtype=np.int64)
    w = np.array([[g[2] for g in gemms]], dtype=np.int64)
    a = np.array([[g[3] for g in gemms]], dtype=np.int64)
    rho = np.array([[g[4] for g in gemms]])
    want = naive.network_cycles(m.tolist(), n.tolist(), k.tolist(), count.tolist(),
                                layer.tolist(), w[0].tolist(), a[0].tolist(), rho[0].tolist(),
                                lut_hw, dsp_hw, independent=indep.tolist())
    serial = an._network_serial(m, n, k, count, indep, layer, w, a, rho, lut_hw, dsp_hw, True)
    parallel = an._network_parallel(m, n, k, count, indep, layer, w, a, rho, lut_hw, dsp_hw,
                                    True)
    assert serial[0] == want
    assert parallel[0] == want
    lut_c, dsp_c, layer_c = an._hetero_batch(m, n, k, count, indep, w[0], a[0], rho[0], lut_hw,
                                             dsp_hw, True)
    for g in range(len(gemms)):
        expect = naive.hetero_layer_cycles(int(m[g]), int(n[g]), int(k[g]), int(w[0, g]),
                                           int(a[0, g]), float(rho[0, g]), lut_hw, dsp_hw,
                                           count=int(count[g]), independent=bool(indep[g]))
        assert (lut_c[g], dsp_c[g], layer_c[g]) == expect


def test_plain_python_path_without_jit() -> None:
    """``NUMBA_DISABLE_JIT=1`` runs every kernel as plain Python (coverage runs that way)."""
    code = (
        "import numpy as np\n"
        "from hwsim.fpga import hetero_layer_cycles, exact_balance, n3h_sweep_balance, "
        "batch_network_cycles\n"
        "from hwsim.ir.workload import WorkloadArrays\n"
        "from hwsim.spec.records import LutCore, DspCore\n"
        f"M, N, K = {M}, {N}, {K}\n"
        "L, D = LutCore(), DspCore()\n"
        "arrays = WorkloadArrays(*[np.array(v, dtype=np.int64) for v in "
        "(M, N, K, [1]*21, range(21), range(22), [1]*21)])\n"
        "print(hetero_layer_cycles(M, N, K, 4, 4, 1.0, L, D)[2].sum())\n"
        "print(n3h_sweep_balance(M, N, K, 4, 4, L, D).tolist())\n"
        "print(exact_balance(M, N, K, 4, 4, L, D)[1].sum())\n"
        "w = np.full((70, 21), 4)\n"
        "print(batch_network_cycles(arrays, w, w, np.full((70, 21), 0.5), L, D)[0])\n"
        "print(exact_balance(12544, 1, 9, 4, 4, L, D, count=32)[1])\n"
        "print(n3h_sweep_balance(12544, 1, 9, 4, 4, L, D, count=32))\n"
        "from hwsim.fpga.analytic import batch_designs, hardware_rows\n"
        "lr, dr = hardware_rows([L] * 3, [D] * 3)\n"
        "wa = np.array([[4] * 21, [8] * 21, [2] * 21])\n"
        "out = batch_designs(arrays, np.arange(21), wa, wa, np.full((3, 21), np.nan), lr, dr)\n"
        "print(repr(out[0].tolist()), repr(out[1].tolist()))\n"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                         text=True).stdout.split("\n")
    arrays = _resnet_arrays()
    w = np.full((1, 21), 4)
    assert float(out[0]) == GOLDEN_LUT_ALONE[4]
    assert out[1] == str(GOLDEN_SWEEP_A4W4)
    assert float(out[2]) == exact_balance(M, N, K, 4, 4, LUT, DSP)[1].sum()
    assert float(out[3]) == batch_network_cycles(arrays, w, w, np.full((1, 21), 0.5), LUT, DSP)[0]
    default = LutCore(), DspCore()
    assert float(out[4]) == exact_balance(12544, 1, 9, 4, 4, *default, count=32)[1]
    assert float(out[5]) == n3h_sweep_balance(12544, 1, 9, 4, 4, *default, count=32)
    lr, dr = an.hardware_rows([default[0]] * 3, [default[1]] * 3)
    wa = np.array([[4] * 21, [8] * 21, [2] * 21])
    jit = an.batch_designs(arrays, np.arange(21), wa, wa, np.full((3, 21), np.nan), lr, dr)
    assert out[6] == f"{jit[0].tolist()!r} {jit[1].tolist()!r}"


# --------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------

lut_cores = st.builds(LutCore, rows=st.integers(1, 50),
                      depth_bits=st.sampled_from([64, 128, 192, 256]), cols=st.integers(1, 50),
                      act_buffer_depth=st.integers(1, 50).map(lambda x: 1024 * x))
dsp_cores = st.builds(DspCore, input_buffer_depth=st.integers(1, 25).map(lambda x: 1024 * x),
                      weight_buffer_depth=st.integers(1, 4).map(lambda x: 1024 * x))


@settings(max_examples=200, deadline=None)
@given(shapes, counts, bits, bits, lut_cores, dsp_cores)
def test_split_zero_and_one_equal_the_single_cores(shape: tuple, count: int, w: int, a: int,
                                                   lut: LutCore, dsp: DspCore) -> None:
    """Also for GEMMs of several repetitions: every repetition on one core, back to back."""
    m, n, k = shape
    lut_c, dsp_c, layer_c = hetero_layer_cycles(m, n, k, w, a, 0.0, lut, dsp, count=count)
    assert (lut_c, dsp_c, layer_c) == (0.0, count * dsp_core_cycles(m, n, k, a, dsp), dsp_c)
    lut_c, dsp_c, layer_c = hetero_layer_cycles(m, n, k, w, a, 1.0, lut, dsp, count=count)
    assert (lut_c, dsp_c, layer_c) == (count * lut_core_cycles(m, n, k, w, a, lut), 0.0, lut_c)


@settings(max_examples=300, deadline=None)
@given(shapes, st.integers(1, 7), bits, lut_hws)
def test_lut_never_faster_with_more_weight_bits(shape: tuple, w: int, a: int,
                                                lut_hw: tuple) -> None:
    m, n, k = shape
    before = naive.lut_core_cycles(m, n, k, w, a, *lut_hw)
    assume(before < math.inf)
    assert an._lut_cycles(m, n, k, w + 1, a, *lut_hw, True) >= before


@settings(max_examples=300, deadline=None)
@given(shapes, bits, st.integers(1, 7), lut_hws, st.integers(3, 400))
def test_lut_never_faster_with_more_act_bits_at_equal_regions(shape: tuple, w: int, a: int,
                                                              lut_hw: tuple, regions: int) -> None:
    """Holds while R = floor(LMEM/(T_k*Ab)) stays put (LMEM enters only through R, so each
    bit-width gets the LMEM that holds ``regions`` m-tiles); see the exception below."""
    m, n, k = shape
    dm, dk, dn, _, f = lut_hw
    t_k = -(-k // dk)
    before = an._lut_cycles(m, n, k, w, a, dm, dk, dn, regions * t_k * a, f, True)
    assume(before < math.inf)
    after = an._lut_cycles(m, n, k, w, a + 1, dm, dk, dn, regions * t_k * (a + 1), f, True)
    assert after >= before


def test_lut_exception_more_act_bits_can_be_faster() -> None:
    """Exception in the release's equations: 4 -> 5 activation bits shrink R from 512 to 409 =
    T_m, so ``r = T_m mod R`` wraps to 0 and the stall ``(r-3)*(T_n-1)*C_ex`` vanishes (4.6x)."""
    hw = (40, 128, 19, 8192, 64)
    assert an._lut_cycles(16350, 437, 512, 6, 4, *hw, True) == 3208478.0
    assert an._lut_cycles(16350, 437, 512, 6, 5, *hw, True) == 695486.0


@settings(max_examples=300, deadline=None)
@given(shapes, bits, bits, lut_hws, st.booleans())
def test_lut_never_faster_with_more_channels(shape: tuple, w: int, a: int, lut_hw: tuple,
                                             valid_only: bool) -> None:
    """The monotonicity :func:`exact_balance` bisects on: for R >= 3 (always with valid_only)."""
    m, n, k = shape
    t_k = -(-k // lut_hw[1])
    assume(lut_hw[3] // (t_k * a) >= 3)
    before = an._lut_cycles(m, n, k, w, a, *lut_hw, valid_only)
    after = an._lut_cycles(m, n + 1, k, w, a, *lut_hw, valid_only)
    assert after >= before


def test_lut_exception_r_below_3_goes_negative_and_non_monotone() -> None:
    """Verbatim, R < 3 gives negative cycles that fall as channels are added (ResNet-18's last
    stage with Dk = 64, LMEM = 1024, 8-bit activations: T_k = 72, R = 1)."""
    hw = (1, 64, 1, 1024, 64)
    verbatim = [an._lut_cycles(49, n, 4608, 2, 8, *hw, False) for n in (1, 170, 512)]
    assert verbatim == [-24752.0, -19783218.0, -59767806.0]
    assert an._lut_cycles(49, 512, 4608, 2, 8, *hw, True) == math.inf
    core = LutCore(rows=1, depth_bits=64, cols=1, act_buffer_depth=1024)
    assert lut_core_cycles(49, 512, 4608, 2, 8, core) == math.inf
    assert lut_core_cycles(49, 512, 4608, 2, 8, core, valid_only=False) == -59767806.0
    assert "R = 1" in (lut_core_problem(4608, 2, 8, core) or "")
    assert lut_core_problem(4608, 2, 8, core, valid_only=False) is None
    # exact_balance falls back to a full scan there and still finds the scan's optimum
    got = exact_balance(49, 512, 4608, 2, 8, core, DSP, valid_only=False)
    assert (int(got[0]), float(got[1])) == naive.scan_balance(49, 512, 4608, 2, 8,
                                                              (1, 64, 1, 1024, 64), DSP_HW, False)


def test_lut_exception_negative_stall_d() -> None:
    """``C_Lf - 1 > C_ex`` lets ``C_ex = C_Lf - 1`` through, so ``d = 13 - R``: with 1-bit
    activations and a deep buffer the verbatim result is negative."""
    core = LutCore(rows=8, depth_bits=64, cols=16, act_buffer_depth=51200)
    verbatim = lut_core_cycles(8, 1, 64, 5, 1, core, valid_only=False)
    assert verbatim < 0
    assert lut_core_cycles(8, 1, 64, 5, 1, core) == math.inf
    assert "negative" in (lut_core_problem(64, 5, 1, core) or "")


def test_lut_exceptions_bigger_hardware_can_be_slower() -> None:
    """Exceptions in the release's equations, each one reproduced exactly (cycles, valid domain):

    * Dm, Dn, Dk: the fetch moves the padded tiles, ``Dm*ceil(m/Dm)`` rows and so on, so a
      wider array that pads more fetches more.
    * LMEM: ``d`` and ``(R-3)*(T_n-1)*F_L`` scale with the buffer's tile count R.
    * f: a faster fetch (``C_Lf - 1 <= C_ex`` from then on) turns on the stall ``d``.
    """
    def lut(m: int, n: int, k: int, w: int, a: int, hw: tuple[int, ...]) -> float:
        return an._lut_cycles(m, n, k, w, a, *hw, True)

    assert lut(3136, 83, 2122, 6, 4, (32, 256, 20, 31744, 64)) == 478160.0
    assert lut(3136, 83, 2122, 6, 4, (33, 256, 20, 31744, 64)) == 482676.0
    assert lut(2, 523, 4608, 7, 4, (49, 256, 31, 43008, 64)) == 280786.0
    assert lut(2, 523, 4608, 7, 4, (49, 256, 32, 43008, 64)) == 289354.0
    assert lut(196, 469, 27, 1, 7, (21, 64, 2, 2048, 64)) == 129746.0
    assert lut(196, 469, 27, 1, 7, (21, 128, 2, 2048, 64)) == 131686.0
    assert lut(12573, 265, 4250, 6, 4, (14, 256, 4, 31744, 64)) == 41111628.0
    assert lut(12573, 265, 4250, 6, 4, (14, 256, 4, 32768, 64)) == 42306348.0
    assert lut(12544, 30, 147, 6, 5, (18, 64, 40, 12288, 64)) == 239218.0
    assert lut(12544, 30, 147, 6, 5, (18, 64, 40, 12288, 128)) == 254923.0


def test_lut_exceptions_bigger_gemm_can_be_faster() -> None:
    """One more m-row can wrap ``r = T_m mod R`` to 0 and drop ``r*C_ex`` from the stall; one
    more k can shrink R, and with it ``d = 10 + (R-3)*(C_ex - C_Lf)``."""
    hw = (2, 64, 48, 2048, 64)
    assert an._lut_cycles(12544, 972, 4608, 2, 8, *hw, True) == 313070318.0
    assert an._lut_cycles(12545, 972, 4608, 2, 8, *hw, True) == 313068940.0
    hw = (5, 64, 15, 26624, 64)
    assert an._lut_cycles(49, 238, 512, 6, 8, *hw, True) == 185494.0
    assert an._lut_cycles(49, 238, 513, 6, 8, *hw, True) == 170992.0


@settings(max_examples=400, deadline=None)
@given(shapes, st.booleans(), dsp_hws, st.sampled_from(["m", "n", "k"]))
def test_dsp_never_faster_on_a_bigger_gemm(shape: tuple, packed: bool, dsp_hw: tuple,
                                           dim: str) -> None:
    m, n, k = shape
    before = an._dsp_cycles(m, n, k, packed, dsp_hw[0], dsp_hw[1])
    grown = {"m": (m + 1, n, k), "n": (m, n + 1, k), "k": (m, n, k + 1)}[dim]
    assert an._dsp_cycles(*grown, packed, dsp_hw[0], dsp_hw[1]) >= before


@settings(max_examples=400, deadline=None)
@given(shapes, st.booleans(), dsp_hws, st.sampled_from([(1, 0), (0, 1), (1024, 0), (0, 1024)]))
def test_dsp_never_slower_with_bigger_buffers(shape: tuple, packed: bool, dsp_hw: tuple,
                                              grow: tuple[int, int]) -> None:
    m, n, k = shape
    dl, dr = dsp_hw[0], dsp_hw[1]
    before = an._dsp_cycles(m, n, k, packed, dl, dr)
    assert an._dsp_cycles(m, n, k, packed, dl + grow[0], dr + grow[1]) <= before


@settings(max_examples=300, deadline=None)
@given(shapes, dsp_hws)
def test_dsp_packing_never_slower(shape: tuple, dsp_hw: tuple) -> None:
    m, n, k = shape
    assert (an._dsp_cycles(m, n, k, True, dsp_hw[0], dsp_hw[1])
            <= an._dsp_cycles(m, n, k, False, dsp_hw[0], dsp_hw[1]))


def test_reference_split_can_lose_or_gain_a_channel() -> None:
    """REFERENCE.md's ``n_D = round(n*(1-rho))`` is not ``n - n_L`` for odd n at half-integers."""
    assert an._split(25, 0.02) == (0, 24)
    assert an._split(25, 0.06) == (2, 24)
    assert an._split(30, 55 * 0.01) == (16, 13)  # float error: 30*(1-0.55) = 13.4999...
    assert an._split(64, 0.25) == (16, 48)


def test_sweep_can_pick_a_split_that_drops_channels() -> None:
    """The release's step back to ``rho - 0.01`` lands on ``rho = 0.5`` when ``n = 1``, where
    ``round(0.5) = 0`` channels go to each core: the layer "costs" 0 cycles. REFERENCE.md's
    rounding is kept as documented; :func:`exact_balance` conserves channels."""
    rho = n3h_sweep_balance(12544, 1, 576, 3, 5, LUT, DSP)
    assert float(rho) == 0.5
    assert hetero_layer_cycles(12544, 1, 576, 3, 5, rho, LUT, DSP)[2] == 0.0
    _, cycles = exact_balance(12544, 1, 576, 3, 5, LUT, DSP)
    assert cycles > 0
    assert cycles == min(lut_core_cycles(12544, 1, 576, 3, 5, LUT),
                         dsp_core_cycles(12544, 1, 576, 5, DSP))


def test_empty_dsp_share_costs_nothing() -> None:
    """0 channels -> 0 cycles (REFERENCE.md); the release would charge an empty DSP pass here."""
    lut_c, dsp_c, _ = hetero_layer_cycles(49, 40, 576, 4, 4, 0.99, LUT, DSP)
    assert an._split(40, 0.99) == (40, 0)
    assert dsp_c == 0.0
    assert lut_c == lut_core_cycles(49, 40, 576, 4, 4, LUT)


@settings(max_examples=200, deadline=None)
@given(shapes, bits, bits, lut_hws, dsp_hws)
def test_exact_balance_beats_the_sweep(shape: tuple, w: int, a: int, lut_hw: tuple,
                                       dsp_hw: tuple) -> None:
    """The exact split is the scan's optimum and never worse than the 0.01 sweep's split (taken
    with ``n_D = n - n_L`` so that both cover all n channels)."""
    m, n, k = shape
    n_l, value = an._exact_one(m, n, k, 1, True, w, a, lut_hw, dsp_hw, True)
    scan_n, scan_value = naive.scan_balance(m, n, k, w, a, lut_hw, dsp_hw)
    assert value == scan_value
    assert abs(n_l - scan_n) <= 1
    rho = an._sweep_one(m, n, k, 1, True, w, a, lut_hw, dsp_hw, True)
    sweep_n = round(n * rho)
    assert value <= max(naive.pair_cycles(m, sweep_n, n - sweep_n, k, w, a, lut_hw, dsp_hw))


def test_exact_balance_on_resnet18_is_never_worse_than_the_sweep() -> None:
    for bits in (2, 4, 8):
        n_lut, exact = exact_balance(M, N, K, bits, bits, LUT, DSP)
        rho = n3h_sweep_balance(M, N, K, bits, bits, LUT, DSP)
        sweep = hetero_layer_cycles(M, N, K, bits, bits, rho, LUT, DSP)[2]
        assert np.all(exact <= sweep)
        assert np.all((0 <= n_lut) & (n_lut <= np.array(N)))


# --------------------------------------------------------------------------------------------
# GEMMs of several repetitions (groups, heads, experts): split by whole repetitions
# --------------------------------------------------------------------------------------------

# MobileNetV2's depthwise convolutions (m, k = 3*3, count = channels; n = 1)
DEPTHWISE = [(12544, 9, 32), (3136, 9, 96), (3136, 9, 144), (784, 9, 144), (784, 9, 192),
             (196, 9, 192), (196, 9, 384), (196, 9, 576), (49, 9, 576), (49, 9, 960)]


def test_count_one_is_the_channel_split_unchanged() -> None:
    """``count = 1`` (the default) splits output channels exactly as before: ResNet-18's goldens
    hold with an explicit count, and the cycles are the channel split's."""
    ones = [1] * 21
    assert float(hetero_layer_cycles(M, N, K, 4, 4, 1.0, LUT, DSP, count=ones)[2].sum()) == (
        GOLDEN_LUT_ALONE[4])
    assert n3h_sweep_balance(M, N, K, 4, 4, LUT, DSP, count=ones).tolist() == GOLDEN_SWEEP_A4W4
    rho = np.linspace(0.0, 1.0, 21)
    got = hetero_layer_cycles(M, N, K, 4, 4, rho, LUT, DSP, count=1)
    for g, (m, n, k) in enumerate(zip(M, N, K, strict=True)):
        n_l, n_d = an._split(n, rho[g])
        want = (lut_core_cycles(m, n_l, k, 4, 4, LUT), dsp_core_cycles(m, n_d, k, 4, DSP))
        assert (got[0][g], got[1][g]) == want
        assert an.split_gemm(n, 1, rho[g]) == (n_l, int(n_l > 0), n_d, int(n_d > 0))


@pytest.mark.parametrize("count", [2, 3, 32, 960])
@pytest.mark.parametrize("rho", [0.0, 0.01, 0.3, 0.5, 0.75, 1.0])
def test_count_above_one_splits_whole_repetitions(count: int, rho: float) -> None:
    m, n, k = 784, 1, 9
    c_l = round(count * rho)
    lut_one = lut_core_cycles(m, n, k, 4, 4, LUT)
    dsp_one = dsp_core_cycles(m, n, k, 4, DSP)
    lut_c, dsp_c, layer_c = hetero_layer_cycles(m, n, k, 4, 4, rho, LUT, DSP, count=count)
    assert lut_c == (c_l * lut_one if c_l else 0.0)
    assert dsp_c == ((count - c_l) * dsp_one if count - c_l else 0.0)
    assert layer_c == max(lut_c, dsp_c)
    assert an.split_gemm(n, count, rho) == (n if c_l else 0, c_l, n if count - c_l else 0,
                                            count - c_l)
    # a wider GEMM (attention heads) keeps all n channels of a repetition on one core
    wide = hetero_layer_cycles(197, 64, 197, 4, 4, rho, LUT, DSP, count=count)[0]
    assert wide == (c_l * lut_core_cycles(197, 64, 197, 4, 4, LUT) if c_l else 0.0)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2000), st.one_of(st.integers(0, 100).map(lambda i: i / 100),
                                       st.floats(0.0, 1.0)))
def test_repetition_split_matches_python_round(count: int, rho: float) -> None:
    c_l, c_d = naive.split_repetitions(count, rho)
    assert an._split_count(count, rho) == c_l
    if count > 1:
        assert an.split_gemm(5, count, rho) == (5 if c_l else 0, c_l, 5 if c_d else 0, c_d)


@settings(max_examples=200, deadline=None)
@given(shapes, st.integers(2, 1000), bits, bits, lut_hws, dsp_hws)
def test_exact_balance_of_repetitions_is_the_scan_optimum(shape: tuple, count: int, w: int,
                                                          a: int, lut_hw: tuple,
                                                          dsp_hw: tuple) -> None:
    """The closed form finds the full scan's optimum, within one repetition of its split, and
    is never worse than the 0.01 sweep or either core alone."""
    m, n, k = shape
    n_l, value = an._exact_one(m, n, k, count, True, w, a, lut_hw, dsp_hw, True)
    scan_n, scan_value = naive.scan_balance(m, n, k, w, a, lut_hw, dsp_hw, True, count)
    assert value == scan_value
    assert n_l % n == 0 and 0 <= n_l // n <= count
    assert abs(n_l // n - scan_n // n) <= 1
    rho = an._sweep_one(m, n, k, count, True, w, a, lut_hw, dsp_hw, True)
    sweep = naive.hetero_layer_cycles(m, n, k, w, a, rho, lut_hw, dsp_hw, count=count)[2]
    assert value <= sweep
    for alone in (0.0, 1.0):
        assert value <= naive.hetero_layer_cycles(m, n, k, w, a, alone, lut_hw, dsp_hw,
                                                  count=count)[2]


def test_depthwise_layers_are_shared_between_the_cores() -> None:
    """With n = 1 the channel split is all-or-nothing; split by repetitions, MobileNetV2's
    depthwise layers use both cores and beat either alone (A4W4, sanity hardware)."""
    m, k, count = (np.array(v) for v in zip(*DEPTHWISE, strict=True))
    n_lut, cycles = exact_balance(m, 1, k, 4, 4, LUT, DSP, count=count)
    lut_alone = hetero_layer_cycles(m, 1, k, 4, 4, 1.0, LUT, DSP, count=count)[2]
    dsp_alone = hetero_layer_cycles(m, 1, k, 4, 4, 0.0, LUT, DSP, count=count)[2]
    shared = (n_lut > 0) & (n_lut < count)
    assert shared.sum() >= len(DEPTHWISE) // 2
    assert np.all(cycles <= np.minimum(lut_alone, dsp_alone))
    assert np.all(cycles[shared] < np.minimum(lut_alone, dsp_alone)[shared])
    # the fraction n_lut/(n*count) reproduces the balanced split
    again = hetero_layer_cycles(m, 1, k, 4, 4, n_lut / count, LUT, DSP, count=count)[2]
    assert np.array_equal(again, cycles)


def test_exact_balance_of_repetitions_when_a_core_cannot_run() -> None:
    small = LutCore(rows=8, depth_bits=64, cols=16, act_buffer_depth=64)
    n_lut, cycles = exact_balance(49, 8, 4608, 8, 8, small, DSP, count=6)
    assert (int(n_lut), float(cycles)) == (0, 6 * dsp_core_cycles(49, 8, 4608, 8, DSP))
    tight = DspCore(input_buffer_depth=100, weight_buffer_depth=100)
    n_lut, cycles = exact_balance(49, 8, 4608, 8, 8, LUT, tight, count=6)
    assert (int(n_lut), float(cycles)) == (48, 6 * lut_core_cycles(49, 8, 4608, 8, 8, LUT))
    n_lut, cycles = exact_balance(49, 8, 4608, 8, 8, small, tight, count=6)
    assert (int(n_lut), float(cycles)) == (0, math.inf)


# --------------------------------------------------------------------------------------------
# batch API, infeasibility, validation
# --------------------------------------------------------------------------------------------


def test_batch_parallel_is_bitwise_serial() -> None:
    arrays = _resnet_arrays()
    rng = np.random.default_rng(1)
    w = rng.integers(1, 9, size=(300, 21))
    a = rng.integers(1, 9, size=(300, 21))
    rho = rng.random((300, 21))
    serial = batch_network_cycles(arrays, w, a, rho, LUT, DSP, parallel=False)
    parallel = batch_network_cycles(arrays, w, a, rho, LUT, DSP, parallel=True)
    assert np.array_equal(serial, parallel)
    one = batch_network_cycles(arrays, w[7], a[7], rho[7], LUT, DSP)
    assert one.shape == (1,) and one[0] == serial[7]


def test_multi_gemm_layers_use_their_layer_column_and_count() -> None:
    arrays = WorkloadArrays(*[np.array(v, dtype=np.int64) for v in
                              ([196, 196, 49], [64, 128, 10], [576, 64, 128], [1, 3, 2],
                               [0, 0, 1], [0, 2, 3], [1, 1, 1])])
    w, a, rho = np.array([[4, 8]]), np.array([[4, 8]]), np.array([[0.5, 0.25]])
    total = batch_network_cycles(arrays, w, a, rho, LUT, DSP)[0]
    layer = hetero_layer_cycles([196, 196, 49], [64, 128, 10], [576, 64, 128], [4, 4, 8],
                                [4, 4, 8], [0.5, 0.5, 0.25], LUT, DSP, count=[1, 3, 2])[2]
    assert total == layer[0] + layer[1] + layer[2]
    # GEMM 1 runs round(3*0.5) = 2 repetitions on the LUT core and 1 on the DSP core; GEMM 2
    # round(2*0.25) = round(0.5) = 0 (half to even), so both on the DSP core
    lut_one = lut_core_cycles(196, 128, 64, 4, 4, LUT)
    assert layer[1] == max(2 * lut_one, dsp_core_cycles(196, 128, 64, 4, DSP))
    assert layer[2] == 2 * dsp_core_cycles(49, 10, 128, 8, DSP)


def test_infeasible_cores_give_inf_and_say_why() -> None:
    small = LutCore(rows=8, depth_bits=64, cols=16, act_buffer_depth=64)
    assert lut_core_cycles(49, 16, 4608, 8, 8, small) == math.inf  # T_k*Ab = 576 > 64
    assert "LMEM = 64" in (lut_core_problem(4608, 8, 8, small) or "")
    assert lut_core_problem(576, 4, 4, LUT) is None
    tight = DspCore(input_buffer_depth=100, weight_buffer_depth=100)
    assert dsp_core_cycles(49, 16, 4608, 8, tight) == math.inf  # T_k = 288
    why = dsp_core_problem(4608, 8, tight) or ""
    assert "Dl = 100" in why and "Dr = 100" in why
    assert dsp_core_problem(4608, 4, DSP) is None
    lut_c, dsp_c, layer_c = hetero_layer_cycles(49, 16, 4608, 8, 8, 0.5, small, tight)
    assert lut_c == dsp_c == layer_c == math.inf
    n_lut, cycles = exact_balance(49, 512, 4608, 8, 8, small, DSP)
    assert (int(n_lut), float(cycles)) == (0, dsp_core_cycles(49, 512, 4608, 8, DSP))


def test_inputs_are_validated_with_every_problem_listed() -> None:
    with pytest.raises(RecordError) as err:
        hetero_layer_cycles([0, 5], 16, 1.5, 9, 0, [0.5, float("nan")], LUT, DSP)
    text = str(err.value)
    for name in ("m:", "k:", "w_bits:", "a_bits:", "lut_fraction:"):
        assert name in text
    with pytest.raises(RecordError, match="broadcast"):
        hetero_layer_cycles([1, 2], [1, 2, 3], 64, 4, 4, 0.5, LUT, DSP)
    with pytest.raises(RecordError, match="n_designs, 21"):
        batch_network_cycles(_resnet_arrays(), np.full((2, 20), 4), np.full((2, 20), 4),
                             np.full((2, 20), 0.5), LUT, DSP)
    with pytest.raises(RecordError, match="n:"):
        exact_balance(49, 0, 64, 4, 4, LUT, DSP)
    for call in (hetero_layer_cycles, exact_balance, n3h_sweep_balance):
        args = (49, 16, 64, 4, 4, 0.5) if call is hetero_layer_cycles else (49, 16, 64, 4, 4)
        with pytest.raises(RecordError, match="count:"):
            call(*args, LUT, DSP, count=[1, 0])  # type: ignore[operator]
    with pytest.raises(ValueError, match="a_bits"):
        dsp_core_cycles(49, 16, 64, 9, DSP)
    with pytest.raises(SpecError, match="16x16"):
        dsp_core_cycles(49, 16, 64, 4, DspCore(block_rows=32))
    with pytest.raises(TypeError):
        lut_core_cycles(49, 16, 64, 4, 4, DSP)  # type: ignore[arg-type]



# --------------------------------------------------------------------------------------------
# dependent repetitions (an LSTM's time steps): each step split by channels, in sequence
# --------------------------------------------------------------------------------------------

LSTM_GEMM = (4, 512, 384, 8)  # batch 4, hidden 128 (4 gates), input 256, 8 time steps


@pytest.mark.parametrize("rho", [0.0, 0.01, 0.3, 0.5, 0.75, 1.0])
def test_dependent_repetitions_split_each_step_by_channels(rho: float) -> None:
    """An LSTM's time steps cannot run on the two cores at once: every step splits its output
    channels as a ``count == 1`` GEMM, and the steps run one after another."""
    m, n, k, steps = LSTM_GEMM
    n_l, n_d = an._split(n, rho)
    lut_one = lut_core_cycles(m, n_l, k, 4, 4, LUT)
    dsp_one = dsp_core_cycles(m, n_d, k, 4, DSP)
    lut_c, dsp_c, layer_c = hetero_layer_cycles(m, n, k, 4, 4, rho, LUT, DSP, count=steps,
                                                independent=False)
    assert (lut_c, dsp_c, layer_c) == (steps * lut_one, steps * dsp_one,
                                       steps * max(lut_one, dsp_one))
    single = hetero_layer_cycles(m, n, k, 4, 4, rho, LUT, DSP)
    assert layer_c == steps * single[2]
    assert an.split_gemm(n, steps, rho, independent=False) == (
        n_l, steps if n_l else 0, n_d, steps if n_d else 0)
    # the same shapes with independent repetitions split whole steps instead
    c_l = round(steps * rho)
    indep = hetero_layer_cycles(m, n, k, 4, 4, rho, LUT, DSP, count=steps, independent=True)
    assert indep[0] == (c_l * lut_core_cycles(m, n, k, 4, 4, LUT) if c_l else 0.0)
    assert indep[1] == ((steps - c_l) * dsp_core_cycles(m, n, k, 4, DSP) if steps - c_l
                        else 0.0)
    assert an.split_gemm(n, steps, rho) == (n if c_l else 0, c_l, n if steps - c_l else 0,
                                            steps - c_l)


def test_dependent_repetitions_balance_like_one_step() -> None:
    m, n, k, steps = LSTM_GEMM
    for bits in (2, 4, 8):
        n_one, one = exact_balance(m, n, k, bits, bits, LUT, DSP)
        n_lut, cycles = exact_balance(m, n, k, bits, bits, LUT, DSP, count=steps,
                                      independent=False)
        # the LUT core holds n_L channels on each of the steps: n_lut/(n*count) = n_L/n
        assert int(n_lut) == steps * int(n_one) and float(cycles) == steps * float(one)
        assert 0 < int(n_one) < n
        assert np.rint(n * (int(n_lut) / (n * steps))) == int(n_one)
        sweep = n3h_sweep_balance(m, n, k, bits, bits, LUT, DSP, count=steps, independent=False)
        assert sweep == n3h_sweep_balance(m, n, k, bits, bits, LUT, DSP)
        # independent steps balance whole steps: a multiple of n channels
        n_rep, _ = exact_balance(m, n, k, bits, bits, LUT, DSP, count=steps)
        assert int(n_rep) % n == 0
    # the flag broadcasts like count
    n_lut, cycles = exact_balance(m, n, k, 4, 4, LUT, DSP, count=steps, independent=[True, False])
    assert cycles.shape == (2,) and int(n_lut[1]) == steps * int(exact_balance(
        m, n, k, 4, 4, LUT, DSP)[0])


def test_batch_network_cycles_follow_the_independent_flag() -> None:
    m, n, k, steps = LSTM_GEMM
    w, a, rho = np.array([[4]]), np.array([[4]]), np.array([[0.4]])
    for flag in (0, 1):
        arrays = WorkloadArrays(*[np.array(v, dtype=np.int64) for v in
                                  ([m], [n], [k], [steps], [0], [0, 1], [flag])])
        total = batch_network_cycles(arrays, w, a, rho, LUT, DSP)[0]
        assert total == hetero_layer_cycles(m, n, k, 4, 4, 0.4, LUT, DSP, count=steps,
                                            independent=bool(flag))[2]
    with pytest.raises(RecordError, match="independent:"):
        hetero_layer_cycles(m, n, k, 4, 4, 0.5, LUT, DSP, count=steps, independent=2)
    with pytest.raises(RecordError, match="independent:"):
        exact_balance(m, n, k, 4, 4, LUT, DSP, independent=[0.5])


# --------------------------------------------------------------------------------------------
# the fast balance solve (_balance_one) against the reference bisection (_exact_one), bitwise
# --------------------------------------------------------------------------------------------

# beyond the presets: any Dk and DRAM word f (C_Lf not a multiple of 2^-7, so no exact-fetch
# shortcut), tiny buffers (R = 0, R in {1, 2}: inf, or the verbatim release's scan), huge ones
wide_lut_hws = st.tuples(st.integers(1, 64), st.one_of(st.sampled_from([64, 128, 192, 256]),
                                                       st.integers(1, 400)),
                         st.one_of(st.integers(1, 50), st.integers(1, 2000)),
                         st.one_of(st.integers(1, 50).map(lambda x: 1024 * x),
                                   st.integers(1, 300), st.integers(1, 10**7)),
                         st.one_of(st.sampled_from([64, 32, 48, 128]), st.integers(1, 200)))
wide_dsp_hws = st.tuples(st.one_of(st.integers(1, 25).map(lambda x: 1024 * x),
                                   st.integers(1, 50), st.integers(1, 100000)),
                         st.one_of(st.integers(1, 4).map(lambda x: 1024 * x),
                                   st.integers(1, 50), st.integers(1, 20000)),
                         st.sampled_from([4, 0, 8]))
# up to cycle counts past 2^50, where the solve hands over to the reference bisection
wide_shapes = st.one_of(shapes, st.tuples(st.integers(1, 10**9), st.integers(1, 10**5),
                                          st.integers(1, 10**7)))


def _assert_balance_matches_reference(m: int, n: int, k: int, count: int, indep: bool, w: int,
                                      a: int, lut_hw: tuple, dsp_hw: tuple,
                                      valid_only: bool) -> None:
    want = an._exact_one(m, n, k, count, indep, w, a, lut_hw, dsp_hw, valid_only)
    n_lut, cycles, rho, layer = an._balance_one(m, n, k, count, indep, w, a, lut_hw, dsp_hw,
                                                valid_only)
    assert (n_lut, cycles) == want  # == on floats: inf == inf, and no NaN
    assert rho == n_lut / (n * count)
    # the network sum's cost of the GEMM at rho, when the solve hands it over (NaN: it does not)
    cost = an._hetero_one(m, n, k, count, indep, w, a, rho, lut_hw, dsp_hw, valid_only)
    assert math.isnan(layer) or layer == max(cost)


@settings(max_examples=600, deadline=None)
@given(wide_shapes, counts, bits, bits, wide_lut_hws, wide_dsp_hws, st.booleans(), st.booleans())
def test_balance_solve_is_the_reference_bisection(shape: tuple, count: int, w: int, a: int,
                                                  lut_hw: tuple, dsp_hw: tuple, valid_only: bool,
                                                  indep: bool) -> None:
    """Same n_lut and bitwise the same cycles as ``_exact_one`` everywhere: inside the domain
    and outside it (inf, valid_only=False with R in {1, 2} or a negative stall), one
    repetition, independent and dependent ones."""
    m, n, k = shape
    _assert_balance_matches_reference(m, n, k, count, indep, w, a, lut_hw, dsp_hw, valid_only)


@settings(max_examples=200, deadline=None)
@given(shapes, bits, bits, lut_hws, dsp_hws, st.booleans())
def test_balance_solve_plain_python_matches(shape: tuple, w: int, a: int, lut_hw: tuple,
                                            dsp_hw: tuple, valid_only: bool) -> None:
    m, n, k = shape
    """The solve's own Python (``.py_func``; its callees stay compiled) gives the same answer."""
    want = an._exact_one(m, n, k, 1, True, w, a, lut_hw, dsp_hw, valid_only)
    py_func = getattr(an._balance_channels, "py_func", an._balance_channels)
    x, lut_c, dsp_c = py_func(m, n, k, w, a, lut_hw, dsp_hw, valid_only)
    assert (x, max(lut_c, dsp_c)) == want


@pytest.mark.parametrize("shape", EDGE_SHAPES)
@pytest.mark.parametrize("count", [1, 2, 3, 32])
@pytest.mark.parametrize("indep", [True, False])
def test_balance_solve_on_edges(shape: tuple[int, int, int], count: int, indep: bool) -> None:
    m, n, k = shape
    tiny = [((1, 64, 1, 1, 64), (1, 1, 4)), ((8, 128, 16, 300, 48), (40, 90, 4)),
            ((8, 64, 16, 2 * 576, 64), DSP_HW)]  # R = 0, R in {1, 2}
    for lut_hw, dsp_hw in [*zip(LUT_HWS, DSP_HWS, strict=True), *tiny]:
        for w, a in [(8, 8), (4, 4), (2, 3), (1, 1)]:
            for valid_only in (True, False):
                _assert_balance_matches_reference(m, n, k, count, indep, w, a, lut_hw, dsp_hw,
                                                  valid_only)


def test_balance_solve_hands_huge_and_unsound_cases_to_the_bisection() -> None:
    """Inputs past 2^24, cycle counts past 2^50 (int64 wrap-around or float rounding could break
    the strict growth the tile search relies on) and a negative stall with ``valid_only=False``
    (L_LUT(1 tile) can be below 0)."""
    big = 2**40  # int64 products of the setup wrap around: the same garbage either way
    _assert_balance_matches_reference(big, 5000, 3, 1, True, 4, 4, (1, 64, 1, big, 64),
                                      (big, big, 4), True)
    for m, n, k in [(10**9, 4096, 10**6), (10**8, 100_000, 4096), (3 * 10**8, 1000, 50_000)]:
        for lut_hw, dsp_hw in [((1, 64, 1, 10**7, 64), (10**6, 10**6, 4)),
                               ((8, 128, 16, 1024 * 50, 48), (25600, 4096, 8))]:
            for valid_only in (True, False):
                _assert_balance_matches_reference(m, n, k, 1, True, 8, 8, lut_hw, dsp_hw,
                                                  valid_only)
    # d = 10 + (R-3)*(C_ex - C_Lf) < 0 needs C_ex = C_Lf - 1 (module notes). With Ab = 1,
    # T_k = 1 (k <= Dk = 64) and f = 64: C_ex = 9*Wb + 8, C_Lf = 46 + Dm, so Dm = 9*Wb - 37
    # (Wb = 5..8), and a deep buffer makes R, hence -d, large: L_LUT(1 tile) < 0 cycles
    for wb in range(5, 9):
        lut_hw = (9 * wb - 37, 64, 4, 60000, 64)
        assert an._lut_terms(49, 1, wb, 1, lut_hw, False)[0] == 2  # handed over
        assert an._lut_cycles(49, 4, 1, wb, 1, *lut_hw, False) < 0.0
        for n in (1, 7, 16, 17, 300):
            _assert_balance_matches_reference(49, n, 1, 1, True, wb, 1, lut_hw, DSP_HW, False)
            _assert_balance_matches_reference(49, n, 1, 1, True, wb, 1, lut_hw, DSP_HW, True)


def _main_of(arrays: WorkloadArrays) -> np.ndarray:
    """Each layer's largest GEMM (the cost layer's rule: most MACs, the first on ties)."""
    first = arrays.first_gemm
    return np.array([first[i] + int(np.argmax(arrays.macs[first[i]:first[i + 1]]))
                     for i in range(len(first) - 1)], dtype=np.int64)


def _n3h_cores(rng: np.random.Generator, size: int) -> tuple[list[LutCore], list[DspCore]]:
    """Random cores of the n3h design space."""
    luts = [LutCore(rows=int(rng.choice([1, 2, 4, 8, 12, 16])),
                    depth_bits=int(rng.choice([64, 128, 192, 256])),
                    cols=int(rng.choice([2, 4, 8, 16, 24, 32])),
                    act_buffer_depth=int(rng.choice([1024, 2048, 4096, 8192])))
            for _ in range(size)]
    dsps = [DspCore(input_buffer_depth=int(rng.choice([1024, 2048, 4096, 8192, 16384])),
                    weight_buffer_depth=int(rng.choice([1024, 2048, 4096])))
            for _ in range(size)]
    return luts, dsps


def _multi_gemm_arrays() -> WorkloadArrays:
    """Three layers, the first with three GEMMs (the largest in the middle), one with
    independent and one with dependent repetitions."""
    return WorkloadArrays(*[np.array(v, dtype=np.int64) for v in
                            ([196, 196, 196, 49, 4], [64, 128, 10, 1, 512], [576, 576, 64, 9, 384],
                             [1, 1, 3, 96, 8], [0, 0, 0, 1, 2], [0, 3, 4, 5], [1, 1, 1, 1, 0])])


NETWORKS = {
    "resnet18": (lambda: zoo.get("resnet18"), None),
    "mobilenetv2": (lambda: zoo.get("mobilenetv2"), None),
    "lstm-ucf": (lambda: zoo.get("lstm-ucf", steps=4),
                 (LutCore(rows=8, depth_bits=256, cols=16, act_buffer_depth=4096),
                  DspCore(input_buffer_depth=2048, weight_buffer_depth=4096))),
    "multi-gemm": (None, None),
}


@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("hardware", ["fixed", "random"])
def test_batch_designs_solve_is_exact_balance_then_network_sum(network: str,
                                                               hardware: str) -> None:
    """``batch_designs`` with NaN splits is bitwise :func:`exact_balance` on each layer's main
    GEMM (and the reference bisection's split), then :func:`batch_network_cycles`: on ResNet-18,
    MobileNetV2 (depthwise layers: independent repetitions), an LSTM (dependent repetitions)
    and a layer of several GEMMs; some splits given, the rest solved; serial and parallel."""
    build, deep = NETWORKS[network]
    arrays = _multi_gemm_arrays() if build is None else build().to_arrays()
    main = _main_of(arrays)
    n_layers = len(main)
    rng = np.random.default_rng(7)
    size = 12
    if hardware == "fixed":
        luts, dsps = [deep[0] if deep else LUT] * size, [deep[1] if deep else DSP] * size
    else:
        luts, dsps = _n3h_cores(rng, size)
        if deep:  # the LSTM's k = 57856 needs deep buffers to run at all
            luts = [LutCore(rows=c.rows, depth_bits=256, cols=c.cols, act_buffer_depth=4096)
                    for c in luts]
            dsps = [DspCore(input_buffer_depth=c.input_buffer_depth, weight_buffer_depth=4096)
                    for c in dsps]
    lut_rows, dsp_rows = an.hardware_rows(luts, dsps)
    w = rng.integers(1, 9, size=(size, n_layers))
    a = rng.integers(1, 9, size=(size, n_layers))
    rho_in = np.where(rng.random((size, n_layers)) < 0.7, np.nan, rng.random((size, n_layers)))
    rho_in[:2] = np.nan  # two designs with every split solved
    cycles, rho_out, widest, on_dsp = an.batch_designs(arrays, main, w, a, rho_in, lut_rows,
                                                       dsp_rows, parallel=False)
    parallel = an.batch_designs(arrays, main, w, a, rho_in, lut_rows, dsp_rows, parallel=True)
    for got, want in zip(parallel, (cycles, rho_out, widest, on_dsp), strict=True):
        assert np.array_equal(got, want)
    assert np.isfinite(cycles).sum() >= size // 2  # not a vacuous comparison of infs
    for d in range(size):
        rho = rho_in[d].copy()
        for i in np.nonzero(np.isnan(rho_in[d]))[0]:
            g = int(main[i])
            mg, ng, kg, cg, ig = (int(v[g]) for v in (arrays.m, arrays.n, arrays.k, arrays.count,
                                                      arrays.independent))
            n_lut, layer_c = exact_balance(mg, ng, kg, int(w[d, i]), int(a[d, i]), luts[d],
                                           dsps[d], count=cg, independent=bool(ig))
            ref = an._exact_one(mg, ng, kg, cg, ig, int(w[d, i]), int(a[d, i]),
                                an._lut_hw(luts[d]), an._dsp_hw(dsps[d]), True)
            assert (int(n_lut), float(layer_c)) == ref
            rho[i] = int(n_lut) / (ng * cg)
        assert np.array_equal(rho_out[d], rho)
        want = batch_network_cycles(arrays, w[d], a[d], rho, luts[d], dsps[d])[0]
        assert cycles[d] == want  # inf == inf too
        widest_d = 1
        for i in range(n_layers):
            layer_on_dsp = False
            for g in range(int(arrays.first_gemm[i]), int(arrays.first_gemm[i + 1])):
                split = an.split_gemm(int(arrays.n[g]), int(arrays.count[g]), rho[i],
                                      bool(arrays.independent[g]))
                layer_on_dsp |= split[2] * split[3] > 0
            assert on_dsp[d, i] == int(layer_on_dsp)
            if layer_on_dsp:
                widest_d = max(widest_d, int(a[d, i]))
        assert widest[d] == widest_d


@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("balance", ["exact", "n3h-sweep"])
@pytest.mark.parametrize("valid_only", [True, False])
def test_batch_designs_memo_is_bitwise_the_per_design_kernel(network: str, groups: int,
                                                             balance: str,
                                                             valid_only: bool) -> None:
    """Designs that share a few pairs of cores and solve every split take the memoised kernel
    (each (cores, layer, bits) solved once); its four outputs equal the per-design kernel's,
    serial and parallel, element for element (repeated bit pairs included, so the memo is
    hit, not only filled)."""
    build, deep = NETWORKS[network]
    arrays = _multi_gemm_arrays() if build is None else build().to_arrays()
    main = _main_of(arrays)
    n_layers = len(main)
    rng = np.random.default_rng(11 + groups)
    size = 40
    if deep:
        pairs = [deep] * groups
    else:
        luts, dsps = _n3h_cores(rng, groups)
        pairs = list(zip(luts, dsps, strict=True))
    pick = rng.integers(0, groups, size)
    lut_rows, dsp_rows = an.hardware_rows([pairs[p][0] for p in pick],
                                          [pairs[p][1] for p in pick])
    w = rng.integers(1, 5, size=(size, n_layers))  # 4 x 4 bit pairs: repeats across designs
    a = rng.integers(1, 5, size=(size, n_layers))
    rho = np.full((size, n_layers), np.nan)
    _, _, found = an._hardware_groups(lut_rows, dsp_rows, an._MEMO_MAX_GROUPS)
    pairs = {(tuple(r), tuple(q)) for r, q in zip(lut_rows, dsp_rows, strict=True)}
    assert found == len(pairs) <= groups
    kw = {"balance": balance, "valid_only": valid_only}
    memo = an.batch_designs(arrays, main, w, a, rho, lut_rows, dsp_rows, **kw)
    for parallel in (False, True):
        direct = an.batch_designs(arrays, main, w, a, rho, lut_rows, dsp_rows, memo=False,
                                  parallel=parallel, **kw)
        for got, want in zip(memo, direct, strict=True):
            assert got.dtype == want.dtype
            assert np.array_equal(got, want, equal_nan=True)
    assert np.isfinite(memo[0]).any()  # not a comparison of infs only


def test_hardware_groups_caps_and_orders_by_first_appearance() -> None:
    """Groups are numbered in order of first appearance; past ``cap`` groups the scan gives
    up (-1), which sends the batch to the per-design kernel."""
    lut = np.array([[1, 1, 1, 1, 1], [2, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1]])
    dsp = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 2, 1]])
    group, first, n = an._hardware_groups(lut, dsp, 8)
    assert n == 3 and group.tolist() == [0, 1, 0, 2] and first.tolist() == [0, 1, 3]
    assert an._hardware_groups(lut, dsp, 2)[2] == -1


def _print_goldens() -> None:
    print("GOLDEN_LUT_ALONE =", {b: _lut_only_cycles(b) for b in (8, 4, 2)})
    print("GOLDEN_DSP_ALONE =", _dsp_only_cycles(A_DSP))
    print("GOLDEN_DSP_ALL_W8A8 =", _dsp_only_cycles(8))
    print("GOLDEN_DSP_ALL_PACKED =", _dsp_only_cycles(4))
    print("GOLDEN_SWEEP_A4W4 =", n3h_sweep_balance(M, N, K, 4, 4, LUT, DSP).tolist())


if __name__ == "__main__":
    _print_goldens()
