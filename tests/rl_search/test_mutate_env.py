"""The mutation environment and the ppo-mutate agent (issue 13): the env's semantics against
hand computations through the problem, Gymnasium's checker, the shared budget, and training /
transfer through the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from hwsim.errors import CodesignError
from rl_search.factory import make_problem
from rl_search.mutate_env import (
    ACTIONS,
    KEEP,
    OBSERVATION,
    MutationEnv,
    shared_incumbent,
    standing,
    start_incumbent,
)
from rl_search.problem import Objective
from rl_search.searchers.base import EvaluationBudget
from rl_search.searchers.registry import make_searcher

OBJ = Objective(minimise="latency", max_accuracy_drop=0.01)


@pytest.fixture(scope="module")
def problem():  # type: ignore[no-untyped-def]
    return make_problem("resnet20", "n3h-zcu102", "haq", oracle="prior", objective=OBJ)


def test_check_env_and_observation_columns(problem) -> None:  # type: ignore[no-untyped-def]
    budget = EvaluationBudget(problem, 50)
    env = MutationEnv(problem, start_incumbent(problem, budget), budget)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (len(OBSERVATION),) and obs.dtype == np.float32
    assert env.action_space.n == len(ACTIONS) == 3


def test_one_episode_is_one_child_of_the_incumbent(problem) -> None:  # type: ignore[no-untyped-def]
    """Down on knob 0, up on knob 1 (already at its top: clipped), keep elsewhere: the child is
    the incumbent with knob 0 one choice lower, evaluated once; the reward is its gain in the
    problem's reward over the parent, floored; a better child becomes the incumbent."""
    budget = EvaluationBudget(problem, 10)
    inc = start_incumbent(problem, budget)
    assert budget.used == 1 and math.isfinite(inc.reward)
    parent, parent_reward = inc.x.copy(), inc.reward
    assert parent[1] == problem.space.nvec[1] - 1  # the highest-precision start
    env = MutationEnv(problem, inc, budget, reward_floor=-0.05)
    env.reset(seed=0)
    actions = [KEEP] * len(problem.space)
    actions[0], actions[1] = 0, 2
    for j, a in enumerate(actions):
        _, reward, term, trunc, info = env.step(a)
        assert term == (j == len(actions) - 1) and not trunc
        if not term:
            assert reward == 0.0
    child = parent.copy()
    child[0] -= 1
    want = problem.evaluate_batch(child[None, :])
    assert info["x"] == child.tolist() and budget.used == 2
    gain = float(want.reward[0]) - parent_reward
    assert reward == pytest.approx(max(gain, -0.05), abs=0.0)
    assert (inc.x.tolist() == child.tolist()) == (gain > 0)
    assert info["changed"] == 1


def test_a_worse_child_is_floored_and_leaves_the_incumbent(problem) -> None:  # type: ignore[no-untyped-def]
    """Every knob down twice over two episodes from the top: the W2A2-ish child breaks the
    accuracy budget; its reward is the floor, not its (much lower) gain."""
    budget = EvaluationBudget(problem, 10)
    inc = start_incumbent(problem, budget)
    env = MutationEnv(problem, inc, budget, reward_floor=-0.01)
    start = inc.x.copy()
    inc.x[:] = 1  # pretend the incumbent is at the second-lowest choice everywhere
    env.reset(seed=0)
    for _ in range(len(problem.space)):
        _, reward, _, _, info = env.step(0)
    assert not info["feasible"] and reward == -0.01
    assert inc.x.tolist() == [1] * len(problem.space)  # not replaced by a worse child
    del start


def test_budget_spent_truncates_without_evaluating(problem) -> None:  # type: ignore[no-untyped-def]
    budget = EvaluationBudget(problem, 1)
    inc = start_incumbent(problem, budget)
    env = MutationEnv(problem, inc, budget)
    env.reset(seed=0)
    for _ in range(len(problem.space)):
        _, reward, term, trunc, info = env.step(0)
    assert trunc and not term and reward == 0.0 and info == {"budget_spent": True}
    assert budget.used == 1


def test_an_unchanged_child_costs_nothing_when_skipped(problem) -> None:  # type: ignore[no-untyped-def]
    """With ``skip_unchanged`` (a frozen policy), keep on every knob (or up at the ceiling,
    clipped): the child is its parent, so it is not evaluated; the episode ends with reward 0.
    Without it, the same episode is evaluated (a learning policy needs its zero gain)."""
    budget = EvaluationBudget(problem, 5)
    inc = start_incumbent(problem, budget)
    env = MutationEnv(problem, inc, budget, skip_unchanged=True)
    for first in (KEEP, 2):  # knob 0 starts at its top: "up" is clipped to no move
        env.reset(seed=0)
        for j in range(len(problem.space)):
            _, reward, term, trunc, info = env.step(first if j == 0 else KEEP)
        assert term and not trunc and reward == 0.0
        assert info == {"unchanged": True, "changed": 0}
    assert budget.used == 1 and inc.unchanged == 2
    env = MutationEnv(problem, inc, budget)
    env.reset(seed=0)
    for _ in range(len(problem.space)):
        _, reward, term, _, info = env.step(KEEP)
    assert term and budget.used == 2 and info["changed"] == 0


def test_bad_actions_and_floor_are_refused(problem) -> None:  # type: ignore[no-untyped-def]
    inc = shared_incumbent(problem)
    with pytest.raises(CodesignError, match="reward_floor"):
        MutationEnv(problem, inc, reward_floor=0.5)
    env = MutationEnv(problem, inc)
    env.reset(seed=0)
    with pytest.raises(CodesignError, match="0 \\(down\\), 1 \\(keep\\) or 2 \\(up\\)"):
        env.step(3)


def test_standing_slack_and_latency(problem) -> None:  # type: ignore[no-untyped-def]
    x = shared_incumbent(problem).x
    ev = problem.evaluate_batch(x[None, :])
    slack, lat = standing(problem, ev)
    assert slack == pytest.approx((0.01 - float(ev.accuracy_drop[0])) / 0.01)
    assert lat == pytest.approx(float(ev.latency_ms[0]) / problem.reference_latency_ms)


def test_observation_is_network_independent() -> None:
    """The same columns on networks of different depths and layer kinds (transfer)."""
    shapes = set()
    for name in ("resnet20", "mobilenetv2"):
        p = make_problem(name, "n3h-zcu102", "haq", oracle="prior", objective=OBJ)
        env = MutationEnv(p, shared_incumbent(p))
        shapes.add(env.reset(seed=0)[0].shape)
    assert shapes == {(len(OBSERVATION),)}


@pytest.mark.slow
def test_ppo_mutate_spends_exactly_its_budget_and_beats_random(problem) -> None:  # type: ignore[no-untyped-def]
    """At 1,000 evaluations on ResNet-20 (haq, 1 point of top-1), ppo-mutate uses the budget
    exactly and finds a faster feasible design than random search on the same seeds (measured
    when written, ms: ppo-mutate 1.459 and 1.348, random 1.604 and 1.624; at 300 evaluations
    the climb from the 8-bit start is not done and random search wins)."""
    lat: dict[str, list[float]] = {}
    for name in ("ppo-mutate", "random"):
        lat[name] = []
        for seed in (0, 1):
            budget = EvaluationBudget(problem, 1000)
            make_searcher(name, seed, **({"n_envs": 4} if name == "ppo-mutate" else {})).run(
                problem, budget)
            assert budget.used == 1000
            assert budget.best_x is not None
            ev = problem.evaluate_batch(budget.best_x[None, :])
            assert ev.feasible[0]
            lat[name].append(float(ev.latency_ms[0]))
    assert max(lat["ppo-mutate"]) < min(lat["random"]), lat


def test_ppo_mutate_refuses_env_options() -> None:
    with pytest.raises(CodesignError, match="mutation env"):
        make_searcher("ppo-mutate", 0, form="oneshot")
    with pytest.raises(CodesignError, match="n_envs"):
        make_searcher("ppo-mutate", 0, n_envs=0)


@pytest.mark.slow
def test_train_then_propose_through_the_cli(tmp_path: Path) -> None:
    """``codesign train --algo ppo-mutate --workloads ...`` writes the agent, its sidecar with
    the learning curve and steps/s, the curve's PNG and SB3's CSV scalars; ``--propose`` runs it
    zero-shot and fine-tuned on a network it never saw; a classic agent's options are refused."""
    agent = tmp_path / "agent.zip"
    cmd = [sys.executable, "-m", "rl_search.cli", "train", "--algo", "ppo-mutate",
           "--workloads", "resnet20,vgg16", "--space", "haq", "--searches", "2",
           "--evaluations", "24", "--out", str(agent), "--no-progress"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    meta = json.loads(agent.with_suffix(".json").read_text())
    assert [r["workload"] for r in meta["curve"]] == ["resnet20", "vgg16"]
    assert meta["env_steps_per_second"] > 0 and meta["space"] == "haq"
    doc = (Path(__file__).resolve().parents[2] / "docs" / "file-formats.md").read_text()
    example = json.loads(doc.split("### Mutation agents")[1].split("```json\n")[1].split("```")[0])
    assert set(example) == set(meta) and example["observation"] == meta["observation"]
    assert set(example["curve"][0]) == set(meta["curve"][0])
    assert agent.with_suffix(".png").stat().st_size > 0
    assert "search/best_latency_ratio" in (tmp_path / "agent_log" / "progress.csv").read_text()
    for extra in ([], ["--finetune", "12"]):
        out = subprocess.run([sys.executable, "-m", "rl_search.cli", "train", "--propose",
                              str(agent), "--workload", "resnet18", "--evaluations", "12",
                              *(["--evaluations", "12"] if not extra else []), *extra],
                             capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert out.returncode == 0, out.stderr
        assert ("fine-tuned on 12" if extra else "zero-shot (policy frozen) on 12") in out.stdout
    bad = subprocess.run([sys.executable, "-m", "rl_search.cli", "train", "--algo", "ppo",
                          "--workloads", "resnet20,vgg16"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)
    assert bad.returncode != 0 and "--workloads applies to --algo ppo-mutate" in bad.stderr


@pytest.mark.slow
def test_an_interrupted_ppo_mutate_run_resumes_on_the_same_path(tmp_path: Path) -> None:
    """A ppo-mutate run cut after 25 of 50 evaluations (the log truncated, as a kill leaves
    it) resumes through the replayed log and ends with the uninterrupted run's evaluations."""
    from rl_search.runner import RunConfig, explore

    config = RunConfig(workload="resnet20", target="n3h-zcu102", space="haq",
                       searcher="ppo-mutate", searcher_options={"n_envs": 4}, budget=50, seed=3)
    straight = explore(config, tmp_path / "straight", progress=False).run_dir
    cut = tmp_path / "cut"
    explore(config, cut, progress=False)
    log = (cut / "evaluations.jsonl").read_text().splitlines(keepends=True)
    (cut / "evaluations.jsonl").write_text("".join(log[:25]))
    explore(RunConfig.load(cut / "config.json"), cut, progress=False, resume=True)

    def xs(run: Path) -> list[list[int]]:
        return [json.loads(line)["x"] for line in (run / "evaluations.jsonl").read_text()
                .splitlines()]

    assert len(xs(cut)) == 50 and xs(cut) == xs(straight)


def test_an_agent_run_reports_its_env_steps_per_second(tmp_path: Path) -> None:
    """An explore run of an SB3 agent writes its env steps and their rate to timing.json (a
    classic searcher's timing has neither)."""
    from rl_search.runner import RunConfig, explore

    for searcher, options in (("ppo-mutate", {"n_envs": 2}), ("random", {})):
        config = RunConfig(workload="resnet20", target="n3h-zcu102", space="haq",
                           searcher=searcher, searcher_options=options, budget=12)
        run = explore(config, tmp_path / searcher, progress=False).run_dir
        timing = json.loads((run / "timing.json").read_text())
        if searcher == "random":
            assert "agent_env_steps" not in timing
        else:  # 12 evaluations: the start, then 11 children of len(space) steps each, or more
            assert timing["agent_env_steps"] >= 11 * 18
            assert timing["agent_env_steps_per_s"] > 0
