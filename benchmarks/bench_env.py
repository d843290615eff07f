"""Raw CoDesignEnv steps per second and batch throughput: analytic cost model, prior accuracy
oracle, no agent.

Run: ``python benchmarks/bench_env.py [--seq-steps 30000 --oneshot-steps 2000 ...]``.
It prints two tables with the machine it ran on.

1. Throughput on ResNet-18 at ``--batch`` points per call, numba on ONE thread (per-core rates):
   the analytic kernel alone (``hwsim.fpga.analytic.batch_designs``: every design on its own
   cores, balance points solved), ``Problem.evaluate_batch`` (space decoding, kernel, resources,
   prior oracle, objective) in the n3h and haq spaces on the same points, and the vectorised
   environment (``CoDesignVectorEnv``, one-shot, ``--batch`` sub-environments, random actions,
   violations named). Goals: problem >= 300 k designs/s per core, vectorised env >= 200 k.
2. For each registered preset (N3H-Core space on ResNet-18, HAQ space on ResNet-18, rank space on
   ResNet-20) and each form, env steps per second with random actions drawn beforehand; the same
   with the evaluation stubbed out (what the env adapter itself costs); and one evaluation per
   call through ``Problem.evaluate_batch`` (what a sequential episode's last step and every
   one-shot step pay). Goal: >= 20,000 steps/s.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium
import numba
import numpy as np
from _common import cpu_model, parse_args

import rl_search  # registers the environments
from cost_models.fpga import _main_gemms
from hwsim.fpga import analytic
from rl_search.env import CoDesignEnv
from rl_search.envs import PRESETS
from rl_search.factory import make_problem
from rl_search.vec_env import CoDesignVectorEnv


@dataclass
class Args:
    seq_steps: int = 30_000
    """sequential env steps per timed run"""
    oneshot_steps: int = 2_000
    """one-shot env steps (= evaluations) per timed run"""
    clamp_steps: int = 2_000
    """sequential steps in clamp mode (one latency batch per step)"""
    repeats: int = 2
    """timed runs per measurement; the best one counts"""
    seed: int = 0
    """seed of the random actions"""
    batch: int = 2_000
    """points per batch call (and sub-environments of the vectorised env)"""
    batch_repeats: int = 5
    """timed batch calls per measurement; the best one counts"""


args = parse_args(Args, __doc__)



def steps_per_second(env: CoDesignEnv, steps: int) -> float:
    """Best-of-``repeats`` rate of ``steps`` env steps on actions drawn before timing, fresh
    ones each run (so no run replays designs an earlier one evaluated)."""
    best = float("inf")
    for r in range(args.repeats):
        env.action_space.seed(args.seed + r)
        actions = [env.action_space.sample() for _ in range(steps)]
        env.reset(seed=args.seed)
        start = time.perf_counter()
        for act in actions:
            if env.step(act)[2]:
                env.reset()
        best = min(best, time.perf_counter() - start)
    return steps / best


def best_rate(call, n: int) -> float:  # type: ignore[no-untyped-def]
    call()  # warm-up
    best = float("inf")
    for _ in range(args.batch_repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return n / best


def throughput(space: str) -> list[tuple[str, float]]:
    """Per-core designs/s of the kernel, the problem and the vectorised env in ``space``."""
    problem = make_problem("resnet18", "n3h-zcu102", space)
    X = problem.space.random(np.random.default_rng(args.seed), args.batch)
    batch = problem.space.decode_batch(X)
    wl = problem.space.workload
    cores = [problem.target.cores(problem.space.decode(x)) for x in X]  # type: ignore[attr-defined]
    lut_rows, dsp_rows = analytic.hardware_rows([c[0] for c in cores], [c[1] for c in cores])
    nan = np.full(batch.weight_bits.shape, np.nan)
    main = _main_gemms(wl)
    out = [(f"{space}: kernel alone (batch_designs, splits solved)", best_rate(
        lambda: analytic.batch_designs(wl.to_arrays(), main, batch.weight_bits, batch.act_bits,
                                       nan, lut_rows, dsp_rows, parallel=False), len(X))),
           (f"{space}: Problem.evaluate_batch (prior oracle included)",
            best_rate(lambda: problem.evaluate_batch(X), len(X)))]
    venv = CoDesignVectorEnv(problem, num_envs=args.batch, form="oneshot", action="box")
    venv.action_space.seed(args.seed)
    steps = iter([venv.action_space.sample() for _ in range(args.batch_repeats + 1)])
    venv.reset(seed=args.seed)
    out.append((f"{space}: CoDesignVectorEnv one-shot step ({args.batch} envs)",
                best_rate(lambda: venv.step(next(steps)), len(X))))
    return out


threads = numba.get_num_threads()
numba.set_num_threads(1)
through = throughput("n3h") + throughput("haq")
numba.set_num_threads(threads)

rows: list[tuple[str, str, float, str]] = []  # (env, measurement, rate, unit)
for env_id in sorted(PRESETS):
    label = f"{env_id.split('/')[1]} ({PRESETS[env_id]['workload']})"
    seq = gymnasium.make(env_id).unwrapped
    assert isinstance(seq, CoDesignEnv)
    problem = seq.problem
    one = CoDesignEnv(problem, form="oneshot")
    episode = len(seq.space)
    steps_per_second(seq, 2 * episode)  # warm-up: numba cache, oracle tables
    rows.append((label, f"sequential, {episode} steps/episode",
                 steps_per_second(seq, args.seq_steps), "steps/s"))
    rows.append((label, "one-shot (1 evaluation per step)",
                 steps_per_second(one, args.oneshot_steps), "steps/s"))
    fixed = problem.evaluate_batch(np.zeros((1, episode), dtype=np.int64))
    stub = CoDesignEnv(problem, evaluate=lambda x, ev=fixed: ev)
    rows.append((label, "sequential, evaluation stubbed (adapter only)",
                 steps_per_second(stub, args.seq_steps), "steps/s"))
    stub_one = CoDesignEnv(problem, form="oneshot", evaluate=lambda x, ev=fixed: ev)
    rows.append((label, "one-shot, evaluation stubbed (adapter only)",
                 steps_per_second(stub_one, args.seq_steps), "steps/s"))
    X = problem.space.random(np.random.default_rng(args.seed), args.oneshot_steps)
    start = time.perf_counter()
    for i in range(len(X)):
        problem.evaluate_batch(X[i:i + 1])
    rows.append((label, "Problem.evaluate_batch, 1 point per call",
                 len(X) / (time.perf_counter() - start), "evals/s"))
    start = time.perf_counter()
    problem.evaluate_batch(X)
    rows.append((label, f"Problem.evaluate_batch, {len(X)} points per call",
                 len(X) / (time.perf_counter() - start), "evals/s"))

hetero = PRESETS["codesign/MixedPrecision-v0"]
probe = CoDesignEnv(space="haq", workload=hetero["workload"], target=hetero["target"])
budget = 0.5 * (probe.problem.cheapest()["latency_ms"] + probe.problem.reference_latency_ms)
clamp = CoDesignEnv(space="haq", workload=hetero["workload"], target=hetero["target"],
                    mode="clamp", latency_budget_ms=budget)
rows.append((f"MixedPrecision-v0 ({hetero['workload']})",
             f"sequential, clamp mode ({budget:.1f} ms budget)",
             steps_per_second(clamp, args.clamp_steps), "steps/s"))

print(f"platform : {platform.platform()}")
print(f"CPU      : {cpu_model()} ({os.cpu_count()} logical CPUs), 1-minute load average "
      f"{os.getloadavg()[0]:.1f} (other processes slow every rate here)")
print(f"python   : {platform.python_version()}, numpy {np.__version__}, numba "
      f"{numba.__version__}, gymnasium {gymnasium.__version__}, rl_search at "
      f"{Path(rl_search.__file__).parent}")
print("oracle   : ProxyOracle.prior (weight-free prior); cost model: analytic tier")
print()
print(f"ResNet-18 on n3h-zcu102, {args.batch} random points per call, numba on 1 thread")
print(f"{'measurement':<72} {'designs/s':>12}")
print("-" * 86)
for what, rate in through:
    print(f"{what:<72} {rate:>12,.0f}")
print("-" * 86)
prob = min(rate for what, rate in through if "Problem" in what)
vec = min(rate for what, rate in through if "VectorEnv" in what)
print(f"goal Problem.evaluate_batch >= 300,000/s per core: "
      f"{'met' if prob >= 3e5 else 'MISSED'} (slowest {prob:,.0f}); vectorised env >= 200,000/s: "
      f"{'met' if vec >= 2e5 else 'MISSED'} (slowest {vec:,.0f})")
print()
print(f"{'env':<32} {'measurement':<50} {'rate':>10}  unit")
print("-" * 104)
for env_name, what, rate, unit in rows:
    print(f"{env_name:<32} {what:<50} {rate:>10,.0f}  {unit}")
print("-" * 104)
seq_rates = [rate for _, what, rate, _ in rows if what.startswith("sequential,") and
             "steps/episode" in what]
one_rates = [rate for _, what, rate, _ in rows if what.startswith("one-shot (")]
print(f"goal >= 20,000 steps/s: sequential {'met' if min(seq_rates) >= 2e4 else 'MISSED'} "
      f"(slowest {min(seq_rates):,.0f}); one-shot "
      f"{'met' if min(one_rates) >= 2e4 else 'MISSED'} (slowest {min(one_rates):,.0f}: one "
      f"single-point Problem.evaluate_batch per step)")
