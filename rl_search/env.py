"""The Gymnasium environment: a thin adapter from agent actions to :class:`Problem` evaluations.

Everything worth testing lives outside the env (STYLE.md): the space maps actions to choice
indices, the problem evaluates a finished design (analytic cost model, accuracy oracle,
objective, constraint mode). The env only walks the knobs, builds observations from tables
computed once, and hands the finished point to its ``evaluate`` function, once per episode.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from hwsim.errors import CodesignError
from rl_search import defaults
from rl_search.factory import make_problem
from rl_search.problem import Objective, Problem
from rl_search.searchers.base import EvaluateFn
from rl_search.spaces import KINDS

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

FORMS = ("sequential", "oneshot")
ACTIONS = ("box", "discrete")
BIT_KINDS = ("weight_bits", "act_bits")
KIND_VOCAB: tuple[str, ...] = KINDS
"""Every knob kind any space has, in a fixed order, so the sequential observation has the same
layout on every workload, space and target (a trained agent transfers across workloads). Which
hardware or mapping knob a step sets is told by the ``knob_slot`` column."""
LAYER_FEATURES = ("is_depthwise", "c_in", "c_out", "stride", "kernel", "weights", "in_area",
                  "layer_index", "log_macs")
"""Columns of :meth:`~rl_search.spaces.DesignSpace.layer_features`."""
_OBJECTIVE_FIELDS = frozenset(f.name for f in dataclasses.fields(Objective))


def observation_layout(mode: str) -> tuple[str, ...]:
    """Names of the sequential observation's columns under constraint mode ``mode``."""
    cols = [f"layer.{f}" for f in LAYER_FEATURES] + [f"kind.{k}" for k in KIND_VOCAB]
    cols += ["knob_slot", "step", "previous_action"]
    if mode == "clamp":
        cols.append("latency_floor")
    return tuple(cols)


class CoDesignEnv(gym.Env[FloatArray, Any]):
    """Choose a co-design point (hardware sizes, per-layer bits, splits, ranks) knob by knob.

    A thin adapter over a :class:`~rl_search.problem.Problem`: pass ``problem=``, or the
    arguments of :func:`~rl_search.factory.make_problem` (``workload`` (default resnet18),
    ``target`` (n3h-zcu102), ``space`` (n3h), ``oracle`` (the prior), ``objective`` or its
    fields such as ``latency_budget_ms`` and ``mode``, and space options such as
    ``weight_bits``).

    ## Description

    Sequential form (``form="sequential"``, the default; HAQ, AMC and N3H-Core, REFERENCE.md
    sections 1 and 3): one decision per step, in the space's knob order (hardware knobs first,
    then per layer weight bits, activation bits, split, rank). One-shot form
    (``form="oneshot"``): the whole design is one action and the episode has one step.

    ## Action Space

    ``action="box"``: ``Box(-1, 1, (1,), float32)`` (sequential) or ``Box(-1, 1, (n_knobs,))``
    (one-shot). ``a`` maps to ``u = (a + 1) / 2`` in [0, 1] and then to a choice by HAQ's
    rounding, :meth:`~rl_search.spaces.DesignSpace.index_from_unit`. The box is symmetric
    rather than HAQ's [0, 1] because SB3 expects it (its checker warns otherwise, and PPO's
    Gaussian starts centred on 0); it is the same map.

    ``action="discrete"``: ``Discrete(K)`` with ``K`` the most choices of any knob
    (sequential): action ``i`` picks choice ``floor((i + 0.5) / K * n)`` of a knob with ``n``
    choices, so every action is valid and each choice gets a near-equal share; or
    ``MultiDiscrete(nvec)`` (one-shot), the choice indices themselves.

    NaN and out-of-range actions are clipped into the space (NaN to the lowest choice), counted,
    and reported in ``info["bad_actions"]`` (a running count over the episode); they never
    raise. Actions of the wrong size are malformed input and raise :class:`CodesignError`.

    ## Observation Space

    Sequential: ``Box(0, 1, (d,), float32)``, the knob about to be decided
    (:func:`observation_layout` names the columns):

    * 0-8: HAQ's features of the knob's layer, min-max normalised across layers
      (is-depthwise, c_in, c_out, stride, kernel, #weights, input area, layer index, log
      MACs); zeros for hardware knobs.
    * 9-13: one-hot knob kind over :data:`KIND_VOCAB` (weight bits, activation bits, rank, a
      mapping knob of the target, a hardware knob of the target).
    * 14: which of the target's hardware (or mapping) knobs this is: its position in the
      target's knob table over the table's length (0 for compression knobs).
    * 15: step index / number of knobs (1 on the terminal observation).
    * 16: the previous decision, ``index / (n - 1)`` of the previous knob (0 on the first step).
    * 17, clamp mode only: the latency of the decided prefix with every undecided bit knob at
      its minimum, over the latency budget, clipped to 2 and halved (AMC's "cost so far").

    The layout is the same for every workload and space, so an agent trained on one network can
    propose designs for another whose space has the same knob kinds (:mod:`rl_search.train`).
    One-shot: ``Box(0, 1, (n_knobs,))``, a constant: each knob's layer log-MACs feature (0 for
    hardware knobs).

    ## Rewards

    0 on every intermediate step; at the last step the design's reward from
    :class:`~rl_search.problem.Objective`: ``-latency / reference`` (or
    ``accuracy - baseline``) for a feasible design, ``-2 - excess`` for an infeasible one (below
    every feasible reward). HAQ and N3H-Core copy the final reward onto every transition of the
    episode when they store it in their replay buffer; that is the agent's choice, not the
    env's (with ``gamma = 1`` every step's return here is already the final reward).

    ## Starting State

    No knob decided. The env has no randomness: ``reset(seed=...)`` only seeds
    :attr:`np_random`, and the same actions give the same observations and rewards.

    ## Episode End

    Termination after the last knob (sequential) or the single step (one-shot). The finished
    point is evaluated once, through ``evaluate`` (default ``problem.evaluate_batch``; searchers
    pass their :class:`~rl_search.searchers.base.EvaluationBudget` so every episode is counted
    and logged), which applies the objective's constraint mode (``repair``: HAQ's lowering of
    bits from the last layer; ``clamp``: AMC's clamp, also applied per step here so the episode
    records the clamped choices). ``info`` then holds the cost breakdown: ``x`` (the point
    evaluated, after repair or clamp), ``latency_ms``, ``accuracy``, ``accuracy_drop``,
    ``max_utilisation``, ``fits``, ``feasible``, ``reward``, ``violations`` (named) and
    ``bad_actions``. No truncation.

    ## Arguments

    :param problem: the problem to search; or give ``workload``, ``target``, ``space``, ...
    :param form: ``"sequential"`` or ``"oneshot"``.
    :param action: ``"box"`` or ``"discrete"``.
    :param evaluate: the batch evaluation function (default ``problem.evaluate_batch``).

    ## Version History

    * v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012  (gym.Env declares it so)

    def __init__(self, problem: Problem | None = None, *,
                 workload: str | Path | Any = None, target: str | Path | Any = None,
                 space: str | None = None, oracle: Any = None, objective: Objective | None = None,
                 form: str = "sequential", action: str = "box",
                 evaluate: EvaluateFn | None = None, render_mode: str | None = None,
                 **options: Any) -> None:
        if form not in FORMS:
            raise CodesignError(f"form must be one of {FORMS}, got {form!r}")
        if action not in ACTIONS:
            raise CodesignError(f"action must be one of {ACTIONS}, got {action!r}")
        if render_mode is not None:
            raise CodesignError(f"CoDesignEnv has no render modes, got {render_mode!r}")
        given = {"workload": workload, "target": target, "space": space, "oracle": oracle,
                 "objective": objective}
        if problem is None:
            problem = make_problem(
                defaults.WORKLOAD if workload is None else workload,
                defaults.TARGET if target is None else target, space or defaults.SPACE,
                oracle=oracle,  # None: the workload's default (factory.default_oracle)
                objective=_objective(objective, options), **_space(options))
        elif options or any(v is not None for v in given.values()):
            extra = sorted(options) + sorted(k for k, v in given.items() if v is not None)
            raise CodesignError(f"pass either problem= or the problem's arguments, not both "
                                f"(got problem and {extra})")
        problem.check_budgets_reachable()
        self.problem = problem
        self.space = problem.space
        self.form = form
        self.action_kind = action
        self._evaluate: EvaluateFn = evaluate or problem.evaluate_batch
        self.mode = problem.objective.mode
        self._budget = problem.objective.latency_budget_ms
        self._clamp = self.mode == "clamp" and form == "sequential"

        knobs = self.space.knobs
        self._n = len(knobs)
        self._nvec = [int(v) for v in self.space.nvec]
        self._max_n = max(self._nvec)
        self._is_bit = [k.kind in BIT_KINDS for k in knobs]
        self._x = np.zeros(self._n, dtype=np.int64)
        self._j = 0
        self._bad = 0
        self._bad_before = 0  # bad actions of finished episodes
        self._prev = 0.0
        self._floor = 0.0

        layer_feats = self.space.layer_features()
        self.layout = observation_layout(self.mode) if form == "sequential" else ()
        if form == "sequential":
            self._rows = self._static_rows(layer_feats)
            self.observation_space = spaces.Box(0.0, 1.0, (self._rows.shape[1],), np.float32)
            self.action_space = (spaces.Box(-1.0, 1.0, (1,), np.float32) if action == "box"
                                 else spaces.Discrete(self._max_n))
        else:
            self._oneshot_obs = np.array(
                [0.0 if k.layer is None else layer_feats[k.layer, -1] for k in knobs],
                dtype=np.float32)
            self.observation_space = spaces.Box(0.0, 1.0, (self._n,), np.float32)
            self.action_space = (spaces.Box(-1.0, 1.0, (self._n,), np.float32) if action == "box"
                                 else spaces.MultiDiscrete(self.space.nvec))
        if self._clamp:
            # Undecided knobs while clamping: bit knobs at their minimum (AMC), the others at
            # the problem's reference point (base cores, dense ranks).
            self._filler = np.where(self._is_bit, 0, problem.max_bits_point())
            self._floor0 = self._floor_value(problem.latency_ms(self._filler[None, :])[0])

    # Read-only views for :class:`rl_search.vec_env.CoDesignVectorEnv`, which steps many copies
    # of this env in lockstep and must build the same observations.

    @property
    def observation_rows(self) -> FloatArray:
        """Sequential form: the observation of every step (and the terminal one), with the
        dynamic columns (previous decision, clamp floor) at 0."""
        return self._rows

    @property
    def oneshot_observation(self) -> FloatArray:
        """One-shot form: the constant observation."""
        return self._oneshot_obs

    @property
    def clamps(self) -> bool:
        """Whether steps are clamped (constraint mode ``clamp``, sequential form)."""
        return self._clamp

    @property
    def clamp_start(self) -> tuple[IntArray, float]:
        """Clamp mode: the undecided knobs' filler point and the initial "cost so far"."""
        return self._filler, self._floor0

    def floor_value(self, latency_ms: float) -> float:
        """The "cost so far" column of a latency (clamp mode)."""
        return self._floor_value(latency_ms)

    @property
    def bad_actions_total(self) -> int:
        """NaN or out-of-range action entries clipped since the env was made (all episodes)."""
        return self._bad_before + self._bad

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[FloatArray, dict[str, Any]]:
        super().reset(seed=seed)
        self._j = 0
        self._bad_before += self._bad
        self._bad = 0
        self._prev = 0.0
        self._x[:] = 0
        if self.form == "oneshot":
            return self._oneshot_obs.copy(), {}
        if self._clamp:
            self._x[:] = self._filler
            self._floor = self._floor0
        return self._observation(), {}

    def step(self, action: Any) -> tuple[FloatArray, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._j >= self._n:
            raise gym.error.ResetNeeded("the episode has ended; call reset() before step()")
        if self.form == "oneshot":
            self._x[:] = self._decode_all(action)
            self._j = self._n
            reward, info = self._finish()
            return self._oneshot_obs.copy(), reward, True, False, info
        j = self._j
        n_j = self._nvec[j]
        idx = self._decode_one(action, n_j)
        if self._clamp:
            idx = self._clamp_step(j, idx)
        self._x[j] = idx
        self._prev = idx / (n_j - 1) if n_j > 1 else 0.0
        self._j = j + 1
        if self._j < self._n:
            return self._observation(), 0.0, False, False, {"bad_actions": self._bad}
        reward, info = self._finish()
        return self._observation(), reward, True, False, info

    # ------------------------------------------------------------------ internals

    def _static_rows(self, layer_feats: npt.NDArray[np.float32]) -> FloatArray:
        """Observation rows of every step (and the terminal one) with the dynamic columns 0."""
        n_layer, n_kind = len(LAYER_FEATURES), len(KIND_VOCAB)
        target = self.problem.target
        table = {"hardware": [k.name for k in target.hardware_knobs()],
                 "mapping": [k.name for k in target.mapping_knobs()]}
        rows = np.zeros((self._n + 1, len(self.layout)), dtype=np.float32)
        for j, knob in enumerate(self.space.knobs):
            if knob.layer is not None:
                rows[j, :n_layer] = layer_feats[knob.layer]
            rows[j, n_layer + KIND_VOCAB.index(knob.kind)] = 1.0
            names = table.get(knob.kind)
            if names:
                rows[j, n_layer + n_kind] = (names.index(knob.key) + 1) / len(names)
        rows[:, n_layer + n_kind + 1] = np.arange(self._n + 1) / self._n
        return rows

    def _observation(self) -> FloatArray:
        obs = self._rows[self._j].copy()
        obs[len(LAYER_FEATURES) + len(KIND_VOCAB) + 2] = self._prev
        if self._clamp:
            obs[-1] = self._floor
        return obs

    def _decode_one(self, action: Any, n: int) -> int:
        a = _numeric(action)
        if a.size != 1:
            raise CodesignError(f"sequential actions are single values, got shape {a.shape}")
        v = float(a.item())
        if self.action_kind == "box":
            if not -1.0 <= v <= 1.0:  # NaN fails both comparisons
                self._bad += 1
            return self.space.knob_index_from_unit(self._j, (v + 1.0) * 0.5)
        if not (0.0 <= v < self._max_n and v == int(v)):
            self._bad += 1
            v = 0.0 if math.isnan(v) else min(max(v, 0.0), self._max_n - 1.0)
        return self.space.knob_index_from_discrete(self._j, v, self._max_n)

    def _decode_all(self, action: Any) -> IntArray:
        a = _numeric(action)
        if a.shape != (self._n,):
            raise CodesignError(f"one-shot actions have shape ({self._n},), got {a.shape}")
        if self.action_kind == "box":
            idx, bad = self.space.index_from_box(a)
            self._bad += bad
            return idx
        nvec = self.space.nvec
        bad = np.isnan(a) | (a < 0) | (a >= nvec) | (a != np.floor(a))
        self._bad += int(np.count_nonzero(bad))
        return np.clip(np.where(np.isnan(a), 0.0, a), 0, nvec - 1).astype(np.int64)

    def _floor_value(self, latency_ms: float) -> float:
        assert self._budget is not None
        return min(latency_ms / self._budget, 2.0) / 2.0 if np.isfinite(latency_ms) else 1.0

    def _clamp_step(self, j: int, idx: int) -> int:
        """AMC's clamp of knob ``j`` (:meth:`Problem.clamp_knob`) on the decided prefix, the
        undecided knobs at their fillers; updates the "cost so far" column."""
        best, latency = self.problem.clamp_knob(self._x[None, :], j, idx)
        self._floor = self._floor_value(float(latency[0]))
        return int(best[0])

    def _finish(self) -> tuple[float, dict[str, Any]]:
        ev = self._evaluate(self._x[None, :].copy())
        info = ev.row(0)
        info["violations"] = [] if info["feasible"] else self.problem.violations(ev, 0)
        info["bad_actions"] = self._bad
        return float(ev.reward[0]), info


def _numeric(action: Any) -> npt.NDArray[np.float64]:
    """An action as a float array, or a :class:`CodesignError` saying what it was."""
    try:
        a = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
        raise CodesignError(f"actions are numbers (an array of the action space's shape), got "
                            f"{type(action).__name__} {action!r:.60}") from None
    return a


def _objective(objective: Objective | None, options: dict[str, Any]) -> Objective | None:
    fields = {k: options.pop(k) for k in list(options) if k in _OBJECTIVE_FIELDS}
    if objective is not None and fields:
        raise CodesignError(f"pass objective= or its fields ({sorted(fields)}), not both")
    return Objective(**fields) if fields else objective


def _space(options: dict[str, Any]) -> dict[str, Any]:
    known = {"weight_bits", "act_bits", "split", "pin_edges", "rank_step", "max_rank_candidates",
             "hardware"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise CodesignError(f"unknown CoDesignEnv argument(s) {unknown}; known: problem, "
                            f"workload, target, space, oracle, objective, form, action, evaluate, "
                            f"{', '.join(sorted(_OBJECTIVE_FIELDS | known))}")
    return options
