"""The evaluation seam: who evaluates a run's batches of design points, and where.

An :class:`Evaluator` turns a batch of points into a
:class:`~rl_search.problem.BatchEvaluation`. :func:`~rl_search.runs.explore.explore` makes one
with :func:`make_evaluator` and routes every evaluation of a run through it (wrapped by the
:class:`~rl_search.runs.log.RunLog`, which replays and appends).

The interface, for users of an evaluator:

* ``evaluator(X)``: ``X`` an int array ``[n, n_knobs]`` (a single point is taken as one row);
  returns a ``BatchEvaluation`` of ``n`` rows, row ``i`` the evaluation of ``X[i]``;
* ``evaluator.close()``: releases what it holds (worker processes, ...); idempotent; calling a
  closed evaluator raises :class:`~hwsim.errors.CodesignError`;
* ``with make_evaluator(...) as evaluator:`` closes it on leaving;
* ``evaluator.name``: a short label of the backend (``"serial"``, ``"process-pool"``).

For a new backend (a Ray cluster, ...), subclass :class:`Evaluator`, set ``name`` and implement
:meth:`Evaluator.evaluate_chunks` (and :meth:`Evaluator.close` if it holds resources). The base
class cuts every batch into the same chunks of :data:`CHUNK_ROWS` rows whatever the backend, so
each chunk is evaluated by a ``Problem`` built from the same :class:`RunConfig` with the same
batch-mates: every backend gives bitwise the serial results, even with an oracle whose numbers
depend on a row's batch-mates (BLAS matrix products and batched torch inference do, in the last
bits). That is what keeps a run folder independent of ``--workers``.
"""

from __future__ import annotations

import multiprocessing
import signal
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from types import TracebackType
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from hwsim.errors import CodesignError
from rl_search.problem import BatchEvaluation, Problem
from rl_search.runs.config import RunConfig, build_problem

IntArray = npt.NDArray[np.int64]

CHUNK_ROWS = 32
"""Rows per evaluation call (and per task of a worker pool), whatever the number of workers."""


def concat_batches(parts: Sequence[BatchEvaluation]) -> BatchEvaluation:
    """The rows of ``parts``, in order, as one batch (field by field: new fields follow)."""
    if len(parts) == 1:
        return parts[0]
    return BatchEvaluation.concat(list(parts))


def take_rows(ev: BatchEvaluation, rows: slice) -> BatchEvaluation:
    """Rows ``rows`` of a batch."""
    return ev.take(rows)


def chunks_of(X: IntArray) -> list[IntArray]:
    """``X`` cut into consecutive chunks of :data:`CHUNK_ROWS` rows (an empty ``X``: one empty
    chunk, so every backend sees the empty batch the same way)."""
    if len(X) == 0:
        return [X]
    return [X[i:i + CHUNK_ROWS] for i in range(0, len(X), CHUNK_ROWS)]


class Evaluator(ABC):
    """Evaluates batches of design points (see the module docstring for the contract)."""

    name: ClassVar[str] = "evaluator"

    _closed: bool = False

    def __call__(self, X: Any) -> BatchEvaluation:
        """Evaluate the rows of ``X`` (int ``[n, n_knobs]``); row ``i`` of the result is
        ``X[i]``'s evaluation."""
        if self._closed:
            raise CodesignError(f"{self.name} evaluator used after close()")
        chunks = chunks_of(np.atleast_2d(np.asarray(X, dtype=np.int64)))
        parts = self.evaluate_chunks(chunks)
        if len(parts) != len(chunks):
            raise CodesignError(f"{self.name} evaluator returned {len(parts)} results for "
                                f"{len(chunks)} chunks")
        return concat_batches(parts)

    @abstractmethod
    def evaluate_chunks(self, chunks: Sequence[IntArray]) -> list[BatchEvaluation]:
        """The evaluation of each chunk, in the order of ``chunks`` (the backend's one job).

        Each chunk must be evaluated as one ``Problem.evaluate_batch`` call on a problem equal
        to ``build_problem(config)``, never split or merged with another chunk."""

    def close(self) -> None:
        """Release the backend's resources; idempotent (an override calls ``super().close()``
        last)."""
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}{' (closed)' if self._closed else ''}>"


class SerialEvaluator(Evaluator):
    """Evaluates every chunk here, one after the other, with ``problem``."""

    name = "serial"

    def __init__(self, problem: Problem) -> None:
        self.problem = problem

    def evaluate_chunks(self, chunks: Sequence[IntArray]) -> list[BatchEvaluation]:
        return [self.problem.evaluate_batch(c) for c in chunks]


# Worker-process side of the pool: each worker builds its Problem once, from the config.
_WORKER_PROBLEM: Problem | None = None


def _init_worker(config_json: dict[str, Any]) -> None:
    global _WORKER_PROBLEM
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _WORKER_PROBLEM = build_problem(RunConfig.from_json(config_json))


def _evaluate_in_worker(X: IntArray) -> BatchEvaluation:
    assert _WORKER_PROBLEM is not None, "worker not initialised"
    return _WORKER_PROBLEM.evaluate_batch(X)


class ProcessPoolEvaluator(Evaluator):
    """Spreads the chunks of a batch over ``workers`` processes, each of which builds its own
    Problem from ``config`` once (spawned, not forked: the parent may hold torch threads, as
    SB3 searchers do). A batch of one chunk is evaluated here with ``problem``, which must be
    ``build_problem(config)``'s equal; that saves the round trip for one-point searchers."""

    name = "process-pool"

    def __init__(self, config: RunConfig, problem: Problem, workers: int) -> None:
        if workers < 1:
            raise CodesignError(f"a process pool needs >= 1 worker, got {workers}")
        self.problem = problem
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
            initargs=(config.to_json(),))

    def evaluate_chunks(self, chunks: Sequence[IntArray]) -> list[BatchEvaluation]:
        if len(chunks) == 1 or self._pool is None:
            return [self.problem.evaluate_batch(c) for c in chunks]
        return list(self._pool.map(_evaluate_in_worker, chunks))

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        super().close()


def make_evaluator(config: RunConfig, problem: Problem, workers: int = 1) -> Evaluator:
    """The evaluator for a run: :class:`SerialEvaluator` for one worker, else a
    :class:`ProcessPoolEvaluator` of ``workers`` processes (``problem`` is
    ``build_problem(config)``; the results do not depend on ``workers``)."""
    if workers <= 1:
        return SerialEvaluator(problem)
    return ProcessPoolEvaluator(config, problem, workers)
