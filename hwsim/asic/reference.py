"""Plain-Python, fold-by-fold re-count of :mod:`hwsim.asic.analytic`, for the tests.

Nothing here is closed-form: every figure is summed over the folds in the order SCALE-Sim 3.0.0
builds them (``compute/systolic_compute_{os,ws,is}.py``, ``create_*_demand_mat``: ``for fc in
col folds: for fr in row folds``), with each fold's demand-matrix shape taken as SCALE-Sim
concatenates it (null prefix / suffix rows, then the skew that adds ``columns - 1`` rows). The
memory re-count walks the same folds to find where each SRAM refill is first needed and where
each ofmap drain starts. It is plain and slow; the tests compare it with the closed forms and the
numba kernels on random shapes.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

from hwsim.asic.analytic import DATAFLOWS

__all__ = ["Fold", "compute", "folds", "memory"]


@dataclass(frozen=True, slots=True)
class Fold:
    """One fold: its position in the loop and the demand matrices SCALE-Sim builds for it."""

    outer: int  # fc, the column fold
    inner: int  # fr, the row fold
    rows_used: int
    cols_used: int
    ifmap_lines: int  # rows of the fold's ifmap demand matrix, after the skew
    filter_lines: int
    ofmap_lines: int
    cycles_this_fold: int  # the fold time SCALE-Sim's compute utilisation divides by
    time_steps: int  # T


def _skewed(rows: int, cols: int, skew: bool) -> int:
    """Rows after ``skew_matrix`` (``rows + cols - 1``) or without it."""
    return rows + cols - 1 if skew else rows


def folds(m: int, n: int, k: int, rows: int, cols: int, dataflow: str) -> list[Fold]:
    """The folds in SCALE-Sim's order, each with its demand-matrix heights."""
    if dataflow not in DATAFLOWS:
        raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")
    s_r, s_c, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]
    out = []
    for fc in range(math.ceil(s_c / cols)):
        for fr in range(math.ceil(s_r / rows)):
            ru = min(rows, s_r - fr * rows)
            cu = min(cols, s_c - fc * cols)
            if dataflow == "os":
                ifmap = _skewed(t + (cols - 1), rows, True)  # T x rows, drain suffix
                filt = _skewed(t + (rows - 1), cols, True)
                ofmap_pre = (t - 1) + rows  # fill prefix, then the flipped outputs
                ofmap = _skewed(ofmap_pre, cols, True)
                fold_cycles = ofmap_pre + cols - 1
            else:
                # ws / is: the stationary operand takes ``rows`` lines to load, then
                # ``T`` streams through; the ofmap waits 2*rows - 1 lines
                stationary_pre = rows + (rows + cols + t - 2)  # loaded rows + suffix
                streamed = _skewed(rows + t + (cols - 1), rows, True)
                ofmap = _skewed((2 * rows - 1) + t, cols, True)
                if dataflow == "ws":
                    ifmap, filt = streamed, stationary_pre
                else:
                    ifmap, filt = stationary_pre, streamed
                fold_cycles = stationary_pre + cols - 1
            out.append(Fold(fc, fr, ru, cu, ifmap, filt, ofmap, fold_cycles, t))
    return out


def compute(m: int, n: int, k: int, rows: int, cols: int, dataflow: str) -> dict[str, float]:
    """Compute cycles, utilisations and SRAM accesses of one GEMM, summed fold by fold.

    ``ofmap_sram_writes`` counts the outputs written; ``scalesim_ofmap_sram_writes`` is
    SCALE-Sim's counter, which for ``os`` also adds ``rows + cols`` per fold
    (``systolic_compute_os.create_ofmap_demand_mat``).
    """
    plan = folds(m, n, k, rows, cols, dataflow)
    lines = 0
    mapping = util = 0.0
    sram_i = sram_f = sram_o = 0
    for f in plan:
        if not f.ifmap_lines == f.filter_lines == f.ofmap_lines:
            raise AssertionError(f"demand matrices out of sync in {f}")
        lines += f.ofmap_lines
        used = f.rows_used * f.cols_used
        mapping += used / (rows * cols)
        util += used * f.time_steps / (rows * cols * f.cycles_this_fold)
        if dataflow == "os":  # ifmap T x rows_used, filter T x cols_used, outputs
            sram_i += k * f.rows_used
            sram_f += k * f.cols_used
            sram_o += f.rows_used * f.cols_used
        elif dataflow == "ws":  # ifmap m x rows_used, filter tile, partial sums m x cols_used
            sram_i += m * f.rows_used
            sram_f += f.rows_used * f.cols_used
            sram_o += m * f.cols_used
        else:  # is: ifmap tile, filter n x rows_used, partial sums n x cols_used
            sram_i += f.rows_used * f.cols_used
            sram_f += n * f.rows_used
            sram_o += n * f.cols_used
    extra = len(plan) * (rows + cols) if dataflow == "os" else 0
    return {"compute_cycles": lines - 1, "mapping_efficiency": mapping / len(plan),
            "compute_utilisation": util / len(plan), "ifmap_sram_reads": sram_i,
            "filter_sram_reads": sram_f, "ofmap_sram_writes": sram_o,
            "scalesim_ofmap_sram_writes": sram_o + extra}


@dataclass(frozen=True, slots=True)
class _Use:
    """Entries an operand's stream gives one fold: ``[first, first + count)`` of pass ``ring``,
    consumed evenly over ``span`` lines from line ``start`` of the fold."""

    fold_start: int
    ring: int
    first: int
    count: int
    start: int
    span: int


def _uses(m: int, n: int, k: int, rows: int, cols: int, dataflow: str, operand: str,
          words: int) -> tuple[list[_Use], int, int]:
    """Every fold's use of ``operand``'s stream, the entries per pass and the stream size."""
    plan = folds(m, n, k, rows, cols, dataflow)
    lines = plan[0].ofmap_lines
    uses: list[_Use] = []
    offset = 0
    for i, f in enumerate(plan):
        t0 = i * lines
        if f.inner == 0 and dataflow in ("os", "ws") and operand == "ifmap":
            offset = 0  # os / ws walk the ifmap again for every column fold
        if f.inner == 0 and dataflow == "is" and operand == "filter":
            offset = 0
        if dataflow == "os" and operand == "ifmap":
            use = (f.outer, k * f.rows_used, 0, k + rows - 1)
        elif dataflow == "os" and operand == "filter":
            if k * cols <= (words + 1) // 2 and f.inner > 0:
                continue  # the block stays in the SRAM over the row folds
            use = (0, k * f.cols_used, 0, k + cols - 1)
        elif dataflow == "os":
            use = (0, f.rows_used * f.cols_used, k - 1, rows + cols - 1)
        elif operand == "ofmap":
            c = m if dataflow == "ws" else n
            use = (0, c * f.cols_used, 2 * rows - 1, c + cols - 1)
        elif (dataflow, operand) in (("ws", "ifmap"), ("is", "filter")):
            c = m if dataflow == "ws" else n
            use = (f.outer, c * f.rows_used, rows, c + rows - 1)
        else:  # the stationary tile
            use = (0, f.rows_used * f.cols_used, 0, rows)
        ring, count, start, span = use
        uses.append(_Use(t0, ring, offset, count, start, span))
        offset += count
    per_pass = {"ifmap": m * k, "filter": k * n}.get(operand, 0)
    if dataflow == "os":
        stream = {"ifmap": k * rows * math.ceil(m / rows), "filter": k * cols * math.ceil(n / cols)}
    elif dataflow == "ws":
        stream = {"ifmap": m * rows * math.ceil(k / rows), "filter": k * cols * math.ceil(n / cols)}
    else:
        stream = {"ifmap": k * cols * math.ceil(m / cols), "filter": n * rows * math.ceil(k / rows)}
    return uses, per_pass, stream.get(operand, 0)


@dataclass(frozen=True, slots=True)
class _Walk:
    """An operand's uses in fold order, so sorted by ``(ring, first)`` and by start cycle."""

    uses: list[_Use]
    keys: list[tuple[int, int]]
    begins: list[int]

    @classmethod
    def of(cls, uses: list[_Use]) -> _Walk:
        return cls(uses, [(u.ring, u.first) for u in uses],
                   [u.fold_start + u.start for u in uses])


def _when(walk: _Walk, ring: int, entry: int) -> float:
    """Stall-free cycle at which ``entry`` of pass ``ring`` is consumed (a bisection)."""
    i = bisect.bisect_right(walk.keys, (ring, entry)) - 1
    u = walk.uses[i]
    if i < 0 or u.ring != ring or not u.first <= entry < u.first + u.count:
        raise AssertionError(f"entry {entry} of pass {ring} is never consumed")
    return u.fold_start + u.start + (entry - u.first) * u.span / u.count


def _refills(uses: list[_Use], per_pass: int, stream: int, words: int, bw: float
             ) -> tuple[float, list[tuple[float, float]], bool]:
    """DRAM words, ``(needed at, ready at)`` of every refill, and whether the stream fits."""
    per_set = math.ceil(words / 100)
    active = math.ceil(words / 2)
    prefetch = words - active
    window = math.ceil(active / per_set)
    n_sets = per_pass // per_set + 1
    fill = min(math.ceil(active / bw), math.ceil(stream / bw)) * bw
    if n_sets <= window:
        return fill, [], True
    step = min(math.ceil(prefetch / per_set), n_sets - window)
    walk = _Walk.of(uses)
    rings = {u.ring for u in uses}

    def place(s: int) -> tuple[int, int] | None:  # set s, counted along the walk -> entry
        if len(rings) > 1:
            q, x = divmod(s, n_sets)
            x *= per_set
            if x >= per_pass:
                q, x = q + 1, 0
            return (q, x) if q in rings else None
        x = s * per_set
        return (0, x) if x < uses[-1].first + uses[-1].count else None

    events = []
    refill = math.ceil(prefetch / bw)
    j = 1
    while True:
        spot = place(window + (j - 1) * step)
        if spot is None:
            break
        events.append((_when(walk, *spot), j * (refill + 1) - 1.0))
        j += 1
    return fill + len(events) * refill * bw, events, not events


def _writes_by(walk: _Walk, t: float) -> float:
    """Writes made by stall-free cycle ``t`` (a bisection over the folds' start cycles)."""
    i = bisect.bisect_right(walk.begins, t) - 1
    if i < 0:
        return 0.0
    u = walk.uses[i]
    return u.first + u.count * min(1.0, (t - u.fold_start - u.start) / u.span)


def memory(m: int, n: int, k: int, rows: int, cols: int, dataflow: str, ifmap_words: int,
           filter_words: int, ofmap_words: int, bw_words: float) -> dict[str, Any]:
    """Stall cycles and DRAM traffic of one repetition of one GEMM, walking the folds.

    The same model as :func:`hwsim.asic.analytic.memory_costs` (its ``_memory_one``): refills
    placed in the folds that consume their first entries, late ones charged twice their
    lateness, and the ofmap buffer's drains followed write by write, in the order the array
    meets them.
    """
    out: dict[str, Any] = dict(compute(m, n, k, rows, cols, dataflow))
    dram = {}
    reads: list[tuple[float, float]] = []
    fits = {}
    for operand, words in (("ifmap", ifmap_words), ("filter", filter_words)):
        uses, per_pass, stream = _uses(m, n, k, rows, cols, dataflow, operand, words)
        dram[operand], ev, fits[operand] = _refills(uses, per_pass, stream, words, bw_words)
        reads += ev
    reads.sort(key=lambda e: e[0])
    writes = int(out["ofmap_sram_writes"])
    w_walk = _Walk.of(_uses(m, n, k, rows, cols, dataflow, "ofmap", ofmap_words)[0])
    half = ofmap_words - math.ceil(ofmap_words / 2)
    lines = math.ceil(half / bw_words)
    delay = now = credits = 0.0
    drain_end = -math.inf
    start_at = half if writes > half else None
    full_at: int | None = None
    r = 0
    while True:
        if start_at is not None:
            tau_w = _when(w_walk, 0, start_at)
        elif full_at is not None:
            tau_w = min(_when(w_walk, 0, full_at), max(now, drain_end - delay))
        else:
            tau_w = math.inf
        tau_r = reads[r][0] if r < len(reads) else math.inf
        now = min(tau_w, tau_r)
        if now == math.inf:
            break
        if tau_w == now and start_at is not None:  # a drain starts
            amount = min(lines * bw_words, start_at + 1 - credits)
            credits += amount
            drain_end = now + delay + math.ceil(amount / bw_words)
            full_at = int(credits) + ofmap_words - 1
            full_at = full_at if full_at < writes else None
            start_at = None
        elif tau_w == now:
            assert full_at is not None
            if now + delay < drain_end:
                delay = drain_end - now
                start_at = full_at + 1 if full_at + 1 < writes else None
            else:
                x = max(math.ceil(credits) + half, math.ceil(_writes_by(w_walk, now)))
                start_at = x if x < writes else None
            full_at = None
        else:
            slack = reads[r][1] - (now + delay)
            if slack > 0:
                delay += 2 * slack
            r += 1
    stall = math.ceil(delay)
    out.update(stall_cycles=stall, total_cycles=out["compute_cycles"] + stall,
               ifmap_dram_reads=round(dram["ifmap"]), filter_dram_reads=round(dram["filter"]),
               ofmap_dram_writes=writes, ifmap_fits=fits["ifmap"], filter_fits=fits["filter"])
    return out
