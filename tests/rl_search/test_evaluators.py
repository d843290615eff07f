"""The evaluation seam: serial and process-pool evaluators give bitwise the same batches, in
row order; closing is idempotent; a run's log does not depend on the number of workers."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hwsim.errors import CodesignError
from rl_search.factory import make_problem
from rl_search.problem import BatchEvaluation, Problem
from rl_search.runs.config import RunConfig
from rl_search.runs.evaluators import (
    CHUNK_ROWS,
    Evaluator,
    ProcessPoolEvaluator,
    SerialEvaluator,
    make_evaluator,
)
from rl_search.runs.explore import explore

explore_module = importlib.import_module("rl_search.runs.explore")

CONFIG = RunConfig(workload="resnet20", target="n3h-zcu102", space="haq", searcher="genetic",
                   searcher_options={"population_size": 80}, budget=200, seed=7)


def _arrays(ev: BatchEvaluation) -> dict[str, np.ndarray]:
    """Every array of ``ev``, its mapping and its target's batch result, by name."""
    out = {f.name: getattr(ev, f.name) for f in dataclasses.fields(BatchEvaluation)
           if f.name not in ("mapping", "cost")}
    out.update({f"mapping.{k}": v for k, v in ev.mapping.items()})
    if ev.cost is not None:
        for f in dataclasses.fields(ev.cost):
            value = getattr(ev.cost, f.name)
            if isinstance(value, np.ndarray):
                out[f"cost.{f.name}"] = value
            elif f.name in ("resources", "mapping", "details"):
                out.update({f"cost.{f.name}.{k}": np.asarray(v) for k, v in value.items()})
    return out


def assert_same_batch(a: BatchEvaluation, b: BatchEvaluation) -> None:
    xa, xb = _arrays(a), _arrays(b)
    assert xa.keys() == xb.keys()
    for name, x in xa.items():
        y = xb[name]
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.fixture(scope="module")
def problem() -> Problem:
    return make_problem(CONFIG.workload, CONFIG.target, CONFIG.space, objective=CONFIG.objective)


@pytest.fixture(scope="module")
def points(problem: Problem) -> np.ndarray:
    X = problem.space.random(np.random.default_rng(0), 3 * CHUNK_ROWS + 5)  # four chunks
    X[-5:] = X[:5]  # repeated points too
    return X


@pytest.fixture(scope="module")
def pool(problem: Problem):
    with ProcessPoolEvaluator(CONFIG, problem, workers=2) as evaluator:
        yield evaluator


def test_serial_and_process_pool_give_identical_batches(problem, points, pool):
    serial = SerialEvaluator(problem)
    expected = serial(points)
    assert len(expected) == len(points)
    assert_same_batch(pool(points), expected)
    assert_same_batch(pool(points[:3]), serial(points[:3]))  # one chunk: evaluated here
    assert_same_batch(pool(points[0]), serial(points[:1]))   # one point is one row


def test_rows_come_back_in_the_order_given(problem, points, pool):
    ev = pool(points)
    np.testing.assert_array_equal(ev.x, problem.evaluate_batch(points).x)
    np.testing.assert_array_equal(ev.x[-5:], ev.x[:5])
    for i in (0, CHUNK_ROWS - 1, CHUNK_ROWS, 2 * CHUNK_ROWS + 7, len(points) - 1):
        one = problem.evaluate_batch(points[i:i + 1])
        np.testing.assert_array_equal(ev.x[i], one.x[0])
        np.testing.assert_allclose(ev.latency_ms[i], one.latency_ms[0], rtol=1e-12)
        np.testing.assert_allclose(ev.reward[i], one.reward[0], rtol=1e-12)


def test_make_evaluator_picks_the_backend(problem):
    serial = make_evaluator(CONFIG, problem, workers=1)
    assert isinstance(serial, SerialEvaluator) and serial.name == "serial"
    with make_evaluator(CONFIG, problem, workers=2) as pool:
        assert isinstance(pool, ProcessPoolEvaluator) and pool.name == "process-pool"
        assert isinstance(pool, Evaluator) and not pool.closed
    assert pool.closed  # the with block closed it


@pytest.mark.parametrize("workers", [1, 2])
def test_close_is_idempotent_and_final(problem, points, workers):
    evaluator = make_evaluator(CONFIG, problem, workers)
    assert len(evaluator(points[:40])) == 40
    evaluator.close()
    evaluator.close()
    with evaluator:  # exiting closes once more: still fine
        pass
    assert evaluator.closed
    with pytest.raises(CodesignError, match="after close"):
        evaluator(points[:2])


def test_a_new_backend_only_maps_chunks(problem, points):
    """The base class cuts batches into the same chunks for every backend."""

    class Reversed(Evaluator):
        name = "reversed"

        def __init__(self) -> None:
            self.seen: list[int] = []

        def evaluate_chunks(self, chunks: Sequence[np.ndarray]) -> list[BatchEvaluation]:
            self.seen += [len(c) for c in chunks]
            done = {i: problem.evaluate_batch(c) for i, c in reversed(list(enumerate(chunks)))}
            return [done[i] for i in range(len(chunks))]

    evaluator = Reversed()
    assert_same_batch(evaluator(points), SerialEvaluator(problem)(points))
    assert evaluator.seen == [CHUNK_ROWS] * 3 + [5]


def test_run_log_is_byte_identical_with_two_workers(tmp_path: Path, monkeypatch):
    mapped: list[int] = []  # chunks per pool call: the pool must really be used
    original = ProcessPoolEvaluator.evaluate_chunks

    def counting(self, chunks):  # type: ignore[no-untyped-def]
        mapped.append(len(chunks))
        return original(self, chunks)

    monkeypatch.setattr(ProcessPoolEvaluator, "evaluate_chunks", counting)
    serial = explore(CONFIG, tmp_path / "w1", progress=False)
    assert not mapped
    parallel = explore(CONFIG.replace(workers=2), tmp_path / "w2", progress=False)
    assert max(mapped) > 1
    assert serial.evaluations == parallel.evaluations == CONFIG.budget
    for name in ("evaluations.jsonl", "pareto.csv", "best.toml"):
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()


def test_explore_evaluates_through_the_seam(tmp_path: Path, monkeypatch):
    rows: list[int] = []
    made: list[Evaluator] = []

    class Counting(SerialEvaluator):
        name = "counting"

        def evaluate_chunks(self, chunks):  # type: ignore[no-untyped-def]
            rows.extend(len(c) for c in chunks)
            return super().evaluate_chunks(chunks)

    def factory(config: RunConfig, problem: Problem, workers: int = 1, **_: Any) -> Evaluator:
        made.append(Counting(problem))
        return made[-1]

    monkeypatch.setattr(explore_module, "make_evaluator", factory)
    config = CONFIG.replace(budget=100)
    explore(config, tmp_path / "run", progress=False)
    assert sum(rows) == config.budget and len(made) == 1 and made[0].closed
