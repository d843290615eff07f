"""HAQ's DDPG runs its updates in a lean loop that must be SB3's, bitwise (issue 13)."""

from __future__ import annotations

import torch

from rl_search.factory import make_problem
from rl_search.problem import Objective
from rl_search.searchers.base import EvaluationBudget
from rl_search.searchers.registry import make_searcher


def test_lean_updates_are_sb3s_bitwise() -> None:
    """25 episodes of ResNet-20 (5 after the 20 warm-up ones, so 5 rounds of updates): the
    lean loop and SB3's ``TD3.train`` leave every parameter and the best design identical."""
    problem = make_problem("resnet20", "n3h-zcu102", "haq", oracle="prior",
                           objective=Objective(minimise="latency", max_accuracy_drop=0.01))
    params, best = {}, {}
    for lean in (False, True):
        searcher = make_searcher("ddpg-haq", 0, form="sequential", lean=lean)
        budget = EvaluationBudget(problem, 25)
        searcher.run(problem, budget)
        model = searcher.model
        assert model is not None and model._n_updates > 0
        params[lean] = torch.cat([p.detach().flatten() for p in model.policy.parameters()])
        best[lean] = (budget.best_reward, budget.best_x.tolist())
    assert torch.equal(params[False], params[True])
    assert best[False] == best[True]
