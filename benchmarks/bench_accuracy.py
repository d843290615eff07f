"""Throughput and fidelity of the accuracy oracles (rl_search.accuracy) on the digits tasks.

Run: ``python benchmarks/bench_accuracy.py [--real-designs 40 --finetune-steps 20 ...]``.
It prints one table with the machine it ran on: real-oracle evaluations per second on the digits
CNN (post-training, and with STE fine-tune steps), proxy evaluations per second in batch
(calibrated proxy on the CNN, weight-free prior on ResNet-18), the time to build and calibrate
the proxy, and the Spearman rank correlation of the calibrated proxy (<= 20 real evaluations)
against the real oracle over held-out random designs, for the CNN and the LSTM. Goal: >= 100 k
proxy designs/s in batch; Spearman >= 0.8 on the CNN.

The tasks are trained on first use and cached (``$CODESIGN_CACHE`` or ``~/.cache/codesign``);
real evaluations are never served from a cache here.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass

import numpy as np
import torch
from _common import best_seconds, cpu_model, parse_args
from scipy.stats import spearmanr

from hwsim.ir import zoo
from rl_search.accuracy import ProxyOracle, RealOracle, digits_cnn, digits_lstm
from rl_search.accuracy.base import design_rows
from rl_search.accuracy.compress import layer_full_ranks
from rl_search.accuracy.sampling import random_batch, random_designs


@dataclass
class Args:
    real_designs: int = 40
    """random designs timed through the real oracle (post-training)"""
    finetune_designs: int = 10
    """random designs timed through the real oracle with fine-tuning"""
    finetune_steps: int = 20
    """STE fine-tune steps per design in the fine-tune row"""
    proxy_designs: int = 1_000_000
    """designs per timed proxy batch"""
    held_out: int = 100
    """held-out random designs for the Spearman figure"""
    budget: int = 20
    """real evaluations the proxy is calibrated on"""
    repeats: int = 3
    """timed runs per proxy measurement; the best one counts"""
    threads: int = 1
    """torch intra-op threads for the real oracle"""
    seed: int = 0
    """seed of calibration; held-out designs use seed + 2024"""


args = parse_args(Args, __doc__)



rows: list[tuple[str, str, str]] = []

# ---------------------------------------------------------------------------- the tasks
start = time.perf_counter()
cnn = digits_cnn()
lstm = digits_lstm()
rows.append(("digits tasks (train or load from cache)", f"{time.perf_counter() - start:.2f} s",
             f"CNN val {cnn.float_accuracy:.4f} test {cnn.test_accuracy:.4f}; "
             f"LSTM val {lstm.float_accuracy:.4f} test {lstm.test_accuracy:.4f}"))

# ---------------------------------------------------------------------------- real oracle
real = RealOracle(cnn.model, cnn.val_loader, cnn.calib_batch, threads=args.threads)
full = layer_full_ranks(real.workload)
designs = random_designs(real.layer_names, args.real_designs, seed=args.seed + 7,
                         full_ranks=full)
start = time.perf_counter()
for d in designs:
    real.estimate(d)
seconds = time.perf_counter() - start
rows.append(("real oracle, digits CNN, post-training", f"{len(designs) / seconds:.1f} evals/s",
             f"{len(designs)} random designs, {len(cnn.val_loader.dataset)} val images"))

tuned = RealOracle(cnn.model, cnn.val_loader, cnn.calib_batch, threads=args.threads,
                   finetune_steps=args.finetune_steps, train_loader=cnn.train_loader, lr=3e-3)
start = time.perf_counter()
for d in designs[: args.finetune_designs]:
    tuned.estimate(d)
seconds = time.perf_counter() - start
rows.append((f"real oracle, digits CNN, {args.finetune_steps} STE steps",
             f"{args.finetune_designs / seconds:.1f} evals/s",
             "batch 64, Adam lr 3e-3"))

# ---------------------------------------------------------------------------- proxy
start = time.perf_counter()
uncalibrated = ProxyOracle.from_real(real)
build = time.perf_counter() - start
before = real.evaluations
start = time.perf_counter()
proxy = uncalibrated.calibrate(real, budget=args.budget, seed=args.seed)
calibrate = time.perf_counter() - start
rows.append(("proxy: error tables from the CNN's weights", f"{build:.2f} s",
             "per layer: weight bits x LUT channels, act bits, rank x act bits"))
rows.append(("proxy: calibration", f"{calibrate:.2f} s",
             f"{real.evaluations - before} real evaluations (budget {args.budget})"))

batch = random_batch(len(proxy.layer_names), args.proxy_designs, seed=args.seed,
                     full_ranks=proxy.full_ranks)
seconds = best_seconds(lambda: proxy.estimate_batch(batch["weight_bits"], batch["act_bits"],
                                                    batch["lut_fraction"], batch["rank"]),
                       args.repeats)
rows.append(("proxy batch, digits CNN (5 layers)", f"{args.proxy_designs / seconds:,.0f} evals/s",
             f"{args.proxy_designs:,} designs, validated"))

resnet = zoo.get("resnet18")
prior = ProxyOracle.prior(resnet)
batch = random_batch(len(resnet.layers), args.proxy_designs, seed=args.seed,
                     full_ranks=layer_full_ranks(resnet))
seconds = best_seconds(lambda: prior.estimate_batch(batch["weight_bits"], batch["act_bits"],
                                                    batch["lut_fraction"], batch["rank"]),
                       args.repeats)
rows.append(("prior batch, ResNet-18 (21 layers)", f"{args.proxy_designs / seconds:,.0f} evals/s",
             "weight-free, kind='prior'"))

# ---------------------------------------------------------------------------- fidelity
for name, task, oracle, fitted in (("CNN", cnn, real, proxy), ("LSTM", lstm, None, None)):
    if oracle is None:
        oracle = RealOracle(task.model, task.val_loader, task.calib_batch, threads=args.threads)
        fitted = ProxyOracle.fit(oracle, budget=args.budget, seed=args.seed)
    assert fitted is not None and fitted.calibration is not None
    held = random_designs(oracle.layer_names, args.held_out, seed=args.seed + 2024,
                          full_ranks=layer_full_ranks(oracle.workload))
    measured = np.array([oracle.estimate(d).accuracy for d in held])
    predicted = fitted.estimate_batch(**design_rows(held))
    rho = spearmanr(measured, predicted).statistic
    mae = float(np.mean(np.abs(measured - predicted)))
    rows.append((f"Spearman proxy vs real, digits {name}", f"{rho:.3f}",
                 f"{args.held_out} held-out designs (accuracy {measured.min():.2f}.."
                 f"{measured.max():.2f}), mean |error| {mae:.3f}, calibrated on "
                 f"{len(fitted.calibration.designs)}"))

# ---------------------------------------------------------------------------- report
print(f"machine: {cpu_model()}, {os.cpu_count()} cpus, {platform.system()} {platform.release()}, "
      f"python {platform.python_version()}, torch {torch.__version__} "
      f"({args.threads} thread(s) for the real oracle), numpy {np.__version__}")
width = max(len(r[0]) for r in rows)
value_width = max(len(r[1]) for r in rows)
print(f"{'measurement':<{width}}  {'result':>{value_width}}  notes")
for label, value, note in rows:
    print(f"{label:<{width}}  {value:>{value_width}}  {note}")
