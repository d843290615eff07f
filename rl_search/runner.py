"""Exploration runs: a searcher, a budget and a run folder that survives being killed.

:func:`explore` runs one searcher on one :class:`~rl_search.problem.Problem` and keeps
everything in a run folder::

    config.json        the RunConfig (what to rebuild the problem and searcher from)
    evaluations.jsonl  append-only, one line per evaluated design, fsync'd after every batch
    pareto.csv         feasible designs not dominated in latency, accuracy, max utilisation
    best.toml          the best feasible design; ``codesign estimate --design`` reads it
    summary.json       counts, the best design's figures, timings
    pareto.png, progress.png, best_design.png

Resume works by replay. The log is the budget's evaluation function
(:class:`~rl_search.searchers.base.EvaluationBudget`'s ``evaluate`` hook): on resume it first
serves the logged evaluations, in order, to the searcher restarted with the same seed, checking
that every proposed point equals the logged one, then evaluates and appends new ones. A
deterministic searcher therefore walks exactly the path of an uninterrupted run: nothing is lost
and nothing is evaluated twice. A last line torn by a crash is dropped with a warning (and cut
from the file before anything is appended); the design it held is simply evaluated again.

Names in a :class:`RunConfig` are resolved as the CLI does: ``searcher`` through
:func:`rl_search.searchers.registry.make_searcher`, ``oracle`` ``"prior"`` through
:func:`rl_search.factory.make_problem`. Either may instead be an import path ``"module:name"``
(a :class:`~rl_search.searchers.base.Searcher` subclass taking ``seed`` and options; a callable
taking the workload and returning an oracle), so user code plugs in and worker processes can
rebuild it.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import importlib
import inspect
import json
import logging
import math
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from hwsim.errors import CodesignError
from rl_search.problem import BatchEvaluation, Objective, Problem
from rl_search.searchers.base import EvaluateFn, EvaluationBudget, Searcher
from rl_search.spaces import DesignSpace

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
LOG_FILE = "evaluations.jsonl"
PARETO_FILE = "pareto.csv"
BEST_FILE = "best.toml"
SUMMARY_FILE = "summary.json"
PLOT_FILES = {"pareto": "pareto.png", "progress": "progress.png", "best_design": "best_design.png"}

CHUNK_ROWS = 32
"""Rows per evaluation call (and per task of a worker pool), whatever the number of workers."""

RUNTIME_FIELDS = ("workers",)
"""Config fields that do not change which designs a run evaluates: free to differ on resume."""


class RunDivergedError(CodesignError):
    """A resumed searcher proposed a point other than the one the run log holds."""


class IncompatibleRunError(CodesignError):
    """A run folder was asked to continue under a different configuration."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`explore`; the folder was flushed and can be resumed."""

    def __init__(self, run_dir: Path, evaluations: int) -> None:
        super().__init__(f"interrupted after {evaluations} evaluations")
        self.run_dir = run_dir
        self.evaluations = evaluations


# ---------------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything that decides which designs a run evaluates (plus ``workers``, which does not).

    :param workload: zoo name or workload TOML path.
    :param target: heterogeneous FPGA target preset (``n3h-zcu102``, ``n3h-pynq-z2``, ...).
    :param space: design-space preset (see :func:`rl_search.spaces.make_space`).
    :param space_options: keyword options of ``make_space`` (``weight_bits``, ``split``, ...).
    :param searcher: registry name (``random``, ``genetic``, ``ppo``, ...) or ``"module:Class"``.
    :param searcher_options: keyword options of the searcher.
    :param budget: number of design evaluations.
    :param seed: the searcher's seed; a resumed run must reuse it to replay its path.
    :param minimise, latency_budget_ms, max_accuracy_drop, require_fit, mode: the
        :class:`~rl_search.problem.Objective`.
    :param oracle: ``"prior"`` or ``"module:function"`` (function of the workload).
    :param workers: processes evaluating each batch (results do not depend on it).
    """

    workload: str = "resnet18"
    target: str = "n3h-zcu102"
    space: str = "n3h"
    space_options: Mapping[str, Any] = field(default_factory=dict)
    searcher: str = "random"
    searcher_options: Mapping[str, Any] = field(default_factory=dict)
    budget: int = 1000
    seed: int = 0
    minimise: str = "latency"
    latency_budget_ms: float | None = None
    max_accuracy_drop: float | None = 0.01
    require_fit: bool = True
    mode: str = "penalty"
    oracle: str = "prior"
    workers: int = 1

    def __post_init__(self) -> None:
        for name in ("budget", "seed", "workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise CodesignError(f"run config {name} must be an int, got {value!r}")
        if self.budget < 1:
            raise CodesignError(f"run config budget must be >= 1 evaluation, got {self.budget}")
        if self.workers < 1:
            raise CodesignError(f"run config workers must be >= 1, got {self.workers}")
        for name in ("workload", "target", "space", "searcher", "oracle"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise CodesignError(f"run config {name} must be a non-empty string, got {value!r}")
        for name in ("space_options", "searcher_options"):
            # A JSON round trip: tuples become lists, so a config equals its reloaded self.
            try:
                value = json.loads(json.dumps(dict(getattr(self, name)), allow_nan=False))
            except (TypeError, ValueError) as exc:
                raise CodesignError(f"run config {name} must be JSON-able: {exc}") from None
            object.__setattr__(self, name, value)
        _ = self.objective  # building it validates the objective fields

    @property
    def objective(self) -> Objective:
        return Objective(minimise=self.minimise, latency_budget_ms=self.latency_budget_ms,
                         max_accuracy_drop=self.max_accuracy_drop, require_fit=self.require_fit,
                         mode=self.mode)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": FORMAT_VERSION}
        data.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        data["space_options"] = dict(self.space_options)
        data["searcher_options"] = dict(self.searcher_options)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "run config") -> RunConfig:
        """Inverse of :meth:`to_json`; unknown keys and another format version are errors."""
        data = dict(data)
        version = data.pop("format", None)
        if version != FORMAT_VERSION:
            raise CodesignError(f"{where}: run folder format {version!r}, this codesign reads "
                                f"format {FORMAT_VERSION}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CodesignError(f"{where}: unknown keys {unknown}; expected {sorted(known)}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise CodesignError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise CodesignError(f"{path}: expected a JSON object")
        return cls.from_json(data, where=str(path))

    def differences(self, other: RunConfig) -> list[str]:
        """``"field: this has A, other has B"`` for each field that changes the run."""
        out = []
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name not in RUNTIME_FIELDS and mine != theirs:
                out.append(f"{f.name}: run folder has {mine!r}, given {theirs!r}")
        return out

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


def _import_object(path: str, what: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise CodesignError(f"cannot import {what} {path!r}: {exc}") from None
    return obj


def build_problem(config: RunConfig) -> Problem:
    """The :class:`~rl_search.problem.Problem` a config describes (each worker builds its own)."""
    from rl_search.factory import make_problem, resolve_workload
    from rl_search.spaces import make_space

    params = inspect.signature(make_space).parameters
    allowed = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(config.space_options) - set(allowed))
    if unknown:
        raise CodesignError(f"unknown space options {unknown}; known: {allowed}")
    workload = resolve_workload(config.workload)
    oracle: Any = config.oracle
    if ":" in config.oracle:
        oracle = _import_object(config.oracle, "oracle")(workload)
    return make_problem(workload, config.target, config.space, oracle=oracle,
                        objective=config.objective, **config.space_options)


def build_searcher(config: RunConfig) -> Searcher:
    """The searcher a config names, seeded with ``config.seed``."""
    try:
        if ":" in config.searcher:
            cls = _import_object(config.searcher, "searcher")
            searcher = cls(seed=config.seed, **config.searcher_options)
        else:
            from rl_search.searchers.registry import make_searcher

            searcher = make_searcher(config.searcher, config.seed, **config.searcher_options)
    except TypeError as exc:  # an option the searcher does not take
        raise CodesignError(f"searcher {config.searcher!r} with options "
                            f"{dict(config.searcher_options)}: {exc}") from None
    if not isinstance(searcher, Searcher):
        raise CodesignError(f"searcher {config.searcher!r} built a {type(searcher).__name__}, "
                            f"not a rl_search.searchers.base.Searcher")
    return searcher


# ---------------------------------------------------------------------------------- the log


def read_log(path: Path, n_knobs: int | None = None) -> tuple[list[dict[str, Any]], int, bool]:
    """Parse ``evaluations.jsonl``: the records, the byte length of the good part, and whether a
    torn last line was dropped (with a warning). A bad line before the last is an error: a crash
    tears only the end of an append-only file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0, False
    records: list[dict[str, Any]] = []
    good = 0
    lines = data.split(b"\n")
    # Every complete line ends with "\n", so the last piece is b"" unless the end was torn.
    for number, raw in enumerate(lines, start=1):
        last = number == len(lines)
        if last and raw == b"":
            break
        try:
            if last:
                raise ValueError("no end of line")
            rec = _from_strict_json(json.loads(raw))
            if not isinstance(rec, dict) or rec.get("index") != len(records) or (
                    n_knobs is not None and len(rec.get("x", ())) != n_knobs):
                raise ValueError(f"not evaluation #{len(records)} of this run")
        except ValueError as exc:
            if last or (number == len(lines) - 1 and lines[-1] == b""):
                log.warning("%s: line %d is torn (%s); skipped, that design will be evaluated "
                            "again", path, number, exc)
                return records, good, True
            raise CodesignError(f"{path}: line {number} is corrupt ({exc}); the log is "
                                f"append-only, so only its last line can be torn by a "
                                f"crash") from None
        records.append(rec)
        good += len(raw) + 1
    return records, good, False


_FLOAT_KEYS = ("latency_ms", "accuracy", "accuracy_drop", "max_utilisation", "reward")


def _strict_json(rec: dict[str, Any]) -> dict[str, Any]:
    """Strict JSON has no Infinity or NaN: non-finite numbers are written as null (an
    infeasible design's latency is infinite), so the log reads in any JSON tool."""
    out = dict(rec)
    for key, value in rec.items():
        if isinstance(value, float) and not math.isfinite(value):
            out[key] = None
        elif isinstance(value, list) and any(isinstance(v, float) and not math.isfinite(v)
                                             for v in value):
            out[key] = [None if isinstance(v, float) and not math.isfinite(v) else v
                        for v in value]
    return out


def _from_strict_json(rec: Any) -> Any:
    """Inverse of :func:`_strict_json` for the scalar figures: null means infinite."""
    if isinstance(rec, dict):
        for key in _FLOAT_KEYS:
            if key in rec and rec[key] is None:
                rec[key] = math.inf
    return rec


def _batch_from_records(records: Sequence[Mapping[str, Any]]) -> BatchEvaluation:
    def col(key: str, dtype: Any) -> Any:
        return np.array([r[key] for r in records], dtype=dtype)

    return BatchEvaluation(
        x=col("x", np.int64), latency_ms=col("latency_ms", np.float64),
        accuracy=col("accuracy", np.float64), accuracy_drop=col("accuracy_drop", np.float64),
        max_utilisation=col("max_utilisation", np.float64), fits=col("fits", np.bool_),
        feasible=col("feasible", np.bool_), reward=col("reward", np.float64),
        lut_fraction=col("lut_fraction", np.float64))


def _concat(parts: Sequence[BatchEvaluation]) -> BatchEvaluation:
    if len(parts) == 1:
        return parts[0]
    return BatchEvaluation(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                              for f in dataclasses.fields(BatchEvaluation)})


def _take(ev: BatchEvaluation, rows: slice) -> BatchEvaluation:
    return BatchEvaluation(**{f.name: getattr(ev, f.name)[rows]
                              for f in dataclasses.fields(BatchEvaluation)})


class RunLog:
    """``evaluations.jsonl`` as an evaluation function: replays logged evaluations, then
    evaluates through ``evaluate`` and appends.

    :param path: the JSONL file (created if missing; a torn last line is cut off).
    :param space: the run's design space (decodes per-layer knobs for the records).
    :param evaluate: the real evaluation (serial or a worker pool).
    """

    def __init__(self, path: Path, space: DesignSpace, evaluate: EvaluateFn) -> None:
        self.path = path
        self.space = space
        self._evaluate = evaluate
        self._has_rank = any(k.kind == "rank" for k in space.knobs)
        self._file: IO[bytes] = open(path, "a+b")  # closed in close()
        try:
            _lock(self._file, path)
            self.records, good, torn = read_log(path, len(space))
            if torn:
                self._file.truncate(good)
        except BaseException:
            self._file.close()
            raise
        self.logged = len(self.records)  # records present when the run (re)started
        self.cursor = 0                  # records served so far (replayed or new)

    @property
    def replaying(self) -> bool:
        return self.cursor < self.logged

    def __call__(self, X: Any) -> BatchEvaluation:
        X = np.atleast_2d(np.asarray(X, dtype=np.int64))
        if X.size == 0:
            return self._evaluate(X)
        parts = []
        n_replay = max(0, min(len(X), self.logged - self.cursor))
        if n_replay > 0:
            for i in range(n_replay):
                rec = self.records[self.cursor + i]
                if X[i].tolist() != rec.get("proposed", rec["x"]):
                    raise RunDivergedError(
                        f"run diverged at evaluation {self.cursor + i}: the searcher proposed "
                        f"{X[i].tolist()}, the log {self.path} holds "
                        f"{rec.get('proposed', rec['x'])}. The searcher is not deterministic "
                        f"under its seed, or the code changed since the run started; start a "
                        f"new run folder")
            parts.append(_batch_from_records(self.records[self.cursor:self.cursor + n_replay]))
            self.cursor += n_replay
        if n_replay < len(X):
            if n_replay:
                # The log ends inside this batch: evaluate all of it, as the first run did, and
                # keep the new rows (their numbers may depend on the chunk they were in).
                ev = _take(self._evaluate(X), slice(n_replay, None))
            else:
                ev = self._evaluate(X)
            self._append(X[n_replay:], ev)
            parts.append(ev)
        return _concat(parts)

    def _append(self, proposed: IntArray, ev: BatchEvaluation) -> None:
        decoded = self.space.decode_batch(ev.x)
        new: list[dict[str, Any]] = []
        for i in range(len(ev)):
            rec: dict[str, Any] = {"index": len(self.records) + i, **ev.row(i)}
            if not np.array_equal(proposed[i], ev.x[i]):  # repair / clamp moved it
                rec["proposed"] = proposed[i].tolist()
            rec["weight_bits"] = decoded["weight_bits"][i].tolist()
            rec["act_bits"] = decoded["act_bits"][i].tolist()
            rec["lut_fraction"] = ev.lut_fraction[i].tolist()
            if self._has_rank:
                rec["rank"] = [int(r) or None for r in decoded["rank"][i]]
            new.append(rec)
        # One write per batch, then flush and fsync: a kill tears at most the batch's end.
        self._file.write("".join(json.dumps(_strict_json(r), separators=(",", ":"),
                                            allow_nan=False) + "\n" for r in new).encode())
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records.extend(new)
        self.cursor = len(self.records)

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()


def _lock(fh: IO[bytes], path: Path) -> None:
    """One process per run folder (the lock dies with its process, even on SIGKILL)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise CodesignError(f"{path} is in use by another running exploration") from None


# ---------------------------------------------------------------------------------- workers

_WORKER_PROBLEM: Problem | None = None


def _init_worker(config_json: dict[str, Any]) -> None:
    global _WORKER_PROBLEM
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _WORKER_PROBLEM = build_problem(RunConfig.from_json(config_json))


def _evaluate_in_worker(X: IntArray) -> BatchEvaluation:
    assert _WORKER_PROBLEM is not None, "worker not initialised"
    return _WORKER_PROBLEM.evaluate_batch(X)


class BatchEvaluator:
    """Evaluates a batch in fixed chunks of :data:`CHUNK_ROWS` rows, here or spread over
    ``config.workers`` processes (each builds its own Problem from the config once).

    The chunks never depend on the number of workers, so every worker count gives bitwise the
    serial results, even with an oracle whose numbers depend on a row's batch-mates (BLAS
    matrix products, batched torch inference do, in the last bits).
    """

    def __init__(self, config: RunConfig, problem: Problem) -> None:
        self.problem = problem
        self.pool: ProcessPoolExecutor | None = None
        if config.workers > 1:
            # spawn, not fork: the parent may hold torch threads (SB3 searchers).
            self.pool = ProcessPoolExecutor(config.workers,
                                            mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_init_worker,
                                            initargs=(config.to_json(),))

    def __call__(self, X: IntArray) -> BatchEvaluation:
        chunks = [X[i:i + CHUNK_ROWS] for i in range(0, len(X), CHUNK_ROWS)]
        if self.pool is None or len(chunks) == 1:
            return _concat([self.problem.evaluate_batch(c) for c in chunks])
        return _concat(list(self.pool.map(_evaluate_in_worker, chunks)))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class RunResult:
    """What :func:`explore` leaves: counts, the best design, the Pareto front and the files."""

    run_dir: Path
    config: RunConfig
    evaluations: int             # in the log
    replayed: int                # served from the log in this session
    feasible: int
    best: dict[str, Any] | None  # the best feasible record (None: nothing feasible)
    pareto: tuple[dict[str, Any], ...]
    files: Mapping[str, Path]
    elapsed_s: float
    summary: Mapping[str, Any]  # what summary.json holds


def pareto_front(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Feasible records not dominated in (latency min, accuracy max, max utilisation min),
    one per distinct point, sorted by latency."""
    seen: set[tuple[int, ...]] = set()
    cands = []
    for r in records:
        key = tuple(r["x"])
        if r["feasible"] and key not in seen and math.isfinite(r["latency_ms"]):
            seen.add(key)
            cands.append(r)
    if not cands:
        return []
    obj = np.array([[r["latency_ms"], -r["accuracy"], r["max_utilisation"]] for r in cands])
    order = np.lexsort(obj.T[::-1])  # by latency, then accuracy, then utilisation
    front: list[int] = []
    for i in order:
        if front:
            f = obj[front]
            if np.any(np.all(f <= obj[i], axis=1)):  # dominated or equal in all three
                continue
        front.append(int(i))
    return [dict(cands[i]) for i in front]


def best_record(records: Sequence[Mapping[str, Any]], *,
                feasible_only: bool = True) -> dict[str, Any] | None:
    """The highest-reward record (the earliest on ties)."""
    best: Mapping[str, Any] | None = None
    for r in records:
        if (r["feasible"] or not feasible_only) and (best is None or r["reward"] > best["reward"]):
            best = r
    return dict(best) if best is not None else None


def _write_pareto_csv(path: Path, front: Sequence[Mapping[str, Any]]) -> None:
    columns = ["index", "latency_ms", "accuracy", "accuracy_drop", "max_utilisation", "reward",
               "weight_bits", "act_bits", "lut_fraction", "x"]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for r in front:
            writer.writerow([r["index"], r["latency_ms"], r["accuracy"], r["accuracy_drop"],
                             r["max_utilisation"], r["reward"],
                             " ".join(str(v) for v in r["weight_bits"]),
                             " ".join(str(v) for v in r["act_bits"]),
                             " ".join(f"{v:.4g}" for v in r["lut_fraction"]),
                             " ".join(str(v) for v in r["x"])])


def _figure_row(r: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if r is None:
        return None
    keys = ("index", "x", "latency_ms", "accuracy", "accuracy_drop", "max_utilisation", "reward",
            "weight_bits", "act_bits", "lut_fraction", "rank")
    return {k: r[k] for k in keys if k in r}


def _summary(config: RunConfig, records: Sequence[Mapping[str, Any]], *, status: str,
             replayed: int, elapsed_s: float, extra: Mapping[str, Any]) -> dict[str, Any]:
    best = best_record(records)
    new = len(records) - replayed
    return {
        "format": FORMAT_VERSION,
        "status": status,
        "config": config.to_json(),
        "budget": config.budget,
        "evaluations": len(records),
        "replayed": replayed,
        "evaluated_this_session": new,
        "feasible": sum(1 for r in records if r["feasible"]),
        "distinct_designs": len({tuple(r["x"]) for r in records}),
        "best": _figure_row(best),
        "best_any": _figure_row(best_record(records, feasible_only=False)) if best is None
        else None,
        "elapsed_s": round(elapsed_s, 3),
        "evaluations_per_s": round(new / elapsed_s, 1) if elapsed_s > 0 and new else None,
        **extra,
    }


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


# ---------------------------------------------------------------------------------- plots


def accuracy_label(config: RunConfig) -> str:
    """What the run's accuracies are: the weight-free prior is labelled as an assumption."""
    if config.oracle == "prior":
        return "accuracy (weight-free prior: assumed, not measured)"
    return f"accuracy (oracle {config.oracle})"


def write_plots(run_dir: str | Path, records: Sequence[Mapping[str, Any]], config: RunConfig,
                layer_names: Sequence[str] | None = None) -> dict[str, Path]:
    """Pareto front, best-so-far and best-design plots (PNG, Agg; pyplot's state untouched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run_dir = Path(run_dir)
    paths = {key: run_dir / name for key, name in PLOT_FILES.items()}
    if not records:
        return {}
    lat = np.array([r["latency_ms"] for r in records], dtype=np.float64)
    acc = np.array([r["accuracy"] for r in records], dtype=np.float64)
    util = np.array([r["max_utilisation"] for r in records], dtype=np.float64)
    feas = np.array([r["feasible"] for r in records], dtype=bool)
    reward = np.array([r["reward"] for r in records], dtype=np.float64)
    finite = np.isfinite(lat)
    front = pareto_front(records)
    best = best_record(records)
    baseline = records[0]["accuracy"] + records[0]["accuracy_drop"]
    title = f"{config.workload} on {config.target}, space {config.space}, {config.searcher}"

    def save(fig: Figure, path: Path) -> None:
        FigureCanvasAgg(fig)
        fig.savefig(path, dpi=110)

    # Pareto front: latency vs accuracy, coloured by utilisation.
    fig = Figure(figsize=(7.5, 5), layout="constrained")
    ax = fig.add_subplot()
    grey = finite & ~feas
    ax.scatter(lat[grey], acc[grey], s=5, c="0.8", label=f"infeasible ({int(grey.sum())})")
    if feas.any():
        sc = ax.scatter(lat[feas], acc[feas], s=9, c=util[feas], cmap="viridis",
                        label=f"feasible ({int(feas.sum())})")
        fig.colorbar(sc, ax=ax, label="max resource utilisation")
    if front:
        ax.scatter([r["latency_ms"] for r in front], [r["accuracy"] for r in front], s=40,
                   facecolors="none", edgecolors="red", label=f"Pareto front ({len(front)})")
    if best is not None:
        ax.scatter([best["latency_ms"]], [best["accuracy"]], marker="*", s=220, c="red",
                   edgecolors="black", label=f"best (#{best['index']})", zorder=5)
    if config.latency_budget_ms is not None:
        ax.axvline(config.latency_budget_ms, color="0.3", ls="--", lw=1, label="latency budget")
    if config.max_accuracy_drop is not None:
        ax.axhline(baseline - config.max_accuracy_drop, color="0.3", ls=":", lw=1,
                   label="accuracy floor")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel(accuracy_label(config))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    save(fig, paths["pareto"])

    # Best-so-far reward (and feasible latency) vs evaluations.
    fig = Figure(figsize=(7.5, 5), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    n = np.arange(1, len(records) + 1)
    ax1.plot(n, np.maximum.accumulate(reward), lw=1.5)
    ax1.set_ylabel("best reward so far")
    ax1.set_title(title, fontsize=9)
    best_lat = np.minimum.accumulate(np.where(feas & finite, lat, np.inf))
    ax2.plot(n, np.where(np.isfinite(best_lat), best_lat, np.nan), lw=1.5, color="tab:green")
    ax2.set_ylabel("best feasible latency (ms)")
    ax2.set_xlabel("evaluations")
    save(fig, paths["progress"])

    # Per-layer bits and LUT share of the best design.
    shown = best if best is not None else best_record(records, feasible_only=False)
    assert shown is not None
    n_layers = len(shown["weight_bits"])
    names = list(layer_names) if layer_names and len(layer_names) == n_layers else [
        str(i) for i in range(n_layers)]
    fig = Figure(figsize=(max(7.5, 0.28 * n_layers), 6), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    pos = np.arange(n_layers)
    ax1.bar(pos - 0.2, shown["weight_bits"], width=0.4, label="weight bits")
    ax1.bar(pos + 0.2, shown["act_bits"], width=0.4, label="activation bits")
    ax1.set_ylabel("bits")
    ax1.set_yticks(range(0, 9, 2))
    ax1.legend(fontsize=7)
    state = "best feasible" if best is not None else "best (INFEASIBLE)"
    ax1.set_title(f"{state} design #{shown['index']}: {shown['latency_ms']:.3f} ms, "
                  f"accuracy {shown['accuracy']:.4f}", fontsize=9)
    ax2.bar(pos, shown["lut_fraction"], color="tab:orange")
    ax2.set_ylabel("LUT-core share of channels")
    ax2.set_ylim(0, 1)
    ax2.set_xticks(pos, names, rotation=90, fontsize=7)
    save(fig, paths["best_design"])
    return paths


# ---------------------------------------------------------------------------------- explore


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
    if cfg_path.exists():
        raise CodesignError(f"{run_dir} already holds a run; resume it (codesign explore "
                            f"--resume {run_dir}) or choose another output folder")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise CodesignError(f"{run_dir} exists and is not an empty folder or a run folder")


def explore(config: RunConfig, out_dir: str | Path, *, resume: bool = False,
            progress: bool = True) -> RunResult:
    """Run ``config``'s searcher for its budget, keeping the run folder ``out_dir`` (see the
    module docstring).

    :param resume: continue the run in ``out_dir`` (its config must match ``config`` except
        ``workers``); without it ``out_dir`` must be new or empty.
    :param progress: show a tqdm bar on stderr.
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
    evaluator = BatchEvaluator(config, problem)
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
                ok = ev.feasible & (ev.latency_ms < best_latency)
                if ok.any():
                    best_latency = float(ev.latency_ms[ok].min())
                    bar.set_postfix_str(f"best feasible latency {best_latency:.4g} ms",
                                        refresh=False)
                return ev

            budget = EvaluationBudget(problem, config.budget, evaluate=evaluate)
            searcher.run(problem, budget)
        if run_log.cursor < run_log.logged:
            raise RunDivergedError(
                f"run diverged at evaluation {run_log.cursor}: the searcher stopped there but "
                f"the log {run_log.path} holds {run_log.logged} evaluations; start a new run "
                f"folder")
        status = "complete"
    except KeyboardInterrupt:
        run_log.close()
        records = run_log.records
        with contextlib.suppress(KeyboardInterrupt):
            # What reached the file, even if the interrupt fell inside an append.
            records, _, _ = read_log(run_log.path)
            _write_json(run_dir / SUMMARY_FILE, _summary(
                config, records, status=status, replayed=min(run_log.cursor, replayable),
                elapsed_s=time.perf_counter() - start, extra={}))
        raise RunInterrupted(run_dir, len(records)) from None
    finally:
        run_log.close()
        evaluator.close()
    elapsed = time.perf_counter() - start
    return _finish(config, run_dir, problem, searcher, run_log.records, replayable, elapsed)


def _finish(config: RunConfig, run_dir: Path, problem: Problem, searcher: Searcher,
            records: list[dict[str, Any]], replayed: int, elapsed: float) -> RunResult:
    files: dict[str, Path] = {"config": run_dir / CONFIG_FILE, "evaluations": run_dir / LOG_FILE}
    front = pareto_front(records)
    _write_pareto_csv(run_dir / PARETO_FILE, front)
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
        "space_knobs": len(problem.space),
        "space_size": problem.space.size,
        "pareto_size": len(front),
        "bad_actions": int(bad) if bad is not None else None,
    }
    files.update(write_plots(run_dir, records, config, problem.space.workload.layer_names))
    files["summary"] = run_dir / SUMMARY_FILE
    summary = _summary(config, records, status="complete", replayed=replayed, elapsed_s=elapsed,
                       extra=extra)
    summary["files"] = {k: p.name for k, p in files.items()}
    _write_json(files["summary"], summary)
    return RunResult(run_dir=run_dir, config=config, evaluations=len(records), replayed=replayed,
                     feasible=summary["feasible"], best=best, pareto=tuple(front), files=files,
                     elapsed_s=elapsed, summary=summary)


# ---------------------------------------------------------------------------------- report


def load_run(run_dir: str | Path) -> tuple[RunConfig, list[dict[str, Any]]]:
    """A run folder's config and logged evaluations (read only: a torn last line is skipped)."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).exists():
        raise CodesignError(f"{run_dir} is not a run folder: {CONFIG_FILE} is missing")
    config = RunConfig.load(run_dir / CONFIG_FILE)
    records, _, _ = read_log(run_dir / LOG_FILE)
    return config, records


def _layer_names(config: RunConfig) -> list[str] | None:
    from rl_search.factory import resolve_workload

    try:
        return list(resolve_workload(config.workload).layer_names)
    except (CodesignError, OSError):
        return None


def report(run_dir: str | Path, top: int = 10) -> str:
    """The best designs of a run (top ``top`` distinct ones by reward, feasible first) as a
    text table, and the paths of its files; regenerates the plots from the JSONL."""
    run_dir = Path(run_dir)
    config, records = load_run(run_dir)
    status = "no summary (killed?)"
    if (run_dir / SUMMARY_FILE).exists():
        with contextlib.suppress(ValueError):
            status = json.loads((run_dir / SUMMARY_FILE).read_text()).get("status", status)
    feasible = sum(1 for r in records if r["feasible"])
    lines = [f"run {run_dir}: {config.workload} on {config.target}, space {config.space}, "
             f"searcher {config.searcher} (seed {config.seed})",
             f"{len(records)} of {config.budget} evaluations ({status}), {feasible} feasible; "
             f"{accuracy_label(config)}; objective: minimise {config.minimise}"
             + (f", latency budget {config.latency_budget_ms:g} ms"
                if config.latency_budget_ms is not None else "")
             + (f", max accuracy drop {config.max_accuracy_drop:g}"
                if config.max_accuracy_drop is not None else "")
             + f", mode {config.mode}", ""]
    if len(records) < config.budget:
        lines.insert(2, f"unfinished: codesign explore --resume {run_dir}")
    seen: set[tuple[int, ...]] = set()
    ranked = []
    for r in sorted(records, key=lambda r: (not r["feasible"], -r["reward"], r["index"])):
        if tuple(r["x"]) not in seen:
            seen.add(tuple(r["x"]))
            ranked.append(r)
        if len(ranked) >= top:
            break
    header = ("rank", "eval", "feasible", "reward", "latency_ms", "accuracy", "drop",
              "max_util", "W bits", "A bits", "LUT share")
    rows = [(str(i + 1), str(r["index"]), "yes" if r["feasible"] else "no",
             f"{r['reward']:.4f}", f"{r['latency_ms']:.4f}", f"{r['accuracy']:.4f}",
             f"{r['accuracy_drop']:.4f}", f"{r['max_utilisation']:.3f}",
             f"{np.mean(r['weight_bits']):.2f}", f"{np.mean(r['act_bits']):.2f}",
             f"{np.mean(r['lut_fraction']):.3f}") for i, r in enumerate(ranked)]
    if rows:
        widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(header)]
        lines.append(f"top {len(rows)} designs (bits and LUT share: means over layers)")
        lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
                  for row in rows]
    else:
        lines.append("no evaluations logged yet")
    best = best_record(records)
    if best is not None:
        lines += ["", f"best feasible design #{best['index']}: {best['latency_ms']:.4f} ms, "
                  f"accuracy {best['accuracy']:.4f}, max utilisation "
                  f"{best['max_utilisation']:.3f}",
                  "  weight bits: " + " ".join(str(b) for b in best["weight_bits"]),
                  "  act bits:    " + " ".join(str(b) for b in best["act_bits"])]
    elif records:
        lines += ["", "no feasible design found"]
    plots = write_plots(run_dir, records, config, _layer_names(config))
    lines += ["", "files:"]
    for name in (BEST_FILE, PARETO_FILE, SUMMARY_FILE, LOG_FILE):
        if (run_dir / name).exists():
            lines.append(f"  {run_dir / name}")
    lines += [f"  {p}" for p in plots.values()]
    if (run_dir / BEST_FILE).exists():
        lines += ["", f"check it: codesign estimate --workload {config.workload} --target "
                  f"{config.target} --design {run_dir / BEST_FILE}"]
    return "\n".join(lines)
