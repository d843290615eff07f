"""Exploration runs, under their original single-module path.

The code lives in the package :mod:`rl_search.runs` (config, log, evaluators, results, plots,
report, explore; see its docstring for the run folder and resume by replay); this module
re-exports its names so that ``from rl_search.runner import ...`` keeps working.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rl_search.problem import Problem
from rl_search.runs.config import (
    BEST_FILE,
    CONFIG_FILE,
    FORMAT_VERSION,
    LOG_FILE,
    PARETO_FILE,
    PLOT_FILES,
    RUNTIME_FIELDS,
    SUMMARY_FILE,
    IncompatibleRunError,
    RunConfig,
    build_problem,
    build_searcher,
)
from rl_search.runs.evaluators import (
    CHUNK_ROWS,
    Evaluator,
    ProcessPoolEvaluator,
    SerialEvaluator,
    make_evaluator,
)
from rl_search.runs.explore import RunInterrupted, explore, load_run
from rl_search.runs.log import (
    RunDivergedError,
    RunLog,
    _from_strict_json,
    _strict_json,
    read_log,
)
from rl_search.runs.plots import accuracy_label, write_plots
from rl_search.runs.report import report
from rl_search.runs.results import RunResult, best_record, pareto_front

IntArray = npt.NDArray[np.int64]


def BatchEvaluator(config: RunConfig, problem: Problem) -> Evaluator:
    """The run's evaluator, as the former ``BatchEvaluator`` class built it:
    :func:`~rl_search.runs.evaluators.make_evaluator` with ``config.workers``."""
    return make_evaluator(config, problem, config.workers)


__all__ = [
    "BEST_FILE", "CHUNK_ROWS", "CONFIG_FILE", "FORMAT_VERSION", "LOG_FILE", "PARETO_FILE",
    "PLOT_FILES", "RUNTIME_FIELDS", "SUMMARY_FILE", "BatchEvaluator", "Evaluator",
    "IncompatibleRunError", "IntArray", "ProcessPoolEvaluator", "RunConfig", "RunDivergedError",
    "RunInterrupted", "RunLog", "RunResult", "SerialEvaluator", "_from_strict_json",
    "_strict_json", "accuracy_label", "best_record", "build_problem", "build_searcher",
    "explore", "load_run", "make_evaluator", "pareto_front", "read_log", "report",
    "write_plots",
]
