"""The Ray backend against the local ones on this machine, measured in one run: a run whose
oracle is expensive (the tensor-LSTM oracle, torch inference per distinct design) evaluated
serially, by a 2-process pool and by 2 Ray actors; and the driver-side cost per chunk of Ray on
a cheap problem (the analytic FPGA model), which is what N nodes add per task.

    python benchmarks/bench_ray.py
"""

from __future__ import annotations

import os

# one thread per process, inherited by the pool's and Ray's workers: the serial run uses one
# core, N workers N cores (else torch's own threads already fill the machine in the serial run)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import cpu_model, parse_args

from rl_search.runs.config import RunConfig, build_problem
from rl_search.runs.evaluators import CHUNK_ROWS, make_evaluator
from rl_search.runs.explore import explore
from rl_search.runs.ray_backend import ensure_ray


@dataclass
class Args:
    budget: int = 2000
    """evaluations of the expensive run"""
    workers: int = 2
    """processes / actors"""
    real_budget: int = 128
    """designs of the real-oracle run (each fine-tuned)"""


def _run(config: RunConfig, backend: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        explore(config, Path(tmp) / "run", progress=False, backend=backend)
        return time.perf_counter() - start


def main() -> None:
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    args = parse_args(Args, __doc__)
    print(f"machine: {cpu_model()}, {args.workers} workers, OMP_NUM_THREADS="
          f"{os.environ['OMP_NUM_THREADS']}")
    ensure_ray(num_cpus=args.workers)
    # the real oracle: every distinct design is compressed, fine-tuned 20 steps and measured
    from hwsim.ir import from_torch
    from hwsim.ir.toml_workload import dump_workload_toml
    from rl_search.accuracy.tasks import digits_cnn

    task = digits_cnn()
    folder = Path(tempfile.mkdtemp())
    (folder / "digits_cnn.toml").write_text(dump_workload_toml(from_torch(
        task.model, task.example_input)))
    real = RunConfig(workload=str(folder / "digits_cnn.toml"), target="n3h-zcu102",
                     space="haq", searcher="random", budget=args.real_budget,
                     searcher_options={"batch_size": args.real_budget},
                     oracle="rl_search.accuracy.tasks:digits_cnn_oracle",
                     max_accuracy_drop=0.05)
    r_serial = _run(real, "local")
    r_pool = _run(real.replace(workers=args.workers), "local")
    r_ray = _run(real.replace(workers=args.workers), "ray")
    print(f"real oracle (digits CNN, 20 fine-tuning steps a design, one batch of "
          f"{args.real_budget}): serial {r_serial:.1f} s, process pool {r_pool:.1f} s "
          f"({r_serial / r_pool:.2f}x), Ray {r_ray:.1f} s ({r_serial / r_ray:.2f}x, start-up "
          f"included)")

    expensive = RunConfig(workload="lstm-ucf-ht", target="fdht", space="haq+rank",
                          searcher="random", budget=args.budget, oracle="tensor-lstm",
                          max_accuracy_drop=0.05)
    explore(expensive.replace(budget=8), tempfile.mkdtemp(), progress=False)  # train stand-ins
    serial = _run(expensive, "local")
    pool = _run(expensive.replace(workers=args.workers), "local")
    ray_s = _run(expensive.replace(workers=args.workers), "ray")
    print(f"expensive oracle (tensor-lstm on lstm-ucf-ht, random search, {args.budget} "
          f"evaluations): serial {serial:.1f} s ({1e3 * serial / args.budget:.1f} ms a design), "
          f"process pool {pool:.1f} s "
          f"({serial / pool:.2f}x), Ray {ray_s:.1f} s ({serial / ray_s:.2f}x, actor start-up "
          f"included)")

    cheap = RunConfig(workload="resnet18", target="n3h-zcu102", space="n3h", budget=10,
                      workers=args.workers)
    problem = build_problem(cheap)
    rng = np.random.default_rng(0)
    X = np.stack([rng.integers(0, len(k.choices), 64 * CHUNK_ROWS)
                  for k in problem.space.knobs], axis=1)
    start = time.perf_counter()
    for _ in range(3):
        problem.evaluate_batch(X)
    here = (time.perf_counter() - start) / 3
    with make_evaluator(cheap, problem, args.workers, backend="ray") as ev:
        ev(X)  # actors built
        start = time.perf_counter()
        for _ in range(3):
            ev(X)
        remote = (time.perf_counter() - start) / 3
    chunks = len(X) // CHUNK_ROWS
    print(f"driver-side cost on a cheap problem ({len(X)} designs = {chunks} chunks of "
          f"{CHUNK_ROWS}): serial {1e3 * here:.1f} ms, Ray {1e3 * remote:.1f} ms, i.e. about "
          f"{1e3 * (remote - here / args.workers) / chunks:.2f} ms per task of overhead")
    print("On N nodes: a batch of B designs becomes ceil(B / 32) tasks spread round-robin over "
          "the actors (one per CPU asked for); Ray pays off when a chunk's evaluation costs "
          "well over the per-task overhead above, as with the real oracle or a cycle tier.")


if __name__ == "__main__":
    main()
