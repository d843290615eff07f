"""A discrete-event engine for in-order hardware pipelines that share one DRAM port.

Hardware-agnostic: it knows stages, ops, token queues and a port, not FPGAs, systolic arrays or
LSTM accelerators. A cycle tier describes its accelerator as a schedule (which op each stage
runs, in which order, and which tokens each op waits for and hands on) and the engine says when
every op runs. :mod:`hwsim.fpga.cycle` builds the BISMO LUT core and the DSP core of N3H-Core on
it.

The model
---------
* A **stage** is an in-order engine (a DMA engine, a compute array, a write-back unit) running
  its own list of ops one after another. It starts no op before its **start** time (a launch
  latency); after that it starts its next op as soon as the op's tokens are there.
* An **op** is one instruction: it waits until every queue it names holds a token and takes
  one from each, then spends ``fixed`` cycles (a setup, or a computation: no bandwidth used),
  then moves ``nbytes`` bytes through the shared port at up to ``width`` bytes per cycle (its
  engine's width), then adds one token to every queue it signals. An op with neither is
  instantaneous (it still passes tokens on). At most :data:`MAX_DEPS` queues to wait for and
  :data:`MAX_DEPS` to signal.
* A **token queue** is a counter of tokens with an initial count: a semaphore. Buffers are
  modelled as credit protocols: a "free" queue holding one token per buffer region the producer
  may fill, a "filled" queue the consumer waits on; the consumer hands the region back by
  signalling "free". A queue as deep as the regions it guards never overflows, so there is no
  capacity to check.
* The **port** (``port`` bytes per cycle; ``math.inf`` for a dedicated port per engine) is
  shared by the transfers in flight, in the fluid limit of round-robin arbitration: max-min
  fair sharing. Every active transfer gets an equal share of the port, capped by its own width,
  and what a capped transfer leaves goes to the others: sorted by width, the ``a``-th narrowest
  of ``n`` (from 0) gets ``min(width, left/(n - a))``, ``left`` being what the narrower ones
  left of the port.
  Reads and writes share it alike.

How time advances
-----------------
Event driven, not cycle by cycle: time jumps to the next event, the earliest of a setup ending,
a transfer ending (at its current rate) or a stage's start time coming; every op whose tokens
are there starts at once (repeatedly, since an instantaneous op can release tokens another
stage waits for). Between two events the set of transfers, and so every rate, is constant, so
a schedule costs a few events per op, and cycles are real numbers (a transfer of ``b`` bytes at
``r`` bytes per cycle ends ``b/r`` cycles after it starts). Stages are visited in index order,
so the schedule is deterministic. A transfer with at most ``1e-9`` of its bytes left when
another event fires has finished (floating-point rounding). :attr:`EngineRun.events` counts
the steps of time.

Accounting
----------
Per stage: **busy** cycles (an op in progress, from taking its tokens to signalling), the
**finish** time of its last op (its start time when it has no ops), and **contention**: the
transfer time lost to sharing, the integral over its transfers of ``1 - rate/solo_rate`` with
``solo_rate = min(width, port)``. Contention is part of busy time. The **stall** of a stage is
``end - busy`` for whatever end the caller measures against (a core's latency: the last finish
among its stages); it covers waiting for tokens, for the start time, and being done early.

Two ways in
-----------
* :class:`Pipeline`: a plain-Python builder (name stages and queues, append ops, :meth:`run`),
  for small schedules, tests and prototypes.
* The numba kernel: a schedule builder written with ``numba.njit`` fills an :class:`OpTable`
  through :func:`set_op` and calls :func:`simulate` itself; this is how the FPGA cores' tens of
  thousands of ops a GEMM are simulated in about a millisecond. Stage ``s`` runs the table's ops
  ``stage_first[s]:stage_last[s]``, so a stage's ops are contiguous in the table.
  :func:`stage_runs` turns the kernel's per-stage arrays into :class:`StageRun` records.

The kernels are ``numba.njit`` functions; ``.py_func`` gives the plain Python (patch this
module's ``simulate`` and ``finish_op`` with theirs to run the engine as Python) and
``NUMBA_DISABLE_JIT=1`` runs everything as Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

__all__ = [
    "MAX_DEPS",
    "NO_QUEUE",
    "DeadlockError",
    "EngineRun",
    "OpTable",
    "Pipeline",
    "StageRun",
    "finish_op",
    "set_op",
    "simulate",
    "stage_runs",
]

MAX_DEPS = 3
"""Queues one op may wait for, and queues it may signal."""
NO_QUEUE = -1
"""The queue id of an unused wait or signal slot in an :class:`OpTable`."""

# stage phases inside the kernel
_WAIT, _FIXED, _XFER = 0, 1, 2
_DONE_REL_TOL = 1e-9  # a transfer with this share of its bytes left has finished (rounding)


class DeadlockError(RuntimeError):
    """A schedule left some stage waiting forever for a token (a schedule bug)."""


# ---------------------------------------------------------------------------------------------
# the op table and the kernel
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class OpTable:
    """The arrays :func:`simulate` reads, one row per op (numpy, so numba builders fill them).

    ``fixed[i]``: cycles of setup or compute (float); ``nbytes[i]``: bytes moved through the
    port afterwards (float); ``cap[i]``: the op's engine width, bytes per cycle (float, > 0;
    only read when ``nbytes[i] > 0``); ``wait[i, :]`` and ``signal[i, :]``: up to
    :data:`MAX_DEPS` queue ids (:data:`NO_QUEUE` pads); ``queue_init[q]``: queue ``q``'s
    initial tokens (int64).
    """

    fixed: Any
    nbytes: Any
    cap: Any
    wait: Any
    signal: Any
    queue_init: Any

    @classmethod
    def empty(cls, n_ops: int, n_queues: int) -> OpTable:
        """A table of ``n_ops`` instantaneous ops that wait for and signal nothing, and
        ``n_queues`` empty queues."""
        return cls(fixed=np.zeros(n_ops), nbytes=np.zeros(n_ops), cap=np.ones(n_ops),
                   wait=np.full((n_ops, MAX_DEPS), NO_QUEUE, np.int64),
                   signal=np.full((n_ops, MAX_DEPS), NO_QUEUE, np.int64),
                   queue_init=np.zeros(n_queues, np.int64))


@numba.njit(cache=True)
def set_op(i: int, fixed: float, nbytes: float, cap: float, w0: int, w1: int, w2: int, s0: int,
           s1: int, s2: int, op_fixed: Any, op_bytes: Any, op_cap: Any, op_wait: Any,
           op_sig: Any) -> None:
    """Write op ``i`` of an :class:`OpTable` (its arrays passed one by one): ``fixed`` cycles,
    then ``nbytes`` bytes at up to ``cap`` bytes per cycle; wait for queues ``w0, w1, w2``,
    then signal ``s0, s1, s2`` (:data:`NO_QUEUE`: none)."""
    op_fixed[i] = fixed
    op_bytes[i] = nbytes
    op_cap[i] = cap
    op_wait[i, 0] = w0
    op_wait[i, 1] = w1
    op_wait[i, 2] = w2
    op_sig[i, 0] = s0
    op_sig[i, 1] = s1
    op_sig[i, 2] = s2


@numba.njit(cache=True)
def simulate(stage_first: Any, stage_last: Any, stage_start: Any, op_fixed: Any, op_bytes: Any,
             op_cap: Any, op_wait: Any, op_sig: Any, queue_init: Any, port: float
             ) -> tuple[Any, Any, Any, int, bool]:
    """Run in-order stages over a shared DRAM port until every op is done (see the module notes).

    Stage ``e`` runs ops ``stage_first[e]:stage_last[e]`` in order, not before
    ``stage_start[e]``. An op waits until every queue in ``op_wait[i]`` (``-1``: none) holds a
    token and takes one from each, spends ``op_fixed[i]`` cycles, then moves ``op_bytes[i]``
    bytes at up to ``op_cap[i]`` bytes/cycle, then adds a token to each queue in ``op_sig[i]``.
    Queue ``q`` starts with ``queue_init[q]`` tokens. Transfers in flight share ``port``
    bytes/cycle max-min fairly.

    :return: per stage ``(busy, contention, finish)`` cycles, the number of events, and
        whether some stage was left waiting forever (a deadlock: a schedule bug).
    """
    n_eng = stage_first.shape[0]
    ptr = stage_first.copy()
    phase = np.zeros(n_eng, np.int64)
    t_end = np.zeros(n_eng)
    remaining = np.zeros(n_eng)
    op_start = np.zeros(n_eng)
    rate = np.zeros(n_eng)
    busy = np.zeros(n_eng)
    contention = np.zeros(n_eng)
    finish = stage_start.copy()
    sem = queue_init.copy()
    order = np.empty(n_eng, np.int64)
    t = 0.0
    events = 0
    while True:
        # start every op whose tokens are there; a zero-length op finishes at once and may
        # release tokens another stage is waiting for, hence the loop
        progressed = True
        while progressed:
            progressed = False
            for e in range(n_eng):
                if phase[e] != _WAIT or ptr[e] >= stage_last[e] or t < stage_start[e]:
                    continue
                i = ptr[e]
                ready = True
                for j in range(MAX_DEPS):
                    s = op_wait[i, j]
                    if s >= 0 and sem[s] <= 0:
                        ready = False
                if not ready:
                    continue
                for j in range(MAX_DEPS):
                    s = op_wait[i, j]
                    if s >= 0:
                        sem[s] -= 1
                op_start[e] = t
                if op_fixed[i] > 0.0:
                    phase[e] = _FIXED
                    t_end[e] = t + op_fixed[i]
                elif op_bytes[i] > 0.0:
                    phase[e] = _XFER
                    remaining[e] = op_bytes[i]
                else:
                    finish_op(e, i, t, ptr, phase, busy, op_start, finish, stage_last, op_sig,
                              sem)
                    progressed = True
        # max-min fair share of the port: serve the narrowest stages first
        n_act = 0
        for e in range(n_eng):
            if phase[e] == _XFER:
                pos = n_act
                while pos > 0 and op_cap[ptr[order[pos - 1]]] > op_cap[ptr[e]]:
                    order[pos] = order[pos - 1]
                    pos -= 1
                order[pos] = e
                n_act += 1
        left = port
        for a in range(n_act):
            e = order[a]
            rate[e] = min(op_cap[ptr[e]], left / (n_act - a))
            left -= rate[e]
        # next event: a setup ends, a transfer ends, or a stage's start time comes
        t_next = np.inf
        who = -1
        for e in range(n_eng):
            if phase[e] == _FIXED:
                cand = t_end[e]
            elif phase[e] == _XFER:
                cand = t + remaining[e] / rate[e]
            elif ptr[e] < stage_last[e] and t < stage_start[e]:
                cand = stage_start[e]
            else:
                continue
            if cand < t_next:
                t_next = cand
                who = e
        if who < 0:
            break
        events += 1
        dt = t_next - t
        for a in range(n_act):
            e = order[a]
            remaining[e] -= rate[e] * dt
            contention[e] += dt * (1.0 - rate[e] / min(op_cap[ptr[e]], port))
        t = t_next
        for e in range(n_eng):
            i = ptr[e]
            if phase[e] == _FIXED and t_end[e] <= t:
                if op_bytes[i] > 0.0:
                    phase[e] = _XFER
                    remaining[e] = op_bytes[i]
                else:
                    finish_op(e, i, t, ptr, phase, busy, op_start, finish, stage_last, op_sig,
                              sem)
            elif phase[e] == _XFER and (e == who or remaining[e] <= _DONE_REL_TOL * op_bytes[i]):
                finish_op(e, i, t, ptr, phase, busy, op_start, finish, stage_last, op_sig, sem)
    stuck = False
    for e in range(n_eng):
        if ptr[e] < stage_last[e]:
            stuck = True
    return busy, contention, finish, events, stuck


@numba.njit(cache=True)
def finish_op(e: int, i: int, t: float, ptr: Any, phase: Any, busy: Any, op_start: Any,
              finish: Any, stage_last: Any, op_sig: Any, sem: Any) -> None:
    """Op ``i`` of stage ``e`` ends at ``t``: signal its queues, book its busy time, move the
    stage on (:func:`simulate`'s step; public so that plain-Python runs can patch it)."""
    for j in range(MAX_DEPS):
        s = op_sig[i, j]
        if s >= 0:
            sem[s] += 1
    busy[e] += t - op_start[e]
    ptr[e] += 1
    phase[e] = _WAIT
    if ptr[e] == stage_last[e]:
        finish[e] = t


# ---------------------------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageRun:
    """One stage's share of a run (see the module notes' accounting).

    ``busy_cycles``: an op in progress; ``contention_cycles``: the part of busy time lost to
    sharing the port; ``finish_cycle``: when its last op ended (its start time if it has none);
    ``ops``: how many it ran; ``dram_bytes``: what they moved through the port.
    """

    name: str
    busy_cycles: float
    contention_cycles: float
    finish_cycle: float
    ops: int
    dram_bytes: float

    def stall_cycles(self, end: float) -> float:
        """Cycles up to ``end`` without an op in progress: ``end - busy_cycles``."""
        return end - self.busy_cycles


@dataclass(frozen=True, slots=True)
class EngineRun:
    """A finished run: every stage's :class:`StageRun`, in the order they were declared, and
    the number of events the engine stepped through."""

    stages: tuple[StageRun, ...]
    events: int

    @property
    def cycles(self) -> float:
        """The makespan: the last stage's finish (0 with no stages)."""
        return max((s.finish_cycle for s in self.stages), default=0.0)

    def stage(self, name: str) -> StageRun:
        """The stage called ``name``."""
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r}; there are {', '.join(s.name for s in self.stages)}")


def stage_runs(names: Sequence[str], stage_first: Any, stage_last: Any, op_bytes: Any, busy: Any,
               contention: Any, finish: Any) -> tuple[StageRun, ...]:
    """:class:`StageRun` records for stages ``0..len(names)-1`` of a :func:`simulate` run, from
    its op ranges, its table's ``nbytes`` and its ``busy, contention, finish`` arrays (a
    subset of the stages: pass the slices of all six that belong to them)."""
    return tuple(StageRun(
        name=name,
        busy_cycles=float(busy[e]),
        contention_cycles=float(contention[e]),
        finish_cycle=float(finish[e]),
        ops=int(stage_last[e] - stage_first[e]),
        dram_bytes=float(op_bytes[stage_first[e]:stage_last[e]].sum()),
    ) for e, name in enumerate(names))


# ---------------------------------------------------------------------------------------------
# the plain-Python builder
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Op:
    fixed: float
    nbytes: float
    width: float
    wait: tuple[int, ...]
    signal: tuple[int, ...]


class Pipeline:
    """A schedule built op by op in Python, run by :func:`simulate`.

    >>> p = Pipeline()
    >>> full, free = p.queue("full"), p.queue("free", tokens=1)  # a buffer of one region
    >>> load, use = p.stage("load"), p.stage("use")
    >>> for _ in range(2):
    ...     _ = p.op(load, fixed=1.0, nbytes=8.0, width=4.0, wait=[free], signal=[full])
    ...     _ = p.op(use, fixed=5.0, wait=[full], signal=[free])
    >>> p.run(port=4.0).cycles  # load 0..3, use 3..8, load 8..11, use 11..16
    16.0

    Stages, queues and ops are numbered in the order they are declared; a stage's ops run in
    the order they are appended, whatever the interleaving with other stages' ops.
    """

    def __init__(self) -> None:
        self._stage_names: list[str] = []
        self._stage_starts: list[float] = []
        self._ops: list[list[_Op]] = []
        self._queue_names: list[str] = []
        self._queue_tokens: list[int] = []

    def queue(self, name: str, tokens: int = 0) -> int:
        """Declare a token queue holding ``tokens`` initially; return its id."""
        if isinstance(tokens, bool) or not isinstance(tokens, (int, np.integer)) or tokens < 0:
            raise ValueError(f"queue {name!r}: tokens must be an int >= 0, got {tokens!r}")
        self._queue_names.append(name)
        self._queue_tokens.append(int(tokens))
        return len(self._queue_names) - 1

    def stage(self, name: str, start: float = 0.0) -> int:
        """Declare an in-order stage that starts no op before cycle ``start``; return its id."""
        if name in self._stage_names:
            raise ValueError(f"stage {name!r} is declared twice")
        if not (isinstance(start, (int, float)) and 0.0 <= start < math.inf):
            raise ValueError(f"stage {name!r}: start must be a finite number >= 0, got {start!r}")
        self._stage_names.append(name)
        self._stage_starts.append(float(start))
        self._ops.append([])
        return len(self._stage_names) - 1

    def op(self, stage: int, *, fixed: float = 0.0, nbytes: float = 0.0, width: float = 1.0,
           wait: Sequence[int] = (), signal: Sequence[int] = ()) -> int:
        """Append an op to ``stage``: take a token from every queue in ``wait``, spend ``fixed``
        cycles, move ``nbytes`` bytes through the port at up to ``width`` bytes per cycle,
        then add a token to every queue in ``signal``; return its index within the stage."""
        if not 0 <= stage < len(self._ops):
            raise ValueError(f"no stage {stage}")
        where = f"stage {self._stage_names[stage]!r}, op {len(self._ops[stage])}"
        for what, value in (("fixed", fixed), ("nbytes", nbytes)):
            if not 0.0 <= value < math.inf:
                raise ValueError(f"{where}: {what} must be finite and >= 0, got {value!r}")
        if not width > 0.0:
            raise ValueError(f"{where}: width must be > 0, got {width!r}")
        for what, queues in (("wait", wait), ("signal", signal)):
            if len(queues) > MAX_DEPS:
                raise ValueError(f"{where}: at most {MAX_DEPS} queues to {what}, got {queues}")
            for q in queues:
                if not 0 <= q < len(self._queue_names):
                    raise ValueError(f"{where}: no queue {q} to {what}")
        if len(set(wait)) != len(wait):
            raise ValueError(f"{where}: waits twice for the same queue, {list(wait)}")
        self._ops[stage].append(_Op(float(fixed), float(nbytes), float(width), tuple(wait),
                                    tuple(signal)))
        return len(self._ops[stage]) - 1

    def table(self) -> tuple[OpTable, Any, Any, Any]:
        """The schedule laid out for :func:`simulate`: the op table (stage by stage) and the
        stages' ``stage_first``, ``stage_last`` and ``stage_start`` arrays."""
        n_ops = sum(len(ops) for ops in self._ops)
        table = OpTable.empty(n_ops, len(self._queue_names))
        table.queue_init[:] = self._queue_tokens
        first, last = [], []
        i = 0
        for ops in self._ops:
            first.append(i)
            for op in ops:
                table.fixed[i], table.nbytes[i], table.cap[i] = op.fixed, op.nbytes, op.width
                table.wait[i, :len(op.wait)] = op.wait
                table.signal[i, :len(op.signal)] = op.signal
                i += 1
            last.append(i)
        return (table, np.array(first, np.int64), np.array(last, np.int64),
                np.array(self._stage_starts, np.float64))

    def run(self, port: float = math.inf) -> EngineRun:
        """Simulate the schedule on a port of ``port`` bytes per cycle (``math.inf``: every
        transfer at its own width). Raises :class:`DeadlockError` when a stage is left waiting
        for a token no op will ever signal."""
        if not port > 0.0:  # NaN fails too
            raise ValueError(f"port must be > 0 bytes per cycle, got {port!r}")
        table, first, last, start = self.table()
        busy, contention, finish, events, stuck = simulate(
            first, last, start, table.fixed, table.nbytes, table.cap, table.wait, table.signal,
            table.queue_init, float(port))
        if stuck:
            raise DeadlockError("a stage is left waiting for a token that is never signalled")
        return EngineRun(stage_runs(self._stage_names, first, last, table.nbytes, busy,
                                    contention, finish), int(events))
