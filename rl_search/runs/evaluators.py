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
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from hwsim.errors import CodesignError
from rl_search.problem import BatchEvaluation, Problem
from rl_search.runs.config import RunConfig, build_problem
from rl_search.runs.evaluator_base import (  # noqa: F401  (re-exported)
    CHUNK_ROWS,
    Evaluator,
    IntArray,
    chunks_of,
    concat_batches,
    take_rows,
)


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


BACKENDS = ("local", "ray")
"""Where a run's batches are evaluated: this machine (serial or a process pool) or Ray."""


def make_evaluator(config: RunConfig, problem: Problem, workers: int = 1, *,
                   backend: str = "local", address: str | None = None) -> Evaluator:
    """The evaluator for a run (``problem`` is ``build_problem(config)``; the results depend
    on neither ``workers`` nor ``backend``): locally :class:`SerialEvaluator` for one worker,
    else a :class:`ProcessPoolEvaluator` of ``workers`` processes; with ``backend="ray"`` a
    :class:`~rl_search.runs.ray_backend.RayEvaluator` of ``workers`` actors on the cluster at
    ``address`` (none: a local Ray)."""
    if backend not in BACKENDS:
        raise CodesignError(f"unknown backend {backend!r}; use one of {BACKENDS}")
    if backend == "ray":
        from rl_search.runs.ray_backend import RayEvaluator

        return RayEvaluator(config, problem, max(workers, 1), address=address)
    if address is not None:
        raise CodesignError("--address is for --backend ray")
    if workers <= 1:
        return SerialEvaluator(problem)
    return ProcessPoolEvaluator(config, problem, workers)
