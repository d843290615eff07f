"""Greedy repair: walk down from the highest-precision design one knob step at a time.

HAQ (Wang et al., CVPR'19; REFERENCE.md section 3) meets its budget by lowering bit-widths one
step at a time until the budget holds; the literature's greedy baseline generalises this to
"take the single step that buys the most". Here every one-step move of the current point is
evaluated as one batch, and the move with the best gain is taken, until no move improves the
reward. With ``rule="reward"`` (default) the gain is the reward gained (steepest ascent); with
``rule="ratio"`` it is the reward gained per unit of accuracy drop spent, the classic greedy
for a knapsack (latency saved per accuracy lost, the trade HAQ's repair makes). When the walk
stops and budget remains, it restarts from a uniformly random point not yet evaluated (where
moves up in precision repair an accuracy budget the random point breaks); it stops early only
when it has evaluated the whole space. All evaluations go through the
shared budget (ArchGym, ISCA'23: compare searchers at equal evaluation budgets); points already
evaluated are remembered and not paid for twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from hwsim.errors import CodesignError
from rl_search.problem import Problem
from rl_search.searchers.base import BudgetExhausted, EvaluationBudget, Searcher
from rl_search.spaces import DesignSpace

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
_Evaluate = Callable[[IntArray], tuple[IntArray, FloatArray, FloatArray]]

RULES = ("ratio", "reward")
# Accuracy drop below which a move counts as free: its ratio is its gain over this.
_FREE_DROP = 1e-9
_MIN_GAIN = 1e-12


def highest_precision_point(space: DesignSpace) -> IntArray:
    """Every bit and rank knob at its last choice (the widest bits; dense), hardware knobs at
    the preset's value (or the nearest choice), mapping knobs at their middle choice (the even
    split of the FPGA's ``lut_fraction``)."""
    x = space.base_point()
    for j, knob in enumerate(space.knobs):
        if knob.kind == "mapping":
            x[j] = (knob.n - 1) // 2
        elif knob.kind != "hardware":
            x[j] = knob.n - 1
    return x


class GreedyRepair(Searcher):
    """Greedy one-step descent from the highest-precision point, with random restarts.

    Neighbourhood: every knob one choice down or up (from the starting point only the down
    steps exist for bits and ranks). The walk takes the best-scoring move that strictly raises
    the reward, so it never cycles; it stops at a point no single step improves.

    :param seed: seed of ``self.rng`` (restart points).
    :param rule: ``"reward"``: score = reward gain; ``"ratio"``: score = reward gain /
        max(accuracy-drop increase, 1e-9) (moves that cost no accuracy first, by gain).
    """

    name: ClassVar[str] = "greedy"

    def __init__(self, seed: int = 0, *, rule: str = "reward") -> None:
        if rule not in RULES:
            raise CodesignError(f"greedy rule must be one of {RULES}, got {rule!r}")
        super().__init__(seed, rule=rule)
        self.rule = rule

    def search(self, problem: Problem, budget: EvaluationBudget) -> None:
        space = problem.space
        # proposed point -> (evaluated point, reward, accuracy drop); repair/clamp modes may
        # evaluate a different point than the one proposed.
        known: dict[bytes, tuple[IntArray, float, float]] = {}

        def evaluate(points: IntArray) -> tuple[IntArray, FloatArray, FloatArray]:
            todo, keys = [], set()
            for p in points:
                key = p.tobytes()
                if key not in known and key not in keys:
                    todo.append(p)
                    keys.add(key)
            if todo:
                batch = np.array(todo, dtype=np.int64)
                ev = budget(batch)
                for i in range(len(ev)):
                    known[batch[i].tobytes()] = (ev.x[i].copy(), float(ev.reward[i]),
                                                 float(ev.accuracy_drop[i]))
                if len(ev) < len(batch):  # the budget cut the batch: nothing more to spend
                    raise BudgetExhausted
            rows = [known[p.tobytes()] for p in points]
            return (np.array([r[0] for r in rows], dtype=np.int64),
                    np.array([r[1] for r in rows]), np.array([r[2] for r in rows]))

        start: IntArray | None = highest_precision_point(space)
        while start is not None:
            self._walk(space, start, evaluate)
            start = self._fresh_start(space, known)

    def _fresh_start(self, space: DesignSpace, known: Mapping[bytes, object]) -> IntArray | None:
        """A uniformly random point not evaluated yet (None once the whole space is)."""
        while len(known) < space.size:
            for p in space.random(self.rng, 64):
                if p.tobytes() not in known:
                    return p
        return None

    def _walk(self, space: DesignSpace, start: IntArray, evaluate: _Evaluate) -> None:
        xs, rs, ds = evaluate(start[None, :])
        x, r, d = xs[0], rs[0], ds[0]
        while True:
            moves = neighbours(space, x)
            if moves.shape[0] == 0:
                return
            mx, mr, md = evaluate(moves)
            gain = mr - r
            better = gain > _MIN_GAIN
            if not better.any():
                return
            score = gain if self.rule == "reward" else gain / np.maximum(md - d, _FREE_DROP)
            best = int(np.argmax(np.where(better, score, -np.inf)))
            x, r, d = mx[best], mr[best], md[best]


def neighbours(space: DesignSpace, x: IntArray) -> IntArray:
    """Every point one choice away from ``x`` on one knob: downs first, in knob order, then
    ups."""
    rows = []
    for step in (-1, 1):
        for j in range(len(space)):
            v = x[j] + step
            if 0 <= v < space.nvec[j]:
                y = x.copy()
                y[j] = v
                rows.append(y)
    if not rows:
        return np.zeros((0, len(space)), dtype=np.int64)
    return np.array(rows, dtype=np.int64)
