"""The systolic-array presets on ResNet-18 and MobileNetV2: latency, energy and PE utilisation at
uniform 8 bits on the preset's hardware, and at the best mixed-precision design the genetic
search finds in the ``n3h`` space (the array's hardware knobs, Bit Fusion PEs among them, the
per-layer dataflow and weight / activation bits) within the preset's area budget and the
accuracy-drop budget (top-1 points under the weight-free prior, qat regime).

Run: ``python benchmarks/bench_asic_table.py [--budget 2000 --seed 0 --max-accuracy-drop 1]``.
Prints a markdown table (the README's) with the machine it ran on.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import numpy as np
from _common import cpu_model, parse_args

import cost_models as cm
from rl_search.accuracy.units import drop_to_fraction
from rl_search.factory import make_problem
from rl_search.problem import Objective
from rl_search.searchers.base import EvaluationBudget
from rl_search.searchers.registry import make_searcher


@dataclass
class Args:
    workloads: str = "resnet18,mobilenetv2"
    """comma-separated zoo workloads"""
    targets: str = "systolic-32x32,tpu-v1-like,eyeriss-like"
    """comma-separated systolic-array presets"""
    budget: int = 2000
    """design evaluations of each genetic search"""
    seed: int = 0
    """seed of the genetic search"""
    max_accuracy_drop: float = 1.0
    """accuracy-drop budget, top-1 points"""


args = parse_args(Args, __doc__)
print(f"machine: {cpu_model()}, {platform.platform()}, python {platform.python_version()}")
print(f"genetic search, n3h space, {args.budget} evaluations, seed {args.seed}, accuracy-drop "
      f"budget {args.max_accuracy_drop:g} points (prior, qat)\n")


def describe(report: cm.CostReport, drop: float | None) -> tuple[str, ...]:
    util = sum(layer.details["pe_utilisation"] * layer.cycles for layer in report.layers)
    return (f"{report.latency_ms:,.3f}", f"{(report.energy_pj or 0.0) / 1e6:,.1f}",
            f"{100 * util / report.total_cycles:.1f}%",
            f"{report.resources['area_mm2']:.2f}", "-" if drop is None else f"{100 * drop:.2f}")


rows = []
start = time.perf_counter()
for wl_name in args.workloads.split(","):
    for target in args.targets.split(","):
        objective = Objective(minimise="latency", max_accuracy_drop=drop_to_fraction(
            args.max_accuracy_drop, "prior"))
        problem = make_problem(wl_name, target, "n3h", objective=objective, split="choose")
        wl = problem.space.workload
        uniform = cm.uniform_design(wl, 8, 8)
        rows.append((wl_name, target, "uniform W8A8, preset",
                     *describe(cm.evaluate(wl, target, uniform), 0.0)))
        best: list[object] = [None, np.inf, None]

        def evaluate(X, best=best, problem=problem):  # type: ignore[no-untyped-def]
            ev = problem.evaluate_batch(X)
            ok = np.nonzero(ev.feasible)[0]
            if ok.size:
                i = ok[np.argmin(ev.latency_ms[ok])]
                if ev.latency_ms[i] < best[1]:
                    best[:] = [ev.x[i].copy(), float(ev.latency_ms[i]),
                               float(ev.accuracy_drop[i])]
            return ev

        t0 = time.perf_counter()
        budget = EvaluationBudget(problem, args.budget, evaluate)
        make_searcher("genetic", args.seed).run(problem, budget)
        took = time.perf_counter() - t0
        if best[0] is None:
            rows.append((wl_name, target, "searched: none feasible", "-", "-", "-", "-", "-"))
            continue
        design = problem.space.decode(best[0])
        arr = cm.get_target(target).components_for(design)["systolic_array"]
        bits = sorted({(w, a) for w, a in zip(design.weight_bits, design.act_bits, strict=True)})
        label = (f"searched ({arr.rows}x{arr.cols}, SRAM {arr.ifmap_sram_kib}/"
                 f"{arr.filter_sram_kib}/{arr.ofmap_sram_kib} KiB, "
                 f"{'Bit Fusion' if arr.bit_fusion else 'fixed PEs'}, "
                 f"{len(bits)} (W,A) pairs; {took:.0f} s, {budget.used / took:,.0f} designs/s)")
        rows.append((wl_name, target, label,
                     *describe(cm.evaluate(wl, target, design), best[2])))  # type: ignore[arg-type]

print("| network | preset | design | latency ms | energy uJ | PE util | area mm^2 | drop pts |")
print("|---|---|---|---|---|---|---|---|")
for row in rows:
    print("| " + " | ".join(row) + " |")
print(f"\ntotal {time.perf_counter() - start:.0f} s")
