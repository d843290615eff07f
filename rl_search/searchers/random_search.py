"""Uniform random search: the warm-up phase of HAQ's and N3H-Core's DDPG, and the baseline every
other searcher must beat at an equal evaluation budget (ArchGym, ISCA'23: with tuned
hyper-parameters searchers come out about equal, so compare at equal budgets over seeds;
REFERENCE.md section 3)."""

from __future__ import annotations

from typing import ClassVar

from hwsim.errors import CodesignError
from rl_search.problem import Problem
from rl_search.searchers.base import EvaluationBudget, Searcher


class RandomSearch(Searcher):
    """Points drawn uniformly (independently per knob, with replacement) from the space,
    evaluated ``batch_size`` at a time until the budget is spent.

    :param seed: seed of ``self.rng``; the same seed draws the same points.
    :param batch_size: points per batch evaluation (the last batch is cut to the budget).
    """

    name: ClassVar[str] = "random"

    def __init__(self, seed: int = 0, *, batch_size: int = 256) -> None:
        if batch_size < 1:
            raise CodesignError(f"random search batch_size must be >= 1, got {batch_size}")
        super().__init__(seed, batch_size=batch_size)
        self.batch_size = batch_size

    def search(self, problem: Problem, budget: EvaluationBudget) -> None:
        while True:
            budget(problem.space.random(self.rng, min(self.batch_size, budget.remaining)))
