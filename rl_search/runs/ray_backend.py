"""Ray as a backend: the evaluator that spreads a run's chunks over a Ray cluster, and the
helpers every Ray path shares (starting or joining a cluster, the install hint).

:class:`RayEvaluator` sits behind the same seam as the serial and process-pool evaluators
(:mod:`rl_search.runs.evaluators`): each batch is cut into the same chunks of ``CHUNK_ROWS``
rows, each chunk is one task on an actor that built its ``Problem`` once from the run's
config (the workload and target are shipped once per actor, as the config, not per task), and
the driver collects the chunks in order and writes the run log itself, so a run folder is
byte-identical whichever backend evaluated it. Faults: the actors restart when their process
dies (``max_restarts``) and Ray retries the task that was running on it
(``max_task_retries``): a chunk is never lost, and never counted twice, because the driver only
logs the answer it finally gets.

Without ``address`` Ray starts a local cluster on this machine (``num_cpus`` CPUs); with
``address="auto"`` or ``"ray://head:10001"`` it joins an existing one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hwsim.errors import CodesignError
from rl_search.problem import BatchEvaluation, Problem
from rl_search.runs.config import RunConfig, build_problem
from rl_search.runs.evaluator_base import Evaluator

IntArray = npt.NDArray[np.int64]

INSTALL_HINT = ("Ray is not installed; install the extra with `pip install -e '.[ray]'` "
                "(or `pip install ray`)")

MAX_RESTARTS = 4
"""Times an actor is restarted after its process dies before the run gives up."""


def require_ray() -> Any:
    """The ``ray`` module, or a :class:`CodesignError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise CodesignError(INSTALL_HINT) from None
    return ray


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Start a local Ray (no ``address``) or join one (``"auto"``, ``"ray://host:port"``),
    once per process; returns the ``ray`` module."""
    ray = require_ray()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise CodesignError(f"could not {'join Ray at ' + address if address else 'start a local Ray'}: "  # noqa: E501
                                f"{exc}") from None
    return ray


class _Worker:
    """A Ray actor: builds its Problem once from the config, evaluates chunks."""

    def __init__(self, config_json: dict[str, Any]) -> None:
        self.problem = build_problem(RunConfig.from_json(config_json))

    def evaluate(self, X: IntArray) -> BatchEvaluation:
        return self.problem.evaluate_batch(X)

    def pid(self) -> int:
        return os.getpid()


class RayEvaluator(Evaluator):
    """Chunks as tasks on ``workers`` Ray actors (see the module docstring)."""

    name = "ray"

    def __init__(self, config: RunConfig, problem: Problem, workers: int, *,
                 address: str | None = None) -> None:
        if workers < 1:
            raise CodesignError(f"a Ray backend needs >= 1 worker, got {workers}")
        ray = ensure_ray(address, num_cpus=None if address else max(workers, 1))
        self._ray = ray
        self.problem = problem
        actor = ray.remote(num_cpus=1, max_restarts=MAX_RESTARTS,
                           max_task_retries=MAX_RESTARTS)(_Worker)
        # the config (a small dict) goes by value: an actor restarted after a crash rebuilds
        # its Problem from it, which an object-store reference would not guarantee
        self._actors = [actor.remote(config.to_json()) for _ in range(workers)]
        self.workers = workers

    def worker_pids(self) -> list[int]:
        """The process ids of the actors (the fault test kills one)."""
        return list(self._ray.get([a.pid.remote() for a in self._actors]))

    def evaluate_chunks(self, chunks: Sequence[IntArray]) -> list[BatchEvaluation]:
        if not self._actors:
            raise CodesignError("ray evaluator used after close()")
        refs = [self._actors[i % len(self._actors)].evaluate.remote(chunk)
                for i, chunk in enumerate(chunks)]
        try:
            return list(self._ray.get(refs))
        except self._ray.exceptions.RayError as exc:
            raise CodesignError(f"Ray evaluation failed after {MAX_RESTARTS} retries: "
                                f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        actors, self._actors = getattr(self, "_actors", []), []
        for a in actors:
            try:
                self._ray.kill(a)
            except Exception:  # an actor already gone is fine
                pass
        super().close()


__all__ = ["INSTALL_HINT", "MAX_RESTARTS", "RayEvaluator", "ensure_ray", "require_ray"]
