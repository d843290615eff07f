"""hwsim.asic's analytic systolic-array model side by side with SCALE-Sim 3.0.0.

Run: ``/tmp/peers/bin/python benchmarks/bench_asic_vs_scalesim.py`` (any Python with
``scalesim==3.0.0`` and numba; the repository root goes on ``sys.path`` when codesign is not
installed). Per shape it runs SCALE-Sim once (trace-driven, through its ``scalesim`` class) and
our model, and prints both models' compute, stall and total cycles and DRAM reads, the regime
(docs/asic.md), and the time per layer of each; then our batch rates in layers per second on
one core. Goals: compute cycles equal on every shape; >= 10,000x faster per layer (median);
>= 1 M layers/s per core in batch.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
from _common import best_seconds, cpu_model, parse_args

try:
    import hwsim  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hwsim.asic import gemm_cycles, layer_costs, memory_costs


@dataclass
class Args:
    array: str = "32x32,8x8"
    """arrays to run every shape on, rows x cols, comma separated"""
    dataflow: str = "ws,os"
    """dataflow per array, in the same order"""
    sram_kib: int = 16
    """ifmap, filter and ofmap SRAM, KiB each"""
    dram_words_per_cycle: int = 4
    """DRAM words per cycle of each operand's interface (1-byte words)"""
    batch_gemms: int = 2_000_000
    """GEMMs in the timed batch"""
    batch_designs: int = 1000
    """designs in the timed memory batch (x 1000 GEMMs)"""
    repeats: int = 5
    """timed runs per batch measurement; the best counts"""


args = parse_args(Args, __doc__)

SHAPES = [(1, 1, 1), (7, 13, 29), (33, 65, 17), (2, 100, 3), (64, 64, 64), (100, 30, 200),
          (197, 64, 64), (300, 16, 40), (49, 128, 96), (197, 197, 64), (197, 64, 197),
          (16, 64, 512)]


from _scalesim import CONFIG  # noqa: E402  (importing it applies the numpy shim)
from scalesim.scale_sim import scalesim  # noqa: E402


def scalesim_layer(m: int, n: int, k: int, rows: int, cols: int, flow: str
                   ) -> tuple[dict[str, float], float]:
    """SCALE-Sim's COMPUTE and DETAILED_ACCESS report rows of one GEMM, and its seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "scale.cfg").write_text(CONFIG.format(
            rows=rows, cols=cols, ifmap_sram_kib=args.sram_kib, filter_sram_kib=args.sram_kib,
            ofmap_sram_kib=args.sram_kib, bw=args.dram_words_per_cycle, dataflow=flow))
        (folder / "topology.csv").write_text(f"Layer, M, N, K,\nl0, {m}, {n}, {k},\n")
        (folder / "layout.csv").write_text("Layer,\n")
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=str(folder / "scale.cfg"),
                           topology=str(folder / "topology.csv"),
                           layout=str(folder / "layout.csv"), input_type_gemm=True)
            sim.run_scale(top_path=str(folder / "out"))
        seconds = time.perf_counter() - start
        figures: dict[str, float] = {}
        for report in ("COMPUTE_REPORT", "DETAILED_ACCESS_REPORT"):
            with (folder / "out" / "run" / f"{report}.csv").open() as f:
                head, row = list(csv.reader(f))[:2]
            figures.update({h.strip(): float(v) for h, v in zip(head, row, strict=False)
                            if h.strip() and v.strip()})
    return figures, seconds


def ours_layer(m: int, n: int, k: int, rows: int, cols: int, flow: str) -> Any:
    return layer_costs(m, n, k, 1, rows, cols, flow, args.sram_kib, args.sram_kib,
                       args.sram_kib, word_bytes=1,
                       dram_bytes_per_cycle=float(args.dram_words_per_cycle))


def ours_set(rows: int, cols: int, flow: str) -> Any:
    m, n, k = (np.array(v) for v in zip(*SHAPES, strict=True))
    return memory_costs(m, n, k, np.ones(len(SHAPES), dtype=np.int64), rows, cols, flow,
                        args.sram_kib, args.sram_kib, args.sram_kib, word_bytes=1,
                        dram_bytes_per_cycle=float(args.dram_words_per_cycle), parallel=False)


configs = [(int(a.split("x")[0]), int(a.split("x")[1]), f)
           for a, f in zip(args.array.split(","), args.dataflow.split(","), strict=True)]
ours_layer(7, 13, 29, 8, 8, "os")  # JIT warm-up (compiles or loads numba's cache)

print(f"platform : {platform.platform()}")
print(f"CPU      : {cpu_model()} ({os.cpu_count()} logical CPUs)")
print(f"python   : {platform.python_version()}, numba {numba.__version__}, "
      f"numpy {np.__version__}, numba threads {numba.get_num_threads()}")
print(f"SRAM     : {args.sram_kib} KiB each; DRAM {args.dram_words_per_cycle} words/cycle per "
      "operand; 1-byte words")
print()
head = (f"{'GEMM m x n x k':>14} {'array':>9}  {'compute S/ours':>15} {'stall S':>8} "
        f"{'stall ours':>10} {'total S':>8} {'total ours':>10} {'DRAM rd S':>9} "
        f"{'DRAM rd ours':>12} {'regime':>8} {'S s/layer':>9} {'ours us':>8} {'ratio':>9}")
print(head)
print("-" * len(head))
ratios, batch_ratios, equal = [], [], 0
for rows, cols, flow in configs:
    per_layer_batch = best_seconds(lambda r=rows, c=cols, f=flow: ours_set(r, c, f),
                                   args.repeats * 20) / len(SHAPES)
    for m, n, k in SHAPES:
        s, s_seconds = scalesim_layer(m, n, k, rows, cols, flow)
        ours = ours_layer(m, n, k, rows, cols, flow)
        o_seconds = best_seconds(lambda m=m, n=n, k=k, r=rows, c=cols, f=flow:
                                 ours_layer(m, n, k, r, c, f), args.repeats * 20)
        s_compute = int(s["Total Cycles"] - s["Stall Cycles"])
        o_compute = int(ours.compute_cycles[0, 0])
        equal += s_compute == o_compute
        s_reads = int(s["DRAM IFMAP Reads"] + s["DRAM Filter Reads"])
        o_reads = int(ours.ifmap_dram_reads[0, 0] + ours.filter_dram_reads[0, 0])
        if ours.ifmap_fits[0, 0] and ours.filter_fits[0, 0]:
            regime = "fits"
        elif abs(s_reads - o_reads) <= 0.01 * s_reads:
            regime = "stream"
        else:
            regime = "refetch"
        ratios.append(s_seconds / o_seconds)
        batch_ratios.append(s_seconds / per_layer_batch)
        compute = f"{s_compute}/{o_compute}" if s_compute != o_compute else f"{s_compute} ="
        print(f"{f'{m}x{n}x{k}':>14} {f'{rows}x{cols} {flow}':>9}  {compute:>15} "
              f"{int(s['Stall Cycles']):>8} {int(ours.stall_cycles[0, 0]):>10} "
              f"{int(s['Total Cycles']):>8} {int(ours.total_cycles[0, 0]):>10} {s_reads:>9} "
              f"{o_reads:>12} {regime:>8} {s_seconds:>9.3f} {o_seconds * 1e6:>8.1f} "
              f"{s_seconds / o_seconds:>9,.0f}")
print("-" * len(head))

rng = np.random.default_rng(0)
g = args.batch_gemms
gm, gn, gk = (rng.integers(1, 4096, g) for _ in range(3))
gc = np.ones(g, dtype=np.int64)
t = best_seconds(lambda: gemm_cycles(gm, gn, gk, gc, 32, 32, "ws", parallel=False), args.repeats)
cycles_rate = g / t
flows = rng.integers(0, 3, g)
t = best_seconds(lambda: gemm_cycles(gm, gn, gk, gc, rng.integers(8, 257, (1, g)),
                                     rng.integers(8, 257, (1, g)), flows[None, :],
                                     parallel=False), args.repeats)
mixed_rate = g / t
d = args.batch_designs
mm, mn, mk = (rng.integers(1, 1024, 1000) for _ in range(3))
mc = np.ones(1000, dtype=np.int64)
drows, dcols = rng.integers(8, 129, d), rng.integers(8, 129, d)
dflow, dkib = rng.integers(0, 3, d), rng.choice([16, 64, 256, 1024], d)
t = best_seconds(lambda: memory_costs(mm, mn, mk, mc, drows, dcols, dflow, dkib, dkib, dkib,
                                      word_bytes=1, dram_bytes_per_cycle=16.0, parallel=False),
                 max(1, args.repeats // 2))
memory_rate = d * 1000 / t

print(f"compute cycles equal to SCALE-Sim: {equal} of {len(ratios)} layers")
print(f"speed vs SCALE-Sim per layer, ours one layer_costs call per layer: median "
      f"{statistics.median(ratios):,.0f}x, min {min(ratios):,.0f}x; ours per layer of one "
      f"memory_costs call on the set: median {statistics.median(batch_ratios):,.0f}x, "
      f"min {min(batch_ratios):,.0f}x")
print(f"batch, 1 core: gemm_cycles {cycles_rate:,.0f} layers/s (one design), "
      f"{mixed_rate:,.0f} layers/s (a design per GEMM); memory_costs {memory_rate:,.0f} "
      "layers/s")
print(f"goals: compute cycles equal {'met' if equal == len(ratios) else 'MISSED'}; >= 10,000x "
      f"{'met' if statistics.median(ratios) >= 1e4 else 'MISSED'} (one call per layer); "
      f">= 1 M layers/s "
      f"{'met' if min(cycles_rate, mixed_rate) >= 1e6 else 'MISSED'}")
