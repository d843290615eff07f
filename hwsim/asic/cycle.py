"""Cycle tier of the systolic array: its folds simulated one by one on the event engine
(:mod:`hwsim.engine.events`), with double-buffered SRAM fills and drains against DRAM.

The schedule
------------
A GEMM on a ``rows x cols`` array runs ``F = F_r * F_c`` folds (the same mapping and fold order
as :mod:`hwsim.asic.analytic`: column folds outer, row folds inner), each ``L`` cycles of fill,
skew, streaming and drain on the array (SCALE-Sim's per-fold demand lines; the last fold
``L - 1``, so a run without stalls takes exactly SCALE-Sim's compute cycles). Four in-order
stages:

* **ifmap DMA** and **filter DMA** load the fold's tile of their operand into the free half of
  their double-buffered SRAM: ``free`` queues of two tokens, ``full`` queues the array waits on;
* the **array** takes one full region of each (and a free ofmap region), computes, then hands
  the input regions back and the output region on;
* the **ofmap DMA** writes the fold's outputs (final outputs for ``os``; ``ws`` / ``is`` write
  each row fold's partial sums, as SCALE-Sim counts ``m*n*F_r`` writes) and frees the region.

What a fold loads follows the operands' reuse (as the analytic tier's plans): the streamed
operand (``os``: the ifmap; ``ws``: the ifmap; ``is``: the filter) is loaded fold by fold and
re-read once per column fold, unless the whole operand fits half its SRAM, when it is loaded
once; the stationary tiles (``ws`` filter, ``is`` ifmap) are loaded once each; ``os`` loads a
filter block at the first row fold of each column fold. A tile larger than half its SRAM is
loaded and consumed in chunks (the fold's compute split evenly over them).

DRAM: each operand has its own interface of ``dram_bytes_per_cycle`` (SCALE-Sim's per-operand
``Bandwidth``); ``port`` makes them share one port instead (max-min fair).

Against the analytic tier
-------------------------
Both give the compute cycles exactly when nothing waits. They differ in what they charge for
memory: SCALE-Sim (and the analytic tier) prefetch an operand that fits its SRAM before cycle 0
for free and model its read buffer's set-by-set refills; this tier pays the first fill of every
stage (the array waits for its first tiles) and moves whole tiles. The tested tolerance is in
``tests/hwsim/asic/test_cycle.py`` and docs/asic.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.engine.events import OpTable, simulate, stage_runs
from hwsim.errors import CodesignError

MAX_SIMULATED_FOLDS = 2_000_000
"""Fold chunks one GEMM may simulate; larger GEMMs are refused (use the analytic tier)."""

_OS, _WS, _IS = 0, 1, 2
STAGES = ("ifmap_dma", "filter_dma", "array", "ofmap_dma")
# queues
_I_FREE, _I_FULL, _F_FREE, _F_FULL, _O_FREE, _O_FULL = range(6)


@dataclass(frozen=True, slots=True)
class GemmRun:
    """One GEMM (one repetition) simulated: total cycles, per-stage busy cycles, DRAM bytes."""

    cycles: float
    compute_cycles: float
    busy: dict[str, float]
    dram_bytes: float
    folds: int


def _tiles(m: int, n: int, k: int, rows: int, cols: int, flow: int, half_i: float,
           half_f: float) -> tuple[Any, Any, Any, int, int, int]:
    """Per fold (column folds outer): ifmap, filter and ofmap words loaded / written, the
    lines per fold and the fold counts."""
    if flow == _OS:
        s_r, s_c, lines = m, n, k + rows + cols - 2
    else:
        s_r, s_c = (k, n) if flow == _WS else (k, m)
        lines = (m if flow == _WS else n) + 2 * rows + cols - 2
    f_r, f_c = -(-s_r // rows), -(-s_c // cols)
    ir = np.tile(np.arange(f_r), f_c)
    jc = np.repeat(np.arange(f_c), f_r)
    u_r = np.minimum(rows, s_r - ir * rows).astype(np.float64)
    u_c = np.minimum(cols, s_c - jc * cols).astype(np.float64)
    first_pass = (jc == 0).astype(np.float64)
    if flow == _OS:
        ifmap = u_r * k * (first_pass if m * k <= half_i else 1.0)
        filt = np.where(ir == 0, k * u_c, 0.0)
        ofmap = u_r * u_c
    elif flow == _WS:
        filt = u_r * u_c
        ifmap = m * u_r * (first_pass if m * k <= half_i else 1.0)
        ofmap = m * u_c
    else:
        ifmap = u_r * u_c
        filt = n * u_r * (first_pass if k * n <= half_f else 1.0)
        ofmap = n * u_c
    return ifmap, filt, ofmap, lines, f_r, f_c


def simulate_gemm(m: int, n: int, k: int, rows: int, cols: int, flow: int, *,
                  ifmap_words: float, filter_words: float, ofmap_words: float,
                  ifmap_bytes: float, filter_bytes: float, ofmap_bytes: float,
                  dram_bytes_per_cycle: float, port: float = math.inf) -> GemmRun:
    """Simulate one repetition of the GEMM ``(m x k) @ (k x n)`` (see the module notes).

    :param ifmap_words, filter_words, ofmap_words: SRAM capacities in operands (each halved
        by double buffering).
    :param ifmap_bytes, filter_bytes, ofmap_bytes: bytes per operand in DRAM.
    :param port: shared DRAM port in bytes per cycle (``inf``: one interface per operand).
    """
    half = [ifmap_words / 2, filter_words / 2, ofmap_words / 2]
    s_r, s_c = (m, n) if flow == _OS else ((k, n) if flow == _WS else (k, m))
    if -(-s_r // rows) * -(-s_c // cols) > MAX_SIMULATED_FOLDS:
        raise CodesignError(f"the cycle tier would simulate over {MAX_SIMULATED_FOLDS:,} folds "
                            f"for GEMM {m}x{n}x{k} on {rows}x{cols}; use the analytic tier")
    ifmap, filt, ofmap, lines, f_r, f_c = _tiles(m, n, k, rows, cols, flow, half[0], half[1])
    folds = f_r * f_c
    # tile words a fold holds (loaded or resident), to split oversize tiles into chunks
    if flow == _OS:
        hold = (np.minimum(rows, m) * k, k * np.minimum(cols, n), np.minimum(rows, m)
                * np.minimum(cols, n))
    elif flow == _WS:
        hold = (m * np.minimum(rows, k), np.minimum(rows, k) * np.minimum(cols, n),
                m * np.minimum(cols, n))
    else:
        hold = (np.minimum(rows, k) * np.minimum(cols, m), n * np.minimum(rows, k),
                n * np.minimum(cols, m))
    chunks = int(max(1, *(math.ceil(h / max(c, 1.0)) for h, c in zip(hold, half,
                                                                     strict=True))))
    n_ops = folds * chunks
    if n_ops > MAX_SIMULATED_FOLDS:
        raise CodesignError(f"the cycle tier would simulate {n_ops:,} fold chunks for GEMM "
                            f"{m}x{n}x{k} on {rows}x{cols} (limit {MAX_SIMULATED_FOLDS:,}); "
                            f"use the analytic tier")
    rep = np.repeat
    load_i = rep(ifmap, chunks) / chunks * ifmap_bytes
    load_f = rep(filt, chunks) / chunks * filter_bytes
    store_o = rep(ofmap, chunks) / chunks * ofmap_bytes
    compute = np.full(n_ops, lines / chunks)
    compute[-1] -= 1.0  # SCALE-Sim reports the cycle of the last demand line: F*L - 1
    table = OpTable.empty(4 * n_ops, 6)
    table.queue_init[[_I_FREE, _F_FREE, _O_FREE]] = 2
    bw = float(dram_bytes_per_cycle)
    sl = [slice(s * n_ops, (s + 1) * n_ops) for s in range(4)]
    table.nbytes[sl[0]], table.cap[sl[0]] = load_i, bw
    table.wait[sl[0], 0], table.signal[sl[0], 0] = _I_FREE, _I_FULL
    table.nbytes[sl[1]], table.cap[sl[1]] = load_f, bw
    table.wait[sl[1], 0], table.signal[sl[1], 0] = _F_FREE, _F_FULL
    table.fixed[sl[2]] = compute
    table.wait[sl[2]] = (_I_FULL, _F_FULL, _O_FREE)
    table.signal[sl[2]] = (_I_FREE, _F_FREE, _O_FULL)
    table.nbytes[sl[3]], table.cap[sl[3]] = store_o, bw
    table.wait[sl[3], 0], table.signal[sl[3], 0] = _O_FULL, _O_FREE
    first = np.arange(4, dtype=np.int64) * n_ops
    busy, contention, finish, _, stuck = simulate(
        first, first + n_ops, np.zeros(4), table.fixed, table.nbytes, table.cap, table.wait,
        table.signal, table.queue_init, float(port))
    if stuck:  # pragma: no cover - the schedule above cannot deadlock
        raise RuntimeError("systolic cycle schedule deadlocked")
    runs = stage_runs(STAGES, first, first + n_ops, table.nbytes, busy, contention, finish)
    return GemmRun(cycles=float(finish.max()), compute_cycles=float(compute.sum()),
                   busy={s.name: s.busy_cycles for s in runs},
                   dram_bytes=float(load_i.sum() + load_f.sum() + store_o.sum()), folds=folds)


def dram_words(m: Any, n: Any, k: Any, rows: Any, cols: Any, flow: Any, half_i: Any,
               half_f: Any) -> tuple[Any, Any, Any]:
    """Words the schedule above moves per repetition (numpy, broadcasting): ifmap and filter
    reads, ofmap writes. The streamed operand is re-read once per column fold unless it fits
    half its SRAM; ``ws`` and ``is`` write each row fold's partial sums. This is the physical
    traffic (valid operands only): SCALE-Sim's DRAM columns also count the null words that pad
    partial folds (:func:`hwsim.asic.analytic.memory_costs`)."""
    m, n, k = (np.asarray(v, dtype=np.float64) for v in (m, n, k))
    rows, cols, flow = np.asarray(rows), np.asarray(cols), np.asarray(flow)
    s_r = np.where(flow == _OS, m, k)
    s_c = np.where(flow == _IS, m, n)
    f_r, f_c = np.ceil(s_r / rows), np.ceil(s_c / cols)
    ifmap_re = np.where(m * k <= half_i, 1.0, f_c)
    filter_re = np.where(k * n <= half_f, 1.0, f_c)
    ifmap = m * k * np.where(flow == _IS, 1.0, ifmap_re)
    filt = k * n * np.where(flow == _IS, filter_re, 1.0)
    ofmap = m * n * np.where(flow == _OS, 1.0, f_r)
    return ifmap, filt, ofmap
