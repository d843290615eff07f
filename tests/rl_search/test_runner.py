"""Exploration runs: the run folder, resume by replay (after SIGKILL, a torn line, Ctrl-C),
refusals, parallel workers, the report and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cost_models import load_design
from hwsim.errors import CodesignError
from hwsim.ir import zoo
from rl_search.cli import main
from rl_search.runner import (
    IncompatibleRunError,
    RunConfig,
    RunDivergedError,
    build_problem,
    explore,
    pareto_front,
    read_log,
    report,
)

HELPERS = "codesign_runner_helpers"

# A deterministic toy oracle whose numbers depend slightly on the batch size (as BLAS products
# and batched inference do in the last bits), so only identical chunking reproduces them; and a
# searcher whose path depends on the results it is served (half of each batch mutates the best
# point so far), so a replay that returned other numbers would send it elsewhere. Written to a
# file so that subprocesses and spawned workers import it.
HELPERS_SOURCE = '''
import time

import numpy as np

from rl_search.searchers.base import Searcher


class ToyOracle:
    baseline = 0.7

    def estimate_batch(self, weight_bits, act_bits, lut_fraction, rank=None):
        wb = np.asarray(weight_bits, dtype=float)
        ab = np.asarray(act_bits, dtype=float)
        loss = 0.0005 * np.sum(np.exp2(2 - wb) + np.exp2(2 - ab), axis=1)
        return self.baseline - loss - 1e-12 * len(wb)


def make_oracle(workload):
    return ToyOracle()


class BatchRandom(Searcher):
    name = "batch-random"

    def __init__(self, seed=0, *, batch_size=8, delay_s=0.0):
        super().__init__(seed, batch_size=batch_size, delay_s=delay_s)
        self.batch_size = batch_size
        self.delay_s = delay_s

    def search(self, problem, budget):
        space = problem.space
        half = self.batch_size // 2
        while True:
            X = space.random(self.rng, self.batch_size)
            if budget.best_x is not None:
                X[:half] = budget.best_x
                knob = self.rng.integers(0, len(space), half)
                X[np.arange(half), knob] = self.rng.integers(0, space.nvec[knob])
            budget(X)
            time.sleep(self.delay_s)
'''


@pytest.fixture(scope="module")
def helpers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("helpers")
    (path / f"{HELPERS}.py").write_text(HELPERS_SOURCE)
    sys.path.insert(0, str(path))  # spawn workers inherit sys.path
    yield path
    sys.path.remove(str(path))


def make_config(**changes: object) -> RunConfig:
    base = RunConfig(workload="resnet18", target="n3h-zcu102", space="haq",
                     searcher=f"{HELPERS}:BatchRandom", searcher_options={"batch_size": 40},
                     budget=120, seed=3, oracle=f"{HELPERS}:make_oracle")
    return base.replace(**changes)


def lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def finished(helpers_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    run_dir = tmp_path_factory.mktemp("runs") / "done"
    result = explore(make_config(), run_dir, progress=True)  # the bar goes to stderr
    return run_dir, result


# ---------------------------------------------------------------------------------- folder


def test_run_folder_contents(finished):
    run_dir, result = finished
    names = {p.name for p in run_dir.iterdir()}
    assert names == {"config.json", "evaluations.jsonl", "pareto.csv", "best.toml",
                     "summary.json", "timing.json", "pareto.png", "progress.png", "best_design.png"}
    assert RunConfig.load(run_dir / "config.json") == make_config()
    recs = lines(run_dir)
    assert [r["index"] for r in recs] == list(range(120))
    n_layers = len(zoo.get("resnet18").layers)
    for r in recs:
        assert len(r["weight_bits"]) == len(r["act_bits"]) == len(r["lut_fraction"]) == n_layers
        assert {"x", "latency_ms", "accuracy", "accuracy_drop", "max_utilisation", "fits",
                "feasible", "reward"} <= set(r)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["evaluations"] == 120
    assert summary["feasible"] == sum(r["feasible"] for r in recs) == result.feasible > 0
    best = max((r for r in recs if r["feasible"]), key=lambda r: r["reward"])
    assert summary["best"]["index"] == best["index"] == result.best["index"]
    # pareto.csv: feasible, mutually non-dominated, and dominating every other feasible design
    rows = (run_dir / "pareto.csv").read_text().splitlines()
    front = [recs[int(row.split(",")[0])] for row in rows[1:]]
    assert len(front) == summary["pareto_size"] == len(result.pareto) > 0
    assert all(r["feasible"] for r in front)

    def dominates(a, b):
        return (a["latency_ms"] <= b["latency_ms"] and a["accuracy"] >= b["accuracy"]
                and a["max_utilisation"] <= b["max_utilisation"] and a["x"] != b["x"])

    for a in front:
        assert not any(dominates(b, a) and (b["latency_ms"], b["accuracy"], b["max_utilisation"])
                       != (a["latency_ms"], a["accuracy"], a["max_utilisation"]) for b in recs
                       if b["feasible"])
    for r in recs:
        if r["feasible"] and r not in front:
            assert any(dominates(a, r) or a["x"] == r["x"] for a in front)


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(0)
    recs = [{"x": [i], "latency_ms": float(rng.integers(1, 6)),
             "accuracy": float(rng.integers(1, 6)), "max_utilisation": float(rng.integers(1, 4)),
             "feasible": bool(rng.random() < 0.8)} for i in range(300)]
    key = lambda r: (r["latency_ms"], -r["accuracy"], r["max_utilisation"])  # noqa: E731
    feasible = [r for r in recs if r["feasible"]]
    expected = {key(r) for r in feasible
                if not any(all(a <= b for a, b in zip(key(o), key(r), strict=True))
                           and key(o) != key(r) for o in feasible)}
    got = pareto_front(recs)
    assert {key(r) for r in got} == expected and len(got) == len(expected)


def test_best_toml_round_trips_through_load_design_and_estimate(finished, capsys):
    run_dir, result = finished
    wl = zoo.get("resnet18")
    design = load_design(run_dir / "best.toml", wl)
    problem = build_problem(make_config())
    assert design == problem.space.decode(np.array(result.best["x"]))
    code = main(["estimate", "--workload", "resnet18", "--target", "n3h-zcu102", "--design",
                 str(run_dir / "best.toml"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["feasible"]
    assert out["latency_ms"] == pytest.approx(result.best["latency_ms"], rel=1e-9)


# ---------------------------------------------------------------------------------- resume


def _cli_env(helpers_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(helpers_dir), env.get("PYTHONPATH", "")])
    return env


def _start_cli(helpers_dir: Path, out: Path, budget: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "rl_search.cli", "explore", "--workload", "resnet18",
            "--target", "n3h-zcu102", "--space", "haq", "--searcher", f"{HELPERS}:BatchRandom",
            "--searcher-option", "delay_s=0.04", "--oracle", f"{HELPERS}:make_oracle",
            "--budget", str(budget), "--seed", "5", "--out", str(out), "--no-progress"]
    # A harness that runs the suite with SIGINT ignored (a background job, some CI runners)
    # passes that on, and Python then installs no KeyboardInterrupt handler: give the child the
    # default disposition, as a terminal's Ctrl-C meets it.
    return subprocess.Popen(argv, env=_cli_env(helpers_dir), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_lines(proc: subprocess.Popen[bytes], path: Path, n: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"run ended before {n} evaluations: {proc.communicate()[1].decode()}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail("run too slow to reach the kill point")


@pytest.mark.slow
def test_killed_run_resumes_with_nothing_lost_or_doubled(helpers_dir, tmp_path, capsys):
    killed = tmp_path / "killed"
    proc = _start_cli(helpers_dir, killed, budget=200)
    _wait_for_lines(proc, killed / "evaluations.jsonl", 40)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    logged, _, _ = read_log(killed / "evaluations.jsonl")
    assert 40 <= len(logged) < 200  # killed mid-way

    assert main(["explore", "--resume", str(killed), "--no-progress"]) == 0
    assert f"200 evaluations ({len(logged)} replayed" in capsys.readouterr().out
    uninterrupted = explore(RunConfig.load(killed / "config.json"), tmp_path / "straight",
                            progress=False)
    resumed, straight = lines(killed), lines(uninterrupted.run_dir)
    assert [r["x"] for r in resumed] == [r["x"] for r in straight]
    assert resumed == straight  # the same numbers too
    assert [r["index"] for r in resumed] == list(range(200))
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["replayed"] == len(logged)
    assert summary["evaluated_this_session"] == 200 - len(logged)


@pytest.mark.slow
def test_ctrl_c_leaves_a_resumable_folder(helpers_dir, tmp_path):
    out = tmp_path / "interrupted"
    proc = _start_cli(helpers_dir, out, budget=400)
    _wait_for_lines(proc, out / "evaluations.jsonl", 24)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert f"codesign explore --resume {out}" in err.decode()
    summary = json.loads((out / "summary.json").read_text())
    logged, _, torn = read_log(out / "evaluations.jsonl")
    assert summary["status"] == "interrupted" and summary["evaluations"] == len(logged) < 400
    assert not torn


def test_torn_last_line_is_skipped_with_a_warning_and_the_run_resumes(finished, tmp_path, caplog):
    src, _ = finished
    run_dir = copy_run(src, tmp_path / "torn")
    full = (src / "evaluations.jsonl").read_bytes()
    cut = [i for i, b in enumerate(full) if b == ord("\n")][49] + 1  # 50 whole lines
    (run_dir / "evaluations.jsonl").write_bytes(full[: cut + 37])  # and a torn 51st
    result = explore(make_config(), run_dir, resume=True, progress=False)
    assert any("line 51 is torn" in r.getMessage() for r in caplog.records)
    assert (run_dir / "evaluations.jsonl").read_bytes() == full
    assert result.replayed == 50 and result.evaluations == 120


def test_resume_that_diverges_is_stopped(finished, tmp_path):
    src, _ = finished
    run_dir = copy_run(src, tmp_path / "diverged")
    recs = lines(run_dir)
    recs[10]["x"][5] = (recs[10]["x"][5] + 1) % 7
    (run_dir / "evaluations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    with pytest.raises(RunDivergedError, match="run diverged at evaluation 10"):
        explore(make_config(), run_dir, resume=True, progress=False)


def test_incompatible_config_is_refused_with_the_difference_named(finished, tmp_path, capsys):
    src, _ = finished
    run_dir = copy_run(src, tmp_path / "other")
    with pytest.raises(IncompatibleRunError, match=r"seed: run folder has 3, given 4"):
        explore(make_config(seed=4), run_dir, resume=True, progress=False)
    with pytest.raises(CodesignError, match="already holds a run"):
        explore(make_config(), run_dir, progress=False)
    code = main(["explore", "--resume", str(run_dir), "--budget", "999",
                 "--latency-budget-ms", "5", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "budget: run folder has 120, given 999" in err
    assert "latency_budget_ms: run folder has None, given 5.0" in err
    # options equal to the folder's own are fine (and --workers may change)
    assert main(["explore", "--resume", str(run_dir), "--seed", "3", "--space", "haq",
                 "--no-progress"]) == 0
    with pytest.raises(CodesignError, match="no run to resume"):
        explore(make_config(), tmp_path / "nothing", resume=True, progress=False)


def test_workers_give_the_serial_results(finished, tmp_path):
    src, _ = finished
    problem = build_problem(make_config())
    X = problem.space.random(np.random.default_rng(0), 40)
    whole = problem.evaluate_batch(X).accuracy
    assert not np.array_equal(whole[32:], problem.evaluate_batch(X[32:]).accuracy)  # batch-mates
    result = explore(make_config(workers=2), tmp_path / "parallel", progress=False)
    assert lines(result.run_dir) == lines(src)


def test_unreachable_latency_budget_is_reported_before_searching(helpers_dir, tmp_path, capsys):
    out = tmp_path / "never"
    with pytest.raises(CodesignError, match=r"cheapest .* takes [\d.]+ ms"):
        explore(make_config(latency_budget_ms=1e-3), out, progress=False)
    assert not out.exists()
    code = main(["explore", "--workload", "resnet18", "--space", "haq", "--searcher",
                 f"{HELPERS}:BatchRandom", "--oracle", f"{HELPERS}:make_oracle",
                 "--latency-budget-ms", "0.001", "--out", str(out), "--no-progress"])
    assert code == 2 and "can meet the latency budget" in capsys.readouterr().err


def test_config_round_trip_and_bad_files(tmp_path):
    config = make_config(space_options={"weight_bits": (2, 4, 8)}, searcher_options={"k": 1})
    config.save(tmp_path / "c.json")
    assert RunConfig.load(tmp_path / "c.json") == config
    data = json.loads((tmp_path / "c.json").read_text())
    data["colour"] = "red"
    (tmp_path / "c.json").write_text(json.dumps(data))
    with pytest.raises(CodesignError, match=r"unknown keys.*colour"):
        RunConfig.load(tmp_path / "c.json")
    with pytest.raises(CodesignError, match="budget must be >= 1"):
        make_config(budget=0)


# ---------------------------------------------------------------------------------- report


def test_report_lists_best_designs_and_regenerates_plots(finished, tmp_path, capsys):
    src, result = finished
    run_dir = copy_run(src, tmp_path / "rep")
    for name in ("pareto.png", "progress.png", "best_design.png"):
        (run_dir / name).unlink()
    text = report(run_dir)
    assert "top 10 designs" in text and "120 of 120 evaluations (complete)" in text
    table = text.split("top 10 designs")[1].splitlines()[3:13]
    assert table[0].split()[:3] == ["1", str(result.best["index"]), "yes"]
    for name in ("pareto.png", "progress.png", "best_design.png", "best.toml", "pareto.csv"):
        assert str(run_dir / name) in text and (run_dir / name).exists()
    assert main(["report", str(run_dir), "--top", "3"]) == 0
    assert "top 3 designs" in capsys.readouterr().out


def test_log_lines_are_strict_json_and_infinities_round_trip(tmp_path):
    import json
    import math

    from rl_search.runner import _from_strict_json, _strict_json

    rec = {"index": 0, "latency_ms": math.inf, "reward": -12.0, "lut_fraction": [0.5, math.nan]}
    line = json.dumps(_strict_json(rec), allow_nan=False)
    assert "Infinity" not in line and "NaN" not in line
    back = _from_strict_json(json.loads(line))
    assert back["latency_ms"] == math.inf and back["reward"] == -12.0
    assert back["lut_fraction"] == [0.5, None]


@pytest.mark.parametrize("budget", [1, 30])
def test_an_edited_config_is_named_and_the_log_is_kept(tmp_path, capsys, budget):
    """A config.json edited after the run (another space) no longer matches the log: the
    resume refuses with that reason, and no line of the log is taken for a torn one and cut
    (a one-line log used to be)."""
    run = tmp_path / "run"
    assert main(["explore", "--workload", "resnet20", "--budget", str(budget), "--no-progress",
                 "--out", str(run)]) == 0
    before = (run / "evaluations.jsonl").read_bytes()
    config = json.loads((run / "config.json").read_text())
    config.update(space="haq", budget=budget + 5)
    (run / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["explore", "--resume", str(run), "--no-progress"]) == 2
    assert "config.json describes a space of" in capsys.readouterr().err
    assert (run / "evaluations.jsonl").read_bytes() == before
