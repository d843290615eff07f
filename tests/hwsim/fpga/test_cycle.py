"""Cycle tier of the N3H-Core cores: agreement with the analytic tier, laws, accounting, goldens.

How far the tiers may differ, and why, is stated in ``hwsim/fpga/cycle_bands.py``'s docstring and
computed per GEMM by ``lut_agreement`` / ``dsp_agreement``; here it is measured:

* every sampled single-core run (110 ResNet- and MobileNet-like shapes, 8 bit-width settings
  each, 880 runs) falls inside its agreement band;
* in the ``"matched"`` regime the cycle tier is within 15 % of the equations (11 % for GEMMs of
  at least 1e5 cycles; smaller ones add one pipeline fill and drain);
* ResNet-18 on the sanity hardware: DSP core within 12 %; LUT core at A8W8 and A4W4 within
  ``[-23 %, +21 %]`` except layer 15 at A8W8, where the release's stall term is 0 (+135 %).

Goldens regenerate with ``python tests/hwsim/fpga/test_cycle.py`` (it prints them).

Length: over 600 lines on purpose: one test module for the cycle tier's public API, its
schedules and its agreement bands.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time

import numba
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hwsim.errors import RecordError
from hwsim.fpga import cycle
from hwsim.fpga.analytic import dsp_core_cycles, lut_core_cycles
from hwsim.fpga.cycle import (
    AGREEMENT_TOLERANCE,
    LayerSim,
    dsp_agreement,
    lut_agreement,
    simulate_dsp_core,
    simulate_layer,
    simulate_lut_core,
)
from hwsim.spec.records import DspCore, LutCore

LUT = LutCore(rows=8, depth_bits=128, cols=16, act_buffer_depth=1024, weight_buffer_depth=1024)
DSP = DspCore(input_buffer_depth=2048, weight_buffer_depth=1024)
INF = math.inf

# ResNet-18's 21 GEMMs (REFERENCE.md section 1)
M = [12544] + [3136] * 4 + [784] * 5 + [196] * 5 + [49] * 5 + [1]
K = [147, 576, 576, 576, 576, 576, 1152, 64, 1152, 1152, 1152, 2304, 128, 2304, 2304,
     2304, 4608, 256, 4608, 4608, 512]
N = [64] * 5 + [128] * 5 + [256] * 5 + [512] * 5 + [1000]
RESNET18 = list(zip(M, N, K, strict=True))
DSP_A_BITS = [8] + [4] * 19 + [8]  # the release pins the first conv and the FC to A8

# cycle-tier totals over ResNet-18's GEMMs; regenerate: python tests/hwsim/fpga/test_cycle.py
GOLDEN_LUT = {8: 19368638.0, 4: 5263764.0, 2: 2673790.0}  # dedicated port
GOLDEN_DSP = 9579083.0  # dedicated port
GOLDEN_HALF_SPLIT_PORT8 = 8828704.95238863  # both cores, lut_fraction 0.5, A4W4, port 8 B/cycle


def _sample_shapes(seed: int, count: int) -> list[tuple[int, int, int]]:
    """GEMM shapes spanning ResNet (3x3 and 1x1 convs) and MobileNet (pointwise) layers, plus
    first convs and FC layers, at ImageNet resolutions and halved / doubled."""
    rng = random.Random(seed)
    pixels = [12544, 3136, 784, 196, 49]
    shapes = []
    for _ in range(count):
        kind = rng.random()
        m = rng.choice(pixels)
        if kind < 0.45:
            c = rng.choice([64, 128, 256, 512])
            k, n = c * rng.choice([9, 1]), rng.choice([64, 128, 256, 512])
        elif kind < 0.9:
            k = rng.choice([16, 24, 32, 64, 96, 144, 160, 192, 320, 384, 576, 960])
            n = rng.choice([16, 24, 32, 64, 96, 144, 160, 192, 320, 384, 576, 960, 1280])
        else:
            m = rng.choice([1, 12544])
            k, n = rng.choice([27, 147, 512, 1280, 2048]), rng.choice([32, 64, 1000])
        if m > 1:
            m = max(1, int(m * rng.choice([1, 1, 1, 0.5, 2])))
        shapes.append((m, n, k))
    return shapes


SAMPLE = _sample_shapes(seed=2024, count=110)


def _golden_half_split() -> float:
    return sum(simulate_layer(m, n, k, 4, 4, 0.5, LUT, DSP, 8.0).total_cycles
               for m, n, k in RESNET18)


# ---------------------------------------------------------------------------------------------
# agreement with the analytic tier
# ---------------------------------------------------------------------------------------------


def test_resnet18_dsp_core_agrees_with_the_equations() -> None:
    for (m, n, k), a_bits in zip(RESNET18, DSP_A_BITS, strict=True):
        sim = simulate_dsp_core(m, n, k, a_bits, DSP, INF).total_cycles
        an = dsp_core_cycles(m, n, k, a_bits, DSP)
        assert abs(sim / an - 1) <= 0.12, (m, n, k, sim, an)
        band = dsp_agreement(m, n, k, a_bits, DSP)
        assert band.low_cycles <= sim <= band.high_cycles


@pytest.mark.parametrize("bits", [8, 4])
def test_resnet18_lut_core_agrees_with_the_equations(bits: int) -> None:
    for g, (m, n, k) in enumerate(RESNET18):
        sim = simulate_lut_core(m, n, k, bits, bits, LUT, INF).total_cycles
        an = lut_core_cycles(m, n, k, bits, bits, LUT)
        band = lut_agreement(m, n, k, bits, bits, LUT)
        assert band.low_cycles <= sim <= band.high_cycles, (g, band, sim)
        if bits == 8 and g == 15:
            continue  # the release's stall term is 0 here (T_m = R = 7); checked below
        assert -0.23 <= sim / an - 1 <= 0.21, (g, sim, an)


def test_release_stall_term_drops_execute_work() -> None:
    """ResNet-18 layer 15 at A8W8: T_m = 7 = R, so r = 0 and the release's stall S is 0; its
    165,616 cycles are less than the execute stage's own 7*32 products of 1672 cycles."""
    m, n, k = RESNET18[15]
    band = lut_agreement(m, n, k, 8, 8, LUT)
    sim = simulate_lut_core(m, n, k, 8, 8, LUT, INF)
    assert band.regime == "stall_miscount"
    assert band.analytic_cycles == 165616.0
    assert sim.lut is not None
    assert sim.lut.stage("execute").busy_cycles == 7 * 32 * 1672
    assert sim.total_cycles > 7 * 32 * 1672 > band.analytic_cycles


def test_result_write_back_bounds_low_precision_shallow_layers() -> None:
    """A2W2 with k = 64: a product computes in 44 cycles, its 8x16 int32 results take 110 to
    write; the equations have no write-back."""
    m, n, k = RESNET18[7]
    band = lut_agreement(m, n, k, 2, 2, LUT)
    sim = simulate_lut_core(m, n, k, 2, 2, LUT, INF)
    assert band.regime == "result_bound"
    assert sim.lut is not None
    result = sim.lut.stage("result")
    assert result.busy_cycles == (784 // 8) * (128 // 16) * 110
    assert result.busy_cycles > sim.lut.stage("execute").busy_cycles
    assert sim.total_cycles > 2 * band.analytic_cycles


def test_sampled_shapes_fall_in_their_agreement_band() -> None:
    """880 single-core runs over ResNet/MobileNet-like shapes and bit-widths."""
    rng = random.Random(7)
    matched_errors = []
    regimes = set()
    for m, n, k in SAMPLE:
        bit_pairs = [(8, 8), (4, 4), (2, 2), (rng.randint(1, 8), rng.randint(1, 8))]
        for w_bits, a_bits in bit_pairs:
            band = lut_agreement(m, n, k, w_bits, a_bits, LUT)
            sim = simulate_lut_core(m, n, k, w_bits, a_bits, LUT, INF)
            if band.regime == "outside_domain":
                continue
            assert sim.feasible
            assert band.low_cycles <= sim.total_cycles <= band.high_cycles, (m, n, k, w_bits,
                                                                              a_bits, band, sim)
            regimes.add("lut." + band.regime)
            if band.regime == "matched" and band.analytic_cycles >= 1e5:
                matched_errors.append(sim.total_cycles / band.analytic_cycles - 1)
        for a_bits in (8, 4, 2, rng.randint(1, 8)):
            band = dsp_agreement(m, n, k, a_bits, DSP)
            sim = simulate_dsp_core(m, n, k, a_bits, DSP, INF)
            if band.regime == "outside_domain":
                continue
            assert band.low_cycles <= sim.total_cycles <= band.high_cycles, (m, n, k, a_bits,
                                                                              band, sim)
            regimes.add("dsp." + band.regime)
            if band.regime == "matched" and band.analytic_cycles >= 1e5:
                matched_errors.append(sim.total_cycles / band.analytic_cycles - 1)
    assert len(matched_errors) >= 200  # the tight regime is not a corner case
    assert max(abs(e) for e in matched_errors) <= 0.11
    assert regimes >= {"lut.matched", "lut.result_bound", "lut.stall_miscount",
                       "lut.fetch_overlap", "dsp.matched", "dsp.load_miscount",
                       "dsp.store_bound"}


def test_matched_band_is_the_stated_tolerance() -> None:
    m, n, k = RESNET18[1]
    band = lut_agreement(m, n, k, 4, 4, LUT)
    assert band.regime == "matched"
    slack = band.high_cycles - band.analytic_cycles * (1 + AGREEMENT_TOLERANCE)
    assert band.analytic_cycles * (1 - AGREEMENT_TOLERANCE) - band.low_cycles == pytest.approx(
        slack)
    assert slack < 0.01 * band.analytic_cycles


def test_outside_the_equations_domain_the_band_is_open() -> None:
    core = LutCore(depth_bits=64, act_buffer_depth=1024)  # R = 2 for k = 4608 at 8 bits
    band = lut_agreement(49, 512, 4608, 8, 8, core)
    assert band.regime == "outside_domain"
    assert (band.low_cycles, band.high_cycles) == (0.0, INF)
    assert simulate_lut_core(49, 512, 4608, 8, 8, core, INF).feasible


# ---------------------------------------------------------------------------------------------
# goldens and determinism
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_resnet18_lut_golden(bits: int) -> None:
    total = sum(simulate_lut_core(m, n, k, bits, bits, LUT, INF).total_cycles
                for m, n, k in RESNET18)
    assert total == pytest.approx(GOLDEN_LUT[bits], rel=1e-12)


def test_resnet18_dsp_golden() -> None:
    total = sum(simulate_dsp_core(m, n, k, a, DSP, INF).total_cycles
                for (m, n, k), a in zip(RESNET18, DSP_A_BITS, strict=True))
    assert total == pytest.approx(GOLDEN_DSP, rel=1e-12)


def test_resnet18_shared_port_golden() -> None:
    assert _golden_half_split() == pytest.approx(GOLDEN_HALF_SPLIT_PORT8, rel=1e-12)


def test_deterministic() -> None:
    a = simulate_layer(784, 128, 1152, 3, 4, 0.37, LUT, DSP, 8.0)
    b = simulate_layer(784, 128, 1152, 3, 4, 0.37, LUT, DSP, 8.0)
    assert a == b
    assert a.dram_contention_cycles > 0  # a run with real contention


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT: no jitted kernels")
def test_plain_python_matches_the_jitted_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    jitted = simulate_layer(98, 48, 300, 3, 4, 0.4, LUT, DSP, 6.0)
    from hwsim.engine import events
    from hwsim.fpga import cycle_schedules

    # every kernel as plain Python, patched where its callers look it up
    for name in ("_simulate", "_build_lut", "_build_dsp"):
        monkeypatch.setattr(cycle, name, getattr(cycle, name).py_func)
    monkeypatch.setattr(events, "finish_op", events.finish_op.py_func)
    monkeypatch.setattr(cycle_schedules, "set_op", cycle_schedules.set_op.py_func)
    plain = simulate_layer(98, 48, 300, 3, 4, 0.4, LUT, DSP, 6.0)
    assert plain == jitted


# ---------------------------------------------------------------------------------------------
# laws
# ---------------------------------------------------------------------------------------------

_gemm = st.tuples(st.integers(1, 3136), st.integers(1, 600), st.integers(1, 2400))
_bits = st.integers(1, 8)
_port = st.sampled_from([2.0, 4.0, 8.0, 12.0, 16.0, 32.0, 64.0])


@settings(max_examples=60, deadline=None)
@given(_gemm, _bits, _bits, st.floats(0.0, 1.0), _port)
def test_contention_never_speeds_a_core_up(gemm: tuple[int, int, int], w_bits: int,
                                          a_bits: int, rho: float, port: float) -> None:
    m, n, k = gemm
    layer = simulate_layer(m, n, k, w_bits, a_bits, rho, LUT, DSP, port)
    if not layer.feasible:
        return
    assert layer.lut_channels + layer.dsp_channels == n
    assert layer.total_cycles == max(layer.lut_cycles, layer.dsp_cycles)
    if layer.lut_channels:
        alone = simulate_lut_core(m, layer.lut_channels, k, w_bits, a_bits, LUT, port)
        assert layer.lut_cycles >= alone.total_cycles * (1 - 1e-12)
    if layer.dsp_channels:
        alone = simulate_dsp_core(m, layer.dsp_channels, k, a_bits, DSP, port)
        assert layer.dsp_cycles >= alone.total_cycles * (1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(_gemm, _bits, _bits, st.floats(0.0, 1.0), _port, st.sampled_from([1.25, 2.0, 8.0]))
def test_a_wider_port_is_never_slower(gemm: tuple[int, int, int], w_bits: int, a_bits: int,
                                      rho: float, port: float, factor: float) -> None:
    """Exact for one core. With both cores a wider port can reorder which transfers overlap:
    one core can lose a few per cent while the other gains (4.3 % worst in 45 k random
    layers); the layer never lost more than 0.05 %, asserted here as 0.1 %."""
    m, n, k = gemm
    narrow = simulate_layer(m, n, k, w_bits, a_bits, rho, LUT, DSP, port)
    if not narrow.feasible:
        return
    wide = simulate_layer(m, n, k, w_bits, a_bits, rho, LUT, DSP, port * factor)
    dedicated = simulate_layer(m, n, k, w_bits, a_bits, rho, LUT, DSP, INF)
    assert wide.total_cycles <= narrow.total_cycles * 1.001
    assert dedicated.lut_cycles <= wide.lut_cycles * (1 + 1e-12)
    assert dedicated.dsp_cycles <= wide.dsp_cycles * (1 + 1e-12)
    if narrow.lut_channels:
        alone = [simulate_lut_core(m, narrow.lut_channels, k, w_bits, a_bits, LUT, p)
                 for p in (port, port * factor)]
        assert alone[1].total_cycles <= alone[0].total_cycles * (1 + 1e-12)
    if narrow.dsp_channels:
        alone = [simulate_dsp_core(m, narrow.dsp_channels, k, a_bits, DSP, p)
                 for p in (port, port * factor)]
        assert alone[1].total_cycles <= alone[0].total_cycles * (1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(_gemm, _bits, _bits, _port, st.integers(0, 3), st.integers(0, 3))
def test_bigger_buffers_cost_at_most_one_rounds_loads(
        gemm: tuple[int, int, int], w_bits: int, a_bits: int, port: float, lut_step: int,
        dsp_step: int) -> None:
    """A bigger buffer regroups the tiles into rounds (LUT) or regions (DSP); a smaller last
    round can leave its weight fetches unhidden. So a bigger buffer is slower by less than one
    round's (region's) share of the bigger configuration's fetch (load) work: up to 25 % of a
    small GEMM's latency, never beyond 0.75 of that share in 47 k random cases."""
    m, n, k = gemm
    base_l, base_d = LutCore(act_buffer_depth=256, weight_buffer_depth=256), DspCore(
        input_buffer_depth=512, weight_buffer_depth=512)
    big_l = dataclasses.replace(base_l, act_buffer_depth=256 + 100 * lut_step,
                                weight_buffer_depth=256 + 200 * lut_step)
    big_d = dataclasses.replace(base_d, input_buffer_depth=512 + 300 * dsp_step,
                                weight_buffer_depth=512 + 100 * dsp_step)
    small = simulate_lut_core(m, n, k, w_bits, a_bits, base_l, port)
    big = simulate_lut_core(m, n, k, w_bits, a_bits, big_l, port)
    if small.feasible:
        assert big.feasible and big.lut is not None
        tiles = dict(big.lut.tiling)
        share = big.lut.stage("fetch").busy_cycles / -(-tiles["T_m"] // tiles["R"])
        assert big.total_cycles <= small.total_cycles + share
    small = simulate_dsp_core(m, n, k, a_bits, base_d, port)
    big = simulate_dsp_core(m, n, k, a_bits, big_d, port)
    if small.feasible:
        assert big.feasible and big.dsp is not None
        share = big.dsp.stage("load").busy_cycles / -(-m // dict(big.dsp.tiling)["r_l"])
        assert big.total_cycles <= small.total_cycles + share


def test_bigger_activation_buffer_fewer_weight_refetches() -> None:
    m, n, k = RESNET18[1]
    small = simulate_lut_core(m, n, k, 4, 4, dataclasses.replace(LUT, act_buffer_depth=256), 8.0)
    big = simulate_lut_core(m, n, k, 4, 4, dataclasses.replace(LUT, act_buffer_depth=4096), 8.0)
    assert big.dram_bytes < small.dram_bytes
    assert big.total_cycles < small.total_cycles


# ---------------------------------------------------------------------------------------------
# splits, ports, accounting
# ---------------------------------------------------------------------------------------------


def test_split_extremes_are_the_single_cores() -> None:
    m, n, k = 784, 128, 1152
    all_dsp = simulate_layer(m, n, k, 4, 4, 0.0, LUT, DSP, 8.0)
    all_lut = simulate_layer(m, n, k, 4, 4, 1.0, LUT, DSP, 8.0)
    assert all_dsp == simulate_dsp_core(m, n, k, 4, DSP, 8.0)
    assert all_lut == simulate_lut_core(m, n, k, 4, 4, LUT, 8.0)
    assert all_dsp.lut is None and all_dsp.lut_cycles == 0.0
    assert all_lut.dsp is None and all_lut.dsp_cycles == 0.0


def test_dedicated_port_decouples_the_cores() -> None:
    m, n, k = 3136, 64, 576
    layer = simulate_layer(m, n, k, 4, 4, 0.4, LUT, DSP, INF)
    assert layer.dram_contention_cycles == 0.0
    assert layer.lut_cycles == simulate_lut_core(m, layer.lut_channels, k, 4, 4, LUT,
                                                 INF).total_cycles
    assert layer.dsp_cycles == simulate_dsp_core(m, layer.dsp_channels, k, 4, DSP,
                                                 INF).total_cycles


def test_narrow_shared_port_costs_contention() -> None:
    m, n, k = 3136, 64, 576
    shared = simulate_layer(m, n, k, 4, 4, 0.4, LUT, DSP, 8.0)
    dedicated = simulate_layer(m, n, k, 4, 4, 0.4, LUT, DSP, INF)
    assert shared.dram_contention_cycles > 0
    assert shared.total_cycles > dedicated.total_cycles
    assert shared.dram_bytes == dedicated.dram_bytes  # same traffic, more time


@pytest.mark.parametrize("port", [INF, 8.0, 3.0])
def test_stage_accounting(port: float) -> None:
    layer = simulate_layer(1568, 200, 300, 3, 5, 0.45, LUT, DSP, port)
    assert layer.feasible and layer.lut is not None and layer.dsp is not None
    for core in (layer.lut, layer.dsp):
        assert len(core.stages) == 3
        for s in core.stages:
            assert s.busy_cycles + s.stall_cycles == pytest.approx(core.cycles, rel=1e-12)
            assert 0 < s.busy_cycles <= core.cycles
            assert 0 <= s.dram_contention_cycles <= s.busy_cycles
            assert 0 < s.utilisation <= 1
        assert core.dram_bytes == sum(s.dram_bytes for s in core.stages)
    assert set(layer.stages) == {"lut.fetch", "lut.execute", "lut.result", "dsp.load",
                                 "dsp.compute", "dsp.store"}
    assert layer.stages["lut.execute"].dram_bytes == 0.0
    assert layer.stages["dsp.compute"].dram_bytes == 0.0


def test_lut_tiles_and_traffic_follow_the_schedule() -> None:
    m, n, k, w, a = 3136, 64, 576, 4, 4
    sim = simulate_lut_core(m, n, k, w, a, LUT, INF)
    assert sim.lut is not None
    t_m, t_n, t_k = 392, 4, 5
    big_r = 1024 // (t_k * a)  # 51 m-tiles a round
    rounds = -(-t_m // big_r)
    assert dict(sim.lut.tiling) == {"T_m": t_m, "T_n": t_n, "T_k": t_k, "R": big_r,
                                    "rhs_regions": t_n}
    fetch = sim.lut.stage("fetch")
    assert fetch.ops == t_m + rounds * t_n
    assert fetch.dram_bytes == t_m * 8 * 128 * t_k * a / 8 + rounds * t_n * 16 * 128 * t_k * w / 8
    assert sim.lut.stage("execute").busy_cycles == t_m * t_n * ((t_k + 8) * a * w + 8)
    assert sim.lut.stage("result").dram_bytes == t_m * t_n * 8 * 16 * 4
    assert sim.total_cycles >= 238 + fetch.busy_cycles


def test_dsp_tiles_and_traffic_follow_the_schedule() -> None:
    m, n, k = 784, 128, 1152
    sim = simulate_dsp_core(m, n, k, 4, DSP, INF)
    assert sim.dsp is not None
    t_k, t_n = 36, 8  # 32 input channels a k-tile when packed
    r_l, r_r = 2048 // t_k, min(1024 // (2 * t_k), t_n)
    regions = -(-m // r_l)
    assert dict(sim.dsp.tiling) == {"T_n": t_n, "T_k": t_k, "r_l": r_l, "r_r": r_r,
                                    "weight_regions": 1}
    assert sim.dsp.stage("compute").busy_cycles == (2 * t_k * m * t_n
                                                   + 6 * regions * -(-t_n // r_r))
    load = sim.dsp.stage("load")
    assert load.dram_bytes == m * t_k * 16 + regions * t_n * t_k * 16 * 32
    assert sim.dsp.stage("store").dram_bytes == m * t_n * 16


def test_weight_ping_pong_overlaps_loads_with_compute() -> None:
    m, n, k = RESNET18[16]  # 49 x 512 x 4608: the equations' weight loads are a third
    single = simulate_dsp_core(m, n, k, 4, DSP, INF)
    ping_pong = simulate_dsp_core(m, n, k, 4, DSP, INF, weight_ping_pong=True)
    assert single.dsp is not None and ping_pong.dsp is not None
    assert dict(ping_pong.dsp.tiling)["weight_regions"] == 2
    assert dict(ping_pong.dsp.tiling)["r_r"] == 1024 // (4 * 144)
    assert ping_pong.total_cycles < 0.75 * single.total_cycles
    layer = simulate_layer(m, n, k, 4, 4, 0.0, LUT, DSP, INF, dsp_weight_ping_pong=True)
    assert layer.dsp_cycles == ping_pong.total_cycles


# ---------------------------------------------------------------------------------------------
# GEMMs of several repetitions: whole repetitions per core, streamed back to back
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_repetitions_are_split_whole(rho: float) -> None:
    m, n, k, count = 784, 1, 9, 144  # a MobileNetV2 depthwise convolution
    layer = simulate_layer(m, n, k, 4, 4, rho, LUT, DSP, 8.0, count=count)
    c_l = round(count * rho)
    assert (layer.lut_repetitions, layer.dsp_repetitions) == (c_l, count - c_l)
    assert (layer.lut_channels, layer.dsp_channels) == (c_l * n, (count - c_l) * n)
    assert layer.total_cycles == max(layer.lut_cycles, layer.dsp_cycles)
    if c_l:
        assert layer.lut is not None and dict(layer.lut.tiling).get("repetitions", 1) == c_l
        assert layer.lut.channels == c_l * n
    if rho in (0.0, 1.0):  # one core runs every repetition: the single core's stream
        alone = (simulate_dsp_core(m, n, k, 4, DSP, 8.0, count=count) if rho == 0.0
                 else simulate_lut_core(m, n, k, 4, 4, LUT, 8.0, count=count))
        assert layer == alone


def test_count_one_is_the_channel_split() -> None:
    m, n, k = 784, 128, 1152
    assert simulate_layer(m, n, k, 3, 4, 0.37, LUT, DSP, 8.0, count=1) == (
        simulate_layer(m, n, k, 3, 4, 0.37, LUT, DSP, 8.0))
    layer = simulate_layer(m, n, k, 3, 4, 0.37, LUT, DSP, 8.0)
    assert (layer.lut_repetitions, layer.dsp_repetitions) == (1, 1)
    assert layer.lut is not None and "repetitions" not in dict(layer.lut.tiling)


@settings(max_examples=40, deadline=None)
@given(_gemm, st.integers(2, 12), _bits, _bits, _port)
@example((65, 273, 1), 3, 2, 2, 4.0)
def test_streamed_repetitions_bounds(gemm: tuple[int, int, int], count: int, w_bits: int,
                                     a_bits: int, port: float) -> None:
    """A core's stream of ``c`` repetitions moves ``c`` times the bytes of one and takes at
    most ``c`` times as long, within 0.1 % (the next repetition's fetches overlap this one's
    products, but at a tile boundary the stream can also lose a few cycles: hypothesis found
    m=65, n=273, k=1, c=3 on the LUT core taking 92,202 cycles against 3 x 30,726 = 92,178,
    +0.03 %), and at least ``c`` times one repetition's serial execute stage."""
    m, n, k = gemm
    one = simulate_lut_core(m, n, k, w_bits, a_bits, LUT, port)
    if one.feasible:
        many = simulate_lut_core(m, n, k, w_bits, a_bits, LUT, port, count=count)
        assert one.lut is not None and many.lut is not None
        assert many.dram_bytes == pytest.approx(count * one.dram_bytes, rel=1e-12)
        assert many.total_cycles <= count * one.total_cycles * (1 + 1e-3)
        assert many.total_cycles >= count * one.lut.stage("execute").busy_cycles
    one = simulate_dsp_core(m, n, k, a_bits, DSP, port)
    many = simulate_dsp_core(m, n, k, a_bits, DSP, port, count=count)
    assert one.dsp is not None and many.dsp is not None
    assert many.dram_bytes == pytest.approx(count * one.dram_bytes, rel=1e-12)
    assert many.total_cycles <= count * one.total_cycles * (1 + 1e-3)
    assert many.total_cycles >= count * one.dsp.stage("compute").busy_cycles


@settings(max_examples=40, deadline=None)
@given(_gemm, st.integers(2, 12), _bits, _bits, st.floats(0.0, 1.0), _port)
def test_contention_never_speeds_repetitions_up(gemm: tuple[int, int, int], count: int,
                                               w_bits: int, a_bits: int, rho: float,
                                               port: float) -> None:
    m, n, k = gemm
    layer = simulate_layer(m, n, k, w_bits, a_bits, rho, LUT, DSP, port, count=count)
    if not layer.feasible:
        return
    assert layer.lut_repetitions + layer.dsp_repetitions == count
    assert layer.lut_channels + layer.dsp_channels == n * count
    if layer.lut_repetitions:
        alone = simulate_lut_core(m, n, k, w_bits, a_bits, LUT, port,
                                  count=layer.lut_repetitions)
        assert layer.lut_cycles >= alone.total_cycles * (1 - 1e-12)
    if layer.dsp_repetitions:
        alone = simulate_dsp_core(m, n, k, a_bits, DSP, port, count=layer.dsp_repetitions)
        assert layer.dsp_cycles >= alone.total_cycles * (1 - 1e-12)
    dedicated = simulate_layer(m, n, k, w_bits, a_bits, rho, LUT, DSP, INF, count=count)
    assert dedicated.dram_contention_cycles == 0.0
    assert dedicated.dram_bytes == pytest.approx(layer.dram_bytes, rel=1e-12)


@pytest.mark.parametrize("port", [INF, 8.0])
def test_stage_accounting_with_repetitions(port: float) -> None:
    layer = simulate_layer(196, 24, 300, 3, 5, 0.45, LUT, DSP, port, count=7)
    assert layer.feasible and layer.lut is not None and layer.dsp is not None
    assert (layer.lut_repetitions, layer.dsp_repetitions) == (3, 4)
    for core in (layer.lut, layer.dsp):
        for s in core.stages:
            assert s.busy_cycles + s.stall_cycles == pytest.approx(core.cycles, rel=1e-12)
            assert 0 <= s.dram_contention_cycles <= s.busy_cycles
        assert core.dram_bytes == sum(s.dram_bytes for s in core.stages)
    one = simulate_lut_core(196, 24, 300, 3, 5, LUT, port)
    assert one.lut is not None
    assert layer.lut.stage("execute").ops == 3 * one.lut.stage("execute").ops



@pytest.mark.parametrize("rho", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("port", [INF, 8.0])
def test_dependent_repetitions_split_each_step_by_channels(rho: float, port: float) -> None:
    """An LSTM's time steps run one after another, each split by channels: ``count`` times
    the one-step channel split, not whole steps per core."""
    m, n, k, steps = 4, 512, 384, 8  # batch 4, hidden 128 (4 gates), input 256
    one = simulate_layer(m, n, k, 4, 4, rho, LUT, DSP, port)
    lstm = simulate_layer(m, n, k, 4, 4, rho, LUT, DSP, port, count=steps, independent=False)
    assert lstm.feasible
    assert lstm.total_cycles == steps * one.total_cycles
    assert (lstm.lut_cycles, lstm.dsp_cycles) == (steps * one.lut_cycles, steps * one.dsp_cycles)
    assert (lstm.lut_channels, lstm.dsp_channels) == (steps * one.lut_channels,
                                                      steps * one.dsp_channels)
    assert (lstm.lut_repetitions, lstm.dsp_repetitions) == (steps * one.lut_repetitions,
                                                            steps * one.dsp_repetitions)
    assert lstm.dram_bytes == steps * one.dram_bytes
    assert lstm.dram_contention_cycles == steps * one.dram_contention_cycles
    for core, base in ((lstm.lut, one.lut), (lstm.dsp, one.dsp)):
        assert (core is None) == (base is None)
        if core is not None and base is not None:
            assert dict(core.tiling)["steps"] == steps and core.cycles == steps * base.cycles
            for s, b in zip(core.stages, base.stages, strict=True):
                assert s.ops == steps * b.ops
                assert s.busy_cycles + s.stall_cycles == pytest.approx(core.cycles, rel=1e-12)
    streamed = simulate_layer(m, n, k, 4, 4, rho, LUT, DSP, port, count=steps)
    c_l = round(steps * rho)
    assert (streamed.lut_repetitions, streamed.dsp_repetitions) == (c_l, steps - c_l)
    if 0.0 < rho < 1.0:
        assert lstm.lut_channels % steps == 0 and lstm.lut_channels // steps == round(n * rho)
    # single cores: one step after another as well
    alone = simulate_dsp_core(m, n, k, 4, DSP, port, count=steps, independent=False)
    assert alone.total_cycles == steps * simulate_dsp_core(m, n, k, 4, DSP, port).total_cycles
    alone = simulate_lut_core(m, n, k, 4, 4, LUT, port, count=steps, independent=False)
    assert alone.total_cycles == steps * simulate_lut_core(m, n, k, 4, 4, LUT, port).total_cycles
    if rho == 0.0:
        assert lstm == simulate_dsp_core(m, n, k, 4, DSP, port, count=steps, independent=False)

def test_depthwise_layers_simulate_fast() -> None:
    simulate_layer(64, 1, 9, 4, 4, 0.5, LUT, DSP, 8.0, count=4)  # compile or load the cache
    start = time.perf_counter()
    sim = simulate_layer(12544, 1, 9, 4, 4, 0.5, LUT, DSP, 8.0, count=32)  # MobileNetV2's first
    assert time.perf_counter() - start < 1.0
    assert sim.events < 250_000


# ---------------------------------------------------------------------------------------------
# infeasible and malformed input
# ---------------------------------------------------------------------------------------------


def test_infeasible_configurations_are_reports() -> None:
    tiny_lut = dataclasses.replace(LUT, act_buffer_depth=16)
    sim = simulate_layer(196, 256, 2304, 4, 4, 0.5, tiny_lut, DSP, 8.0)
    assert isinstance(sim, LayerSim)
    assert not sim.feasible
    assert "act_buffer_depth = 16" in sim.reason
    assert sim.total_cycles == INF and sim.lut_cycles == INF
    tiny_dsp = DspCore(weight_buffer_depth=100)  # a block of k = 4608 needs 2*144 words
    sim = simulate_dsp_core(49, 512, 4608, 4, tiny_dsp, 8.0)
    assert not sim.feasible and "weight_buffer_depth = 100" in sim.reason
    assert sim.dsp_cycles == INF and sim.lut_cycles == 0.0
    both = simulate_layer(49, 512, 4608, 4, 4, 0.5, tiny_lut, tiny_dsp, 8.0)
    assert "LUT core" in both.reason and "DSP core" in both.reason
    ok_single = DspCore(weight_buffer_depth=300)  # 2*144 fit once, not twice
    assert simulate_dsp_core(49, 512, 4608, 4, ok_single, 8.0).feasible
    halves = simulate_dsp_core(49, 512, 4608, 4, ok_single, 8.0, weight_ping_pong=True)
    assert not halves.feasible and "each half" in halves.reason
    # the core with no channels does not need to fit
    assert simulate_layer(196, 256, 2304, 4, 4, 0.0, tiny_lut, DSP, 8.0).feasible


@pytest.mark.parametrize("kwargs, field", [
    ({"m": 0}, "m"), ({"n": 2.5}, "n"), ({"k": True}, "k"), ({"w_bits": 0}, "w_bits"),
    ({"a_bits": 9}, "a_bits"), ({"lut_fraction": 1.5}, "lut_fraction"),
    ({"dram_bytes_per_cycle": 0.0}, "dram_bytes_per_cycle"),
    ({"dram_bytes_per_cycle": math.nan}, "dram_bytes_per_cycle"),
    ({"count": 0}, "count"), ({"count": 2.0}, "count"), ({"independent": 1}, "independent"),
])
def test_malformed_input_raises(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"m": 64, "n": 64, "k": 64, "w_bits": 4, "a_bits": 4,
                               "lut_fraction": 0.5, "lut_core": LUT, "dsp_core": DSP,
                               "dram_bytes_per_cycle": 8.0}
    args.update(kwargs)
    with pytest.raises(RecordError, match=field):
        simulate_layer(**args)  # type: ignore[arg-type]


def test_wide_activations_need_an_all_lut_split() -> None:
    wide = LutCore(max_bits=16)
    assert simulate_layer(64, 64, 64, 12, 12, 1.0, wide, DSP, 8.0).feasible
    with pytest.raises(RecordError, match="8-bit input words"):
        simulate_layer(64, 64, 64, 12, 12, 0.5, wide, DSP, 8.0)


def test_wrong_core_types_raise() -> None:
    with pytest.raises(TypeError, match="LutCore"):
        simulate_layer(64, 64, 64, 4, 4, 0.5, DSP, DSP, 8.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="DspCore"):
        simulate_dsp_core(64, 64, 64, 4, LUT, 8.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------------------------


def test_resnet18_sized_layers_simulate_fast() -> None:
    simulate_layer(64, 64, 64, 4, 4, 0.5, LUT, DSP, 8.0)  # compile or load the cache
    start = time.perf_counter()
    sim = simulate_layer(12544, 64, 147, 8, 8, 0.5, LUT, DSP, 8.0)  # the largest, 3136 tiles
    assert time.perf_counter() - start < 1.0
    assert sim.events < 50_000


if __name__ == "__main__":
    for bits in (8, 4, 2):
        total = sum(simulate_lut_core(m, n, k, bits, bits, LUT, INF).total_cycles
                    for m, n, k in RESNET18)
        print(f"GOLDEN_LUT[{bits}] = {total!r}")
    print("GOLDEN_DSP =", repr(sum(simulate_dsp_core(m, n, k, a, DSP, INF).total_cycles
                                   for (m, n, k), a in zip(RESNET18, DSP_A_BITS, strict=True))))
    print("GOLDEN_HALF_SPLIT_PORT8 =", repr(_golden_half_split()))


def test_a_gemm_too_large_to_simulate_is_refused_with_a_message() -> None:
    from hwsim.errors import CodesignError
    from hwsim.fpga.cycle import MAX_SIMULATED_OPS

    with pytest.raises(CodesignError, match="too large for the cycle tier"):
        simulate_lut_core(2**20, 2**12, 512, 4, 4, LUT, 8.0)
    assert MAX_SIMULATED_OPS >= 1_000_000  # every zoo network's GEMMs stay simulatable
