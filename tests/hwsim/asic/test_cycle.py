"""The systolic array's cycle tier (hwsim.asic.cycle): SCALE-Sim's compute cycles when memory
keeps up, the same DRAM traffic as the analytic tier's closed form, never faster than the
traffic allows, and agreement with the analytic tier within the stated band."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cost_models as cm
from hwsim.asic import analytic as sa
from hwsim.asic import cycle
from hwsim.errors import CodesignError
from hwsim.ir import zoo

dims = st.integers(1, 300)


def run(m, n, k, rows, cols, flow, *, kib=64.0, bw=10.0):  # type: ignore[no-untyped-def]
    words = kib * 1024
    return cycle.simulate_gemm(m, n, k, rows, cols, flow, ifmap_words=words,
                               filter_words=words, ofmap_words=words, ifmap_bytes=1.0,
                               filter_bytes=1.0, ofmap_bytes=1.0, dram_bytes_per_cycle=bw)


@settings(max_examples=60, deadline=None)
@given(dims, dims, dims, st.integers(1, 40), st.integers(1, 40), st.integers(0, 2))
def test_with_memory_keeping_up_the_cycles_are_scalesims_compute_cycles(m, n, k, r, c, flow):
    sim = run(m, n, k, r, c, flow, kib=2.0**20, bw=1e12)
    assert sim.compute_cycles == sa.compute_cycles(m, n, k, r, c, flow)
    assert sim.cycles == pytest.approx(sim.compute_cycles, abs=1e-3)


@settings(max_examples=60, deadline=None)
@given(dims, dims, dims, st.integers(1, 40), st.integers(1, 40), st.integers(0, 2),
       st.sampled_from([1.0, 4.0, 64.0]), st.sampled_from([1.0, 10.0]))
def test_traffic_matches_the_closed_form_and_bounds_the_cycles(m, n, k, r, c, flow, kib, bw):
    sim = run(m, n, k, r, c, flow, kib=kib, bw=bw)
    half = kib * 1024 / 2
    words = cycle.dram_words(m, n, k, r, c, flow, half, half)
    assert sim.dram_bytes == pytest.approx(sum(float(w) for w in words), rel=1e-9)
    assert sim.cycles >= max(float(w) for w in words) / bw - 1e-6
    assert sim.cycles >= sim.compute_cycles - 1e-6


@pytest.mark.parametrize("target", ["systolic-32x32", "tpu-v1-like", "eyeriss-like"])
@pytest.mark.parametrize("workload", ["resnet18", "mobilenetv2"])
def test_cycle_tier_agrees_with_the_analytic_tier_within_the_stated_band(target, workload):
    """docs/asic.md: network totals within -10 % / +30 % of the analytic tier on the presets
    (the cycle tier pays each repetition's first fill and moves whole tiles)."""
    wl = zoo.get(workload)
    design = cm.uniform_design(wl, 8, 8)
    analytic = cm.evaluate(wl, target, design)
    sim = cm.evaluate(wl, target, design, fidelity="cycle")
    ratio = sim.total_cycles / analytic.total_cycles
    print(f"{target} {workload}: cycle / analytic = {ratio:.3f}")
    assert 0.9 <= ratio <= 1.3
    assert sim.dram_bytes == analytic.dram_bytes
    assert all(math.isfinite(layer.cycles) for layer in sim.layers)


def test_oversize_gemms_are_refused_with_a_clear_error():
    with pytest.raises(CodesignError, match="analytic tier"):
        run(10**7, 10**4, 8, 1, 1, 0)
    assert np.isfinite(run(1, 1, 1, 1, 1, 0).cycles)
