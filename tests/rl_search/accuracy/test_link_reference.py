"""The proxy's log-logistic link and its inverse against hand-derived values (issue 16).

docs/formulas.md: ``accuracy = chance + span / (1 + z^k)`` and, for a drop budget ``D`` with
``q = D / span``, ``z <= (q / (1 - q))^(1/k)``. With ``k != 1`` (the calibrated priors have
``k`` 1.84 and 1.14) ``1 + z^k`` and ``(1 + z)^k`` differ everywhere but at ``z = 0``, so every
point below tells the two apart. The expected values are worked out by hand in the comments or
come from a plain transcription of the documented formula, never from the link itself.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from cost_models import get_target
from hwsim.ir import Workload
from hwsim.ir.layers import Conv2d, Linear
from rl_search.accuracy.layer_errors import MAX_BITS, LayerErrors
from rl_search.accuracy.proxy import ProxyOracle
from rl_search.accuracy.published import load_parameters
from rl_search.problem import Objective, Problem
from rl_search.searchers.exhaustive import dp_optimum_proxy
from rl_search.spaces import make_space

K_QAT = load_parameters().steepness["qat"]
K_PTQ = load_parameters().steepness["ptq"]


def one_layer(steepness: float, *, baseline: float = 0.9, chance: float = 0.1) -> ProxyOracle:
    """A one-layer proxy whose score is the activation table's entry (sensitivity 1, no weight
    or rank noise): act bits 8, 4, 3, 2 give ``z`` = 0, 1, 2, 3."""
    act = np.zeros(MAX_BITS + 1)
    act[4], act[3], act[2] = 1.0, 2.0, 3.0
    layer = LayerErrors("only", np.zeros((MAX_BITS + 1, 2)), act, np.zeros((1, MAX_BITS + 1)))
    return ProxyOracle([layer], [1.0], baseline=baseline, chance=chance, steepness=steepness)


def predicted(oracle: ProxyOracle, act_bits: int) -> float:
    return float(oracle.estimate_batch([[8]], [[act_bits]], [[1.0]])[0])


@pytest.mark.parametrize("k", [2.0, K_QAT, K_PTQ])
def test_link_at_hand_computed_scores(k):
    oracle = one_layer(k)  # span 0.8
    assert predicted(oracle, 8) == pytest.approx(0.9, abs=1e-12)  # z = 0: the baseline
    # z = 1: 1^k = 1 for every k, so exactly half the span is lost: 0.1 + 0.8/2
    # ((1 + z)^k would give 0.1 + 0.8/2^k: 0.3 at k = 2)
    assert predicted(oracle, 4) == pytest.approx(0.5, abs=1e-12)
    if k == 2.0:
        # z = 2: 0.1 + 0.8/(1 + 4) = 0.26; z = 3: 0.1 + 0.8/(1 + 9) = 0.18
        assert predicted(oracle, 3) == pytest.approx(0.26, abs=1e-12)
        assert predicted(oracle, 2) == pytest.approx(0.18, abs=1e-12)
    else:
        # the calibrated steepness, k = 1.8378 (qat) or 1.1363 (ptq), by the documented formula
        for bits, z in ((3, 2.0), (2, 3.0)):
            assert predicted(oracle, bits) == pytest.approx(0.1 + 0.8 / (1.0 + z ** k),
                                                            rel=1e-12)


def test_calibrated_steepness_is_not_one():
    """The points above separate the two links only because k != 1; if a refit ever brings k
    back to 1, the hand-chosen k = 2 case still does."""
    assert abs(K_QAT - 1.0) > 0.5 and abs(K_PTQ - 1.0) > 0.1


def test_score_limit_at_hand_computed_budgets():
    oracle = one_layer(2.0)  # span 0.8
    # D = 0.4: q = 1/2, q/(1 - q) = 1, z = 1 for every k
    assert oracle.score_limit(0.4) == pytest.approx(1.0, rel=1e-12)
    # D = 0.64: q = 0.8, q/(1 - q) = 4, z = 4^(1/2) = 2 (the link: 0.8 * 4/(1 + 4) = 0.64)
    assert oracle.score_limit(0.64) == pytest.approx(2.0, rel=1e-12)
    assert oracle.score_limit(0.0) == 0.0
    assert math.isinf(oracle.score_limit(0.8))
    # issue 16: span 1, k = 2, one point: z = sqrt(1/99) = 0.1005038 (the mutated inverse,
    # (1/(1 - q))^(1/k) - 1 = 0.0050378, is 20 times tighter)
    unit = one_layer(2.0, baseline=1.0, chance=0.0)
    assert unit.score_limit(0.01) == pytest.approx(0.10050378152592121, rel=1e-12)
    # at k = 1.8378 (qat): q = 0.5 still gives z = 1
    assert one_layer(K_QAT).score_limit(0.4) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("regime", ["qat", "ptq"])
@pytest.mark.parametrize("points", [0.25, 1.0, 5.0])
def test_prior_score_limit_costs_exactly_the_budget(regime, points):
    """On a zoo prior (float top-1 B = 69.758): the documented loss ``B z^k / (1 + z^k)`` at
    ``score_limit`` is the budget."""
    from hwsim.ir import zoo

    prior = ProxyOracle.prior(zoo.get("resnet18"), regime=regime)
    k = load_parameters().steepness[regime]
    z = prior.score_limit(points / 100)
    lost = 69.758 * z ** k / (1.0 + z ** k)
    assert lost == pytest.approx(points, rel=1e-9)


def tiny() -> Workload:
    return Workload("tiny-link", (
        Conv2d("c1", 3, 32, 32, 32, 3, 3, padding=1),
        Conv2d("c2", 32, 64, 32, 32, 3, 3, stride=2, padding=1),
        Conv2d("c3", 64, 64, 16, 16, 3, 3, padding=1),
        Linear("fc", 64, 10),
    ))


@pytest.mark.parametrize("points", [0.5, 2.0])
def test_dp_optimum_is_the_optimum_under_the_documented_link(points):
    """The DP searches on the score below ``score_limit``; its optimum must be the fastest
    design whose loss, by the documented link applied here to the additive score, is within
    the budget (every design of a 6,561-point space enumerated)."""
    wl = tiny()
    target = get_target("n3h-zcu102")
    space = make_space("haq", wl, target, weight_bits=(2, 4, 8), act_bits=(2, 4, 8),
                       pin_edges=False)
    prior = ProxyOracle.prior(wl)  # qat, B = 100 (no published float top-1 for tiny-link)
    drop = points / 100
    problem = Problem(space, target, prior, Objective(max_accuracy_drop=drop))
    X = np.array(list(itertools.product(*(range(len(k.choices)) for k in space.knobs))))
    assert len(X) == int(space.size)
    batch = space.decode_batch(X)
    cost = target.evaluate_batch(wl, batch)
    z = prior.score_batch(batch.weight_bits, batch.act_bits, cost.precision_share, batch.rank)
    lost = 100.0 * z ** K_QAT / (1.0 + z ** K_QAT)
    ok = cost.feasible & np.isfinite(cost.latency_ms) & (lost <= points * (1 + 1e-9))
    optimum = float(cost.latency_ms[ok].min())
    dp = dp_optimum_proxy(problem, step=None, grid_points=20_000)
    print(f"\n{points} points: optimum {optimum:.4f} ms (documented link), DP {dp.latency_ms:.4f}")
    assert dp.feasible
    assert dp.latency_ms == pytest.approx(optimum, rel=1e-9)
