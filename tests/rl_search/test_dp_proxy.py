"""DP optimum through the proxy's additive score: equals the exhaustive optimum."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cost_models import get_target
from hwsim.ir import Workload
from hwsim.ir.layers import Conv2d, Linear
from rl_search.accuracy.proxy import ProxyOracle
from rl_search.problem import Objective, Problem
from rl_search.searchers.base import EvaluationBudget
from rl_search.searchers.exhaustive import ExhaustiveSearch, dp_optimum_proxy
from rl_search.spaces import make_space


def tiny() -> Workload:
    return Workload("tiny-dp", (
        Conv2d("c1", 3, 32, 32, 32, 3, 3, padding=1),
        Conv2d("c2", 32, 64, 32, 32, 3, 3, stride=2, padding=1),
        Conv2d("c3", 64, 64, 16, 16, 3, 3, padding=1),
        Linear("fc", 64, 10),
    ))


@pytest.mark.parametrize("drop", [0.005, 0.02, 0.08])
def test_dp_through_the_proxy_score_equals_exhaustive(drop):
    wl = tiny()
    target = get_target("n3h-zcu102")
    space = make_space("haq", wl, target, weight_bits=(2, 4, 8),
                       act_bits=(2, 4, 8), pin_edges=False)
    oracle = ProxyOracle.prior(wl)
    problem = Problem(space, target, oracle, Objective(max_accuracy_drop=drop))
    budget = EvaluationBudget(problem, int(space.size))
    ExhaustiveSearch().run(problem, budget)
    best = problem.evaluate_batch(budget.best_x[None, :])
    assert best.feasible[0]
    dp = dp_optimum_proxy(problem, step=None, grid_points=20_000)
    assert dp.feasible
    # Off-grid per-layer scores: the DP is optimal to within n_layers grid steps of the budget,
    # which at 20,000 cells is below the gap between distinct designs here.
    assert dp.latency_ms == pytest.approx(float(best.latency_ms[0]), rel=1e-9)


def test_score_limit_inverts_the_link():
    oracle = ProxyOracle.prior(tiny())
    for drop in (0.001, 0.01, 0.3):
        z = oracle.score_limit(drop)
        acc = oracle._link(np.array([z]))[0]
        assert oracle.baseline - acc == pytest.approx(drop, rel=1e-9)
    assert math.isinf(oracle.score_limit(oracle.baseline - oracle.chance))
