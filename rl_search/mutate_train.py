"""Train a mutation-proposing agent on several networks, save it, and let it search a network
it has never seen (zero-shot: the policy frozen; or fine-tuned on the new network's budget).

The agent is :class:`~rl_search.searchers.sb3.PPOMutateSearcher`'s policy. Training runs
``searches`` short searches, each from the highest-precision design of one training network
(taken in turn) with ``evaluations`` evaluations of its own budget, so the policy sees every
phase of a search (far from the accuracy budget, where bold moves pay, and at it, where only
trades do) on every network. The observation describes knobs by their layer's features, never
by index (:data:`rl_search.mutate_env.OBSERVATION`), so one policy applies to every network of
the same space preset.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError
from rl_search.mutate_env import OBSERVATION, start_incumbent
from rl_search.problem import Problem
from rl_search.searchers.base import BudgetExhausted, EvaluationBudget
from rl_search.searchers.registry import make_searcher
from rl_search.searchers.sb3 import PPOMutateSearcher, StopAtBudget, deterministic_torch


def sb3_configure(folder: str, formats: list[str]) -> Any:
    """SB3's logger writing ``formats`` into ``folder`` (imported late: SB3 loads torch)."""
    from stable_baselines3.common.logger import configure

    return configure(folder, formats)

FORMAT = "codesign-mutation-agent"
MAX_STEPS_PER_EVALUATION = 5
"""Episodes a frozen policy may propose per evaluation of its budget: children that move no knob
cost no evaluation there, so a policy that keeps everything must still end."""
FORMAT_VERSION = 1


@dataclass
class SearchResult:
    """One search by a mutation agent: the best point, its reward and latency (NaN when no
    feasible design was found), the evaluations spent, env steps and wall time."""

    x: list[int]
    reward: float
    latency_ms: float
    evaluations: int
    env_steps: int
    seconds: float


def train_mutation_agent(make: Callable[[str], Problem], workloads: Sequence[str], *,
                         searches: int, evaluations: int, seed: int = 0,
                         out_path: str | Path = "agent.zip", meta: Mapping[str, Any] | None = None,
                         progress: Callable[[int, str, float], None] | None = None,
                         **options: Any) -> Path:
    """Train one policy over ``searches`` searches of ``evaluations`` evaluations each, on the
    problems ``make(workload)`` in turn, and save it (SB3 zip + JSON sidecar with ``meta``, the
    learning curve as a PNG beside it, SB3's scalars under :func:`log_dir`). ``searches=0``
    saves the untrained policy (what training adds is measured against it).

    :param progress: called after each search with its index, workload and best latency.
    """
    if not workloads:
        raise CodesignError("train needs at least one workload")
    if searches < 0 or evaluations < 2:
        raise CodesignError(f"searches must be >= 1 and evaluations >= 2, got {searches} and "
                            f"{evaluations}")
    searcher = make_searcher("ppo-mutate", seed, **options)
    assert isinstance(searcher, PPOMutateSearcher)
    model = None
    out = Path(out_path)
    curve: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with deterministic_torch():
        if searches == 0:  # an untrained agent: the keep-biased initial policy, as a baseline
            problem = make(workloads[0])
            budget = EvaluationBudget(problem, 2)
            venv = searcher.mutation_envs(problem, budget, start_incumbent(problem, budget))
            model = searcher.build_mutation_model(venv, len(problem.space))
            model.set_logger(sb3_configure(str(log_dir(out)), ["csv"]))
        for i in range(searches):
            name = workloads[i % len(workloads)]
            problem = make(name)
            budget = EvaluationBudget(problem, evaluations, _FeasibleTracker(problem))
            incumbent = start_incumbent(problem, budget)
            venv = searcher.mutation_envs(problem, budget, incumbent)
            if model is None:
                model = searcher.build_mutation_model(venv, len(problem.space))
                model.set_logger(sb3_configure(str(log_dir(out)), ["csv"]))
            else:
                model.set_env(venv)
            steps_before = int(model.num_timesteps)
            t_search = time.perf_counter()
            try:
                model.learn(evaluations * len(problem.space), callback=StopAtBudget(budget),
                            reset_num_timesteps=False)
            except BudgetExhausted:
                pass
            tracker = budget._evaluate
            assert isinstance(tracker, _FeasibleTracker)
            row = {"search": i, "workload": name, "best_latency_ms": tracker.best_latency,
                   "reference_ms": problem.reference_latency_ms,
                   "improvements": incumbent.improvements,
                   "env_steps": int(model.num_timesteps) - steps_before,
                   "seconds": round(time.perf_counter() - t_search, 2)}
            curve.append(row)
            model.logger.record("search/best_latency_ratio",
                                tracker.best_latency / problem.reference_latency_ms)
            model.logger.record("search/improvements", incumbent.improvements)
            model.logger.dump(int(model.num_timesteps))
            if progress is not None:
                progress(i, name, tracker.best_latency)
    assert model is not None
    seconds = time.perf_counter() - t0
    model.save(out)
    sidecar = {"format": FORMAT, "version": FORMAT_VERSION, "workloads": list(workloads),
               "searches": searches, "evaluations": evaluations, "seed": seed,
               "options": {k: v for k, v in options.items() if k != "start"},
               "observation": OBSERVATION, "env_steps": int(model.num_timesteps),
               "seconds": round(seconds, 1),
               "env_steps_per_second": round(int(model.num_timesteps) / max(seconds, 1e-9)),
               "curve": curve, **dict(meta or {})}
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=1, default=str) + "\n")
    if curve:
        plot_curve(curve, out.with_suffix(".png"))
    return out


def log_dir(agent_path: Path) -> Path:
    """Where SB3's logger writes an agent's training scalars (``progress.csv``)."""
    return agent_path.with_name(agent_path.stem + "_log")


def plot_curve(curve: Sequence[Mapping[str, Any]], path: Path) -> None:
    """The learning curve: each training search's best feasible latency over its workload's
    all-8-bit latency, one line per workload, against the search index."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name in dict.fromkeys(r["workload"] for r in curve):
        rows = [r for r in curve if r["workload"] == name]
        ax.plot([r["search"] for r in rows],
                [r["best_latency_ms"] / r["reference_ms"] for r in rows], marker="o", label=name)
    ax.set_xlabel("training search")
    ax.set_ylabel("best latency / all-8-bit latency")
    ax.set_title("mutation agent: best design of each training search")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def search_with_agent(agent_path: str | Path, problem: Problem, evaluations: int, *,
                      finetune: bool = False, seed: int = 0) -> SearchResult:
    """Search ``problem`` with a saved mutation agent for ``evaluations`` evaluations from its
    highest-precision design: frozen (zero-shot: the policy samples children, nothing is
    learned; children that move no knob are not evaluated, and the search ends after
    :data:`MAX_STEPS_PER_EVALUATION` episodes per evaluation even if the budget is not spent)
    or fine-tuned (PPO keeps learning on this network's evaluations, every child evaluated)."""
    from stable_baselines3 import PPO

    meta_path = Path(agent_path).with_suffix(".json")
    if not Path(agent_path).is_file():
        raise CodesignError(f"{agent_path}: no such agent file")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if meta.get("format") != FORMAT or meta.get("observation") != OBSERVATION:
        raise CodesignError(f"{agent_path}: not a mutation agent of this version ({meta_path} "
                            f"says format {meta.get('format')!r}); train one with "
                            f"`codesign train --algo ppo-mutate`")
    tracker = _FeasibleTracker(problem)
    budget = EvaluationBudget(problem, evaluations, tracker)
    t0 = time.perf_counter()
    with deterministic_torch():
        model = PPO.load(agent_path, device="cpu")
        model.set_random_seed(seed)
        searcher = make_searcher("ppo-mutate", seed, n_envs=model.n_envs)
        assert isinstance(searcher, PPOMutateSearcher)
        incumbent = start_incumbent(problem, budget)
        venv = searcher.mutation_envs(problem, budget, incumbent, skip_unchanged=not finetune)
        steps = 0
        try:
            if finetune:
                model.set_env(venv)
                model.learn(evaluations * len(problem.space), callback=StopAtBudget(budget),
                            reset_num_timesteps=True)
                steps = int(model.num_timesteps)
            else:
                obs = venv.reset()
                cap = MAX_STEPS_PER_EVALUATION * evaluations * len(problem.space)
                while budget.remaining > 0 and steps < cap:
                    actions, _ = model.predict(obs, deterministic=False)
                    obs, _, _, _ = venv.step(actions)
                    steps += venv.num_envs
        except BudgetExhausted:
            pass
    x = budget.best_x if budget.best_x is not None else incumbent.x
    return SearchResult(x=[int(v) for v in x], reward=float(budget.best_reward),
                        latency_ms=tracker.best_latency, evaluations=budget.used,
                        env_steps=steps, seconds=time.perf_counter() - t0)


class _FeasibleTracker:
    """``problem.evaluate_batch`` that remembers the best feasible latency it saw."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.best_latency = float("nan")

    def __call__(self, X: Any) -> Any:
        ev = self.problem.evaluate_batch(X)
        ok = ev.feasible
        if ok.any():
            best = float(ev.latency_ms[ok].min())
            if not best >= self.best_latency:  # NaN (none yet) or lower
                self.best_latency = best
        return ev
