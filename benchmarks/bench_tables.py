"""Measured latency tables on this machine: build (or load) a CPU table, report the predictor's
accuracy on held-out shapes the way nn-Meter does (RMSPE, share within +-10 %), and compare a
rank search on the table with the best uniform rank at the same accuracy budget.

    python benchmarks/bench_tables.py                       # builds resnet20 (~3 min)
    python benchmarks/bench_tables.py --table r20-cpu.table # reuses a table

The table holds every rank the ``rank`` space offers each layer (``--ranks space,full``) and
``--samples`` random conv / linear shapes for the predictor.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import cpu_model, parse_args

from cost_models import Design, get_target
from cost_models.tables import load_table
from cost_models.tables.measure import build_table
from cost_models.tables.predict import evaluate_predictor
from hwsim.ir import zoo
from hwsim.ir.lowrank import full_rank
from rl_search.runs.config import RunConfig
from rl_search.runs.explore import explore, load_run
from rl_search.runs.results import best_record


@dataclass
class Args:
    workload: str = "resnet20"
    """zoo network the table is built for"""
    table: str = ""
    """an existing table to load instead of building one"""
    samples: int = 150
    """random conv2d and linear shapes measured for the predictor"""
    budget: int = 1000
    """evaluations of the rank search"""
    max_drop_points: float = 1.0
    """accuracy budget (top-1 points, weight-free prior, qat)"""
    seeds: int = 3
    """held-out splits of the predictor evaluation"""


def main() -> None:
    args = parse_args(Args, __doc__)
    print(f"machine: {cpu_model()}")
    wl = zoo.get(args.workload)
    if args.table:
        table = load_table(args.table)
        path = Path(args.table)
    else:
        start = time.perf_counter()
        table = build_table([wl], ranks=("space", None), samples=args.samples, progress=False)
        path = table.save(Path(tempfile.mkdtemp()) / f"{args.workload}-cpu.table")
        print(f"built {path} in {time.perf_counter() - start:.0f} s: {len(table.rows)} rows")
    spreads = [r.spread for r in table.rows]
    print(f"rows: {len(table.network_rows())} from the network, "
          f"{len(table.rows) - len(table.network_rows())} samples; median row spread "
          f"(p75-p25)/median {100 * float(np.median(spreads)):.1f} %")
    for n in table.networks:
        print(f"network {n.workload} ({'dense' if n.ranks is None else 'ranked'}): measured "
              f"{n.measured_ms:.3f} ms, sum of layers {n.sum_ms:.3f} ms, gap {100 * n.gap:+.1f} %")

    scores = [evaluate_predictor(table, table.dtypes[0], seed=s) for s in range(args.seeds)]
    rmspe = [s["rmspe"] for s in scores]
    within = [s["within_10pct"] for s in scores]
    print(f"predictor on held-out shapes ({int(scores[0]['test_rows'])} of "
          f"{int(scores[0]['test_rows'] + scores[0]['train_rows'])} rows, {args.seeds} splits): "
          f"RMSPE {100 * min(rmspe):.1f}-{100 * max(rmspe):.1f} %, within +-10 % "
          f"{100 * min(within):.1f}-{100 * max(within):.1f} %")

    target = get_target(f"table:{path}")
    drop = args.max_drop_points / 100.0
    with tempfile.TemporaryDirectory() as tmp:
        explore(RunConfig(workload=args.workload, target=f"table:{path}", space="rank",
                          searcher="genetic", budget=args.budget, max_accuracy_drop=drop),
                Path(tmp) / "run", progress=False)
        _, records = load_run(Path(tmp) / "run")
        best = best_record(records)
        assert best is not None, "the search found no feasible design"
    from rl_search.factory import make_problem

    problem = make_problem(wl, target, "rank")
    oracle = problem.oracle
    dense = target.evaluate(wl).latency_ms
    rows = []
    for r in sorted({c for k in problem.space.knobs for c in k.choices if c is not None}):
        ranks = tuple(min(r, full_rank(layer)) if any(k.layer == i for k in problem.space.knobs)
                      else None for i, layer in enumerate(wl.layers))
        n = len(wl.layers)
        d = Design(wl.layer_names, (8,) * n, (8,) * n, rank=ranks)
        lat = target.evaluate(wl, d).latency_ms
        acc = float(oracle.estimate_batch(np.full((1, n), 8), np.full((1, n), 8),
                                          np.ones((1, n)),
                                          np.array([[v or 0 for v in ranks]]))[0])
        rows.append((r, lat, oracle.baseline - acc))
    ok = [(lat, r) for r, lat, d in rows if d <= drop]
    print(f"dense: {dense:.3f} ms; uniform ranks (latency ms, drop points): "
          + ", ".join(f"r{r} {lat:.3f} / {100 * d:.2f}" for r, lat, d in rows))
    best_uniform = min(ok) if ok else None
    print(f"rank search (genetic, {args.budget} evaluations, prior qat, <= "
          f"{args.max_drop_points:g} point): {best['latency_ms']:.3f} ms at "
          f"{100 * best['accuracy_drop']:.2f} points; best uniform rank within the budget: "
          + ("none" if best_uniform is None else
             f"r{best_uniform[1]} {best_uniform[0]:.3f} ms (search {best_uniform[0] / best['latency_ms']:.2f}x faster)")  # noqa: E501
          + f"; dense {dense:.3f} ms")


if __name__ == "__main__":
    main()
