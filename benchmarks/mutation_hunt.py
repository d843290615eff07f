"""Hunt inputs that kill the analytic kernels' surviving mutants (README, "Mutation testing").

For each mutant of ``hwsim/fpga/analytic.py`` that survived ``benchmarks/mutation_kernels.py``
(read from its sessions), this loads the mutated module as plain Python
(``NUMBA_DISABLE_JIT=1``) beside the original and runs both on random inputs through the
kernels' entry points: the per-core cycles, the split, the balance solves (fast, reference,
release sweep) and ``batch_designs`` over small random networks (memoised and per design). It
prints, per mutant, the first input on which the two disagree, or ``NO DIFF`` after
``--trials`` draws. An input found goes into tests/hwsim/fpga/test_analytic_mutants.py, checked
there against tests/naive.py; a mutant with no input found is argued equivalent by reading it
(README) or hunted longer.

    .venv/bin/python benchmarks/mutation_hunt.py [--trials 20000] [--jobs ID ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

os.environ["NUMBA_DISABLE_JIT"] = "1"  # before numba loads: the kernels run as Python

import cosmic_ray.plugins
import numpy as np
from cosmic_ray.mutating import mutate_code

from hwsim.ir.workload import WorkloadArrays

MODULE = Path("hwsim/fpga/analytic.py")


def load(text: str, name: str) -> Any:
    """Execute ``text`` as a module named ``name`` (its source file stays analytic.py)."""
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__file__"] = str(MODULE.resolve())
    exec(compile(text, str(MODULE.resolve()), "exec"), module.__dict__)
    return module


def draw(rng: random.Random) -> dict[str, Any]:
    """One GEMM, a pair of cores and the solve's options: presets' sizes and far beyond them."""
    m = rng.choice([rng.randint(1, 64), rng.randint(1, 20000), rng.choice([49, 196, 784, 3136])])
    n = rng.choice([rng.randint(1, 40), rng.randint(1, 1100), rng.randint(1, 5000)])
    k = rng.choice([rng.randint(1, 300), rng.randint(1, 5000), rng.choice([64, 576, 4608])])
    lut = (rng.randint(1, 64), rng.choice([64, 128, 192, 256, rng.randint(1, 400)]),
           rng.randint(1, 60),
           rng.choice([rng.randint(1, 300), 1024 * rng.randint(1, 50), rng.randint(1, 10**6)]),
           rng.choice([64, 32, 48, 128, rng.randint(1, 200)]))
    dsp = (rng.choice([rng.randint(1, 50), 1024 * rng.randint(1, 25), rng.randint(1, 10**5)]),
           rng.choice([rng.randint(1, 50), 1024 * rng.randint(1, 4), rng.randint(1, 20000)]),
           rng.choice([4, 0, 8]))
    return {"m": m, "n": n, "k": k, "w": rng.randint(1, 8), "a": rng.randint(1, 8),
            "lut": lut, "dsp": dsp, "vo": rng.random() < 0.5,
            "count": rng.choice([1, 1, rng.randint(2, 8), rng.randint(2, 1000)]),
            "indep": rng.random() < 0.5, "rho": rng.choice([0.0, 1.0, 0.5, rng.random()])}


def draw_network(rng: random.Random) -> tuple[Any, ...]:
    """A random network of 1-4 layers (1-3 GEMMs each) and 2-8 designs on 1-3 pairs of cores."""
    gemms: list[list[int]] = []
    first = [0]
    for layer in range(rng.randint(1, 4)):
        for _ in range(rng.randint(1, 3)):
            d = draw(rng)
            gemms.append([d["m"], d["n"], d["k"], d["count"], layer, int(d["indep"])])
        first.append(len(gemms))
    cols = [np.array([g[i] for g in gemms], dtype=np.int64) for i in range(6)]
    arrays = WorkloadArrays(cols[0], cols[1], cols[2], cols[3], cols[4],
                            np.array(first, dtype=np.int64), cols[5])
    main = np.array([first[i] + int(np.argmax((cols[0] * cols[1] * cols[2])[first[i]:first[i + 1]]))
                     for i in range(len(first) - 1)], dtype=np.int64)
    pairs = [(draw(rng)["lut"], draw(rng)["dsp"]) for _ in range(rng.randint(1, 3))]
    size, layers = rng.randint(2, 8), len(first) - 1
    pick = [rng.randrange(len(pairs)) for _ in range(size)]
    lut = np.array([pairs[p][0] for p in pick], dtype=np.int64)
    dsp = np.array([pairs[p][1] for p in pick], dtype=np.int64)
    w = np.array([[rng.randint(1, 8) for _ in range(layers)] for _ in range(size)])
    a = np.array([[rng.randint(1, 8) for _ in range(layers)] for _ in range(size)])
    rho = np.full((size, layers), np.nan)
    if rng.random() < 0.3:
        rho = np.array([[rng.choice([np.nan, 0.0, 1.0, rng.random()]) for _ in range(layers)]
                        for _ in range(size)])
    return arrays, main, w, a, rho, lut, dsp, rng.random() < 0.5, rng.random() < 0.5


def _one(M: Any, d: dict[str, Any], name: str) -> Any:
    args = (d["m"], d["n"], d["k"], d["count"], d["indep"], d["w"], d["a"])
    if name == "balance_one":
        return M._balance_one(*args, d["lut"], d["dsp"], d["vo"])[:2]
    if name == "exact_one":
        return M._exact_one(*args, d["lut"], d["dsp"], d["vo"])
    if name == "sweep_one":
        return M._sweep_one(*args, d["lut"], d["dsp"], d["vo"])
    if name == "hetero_one":
        return M._hetero_one(*args, d["rho"], d["lut"], d["dsp"], d["vo"])
    if name == "lut_cycles":
        return M._lut_cycles(d["m"], d["n"], d["k"], d["w"], d["a"], *d["lut"], d["vo"])
    return M._dsp_cycles(d["m"], d["n"], d["k"], d["a"] <= d["dsp"][2], d["dsp"][0],
                         d["dsp"][1])


GEMM_CALLS = ("balance_one", "exact_one", "sweep_one", "hetero_one", "lut_cycles", "dsp_cycles")


def _network(M: Any, net: tuple[Any, ...], memo: bool) -> Any:
    arrays, main, w, a, rho, lut, dsp, sweep, valid_only = net
    return M.batch_designs(arrays, main, w, a, rho, lut, dsp, memo=memo, parallel=False,
                           balance="n3h-sweep" if sweep else "exact", valid_only=valid_only)


def same(x: Any, y: Any) -> bool:
    """Equal, bitwise for floats, NaN equal to NaN, element for element for tuples/arrays."""
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(same(p, q) for p, q in zip(x, y, strict=True))
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        xa, ya = np.asarray(x), np.asarray(y)
        return (xa.shape == ya.shape and xa.dtype == ya.dtype
                and bool(np.array_equal(xa, ya, equal_nan=xa.dtype.kind == "f")))
    if isinstance(x, float) and math.isnan(x):
        return isinstance(y, float) and math.isnan(y)
    return bool(x == y)


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # a mutant that raises where the original does not is told apart
        return ("raised", type(exc).__name__)


def hunt(orig: Any, mutant: Any, trials: int, seed: int) -> tuple[str, Any, Any, Any] | None:
    """The first (entry point, input, original's result, mutant's result) that differ."""
    rng = random.Random(seed)
    for t in range(trials):
        d = draw(rng)
        for name in GEMM_CALLS:
            a, b = _call(_one, orig, d, name), _call(_one, mutant, d, name)
            if not same(a, b):
                return name, d, a, b
        if t % 10 == 0:
            net = draw_network(rng)
            for memo in (True, False):
                a, b = _call(_network, orig, net, memo), _call(_network, mutant, net, memo)
                if not same(a, b):
                    return f"batch_designs(memo={memo})", net, a, b
    return None


def survivors(workdir: Path) -> list[tuple[str, int, int, str]]:
    """(operator, occurrence, line, job id) of every surviving mutant in the sessions."""
    rows: list[tuple[str, int, int, str]] = []
    for session in sorted(workdir.glob("session*.sqlite")):
        with sqlite3.connect(session) as db:
            rows += db.execute(
                "select m.operator_name, m.occurrence, m.start_pos_row, m.job_id "
                "from mutation_specs m join work_results r on m.job_id = r.job_id "
                "where r.test_outcome = 'SURVIVED'").fetchall()
    return sorted(rows, key=lambda r: (r[2], r[0], r[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20000, help="random draws per mutant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", nargs="*", default=[], help="job id prefixes (default: all)")
    parser.add_argument("--workdir", type=Path, default=Path(".mutation") / MODULE.stem)
    args = parser.parse_args()
    source = MODULE.read_text()
    orig = load(source, "analytic_original")
    for operator, occurrence, line, job in survivors(args.workdir):
        if args.jobs and not any(job.startswith(j) for j in args.jobs):
            continue
        code = mutate_code(source, cosmic_ray.plugins.get_operator(operator)(), occurrence)
        start = time.perf_counter()
        found = None if code is None else hunt(orig, load(code, "analytic_mutant"),
                                               args.trials, args.seed)
        what = "NO DIFF" if found is None else (
            f"{found[0]}: {found[1]} -> {found[2]} (mutant {found[3]})")
        print(f"line {line:5d} {operator.split('/')[1]:40s} #{occurrence:<4d} [{job[:8]}] "
              f"{time.perf_counter() - start:5.1f}s  {what}", flush=True)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
