"""Analytic tier of a SCALE-Sim-style systolic array: compute cycles, memory traffic and stalls.

Source: SCALE-Sim 3.0.0 (``pip install scalesim==3.0.0``; github.com/scalesim-project), the
simulator of Samajdar et al., "A Systematic Methodology for Characterizing Scalability of DNN
Accelerators using SCALE-Sim", ISPASS 2020. The closed forms below re-count what its trace
generator produces; docs/asic.md derives them and states every tolerance.

A GEMM is ``(m x k) @ (k x n)``: ``m`` output pixels (SCALE-Sim's ofmap pixels
``H_out*W_out``), ``n`` filters, ``k`` the reduction window (``R*S*C``), repeated ``count``
times one after another (the groups of a grouped or depthwise convolution: SCALE-Sim runs each
as its own layer, ``topology_utils.load_arrays_conv`` for a ``DP`` layer). Each dataflow maps
two GEMM dimensions on the ``rows x cols`` array and streams the third in time
(``topology_utils.calc_spatio_temporal_params``): ``os``: rows <- m, cols <- n, time k;
``ws``: rows <- k, cols <- n, time m; ``is``: rows <- k, cols <- m, time n.

**Compute cycles** (exact, any positive sizes). With ``S_r, S_c, T`` the row, column and time
dimensions above, ``F = ceil(S_r/rows) * ceil(S_c/cols)`` folds and ``L`` demand lines per fold::

    os: L = T + rows + cols - 2       (compute/systolic_compute_os.py, create_*_demand_mat)
    ws: L = T + 2*rows + cols - 2     (compute/systolic_compute_ws.py)
    is: L = T + 2*rows + cols - 2     (compute/systolic_compute_is.py)
    compute_cycles = F*L - 1          (memory/double_buffered_scratchpad_mem.py)

``service_memory_requests`` serves one demand line per cycle and reports the cycle of the last
line, ``F*L - 1`` plus stalls, as "Total Cycles".

**Memory** (approximate; docs/asic.md states the bands): SCALE-Sim's double-buffered SRAMs
(``memory/read_buffer.py``, ``write_buffer.py``) re-counted event by event in ``_memory_one``:
a read operand whose prefetch stream fits the active half of its SRAM is read before cycle 0;
otherwise each refill of the other half (``P = W - ceil(W/2)`` words) is ready
``ceil(P/bw) + 1`` cycles after the last, and the array stalls when it asks for one too early;
the ofmap buffer drains half its words at a time and stalls the array when full. The refills
counted are an ideal double buffer's (the streamed operand re-read once per outer fold, the
stationary one read once). SCALE-Sim's window only moves forward around its ring, so where its
demand order steps back across a window boundary it refetches the stream; that is not
reproduced.

Length: about 660 lines, over the ~600 guideline on purpose: the kernels call each other and
numba's cache does not see edits across modules (STYLE.md), so they stay in one module with the
public wrappers that validate their inputs, as in ``hwsim/fpga/analytic.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from numba import prange

from hwsim.errors import Checker, RecordError
from hwsim.spec.records import MAX_ARRAY_DIM, MAX_COUNT, MAX_DRAM_BYTES_PER_CYCLE

__all__ = [
    "DATAFLOWS",
    "SystolicCosts",
    "compute_cycles",
    "dataflow_codes",
    "gemm_cycles",
    "layer_costs",
    "memory_costs",
    "utilisation",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

DATAFLOWS = ("os", "ws", "is")
_OS, _WS, _IS = 0, 1, 2
_PARALLEL_MIN_DESIGNS = 64  # below this a thread-pool launch costs more than it saves

# how a read operand's fold tiles are consumed (see _time_at)
_STREAM = 0  # depends on the inner fold only: re-walked once per outer fold
_TILE = 1  # depends on both folds: each tile read once
_BLOCK = 2  # depends on the outer fold only, kept over the inner folds
_REREAD = 3  # depends on the outer fold only, consumed again at every inner fold

# fields of the memory kernel's integer output, in order
_INT_FIELDS = ("compute_cycles", "stall_cycles", "total_cycles", "ifmap_sram_reads",
               "filter_sram_reads", "ofmap_sram_writes", "ifmap_dram_reads", "filter_dram_reads",
               "ofmap_dram_writes", "ifmap_fits", "filter_fits")


# --------------------------------------------------------------------------------------------
# kernels: compute
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _compute_one(m: int, n: int, k: int, rows: int, cols: int, flow: int) -> int:
    """``F*L - 1`` of the module docstring. Self-contained, so that ``.py_func`` computes in
    Python integers (:func:`compute_cycles`)."""
    if flow == _OS:  # rows <- m, cols <- n, time k
        return ((m + rows - 1) // rows) * ((n + cols - 1) // cols) * (k + rows + cols - 2) - 1
    if flow == _WS:  # rows <- k, cols <- n, time m
        return ((k + rows - 1) // rows) * ((n + cols - 1) // cols) * (m + 2 * rows + cols - 2) - 1
    return ((k + rows - 1) // rows) * ((m + cols - 1) // cols) * (n + 2 * rows + cols - 2) - 1


@numba.njit(cache=True)
def _cycles_serial(m: Any, n: Any, k: Any, count: Any, rows: Any, cols: Any, flow: Any) -> Any:
    n_d, n_g = rows.shape
    out = np.empty((n_d, n_g), dtype=np.int64)
    for d in range(n_d):
        for g in range(n_g):
            out[d, g] = count[g] * _compute_one(m[g], n[g], k[g], rows[d, g], cols[d, g],
                                                flow[d, g])
    return out


@numba.njit(cache=True, parallel=True)
def _cycles_parallel(m: Any, n: Any, k: Any, count: Any, rows: Any, cols: Any, flow: Any
                     ) -> Any:
    n_d, n_g = rows.shape
    out = np.empty((n_d, n_g), dtype=np.int64)
    for d in prange(n_d):
        for g in range(n_g):
            out[d, g] = count[g] * _compute_one(m[g], n[g], k[g], rows[d, g], cols[d, g],
                                                flow[d, g])
    return out


@numba.njit(cache=True)
def _utilisation_one(m: int, n: int, k: int, rows: int, cols: int, flow: int
                     ) -> tuple[float, float]:
    """(mapping efficiency, compute utilisation) as SCALE-Sim averages them over the folds.

    Mapping: used PEs / PEs per fold, where the folds' used PEs add up to ``S_r*S_c``.
    Compute: ``used*T / (PEs * fold_cycles)`` per fold, ``fold_cycles`` being the rows + cols - 1
    of the fold's ofmap (os) or filter / ifmap (ws / is) demand before the skew
    (``create_ofmap_demand_mat``, ``create_filter_demand_mat``, ``create_ifmap_demand_mat``):
    ``T + rows + cols - 2`` (os), ``T + 2*rows + 2*cols - 3`` (ws, is).
    """
    if flow == _OS:
        s_r, s_c, t = m, n, k
        fold_cycles = t + rows + cols - 2
    else:
        s_r, s_c, t = (k, n, m) if flow == _WS else (k, m, n)
        fold_cycles = t + 2 * rows + 2 * cols - 3
    folds = float(((s_r + rows - 1) // rows) * ((s_c + cols - 1) // cols))
    pes = float(rows) * float(cols)
    used = float(s_r) * float(s_c)
    return used / (pes * folds), used * float(t) / (pes * float(fold_cycles) * folds)


# --------------------------------------------------------------------------------------------
# kernels: memory
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _time_at(kind: int, x: int, q: int, c: int, geo: Any, start: int, span: int) -> float:
    """Stall-free cycle at which entry ``x`` of pass ``q`` of an operand stream is consumed.

    Folds run outer-major (``for outer: for inner:``), ``lines`` cycles each, and a fold
    consumes its entries evenly over ``span`` cycles from its line ``start``. ``geo`` is
    ``(s_o, d_o, s_i, d_i, f_i, lines)``: the outer (inner) dimension, its tile, the inner folds
    and the lines per fold; ``c`` the entries per used row or column of a tile.
    """
    s_o, d_o, s_i, d_i, f_i, lines = geo
    if kind == _STREAM:  # c * u_inner entries per fold; pass q is outer fold q
        fi = x // (c * d_i)
        w = x - fi * c * d_i
        e = c * min(d_i, s_i - fi * d_i)
        fold = q * f_i + fi
    elif kind == _TILE:  # u_outer * u_inner entries per fold
        fo = x // (d_o * s_i)
        w0 = x - fo * d_o * s_i
        uo = min(d_o, s_o - fo * d_o)
        fi = w0 // (d_i * uo)
        w = w0 - fi * d_i * uo
        e = uo * min(d_i, s_i - fi * d_i)
        fold = fo * f_i + fi
    else:  # c * u_outer entries at the first inner fold (_BLOCK) or at every one (_REREAD)
        reps = 1 if kind == _BLOCK else f_i
        fo = x // (reps * c * d_o)
        e = c * min(d_o, s_o - fo * d_o)
        w0 = x - fo * reps * c * d_o
        fi = w0 // e
        w = w0 - fi * e
        fold = fo * f_i + fi
    return fold * lines + start + w * span / e


@numba.njit(cache=True)
def _plans(m: int, n: int, k: int, rows: int, cols: int, flow: int, w_filter: int) -> Any:
    """Where each operand's entries go, fold by fold (``create_*_prefetch_mat`` and
    ``create_*_demand_mat`` of ``compute/systolic_compute_{os,ws,is}.py``).

    Returns ``(geo, ifmap, filter, ofmap, (ifmap, filter SRAM reads))``. A read plan is
    ``(kind, c, valid entries, prefetch-stream words, passes, start, span)``; the ofmap plan
    ``(kind, c, start, span, writes)``; ``geo`` as :func:`_time_at` takes it.
    """
    if flow == _OS:
        s_r, s_c, lines = m, n, k + rows + cols - 2
    else:
        s_r, s_c = (k, n) if flow == _WS else (k, m)
        lines = (m if flow == _WS else n) + 2 * rows + cols - 2
    f_r = (s_r + rows - 1) // rows
    f_c = (s_c + cols - 1) // cols
    geo = (s_c, cols, s_r, rows, f_r, lines)  # outer = column folds, inner = row folds
    if flow == _OS:  # ifmap m-tiles (k x rows) walked once per n-fold; filter n-blocks reused
        block = _BLOCK if k * cols <= (w_filter + 1) // 2 else _REREAD
        return (geo, (_STREAM, k, m * k, k * rows * f_r, f_c, 0, k + rows - 1),
                (block, k, k * n, k * cols * f_c, 1, 0, k + cols - 1),
                (_TILE, 1, k - 1, rows + cols - 1, m * n), (m * k * f_c, k * n * f_r))
    if flow == _WS:  # filter tiles stationary; ifmap k-slices (m x rows) walked per n-fold
        return (geo, (_STREAM, m, m * k, m * rows * f_r, f_c, rows, m + rows - 1),
                (_TILE, 1, k * n, k * cols * f_c, 1, 0, rows),
                (_REREAD, m, 2 * rows - 1, m + cols - 1, m * n * f_r), (m * k * f_c, k * n))
    # is: ifmap tiles stationary; filter k-slices (n x rows) walked once per m-fold
    return (geo, (_TILE, 1, m * k, k * cols * f_c, 1, 0, rows),
            (_STREAM, n, k * n, n * rows * f_r, f_c, rows, n + rows - 1),
            (_REREAD, n, 2 * rows - 1, n + cols - 1, m * n * f_r), (k * m, k * n * f_c))


@numba.njit(cache=True)
def _operand(plan: Any, words: int, bw: float, f_i: int) -> tuple[float, Any]:
    """How one read operand uses its SRAM (``read_buffer.set_params``, ``prepare_hashed_buffer``,
    ``prefetch_active_buffer``, ``new_prefetch``).

    Null requests padding partial folds take DRAM lines but no SRAM. Returns the DRAM words and
    ``(refills, cycles per refill, words per set, sets in the active window, sets per refill,
    sets in the stream)``; 0 refills when the stream fits the active half.
    """
    kind, _, valid, stream, passes, _, _ = plan
    per_set = (words + 99) // 100
    active = (words + 1) // 2
    prefetch = words - active
    window = (active + per_set - 1) // per_set
    n_sets = valid // per_set + 1  # prepare_hashed_buffer always closes a last (maybe empty) set
    fill = min(np.ceil(active / bw), np.ceil(stream / bw)) * bw
    if n_sets <= window:
        return fill, (0, 0.0, per_set, n_sets, 0, n_sets)
    step = min((prefetch + per_set - 1) // per_set, n_sets - window)
    if kind == _STREAM:  # a ring walked once per outer fold
        last_set = (passes - 1) * n_sets + (valid - 1) // per_set
    elif kind == _REREAD:
        last_set = (f_i * valid - 1) // per_set
    else:
        last_set = (valid - 1) // per_set
    refills = 0 if last_set < window else (last_set - window) // step + 1
    refill = np.ceil(prefetch / bw)
    return fill + refills * refill * bw, (refills, refill, per_set, window, step, n_sets)


@numba.njit(cache=True)
def _refill_time(j: int, plan: Any, use: Any, geo: Any) -> float:
    """Stall-free cycle at which the array first asks for an entry of refill ``j``
    (``inf`` past the last refill)."""
    kind, c, valid, _, _, start, span = plan
    refills, _, per_set, window, step, n_sets = use
    if j > refills:
        return np.inf
    s = window + (j - 1) * step  # first set of refill j, counted along the walk
    if kind == _STREAM:
        q = s // n_sets
        x = (s - q * n_sets) * per_set
        if x >= valid:  # the ring's last set is empty: the next pass asks first
            q += 1
            x = 0
        return _time_at(kind, x, q, c, geo, start, span)
    return _time_at(kind, s * per_set, 0, c, geo, start, span)


@numba.njit(cache=True)
def _writes_by(t: float, plan: Any, geo: Any) -> float:
    """Ofmap writes made by stall-free cycle ``t``: the inverse of :func:`_time_at`."""
    kind, c, start, span, writes = plan
    s_o, d_o, s_i, d_i, f_i, lines = geo
    fold = int(t // lines) if t > 0.0 else 0
    if fold >= f_i * ((s_o + d_o - 1) // d_o):
        return float(writes)
    fo, fi = fold // f_i, fold % f_i
    uo = min(d_o, s_o - fo * d_o)
    if kind == _TILE:
        before, e = fo * d_o * s_i + uo * fi * d_i, uo * min(d_i, s_i - fi * d_i)
    else:
        before, e = fo * f_i * c * d_o + fi * c * uo, c * uo
    return before + e * min(1.0, max(0.0, (t - fold * lines - start) / span))


@numba.njit(cache=True)
def _memory_one(m: int, n: int, k: int, rows: int, cols: int, flow: int, w_ifmap: int,
                w_filter: int, w_ofmap: int, bw: float, out: Any) -> None:
    """One repetition of one GEMM; fills ``out`` in the order of ``_INT_FIELDS``.

    Events in the order the array meets them (stall-free cycle ``tau``, shifted by the delay so
    far): a read refill ready at ``T`` stalls ``2*(T - tau - delay)`` when late
    (``read_buffer.service_reads`` adds a positive potential stall twice). The ofmap buffer
    (``write_buffer.service_writes``) starts a drain of up to ``ceil(D/bw)`` lines,
    ``D = W - ceil(W/2)``, at the first write that leaves more than ``D`` words waiting once the
    last drain is over, frees the words at once, and when a write leaves it full stalls the
    array until the drain ends.
    """
    geo, p_i, p_f, p_w, sram = _plans(m, n, k, rows, cols, flow, w_filter)
    dram_i, use_i = _operand(p_i, w_ifmap, bw, geo[4])
    dram_f, use_f = _operand(p_f, w_filter, bw, geo[4])
    w_kind, w_c, w_start, w_span, writes = p_w
    half = w_ofmap - (w_ofmap + 1) // 2
    drain_lines = np.ceil(half / bw)
    delay, now, credits, drain_end = 0.0, 0.0, 0.0, -np.inf
    start_at = half if writes > half else -1  # the write that starts the next drain
    full_at = -1  # while draining: the write that fills the buffer
    j_i, j_f = 1, 1
    tau_i, tau_f = _refill_time(1, p_i, use_i, geo), _refill_time(1, p_f, use_f, geo)
    while True:
        if start_at >= 0:
            tau_w = _time_at(w_kind, start_at, 0, w_c, geo, w_start, w_span)
        elif full_at >= 0:
            tau_w = min(_time_at(w_kind, full_at, 0, w_c, geo, w_start, w_span),
                        max(now, drain_end - delay))
        else:
            tau_w = np.inf
        tau = min(tau_i, tau_f, tau_w)
        if tau == np.inf:
            break
        now = tau
        if tau_w == tau and start_at >= 0:  # a drain starts
            amount = min(drain_lines * bw, start_at + 1 - credits)
            credits += amount
            drain_end = tau + delay + np.ceil(amount / bw)
            full_at = int(credits) + w_ofmap - 1
            full_at = full_at if full_at < writes else -1
            start_at = -1
        elif tau_w == tau:  # the buffer fills, or the drain ends, first
            if tau + delay < drain_end:  # full: wait; the next write starts a drain
                delay = drain_end - tau
                start_at = full_at + 1 if full_at + 1 < writes else -1
            else:  # the first write after the drain that leaves more than D waiting
                x = max(int(np.ceil(credits)) + half,
                        int(np.ceil(_writes_by(tau, p_w, geo))))
                start_at = x if x < writes else -1
            full_at = -1
        else:  # a read refill
            if tau_i <= tau_f:
                ready = j_i * (use_i[1] + 1.0) - 1.0
                j_i += 1
                tau_i = _refill_time(j_i, p_i, use_i, geo)
            else:
                ready = j_f * (use_f[1] + 1.0) - 1.0
                j_f += 1
                tau_f = _refill_time(j_f, p_f, use_f, geo)
            slack = ready - (tau + delay)
            if slack > 0.0:
                delay += 2.0 * slack
    out[0] = _compute_one(m, n, k, rows, cols, flow)
    out[1] = np.int64(np.ceil(delay))
    out[2] = out[0] + out[1]
    out[3], out[4], out[5] = sram[0], sram[1], writes
    out[6], out[7], out[8] = np.int64(np.rint(dram_i)), np.int64(np.rint(dram_f)), writes
    out[9], out[10] = use_i[0] == 0, use_f[0] == 0


@numba.njit(cache=True)
def _costs_one(m: int, n: int, k: int, count: int, rows: int, cols: int, flow: int, w_i: int,
               w_f: int, w_o: int, bw: float, ints: Any, floats: Any) -> None:
    """``count`` repetitions of one GEMM: ``ints`` in the order of ``_INT_FIELDS``, ``floats``
    = (mapping efficiency, compute utilisation, overall utilisation)."""
    _memory_one(m, n, k, rows, cols, flow, w_i, w_f, w_o, bw, ints)
    floats[0], floats[1] = _utilisation_one(m, n, k, rows, cols, flow)
    # 0 cycles (1x1x1 on a 1x1 os array): SCALE-Sim's own ratio divides by zero
    floats[2] = float(m) * n * k / (float(ints[2]) * rows * cols) if ints[2] > 0 else np.nan
    for f in range(9):
        ints[f] *= count


@numba.njit(cache=True)
def _memory_design(d: int, m: Any, n: Any, k: Any, count: Any, rows: Any, cols: Any,
                   flow: Any, w_i: Any, w_f: Any, w_o: Any, bw: Any, ints: Any, floats: Any
                   ) -> None:
    for g in range(m.shape[0]):
        _costs_one(m[g], n[g], k[g], count[g], rows[d, g], cols[d, g], flow[d, g], w_i[d, g],
                   w_f[d, g], w_o[d, g], bw[d, g], ints[:, d, g], floats[:, d, g])


@numba.njit(cache=True)
def _memory_serial(m: Any, n: Any, k: Any, count: Any, rows: Any, cols: Any, flow: Any,
                   w_i: Any, w_f: Any, w_o: Any, bw: Any, ints: Any, floats: Any) -> None:
    for d in range(rows.shape[0]):
        _memory_design(d, m, n, k, count, rows, cols, flow, w_i, w_f, w_o, bw, ints, floats)


@numba.njit(cache=True, parallel=True)
def _memory_parallel(m: Any, n: Any, k: Any, count: Any, rows: Any, cols: Any, flow: Any,
                     w_i: Any, w_f: Any, w_o: Any, bw: Any, ints: Any, floats: Any) -> None:
    for d in prange(rows.shape[0]):
        _memory_design(d, m, n, k, count, rows, cols, flow, w_i, w_f, w_o, bw, ints, floats)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------

_MAX_WORK = 2.0**62  # every count the kernels form stays below this in int64
_LIMITS = {"rows": MAX_ARRAY_DIM, "cols": MAX_ARRAY_DIM, "word_bytes": 16,
           "ifmap_sram_kib": float(MAX_COUNT), "filter_sram_kib": float(MAX_COUNT),
           "ofmap_sram_kib": float(MAX_COUNT), "dram_bytes_per_cycle": MAX_DRAM_BYTES_PER_CYCLE}
_FLOW_RULE = f"must be one of {DATAFLOWS} or their codes 0, 1, 2"


def _int_array(c: Checker, name: str, value: Any) -> IntArray:
    arr, top = np.asarray(value), _LIMITS.get(name, _MAX_WORK)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        c.add(name, value if arr.size <= 8 else arr.dtype, "must be integers")
    elif np.any(bad := (arr < 1) | (arr > top)):
        c.add(name, arr[bad].flat[0].item(), f"must be integers in [1, {top:.0f}]")
    else:
        return arr.astype(np.int64)
    return np.ones(arr.shape, dtype=np.int64)


def _positive_array(c: Checker, name: str, value: Any) -> FloatArray:
    top = _LIMITS[name]
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.full(np.shape(value), np.nan)
    if np.any(bad := ~((arr > 0.0) & (arr <= top))):  # NaN is bad too
        c.add(name, arr[bad].flat[0].item(), f"must be finite numbers in (0, {top:g}]")
        return np.ones(arr.shape)
    return arr


def _flow_array(c: Checker, value: Any) -> IntArray:
    arr = np.asarray(value)
    if arr.dtype.kind in "US":
        codes = np.full(arr.shape, -1, dtype=np.int64)
        for code, name in enumerate(DATAFLOWS):
            codes[arr == name] = code
    elif np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_:
        codes = arr.astype(np.int64)
    else:
        codes = np.full(arr.shape, -1, dtype=np.int64)
    if np.any(bad := (codes < 0) | (codes > 2)):
        c.add("dataflow", arr[bad].flat[0].item(), _FLOW_RULE)
        return np.zeros(arr.shape, dtype=np.int64)
    return codes


def dataflow_codes(dataflow: Any) -> IntArray:
    """Dataflow names (``"os"``, ``"ws"``, ``"is"``) or codes (0, 1, 2) as int64 codes, the
    form the kernels take; raises :class:`~hwsim.errors.RecordError` naming a bad value."""
    c = Checker()
    codes = _flow_array(c, dataflow)
    c.raise_if_any(RecordError, "dataflow")
    return codes


def _designs(c: Checker, n_gemms: int, arrays: dict[str, Any]) -> dict[str, Any]:
    """Each design array as ``[n_designs, n_gemms]``: scalars and ``[n_designs]`` broadcast."""
    shaped = {}
    for name, arr in arrays.items():
        if arr.ndim > 2 or (arr.ndim == 2 and arr.shape[1] not in (1, n_gemms)):
            c.add(name, arr.shape, f"must be a scalar, [n_designs] or [n_designs, {n_gemms}]")
            arr = arr.reshape(-1)[:1]
        shaped[name] = arr.reshape(-1, 1) if arr.ndim < 2 else arr
    try:
        out = list(np.broadcast_arrays(*shaped.values(), np.empty((1, n_gemms)))[:-1])
    except ValueError:
        c.add("rows", [a.shape for a in shaped.values()], "design arrays must broadcast together")
        out = [np.broadcast_to(a.reshape(-1)[:1, None], (1, n_gemms)) for a in shaped.values()]
    return {name: np.ascontiguousarray(a) for name, a in zip(shaped, out, strict=True)}


def _batch(record: str, m: Any, n: Any, k: Any, count: Any, designs: dict[str, Any]
           ) -> tuple[list[IntArray], dict[str, Any]]:
    """Validate GEMM and design arrays, reporting every problem at once."""
    c = Checker()
    gemms = [_int_array(c, name, v) for name, v in zip("mnk", (m, n, k), strict=True)]
    gemms.append(_int_array(c, "count", count))
    if len({g.shape for g in gemms}) != 1 or gemms[0].ndim != 1:
        c.add("m", [g.shape for g in gemms], "m, n, k and count must be 1-D arrays of one length")
        gemms = [np.ones(1, dtype=np.int64)] * 4
    checked = {name: (_flow_array(c, v) if name == "dataflow" else
                      _int_array(c, name, v) if name in ("rows", "cols", "word_bytes") else
                      _positive_array(c, name, v)) for name, v in designs.items()}
    d = _designs(c, gemms[0].shape[0], checked)
    c.raise_if_any(RecordError, record)
    mm, nn, kk, cc = (g.astype(np.float64) for g in gemms)
    rows, cols, flow = d["rows"], d["cols"], d["dataflow"]
    s_r = np.where(flow == _OS, mm, kk)
    s_c = np.where(flow == _IS, mm, nn)
    t = np.where(flow == _OS, kk, np.where(flow == _WS, mm, nn))
    cycles = cc * np.ceil(s_r / rows) * np.ceil(s_c / cols) * (t + 2.0 * rows + cols)
    if np.any(mm * nn * kk * cc >= _MAX_WORK) or np.any(cycles >= _MAX_WORK):
        c.add("count", "m*n*k*count, cycles", "must stay below 2**62 (int64 counters)")
    if "word_bytes" in d:
        need = 2 * np.maximum(rows, cols)
        for name in ("ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib"):
            d[name] = np.floor(d[name] * 1024.0 / d["word_bytes"]).astype(np.int64)
            if np.any(short := d[name] < need):
                i = tuple(np.argwhere(short)[0])
                c.add(name, float(designs[name] if np.ndim(designs[name]) == 0
                                  else np.broadcast_to(designs[name], short.shape)[i]),
                      f"holds {d[name][i]} words of {d['word_bytes'][i]} byte(s); each half "
                      f"must hold one array row, so at least 2*max(rows, cols) = {need[i]} words")
    c.raise_if_any(RecordError, record)
    return gemms, d


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SystolicCosts:
    """Costs of GEMMs on systolic-array designs, each field ``[n_designs, n_gemms]``.

    Counts cover all ``count`` repetitions of a GEMM; accesses are in words. Utilisations are
    fractions (SCALE-Sim's COMPUTE_REPORT prints them in percent).
    """

    compute_cycles: IntArray
    """SCALE-Sim's "Total Cycles" without stalls, exact."""
    stall_cycles: IntArray
    total_cycles: IntArray
    """``compute_cycles + stall_cycles``: SCALE-Sim's "Total Cycles"."""
    mapping_efficiency: FloatArray
    compute_utilisation: FloatArray
    overall_utilisation: FloatArray
    """``m*n*k / (total_cycles/count * rows * cols)``; NaN for a GEMM of 0 cycles."""
    ifmap_sram_reads: IntArray
    filter_sram_reads: IntArray
    ofmap_sram_writes: IntArray
    ifmap_dram_reads: IntArray
    filter_dram_reads: IntArray
    ofmap_dram_writes: IntArray
    ifmap_fits: npt.NDArray[np.bool_]
    """The ifmap prefetch stream fits the active half of its SRAM: read once, never stalls."""
    filter_fits: npt.NDArray[np.bool_]

    @classmethod
    def _of(cls, ints: IntArray, floats: FloatArray) -> SystolicCosts:
        fields = {name: ints[i] for i, name in enumerate(_INT_FIELDS)}
        fields["ifmap_fits"] = fields["ifmap_fits"].astype(np.bool_)
        fields["filter_fits"] = fields["filter_fits"].astype(np.bool_)
        return cls(mapping_efficiency=floats[0], compute_utilisation=floats[1],
                   overall_utilisation=floats[2], **fields)


def _layer_code(c: Checker, sizes: dict[str, Any], dataflow: Any) -> int:
    """Plain-Python checks of one GEMM (fast: no arrays); the dataflow's code."""
    for name, value in sizes.items():
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
        c.require(bool(ok), name, value, "must be an integer >= 1")
    if isinstance(dataflow, str) and dataflow in DATAFLOWS:
        return DATAFLOWS.index(dataflow)
    if isinstance(dataflow, (int, np.integer)) and not isinstance(dataflow, bool) \
            and 0 <= dataflow <= 2:
        return int(dataflow)
    c.add("dataflow", dataflow, _FLOW_RULE)
    return 0


def compute_cycles(m: int, n: int, k: int, rows: int, cols: int, dataflow: str | int) -> int:
    """SCALE-Sim 3.0.0's compute cycles of one ``(m x k) @ (k x n)`` GEMM, exactly: its
    "Total Cycles" when nothing stalls (the module docstring derives ``F*L - 1``).

    :param m: output pixels; :param n: filters; :param k: reduction window (ints >= 1, any size:
        the count is done in Python integers).
    :param rows, cols: the array (ints >= 1).
    :param dataflow: ``"os"``, ``"ws"``, ``"is"`` or its code 0, 1, 2.
    """
    c = Checker()
    code = _layer_code(c, {"m": m, "n": n, "k": k, "rows": rows, "cols": cols}, dataflow)
    c.raise_if_any(RecordError, "compute_cycles input")
    plain = getattr(_compute_one, "py_func", _compute_one)  # NUMBA_DISABLE_JIT=1: no py_func
    result: int = plain(int(m), int(n), int(k), int(rows), int(cols), code)
    return result


def utilisation(m: int, n: int, k: int, rows: int, cols: int, dataflow: str | int
                ) -> tuple[float, float]:
    """(mapping efficiency, compute utilisation) of one GEMM as SCALE-Sim reports them (as
    fractions; its COMPUTE_REPORT's "Mapping Efficiency %" and "Compute Util %" / 100)."""
    c = Checker()
    code = _layer_code(c, {"m": m, "n": n, "k": k, "rows": rows, "cols": cols}, dataflow)
    c.raise_if_any(RecordError, "utilisation input")
    plain = getattr(_utilisation_one, "py_func", _utilisation_one)
    mapping, util = plain(int(m), int(n), int(k), int(rows), int(cols), code)
    return float(mapping), float(util)


def gemm_cycles(m: Any, n: Any, k: Any, count: Any, rows: Any, cols: Any, dataflow: Any, *,
                parallel: bool | None = None) -> IntArray:
    """Compute cycles of many GEMMs on many designs: ``count * compute_cycles(...)``.

    :param m, n, k, count: ``[n_gemms]`` int arrays (``Workload.to_arrays()``); ``count``
        repetitions run one after another (a depthwise convolution: ``count = C`` GEMMs of
        ``m = H_out*W_out, n = 1, k = kh*kw``).
    :param rows, cols, dataflow: scalars, ``[n_designs]`` or ``[n_designs, n_gemms]``; the
        dataflow as names or codes (:data:`DATAFLOWS`).
    :param parallel: spread designs over numba's threads (``None``: from 64 designs on);
        bitwise the same result either way.
    :return: int64 ``[n_designs, n_gemms]``.
    """
    (mm, nn, kk, cc), d = _batch("gemm_cycles input", m, n, k, count,
                                 {"rows": rows, "cols": cols, "dataflow": dataflow})
    use_parallel = d["rows"].shape[0] >= _PARALLEL_MIN_DESIGNS if parallel is None else parallel
    kernel = _cycles_parallel if use_parallel else _cycles_serial
    result: IntArray = kernel(mm, nn, kk, cc, d["rows"], d["cols"], d["dataflow"])
    return result


def memory_costs(m: Any, n: Any, k: Any, count: Any, rows: Any, cols: Any, dataflow: Any,
                 ifmap_sram_kib: Any, filter_sram_kib: Any, ofmap_sram_kib: Any, *,
                 word_bytes: Any, dram_bytes_per_cycle: Any, parallel: bool | None = None
                 ) -> SystolicCosts:
    """Compute and memory costs of many GEMMs on many designs (see the module docstring).

    :param m, n, k, count, rows, cols, dataflow, parallel: as :func:`gemm_cycles`.
    :param ifmap_sram_kib, filter_sram_kib, ofmap_sram_kib: SRAM sizes in KiB (numbers > 0;
        SCALE-Sim's ``IfmapSramSzkB`` etc.), scalars, ``[n_designs]`` or
        ``[n_designs, n_gemms]``. Each must hold one array row (``max(rows, cols)`` words) in
        each of its two halves.
    :param word_bytes: bytes per word (ints >= 1; SCALE-Sim fixes 1).
    :param dram_bytes_per_cycle: DRAM bandwidth of each operand's interface in bytes per cycle
        (SCALE-Sim's ``Bandwidth`` for the ofmap, ``IfmapSRAMBankBandwidth`` and
        ``FilterSRAMBankBandwidth`` for the inputs, all in words with 1-byte words).
    :return: :class:`SystolicCosts`, every field ``[n_designs, n_gemms]``.
    """
    (mm, nn, kk, cc), d = _batch("memory_costs input", m, n, k, count, {
        "rows": rows, "cols": cols, "dataflow": dataflow, "ifmap_sram_kib": ifmap_sram_kib,
        "filter_sram_kib": filter_sram_kib, "ofmap_sram_kib": ofmap_sram_kib,
        "word_bytes": word_bytes, "dram_bytes_per_cycle": dram_bytes_per_cycle})
    bw = np.ascontiguousarray(d["dram_bytes_per_cycle"] / d["word_bytes"])
    shape = d["rows"].shape
    ints = np.empty((len(_INT_FIELDS), *shape), dtype=np.int64)
    floats = np.empty((3, *shape), dtype=np.float64)
    use_parallel = shape[0] >= _PARALLEL_MIN_DESIGNS if parallel is None else parallel
    kernel = _memory_parallel if use_parallel else _memory_serial
    kernel(mm, nn, kk, cc, d["rows"], d["cols"], d["dataflow"], d["ifmap_sram_kib"],
           d["filter_sram_kib"], d["ofmap_sram_kib"], bw, ints, floats)
    return SystolicCosts._of(ints, floats)


def layer_costs(m: int, n: int, k: int, count: int, rows: int, cols: int, dataflow: str | int,
                ifmap_sram_kib: float, filter_sram_kib: float, ofmap_sram_kib: float, *,
                word_bytes: int, dram_bytes_per_cycle: float) -> SystolicCosts:
    """:func:`memory_costs` of one GEMM on one design (fields ``[1, 1]``), checked in plain
    Python: the fast path for one query at a time (an environment step)."""
    c = Checker()
    code = _layer_code(c, {"m": m, "n": n, "k": k, "count": count, "rows": rows, "cols": cols,
                           "word_bytes": word_bytes}, dataflow)
    kib = (ifmap_sram_kib, filter_sram_kib, ofmap_sram_kib, dram_bytes_per_cycle)
    ok = not c.problems and all(
        isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and 0 < v <= top
        for v, top in zip(kib, (MAX_COUNT, MAX_COUNT, MAX_COUNT, MAX_DRAM_BYTES_PER_CYCLE),
                          strict=True))
    words = [int(v * 1024.0 // word_bytes) for v in kib[:3]] if ok else [0]
    if not ok or max(rows, cols) > MAX_ARRAY_DIM or 2 * max(rows, cols) > min(words) \
            or float(m) * n * k * count >= _MAX_WORK \
            or count * compute_cycles(m, n, k, rows, cols, code) >= _MAX_WORK:
        try:  # the array checks name every problem (or accept what is merely unusual)
            return memory_costs([m], [n], [k], [count], rows, cols, dataflow, *kib[:3],
                                word_bytes=word_bytes, dram_bytes_per_cycle=dram_bytes_per_cycle)
        except RecordError as err:
            raise RecordError("layer_costs input", err.problems) from None
    ints = np.empty((len(_INT_FIELDS), 1, 1), dtype=np.int64)
    floats = np.empty((3, 1, 1), dtype=np.float64)
    _costs_one(m, n, k, count, rows, cols, code, words[0], words[1], words[2],
               dram_bytes_per_cycle / word_bytes, ints[:, 0, 0], floats[:, 0, 0])
    return SystolicCosts._of(ints, floats)
