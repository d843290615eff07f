"""A batched Gymnasium vector environment over one :class:`~rl_search.problem.Problem`.

:class:`CoDesignVectorEnv` runs ``num_envs`` copies of :class:`~rl_search.env.CoDesignEnv` as
arrays: every step decodes all sub-environments' actions at once and evaluates every finished
design in one call of the ``evaluate`` function (default ``problem.evaluate_batch``, one
vectorised call of the cost model). It returns, element for element, what
``gymnasium.vector.SyncVectorEnv([CoDesignEnv(...)] * num_envs, autoreset_mode="SameStep")``
returns for the same actions (observations, rewards, terminations, ``info``), with one
difference in form: ``info["final_info"]["x"]`` is an int array ``[num_envs, n_knobs]``
rather than an object array of lists.

:class:`SB3VecEnv` adapts it to stable-baselines3's own ``VecEnv`` API, so SB3 agents train on
the batch directly (it is built on first use, so that importing this module does not import
stable-baselines3 and torch). :func:`measure_rate` times the step.
"""

from __future__ import annotations

import math
import time
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from hwsim.errors import CodesignError
from rl_search.env import KIND_VOCAB, LAYER_FEATURES, CoDesignEnv
from rl_search.factory import make_problem
from rl_search.problem import BatchEvaluation, Problem
from rl_search.searchers.base import BudgetExhausted, EvaluateFn

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

_PREV_COL = len(LAYER_FEATURES) + len(KIND_VOCAB) + 2
"""Column of the sequential observation holding the previous decision."""


class CoDesignVectorEnv(VectorEnv[FloatArray, Any, npt.NDArray[Any]]):
    """``num_envs`` co-design episodes over one problem, stepped and evaluated as a batch.

    Takes the arguments of :class:`~rl_search.env.CoDesignEnv` (``problem=`` or the problem's
    names and options, ``form``, ``action``, ``evaluate``) and means the same by them: the
    action map (HAQ's rounding for ``"box"``; the near-equal shares of ``Discrete(K)`` in
    sequential form; ``MultiDiscrete(nvec)`` in one-shot form), the observations, rewards,
    bad-action counting and constraint modes are those of one ``CoDesignEnv`` per
    sub-environment, built from the same tables (a ``CoDesignEnv`` made from the same
    arguments serves as the template).

    ## Forms

    ``"oneshot"``: every step each sub-environment submits a whole design; all ``num_envs``
    designs are evaluated in one ``evaluate`` call, and every sub-environment terminates and
    resets in that step.

    ``"sequential"``: every episode has the same length (the number of knobs), so the
    sub-environments walk the knobs in lockstep; at the last knob all finished designs are
    evaluated in one call and every sub-environment terminates and resets. Constraint mode
    ``clamp`` (AMC's per-step clamp) applies :meth:`Problem.clamp_knob` to all
    sub-environments at once, one batch latency evaluation per step, as ``CoDesignEnv`` does
    per sub-environment.

    ## Spaces

    :attr:`single_observation_space` and :attr:`single_action_space` are ``CoDesignEnv``'s;
    :attr:`observation_space` and :attr:`action_space` batch them
    (:func:`gymnasium.vector.utils.batch_space`): actions are ``[num_envs, n_knobs]``
    (one-shot), ``[num_envs, 1]`` or ``[num_envs]`` (sequential). NaN and out-of-range entries
    are clipped and counted as in ``CoDesignEnv``; actions of any other shape raise
    :class:`CodesignError`.

    ## Autoreset and info

    ``metadata["autoreset_mode"]`` is :attr:`AutoresetMode.SAME_STEP`: the step that ends the
    episodes returns ``terminated`` true for every sub-environment, the first observation of
    the next episodes, and in ``info`` the terminal observations (``final_obs``, an object array
    of per-environment arrays) and the final infos (``final_info``, a dict of arrays: ``x``
    (``[num_envs, n_knobs]``, the points evaluated, after repair or clamp), ``latency_ms``,
    ``accuracy``, ``accuracy_drop``, ``max_utilisation``, ``fits``, ``feasible``, ``reward``,
    ``violations`` (an object array of lists of names) and ``bad_actions``), each key with its
    ``_key`` mask (all true: the episodes end together). Same-step rather than Gymnasium's
    default next-step mode because next-step would spend every other one-shot step on a reset
    that ignores its actions, and because SB3's ``VecEnv`` resets in the same step too.
    Intermediate sequential steps return ``{"bad_actions": ..., "_bad_actions": ...}``;
    ``reset`` returns ``{}``. Never truncated.

    ``evaluate`` may return fewer rows than it was given only when it has run out (an
    :class:`~rl_search.searchers.base.EvaluationBudget` with fewer evaluations left than
    ``num_envs``: it evaluates and records what it can); the step then raises
    :class:`~rl_search.searchers.base.BudgetExhausted` and the env needs :meth:`reset`.

    :param problem: the problem to search; or give ``workload``, ``target``, ``space``, ... as
        to ``CoDesignEnv``.
    :param num_envs: the number of sub-environments (>= 1).
    :param form: ``"sequential"`` (default) or ``"oneshot"``.
    :param action: ``"box"`` (default) or ``"discrete"``.
    :param evaluate: the batch evaluation function (default ``problem.evaluate_batch``).
    :param name_violations: name each infeasible design's violated limits in
        ``final_info["violations"]`` (:meth:`Problem.violations`, a Python loop over the
        infeasible rows). With False the key is left out, for throughput.
    """

    metadata: dict[str, Any] = {  # noqa: RUF012  (VectorEnv declares it so)
        "render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, problem: Problem | None = None, num_envs: int = 1, *,
                 form: str = "sequential", action: str = "box",
                 evaluate: EvaluateFn | None = None, name_violations: bool = True,
                 render_mode: str | None = None, **problem_args: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) \
                or num_envs < 1:
            raise CodesignError(f"num_envs must be an int >= 1, got {num_envs!r}")
        template = CoDesignEnv(problem, form=form, action=action, render_mode=render_mode,
                               **problem_args)
        self._template = template
        self.problem: Problem = template.problem
        self.space = template.space
        self.form = form
        self.action_kind = action
        self.mode = template.mode
        self.layout = template.layout
        self.name_violations = name_violations
        self.num_envs = int(num_envs)
        self.render_mode = None
        self._evaluate: EvaluateFn = evaluate or self.problem.evaluate_batch

        self.single_observation_space = template.observation_space
        self.single_action_space = template.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        n = self.num_envs
        self._n_knobs = len(self.space)
        self._nvec = np.asarray(self.space.nvec, dtype=np.int64)
        self._max_n = int(self._nvec.max())
        self._clamp = template.clamps
        self.episode_length = self._n_knobs if form == "sequential" else 1
        self._x = np.zeros((n, self._n_knobs), dtype=np.int64)
        self._j = 0
        self._bad = np.zeros(n, dtype=np.int64)
        self._bad_before = 0
        self._prev = np.zeros(n, dtype=np.float64)
        self._floor = np.zeros(n, dtype=np.float64)
        if form == "sequential":
            self._rows: FloatArray = template.observation_rows
        else:
            self._oneshot_obs: FloatArray = template.oneshot_observation
        self._restart(np.ones(n, dtype=np.bool_))

    @property
    def bad_actions_total(self) -> int:
        """NaN or out-of-range action entries clipped since the env was made (all
        sub-environments, all episodes)."""
        return self._bad_before + int(self._bad.sum())

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[FloatArray, dict[str, Any]]:
        """Start new episodes. ``seed`` (an int, or a list of one per sub-environment as
        ``SyncVectorEnv`` takes, of which the first seeds) only seeds :attr:`np_random`: the
        env has no randomness. ``options={"reset_mask": mask}`` resets only the masked
        sub-environments (one-shot form, or in sequential form between episodes: lockstep
        allows no other)."""
        if isinstance(seed, list | tuple):
            if len(seed) != self.num_envs:
                raise CodesignError(f"a list of seeds needs one per sub-environment "
                                    f"({self.num_envs}), got {len(seed)}")
            seed = seed[0]
        super().reset(seed=seed)
        mask = np.ones(self.num_envs, dtype=np.bool_)
        if options and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"])
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
                raise CodesignError(f"options['reset_mask'] must be a bool array of shape "
                                    f"({self.num_envs},), got {mask.dtype} {mask.shape}")
            if self._j not in (0, self.episode_length) and not mask.all():
                raise CodesignError(
                    f"the sequential sub-environments walk the knobs in lockstep: a partial "
                    f"reset is only possible between episodes (now at knob {self._j})")
        self._restart(mask)
        return self._observation(), {}

    def step(self, actions: Any) -> tuple[FloatArray, npt.NDArray[np.float64], BoolArray,
                                          BoolArray, dict[str, Any]]:
        if self.closed:
            raise gym.error.ClosedEnvironmentError("the environment is closed")
        if self._j >= self.episode_length:
            raise gym.error.ResetNeeded("the episodes ended without an autoreset (the "
                                        "evaluation raised); call reset() before step()")
        n = self.num_envs
        a = self._as_array(actions)
        if self.form == "oneshot":
            self._x = self._decode_all(a)
        else:
            j = self._j
            n_j = int(self._nvec[j])
            idx = self._decode_one(a, n_j)
            if self._clamp:
                idx, latency = self.problem.clamp_knob(self._x, j, idx)
                self._floor = self._floor_value(np.asarray(latency, dtype=np.float64))
            self._x[:, j] = idx
            self._prev = idx / (n_j - 1) if n_j > 1 else np.zeros(n, dtype=np.float64)
        self._j += 1
        terminated = np.zeros(n, dtype=np.bool_)
        truncated = np.zeros(n, dtype=np.bool_)
        info: dict[str, Any]
        if self._j < self.episode_length:
            info = {"bad_actions": self._bad.copy(), "_bad_actions": np.ones(n, dtype=np.bool_)}
            return self._observation(), np.zeros(n, dtype=np.float64), terminated, truncated, info

        final_obs = self._observation()
        ev = self._evaluate(self._x.copy())
        if len(ev) != n:
            raise BudgetExhausted(f"the evaluation function returned {len(ev)} of {n} designs "
                                  f"(its budget ran out); call reset() before step()")
        rewards = np.array(ev.reward, dtype=np.float64)
        final_info = self._final_info(ev)
        terminated[:] = True
        self._restart(np.ones(n, dtype=np.bool_))
        boxed = np.empty(n, dtype=object)
        for i in range(n):
            boxed[i] = final_obs[i]
        info = {"final_obs": boxed, "_final_obs": np.ones(n, dtype=np.bool_),
                "final_info": final_info, "_final_info": np.ones(n, dtype=np.bool_)}
        return self._observation(), rewards, terminated, truncated, info

    # ------------------------------------------------------------------ internals

    def _restart(self, mask: BoolArray) -> None:
        """Start new episodes in the masked sub-environments (as ``CoDesignEnv.reset``)."""
        self._bad_before += int(self._bad[mask].sum())
        self._bad[mask] = 0
        self._prev[mask] = 0.0
        self._x[mask] = self._template.clamp_start[0] if self._clamp else 0
        if self._clamp:
            self._floor[mask] = self._template.clamp_start[1]
        self._j = 0

    def _observation(self) -> FloatArray:
        if self.form == "oneshot":
            return np.repeat(self._oneshot_obs[None, :], self.num_envs, axis=0)
        obs = np.repeat(self._rows[self._j][None, :], self.num_envs, axis=0)
        obs[:, _PREV_COL] = self._prev
        if self._clamp:
            obs[:, -1] = self._floor
        return obs

    def _as_array(self, actions: Any) -> npt.NDArray[np.float64]:
        try:
            a = np.asarray(actions, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise CodesignError(f"actions must be numeric arrays, got {type(actions).__name__}: "
                                f"{exc}") from None
        n = self.num_envs
        if self.form == "oneshot":
            if a.shape != (n, self._n_knobs):
                raise CodesignError(f"one-shot actions have shape (num_envs, n_knobs) = "
                                    f"({n}, {self._n_knobs}), got {a.shape}")
            return a
        if a.shape not in ((n,), (n, 1)):
            raise CodesignError(f"sequential actions have shape (num_envs,) or (num_envs, 1) = "
                                f"({n},) or ({n}, 1), got {a.shape}")
        return a.reshape(n)

    def _decode_one(self, v: npt.NDArray[np.float64], n: int) -> IntArray:
        """``CoDesignEnv._decode_one`` for every sub-environment at knob ``self._j``."""
        if self.action_kind == "box":
            self._bad += ~((v >= -1.0) & (v <= 1.0))  # NaN fails both comparisons
            return self.space.knob_index_from_unit(self._j, (v + 1.0) * 0.5)
        k = self._max_n
        bad = ~((v >= 0.0) & (v < k) & (v == np.floor(v)))
        self._bad += bad
        v = np.where(np.isnan(v), 0.0, np.clip(v, 0.0, k - 1.0))
        return self.space.knob_index_from_discrete(self._j, v, k)

    def _decode_all(self, a: npt.NDArray[np.float64]) -> IntArray:
        """``CoDesignEnv._decode_all`` for every sub-environment."""
        if self.action_kind == "box":
            idx, bad = self.space.index_from_box(a)
            self._bad += bad
            return idx
        nvec = self._nvec
        bad = np.isnan(a) | (a < 0) | (a >= nvec) | (a != np.floor(a))
        self._bad += np.count_nonzero(bad, axis=1)
        return np.clip(np.where(np.isnan(a), 0.0, a), 0, nvec - 1).astype(np.int64)

    def _floor_value(self, latency_ms: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        budget = self.problem.objective.latency_budget_ms
        assert budget is not None
        with np.errstate(invalid="ignore"):
            scaled = np.minimum(latency_ms / budget, 2.0) / 2.0
        return np.where(np.isfinite(latency_ms), scaled, 1.0)

    def _final_info(self, ev: BatchEvaluation) -> dict[str, Any]:
        n = self.num_envs
        out: dict[str, Any] = {}

        def put(key: str, value: Any) -> None:
            out[key] = value
            out[f"_{key}"] = np.ones(n, dtype=np.bool_)

        put("x", np.array(ev.x, dtype=np.int64))
        for key in ("latency_ms", "accuracy", "accuracy_drop", "max_utilisation"):
            put(key, np.array(getattr(ev, key), dtype=np.float64))
        put("fits", np.array(ev.fits, dtype=np.bool_))
        put("feasible", np.array(ev.feasible, dtype=np.bool_))
        put("reward", np.array(ev.reward, dtype=np.float64))
        if self.name_violations:
            violations = np.empty(n, dtype=object)
            named = self.problem.violations_batch(ev)
            for i in range(n):
                violations[i] = [] if ev.feasible[i] else named[i]
            put("violations", violations)
        put("bad_actions", self._bad.copy())
        return out


# ---------------------------------------------------------------------------- SB3 adapter


def _split_info(info: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """A vector env's dict of arrays (with ``_key`` masks) as one dict per sub-environment,
    values as Python objects (what a single env's ``info`` holds)."""
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, value in info.items():
        mask = info.get(f"_{key}")
        if mask is None or (key.startswith("_") and key[1:] in info):
            continue
        rows = np.flatnonzero(mask)
        if isinstance(value, dict):
            parts = _split_info(value, n)
            for i in rows:
                out[i][key] = parts[i]
        else:
            values = list(value) if value.dtype == object else value.tolist()
            for i in rows:
                out[i][key] = values[i]
    return out


def _sb3_vec_env_class() -> type:
    from stable_baselines3.common.vec_env import VecEnv

    class SB3VecEnv(VecEnv):  # type: ignore[misc]
        """:class:`CoDesignVectorEnv` behind stable-baselines3's ``VecEnv`` API.

        Gives what SB3's ``DummyVecEnv`` over ``num_envs`` :class:`~rl_search.env.CoDesignEnv`
        s gives for the same actions: ``reset() -> obs``; ``step_wait() -> (obs, rewards
        (float32), dones, infos)`` with a list of per-environment dicts; a sub-environment that
        ends resets in the same step, its info holding the final cost breakdown plus
        ``terminal_observation``; every info has ``TimeLimit.truncated`` (always False).

        The sub-environments are rows of one batched env, not objects: :meth:`get_attr` reads
        the :class:`CoDesignVectorEnv`'s attribute (the same value for every index);
        :meth:`set_attr` and :meth:`env_method` act on it once and so accept only every index;
        :meth:`env_is_wrapped` is False throughout. :meth:`seed` (SB3's) seeds the next
        :meth:`reset`.

        :param venv: the vector env, or a :class:`~rl_search.problem.Problem` and the
            arguments of :class:`CoDesignVectorEnv`.
        """

        def __init__(self, venv: CoDesignVectorEnv | Problem | None = None,
                     **kwargs: Any) -> None:
            if not isinstance(venv, CoDesignVectorEnv):
                venv = CoDesignVectorEnv(venv, **kwargs)
            elif kwargs:
                raise CodesignError(f"pass a CoDesignVectorEnv or its arguments, not both "
                                    f"(got {sorted(kwargs)})")
            self.venv = venv
            self._actions: Any = None
            super().__init__(venv.num_envs, venv.single_observation_space,
                             venv.single_action_space)

        @property
        def bad_actions_total(self) -> int:
            return self.venv.bad_actions_total

        def reset(self) -> FloatArray:
            seed = self._seeds[0]
            options = self._options[0] or None
            obs, _ = self.venv.reset(seed=seed, options=options)
            self.reset_infos = [{} for _ in range(self.num_envs)]
            self._reset_seeds()
            self._reset_options()
            return obs

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions

        def step_wait(self) -> tuple[FloatArray, npt.NDArray[np.float32], BoolArray,
                                     list[dict[str, Any]]]:
            if self._actions is None:
                raise CodesignError("step_wait() needs a step_async(actions) first")
            actions, self._actions = self._actions, None
            obs, rewards, terminated, truncated, info = self.venv.step(actions)
            n = self.num_envs
            dones = terminated | truncated
            infos = _split_info({k: v for k, v in info.items()
                                 if k not in ("final_obs", "_final_obs", "final_info",
                                              "_final_info")}, n)
            if dones.any():
                finals = _split_info(info["final_info"], n)
                for row in np.flatnonzero(dones):
                    self.reset_infos[row] = infos[row]
                    infos[row] = finals[row]
                    infos[row]["terminal_observation"] = info["final_obs"][row]
            for i in range(n):
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            return obs, rewards.astype(np.float32), dones, infos

        def close(self) -> None:
            self.venv.close()

        def _all(self, indices: Any, what: str) -> None:
            if sorted(self._get_indices(indices)) != list(range(self.num_envs)):
                raise CodesignError(f"{what} acts on the one batched env, so on every "
                                    f"sub-environment at once; got indices {indices!r}")

        def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
            value = getattr(self.venv, attr_name)
            return [value for _ in self._get_indices(indices)]

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            self._all(indices, "set_attr")
            setattr(self.venv, attr_name, value)

        def env_method(self, method_name: str, *method_args: Any, indices: Any = None,
                       **method_kwargs: Any) -> list[Any]:
            self._all(indices, "env_method")
            result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
            return [result for _ in range(self.num_envs)]

        def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
            return [False for _ in self._get_indices(indices)]

    SB3VecEnv.__qualname__ = "SB3VecEnv"  # pickled as rl_search.vec_env.SB3VecEnv
    return SB3VecEnv


def __getattr__(name: str) -> Any:
    """``SB3VecEnv``, built on first use (importing this module does not import SB3)."""
    if name == "SB3VecEnv":
        cls = _sb3_vec_env_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------- speed


def measure_rate(num_envs: int = 2000, steps: int = 20, *, problem: Problem | None = None,
                 form: str = "oneshot", action: str = "box", name_violations: bool = True,
                 seed: int = 0) -> float:
    """Designs evaluated per second by :meth:`CoDesignVectorEnv.step` (default problem:
    ResNet-18, N3H-Core's ZCU102, HAQ's space), with random actions from the action space
    sampled before the clock starts, over at least ``steps`` steps (whole episodes) after one
    untimed episode."""
    problem = problem or make_problem("resnet18", "n3h-zcu102", "haq")
    env = CoDesignVectorEnv(problem, num_envs, form=form, action=action,
                            name_violations=name_violations)
    env.action_space.seed(seed)
    episodes = max(1, math.ceil(steps / env.episode_length))
    actions = [env.action_space.sample() for _ in range(env.episode_length * (episodes + 1))]
    env.reset(seed=seed)
    for a in actions[:env.episode_length]:
        env.step(a)
    start = time.perf_counter()
    for a in actions[env.episode_length:]:
        env.step(a)
    elapsed = time.perf_counter() - start
    env.close()
    return num_envs * episodes / elapsed
