"""The batched vector environment: element-for-element equivalence with independent
CoDesignEnvs (Gymnasium's SyncVectorEnv and SB3's DummyVecEnv over them), one evaluation call
per batch, autoreset, info, the API contracts, bad input, and the SB3 adapter under PPO.

Gymnasium 1.4 has no checker for vector envs (``gymnasium.utils.env_checker`` checks single
envs), so the contract is tested directly; the reference for every output is SyncVectorEnv in
``SameStep`` autoreset mode over ``CoDesignEnv``, which is what the vector env claims to equal.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from functools import cache, partial
from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from stable_baselines3 import PPO
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecCheckNan

from hwsim.errors import CodesignError
from rl_search.env import KIND_VOCAB, LAYER_FEATURES, CoDesignEnv
from rl_search.factory import make_problem
from rl_search.problem import BatchEvaluation, Objective, Problem
from rl_search.searchers.base import BudgetExhausted, EvaluationBudget
from rl_search.searchers.sb3 import deterministic_torch
from rl_search.vec_env import CoDesignVectorEnv, SB3VecEnv, measure_rate

FORMS = ("oneshot", "sequential")
ACTIONS = ("box", "discrete")
STEP_COL = len(LAYER_FEATURES) + len(KIND_VOCAB) + 1
N = 4


@cache
def _problem(space: str = "haq", **objective: Any) -> Problem:
    return make_problem("resnet20", "n3h-zcu102", space, objective=Objective(**objective))


def _fresh_problem() -> Problem:
    return make_problem("resnet20", "n3h-zcu102", "haq")


def _reference(problem: Problem, n: int, **kwargs: Any) -> SyncVectorEnv:
    """``n`` independent CoDesignEnvs, batched by Gymnasium with the same autoreset mode."""
    return SyncVectorEnv([partial(CoDesignEnv, problem, **kwargs) for _ in range(n)],
                         autoreset_mode=AutoresetMode.SAME_STEP)


def _as_ours(info: dict[str, Any]) -> dict[str, Any]:
    """SyncVectorEnv's info with ``final_info["x"]`` as one int array (the vector env's form)."""
    info = copy.copy(info)
    if "final_info" in info:
        final = dict(info["final_info"])
        final["x"] = np.array(list(final["x"]), dtype=np.int64)
        info["final_info"] = final
    return info


def _assert_same_step(ours: tuple[Any, ...], ref: tuple[Any, ...], where: str) -> None:
    ref = (*ref[:4], _as_ours(ref[4]))
    names = ("observations", "rewards", "terminations", "truncations", "info")
    for name, a, b in zip(names, ours, ref, strict=True):
        assert data_equivalence(a, b, exact=True), f"{where}: {name} differ:\n{a}\n{b}"


def _with_bad_entries(rng: np.random.Generator, action: np.ndarray, kind: str) -> np.ndarray:
    """The action with some entries NaN, infinite, out of range or (discrete) fractional, and
    some on the edges of the valid range (counted as bad or not, exactly as a single env)."""
    a = np.array(action, dtype=np.float64)
    bad = [np.nan, np.inf, -np.inf, 5.0, -3.0] + (
        [2.5, 99.0, -1.0, 0.0, 2.0, 3.0, 6.0, 7.0] if kind == "discrete" else
        [1.5, -1.0001, 1.0, -1.0, 1.0 + 1e-7, -1.0 - 1e-7, 1.0 + 1e-16])
    flat = a.reshape(-1)
    for pos in rng.choice(flat.size, size=max(1, flat.size // 5), replace=False):
        flat[pos] = bad[rng.integers(len(bad))]
    return a


def _run_against_reference(env: CoDesignVectorEnv, ref: SyncVectorEnv, steps: int, seed: int,
                           bad_every: int = 2) -> None:
    assert env.single_observation_space == ref.single_observation_space
    assert env.observation_space == ref.observation_space
    assert env.single_action_space == ref.single_action_space
    assert env.action_space == ref.action_space
    obs, info = env.reset(seed=seed)
    ref_obs, ref_info = ref.reset(seed=seed)
    assert data_equivalence(obs, ref_obs, exact=True) and info == ref_info == {}
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    for t in range(steps):
        action = env.action_space.sample()
        if t % bad_every == 0:
            action = _with_bad_entries(rng, action, env.action_kind)
        _assert_same_step(env.step(action), ref.step(action), f"step {t}")
    assert env.bad_actions_total == sum(e.unwrapped.bad_actions_total for e in ref.envs)


# ---------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(("space", "seed"), [("haq", 0), ("haq", 1), ("n3h", 2), ("n3h", 3)])
def test_equals_independent_envs_given_the_same_actions(form: str, action: str, space: str,
                                                        seed: int) -> None:
    problem = _problem(space)  # n3h: hardware knobs with 3 to 6 choices, bit knobs with 7
    env = CoDesignVectorEnv(problem, N, form=form, action=action)
    ref = _reference(problem, N, form=form, action=action)
    steps = 6 if form == "oneshot" else 2 * env.episode_length + 3
    _run_against_reference(env, ref, steps, seed)
    assert env.bad_actions_total > 0


def _budget_between_cheapest_and_reference(problem: Problem) -> float:
    return 0.5 * (problem.cheapest()["latency_ms"] + problem.reference_latency_ms)


@pytest.mark.parametrize(("mode", "form"), [("clamp", "sequential"), ("clamp", "oneshot"),
                                            ("repair", "oneshot"), ("repair", "sequential")])
def test_constraint_modes_equal_independent_envs(mode: str, form: str) -> None:
    budget = _budget_between_cheapest_and_reference(_problem())
    problem = _problem(mode=mode, latency_budget_ms=budget)
    env = CoDesignVectorEnv(problem, 3, form=form, action="box")
    ref = _reference(problem, 3, form=form, action="box")
    steps = 4 if form == "oneshot" else env.episode_length + 2
    _run_against_reference(env, ref, steps, seed=7, bad_every=3)
    if mode == "clamp" and form == "sequential":
        assert env.layout[-1] == "latency_floor"


def test_violations_of_designs_that_do_not_fit_are_named_as_a_single_env_names_them() -> None:
    problem = make_problem("resnet20", "n3h-pynq-z2", "n3h")
    env = CoDesignVectorEnv(problem, 2, form="oneshot", action="discrete")
    ref = _reference(problem, 2, form="oneshot", action="discrete")
    x = np.full((2, len(problem.space)), 3, dtype=np.int64)
    hw = [j for j, k in enumerate(problem.space.knobs) if k.layer is None]
    x[0, hw] = problem.space.nvec[hw] - 1  # the biggest cores on the smallest board
    env.reset()
    ref.reset()
    ours = env.step(x)
    _assert_same_step(ours, ref.step(x), "step")
    final = ours[4]["final_info"]
    assert not final["fits"][0] and ours[1][0] < -2
    assert any(v.startswith("LUT") for v in final["violations"][0])
    assert final["violations"][0] == problem.evaluate(x[0])["violations"]


# ---------------------------------------------------------------------------- one batch call


def _counting(problem: Problem) -> tuple[Callable[[Any], BatchEvaluation], list[int]]:
    calls: list[int] = []

    def evaluate(X: Any) -> BatchEvaluation:
        calls.append(len(X))
        return problem.evaluate_batch(X)

    return evaluate, calls


def test_each_batch_of_finished_designs_is_one_evaluate_call() -> None:
    problem = _problem()
    evaluate, calls = _counting(problem)
    one = CoDesignVectorEnv(problem, 5, form="oneshot", evaluate=evaluate)
    one.reset()
    for _ in range(3):
        one.step(one.action_space.sample())
    assert calls == [5, 5, 5]
    evaluate, calls = _counting(problem)
    seq = CoDesignVectorEnv(problem, 5, form="sequential", evaluate=evaluate)
    seq.reset()
    for _ in range(seq.episode_length - 1):
        seq.step(seq.action_space.sample())
    assert calls == []
    seq.step(seq.action_space.sample())
    assert calls == [5]


def test_an_evaluation_budget_counts_every_design_and_stops_the_env() -> None:
    problem = _fresh_problem()
    budget = EvaluationBudget(problem, 10)
    env = CoDesignVectorEnv(problem, N, form="oneshot", evaluate=budget)
    env.reset(seed=0)
    best = -np.inf
    for _ in range(2):
        _, rewards, _, _, _ = env.step(env.action_space.sample())
        best = max(best, float(rewards.max()))
    assert budget.used == problem.evaluations == 8
    assert budget.best_reward == best
    with pytest.raises(BudgetExhausted, match="2 of 4"):
        env.step(env.action_space.sample())
    assert budget.used == 10 and budget.remaining == 0
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step(env.action_space.sample())
    env.reset()
    with pytest.raises(BudgetExhausted):
        env.step(env.action_space.sample())


# ---------------------------------------------------------------------------- autoreset, info


def test_sequential_episodes_end_together_and_reset_in_the_same_step() -> None:
    env = CoDesignVectorEnv(_problem(), N, form="sequential", action="discrete")
    assert env.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    first, _ = env.reset(seed=0)
    length = env.episode_length
    assert length == len(env.space)
    for episode in range(2):
        for j in range(length):
            obs, rewards, terminated, truncated, info = env.step(env.action_space.sample())
            assert not truncated.any()
            if j < length - 1:
                assert not terminated.any() and (rewards == 0).all()
                assert np.allclose(obs[:, STEP_COL], (j + 1) / length)
                assert set(info) == {"bad_actions", "_bad_actions"}
            else:
                assert terminated.all(), episode
                assert np.array_equal(obs, first)  # already the next episode's start
                assert info["_final_obs"].all() and info["final_obs"].dtype == object
                assert all(o[STEP_COL] == 1.0 for o in info["final_obs"])
                assert np.array_equal(rewards, info["final_info"]["reward"])


def test_oneshot_episodes_end_and_reset_every_step() -> None:
    env = CoDesignVectorEnv(_problem(), N, form="oneshot")
    first, _ = env.reset()
    for _ in range(3):
        obs, rewards, terminated, truncated, info = env.step(env.action_space.sample())
        assert terminated.all() and not truncated.any()
        assert np.array_equal(obs, first)
        assert np.isfinite(rewards).all()
        assert set(info) == {"final_obs", "_final_obs", "final_info", "_final_info"}


def test_final_info_is_a_dict_of_arrays_with_masks() -> None:
    problem = _problem()
    env = CoDesignVectorEnv(problem, N, form="oneshot", action="discrete")
    env.reset()
    action = env.action_space.sample()
    action[1, 0] = -1  # one bad entry in sub-environment 1
    _, rewards, _, _, info = env.step(action)
    final = info["final_info"]
    keys = ("x", "latency_ms", "accuracy", "accuracy_drop", "max_utilisation", "fits",
            "feasible", "reward", "violations", "bad_actions")
    assert set(final) == set(keys) | {f"_{k}" for k in keys}
    for key in keys:
        assert final[f"_{key}"].dtype == np.bool_ and final[f"_{key}"].all()
    assert final["x"].shape == (N, len(problem.space)) and final["x"].dtype == np.int64
    assert final["bad_actions"].tolist() == [0, 1, 0, 0]
    assert final["latency_ms"].dtype == np.float64 and final["feasible"].dtype == np.bool_
    assert np.array_equal(final["reward"], rewards)
    for i in range(N):
        expected = problem.evaluate(final["x"][i])
        assert final["violations"][i] == expected["violations"]
        assert bool(final["violations"][i]) != final["feasible"][i]
        assert final["latency_ms"][i] == expected["latency_ms"]
    quiet = CoDesignVectorEnv(problem, N, form="oneshot", name_violations=False)
    quiet.reset()
    assert "violations" not in quiet.step(quiet.action_space.sample())[4]["final_info"]


def test_gymnasium_episode_statistics_wrapper_reads_same_step_autoreset() -> None:
    env = RecordEpisodeStatistics(CoDesignVectorEnv(_problem(), N, form="sequential"))
    env.reset(seed=0)
    for _ in range(env.unwrapped.episode_length):
        _, rewards, _, _, info = env.step(env.action_space.sample())
    assert info["_episode"].all()
    assert (info["episode"]["l"] == env.unwrapped.episode_length).all()
    assert np.array_equal(info["episode"]["r"], rewards)


def test_make_vec_through_a_vector_entry_point() -> None:
    env_id = "codesign-test/VecMixedPrecision-v0"
    gymnasium.register(id=env_id, entry_point="rl_search.env:CoDesignEnv",
                       vector_entry_point="rl_search.vec_env:CoDesignVectorEnv",
                       kwargs={"space": "haq", "workload": "resnet20", "target": "n3h-zcu102"})
    try:
        env = gymnasium.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point",
                                 form="oneshot")
        ref = gymnasium.make_vec(env_id, num_envs=3, vectorization_mode="sync", form="oneshot",
                                 vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})
        assert isinstance(env, CoDesignVectorEnv) and env.num_envs == 3
        assert env.spec is not None and env.spec.id == env_id
        _run_against_reference(env, ref, steps=3, seed=0)  # type: ignore[arg-type]
    finally:
        del gymnasium.registry[env_id]


# ---------------------------------------------------------------------------- API contract


def test_vector_api_contract() -> None:
    env = CoDesignVectorEnv(_problem(), N, form="sequential", action="box")
    assert isinstance(env, VectorEnv) and env.num_envs == N and env.unwrapped is env
    assert env.observation_space.shape == (N, *env.single_observation_space.shape)
    assert env.action_space.shape == (N, 1)
    obs, _ = env.reset(seed=3)
    assert env.np_random_seed == 3
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    kept = obs.copy()
    for _ in range(env.episode_length + 2):
        obs2, rewards, terminated, truncated, _ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs2)
        assert rewards.dtype == np.float64 and rewards.shape == (N,)
        assert terminated.dtype == truncated.dtype == np.bool_
        assert terminated.shape == truncated.shape == (N,)
    assert np.array_equal(obs, kept)  # returned arrays are not reused
    # the same seed and actions give the same everything
    runs = []
    for _ in range(2):
        e = CoDesignVectorEnv(_problem(), N, form="oneshot", action="box")
        e.action_space.seed(5)
        out = [e.reset(seed=5)]
        out += [e.step(e.action_space.sample()) for _ in range(3)]
        runs.append(out)
    assert data_equivalence(runs[0], runs[1], exact=True)
    env.close()
    env.close()
    assert env.closed
    with pytest.raises(gymnasium.error.ClosedEnvironmentError):
        env.step(env.action_space.sample())


def test_partial_resets_follow_the_reset_mask_when_lockstep_allows() -> None:
    one = CoDesignVectorEnv(_problem(), N, form="oneshot")
    one.reset()
    action = np.zeros(one.action_space.shape)
    action[:, 0] = np.nan
    one.step(action)
    obs, info = one.reset(options={"reset_mask": np.array([True, False, True, False])})
    assert obs.shape == (N, len(one.space)) and info == {}
    assert one.bad_actions_total == N
    seq = CoDesignVectorEnv(_problem(), N, form="sequential")
    seq.reset(options={"reset_mask": np.array([True, False, False, False])})  # between episodes
    seq.step(seq.action_space.sample())
    with pytest.raises(CodesignError, match="lockstep"):
        seq.reset(options={"reset_mask": np.array([True, False, False, False])})
    seq.reset(options={"reset_mask": np.ones(N, dtype=bool)})
    with pytest.raises(CodesignError, match="bool array"):
        seq.reset(options={"reset_mask": np.ones(N, dtype=int)})


def test_bad_input_raises_codesign_errors() -> None:
    problem = _problem()
    one = CoDesignVectorEnv(problem, N, form="oneshot")
    one.reset()
    n_knobs = len(problem.space)
    for shape in [(N, n_knobs - 1), (N - 1, n_knobs), (n_knobs,), (N, n_knobs, 1)]:
        with pytest.raises(CodesignError, match=r"one-shot actions have shape"):
            one.step(np.zeros(shape))
    with pytest.raises(CodesignError, match="numeric"):
        one.step([["a"] * n_knobs] * N)
    seq = CoDesignVectorEnv(problem, N, form="sequential", action="discrete")
    seq.reset()
    for shape in [(N, 2), (N + 1,), (1,), ()]:
        with pytest.raises(CodesignError, match="sequential actions have shape"):
            seq.step(np.zeros(shape))
    for num_envs in (0, -1, 2.5, True, "4"):
        with pytest.raises(CodesignError, match="num_envs"):
            CoDesignVectorEnv(problem, num_envs)  # type: ignore[arg-type]
    with pytest.raises(CodesignError, match="form"):
        CoDesignVectorEnv(problem, 2, form="batch")
    with pytest.raises(CodesignError, match="action"):
        CoDesignVectorEnv(problem, 2, action="gaussian")
    with pytest.raises(CodesignError, match="not both"):
        CoDesignVectorEnv(problem, 2, space="haq")
    with pytest.raises(CodesignError, match="one per sub-environment"):
        seq.reset(seed=[1, 2])
    by_name = CoDesignVectorEnv(num_envs=2, workload="resnet20", space="haq", form="oneshot")
    assert len(by_name.space) == n_knobs


def test_importing_the_module_does_not_import_sb3() -> None:
    code = ("import sys, rl_search.vec_env; "
            "print(any(m.split('.')[0] in ('stable_baselines3', 'torch') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_measure_rate_reports_designs_per_second() -> None:
    for form in FORMS:
        assert measure_rate(4, 2, problem=_problem(), form=form) > 0


# ---------------------------------------------------------------------------- SB3 adapter


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("action", ACTIONS)
def test_sb3_adapter_equals_dummy_vec_env(form: str, action: str) -> None:
    problem = _problem()
    ours = SB3VecEnv(CoDesignVectorEnv(problem, N, form=form, action=action))
    ref = DummyVecEnv([partial(CoDesignEnv, problem, form=form, action=action)
                       for _ in range(N)])
    assert ours.observation_space == ref.observation_space
    assert ours.action_space == ref.action_space
    obs = ours.reset()
    assert obs.shape == (N, *ours.observation_space.shape)
    assert np.array_equal(obs, ref.reset())
    ours.action_space.seed(0)
    rng = np.random.default_rng(0)
    length = 1 if form == "oneshot" else len(problem.space)
    for t in range(length + 2):
        actions = np.stack([ours.action_space.sample() for _ in range(N)])
        if t % 2 == 0:
            actions = _with_bad_entries(rng, actions, action)
        got, want = ours.step(actions), ref.step(actions)
        for name, a, b in zip(("obs", "rewards", "dones", "infos"), got, want, strict=True):
            assert data_equivalence(a, b, exact=True), f"step {t}: {name}:\n{a}\n{b}"
        assert data_equivalence(ours.reset_infos, ref.reset_infos, exact=True)
    assert ours.bad_actions_total == sum(e.bad_actions_total for e in ref.envs)  # type: ignore[attr-defined]


def test_sb3_adapter_passes_vec_check_nan_and_the_vec_env_methods() -> None:
    env = VecCheckNan(SB3VecEnv(_problem(), num_envs=N, form="oneshot"), raise_exception=True)
    obs = env.reset()
    assert obs.shape == (N, len(_problem().space))
    for _ in range(3):
        obs, rewards, dones, infos = env.step(
            np.stack([env.action_space.sample() for _ in range(N)]))
        assert dones.all() and len(infos) == N and rewards.dtype == np.float32
        assert all("terminal_observation" in i and "latency_ms" in i for i in infos)
    with pytest.raises(ValueError, match="nan"):
        env.step(np.full((N, len(_problem().space)), np.nan, dtype=np.float32))

    inner = env.venv
    assert isinstance(inner, SB3VecEnv)
    assert inner.get_attr("form") == ["oneshot"] * N
    assert inner.get_attr("form", indices=[1, 2]) == ["oneshot"] * 2
    assert inner.env_is_wrapped(Monitor) == [False] * N
    inner.set_attr("name_violations", False)
    assert inner.venv.name_violations is False
    with pytest.raises(CodesignError, match="every sub-environment"):
        inner.set_attr("name_violations", True, indices=[0])
    assert inner.env_method("reset", seed=9)[0][1] == {}
    assert inner.seed(11) == [11 + i for i in range(N)]
    inner.reset()
    assert inner.venv.np_random_seed == 11
    with pytest.raises(CodesignError, match="step_async"):
        inner.step_wait()
    with pytest.raises(CodesignError, match="not both"):
        SB3VecEnv(CoDesignVectorEnv(_problem(), 2), form="oneshot")
    env.close()
    assert inner.venv.closed


@pytest.mark.parametrize(("form", "action", "num_envs", "n_steps"),
                         [("oneshot", "box", 8, 16), ("sequential", "discrete", 4, 64)])
def test_ppo_learns_on_the_sb3_adapter(form: str, action: str, num_envs: int,
                                       n_steps: int) -> None:
    problem = _fresh_problem()
    budget = EvaluationBudget(problem, 1000)
    env = SB3VecEnv(problem, num_envs=num_envs, form=form, action=action, evaluate=budget)
    with deterministic_torch():
        model = PPO("MlpPolicy", env, n_steps=n_steps, batch_size=32, n_epochs=1, gamma=1.0,
                    seed=0, device="cpu", verbose=0)
        model.learn(256)
    assert model.num_timesteps == 256
    per_env = n_steps if form == "oneshot" else n_steps // len(problem.space)
    assert budget.used == num_envs * per_env * (256 // (num_envs * n_steps))
    assert np.isfinite(budget.best_reward)
