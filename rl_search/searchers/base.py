"""One interface and one evaluation budget for every searcher.

A searcher proposes points of a :class:`~rl_search.spaces.DesignSpace` and hands them to an
:class:`EvaluationBudget`, which evaluates them through the :class:`~rl_search.problem.Problem`,
counts them against the budget, and raises :class:`BudgetExhausted` when it is spent. The budget
is the only way a searcher sees costs, so every searcher (SB3 agents included) is compared at
the same number of evaluations.

Run folders (:mod:`rl_search.runner`) wrap the budget's evaluation function with a log that
replays already-evaluated points on resume, so a deterministic searcher restarted with the same
seed walks the same path and loses or repeats nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from hwsim.errors import CodesignError
from rl_search.problem import BatchEvaluation, Problem

IntArray = npt.NDArray[np.int64]
EvaluateFn = Callable[[IntArray], BatchEvaluation]


class BudgetExhausted(Exception):
    """The evaluation budget is spent; searchers let it propagate."""


class EvaluationBudget:
    """Evaluates points for a searcher and enforces the budget.

    :param problem: what is being searched.
    :param budget: number of design evaluations allowed.
    :param evaluate: the function that evaluates a batch (default ``problem.evaluate_batch``;
        run folders pass a logging, replaying one).
    """

    def __init__(self, problem: Problem, budget: int, evaluate: EvaluateFn | None = None) -> None:
        if budget < 1:
            raise CodesignError(f"evaluation budget must be >= 1, got {budget}")
        self.problem = problem
        self.total = int(budget)
        self.used = 0
        self._evaluate = evaluate or problem.evaluate_batch
        self.best_reward = -np.inf
        self.best_x: IntArray | None = None
        self.history: list[float] = []  # best reward after each evaluation

    @property
    def remaining(self) -> int:
        return self.total - self.used

    def __call__(self, X: Any) -> BatchEvaluation:
        """Evaluate up to ``remaining`` rows of ``X`` (the rest are dropped); raises
        :class:`BudgetExhausted` when nothing remains."""
        X = np.atleast_2d(np.asarray(X, dtype=np.int64))
        if self.remaining <= 0:
            raise BudgetExhausted
        X = X[: self.remaining]
        ev = self._evaluate(X)
        self.used += len(ev)
        for i in range(len(ev)):
            if ev.reward[i] > self.best_reward:
                self.best_reward = float(ev.reward[i])
                self.best_x = ev.x[i].copy()
            self.history.append(self.best_reward)
        return ev


class Searcher(ABC):
    """Base of every searcher. Subclasses implement :meth:`search`; options are keyword
    arguments of the constructor, documented per class."""

    name: ClassVar[str] = "searcher"

    def __init__(self, seed: int = 0, **options: Any) -> None:
        self.seed = seed
        self.options = options
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def search(self, problem: Problem, budget: EvaluationBudget) -> None:
        """Propose points and evaluate them through ``budget`` until it raises
        :class:`BudgetExhausted` (or the searcher is done, e.g. exhaustive search)."""

    def run(self, problem: Problem, budget: EvaluationBudget) -> EvaluationBudget:
        """:meth:`search` until the budget is spent; returns the budget (best point inside)."""
        try:
            self.search(problem, budget)
        except BudgetExhausted:
            pass
        return budget
