"""Transfer of a mutation agent to networks it has never seen, against the genetic search.

Trains ``ppo-mutate`` (:mod:`rl_search.mutate_train`) over ``--train`` (default ResNet-20,
ResNet-50, VGG-16: neither ResNet-18 nor MobileNetV2) in the ``--space`` preset, then searches
each ``--held-out`` network with ``--evaluations`` evaluations (default 200) from its
highest-precision design, zero-shot (the policy frozen) and fine-tuned (learning on those
evaluations), over ``--seeds`` seeds. Beside them: the same untrained policy (what training
adds), the genetic search at the same budget and at ``--full`` evaluations (default 5,000).
The goal of issue 13: within 10 % of the genetic search's ``--full``-evaluation mean with at
most 200 evaluations.

Run: ``python benchmarks/bench_transfer.py [--space haq --seeds 5 --agent agent.zip]``
(``--agent`` reuses a trained agent instead of training one).
"""

from __future__ import annotations

import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import parse_args

from rl_search.accuracy.units import accuracy_label, drop_to_fraction
from rl_search.factory import make_problem
from rl_search.mutate_train import search_with_agent, train_mutation_agent
from rl_search.problem import Objective
from rl_search.searchers.base import EvaluationBudget
from rl_search.searchers.registry import make_searcher


@dataclass
class Args:
    train: str = "resnet20,resnet50,vgg16"
    """comma-separated training workloads"""
    held_out: str = "resnet18,mobilenetv2"
    """comma-separated workloads the agent never sees in training"""
    target: str = "n3h-zcu102"
    """target preset"""
    space: str = "haq"
    """design space preset"""
    searches: int = 30
    """training searches"""
    train_evaluations: int = 400
    """evaluations per training search"""
    evaluations: int = 200
    """evaluations of each search on a held-out network"""
    full: int = 5000
    """the genetic search's long budget"""
    seeds: int = 5
    """seeds per searcher"""
    max_accuracy_drop: float = 1.0
    """accuracy-drop budget in top-1 points (the prior, qat regime)"""
    agent: str = ""
    """a trained mutation agent to reuse (skips training)"""


args = parse_args(Args, __doc__)
objective = Objective(minimise="latency",
                      max_accuracy_drop=drop_to_fraction(args.max_accuracy_drop, "prior"))


def make(name: str):  # type: ignore[no-untyped-def]
    return make_problem(name, args.target, args.space, oracle="prior", objective=objective)


def best_feasible(problem, searcher_name: str, budget: int, seed: int) -> float:  # type: ignore[no-untyped-def]
    best = [np.inf]

    def evaluate(X):  # type: ignore[no-untyped-def]
        ev = problem.evaluate_batch(X)
        if ev.feasible.any():
            best[0] = min(best[0], float(ev.latency_ms[ev.feasible].min()))
        return ev

    make_searcher(searcher_name, seed).run(problem, EvaluationBudget(problem, budget, evaluate))
    return best[0]


print(f"machine: {platform.platform()}, python {platform.python_version()}")
print(f"space {args.space} on {args.target}; accuracy-drop budget {args.max_accuracy_drop:g} "
      f"points; {accuracy_label('prior')}")
work = Path(tempfile.mkdtemp(prefix="codesign-transfer-"))
train = [w for w in args.train.split(",") if w]
held = [w for w in args.held_out.split(",") if w]
assert not set(train) & set(held), "a held-out workload is in the training set"
t0 = time.perf_counter()
agent = Path(args.agent) if args.agent else train_mutation_agent(
    make, train, searches=args.searches, evaluations=args.train_evaluations,
    out_path=work / "agent.zip")
how = ("given" if args.agent else f"trained on {train}, {args.searches} searches of "
       f"{args.train_evaluations} evaluations, {time.perf_counter() - t0:.0f} s")
print(f"agent: {agent} ({how})")
untrained = train_mutation_agent(make, train, searches=0, evaluations=2,
                                 out_path=work / "untrained.zip")

rows = []
for name in held:
    problem = make(name)
    full = [best_feasible(problem, "genetic", args.full, s) for s in range(args.seeds)]
    goal = 1.10 * float(np.mean(full))
    cells = {"genetic, " + f"{args.full:,}": full,
             f"genetic, {args.evaluations}": [best_feasible(problem, "genetic", args.evaluations, s)
                                              for s in range(args.seeds)]}
    for label, path, finetune in (("untrained policy, frozen", untrained, False),
                                  ("agent zero-shot (frozen)", agent, False),
                                  ("agent fine-tuned", agent, True)):
        t = time.perf_counter()
        cells[f"{label}, {args.evaluations}"] = [
            search_with_agent(path, problem, args.evaluations, finetune=finetune,
                              seed=s).latency_ms for s in range(args.seeds)]
        cells[f"{label}, {args.evaluations}"].append(time.perf_counter() - t)  # wall, popped
    print(f"\n{name} ({args.space} space): goal <= {goal:.2f} ms (1.10 x the genetic search's "
          f"{args.full:,}-evaluation mean)")
    print(f"  {'searcher, evaluations':<38} {'mean ms':>8} {'std':>6} {'best':>7} "
          f"{'worst':>7} {'vs genetic full':>15} {'goal':>5}")
    for label, values in cells.items():
        wall = values.pop() if label.startswith(("untrained", "agent")) else None
        v = np.array(values, dtype=np.float64)
        ratio = float(np.mean(v)) / float(np.mean(full))
        met = "met" if np.mean(v) <= goal else "-"
        print(f"  {label:<38} {np.mean(v):8.2f} {np.std(v):6.2f} {v.min():7.2f} {v.max():7.2f} "
              f"{ratio:14.3f}x {met:>5}" + (f"  ({wall:.0f} s for {args.seeds} seeds)"
                                             if wall is not None else ""))
print(f"\ntotal {time.perf_counter() - t0:.0f} s; files in {work}")
