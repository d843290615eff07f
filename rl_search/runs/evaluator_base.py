"""The :class:`Evaluator` base class and the chunking every backend shares (the contract is in
:mod:`rl_search.runs.evaluators`); its own module so that backends in other modules
(:mod:`rl_search.runs.ray_backend`) and the factory in :mod:`~rl_search.runs.evaluators` do not
import each other."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from hwsim.errors import CodesignError
from rl_search.problem import BatchEvaluation

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


__all__ = ["CHUNK_ROWS", "Evaluator", "chunks_of", "concat_batches", "take_rows"]
