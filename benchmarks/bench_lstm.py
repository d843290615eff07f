"""Speed of the LSTM-accelerator models: the contraction planner, the analytic and cycle tiers
of one layer, the target's batch evaluation over rank designs, and the cycle tier's cost over the
analytic tier's, measured in one run.

    python benchmarks/bench_lstm.py
"""

from __future__ import annotations

import platform
import time

import numpy as np
from _common import best_seconds, cpu_model

from cost_models import get_target
from hwsim.ir import zoo
from hwsim.ir.layers import HTLinear
from hwsim.lstm import accel
from hwsim.lstm.plan import plan_layer
from hwsim.spec import load_hardware


def main() -> None:
    print(f"machine: {cpu_model()}, Python {platform.python_version()}")
    fdht = load_hardware("fdht").lstm_accelerator
    layer = zoo.get("lstm-ucf-ht").layers[0]

    t_plan = best_seconds(lambda: plan_layer(layer), repeats=5)
    print(f"optimal contraction plan of LSTM-UCF's HT layer (DP over 2^7 subsets): "
          f"{1e3 * t_plan:.2f} ms")

    t_analytic = best_seconds(lambda: accel.run_layer(layer, fdht), repeats=5)

    def cold_cycle() -> None:
        accel._SEARCHED.clear()
        accel.run_layer(layer, fdht, fidelity="cycle")

    t_cold = best_seconds(cold_cycle, repeats=2)
    t_warm = best_seconds(lambda: accel.run_layer(layer, fdht, fidelity="cycle"), repeats=3)
    print(f"one HT layer on FDHT: analytic {1e3 * t_analytic:.2f} ms; cycle tier "
          f"{t_cold:.2f} s with the per-stage mapping searches, {1e3 * t_warm:.1f} ms with "
          f"them cached ({t_warm / t_analytic:.0f}x the analytic tier)")

    # the target's batch path: designs sharing a rank vector are costed once
    wl = zoo.get("lstm-ucf-ht")
    tgt = get_target("fdht")
    rng = np.random.default_rng(0)
    n = 20_000
    ranks = np.zeros((n, 3), dtype=np.int64)
    ranks[:, 0] = rng.integers(1, 9, n)
    ranks[:, 1] = rng.choice([0, 16, 32, 64, 128, 192], n)
    from cost_models.batch import DesignBatch

    bits = np.full((n, 3), 16, dtype=np.int64)
    batch = DesignBatch(bits, bits, ranks, {}, {}, {})
    tgt.evaluate_batch(wl, batch)  # fills the per-layer cache
    t_batch = best_seconds(lambda: tgt.evaluate_batch(wl, batch), repeats=3)
    print(f"target evaluate_batch, {n:,} rank designs (48 distinct rank vectors, cached "
          f"layer runs): {n / t_batch / 1e3:,.0f} k designs/s")

    def fresh_ranks() -> None:
        tgt._runs.clear()
        for r in range(1, 9):
            accel.run_layer(HTLinear("h", (8, 20, 20, 18), (16, 4, 4, 4), r), fdht)

    t_fresh = best_seconds(fresh_ranks, repeats=3)
    print(f"uncached: 8 HT ranks planned and costed in {1e3 * t_fresh:.1f} ms "
          f"({1e3 * t_fresh / 8:.2f} ms a rank)")
    start = time.perf_counter()
    for name in ("lstm-ucf", "lstm-youtube"):
        for style, variant in (("tie", "tt"), ("fdht", "ht")):
            acc = load_hardware(style).lstm_accelerator
            for lay in zoo.get(name, variant=variant).layers:
                accel.run_layer(lay, acc, fidelity="cycle")
    print(f"both workloads on both accelerators, cycle tier (what `codesign lstm compare` runs): "
          f"{time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
