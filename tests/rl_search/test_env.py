"""The Gymnasium environment: both checkers, determinism, encodings, constraint modes, bad
actions, registration."""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rl_search
from hwsim.errors import CodesignError
from rl_search.env import KIND_VOCAB, LAYER_FEATURES, CoDesignEnv, observation_layout
from rl_search.envs import PRESETS
from rl_search.factory import make_problem
from rl_search.problem import Objective, Problem
from rl_search.searchers.base import BudgetExhausted, EvaluationBudget
from rl_search.spaces import SPACE_NAMES, DesignSpace, make_space

ENV_IDS = sorted(PRESETS)
STEP_COL = len(LAYER_FEATURES) + len(KIND_VOCAB) + 1


@cache
def _problem(workload: str, space: str, **objective: Any) -> Problem:
    return make_problem(workload, "n3h-zcu102", space, objective=Objective(**objective))


def _episode(env: CoDesignEnv, actions: list[Any] | None = None,
             seed: int | None = None) -> tuple[list[np.ndarray], list[float], dict[str, Any]]:
    """One episode; random actions from the env's (seeded) action space unless given."""
    obs, _ = env.reset(seed=seed)
    observations, rewards, info = [obs], [], {}
    done, j = False, 0
    while not done:
        act = actions[j] if actions is not None else env.action_space.sample()
        obs, reward, done, truncated, info = env.step(act)
        assert not truncated
        observations.append(obs)
        rewards.append(float(reward))
        j += 1
    return observations, rewards, info


# ---------------------------------------------------------------------------- checkers


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_registered_envs_pass_both_checkers(env_id: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gymnasium.make(env_id)
        gym_check_env(env.unwrapped)  # with its spec: render and close checks included
        sb3_check_env(env.unwrapped)


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("form", ["sequential", "oneshot"])
@pytest.mark.parametrize("action", ["box", "discrete"])
def test_every_form_and_action_kind_passes_both_checkers(env_id: str, form: str,
                                                         action: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gymnasium.make(env_id, form=form, action=action)
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped)


@pytest.mark.parametrize("mode", ["repair", "clamp"])
def test_constraint_modes_pass_both_checkers(mode: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = CoDesignEnv(_problem("resnet20", "haq", mode=mode, latency_budget_ms=2.0))
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env)


def test_registration_after_import_and_overrides() -> None:
    assert rl_search.envs.PRESETS is PRESETS
    env = gymnasium.make("codesign/HeteroFPGA-v0", workload="resnet20", target="n3h-pynq-z2")
    inner = env.unwrapped
    assert isinstance(inner, CoDesignEnv)
    assert inner.space.name == "n3h" and inner.space.workload.name == "resnet20"
    assert inner.problem.target.name == "n3h-pynq-z2"
    assert gymnasium.make("codesign/MixedPrecision-v0").unwrapped.space.name == "haq"
    assert gymnasium.make("codesign/LowRank-v0").unwrapped.space.name == "rank"


# ---------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("action", ["box", "discrete"])
def test_same_seed_same_actions_same_everything(env_id: str, action: str) -> None:
    a = gymnasium.make(env_id, action=action).unwrapped
    b = gymnasium.make(env_id, action=action).unwrapped
    a.action_space.seed(7)
    for episode in range(3):
        actions = [a.action_space.sample() for _ in range(len(a.space))]
        obs_a, rew_a, info_a = _episode(a, actions, seed=episode)
        obs_b, rew_b, info_b = _episode(b, actions, seed=episode)
        assert all(np.array_equal(x, y) for x, y in zip(obs_a, obs_b, strict=True))
        assert rew_a == rew_b
        assert info_a == info_b


# ---------------------------------------------------------------------------- spaces


@pytest.mark.parametrize("name", [*SPACE_NAMES, "n3h-choose"])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_decode_encode_round_trip(name: str, data: st.DataObject) -> None:
    space = _space(name)
    x = np.array([data.draw(st.integers(0, int(n) - 1)) for n in space.nvec], dtype=np.int64)
    design = space.decode(x)
    assert space.decode(space.encode(design)) == design
    assert np.array_equal(space.encode(design), x)


@cache
def _space(name: str) -> DesignSpace:
    problem = _problem("resnet20", "haq")
    if name == "n3h-choose":
        return make_space("n3h", problem.space.workload, problem.target, split="choose")
    return make_space(name, problem.space.workload, problem.target)


# ---------------------------------------------------------------------------- observations


def test_observation_layout_and_one_hot_kinds() -> None:
    env = gymnasium.make("codesign/HeteroFPGA-v0", workload="resnet20").unwrapped
    assert env.layout == observation_layout("penalty")
    assert env.observation_space.shape == (len(env.layout),)
    observations, _, _ = _episode(env, seed=0)
    for j, obs in enumerate(observations[:-1]):
        knob = env.space.knobs[j]
        kinds = obs[len(LAYER_FEATURES):STEP_COL - 1]
        assert kinds.sum() == 1 and kinds[KIND_VOCAB.index(knob.kind)] == 1
        slot = obs[STEP_COL - 1]  # which of the target's hardware knobs, 0 for the others
        if knob.kind == "hardware":
            names = [k.name for k in env.problem.target.hardware_knobs()]
            assert slot == pytest.approx((names.index(knob.key) + 1) / len(names))
        else:
            assert slot == 0.0
        assert obs[STEP_COL] == pytest.approx(j / len(env.space))
        if knob.layer is None:
            assert not obs[:len(LAYER_FEATURES)].any()
    assert observations[-1][STEP_COL] == 1.0


def test_box_decoding_is_haq_rounding() -> None:
    env = CoDesignEnv(_problem("resnet20", "haq"))
    space = env.space
    for a in np.linspace(-1.0, 1.0, 41, dtype=np.float32):
        env.reset()
        _, _, _, _, _ = env.step(np.array([a]))
        unit = (np.float64(a) + 1.0) / 2.0
        assert env._x[0] == space.index_from_unit(np.full(len(space), unit))[0]


# ---------------------------------------------------------------------------- bad actions


def test_nan_and_out_of_range_box_actions_are_clipped_and_counted() -> None:
    env = CoDesignEnv(_problem("resnet20", "haq"))
    env.reset(seed=0)
    bad = [np.array([np.nan]), np.array([2.0]), np.array([-3.0]), np.array([np.inf])]
    for act in bad:
        obs, _, _, _, info = env.step(act)
        assert env.observation_space.contains(obs)
    assert info["bad_actions"] == 4
    assert env._x[:4].tolist() == [0, env.space.nvec[1] - 1, 0, env.space.nvec[3] - 1]
    while env._j < len(env.space):
        _, reward, done, _, info = env.step(np.array([0.0]))
    assert done and info["bad_actions"] == 4 and np.isfinite(reward)
    env.reset()
    assert env.step(np.array([0.5]))[4]["bad_actions"] == 0


def test_bad_discrete_and_oneshot_actions_are_clipped_and_counted() -> None:
    env = CoDesignEnv(_problem("resnet20", "haq"), action="discrete")
    env.reset()
    for act in (-1, env.action_space.n, 2.5, np.nan):
        env.step(act)
    assert env.step(0)[4]["bad_actions"] == 4
    one = CoDesignEnv(_problem("resnet20", "haq"), form="oneshot")
    one.reset()
    act = np.zeros(len(one.space), dtype=np.float32)
    act[:3] = (np.nan, 5.0, -5.0)
    _, reward, done, _, info = one.step(act)
    assert done and info["bad_actions"] == 3 and np.isfinite(reward)
    md = CoDesignEnv(_problem("resnet20", "haq"), form="oneshot", action="discrete")
    md.reset()
    act = np.zeros(len(md.space), dtype=np.int64)
    act[:2] = (-1, 99)
    assert md.step(act)[4]["bad_actions"] == 2


def test_malformed_actions_and_arguments_raise() -> None:
    env = CoDesignEnv(_problem("resnet20", "haq"))
    env.reset()
    with pytest.raises(CodesignError, match="single values"):
        env.step(np.zeros(3))
    with pytest.raises(CodesignError, match="form"):
        CoDesignEnv(_problem("resnet20", "haq"), form="batch")
    with pytest.raises(CodesignError, match="not both"):
        CoDesignEnv(_problem("resnet20", "haq"), space="haq")
    with pytest.raises(CodesignError, match="unknown CoDesignEnv argument"):
        CoDesignEnv(workload="resnet20", space="haq", budget=3)
    one = CoDesignEnv(_problem("resnet20", "haq"), form="oneshot")
    one.reset()
    one.step(one.action_space.sample())
    with pytest.raises(gymnasium.error.ResetNeeded):
        one.step(one.action_space.sample())


def test_unreachable_budget_is_refused_up_front() -> None:
    with pytest.raises(CodesignError, match="cheapest"):
        CoDesignEnv(workload="resnet20", space="haq", mode="repair", latency_budget_ms=0.01)


# ---------------------------------------------------------------------------- constraint modes


def _budget_between_cheapest_and_reference(problem: Problem) -> float:
    return 0.5 * (problem.cheapest()["latency_ms"] + problem.reference_latency_ms)


@pytest.mark.parametrize("mode", ["repair", "clamp"])
def test_repair_and_clamp_end_within_a_reachable_latency_budget(mode: str) -> None:
    base = _problem("resnet20", "haq")
    budget = _budget_between_cheapest_and_reference(base)
    env = CoDesignEnv(workload="resnet20", space="haq", mode=mode, latency_budget_ms=budget)
    env.action_space.seed(0)
    over = 0
    for episode in range(6):
        _, _, info = _episode(env, seed=episode)
        assert info["latency_ms"] <= budget
        over += info["latency_ms"] > 0.9 * budget
    assert over  # the budget binds: episodes are pushed up against it


def test_clamp_records_the_clamped_choices_per_step() -> None:
    base = _problem("resnet20", "haq")
    budget = _budget_between_cheapest_and_reference(base)
    env = CoDesignEnv(workload="resnet20", space="haq", mode="clamp", latency_budget_ms=budget)
    assert env.layout[-1] == "latency_floor"
    requested = np.full(len(env.space), len(env.space) and 1.0, dtype=np.float32)
    observations, _, info = _episode(env, [np.array([a]) for a in requested], seed=0)
    wanted = env.space.index_from_unit(np.ones(len(env.space)))
    clamped = env.problem.clamp(wanted[None, :])[0]
    assert info["x"] == clamped.tolist() == env._x.tolist()
    assert not np.array_equal(clamped, wanted)
    assert all(0.0 <= obs[-1] <= 0.5 for obs in observations)  # floor stays within budget


def test_penalty_puts_every_infeasible_design_below_every_feasible_one() -> None:
    env = CoDesignEnv(workload="resnet20", space="haq", form="oneshot", action="discrete",
                      latency_budget_ms=2.75, max_accuracy_drop=0.005)
    rng = np.random.default_rng(1)
    nvec = env.space.nvec
    feasible, infeasible = [], []
    for _ in range(60):
        env.reset()
        act = rng.integers(rng.integers(1, 6), nvec)  # from any bits to mostly high precision
        _, reward, _, _, info = env.step(act)
        (feasible if info["feasible"] else infeasible).append(float(reward))
        assert bool(info["violations"]) != info["feasible"]
    assert feasible and infeasible
    assert max(infeasible) < min(feasible)


# ---------------------------------------------------------------------------- info, budget


def test_final_info_has_the_cost_breakdown_and_counts_through_the_budget() -> None:
    problem = make_problem("resnet20", "n3h-zcu102", "haq")
    budget = EvaluationBudget(problem, 2)
    env = CoDesignEnv(problem, evaluate=budget)
    _, rewards, info = _episode(env, seed=0)
    assert rewards[:-1] == [0.0] * (len(env.space) - 1)
    for key in ("latency_ms", "accuracy", "accuracy_drop", "max_utilisation", "fits",
                "feasible", "violations", "x", "reward", "bad_actions"):
        assert key in info
    assert rewards[-1] == info["reward"]
    assert budget.used == problem.evaluations == 1
    assert budget.best_x is not None and budget.best_x.tolist() == info["x"]
    expected = problem.evaluate(np.array(info["x"]))
    assert expected["violations"] == info["violations"]
    assert expected["latency_ms"] == info["latency_ms"]
    _episode(env)
    with pytest.raises(BudgetExhausted):
        _episode(env)


def test_violations_of_a_design_that_does_not_fit_are_named() -> None:
    env = CoDesignEnv(workload="resnet20", target="n3h-pynq-z2", space="n3h", form="oneshot",
                      action="discrete")
    x = np.full(len(env.space), 3, dtype=np.int64)
    hw = [j for j, k in enumerate(env.space.knobs) if k.layer is None]
    x[hw] = env.space.nvec[hw] - 1  # the biggest cores on the smallest board
    env.reset()
    _, reward, _, _, info = env.step(x)
    assert not info["fits"] and reward < -2
    assert any(v.startswith("LUT") for v in info["violations"])
    assert info["violations"] == env.problem.evaluate(x)["violations"]



def test_bad_actions_are_totalled_across_episodes() -> None:
    env = CoDesignEnv(_problem("resnet20", "haq"), form="oneshot")
    n = env.action_space.shape[0]
    for _ in range(3):
        env.reset(seed=0)
        action = np.zeros(n, dtype=np.float32)
        action[0] = np.nan
        action[1] = 5.0
        env.step(action)
    assert env.bad_actions_total == 6


@pytest.mark.parametrize("form", ["sequential", "oneshot"])
@pytest.mark.parametrize("action", ["abc", {"a": 1}, [[1, 2], [3]], object()])
def test_actions_of_the_wrong_type_are_refused_with_a_message(form, action) -> None:
    env = CoDesignEnv(_problem("resnet20", "haq"), form=form)
    env.reset(seed=0)
    with pytest.raises(CodesignError, match="actions are numbers"):
        env.step(action)


@pytest.mark.parametrize(("points", "needle"), [
    ("abc", "shape"), ([[1, 2], [3]], "int array"), (np.zeros((2, 3, 4)), "shape"),
    (np.full((1, 40), 1.5), "whole-number"), (np.full((1, 40), np.nan), "whole-number"),
    (np.full((1, 40), 1e30), "whole-number"), (None, "shape"),
])
def test_problem_points_of_the_wrong_kind_are_refused(points, needle) -> None:
    problem = _problem("resnet20", "haq")
    assert len(problem.space) == 40
    with pytest.raises(CodesignError, match=needle):
        problem.evaluate_batch(points)


def test_an_empty_batch_of_points_is_an_empty_evaluation() -> None:
    problem = _problem("resnet20", "haq")
    ev = problem.evaluate_batch(np.zeros((0, 40), dtype=np.int64))
    assert len(ev) == 0 and ev.x.shape == (0, 40)
    both = type(ev).concat([ev, problem.evaluate_batch(np.zeros((2, 40), dtype=np.int64))])
    assert len(both) == 2 and "lut_fraction" in both.mapping
