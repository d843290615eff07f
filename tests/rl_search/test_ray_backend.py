"""The Ray backend on a local Ray (2 CPUs): run folders byte-identical to the local backends, a
worker process killed mid-batch has its chunks retried with nothing lost or counted twice, and
clear errors."""

from __future__ import annotations

import filecmp
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hwsim.errors import CodesignError
from rl_search.runs.config import RunConfig, build_problem
from rl_search.runs.evaluators import make_evaluator
from rl_search.runs.explore import explore

ray = pytest.importorskip("ray")

from rl_search.runs.ray_backend import RayEvaluator, ensure_ray  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ensure_ray(num_cpus=2)
    yield
    ray.shutdown()


def _same_folders(a: Path, b: Path, skip: tuple[str, ...] = ("timing.json",)) -> list[str]:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    return [n for n in names if n not in skip and not filecmp.cmp(a / n, b / n, shallow=False)]


@pytest.mark.parametrize("searcher", ["genetic", "random"])
def test_ray_run_folder_is_byte_identical_to_the_process_pool(tmp_path, searcher):
    config = RunConfig(workload="resnet20", target="n3h-zcu102", space="haq", searcher=searcher,
                       budget=150, workers=2)
    explore(config, tmp_path / "pool", progress=False)
    explore(config, tmp_path / "ray", progress=False, backend="ray")
    assert _same_folders(tmp_path / "pool", tmp_path / "ray") == []


def test_ray_resumes_a_run_another_backend_started(tmp_path):
    config = RunConfig(workload="resnet20", target="n3h-zcu102", space="haq", searcher="genetic",
                       budget=120, workers=2)
    explore(config, tmp_path / "whole", progress=False)
    explore(config, tmp_path / "split", progress=False)
    log = (tmp_path / "split" / "evaluations.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "split" / "evaluations.jsonl").write_text("".join(log[:len(log) // 2]))
    (tmp_path / "split" / "summary.json").unlink()
    explore(config, tmp_path / "split", progress=False, resume=True, backend="ray")
    assert (tmp_path / "whole" / "evaluations.jsonl").read_bytes() == \
        (tmp_path / "split" / "evaluations.jsonl").read_bytes()


def test_a_killed_worker_has_its_chunks_retried(tmp_path):
    config = RunConfig(workload="resnet18", target="n3h-zcu102", space="n3h", searcher="random",
                       budget=10, workers=2)
    problem = build_problem(config)
    rng = np.random.default_rng(0)
    X = np.stack([rng.integers(0, len(k.choices), 4096) for k in problem.space.knobs], axis=1)
    want = problem.evaluate_batch(X)
    with make_evaluator(config, problem, 2, backend="ray") as evaluator:
        assert isinstance(evaluator, RayEvaluator)
        victim = evaluator.worker_pids()[0]
        result: dict[str, object] = {}

        def run() -> None:
            result["ev"] = evaluator(X)

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.05)  # the batch's 128 chunks are in flight
        os.kill(victim, signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive()
        assert victim not in evaluator.worker_pids()  # the actor was restarted
    got = result["ev"]
    for field in ("latency_ms", "accuracy", "reward", "feasible"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field))


def test_backend_errors_are_clear():
    config = RunConfig(workload="resnet20", target="n3h-zcu102", space="haq", budget=10)
    problem = build_problem(config)
    with pytest.raises(CodesignError, match="unknown backend"):
        make_evaluator(config, problem, 1, backend="slurm")
    with pytest.raises(CodesignError, match="--address is for --backend ray"):
        make_evaluator(config, problem, 1, address="auto")
