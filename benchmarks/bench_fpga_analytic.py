"""Throughput of the N3H-Core analytic latency model (hwsim.fpga.analytic), against tests/naive.py.

Run: ``python benchmarks/bench_fpga_analytic.py [--layers 2000000 --designs 200000 ...]``.
It prints one table: layer evaluations per second (one GEMM split between the two cores), whole
ResNet-18 design evaluations per second (21 GEMMs, per-layer bits and split), balance solvers,
and the plain-Python reference, with the machine it ran on. Goals: >= 5 M layer evals/s and
>= 200 k ResNet-18 designs/s on one core.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from _common import best_seconds, cpu_model, parse_args

from hwsim.fpga import analytic as an
from hwsim.fpga import batch_network_cycles, exact_balance, hetero_layer_cycles, n3h_sweep_balance
from hwsim.ir.workload import WorkloadArrays
from hwsim.spec.records import DspCore, LutCore


@dataclass
class Args:
    layers: int = 2_000_000
    """random GEMMs per timed layer batch"""
    designs: int = 200_000
    """ResNet-18 designs per timed network batch"""
    naive_layers: int = 20_000
    """GEMMs given to the plain-Python reference"""
    naive_designs: int = 500
    """ResNet-18 designs given to the plain-Python reference"""
    balance_gemms: int = 20_000
    """GEMMs per timed balance-solver batch"""
    repeats: int = 5
    """timed runs per measurement; the best one counts"""
    seed: int = 0
    """seed of the random design batches"""


args = parse_args(Args, __doc__)



spec = importlib.util.spec_from_file_location(
    "codesign_tests_naive", Path(__file__).resolve().parents[1] / "tests" / "naive.py")
assert spec is not None and spec.loader is not None
naive = importlib.util.module_from_spec(spec)
spec.loader.exec_module(naive)

# hardware: the sanity preset of REFERENCE.md section 1
lut = LutCore(rows=8, depth_bits=128, cols=16, act_buffer_depth=1024)
dsp = DspCore(input_buffer_depth=2048, weight_buffer_depth=1024)
lut_hw = (lut.rows, lut.depth_bits, lut.cols, lut.act_buffer_depth, lut.dram_bits_per_cycle)
dsp_hw = (dsp.input_buffer_depth, dsp.weight_buffer_depth, dsp.pack_act_bits)

# ResNet-18 as 21 GEMMs (m, n, k)
res_m = [12544] + [3136] * 4 + [784] * 5 + [196] * 5 + [49] * 5 + [1]
res_k = [147, 576, 576, 576, 576, 576, 1152, 64, 1152, 1152, 1152, 2304, 128, 2304, 2304,
         2304, 4608, 256, 4608, 4608, 512]
res_n = [64] * 5 + [128] * 5 + [256] * 5 + [512] * 5 + [1000]
resnet = WorkloadArrays(*[np.array(v, dtype=np.int64)
                          for v in (res_m, res_n, res_k, [1] * 21, range(21), range(22),
                                    [1] * 21)])

rng = np.random.default_rng(args.seed)
pick = rng.integers(0, 21, size=args.layers)
g_m, g_n, g_k = (np.array(v, dtype=np.int64)[pick] for v in (res_m, res_n, res_k))
g_w = rng.integers(2, 9, size=args.layers)
g_a = rng.integers(2, 9, size=args.layers)
g_rho = rng.random(args.layers)
d_w = rng.integers(2, 9, size=(args.designs, 21))
d_a = rng.integers(2, 9, size=(args.designs, 21))
d_rho = rng.random((args.designs, 21))

# JIT warm-up (compiles or loads numba's cache) on small slices
hetero_layer_cycles(g_m[:8], g_n[:8], g_k[:8], g_w[:8], g_a[:8], g_rho[:8], lut, dsp)
for par in (False, True):
    batch_network_cycles(resnet, d_w[:8], d_a[:8], d_rho[:8], lut, dsp, parallel=par)
n3h_sweep_balance(g_m[:8], g_n[:8], g_k[:8], g_w[:8], g_a[:8], lut, dsp)
exact_balance(g_m[:8], g_n[:8], g_k[:8], g_w[:8], g_a[:8], lut, dsp)

rows: list[tuple[str, float, str]] = []  # (what, evaluations per second, unit)

g_count = np.ones(args.layers, dtype=np.int64)  # ResNet-18's GEMMs are single
g_indep = np.ones(args.layers, dtype=np.int64)
t = best_seconds(lambda: an._hetero_batch(g_m, g_n, g_k, g_count, g_indep, g_w, g_a, g_rho,
                                          lut_hw, dsp_hw, True), args.repeats)
rows.append(("layer evals, kernel, 1 core", args.layers / t, "layers/s"))
kernel_layer_rate = args.layers / t
t = best_seconds(lambda: hetero_layer_cycles(g_m, g_n, g_k, g_w, g_a, g_rho, lut, dsp),
                 args.repeats)
rows.append(("layer evals, public API, 1 core", args.layers / t, "layers/s"))

t = best_seconds(lambda: batch_network_cycles(resnet, d_w, d_a, d_rho, lut, dsp, parallel=False),
                 args.repeats)
rows.append(("ResNet-18 designs, serial, 1 core", args.designs / t, "designs/s"))
serial_design_rate = args.designs / t
t = best_seconds(lambda: batch_network_cycles(resnet, d_w, d_a, d_rho, lut, dsp, parallel=True),
                 args.repeats)
rows.append((f"ResNet-18 designs, parallel, {numba.get_num_threads()} threads", args.designs / t,
             "designs/s"))
t = best_seconds(lambda: batch_network_cycles(resnet, d_w[:1], d_a[:1], d_rho[:1], lut, dsp),
                 200)
rows.append(("ResNet-18, one design per call (env step)", 1 / t, "designs/s"))

nb = args.balance_gemms
t = best_seconds(lambda: n3h_sweep_balance(g_m[:nb], g_n[:nb], g_k[:nb], g_w[:nb], g_a[:nb], lut,
                                           dsp), args.repeats)
rows.append(("balance, release's 0.01 sweep", nb / t, "GEMMs/s"))
t = best_seconds(lambda: exact_balance(g_m[:nb], g_n[:nb], g_k[:nb], g_w[:nb], g_a[:nb], lut,
                                       dsp), args.repeats)
rows.append(("balance, exact (tile search)", nb / t, "GEMMs/s"))

nl = args.naive_layers
start = time.perf_counter()
for i in range(nl):
    naive.hetero_layer_cycles(int(g_m[i]), int(g_n[i]), int(g_k[i]), int(g_w[i]), int(g_a[i]),
                              float(g_rho[i]), lut_hw, dsp_hw)
naive_layer_rate = nl / (time.perf_counter() - start)
rows.append(("layer evals, plain Python (tests/naive.py)", naive_layer_rate, "layers/s"))
nd = args.naive_designs
start = time.perf_counter()
for d in range(nd):
    naive.network_cycles(res_m, res_n, res_k, [1] * 21, list(range(21)), d_w[d].tolist(),
                         d_a[d].tolist(), d_rho[d].tolist(), lut_hw, dsp_hw)
naive_design_rate = nd / (time.perf_counter() - start)
rows.append(("ResNet-18 designs, plain Python", naive_design_rate, "designs/s"))

print(f"platform : {platform.platform()}")
print(f"CPU      : {cpu_model()} ({os.cpu_count()} logical CPUs)")
print(f"python   : {platform.python_version()}, numba {numba.__version__}, "
      f"numpy {np.__version__}, numba threads {numba.get_num_threads()}")
print()
print(f"{'measurement':<46} {'rate':>14}  unit")
print("-" * 72)
for what, rate, unit in rows:
    print(f"{what:<46} {rate:>14,.0f}  {unit}")
print("-" * 72)
print(f"kernel vs plain Python, layers : {kernel_layer_rate / naive_layer_rate:,.0f}x")
print(f"serial vs plain Python, designs: {serial_design_rate / naive_design_rate:,.0f}x")
print(f"goals (one core): layers >= 5,000,000/s "
      f"{'met' if kernel_layer_rate >= 5e6 else 'MISSED'}; ResNet-18 designs >= 200,000/s "
      f"{'met' if serial_design_rate >= 2e5 else 'MISSED'}")
