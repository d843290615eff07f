"""Search quality at equal budgets: every searcher, several seeds, N3H-Core's design space.

For each workload (zoo, so the accuracy oracle is the weight-free *prior*: every accuracy here is
top-1 predicted from published results, not a measurement: ``--oracle prior`` after
quantisation-aware fine-tuning, the default, or ``prior:ptq``) and the ``n3h`` space on one
board, each
searcher gets the same number of design evaluations per seed. Reported: the best feasible
latency at the accuracy-drop budget (mean, standard deviation, best and worst over seeds, and
how many seeds found a feasible design), beside the best uniform-precision design (W=A=b for
the middle layers, first and last W8A8, base cores, balance splits) as a reference. ArchGym's
lesson (REFERENCE.md section 3) is why this compares at equal budgets over seeds.

Run: ``python benchmarks/bench_search_quality.py [--budget 2000 --seeds 5 --out results.json]``
SB3 agents run the env's ``--sb3-form`` (sequential: one decision per knob, as HAQ/N3H-Core;
oneshot: the whole design as one action); ``ppo-mutate`` runs its own mutation env
(:mod:`rl_search.mutate_env`). ``--space`` takes several presets (``n3h,haq``). For the agents
the table adds env steps per second (steps taken / wall time of the seeds).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass

import numpy as np
from _common import parse_args

from rl_search.accuracy.units import accuracy_label, drop_to_fraction
from rl_search.factory import make_problem
from rl_search.problem import Objective
from rl_search.searchers.base import EvaluationBudget
from rl_search.searchers.exhaustive import dp_optimum_proxy
from rl_search.searchers.registry import make_searcher


@dataclass
class Args:
    workloads: str = "resnet18,mobilenetv2"
    """comma-separated zoo workloads"""
    target: str = "n3h-zcu102"
    """heterogeneous FPGA preset"""
    space: str = "n3h"
    """design space preset(s), comma-separated (n3h,haq)"""
    searchers: str = "random,genetic,greedy,ppo,a2c,sac,td3,ddpg,ddpg-haq"
    """comma-separated searcher names"""
    budget: int = 2000
    """design evaluations per searcher and seed"""
    seeds: int = 5
    """seeds per searcher"""
    max_accuracy_drop: float = 1.0
    """accuracy-drop budget in top-1 points (the prior's unit)"""
    oracle: str = "prior"
    """accuracy oracle: prior (= prior:qat) or prior:ptq"""
    sb3_form: str = "oneshot"
    """env form for the SB3 agents"""
    out: str = ""
    """optional JSON file for the raw results"""


args = parse_args(Args, __doc__)
SB3 = {"ppo", "a2c", "sac", "td3", "ddpg", "ddpg-haq"}  # take --sb3-form

print(f"machine: {platform.platform()}, {platform.machine()}, python "
      f"{platform.python_version()}")
print(f"space {args.space} on {args.target}; budget {args.budget} evaluations x {args.seeds} "
      f"seeds; accuracy-drop budget {args.max_accuracy_drop:g} points of top-1; "
      f"{accuracy_label(args.oracle)}")
results: dict[str, dict[str, list[float]]] = {}
objective = Objective(minimise="latency",
                      max_accuracy_drop=drop_to_fraction(args.max_accuracy_drop, args.oracle))
start_all = time.perf_counter()
for space in args.space.split(","):
    for wl in args.workloads.split(","):
        problem = make_problem(wl, args.target, space, oracle=args.oracle, objective=objective)
        # Reference: uniform precision on the base cores, balance splits.
        uni = make_problem(wl, args.target, "haq", oracle=args.oracle, objective=objective)
        uniform_rows = []
        for b in range(2, 9):
            x = np.array([list(k.choices).index(b) for k in uni.space.knobs])
            ev = uni.evaluate_batch(x[None, :])
            uniform_rows.append((b, float(ev.latency_ms[0]), float(ev.accuracy_drop[0]),
                                 bool(ev.feasible[0])))
        feasible_uniform = [r for r in uniform_rows if r[3]]
        best_uniform = min(feasible_uniform, key=lambda r: r[1]) if feasible_uniform else None
        # Optimum on the base cores (the haq space is the n3h space with the hardware knobs fixed
        # at the preset's cores): the proxy's accuracy is a monotone function of an additive score,
        # so a DP over layers finds it (to within n_layers grid steps of the drop budget).
        dp = dp_optimum_proxy(uni)
        print(f"\n{wl}, {space} space: reference all-8-bit latency "
              f"{problem.reference_latency_ms:.2f} ms")
        print(f"  DP optimum on the base cores (an upper bound of the n3h optimum): "
              f"{dp.latency_ms:.2f} ms, drop {100 * dp.accuracy_drop:.2f} points")
        print("  uniform precision (base cores): " + ", ".join(
            f"W{b}A{b} {lat:.1f} ms drop {100 * drop:.2f} pts{'' if ok else ' (over budget)'}"
            for b, lat, drop, ok in uniform_rows))
        header = (f"  {'searcher':<10} {'mean ms':>9} {'std':>7} {'best':>8} {'worst':>8} "
                  f"{'feasible seeds':>14} {'vs uniform':>10} {'vs DP':>6} {'time s':>7} "
                  f"{'steps/s':>9}")
        print(header)
        results[f"{wl}/{space}"] = {}
        for name in args.searchers.split(","):
            lat: list[float] = []
            steps = 0
            t0 = time.perf_counter()
            for seed in range(args.seeds):
                best = [np.inf]

                def evaluate(X, best=best, problem=problem):
                    ev = problem.evaluate_batch(X)
                    ok = ev.feasible
                    if ok.any():
                        best[0] = min(best[0], float(ev.latency_ms[ok].min()))
                    return ev

                opts = {"form": args.sb3_form} if name in SB3 else {}
                searcher = make_searcher(name, seed, **opts)
                searcher.run(problem, EvaluationBudget(problem, args.budget, evaluate))
                lat.append(best[0])
                model = getattr(searcher, "model", None)
                steps += int(getattr(model, "num_timesteps", 0) or 0)
            dt = time.perf_counter() - t0
            results[f"{wl}/{space}"][name] = lat
            found = np.array([v for v in lat if np.isfinite(v)])
            if found.size:
                ratio = (f"{best_uniform[1] / found.mean():.2f}x" if best_uniform else "-")
                vs_dp = f"{dp.latency_ms / found.mean():.2f}x"
                rate = f"{steps / dt:,.0f}" if steps else "-"
                genetic = [v for v in results[f"{wl}/{space}"].get("genetic", []) if np.isfinite(v)]
                vs_gen = (f"  {found.mean() / np.mean(genetic):.3f}x genetic's mean"
                          if genetic and name != "genetic" else "")
                print(f"  {name:<10} {found.mean():9.2f} {found.std():7.2f} {found.min():8.2f} "
                      f"{found.max():8.2f} {found.size:>8}/{args.seeds:<5} {ratio:>10} {vs_dp:>6} "
                      f"{dt:7.1f} {rate:>9}{vs_gen}")
            else:
                print(f"  {name:<10} {'none feasible':>9} {'':>7} {'':>8} {'':>8} "
                      f"{0:>8}/{args.seeds:<5} {'-':>10} {'-':>6} {dt:7.1f}")
print(f"\ntotal {time.perf_counter() - start_all:.0f} s")
if args.out:
    with open(args.out, "w") as fh:
        json.dump({"args": vars(args), "latency_ms": results}, fh, indent=1,
                  default=lambda v: None)
