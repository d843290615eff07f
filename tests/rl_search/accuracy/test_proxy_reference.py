"""ProxyOracle and the weight-free prior against independent references (mutation testing of
rl_search/accuracy/proxy.py).

Every expected value is either worked out by hand in a comment, or comes from a plain-Python
transcription (below, no numpy vectorisation, no call into the module) of the formulas in the
module's docstrings and docs/formulas.md: the Gaussian weight noise on a clipped symmetric grid
(``_gaussian_weight_nsr``'s documented 4000-level search), the power-law low-rank tail, the
signed intermediate-activation noise, the sensitivities ``scale / n * edge * depthwise`` and the
log-logistic link ``chance + span / (1 + z^k)``. Tables built by hand (distinct, easily read
numbers) pin the lookups of ``_terms``. Nothing here trains a model or imports torch.
"""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest

from cost_models.design import Design, DesignError
from hwsim.ir import Workload, zoo
from hwsim.ir.layers import Conv2d, Linear, MatMul, TTLinear
from rl_search.accuracy.base import AccuracyOracle
from rl_search.accuracy.layer_errors import MAX_BITS, LayerErrors
from rl_search.accuracy.proxy import (
    DEFAULT_PRIOR,
    UNCALIBRATED_SCALE,
    ProxyOracle,
    layer_roles,
    noise_tables,
    parameters_summary,
    prior_sensitivities,
)
from rl_search.accuracy.published import PriorParameters

# ------------------------------------------------------------------ transcription (no library)

CLIP_POINTS = 4000  # documented: clipping levels tried in (0, peak]


def q_tail(c: float) -> float:
    return 0.5 * math.erfc(c / math.sqrt(2.0))


def phi(c: float) -> float:
    return math.exp(-0.5 * c * c) / math.sqrt(2.0 * math.pi)


def clip_noise(c: float) -> float:
    """C(c) = 2[(1 + c^2) Q(c) - c phi(c)]."""
    return 2.0 * ((1.0 + c * c) * q_tail(c) - c * phi(c))


def grid_nsr(bits: int, peak: float) -> float:
    """The documented e(b): min over the 4000 levels c = peak * i / 4000 (i = 1..4000) of the
    granular plus excess clipping noise (1 bit: levels +-c/2), capped at 1."""
    best = math.inf
    for i in range(1, CLIP_POINTS + 1):
        c = peak * i / CLIP_POINTS
        if bits == 1:
            mse = 1.0 - math.sqrt(2.0 / math.pi) * c + c * c / 4.0
        else:
            step = c / (2.0 ** (bits - 1) - 1.0)
            mse = step * step / 12.0 * (1.0 - 2.0 * q_tail(c)) + clip_noise(c) - clip_noise(peak)
        best = min(best, mse)
    return min(best, 1.0)


_NSR_CACHE: dict[tuple[int, float], float] = {}


def nsr(bits: int, peak: float) -> float:
    key = (bits, peak)
    if key not in _NSR_CACHE:
        _NSR_CACHE[key] = grid_nsr(bits, peak)
    return _NSR_CACHE[key]


def peak_of(k: int) -> float:
    """Expected largest magnitude of k unit Gaussians, sqrt(2 ln k) (k at least 2)."""
    return math.sqrt(2.0 * math.log(max(k, 2)))


def tail_share(n: int, r: int, alpha: float) -> float:
    """1 - sum_{i<=r} i^(-2 alpha) / sum_{i<=N} i^(-2 alpha)."""
    energy = [i ** (-2.0 * alpha) for i in range(1, n + 1)]
    return 1.0 - sum(energy[:r]) / sum(energy)


def signed_noise(bits: int, ratio: float) -> float:
    """A signed intermediate activation on a symmetric b-bit grid: ratio^2 / (12 (2^(b-1) - 1)^2),
    the step count at least 1, capped at 1; 0 at b = 0 (not quantised)."""
    if bits == 0:
        return 0.0
    return min(ratio ** 2 / (12.0 * max(2.0 ** (bits - 1) - 1.0, 1.0) ** 2), 1.0)


def expected_tables(layer, gemm_k: int | None, full: int, *, act_weight=1.0, rank_weight=1.0,
                    ratio=4.0, alpha=0.5):
    """(weight [17, n + 1], act [17], rank [full + 1, 17]) of the documented noise model.

    ``gemm_k`` is the inner dimension of the layer's largest GEMM (None: no weights)."""
    n = layer.out_channels_total
    weight = np.zeros((MAX_BITS + 1, n + 1))
    for b in range(MAX_BITS + 1):  # row 0 is unused; e(0) = 0 there, the rest at 8 bits
        w_b = nsr(b, peak_of(gemm_k)) if gemm_k and b else 0.0
        w_8 = nsr(8, peak_of(gemm_k)) if gemm_k else 0.0
        for n_lut in range(n + 1):
            weight[b, n_lut] = (n_lut * w_b + (n - n_lut) * w_8) / n
    # unsigned a-bit grid: e_a(a) = e(a + 1) with peak = ratio (exp(ratio^2 / 2) "weights")
    act = np.array([0.0] + [act_weight * nsr(a + 1, ratio) for a in range(1, MAX_BITS + 1)])
    rank = np.zeros((full + 1, MAX_BITS + 1))
    linear_like = hasattr(layer, "in_features")
    for r in range(1, full + 1):
        if linear_like:
            tail, inner = tail_share(full, r, alpha), 1
        else:
            tail = (tail_share(layer.in_channels, min(r, layer.in_channels), alpha)
                    + tail_share(layer.out_channels, min(r, layer.out_channels), alpha))
            inner = 2
        tail = min(tail, 1.0)
        for a in range(MAX_BITS + 1):
            rank[r, a] = rank_weight * min(tail + inner * signed_noise(a, ratio), 1.0)
    return weight, act, rank


def link(z: float, k: float, chance: float, span: float) -> float:
    return chance + span / (1.0 + max(z, 0.0) ** k)


# ------------------------------------------------------------------ a small mixed workload

C1 = Conv2d("c1", 3, 8, 6, 6, 3, 3, padding=1)           # k = 27, full rank max(3, 8) = 8
DW = Conv2d("dw", 8, 8, 6, 6, 3, 3, padding=1, groups=8)  # depthwise: k = 9, no rank
MM = MatMul("mm", 4, 5, 6)                                # no weights, no rank
# TT stages (REFERENCE.md section 4): k=1: 4 rows x 6 cols x inner 8 = 192 MACs;
# k=0: 2 rows x 2 cols x inner 12 = 48 MACs: the largest GEMM's inner dimension is 8
TT = TTLinear("tt", (4, 8), (2, 2), (1, 3, 1))            # full rank MAX_TENSOR_RANK = 16
ONE = Linear("one", 1, 3)                                 # k = 1: peak of max(k, 2) = 2
FC = Linear("fc", 16, 4)                                  # k = 16, full rank min = 4

MIXED = Workload("mixed", (C1, DW, MM, TT, ONE, FC))
GEMM_K = {"c1": 27, "dw": 9, "mm": None, "tt": 8, "one": 1, "fc": 16}
FULL = {"c1": 8, "dw": 0, "mm": 0, "tt": 16, "one": 1, "fc": 4}

PARAMS = PriorParameters(edge_weight=3.0, depthwise_weight=5.0, act_weight=0.7,
                         scale={"qat": 0.2, "ptq": 0.9}, steepness={"qat": 1.5, "ptq": 2.5},
                         rank_weight={"qat": 0.25, "ptq": 0.6})


def check_tables(layers, **kw):
    assert [la.name for la in layers] == [la.name for la in MIXED.layers]
    for la, layer in zip(layers, MIXED.layers, strict=True):
        weight, act, rank = expected_tables(layer, GEMM_K[la.name], FULL[la.name], **kw)
        assert la.weight.shape == weight.shape, la.name
        assert la.act.shape == act.shape, la.name
        assert la.rank.shape == rank.shape, la.name
        np.testing.assert_allclose(la.weight, weight, rtol=1e-9, atol=1e-15, err_msg=la.name)
        np.testing.assert_allclose(la.act, act, rtol=1e-9, atol=1e-15, err_msg=la.name)
        np.testing.assert_allclose(la.rank, rank, rtol=1e-9, atol=1e-15, err_msg=la.name)


def test_noise_tables_default_weights_are_the_documented_model():
    check_tables(noise_tables(MIXED))


def test_noise_tables_weight_the_activation_and_rank_terms():
    check_tables(noise_tables(MIXED, act_weight=0.7, rank_weight=0.25),
                 act_weight=0.7, rank_weight=0.25)


def test_noise_tables_follow_the_stated_assumptions():
    check_tables(noise_tables(MIXED, act_peak_to_rms=3.0, spectrum_exponent=0.8),
                 ratio=3.0, alpha=0.8)
    check_tables(noise_tables(MIXED, spectrum_exponent=0.3), alpha=0.3)


def test_noise_tables_reject_unknown_assumptions():
    with pytest.raises(DesignError) as err:
        noise_tables(MIXED, spectrum=0.5, peak=4.0, act_peak_to_rms=4.0)
    problems = err.value.problems
    assert [(p.field, p.value) for p in problems] == [("peak", 4.0), ("spectrum", 0.5)]
    assert problems[0].message == "unknown; known: ['act_peak_to_rms', 'spectrum_exponent']"
    assert str(err.value).startswith("invalid prior assumptions:")


def test_one_bit_and_small_row_weights_by_hand():
    layers = {la.name: la for la in noise_tables(MIXED)}
    # 1 bit, levels +-c/2: 1 - sqrt(2/pi) c + c^2/4 is least at c = 2 sqrt(2/pi) = 1.596, where
    # it is 1 - 2/pi = 0.36338; fc's peak sqrt(2 ln 16) = 2.355 > 1.596 (grid within 1e-6)
    assert layers["fc"].weight[1, 4] == pytest.approx(1.0 - 2.0 / math.pi, abs=1e-6)
    # k = 1 counts as k = 2: peak sqrt(2 ln 2) = 1.1774 < 1.596, so c = peak:
    # 1 - 0.797885 * 1.177410 + 1.177410^2 / 4 = 1 - 0.939437 + 0.346574 = 0.407137
    assert layers["one"].weight[1, 3] == pytest.approx(0.407137, abs=2e-6)
    # 8 bits on every channel is the all-DSP row too
    assert np.all(layers["fc"].weight[8] == layers["fc"].weight[8, 0])
    # no weights (an activation-activation matmul): no weight noise
    assert np.all(layers["mm"].weight == 0.0)
    # activations: unsigned 1-bit grid = signed 2-bit grid with peak 4: step 4, clipped optimum
    assert layers["fc"].act[0] == 0.0
    assert 0.0 < layers["fc"].act[16] < layers["fc"].act[8] < layers["fc"].act[2] \
        < layers["fc"].act[1] < 1.0


def test_rank_tables_by_hand():
    layers = {la.name: la for la in noise_tables(MIXED)}
    # fc (Linear 16 -> 4): full rank 4, alpha 0.5 so energy 1/i: 1, 1/2, 1/3, 1/4 (sum 25/12)
    # rank 2 keeps 3/2 of 25/12: tail 1 - 18/25 = 0.28; column 0: intermediates not quantised
    assert layers["fc"].rank[2, 0] == pytest.approx(0.28, abs=1e-12)
    # 8-bit signed intermediate: 16 / (12 * 127^2) = 8.2669e-5 (one intermediate for SVD)
    assert layers["fc"].rank[2, 8] == pytest.approx(0.28 + 16.0 / (12 * 127 ** 2), abs=1e-12)
    # 2-bit signed grid has one step each side: 16/12 > 1, capped at 1; so is 1 bit
    assert layers["fc"].rank[2, 2] == 1.0 and layers["fc"].rank[2, 1] == 1.0
    # 3 bits: 16 / (12 * 9) = 0.148148
    assert layers["fc"].rank[4, 3] == pytest.approx(16.0 / 108.0, abs=1e-12)
    assert np.all(layers["fc"].rank[0] == 0.0)
    # c1 (conv 3 -> 8, Tucker-2): rank 2 keeps in-mode 1 + 1/2 of 1 + 1/2 + 1/3 = 11/6 (tail
    # 2/11 = 0.181818) and out-mode 3/2 of H_8 = 761/280 (tail 1 - 420/761 = 0.448095)
    assert layers["c1"].rank[2, 0] == pytest.approx(2 / 11 + 1 - 420 / 761, abs=1e-12)
    # two signed intermediates at 8 bits
    assert layers["c1"].rank[2, 8] == pytest.approx(
        2 / 11 + 1 - 420 / 761 + 2 * 16.0 / (12 * 127 ** 2), abs=1e-12)
    # rank 3 and above keep all of the 3 input channels
    assert layers["c1"].rank[5, 0] == pytest.approx(1 - (1 + 1/2 + 1/3 + 1/4 + 1/5) / (761 / 280),
                                                    abs=1e-12)
    # a layer that cannot be factorised has one all-zero row
    assert layers["dw"].rank.shape == (1, MAX_BITS + 1) and np.all(layers["dw"].rank == 0.0)


def test_layer_roles_and_prior_sensitivities():
    edge, depthwise = layer_roles(MIXED)
    assert edge.tolist() == [True, False, False, False, False, True]
    assert depthwise.tolist() == [False, True, False, False, False, False]
    assert edge.dtype == bool and depthwise.dtype == bool
    # s_l = scale / 6 * 3 (first, last) * 5 (depthwise)
    for regime, scale in (("qat", 0.2), ("ptq", 0.9)):
        s = prior_sensitivities(MIXED, PARAMS, regime)
        want = [scale / 6 * 3, scale / 6 * 5, scale / 6, scale / 6, scale / 6, scale / 6 * 3]
        np.testing.assert_allclose(s, want, rtol=1e-14)
    # a grouped (not depthwise) conv and a one-layer workload (edge both ways)
    grouped = Workload("g", (Conv2d("g1", 8, 16, 4, 4, 3, 3, groups=4),
                             Conv2d("g2", 16, 16, 4, 4, 3, 3, groups=16),
                             Conv2d("g3", 16, 8, 4, 4, 1, 1)))
    assert layer_roles(grouped)[1].tolist() == [False, True, False]
    assert layer_roles(grouped)[0].tolist() == [True, False, True]
    single = Workload("s", (Linear("only", 4, 4),))
    assert layer_roles(single)[0].tolist() == [True]
    assert layer_roles(single)[1].tolist() == [False]


def test_parameters_summary_is_flat():
    assert parameters_summary(PARAMS, "ptq") == {
        "scale": 0.9, "steepness": 2.5, "rank_weight": 0.6, "edge_weight": 3.0,
        "depthwise_weight": 5.0, "act_weight": 0.7}
    assert parameters_summary(PARAMS, "qat") == {
        "scale": 0.2, "steepness": 1.5, "rank_weight": 0.25, "edge_weight": 3.0,
        "depthwise_weight": 5.0, "act_weight": 0.7}


def test_module_constants():
    assert DEFAULT_PRIOR == {"act_peak_to_rms": 4.0, "spectrum_exponent": 0.5}
    assert UNCALIBRATED_SCALE == 0.1


# ------------------------------------------------------------------ the prior


@pytest.mark.parametrize("regime", ["qat", "ptq"])
def test_prior_is_the_documented_model(regime):
    prior = ProxyOracle.prior(MIXED, regime=regime, parameters=PARAMS, float_top1=80.0)
    assert prior.kind == "prior" and prior.baseline == 0.8 and prior.chance == 0.0
    assert prior.steepness == PARAMS.steepness[regime]
    assert prior.workload is MIXED
    assert prior.calibration is None
    check_tables(prior.layers, act_weight=0.7, rank_weight=PARAMS.rank_weight[regime])
    scale = PARAMS.scale[regime]
    np.testing.assert_allclose(
        prior.sensitivities,
        [scale / 6 * 3, scale / 6 * 5, scale / 6, scale / 6, scale / 6, scale / 6 * 3],
        rtol=1e-14)
    # one design by the transcription: z = sum s_l (e_w + 0.7 e_a + rank_weight e_r)
    wb, ab, fr, rk = [2, 3, 4, 5, 6, 3], [4, 3, 2, 8, 5, 6], [1.0, 0.5, 0.25, 0.0, 1.0, 0.75], \
        [3, 0, 0, 5, 1, 2]
    z = 0.0
    for i, layer in enumerate(MIXED.layers):
        w, a, r = expected_tables(layer, GEMM_K[layer.name], FULL[layer.name], act_weight=0.7,
                                  rank_weight=PARAMS.rank_weight[regime])
        n_lut = round(layer.out_channels_total * fr[i])
        z += prior.sensitivities[i] * (w[wb[i], n_lut] + a[ab[i]] + r[rk[i], ab[i]])
    k = PARAMS.steepness[regime]
    acc = prior.estimate_batch([wb], [ab], [fr], [rk])[0]
    assert acc == pytest.approx(0.8 - 0.8 * z ** k / (1 + z ** k), rel=1e-9)
    assert prior.score_batch([wb], [ab], [fr], [rk])[0] == pytest.approx(z, rel=1e-9)
    design = Design(MIXED.layer_names, tuple(wb), tuple(ab), rank=tuple(r or None for r in rk),
                    mapping={"lut_fraction": tuple(fr)})
    est = prior.estimate(design)
    assert est.accuracy == pytest.approx(acc, rel=1e-12)
    assert est.kind == "prior" and est.baseline == 0.8
    assert est.details["regime"] == regime
    assert est.details["calibrated"] is False
    stated = est.details["assumptions"]
    assert stated == {
        "regime": regime,
        "units": "top-1 points lost (accuracy = float top-1 - points lost, as a fraction)",
        "float_top1": 80.0, "float_top1_known": True,
        "parameters": parameters_summary(PARAMS, regime),
        "act_peak_to_rms": 4.0, "spectrum_exponent": 0.5}
    assert prior.assumptions == stated


def test_prior_float_top1_from_the_table_or_a_perfect_score():
    # torchvision's ResNet-18 top-1 (docs/formulas.md): 69.758
    r18 = ProxyOracle.prior(zoo.get("resnet18"))
    assert r18.baseline == pytest.approx(0.69758, abs=1e-12)
    assert r18.assumptions["float_top1"] == 69.758
    assert r18.assumptions["float_top1_known"] is True
    assert r18.assumptions["regime"] == "qat"  # the default regime
    unknown = ProxyOracle.prior(MIXED, parameters=PARAMS)
    assert unknown.baseline == 1.0
    assert unknown.assumptions["float_top1"] == 100.0
    assert unknown.assumptions["float_top1_known"] is False
    assert unknown.steepness == 1.5  # qat
    assert ProxyOracle.prior(MIXED, parameters=PARAMS, float_top1=100).baseline == 1.0


def test_prior_uses_the_shipped_parameters_by_default():
    # rl_search/accuracy/data/prior_parameters.toml, read here without the library's reader
    import tomllib
    from pathlib import Path

    import rl_search.accuracy as pkg

    raw = tomllib.loads((Path(pkg.__file__).parent / "data" / "prior_parameters.toml")
                        .read_text())
    for regime in ("qat", "ptq"):
        prior = ProxyOracle.prior(MIXED, regime=regime)
        assert prior.steepness == raw["regime"][regime]["steepness"]
        scale = raw["regime"][regime]["scale"]
        edge = raw["shared"]["edge_weight"]
        assert prior.sensitivities[0] == pytest.approx(scale / 6 * edge, rel=1e-14)
        act_weight = raw["shared"]["act_weight"]
        assert prior.layers[-1].act[4] == pytest.approx(act_weight * nsr(5, 4.0), rel=1e-9)
        assert prior.layers[-1].rank[2, 0] == pytest.approx(
            raw["regime"][regime]["rank_weight"] * 0.28, rel=1e-12)


def test_prior_overrides_reach_the_tables_and_the_statement():
    prior = ProxyOracle.prior(MIXED, parameters=PARAMS, act_peak_to_rms=3.0)
    check_tables(prior.layers, act_weight=0.7, rank_weight=0.25, ratio=3.0)
    assert prior.assumptions["act_peak_to_rms"] == 3.0
    assert prior.assumptions["spectrum_exponent"] == 0.5


@pytest.mark.parametrize("top1", [0.0, -5.0, 100.5])
def test_prior_rejects_a_float_top1_outside_0_100(top1):
    with pytest.raises(DesignError) as err:
        ProxyOracle.prior(MIXED, parameters=PARAMS, float_top1=top1)
    (problem,) = err.value.problems
    assert (problem.field, problem.value, problem.message) == (
        "float_top1", top1, "must be in (0, 100]")
    assert str(err.value).startswith("invalid prior:")


def test_prior_rejects_an_unknown_regime():
    with pytest.raises(DesignError) as err:
        ProxyOracle.prior(MIXED, regime="fp32", parameters=PARAMS)
    (problem,) = err.value.problems
    assert (problem.field, problem.value, problem.message) == (
        "regime", "fp32", "must be one of ('qat', 'ptq')")
    assert str(err.value).startswith("invalid prior:")


# ------------------------------------------------------------------ hand-built tables


def hand_layer(name: str, channels: int, full: int, base: float) -> LayerErrors:
    """weight[b, n] = base + b + n / 100; act[a] = base / 10 + a / 1000;
    rank[r, a] = r / 10 + a / 10000 (row 0 = 0)."""
    weight = np.array([[base + b + n / 100 for n in range(channels + 1)]
                       for b in range(MAX_BITS + 1)])
    act = np.array([base / 10 + a / 1000 for a in range(MAX_BITS + 1)])
    rank = np.array([[(r / 10 + a / 10000) if r else 0.0 for a in range(MAX_BITS + 1)]
                     for r in range(full + 1)])
    return LayerErrors(name, weight, act, rank)


A = hand_layer("a", 5, 3, 0.0)   # 5 channels, rank up to 3
B = hand_layer("b", 2, 0, 1.0)   # 2 channels, cannot be factorised
C = hand_layer("c", 9, 6, 2.0)   # 9 channels (the widest), rank up to 6


def hand_oracle(**kw) -> ProxyOracle:
    kw.setdefault("baseline", 0.9)
    kw.setdefault("chance", 0.1)
    kw.setdefault("steepness", 2.0)
    return ProxyOracle([A, B, C], kw.pop("s", [0.5, 0.25, 2.0]), **kw)


def test_error_terms_are_the_table_entries():
    oracle = hand_oracle()
    # n_lut = min(round_half_even(fraction * channels), channels):
    # a: 0.5 * 5 = 2.5 -> 2; b: 1.0 * 2 = 2; c: 0.5 * 9 = 4.5 -> 4
    # second design: a: 0.3 * 5 = 1.5 -> 2; b: 0.2 * 2 = 0.4 -> 0; c: 0.95 * 9 = 8.55 -> 9
    e_w, e_a, e_r = oracle.error_terms([[3, 4, 5], [16, 1, 2]], [[2, 7, 8], [1, 16, 3]],
                                       [[0.5, 1.0, 0.5], [0.3, 0.2, 0.95]],
                                       [[2, 0, 6], [0, 0, 1]])
    np.testing.assert_allclose(e_w, [[3.02, 1 + 4 + 0.02, 2 + 5 + 0.04],
                                     [16.02, 1 + 1 + 0.0, 2 + 2 + 0.09]], rtol=1e-14)
    np.testing.assert_allclose(e_a, [[0.002, 0.1 + 0.007, 0.2 + 0.008],
                                     [0.001, 0.1 + 0.016, 0.2 + 0.003]], rtol=1e-14)
    np.testing.assert_allclose(e_r, [[0.2 + 0.0002, 0.0, 0.6 + 0.0008],
                                     [0.0, 0.0, 0.1 + 0.0003]], rtol=1e-14, atol=0)
    # rank omitted: dense
    e_w2, _e_a2, e_r2 = oracle.error_terms([[3, 4, 5]], [[2, 7, 8]], [[0.5, 1.0, 0.5]])
    assert np.all(e_r2 == 0.0)
    np.testing.assert_allclose(e_w2, [[3.02, 5.02, 7.04]], rtol=1e-14)


def test_estimates_are_the_link_of_the_weighted_sum():
    oracle = hand_oracle()
    wb, ab, fr, rk = [[3, 4, 5]], [[2, 7, 8]], [[0.5, 1.0, 0.5]], [[2, 0, 6]]
    # z = 0.5 (3.02 + 0.002 + 0.2002) + 0.25 (5.02 + 0.107 + 0) + 2 (7.04 + 0.208 + 0.6008)
    z = 0.5 * 3.2222 + 0.25 * 5.127 + 2 * 7.8488
    assert z == pytest.approx(1.6111 + 1.28175 + 15.6976, abs=1e-12)  # 18.59045
    want = 0.1 + 0.8 / (1 + z ** 2)
    assert oracle.score_batch(wb, ab, fr, rk)[0] == pytest.approx(z, rel=1e-13)
    assert oracle.estimate_batch(wb, ab, fr, rk)[0] == pytest.approx(want, rel=1e-13)
    fast = oracle.estimate_arrays(np.array(wb), np.array(ab), np.array(fr), np.array(rk))
    assert fast[0] == pytest.approx(want, rel=1e-13)
    design = Design(("a", "b", "c"), (3, 4, 5), (2, 7, 8), rank=(2, None, 6),
                    mapping={"lut_fraction": (0.5, 1.0, 0.5)})
    est = oracle.estimate(design)
    assert est.accuracy == pytest.approx(want, rel=1e-13)
    assert est.baseline == 0.9 and est.kind == "proxy"
    assert est.details["calibrated"] is False
    assert "regime" not in est.details and "assumptions" not in est.details
    layers = est.details["layers"]
    assert list(layers) == ["a", "b", "c"]
    assert layers["a"] == pytest.approx({"weight": 3.02, "act": 0.002, "rank": 0.2002,
                                         "contribution": 0.5 * 3.2222}, rel=1e-13)
    assert layers["c"] == pytest.approx({"weight": 7.04, "act": 0.208, "rank": 0.6008,
                                         "contribution": 2 * 7.8488}, rel=1e-13)
    assert layers["b"]["rank"] == 0.0
    # a design without ranks, fractions given separately (the DSP core's share): n_lut from
    # the given fractions: a 0.2 * 5 = 1, b 0, c 1.0 * 9 = 9
    plain = Design(("a", "b", "c"), (3, 4, 5), (2, 7, 8))
    est2 = oracle.estimate(plain, fractions=[0.2, 0.0, 1.0])
    z2 = 0.5 * (3.01 + 0.002) + 0.25 * (5.0 + 0.107) + 2 * (7.09 + 0.208)
    assert est2.accuracy == pytest.approx(0.1 + 0.8 / (1 + z2 ** 2), rel=1e-13)


def test_dense_designs_without_ranks_in_the_fast_path():
    oracle = hand_oracle(s=[1.0, 0.0, 0.0], steepness=1.0)
    # z = 3.02 + 0.002 (layer a only); dense
    one = oracle.estimate_arrays(np.array([[3, 4, 5]]), np.array([[2, 7, 8]]),
                                 np.array([[0.5, 1.0, 0.5]]), None)
    assert one[0] == pytest.approx(0.1 + 0.8 / (1 + 3.022), rel=1e-13)
    # a second shape (the cached zero ranks must follow the batch's shape)
    two = oracle.estimate_arrays(np.array([[3, 4, 5], [1, 1, 1]]), np.array([[2, 7, 8]] * 2),
                                 np.array([[0.5, 1.0, 0.5], [0.0, 0.0, 0.0]]), None)
    assert two[1] == pytest.approx(0.1 + 0.8 / (1 + 1.0 + 0.002), rel=1e-13)
    assert two[0] == one[0]
    again = oracle.estimate_arrays(np.array([[1, 1, 1]]), np.array([[2, 7, 8]]),
                                   np.array([[0.0, 0.0, 0.0]]), None)
    assert again[0] == two[1]


def test_ranks_past_the_full_rank_name_the_layer():
    oracle = hand_oracle()
    with pytest.raises(DesignError) as err:
        oracle.error_terms([[3, 4, 5]], [[2, 7, 8]], [[0.5, 1.0, 0.5]], [[4, 0, 6]])
    (problem,) = err.value.problems
    assert (problem.field, problem.value, problem.message) == ("a.rank", 4, "must be in [1, 3]")
    assert str(err.value).startswith("invalid design batch:")
    with pytest.raises(DesignError) as err:
        oracle.estimate_arrays(np.array([[3, 4, 5]]), np.array([[2, 7, 8]]),
                               np.array([[0.5, 1.0, 0.5]]), np.array([[3, 1, 7]]))
    (problem,) = err.value.problems
    assert (problem.field, problem.value, problem.message) == (
        "b.rank", 1, "this layer cannot be factorised")
    # the limit itself is allowed
    assert oracle.error_terms([[3, 4, 5]], [[2, 7, 8]], [[0.5, 1.0, 0.5]],
                              [[3, 0, 6]])[2][0, 0] == pytest.approx(0.3002)


def test_link_by_hand():
    oracle = hand_oracle(steepness=0.5, baseline=0.9, chance=0.1)
    # z = 4: 0.1 + 0.8 / (1 + 2) = 0.366667; z = 0: the baseline; z = 0.25: 0.1 + 0.8 / 1.5
    np.testing.assert_allclose(oracle._link(np.array([4.0, 0.0, 0.25])),
                               [0.1 + 0.8 / 3, 0.9, 0.1 + 0.8 / 1.5], rtol=1e-14)
    assert link(4.0, 0.5, 0.1, 0.8) == pytest.approx(0.1 + 0.8 / 3)


def test_uncompressed_design_predicts_the_baseline_and_clips():
    # all-zero tables: z = 0, accuracy = baseline
    zero = LayerErrors("z", np.zeros((MAX_BITS + 1, 3)), np.zeros(MAX_BITS + 1),
                       np.zeros((1, MAX_BITS + 1)))
    oracle = ProxyOracle([zero], [3.0], baseline=0.75, chance=0.0)
    assert oracle.estimate(Design(("z",), (4,), (4,)), fractions=[0.5]).accuracy == 0.75
    assert oracle.full_ranks.tolist() == [0]
    # chance == baseline == 1 is allowed; a huge z gives chance
    full = ProxyOracle([A], [1.0], baseline=1.0, chance=1.0)
    assert full.estimate(Design(("a",), (16,), (16,)), fractions=[1.0]).accuracy == 1.0
    # chance and baseline both 0: accuracy 0
    none = ProxyOracle([A], [1.0], baseline=0.0, chance=0.0)
    assert none.estimate(Design(("a",), (16,), (16,)), fractions=[1.0]).accuracy == 0.0


def test_properties():
    oracle = hand_oracle(kind="prior", workload=MIXED, assumptions={"x": 1.0})
    assert oracle.layer_names == ("a", "b", "c")
    assert oracle.baseline == 0.9 and oracle.chance == 0.1 and oracle.steepness == 2.0
    assert oracle.kind == "prior" and ProxyOracle.kind == "proxy"
    assert oracle.workload is MIXED
    assert oracle.assumptions == {"x": 1.0}
    ranks = oracle.full_ranks
    assert ranks.tolist() == [3, 0, 6]
    ranks[0] = 99
    assert oracle.full_ranks.tolist() == [3, 0, 6]
    assert isinstance(oracle.steepness, float)
    plain = hand_oracle(steepness=3)
    assert plain.workload is None and plain.assumptions == {} and plain.calibration is None
    assert isinstance(plain.steepness, float) and plain.steepness == 3.0
    assert oracle.sensitivities.dtype == np.float64
    # a prior's estimate carries the regime from its assumptions (None when not stated)
    est = oracle.estimate(Design(("a", "b", "c"), (8, 8, 8), (8, 8, 8)), fractions=[0, 0, 0])
    assert est.kind == "prior"
    assert est.details["regime"] is None and est.details["assumptions"] == {"x": 1.0}


def test_score_limit_by_hand():
    oracle = hand_oracle(steepness=2.0, baseline=0.9, chance=0.1)  # span 0.8
    # drop 0.4: q = 0.5, z = (0.5 / 0.5)^(1/2) = 1
    assert oracle.score_limit(0.4) == pytest.approx(1.0, rel=1e-14)
    # drop 0.16: q = 0.2, z = (0.25)^(1/2) = 0.5
    assert oracle.score_limit(0.16) == pytest.approx(0.5, rel=1e-14)
    assert oracle.score_limit(0.0) == 0.0
    assert oracle.score_limit(-0.1) == 0.0
    assert oracle.score_limit(0.8) == math.inf   # q = 1
    assert oracle.score_limit(0.9) == math.inf
    # q just below 1: large but finite, (0.999 / 0.001)^(1/2) = 31.607
    assert oracle.score_limit(0.8 * 0.999) == pytest.approx(math.sqrt(999.0), rel=1e-9)
    flat = hand_oracle(baseline=0.5, chance=0.5)  # span 0
    assert flat.score_limit(0.0) == math.inf
    assert flat.score_limit(0.1) == math.inf
    assert isinstance(oracle.score_limit(0.4), float)


# ------------------------------------------------------------------ constructor checks


def problems_of(**kw):
    with pytest.raises(DesignError) as err:
        ProxyOracle(**kw)
    assert str(err.value).startswith("invalid ProxyOracle:")
    return [(p.field, p.value, p.message) for p in err.value.problems]


def test_constructor_accepts_the_edges_of_its_domain():
    ProxyOracle([A, B, C], [0.0, 0.0, 0.0], baseline=1.0, chance=0.0, steepness=1e-9)
    ProxyOracle([A], [0.0], baseline=0.3, chance=0.3, steepness=7)
    two = LayerErrors("one-channel", np.zeros((MAX_BITS + 1, 2)), np.zeros(MAX_BITS + 1),
                      np.zeros((1, MAX_BITS + 1)))
    ProxyOracle([two], np.array([1.0]), baseline=0.5)


def test_constructor_reports_every_problem():
    assert problems_of(layers=[A, B], sensitivities=[1.0, -0.5], baseline=0.9) == [
        ("sensitivities", [1.0, -0.5], "need 2 finite values >= 0")]
    assert problems_of(layers=[A, B], sensitivities=[1.0], baseline=0.9) == [
        ("sensitivities", [1.0], "need 2 finite values >= 0")]
    assert problems_of(layers=[A], sensitivities=[math.nan], baseline=0.9)[0][0] == \
        "sensitivities"
    assert problems_of(layers=[A], sensitivities=[math.inf], baseline=0.9)[0][0] == \
        "sensitivities"
    assert problems_of(layers=[A], sensitivities=[[1.0]], baseline=0.9)[0][0] == "sensitivities"
    for k in (0, 0.0, -1.0, math.inf, "2", None):
        assert problems_of(layers=[A], sensitivities=[1.0], baseline=0.9, steepness=k) == [
            ("steepness", k, "must be a positive number")]
    for chance, baseline in ((0.5, 0.4), (-0.1, 0.5), (0.1, 1.01)):
        assert problems_of(layers=[A], sensitivities=[1.0], baseline=baseline,
                           chance=chance) == [
            ("baseline", (chance, baseline), "need 0 <= chance <= baseline <= 1")]
    assert problems_of(layers=[A], sensitivities=[1.0], baseline=0.9, kind="real") == [
        ("kind", "real", "must be 'proxy' or 'prior'")]
    assert problems_of(layers=[], sensitivities=[], baseline=0.9) == [
        ("layers", [], "need at least one layer")]
    # everything at once, in this order
    fields = [f for f, _, _ in problems_of(layers=[A], sensitivities=[-1.0], baseline=0.2,
                                           chance=0.5, steepness=0, kind="x")]
    assert fields == ["sensitivities", "steepness", "baseline", "kind"]


TABLE_MESSAGE = "need weight [17, channels + 1], act [17], rank [full_rank + 1, 17]"


@pytest.mark.parametrize("weight, act, rank", [
    ((17, 1), (17,), (1, 17)),       # no channel
    ((16, 3), (17,), (1, 17)),       # bit rows
    ((18, 3), (17,), (1, 17)),
    ((17, 3, 1), (17,), (1, 17)),    # not 2-D
    ((17,), (17,), (1, 17)),
    ((17, 3), (16,), (1, 17)),       # act
    ((17, 3), (17, 1), (1, 17)),
    ((17, 3), (17,), (0, 17)),       # no rank row
    ((17, 3), (17,), (1, 16)),       # rank columns
    ((17, 3), (17,), (17,)),         # rank not 2-D
    ((17, 3), (17,), (1, 17, 1)),
])
def test_constructor_checks_the_table_shapes(weight, act, rank):
    bad = LayerErrors("bad", np.zeros(weight), np.zeros(act), np.zeros(rank))
    assert problems_of(layers=[A, bad], sensitivities=[1.0, 1.0], baseline=0.9) == [
        ("bad.tables", (weight, act, rank), TABLE_MESSAGE)]


# ------------------------------------------------------------------ calibration


class TableOracle(AccuracyOracle):
    """A stand-in for the real oracle: a ProxyOracle with known sensitivities and steepness,
    counting its evaluations."""

    kind = "real"

    def __init__(self, truth: ProxyOracle, names=None) -> None:
        self.truth = truth
        self.names = tuple(names or truth.layer_names)
        self.evaluations = 0

    @property
    def layer_names(self):
        return self.names

    @property
    def baseline(self):
        return self.truth.baseline

    def estimate(self, design, *, fractions=None):
        self.evaluations += 1
        return self.truth.estimate(design, fractions=fractions)


def small_layers():
    """Two layers with small error tables, so that designs span the whole link."""
    out = []
    for name, scale in (("p", 1.0), ("q", 0.5), ("r", 2.0)):
        weight = np.array([[scale * 2.0 ** (-b) * (0.5 + n / 8) for n in range(5)]
                           for b in range(MAX_BITS + 1)])
        act = np.array([scale * 3.0 ** (-a) for a in range(MAX_BITS + 1)])
        rank = np.array([[0.0 if r == 0 else 0.3 / r + 0.01 * (a == 0) for a in
                          range(MAX_BITS + 1)] for r in range(4)])
        out.append(LayerErrors(name, weight, act, rank))
    return out


def test_calibration_designs_by_hand():
    oracle = ProxyOracle(small_layers(), [1.0, 1.0, 1.0], baseline=0.9, chance=0.1)
    with pytest.raises(ValueError, match="calibration needs a budget of at least 4 designs, got 3"):
        oracle.calibration_designs(3)
    # budget 8: min(3 layers, 8 // 4 = 2) groups: array_split([0, 1, 2], 2) = [0, 1], [2]
    designs = oracle.calibration_designs(8, seed=4)
    assert len(designs) == 8
    first, second = designs[0], designs[1]
    assert first.weight_bits == (2, 2, 8) and first.act_bits == (2, 2, 8)
    assert first.mapping_values("lut_fraction") == (1.0, 1.0, 0.0)
    assert second.weight_bits == (8, 8, 2) and second.act_bits == (8, 8, 2)
    assert second.mapping_values("lut_fraction") == (0.0, 0.0, 1.0)
    assert all(r in (None, 0) for r in (first.rank or ()))
    # the joint designs are random_batch's, on the seed stream [seed, 1]
    from rl_search.accuracy.sampling import random_batch
    joint = random_batch(3, 6, seed=np.random.default_rng([4, 1]), full_ranks=[3, 3, 3])
    for i, d in enumerate(designs[2:]):
        assert list(d.weight_bits) == joint["weight_bits"][i].tolist()
        assert list(d.act_bits) == joint["act_bits"][i].tolist()
        assert list(d.mapping_values("lut_fraction")) == pytest.approx(
            joint["lut_fraction"][i].tolist())
    # budget 4: one group, every layer excited together; budget 12: one group per layer
    assert oracle.calibration_designs(4)[0].weight_bits == (2, 2, 2)
    assert [d.weight_bits for d in oracle.calibration_designs(12)[:3]] == [
        (2, 8, 8), (8, 2, 8), (8, 8, 2)]
    assert len(oracle.calibration_designs(4)) == 4
    # sampling ranges reach random_batch
    narrow = oracle.calibration_designs(6, weight_bits=(5, 5), act_bits=(6, 6))
    assert all(d.weight_bits == (5, 5, 5) and d.act_bits == (6, 6, 6) for d in narrow[1:])


def test_calibration_recovers_known_sensitivities_and_steepness():
    layers = small_layers()
    truth = ProxyOracle(layers, [0.8, 3.0, 0.2], baseline=0.9, chance=0.1, steepness=1.7)
    real = TableOracle(truth)
    start = ProxyOracle(layers, [1.0, 1.0, 1.0], baseline=0.9, chance=0.1, steepness=1.0,
                        workload=MIXED, assumptions={"note": 1.0})
    fitted = start.calibrate(real, budget=24, seed=3, ridge=0.0)
    assert real.evaluations == 24
    cal = fitted.calibration
    assert len(cal.designs) == 24
    np.testing.assert_allclose(fitted.sensitivities, [0.8, 3.0, 0.2], rtol=1e-3)
    assert fitted.steepness == pytest.approx(1.7, rel=1e-3)
    assert cal.steepness == fitted.steepness
    np.testing.assert_array_equal(cal.sensitivities, fitted.sensitivities)
    want = np.array([truth.estimate(d).accuracy for d in cal.designs])
    np.testing.assert_allclose(cal.real, want, rtol=1e-14)
    np.testing.assert_allclose(cal.predicted, want, atol=1e-4)
    assert cal.rms_error < 1e-4
    assert cal.rms_error == pytest.approx(
        math.sqrt(sum((p - r) ** 2 for p, r in zip(cal.predicted, cal.real, strict=True)) / 24),
        rel=1e-12)
    assert cal.spearman == pytest.approx(1.0, abs=1e-9)
    assert fitted.kind == "proxy" and fitted.workload is MIXED
    assert fitted.assumptions == {"note": 1.0}
    assert fitted.baseline == 0.9 and fitted.chance == 0.1
    # predicted accuracy of the fitted proxy is the truth's on fresh designs too
    fresh = start.calibration_designs(8, seed=11)
    for d in fresh:
        assert fitted.estimate(d).accuracy == pytest.approx(truth.estimate(d).accuracy,
                                                            abs=1e-3)


def test_calibration_with_the_ridge_and_given_designs():
    layers = small_layers()
    truth = ProxyOracle(layers, [1.0, 1.0, 1.0], baseline=0.8, chance=0.0, steepness=2.5,
                        kind="prior")
    real = TableOracle(truth)
    start = ProxyOracle(layers, [0.1, 0.1, 0.1], baseline=0.8, chance=0.0, kind="prior")
    designs = start.calibration_designs(16, seed=5)
    fitted = start.calibrate(real, budget=16, designs=designs)  # default ridge 0.01
    assert fitted.kind == "prior"
    assert fitted.calibration.designs == tuple(designs)
    # the truth is a pooled sensitivity: the ridge's pull is towards it
    np.testing.assert_allclose(fitted.sensitivities, [1.0, 1.0, 1.0], rtol=1e-3)
    assert fitted.steepness == pytest.approx(2.5, rel=1e-3)
    # two designs: too few for a rank correlation
    two = start.calibrate(real, budget=2, designs=designs[:2])
    assert math.isnan(two.calibration.spearman)
    assert len(two.calibration.designs) == 2


def test_calibration_rejects_a_foreign_oracle_and_an_overrun():
    layers = small_layers()
    start = ProxyOracle(layers, [0.1, 0.1, 0.1], baseline=0.8)
    with pytest.raises(DesignError) as err:
        start.calibrate(TableOracle(start, names=("p", "q", "x")), budget=8)
    (problem,) = err.value.problems
    assert (problem.field, problem.value, problem.message) == (
        "layer_names", ["p", "q", "x"], "the proxy has ['p', 'q', 'r']")
    assert str(err.value).startswith("invalid calibration:")
    designs = start.calibration_designs(8)
    with pytest.raises(ValueError, match="8 calibration designs exceed the budget of 7"):
        start.calibrate(TableOracle(start), budget=7, designs=designs)


def test_calibration_of_designs_at_chance_level():
    """Designs near chance make the log fit clip at 1e-3 and the accuracy-space fit decide."""
    layers = small_layers()
    truth = ProxyOracle(layers, [5.0, 20.0, 2.0], baseline=0.9, chance=0.1, steepness=3.0)
    start = ProxyOracle(layers, [1.0, 1.0, 1.0], baseline=0.9, chance=0.1)
    fitted = start.calibrate(TableOracle(truth), budget=24, seed=1, ridge=0.0,
                             weight_bits=(1, 4), act_bits=(1, 4))
    assert fitted.steepness == pytest.approx(3.0, rel=1e-2)
    assert fitted.calibration.rms_error < 1e-3


# ------------------------------------------------------------------ construction from a model


def test_from_model_and_from_real_without_torch(monkeypatch):
    """The uncalibrated proxy: s = 0.1 per layer, 0.2 for the first and last; chance clipped
    to the baseline. The compressor and the table measurement are stand-ins here."""
    layers = small_layers()
    seen = {}

    class FakeCompressor:
        def __init__(self, model, calib_batch, *, example_input=None, skip_unsupported=False):
            seen["args"] = (model, calib_batch, example_input, skip_unsupported)
            self.workload = MIXED

    def model_tables(compressor):
        seen["tables_of"] = compressor
        return layers

    class Threads:
        def __init__(self, n):
            seen["threads"] = n

        def __enter__(self):
            seen["inside"] = True

        def __exit__(self, *exc):
            seen["inside"] = False

    monkeypatch.setitem(sys.modules, "rl_search.accuracy.compress",
                        types.SimpleNamespace(Compressor=FakeCompressor))
    monkeypatch.setitem(sys.modules, "rl_search.accuracy._tables",
                        types.SimpleNamespace(model_tables=model_tables))
    monkeypatch.setitem(sys.modules, "rl_search.accuracy._threads",
                        types.SimpleNamespace(torch_threads=Threads))

    proxy = ProxyOracle.from_model("model", "batch", baseline=0.7, chance=0.2,
                                   example_input="x", skip_unsupported=True)
    assert seen["args"] == ("model", "batch", "x", True)
    assert proxy.sensitivities.tolist() == [0.2, 0.1, 0.2]
    assert proxy.baseline == 0.7 and proxy.chance == 0.2 and proxy.workload is MIXED
    assert proxy.kind == "proxy" and proxy.layers == tuple(layers)
    default = ProxyOracle.from_model("m", "b", baseline=0.6)
    assert seen["args"] == ("m", "b", None, False)
    assert default.chance == 0.0
    # chance above the baseline is clipped to it
    assert ProxyOracle.from_model("m", "b", baseline=0.6, chance=0.9).chance == 0.6

    truth = ProxyOracle(layers, [0.5, 1.5, 0.3], baseline=0.9, chance=0.1, steepness=1.3)

    class FakeReal(TableOracle):
        threads = 3
        compressor = FakeCompressor("m", "b")
        chance = 0.1

    real = FakeReal(truth)
    uncalibrated = ProxyOracle.from_real(real)
    assert seen["threads"] == 3 and seen["tables_of"] is FakeReal.compressor
    assert uncalibrated.sensitivities.tolist() == [0.2, 0.1, 0.2]
    assert uncalibrated.baseline == 0.9 and uncalibrated.chance == 0.1
    assert uncalibrated.calibration is None
    fitted = ProxyOracle.fit(real, budget=12, seed=2, weight_bits=(2, 6), ridge=0.0)
    assert real.evaluations == 12
    assert len(fitted.calibration.designs) == 12
    assert fitted.calibration.designs == tuple(uncalibrated.calibration_designs(
        12, 2, weight_bits=(2, 6)))
    np.testing.assert_allclose(fitted.sensitivities, [0.5, 1.5, 0.3], rtol=1e-2)


# ------------------------------------------------------------------ the fit, against a reference


def reference_fit(e, acc, chance, span, ridge, s_start, k_start):
    """The module docstring's accuracy-space fit, written out with scipy's least_squares at
    tight tolerances: the pooled sensitivity c (one s for every layer, and k) minimises
    sum(((chance + span / (1 + (c sum_l e_l)^k) - acc) / span)^2); then s and k minimise the
    same residuals of z = sum_l s_l e_l plus ridge * sum_l ((s_l - c) / c)^2, with s >= 0 and
    0.2 <= k <= 10."""
    from scipy.optimize import least_squares

    tight = {"xtol": 1e-15, "ftol": 1e-15, "gtol": 1e-15}
    total = e.sum(axis=1)

    def pooled_residual(p):
        return (chance + span / (1 + (total * p[0]) ** p[1]) - acc) / span

    c = min((least_squares(pooled_residual, [s0, k0], bounds=([0, 0.2], [np.inf, 10]), **tight)
             for s0 in (0.1, 1.0, 10.0) for k0 in (0.5, 1.5, 4.0)), key=lambda r: r.cost).x[0]
    n = e.shape[1]

    def residual(p):
        fit = (chance + span / (1 + (e @ p[:n]) ** p[n]) - acc) / span
        return np.r_[fit, math.sqrt(ridge) * (p[:n] - c) / c]

    best = least_squares(residual, np.r_[s_start, k_start],
                         bounds=(np.r_[np.zeros(n), 0.2], np.r_[np.full(n, np.inf), 10]), **tight)
    return best.x[:n], best.x[n]


def joint_reference(n_layers, count, seed, full_ranks, **sampling):
    from rl_search.accuracy.sampling import random_batch
    return random_batch(n_layers, count, seed=np.random.default_rng([seed, 1]),
                        full_ranks=full_ranks, **sampling)


def check_joint(designs, joint):
    for i, d in enumerate(designs):
        assert list(d.weight_bits) == joint["weight_bits"][i].tolist()
        assert list(d.act_bits) == joint["act_bits"][i].tolist()
        assert list(d.mapping_values("lut_fraction")) == joint["lut_fraction"][i].tolist()
        assert [r or 0 for r in (d.rank or (0,) * len(d.weight_bits))] == \
            joint["rank"][i].tolist()


def test_default_calibration_is_the_ridge_fit_on_20_designs():
    """Defaults: budget 20, seed 0, ridge 0.01. Three layers: min(3, 20 // 4) = 3 single-layer
    designs, then 17 joint designs on the seed stream [0, 1]."""
    layers = small_layers()
    truth = ProxyOracle(layers, [2.0, 1.0, 0.5], baseline=0.9, chance=0.1, steepness=2.0)
    real = TableOracle(truth)
    start = ProxyOracle(layers, [1.0, 1.0, 1.0], baseline=0.9, chance=0.1)
    fitted = start.calibrate(real)
    assert real.evaluations == 20
    designs = fitted.calibration.designs
    assert [d.weight_bits for d in designs[:3]] == [(2, 8, 8), (8, 2, 8), (8, 8, 2)]
    check_joint(designs[3:], joint_reference(3, 17, 0, [3, 3, 3]))
    defaults = start.calibration_designs()
    assert len(defaults) == 20
    check_joint(defaults[3:], joint_reference(3, 17, 0, [3, 3, 3]))
    # the ridge fit, by the reference (started at the truth)
    e = np.array([[(la.weight[d.weight_bits[i], round(4 * d.mapping_values("lut_fraction")[i])]
                    + la.act[d.act_bits[i]]
                    + la.rank[(d.rank or (0, 0, 0))[i] or 0, d.act_bits[i]])
                   for i, la in enumerate(layers)] for d in designs])
    acc = np.array([truth.estimate(d).accuracy for d in designs])
    s_ref, k_ref = reference_fit(e, acc, 0.1, 0.8, 0.01, [2.0, 1.0, 0.5], 2.0)
    np.testing.assert_allclose(fitted.sensitivities, s_ref, rtol=1e-4)
    assert fitted.steepness == pytest.approx(k_ref, rel=1e-4)
    # the pull is visible: the truth (2, 1, 0.5) is not the answer
    assert abs(fitted.sensitivities[0] - 2.0) > 0.02
    # an imperfect fit: its rms error is that of predicted - real
    cal = fitted.calibration
    assert cal.rms_error == pytest.approx(
        math.sqrt(sum((p - r) ** 2 for p, r in zip(cal.predicted, cal.real, strict=True)) / 20),
        rel=1e-12)
    assert cal.rms_error > 1e-3
    np.testing.assert_allclose(
        cal.predicted, [link(z, k_ref, 0.1, 0.8) for z in e @ s_ref], atol=1e-5)
    # three designs are enough for a rank correlation
    three = start.calibrate(real, budget=3, designs=designs[:3], ridge=0.0)
    assert not math.isnan(three.calibration.spearman)


def test_ridge_above_zero_but_below_one_is_applied():
    layers = small_layers()
    truth = ProxyOracle(layers, [2.0, 1.0, 0.5], baseline=0.9, chance=0.1, steepness=2.0)
    start = ProxyOracle(layers, [1.0, 1.0, 1.0], baseline=0.9, chance=0.1)
    loose = start.calibrate(TableOracle(truth), budget=20, ridge=0.5)
    free = start.calibrate(TableOracle(truth), budget=20, ridge=0.0)
    # no ridge: the truth exactly; a ridge of 0.5 pulls the spread sensitivities together
    np.testing.assert_allclose(free.sensitivities, [2.0, 1.0, 0.5], rtol=1e-4)
    assert np.ptp(loose.sensitivities) < 0.9 * 1.5


def test_fit_respects_the_steepness_bounds():
    layers = small_layers()
    start = ProxyOracle(layers, [1.0, 1.0, 1.0], baseline=0.9, chance=0.1)
    steep = ProxyOracle(layers, [2.0, 1.0, 0.5], baseline=0.9, chance=0.1, steepness=25.0)
    assert start.calibrate(TableOracle(steep), budget=20, ridge=0.0).steepness == \
        pytest.approx(10.0, abs=1e-6)
    flat = ProxyOracle(layers, [2.0, 1.0, 0.5], baseline=0.9, chance=0.1, steepness=0.05)
    assert start.calibrate(TableOracle(flat), budget=20, ridge=0.0).steepness == \
        pytest.approx(0.2, abs=1e-6)


class SignedOracle(TableOracle):
    """Accuracy from signed sensitivities (a layer whose noise seems to help)."""

    def __init__(self, proxy: ProxyOracle, s, k) -> None:
        super().__init__(proxy)
        self.s, self.k = np.array(s), k

    def estimate(self, design, *, fractions=None):
        self.evaluations += 1
        e = self.truth.estimate(design).details["layers"]
        z = sum(si * (v["weight"] + v["act"] + v["rank"])
                for si, v in zip(self.s, e.values(), strict=True))
        from rl_search.accuracy.base import AccuracyEstimate
        return AccuracyEstimate(link(z, self.k, 0.1, 0.8), 0.9, "real", {})


def test_fit_keeps_sensitivities_non_negative():
    layers = small_layers()
    start = ProxyOracle(layers, [1.0, 1.0, 1.0], baseline=0.9, chance=0.1)
    fitted = start.calibrate(SignedOracle(start, [2.0, -0.3, 0.5], 2.0), budget=20, ridge=0.0)
    assert np.all(fitted.sensitivities >= 0.0)
    assert fitted.sensitivities[1] == pytest.approx(0.0, abs=1e-6)


def test_fit_of_designs_that_lose_nothing():
    """Every design at the baseline: the log target is 0 everywhere, so the first guess is all
    zeros; the fit must still run and predict the baseline."""
    layers = small_layers()
    start = ProxyOracle(layers, [1.0, 1.0, 1.0], baseline=0.9, chance=0.1)
    lossless = ProxyOracle(layers, [0.0, 0.0, 0.0], baseline=0.9, chance=0.1)
    fitted = start.calibrate(TableOracle(lossless), budget=12, ridge=0.0)
    # (any s whose z stays below 1 with k at its upper bound predicts the baseline)
    np.testing.assert_allclose(fitted.calibration.predicted, 0.9, atol=1e-4)


def test_default_fit_from_a_real_oracle(monkeypatch):
    layers = small_layers()
    monkeypatch.setitem(sys.modules, "rl_search.accuracy._tables",
                        types.SimpleNamespace(model_tables=lambda compressor: layers))
    monkeypatch.setitem(sys.modules, "rl_search.accuracy._threads",
                        types.SimpleNamespace(torch_threads=lambda n: __import__(
                            "contextlib").nullcontext()))
    truth = ProxyOracle(layers, [2.0, 1.0, 0.5], baseline=0.9, chance=0.1, steepness=2.0)

    class FakeReal(TableOracle):
        threads = 1
        compressor = types.SimpleNamespace(workload=MIXED)
        chance = 0.1

    real = FakeReal(truth)
    fitted = ProxyOracle.fit(real)
    assert real.evaluations == 20
    check_joint(fitted.calibration.designs[3:], joint_reference(3, 17, 0, [3, 3, 3]))


def test_estimate_names_the_oracle_in_layer_errors():
    with pytest.raises(DesignError, match="the proxy oracle has 3 layers"):
        hand_oracle().estimate(Design(("a", "b"), (4, 4), (4, 4)), fractions=[0, 0])
    with pytest.raises(DesignError, match="the prior oracle has 'b'"):
        hand_oracle(kind="prior").estimate(Design(("a", "x", "c"), (4, 4, 4), (4, 4, 4)),
                                           fractions=[0, 0, 0])


def test_prior_accepts_any_positive_float_top1():
    assert ProxyOracle.prior(MIXED, parameters=PARAMS, float_top1=0.5).baseline == 0.005


def test_dense_fast_path_after_a_smaller_batch():
    oracle = hand_oracle()
    rng = np.random.default_rng(7)
    oracle.estimate_arrays(np.array([[3, 4, 5]]), np.array([[2, 7, 8]]),
                           np.array([[0.5, 1.0, 0.5]]), None)
    wb = rng.integers(1, 17, size=(3000, 3))
    ab = rng.integers(1, 17, size=(3000, 3))
    fr = rng.random((3000, 3))
    fast = oracle.estimate_arrays(wb, ab, fr, None)
    # by hand-table arithmetic: e_w = base + b + n_lut / 100, e_a = base / 10 + a / 1000
    channels, base, s = [5, 2, 9], [0.0, 1.0, 2.0], [0.5, 0.25, 2.0]
    z = sum(s[i] * (base[i] + wb[:, i] + np.minimum(np.rint(fr[:, i] * channels[i]),
                                                     channels[i]) / 100
                    + base[i] / 10 + ab[:, i] / 1000) for i in range(3))
    np.testing.assert_allclose(fast, 0.1 + 0.8 / (1 + z ** 2), rtol=1e-12)


def test_depthwise_needs_more_than_one_group():
    from hwsim.ir.layers import Tucker2Conv

    wl = Workload("roles", (
        Conv2d("one-in", 1, 4, 6, 6, 3, 3),                 # groups 1 == in_channels 1: dense
        Tucker2Conv("t2", 1, 4, 6, 6, 3, 3, 1, 2),           # no groups attribute: dense
        Conv2d("dw2", 2, 2, 6, 6, 3, 3, groups=2),           # 2 groups of 1 channel: depthwise
        Linear("fc", 4, 2),
    ))
    assert layer_roles(wl)[1].tolist() == [False, False, True, False]


def test_constructor_defaults_and_float_sensitivities():
    oracle = ProxyOracle([A, B, C], [1, 0, 2], baseline=0.9)
    # documented defaults: chance 0, steepness 1, kind "proxy"
    assert oracle.steepness == 1.0 and oracle.chance == 0.0 and oracle.kind == "proxy"
    assert oracle.sensitivities.dtype == np.float64
    assert oracle.sensitivities.tolist() == [1.0, 0.0, 2.0]
    # k = 1: z = 1 (3.02 + 0.002) + 2 (7.04 + 0.208) = 17.518; 0.9 / (1 + 17.518)
    acc = oracle.estimate_batch([[3, 4, 5]], [[2, 7, 8]], [[0.5, 1.0, 0.5]])[0]
    assert acc == pytest.approx(0.9 / 18.518, rel=1e-12)
