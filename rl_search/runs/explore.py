"""Exploration runs: a searcher, a budget and a run folder that survives being killed.

:func:`explore` runs one searcher on one :class:`~rl_search.problem.Problem` and keeps
everything in a run folder::

    config.json        the RunConfig (what to rebuild the problem and searcher from)
    evaluations.jsonl  append-only, one line per evaluated design, fsync'd after every batch
    pareto.csv         feasible designs not dominated in latency, accuracy, max utilisation
    best.toml          the best feasible design; ``codesign estimate --design`` reads it
    summary.json       counts, the best design's figures, timings
    pareto.png, progress.png, best_design.png

Every evaluation goes through the run's :class:`~rl_search.runs.evaluators.Evaluator` (made by
:func:`~rl_search.runs.evaluators.make_evaluator` from ``config.workers``), wrapped by the
:class:`~rl_search.runs.log.RunLog`, which replays a resumed run's logged evaluations first (see
:mod:`rl_search.runs.log`): a deterministic searcher restarted with the same seed walks exactly
the path of an uninterrupted run, so nothing is lost and nothing is evaluated twice.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hwsim.errors import CodesignError
from rl_search.accuracy.units import accuracy_summary
from rl_search.problem import BatchEvaluation, Problem
from rl_search.runs.config import (
    BEST_FILE,
    CONFIG_FILE,
    LOG_FILE,
    PARETO_FILE,
    SUMMARY_FILE,
    TIMING_FILE,
    IncompatibleRunError,
    RunConfig,
    build_problem,
    build_searcher,
)
from rl_search.runs.evaluators import make_evaluator
from rl_search.runs.log import RunDivergedError, RunLog, best_feasible_latency, read_log
from rl_search.runs.plots import write_plots
from rl_search.runs.results import (
    RunResult,
    best_record,
    pareto_front,
    run_summary,
    run_timing,
    write_json,
    write_pareto_csv,
)
from rl_search.searchers.base import EvaluationBudget, Searcher

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`explore`; the folder was flushed and can be resumed."""

    def __init__(self, run_dir: Path, evaluations: int) -> None:
        super().__init__(f"interrupted after {evaluations} evaluations")
        self.run_dir = run_dir
        self.evaluations = evaluations


@contextlib.contextmanager
def _progress_bar(total: int, enabled: bool) -> Iterator[Any]:
    from tqdm import tqdm

    bar = tqdm(total=total, unit="eval", disable=not enabled, file=sys.stderr, mininterval=0.5,
               dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


def _prepare_folder(config: RunConfig, run_dir: Path, resume: bool) -> None:
    cfg_path = run_dir / CONFIG_FILE
    if resume:
        if not cfg_path.exists():
            raise CodesignError(f"no run to resume in {run_dir}: {CONFIG_FILE} is missing")
        diffs = RunConfig.load(cfg_path).differences(config)
        if diffs:
            raise IncompatibleRunError(
                f"run folder {run_dir} was started with another configuration:\n  "
                + "\n  ".join(diffs) + "\nresume it with its own configuration, or use a new "
                "run folder")
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise CodesignError(f"run folder {run_dir} is an existing file, not a folder; choose "
                            f"another --out")
    if cfg_path.exists():
        raise CodesignError(f"{run_dir} already holds a run; resume it (codesign explore "
                            f"--resume {run_dir}) or choose another output folder")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise CodesignError(f"{run_dir} exists and is not an empty folder or a run folder")


def explore(config: RunConfig, out_dir: str | Path, *, resume: bool = False,
            progress: bool = True, backend: str = "local",
            address: str | None = None) -> RunResult:
    """Run ``config``'s searcher for its budget, keeping the run folder ``out_dir`` (see the
    module docstring).

    :param resume: continue the run in ``out_dir`` (its config must match ``config`` except
        ``workers``); without it ``out_dir`` must be new or empty.
    :param progress: show a tqdm bar on stderr.
    :param backend, address: where the batches are evaluated (``"local"``: this machine,
        ``config.workers`` processes; ``"ray"``: ``config.workers`` actors on the Ray cluster at
        ``address``, a local one without it). The run folder does not depend on them.
    :raises IncompatibleRunError: resuming under a different configuration.
    :raises RunDivergedError: the resumed searcher did not retrace the logged path.
    :raises RunInterrupted: on Ctrl-C, after flushing the log and writing ``summary.json``.
    """
    run_dir = Path(out_dir)
    _prepare_folder(config, run_dir, resume)
    problem = build_problem(config)
    problem.check_budgets_reachable()
    searcher = build_searcher(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / CONFIG_FILE).exists():
        config.save(run_dir / CONFIG_FILE)

    start = time.perf_counter()
    with make_evaluator(config, problem, config.workers, backend=backend,
                        address=address) as evaluator:
        run_log = RunLog(run_dir / LOG_FILE, problem.space, evaluator)
        replayable = run_log.logged
        if replayable:
            log.info("%s: replaying %d logged evaluations", run_dir, replayable)
        status = "interrupted"
        try:
            with _progress_bar(config.budget, progress) as bar:
                best_latency = math.inf

                def evaluate(X: IntArray) -> BatchEvaluation:
                    nonlocal best_latency
                    ev = run_log(X)
                    bar.set_description("replaying" if run_log.replaying else "exploring",
                                        refresh=False)
                    bar.update(len(ev))
                    latency = best_feasible_latency(ev, below=best_latency)
                    if latency < best_latency:
                        best_latency = latency
                        bar.set_postfix_str(f"best feasible latency {best_latency:.4g} ms",
                                            refresh=False)
                    return ev

                budget = EvaluationBudget(problem, config.budget, evaluate=evaluate)
                searcher.run(problem, budget)
            if run_log.cursor < run_log.logged:
                raise RunDivergedError(
                    f"run diverged at evaluation {run_log.cursor}: the searcher stopped there "
                    f"but the log {run_log.path} holds {run_log.logged} evaluations; start a "
                    f"new run folder")
            status = "complete"
        except KeyboardInterrupt:
            run_log.close()
            records = run_log.records
            with contextlib.suppress(KeyboardInterrupt):
                # What reached the file, even if the interrupt fell inside an append.
                records, _, _ = read_log(run_log.path)
                write_json(run_dir / SUMMARY_FILE, run_summary(
                    config, records, status=status, replayed=min(run_log.cursor, replayable),
                    elapsed_s=time.perf_counter() - start, extra={}))
            raise RunInterrupted(run_dir, len(records)) from None
        finally:
            run_log.close()
    elapsed = time.perf_counter() - start
    return _finish(config, run_dir, problem, searcher, run_log.records, replayable, elapsed,
                   evaluator.name)


def _finish(config: RunConfig, run_dir: Path, problem: Problem, searcher: Searcher,
            records: list[dict[str, Any]], replayed: int, elapsed: float,
            backend: str) -> RunResult:
    files: dict[str, Path] = {"config": run_dir / CONFIG_FILE, "evaluations": run_dir / LOG_FILE}
    front = pareto_front(records)
    write_pareto_csv(run_dir / PARETO_FILE, front)
    files["pareto_csv"] = run_dir / PARETO_FILE
    best = best_record(records)
    best_path = run_dir / BEST_FILE
    if best is not None:
        problem.space.decode(np.array(best["x"], dtype=np.int64)).save(best_path)
        files["best"] = best_path
    else:
        best_path.unlink(missing_ok=True)
        log.warning("%s: no feasible design among %d evaluations; no %s written", run_dir,
                    len(records), BEST_FILE)
    bad = getattr(searcher, "bad_actions", None)
    extra = {
        "reference_latency_ms": problem.reference_latency_ms,
        "baseline_accuracy": float(problem.oracle.baseline),
        "accuracy": accuracy_summary(config.oracle),
        "space_knobs": len(problem.space),
        "space_size": problem.space.size,
        "pareto_size": len(front),
        "bad_actions": int(bad) if bad is not None else None,
    }
    files.update(write_plots(run_dir, records, config, problem.space.workload.layer_names))
    files["summary"] = run_dir / SUMMARY_FILE
    files["timing"] = run_dir / TIMING_FILE
    steps = getattr(getattr(searcher, "model", None), "num_timesteps", None)
    write_json(files["timing"], run_timing(len(records) - replayed, elapsed, backend,
                                           int(steps) if steps else None))
    summary = run_summary(config, records, status="complete", replayed=replayed,
                          elapsed_s=elapsed, extra=extra)
    summary["files"] = {k: p.name for k, p in files.items()}
    write_json(files["summary"], summary)
    return RunResult(run_dir=run_dir, config=config, evaluations=len(records), replayed=replayed,
                     feasible=summary["feasible"], best=best, pareto=tuple(front), files=files,
                     elapsed_s=elapsed, summary=summary)



def load_run(run_dir: str | Path) -> tuple[RunConfig, list[dict[str, Any]]]:
    """A run folder's config and logged evaluations (read only: a torn last line is skipped)."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).exists():
        raise CodesignError(f"{run_dir} is not a run folder: {CONFIG_FILE} is missing")
    config = RunConfig.load(run_dir / CONFIG_FILE)
    records, _, _ = read_log(run_dir / LOG_FILE)
    return config, records

