"""ProxyOracle: calibration against the real oracle (Spearman), the vectorised batch, the tables,
the weight-free prior, and the import layering."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from cost_models.design import Design, DesignError, uniform_design
from hwsim.ir import Workload, zoo
from hwsim.ir.layers import Conv2d, Linear
from rl_search.accuracy import ProxyOracle, RealOracle, random_batch, random_designs
from rl_search.accuracy.compress import layer_full_ranks


@pytest.fixture(scope="module")
def proxy(cnn_real: RealOracle) -> ProxyOracle:
    return ProxyOracle.fit(cnn_real, budget=20, seed=0)


@pytest.mark.slow
def test_calibrated_proxy_ranks_held_out_designs_like_the_real_oracle(cnn_task):
    real = RealOracle(cnn_task.model, cnn_task.val_loader, cnn_task.calib_batch)
    proxy = ProxyOracle.fit(real, budget=20, seed=0)
    calibration_runs = real.evaluations
    assert len(proxy.calibration.designs) <= 20 and calibration_runs <= 20
    held_out = random_designs(
        real.layer_names, 100, seed=2024, full_ranks=layer_full_ranks(real.workload)
    )
    measured = np.array([real.estimate(d).accuracy for d in held_out])
    predicted = np.array([proxy.estimate(d).accuracy for d in held_out])
    rho = spearmanr(measured, predicted).statistic
    print(
        f"\nproxy vs real oracle on the digits CNN: Spearman {rho:.3f} over {len(held_out)} "
        f"held-out designs (real accuracies {measured.min():.3f}..{measured.max():.3f}); "
        f"calibrated on {calibration_runs} real evaluations, in-sample Spearman "
        f"{proxy.calibration.spearman:.3f}, sensitivities {np.round(proxy.sensitivities, 2)}, "
        f"k {proxy.steepness:.2f}"
    )
    assert rho >= 0.8
    assert np.ptp(measured) > 0.5  # the held-out designs span a real range of accuracy


def test_batch_equals_single_estimates(proxy):
    n = len(proxy.layer_names)
    arrays = random_batch(n, 200, seed=5, full_ranks=proxy.full_ranks)
    batch = proxy.estimate_batch(
        arrays["weight_bits"], arrays["act_bits"], arrays["lut_fraction"], arrays["rank"]
    )
    designs = random_designs(proxy.layer_names, 200, seed=5, full_ranks=proxy.full_ranks)
    single = np.array([proxy.estimate(d).accuracy for d in designs])
    assert np.allclose(batch, single, atol=1e-12)
    assert np.all((batch >= proxy.chance - 1e-12) & (batch <= proxy.baseline + 1e-12))
    estimate = proxy.estimate(designs[0])
    assert estimate.kind == "proxy" and estimate.details["calibrated"]
    assert set(estimate.details["layers"]) == set(proxy.layer_names)


def test_uncompressed_design_predicts_the_baseline(proxy):
    n = len(proxy.layer_names)
    design = Design(proxy.layer_names, (16,) * n, (16,) * n, mapping={"lut_fraction": (0.0,) * n})
    assert proxy.estimate(design).accuracy == pytest.approx(proxy.baseline, abs=1e-3)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_more_noise_never_predicts_more_accuracy(proxy, data):
    n = len(proxy.layer_names)
    layer = data.draw(st.integers(0, n - 1))
    wb = data.draw(st.lists(st.integers(2, 8), min_size=n, max_size=n))
    ab = data.draw(st.lists(st.integers(2, 8), min_size=n, max_size=n))
    fr = data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    wb[layer] = data.draw(st.integers(2, 6))
    base = proxy.estimate_batch([wb], [ab], [fr])[0]
    # every channel at 8 bits on the DSP core is the least noisy split of a layer at low bits
    # (not exactly at 7: the 7- and 8-bit grids are not nested, so a few channels can fare
    # better at 7, which the proxy faithfully reports)
    safer_fr = list(fr)
    safer_fr[layer] = 0.0
    assert proxy.estimate_batch([wb], [ab], [safer_fr])[0] >= base - 1e-9
    e_w, e_a, _ = proxy.error_terms([wb], [ab], [fr])
    assert np.all(e_w >= 0) and np.all(e_a >= 0)


def test_error_terms_grow_as_knobs_shrink(proxy):
    """Every layer's weight noise (all channels on the LUT core) and activation noise at
    hand-chosen bit ladders 8 > 6 > 4 > 3 > 2, its weight noise at 2 bits as more channels move
    to the LUT core (0, 1/4, 1/2, 1), and its low-rank error as the rank falls (full, half,
    one), each design differing from the previous in that knob alone."""
    n = len(proxy.layer_names)
    full = proxy.full_ranks
    ladder = (8, 6, 4, 3, 2)
    e_w = proxy.error_terms([[b] * n for b in ladder], [[8] * n] * 5, [[1.0] * n] * 5)[0]
    e_a = proxy.error_terms([[8] * n] * 5, [[b] * n for b in ladder], [[0.0] * n] * 5)[1]
    assert np.all(np.diff(e_w, axis=0) > 0), e_w
    assert np.all(np.diff(e_a, axis=0) > 0), e_a
    shares = (0.0, 0.25, 0.5, 1.0)
    e_split = proxy.error_terms([[2] * n] * 4, [[8] * n] * 4, [[f] * n for f in shares])[0]
    assert np.all(np.diff(e_split, axis=0) >= -1e-12) and np.all(e_split[-1] > e_split[0])
    factorised = full > 0
    assert factorised.any()
    ranks = [full, np.where(factorised, np.maximum(full // 2, 1), 0),
             np.where(factorised, 1, 0)]
    e_r = proxy.error_terms([[8] * n] * 3, [[8] * n] * 3, [[0.0] * n] * 3, ranks)[2]
    assert np.all(np.diff(e_r[:, factorised], axis=0) > 0), e_r


def test_tables_follow_the_weights(proxy):
    for layer in proxy.layers:
        assert layer.weight[8, 0] == pytest.approx(layer.weight[3, 0])  # n_L = 0: all 8-bit
        assert np.all(np.diff(layer.weight[2]) >= -1e-12)  # more 2-bit channels, more noise
        assert layer.weight[2, -1] > layer.weight[4, -1] > layer.weight[8, -1]
        assert layer.act[2] > layer.act[4] > layer.act[8]
        assert layer.rank[0].max() == 0.0
        assert layer.rank[1, 0] > layer.rank[layer.full_rank // 2, 0] >= -1e-6
    conv1 = proxy.layers[0]
    assert conv1.rank[conv1.full_rank, 0] == pytest.approx(0.0, abs=1e-6)  # Tucker-2 exact


def test_bad_batches_name_the_layer(proxy):
    n = len(proxy.layer_names)
    ones = np.ones((1, n), dtype=int)
    with pytest.raises(DesignError, match=r"fc1\.rank.*\[1, 64\]"):
        proxy.estimate_batch(4 * ones, 4 * ones, 0.5 * ones, [[0, 0, 0, 65, 0]])
    with pytest.raises(DesignError, match=r"conv1\.lut_fraction"):
        proxy.estimate_batch(4 * ones, 4 * ones, np.full((1, n), np.nan))
    with pytest.raises(DesignError, match=r"conv2\.act_bits"):
        proxy.estimate_batch(4 * ones, [[4, 17, 4, 4, 4]], 0.5 * ones)
    with pytest.raises(DesignError, match=r"shape \[n_designs, 5\]"):
        proxy.estimate_batch(np.ones((1, 4)), np.ones((1, 4)), np.ones((1, 4)))
    with pytest.raises(DesignError, match="unknown layer"):
        proxy.estimate(Design(("a",) * n, (4,) * n, (4,) * n, mapping={"lut_fraction": (0.5,) * n}))
    with pytest.raises(DesignError, match="solve_mapping"):
        proxy.estimate(
            Design(proxy.layer_names, (4,) * n, (4,) * n, mapping={"lut_fraction": (None,) * n})
        )


def test_calibration_rejects_a_foreign_oracle_and_a_budget_overrun(proxy, cnn_real, lstm_task):
    other = RealOracle(lstm_task.model, lstm_task.val_loader, lstm_task.calib_batch)
    with pytest.raises(DesignError, match="layer_names"):
        proxy.calibrate(other)
    with pytest.raises(ValueError, match="budget"):
        proxy.calibration_designs(budget=2)
    designs = proxy.calibration_designs(20, seed=0)
    with pytest.raises(ValueError, match="exceed the budget of 10"):
        proxy.calibrate(cnn_real, budget=10, designs=designs)
    assert len(designs) == 20
    singles = designs[:5]
    for i, d in enumerate(singles):
        assert d.weight_bits[i] == 2 and sum(b == 2 for b in d.weight_bits) == 1


def test_prior_labels_every_estimate_and_states_its_assumptions():
    workload = zoo.get("resnet18")
    prior = ProxyOracle.prior(workload)
    estimates = [
        prior.estimate(uniform_design(workload, b, b, mapping={"lut_fraction": 1.0}))
        for b in (8, 6, 4, 3, 2)
    ]
    assert all(e.kind == "prior" for e in estimates)
    assert all(e.details["regime"] == "qat" for e in estimates)
    # top-1 as a fraction: torchvision's ResNet-18 minus the points lost
    assert all(e.baseline == pytest.approx(0.69758) for e in estimates)
    accs = [e.accuracy for e in estimates]
    assert accs == sorted(accs, reverse=True) and accs[0] > 0.69
    assert estimates[0].details["assumptions"]["spectrum_exponent"] == 0.5
    assert estimates[0].details["assumptions"]["float_top1_known"] is True
    ptq = ProxyOracle.prior(workload, regime="ptq")
    w4 = uniform_design(workload, 4, 4, mapping={"lut_fraction": 1.0})
    assert ptq.estimate(w4).accuracy < prior.estimate(w4).accuracy  # no training, more loss
    scaled = ProxyOracle.prior(workload, float_top1=75.0)
    assert scaled.estimate(w4).baseline == 0.75
    tiny = Workload("tiny-prior", (Conv2d("c1", 3, 8, 8, 8, 3, 3, padding=1),
                                   Linear("fc", 512, 10)))
    unknown = ProxyOracle.prior(tiny)
    assert unknown.baseline == 1.0 and unknown.assumptions["float_top1_known"] is False
    with pytest.raises(DesignError, match="unknown"):
        ProxyOracle.prior(workload, sensitivity=3.0)
    with pytest.raises(DesignError, match="regime"):
        ProxyOracle.prior(workload, regime="int8")


@pytest.mark.parametrize(
    "name", ["resnet18", "mobilenetv2", "deit-s", "lstm-ucf", "qwen1.5-moe-a2.7b"]
)
def test_prior_covers_zoo_workloads_and_is_monotone(name):
    workload = zoo.get(name)
    prior = ProxyOracle.prior(workload)
    n = len(workload.layers)
    bits = np.arange(2, 9)
    ones = np.ones((len(bits), n), dtype=int)
    acc = prior.estimate_batch(bits[:, None] * ones, 8 * ones, 1.0 * ones)
    assert np.all(np.diff(acc) >= -1e-12)  # more weight bits, never less accuracy
    full = prior.full_ranks
    if full.max():
        ranks = np.stack(
            [np.where(full > 0, np.maximum(1, (full * q).astype(int)), 0) for q in (0.25, 0.5, 1.0)]
        )
        acc_r = prior.estimate_batch(8 * ones[:3], 8 * ones[:3], ones[:3] * 0.0, ranks)
        assert np.all(np.diff(acc_r) >= -1e-12)


def test_accuracy_package_imports_no_torch():
    code = (
        "import sys, rl_search.accuracy as A; from hwsim.ir import zoo; "
        "p = A.ProxyOracle.prior(zoo.get('resnet18')); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_unchecked_batch_path_is_bitwise_the_checked_one():
    """``estimate_arrays`` (the search inner loop's path, one numba pass) equals
    ``estimate_batch`` bit for bit, with and without ranks."""
    from rl_search.factory import make_problem

    for space in ("haq+rank", "n3h"):
        problem = make_problem("resnet20", "n3h-zcu102", space)
        X = problem.space.random(np.random.default_rng(0), 300)
        batch = problem.space.decode_batch(X)
        cost = problem.target.evaluate_batch(problem.space.workload, batch)
        checked = problem.oracle.estimate_batch(batch.weight_bits, batch.act_bits,
                                                cost.precision_share, batch.rank)
        fast = problem.oracle.estimate_arrays(batch.weight_bits, batch.act_bits,
                                              cost.precision_share, batch.rank)
        assert np.array_equal(checked, fast)
