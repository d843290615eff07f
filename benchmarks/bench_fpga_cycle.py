"""Cycle tier of the N3H-Core FPGA cores: speed, and its error against the analytic tier.

Runs ResNet-18's 21 GEMMs (REFERENCE.md section 1) on the sanity hardware (Dm=8, Dk=128, Dn=16,
LMEM=1024, Dl=2048, Dr=1024, f=64) and prints, top to bottom:

1. the machine;
2. per GEMM, LUT core alone (A8W8, A4W4, A2W2) and DSP core alone (A8 on the first conv and the
   FC, A4 elsewhere, as the release pins them), each on a dedicated port: analytic cycles,
   cycle-tier cycles, error and the agreement regime (``hwsim.fpga.cycle.lut_agreement``);
3. the error distribution per core and regime;
4. both cores together at the analytic tier's exact balance point, on shared ports of
   inf / 32 / 16 / 8 bytes per cycle: layer cycles and the DRAM contention;
5. layer simulations per second.

Run: ``python benchmarks/bench_fpga_cycle.py`` (``--repeats N`` for a longer speed run).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass

import numba
import numpy as np

from hwsim.fpga.analytic import dsp_core_cycles, exact_balance, lut_core_cycles
from hwsim.fpga.cycle import (
    dsp_agreement,
    lut_agreement,
    simulate_dsp_core,
    simulate_layer,
    simulate_lut_core,
)
from hwsim.spec.records import DspCore, LutCore


@dataclass(frozen=True)
class Args:
    """Benchmark settings."""

    repeats: int = 3
    """Timed passes over the 21 GEMMs per measurement (the best pass is reported)."""
    lut_bits: tuple[int, ...] = (8, 4, 2)
    """LUT-core precisions, weights = activations, for the error table."""
    ports: tuple[float, ...] = (math.inf, 32.0, 16.0, 8.0)
    """Shared DRAM port widths (bytes per cycle) for the heterogeneous runs."""


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=Args.repeats)
args = Args(repeats=parser.parse_args().repeats)

M = [12544] + [3136] * 4 + [784] * 5 + [196] * 5 + [49] * 5 + [1]
K = [147, 576, 576, 576, 576, 576, 1152, 64, 1152, 1152, 1152, 2304, 128, 2304, 2304,
     2304, 4608, 256, 4608, 4608, 512]
N = [64] * 5 + [128] * 5 + [256] * 5 + [512] * 5 + [1000]
PINNED_A8 = {0, len(M) - 1}  # the release runs the first conv and the FC at A8W8
LUT, DSP = LutCore(rows=8, depth_bits=128, cols=16, act_buffer_depth=1024), DspCore(
    input_buffer_depth=2048, weight_buffer_depth=1024)

# --- 1. machine ------------------------------------------------------------------------------
print("== machine")
print(f"python {platform.python_version()} | numpy {np.__version__} | numba {numba.__version__}")
print(f"{platform.platform()} | {platform.processor() or platform.machine()} | "
      f"{os.cpu_count()} logical CPUs")
print(f"hardware: LUT {LUT.rows}x{LUT.depth_bits}x{LUT.cols} LMEM={LUT.act_buffer_depth} "
      f"f={LUT.dram_bits_per_cycle}; DSP 16x16 Dl={DSP.input_buffer_depth} "
      f"Dr={DSP.weight_buffer_depth}")

t0 = time.perf_counter()
simulate_layer(64, 64, 64, 4, 4, 0.5, LUT, DSP, 8.0)  # compile (or load numba's cache)
print(f"first call (numba compile or cache load): {time.perf_counter() - t0:.2f} s")

# --- 2. per-GEMM error, single core, dedicated port -------------------------------------------
print("\n== single core, dedicated port: cycle tier vs analytic tier (err = cycle/analytic - 1)")
header = f"{'#':>2} {'m':>5} {'k':>4} {'n':>4} | "
header += " | ".join(f"{f'LUT A{b}W{b}':>22}" for b in args.lut_bits)
header += f" | {'DSP':>24}"
print(header)
errors: dict[tuple[str, str], list[float]] = {}
for g, (m, k, n) in enumerate(zip(M, K, N, strict=True)):
    cells = []
    for b in args.lut_bits:
        an = lut_core_cycles(m, n, k, b, b, LUT)
        sim = simulate_lut_core(m, n, k, b, b, LUT, math.inf).total_cycles
        regime = lut_agreement(m, n, k, b, b, LUT).regime
        err = sim / an - 1.0
        errors.setdefault((f"LUT A{b}W{b}", regime), []).append(err)
        cells.append(f"{err:+7.1%} {regime[:14]:>14}")
    a_bits = 8 if g in PINNED_A8 else 4
    an = dsp_core_cycles(m, n, k, a_bits, DSP)
    sim = simulate_dsp_core(m, n, k, a_bits, DSP, math.inf).total_cycles
    regime = dsp_agreement(m, n, k, a_bits, DSP).regime
    errors.setdefault(("DSP", regime), []).append(sim / an - 1.0)
    cells.append(f"A{a_bits} {sim / an - 1.0:+7.1%} {regime[:13]:>13}")
    print(f"{g:>2} {m:>5} {k:>4} {n:>4} | " + " | ".join(cells))

# --- 3. error distribution --------------------------------------------------------------------
print("\n== error distribution per core and regime")
print(f"{'core':>10} {'regime':>15} {'GEMMs':>5} {'min':>8} {'median':>8} {'max':>8}")
for (core, regime), errs in sorted(errors.items()):
    print(f"{core:>10} {regime:>15} {len(errs):>5} {min(errs):>+8.1%} "
          f"{statistics.median(errs):>+8.1%} {max(errs):>+8.1%}")
for name, n_bits in [("LUT A8W8", 8), ("LUT A4W4", 4), ("LUT A2W2", 2)]:
    an_total = sum(lut_core_cycles(m, n, k, n_bits, n_bits, LUT)
                   for m, k, n in zip(M, K, N, strict=True))
    sim_total = sum(simulate_lut_core(m, n, k, n_bits, n_bits, LUT, math.inf).total_cycles
                    for m, k, n in zip(M, K, N, strict=True))
    print(f"network total {name}: analytic {an_total * 1e-5:7.2f} ms, cycle "
          f"{sim_total * 1e-5:7.2f} ms ({sim_total / an_total - 1:+.1%}) at 100 MHz")
a_of = [8 if g in PINNED_A8 else 4 for g in range(len(M))]
an_total = sum(dsp_core_cycles(m, n, k, a, DSP) for m, k, n, a in zip(M, K, N, a_of, strict=True))
sim_total = sum(simulate_dsp_core(m, n, k, a, DSP, math.inf).total_cycles
                for m, k, n, a in zip(M, K, N, a_of, strict=True))
print(f"network total DSP     : analytic {an_total * 1e-5:7.2f} ms, cycle "
      f"{sim_total * 1e-5:7.2f} ms ({sim_total / an_total - 1:+.1%}) at 100 MHz")

# --- 4. both cores, shared port ---------------------------------------------------------------
print("\n== both cores at the analytic balance point (A4W4 LUT share; A8 on first conv and FC)")
bits = np.array([8 if g in PINNED_A8 else 4 for g in range(len(M))])
n_lut, _ = exact_balance(np.array(M), np.array(N), np.array(K), bits, bits, LUT, DSP)
print(f"{'port B/cyc':>10} {'analytic ms':>11} {'cycle ms':>9} {'vs analytic':>11} "
      f"{'vs own ports':>12} {'contention ms':>13} {'DRAM MB':>8}")
analytic_ms = 0.0
for m, k, n, b, nl in zip(M, K, N, bits, n_lut, strict=True):
    analytic_ms += max(lut_core_cycles(m, int(nl), k, int(b), int(b), LUT),
                       dsp_core_cycles(m, n - int(nl), k, int(b), DSP)) * 1e-5
for port in args.ports:
    total = alone = contention = dram = 0.0
    for m, k, n, b, nl in zip(M, K, N, bits, n_lut, strict=True):
        sim = simulate_layer(m, n, k, int(b), int(b), int(nl) / n, LUT, DSP, port)
        total += sim.total_cycles
        contention += sim.dram_contention_cycles
        dram += sim.dram_bytes
        own_lut = simulate_lut_core(m, sim.lut_channels, k, int(b), int(b), LUT, port
                                    ).total_cycles if sim.lut_channels else 0.0
        own_dsp = simulate_dsp_core(m, sim.dsp_channels, k, int(b), DSP, port
                                    ).total_cycles if sim.dsp_channels else 0.0
        alone += max(own_lut, own_dsp)
    print(f"{port:>10} {analytic_ms:>11.2f} {total * 1e-5:>9.2f} "
          f"{total * 1e-5 / analytic_ms - 1:>+11.1%} {total / alone - 1:>+12.1%} "
          f"{contention * 1e-5:>13.2f} {dram / 1e6:>8.1f}")

# --- 5. speed ---------------------------------------------------------------------------------
print(f"\n== speed (best of {args.repeats} passes over the 21 GEMMs)")
for label, port in [("LUT+DSP, port 16 B/cyc", 16.0), ("LUT+DSP, dedicated", math.inf)]:
    best = math.inf
    events = 0
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        events = 0
        for m, k, n, b in zip(M, K, N, bits, strict=True):
            events += simulate_layer(m, n, k, int(b), int(b), 0.5, LUT, DSP, port).events
        best = min(best, time.perf_counter() - t0)
    print(f"{label:>24}: {len(M) / best:8.0f} layer simulations/s, "
          f"{events / best / 1e6:6.2f} M events/s, {best * 1e3:7.1f} ms per network")
largest = max(range(len(M)), key=lambda g: M[g] * N[g])
t0 = time.perf_counter()
sim = simulate_layer(M[largest], N[largest], K[largest], 8, 8, 0.5, LUT, DSP, 16.0)
print(f"largest GEMM (m={M[largest]}, n={N[largest]}, k={K[largest]}, A8W8, split 0.5): "
      f"{(time.perf_counter() - t0) * 1e3:.1f} ms, {sim.events} events")
sys.stdout.flush()

# --- 6. the presets ---------------------------------------------------------------------------
import cost_models as cm  # noqa: E402
from hwsim.ir import zoo  # noqa: E402

print("\n== presets: ResNet-18, the default design (first/last W8A8, others W4A4), balance "
      "splits; cycle tier (shared port of the board) vs analytic")
wl = zoo.get("resnet18")
for preset in ("n3h-pynq-z2", "n3h-zc706", "n3h-zcu104", "n3h-zcu102"):
    a = cm.evaluate(wl, preset)
    c = cm.evaluate(wl, preset, fidelity="cycle")
    port = cm.get_target(preset).device.dram_bytes_per_cycle
    print(f"{preset:>12} (port {port:g} B/cycle): analytic {a.latency_ms:8.2f} ms, cycle "
          f"{c.latency_ms:8.2f} ms ({c.total_cycles / a.total_cycles - 1:+.1%})")
