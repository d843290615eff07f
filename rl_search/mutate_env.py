"""An environment in which an agent proposes mutations of the best design found so far.

HAQ's and N3H-Core's agents build each design from nothing, one knob at a time, and learn from
one reward at the end; at equal budgets they land 30-55 % behind a genetic search (README,
search quality). Here the agent does what a genetic search's mutation does, but learns where to
do it: an episode walks the knobs of the *incumbent* (the best design evaluated so far) and, at
each knob, moves its choice one step down, keeps it, or moves it one step up. The child is
evaluated once (one evaluation of the shared :class:`~rl_search.searchers.base.EvaluationBudget`,
the same problem, cost model and oracle as every other searcher), and the reward is how much it
improves on its parent, ``max(0, R(child) - R(parent))`` in the problem's own reward units (a
(1 + lambda) evolution strategy's selection, so a failed proposal costs its evaluation and
nothing more). A better child becomes the incumbent of every sub-environment. With
``skip_unchanged`` (a frozen policy searching, :func:`rl_search.mutate_train.search_with_agent`), a
child that moved no knob is its parent and is not evaluated (reward 0), as a genetic search does
not spend its budget on points it has evaluated; a learning policy evaluates it (its zero gain
is what teaches it to move).

The observation of a step describes the knob, not its index: the layer's HAQ features
(min-max normalised over the network), the knob's kind, its position, the incumbent's choice
and how far the incumbent is from its accuracy budget. A policy trained on some networks
therefore applies to any other (:func:`rl_search.train.propose_mutations`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from hwsim.errors import CodesignError
from rl_search.problem import BatchEvaluation, Problem
from rl_search.searchers.base import EvaluateFn
from rl_search.spaces import KINDS

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

ACTIONS = ("down", "keep", "up")
"""``Discrete(3)`` action meanings: the knob's choice index moves by -1, 0 or +1 (clipped)."""
KEEP = 1

N_LAYER_FEATURES = 9  # DesignSpace.layer_features()
OBSERVATION = (
    [f"layer.{i}" for i in range(N_LAYER_FEATURES)]
    + [f"kind.{k}" for k in KINDS]
    + ["position", "choice", "choices", "at_floor", "at_ceiling", "changed_so_far",
       "incumbent_slack", "incumbent_feasible", "incumbent_latency"]
)
"""The observation's columns, in order (``float32``; every one in [0, 1] but ``incumbent_slack``
and ``incumbent_latency``, clipped to [-1, 1] and [0, 2])."""


@dataclass
class Incumbent:
    """The search state the sub-environments share: the best point evaluated so far, what it
    scored, and how many children improved on it or were skipped unchanged (the budget counts
    the evaluations and keeps the best-so-far history).

    :param x: the incumbent point (choice indices).
    :param reward: its reward (``-inf`` until it is evaluated).
    """

    x: IntArray
    reward: float = -np.inf
    slack: float = 1.0
    feasible: bool = False
    latency: float = 1.0
    improvements: int = 0
    unchanged: int = 0

    def offer(self, ev: BatchEvaluation, slack: float, latency: float) -> bool:
        """Make evaluation 0 of ``ev`` the incumbent when it scores higher; returns whether."""
        better = bool(ev.reward[0] > self.reward)
        if better:
            self.x = ev.x[0].copy()
            self.reward = float(ev.reward[0])
            self.slack = slack
            self.feasible = bool(ev.feasible[0])
            self.latency = latency
            self.improvements += 1
        return better


class MutationEnv(gym.Env[FloatArray, np.int64]):
    """One proposer of mutations of the shared :class:`Incumbent`.

    :param problem: the problem (space, target, oracle, objective).
    :param incumbent: the shared state (see :func:`shared_incumbent`); sub-environments of one
        search share one.
    :param evaluate: evaluates a batch of points (an ``EvaluationBudget`` when searching; the
        problem's ``evaluate_batch`` by default).
    :param reward_floor: the lowest reward of a child (<= 0).
    :param skip_unchanged: end an episode that moved no knob without evaluating it.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012  (gymnasium's own type)

    def __init__(self, problem: Problem, incumbent: Incumbent,
                 evaluate: EvaluateFn | None = None, reward_floor: float = 0.0,
                 skip_unchanged: bool = False) -> None:
        super().__init__()
        self.skip_unchanged = skip_unchanged
        if not reward_floor <= 0.0:
            raise CodesignError(f"reward_floor must be <= 0, got {reward_floor}")
        self.reward_floor = float(reward_floor)
        self.problem = problem
        self.space = problem.space
        self.incumbent = incumbent
        self._evaluate = evaluate or problem.evaluate_batch
        self._n = len(self.space)
        if self._n == 0:
            raise CodesignError("the design space has no knobs")
        self._nvec = self.space.nvec.astype(np.int64)
        self._static = self._static_rows()
        self.observation_space = gym.spaces.Box(-1.0, 2.0, shape=(len(OBSERVATION),),
                                                dtype=np.float32)
        self.action_space = gym.spaces.Discrete(len(ACTIONS))
        self._j = 0
        self._parent = incumbent.x.copy()
        self._parent_reward = incumbent.reward
        self._child = incumbent.x.copy()
        self._changed = 0

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[FloatArray, dict[str, Any]]:
        super().reset(seed=seed)
        self._j = 0
        self._changed = 0
        self._parent = self.incumbent.x.copy()
        self._parent_reward = self.incumbent.reward
        self._child = self._parent.copy()
        return self._observation(), {}

    def step(self, action: Any) -> tuple[FloatArray, float, bool, bool, dict[str, Any]]:
        if self._j >= self._n:
            raise gym.error.ResetNeeded("the episode has ended; call reset() before step()")
        a = int(np.asarray(action).reshape(-1)[0])
        if not 0 <= a < len(ACTIONS):
            raise CodesignError(f"mutation actions are 0 (down), 1 (keep) or 2 (up), got {a}")
        j = self._j
        if a != KEEP:
            moved = min(max(int(self._child[j]) + a - KEEP, 0), int(self._nvec[j]) - 1)
            if moved != self._child[j]:
                self._child[j] = moved
                self._changed += 1
        self._j = j + 1
        if self._j < self._n:
            return self._observation(), 0.0, False, False, {}
        if self._changed == 0 and self.skip_unchanged:  # the parent again: known, free
            self.incumbent.unchanged += 1
            return self._observation(), 0.0, True, False, {"unchanged": True, "changed": 0}
        if getattr(self._evaluate, "remaining", 1) <= 0:  # a spent EvaluationBudget
            return self._observation(), 0.0, False, True, {"budget_spent": True}
        ev = self._evaluate(self._child[None, :].copy())
        slack, latency = standing(self.problem, ev)
        self.incumbent.offer(ev, slack, latency)
        gain = float(ev.reward[0]) - self._parent_reward
        reward = max(gain, self.reward_floor) if np.isfinite(gain) else 0.0
        info = {"x": ev.x[0].tolist(), "reward": float(ev.reward[0]),
                "feasible": bool(ev.feasible[0]), "latency_ms": float(ev.latency_ms[0]),
                "changed": self._changed}
        return self._observation(), reward, True, False, info

    # ------------------------------------------------------------------ internals

    def _static_rows(self) -> FloatArray:
        feats = self.space.layer_features()
        rows = np.zeros((self._n, len(OBSERVATION)), dtype=np.float32)
        for j, knob in enumerate(self.space.knobs):
            if knob.layer is not None:
                rows[j, :N_LAYER_FEATURES] = feats[knob.layer]
            rows[j, N_LAYER_FEATURES + KINDS.index(knob.kind)] = 1.0
        base = N_LAYER_FEATURES + len(KINDS)
        rows[:, base] = np.arange(self._n) / max(self._n - 1, 1)
        rows[:, base + 2] = np.minimum(self._nvec / 16.0, 1.0)
        return rows

    def _observation(self) -> FloatArray:
        j = min(self._j, self._n - 1)
        obs = self._static[j].copy()
        base = N_LAYER_FEATURES + len(KINDS)
        n_j = int(self._nvec[j])
        c = int(self._parent[j])
        obs[base + 1] = c / (n_j - 1) if n_j > 1 else 0.0
        obs[base + 3] = float(c == 0)
        obs[base + 4] = float(c == n_j - 1)
        obs[base + 5] = min(self._changed / 8.0, 1.0)
        inc = self.incumbent
        obs[base + 6] = inc.slack
        obs[base + 7] = float(inc.feasible)
        obs[base + 8] = inc.latency
        return obs


def shared_incumbent(problem: Problem, start: IntArray | None = None) -> Incumbent:
    """The shared state of a mutation search starting from ``start`` (default: the highest-
    precision point, where the genetic and greedy searches start too). The start is not
    evaluated here: the first child of an unchanged start is its evaluation."""
    from rl_search.searchers.greedy import highest_precision_point

    x = highest_precision_point(problem.space) if start is None else np.asarray(start).copy()
    return Incumbent(x=x.astype(np.int64))


def standing(problem: Problem, ev: BatchEvaluation) -> tuple[float, float]:
    """(accuracy slack, latency / reference) of evaluation 0 of ``ev``: the slack is
    ``(budget - drop) / budget`` clipped to [-1, 1] (with no accuracy budget: 1 when feasible,
    else -1), the latency ratio clipped to [0, 2] (2 when it cannot run)."""
    max_drop = problem.objective.max_accuracy_drop
    if max_drop:
        slack = (max_drop - float(ev.accuracy_drop[0])) / max_drop
    else:
        slack = 1.0 if ev.feasible[0] else -1.0
    lat = float(ev.latency_ms[0]) / problem.reference_latency_ms
    return min(max(slack, -1.0), 1.0), (min(lat, 2.0) if np.isfinite(lat) else 2.0)


def start_incumbent(problem: Problem, evaluate: EvaluateFn, start: Any = None) -> Incumbent:
    """The shared incumbent of a mutation search, its start point evaluated through
    ``evaluate`` (one evaluation of the budget)."""
    inc = shared_incumbent(problem, None if start is None else np.asarray(start))
    ev = evaluate(inc.x[None, :])
    inc.offer(ev, *standing(problem, ev))
    return inc
