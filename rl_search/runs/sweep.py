"""Sweeps: a grid of runs (a *study*), resumable cell by cell, run here or on Ray.

A sweep file is TOML::

    [grid]                       # each a scalar or a non-empty list; the cells are the
    workload = "resnet20"        # Cartesian product in the order workload, target, space,
    target = "n3h-zcu102"        # searcher, budget, oracle, max_accuracy_drop, mode,
    space = "haq"                # minimise, with the seeds varying fastest
    searcher = ["random", "genetic"]
    seed = [0, 1]
    budget = 400

    [run]                        # optional: fixed RunConfig fields for every cell
    searcher_options = {population_size = 32}
    latency_budget_ms = 2.0      # "none" for no budget (also max_accuracy_drop)

:func:`run_sweep` keeps a study folder::

    sweep.toml          a copy of the sweep file (what ``--resume`` rebuilds the cells from)
    study.json          the cells: name, config, status (pending/running/complete/failed), error
    cells/<name>/       one run folder per cell (see :mod:`rl_search.runs.explore`)
    study.csv, study.png  written by :func:`rl_search.runs.study.report_study`

A cell's run folder is exactly what ``explore`` writes, byte for byte whichever backend ran it
(the PNG plots included): only ``timing.json`` (this execution's wall time) differs between two
executions, as it does between two local runs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import shutil
import sys
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError
from rl_search.runs.config import CONFIG_FILE, SUMMARY_FILE, RunConfig
from rl_search.runs.results import write_json

log = logging.getLogger(__name__)

SWEEP_FILE = "sweep.toml"
STUDY_FILE = "study.json"
CELLS_DIR = "cells"
STUDY_FORMAT = 1

GRID_KEYS = ("workload", "target", "space", "searcher", "seed", "budget", "oracle",
             "max_accuracy_drop", "mode", "minimise")
"""Keys a ``[grid]`` may vary, in the order the product and the cell names use."""

_STR_KEYS = {"workload", "target", "space", "searcher", "oracle", "mode", "minimise"}
_INT_KEYS = {"seed", "budget", "workers"}
_OPTIONAL_FLOAT_KEYS = {"max_accuracy_drop", "latency_budget_ms"}
_TABLE_KEYS = {"space_options", "searcher_options"}
_BOOL_KEYS = {"require_fit"}
RUN_KEYS = tuple(f.name for f in fields(RunConfig))

STATUSES = ("pending", "running", "complete", "failed")


# ------------------------------------------------------------------------------ sweep file


@dataclass(frozen=True, slots=True)
class Cell:
    """One run of a sweep: its folder name (from the varying keys only) and its config."""

    name: str
    config: RunConfig
    labels: tuple[tuple[str, str], ...] = ()  # (grid key, name part) of the varying keys

    @property
    def group(self) -> str:
        """The name without its seed part: the cells of one group differ only in the seed."""
        parts = [label for key, label in self.labels if key != "seed"]
        return "__".join(parts) if parts else "all"


@dataclass(frozen=True, slots=True)
class Sweep:
    """A validated sweep file: the grid (every key a list) and the fixed ``[run]`` fields."""

    path: Path
    grid: Mapping[str, tuple[Any, ...]]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @property
    def varying(self) -> list[str]:
        """Grid keys with more than one value, in :data:`GRID_KEYS` order."""
        return [k for k in GRID_KEYS if len(self.grid.get(k, ())) > 1]

    def combos(self) -> list[dict[str, Any]]:
        """The grid's points as field dicts: the product in :data:`GRID_KEYS` order, with the
        seed varying fastest."""
        keys = [k for k in GRID_KEYS if k in self.grid and k != "seed"]
        if "seed" in self.grid:
            keys.append("seed")
        return [dict(zip(keys, values, strict=True))
                for values in itertools.product(*(self.grid[k] for k in keys))]

    def cells(self) -> list[Cell]:
        """One :class:`Cell` per grid point (raises :class:`CodesignError` naming the cell when a
        config does not construct; :func:`load_sweep` has already checked that)."""
        cells, errors = self._build()
        if errors:
            raise CodesignError(f"{self.path}: " + "; ".join(errors))
        return cells

    def _build(self) -> tuple[list[Cell], list[str]]:
        varying = self.varying
        labels = {k: _value_labels(k, self.grid[k]) for k in varying}
        seed_last = [k for k in varying if k != "seed"] + (["seed"] if "seed" in varying else [])
        cells: list[Cell] = []
        failures: dict[str, list[str]] = {}
        for combo in self.combos():
            parts = tuple((k, labels[k][_key(combo[k])]) for k in seed_last)
            name = "__".join(p for _, p in parts) or "run"
            try:
                config = RunConfig(**{**self.fixed, **combo})
            except CodesignError as exc:
                failures.setdefault(str(exc), []).append(name)
                continue
            except TypeError as exc:  # pragma: no cover - keys are checked before
                failures.setdefault(str(exc), []).append(name)
                continue
            cells.append(Cell(name=name, config=config, labels=parts))
        errors = [f"{'cell' if len(names) == 1 else 'cells'} {', '.join(names)}: {msg}"
                  for msg, names in failures.items()]
        names = [c.name for c in cells]
        assert len(set(names)) == len(names), names  # labels are unique per key
        return cells, errors


def _key(value: Any) -> str:
    return json.dumps(value)


def _sanitise(text: str) -> str:
    """A filesystem-safe, readable form of ``text`` (paths keep a scheme and their base name:
    ``table:/x/y.table`` -> ``table-y.table``)."""
    if "/" in text or "\\" in text:
        scheme, sep, rest = text.partition(":")
        if sep and "/" not in scheme and "\\" not in scheme and len(scheme) > 1:
            text = scheme + "-" + re.split(r"[/\\]", rest.rstrip("/\\"))[-1]
        else:
            text = re.split(r"[/\\]", text.rstrip("/\\"))[-1]
    text = re.sub(r"[^A-Za-z0-9._+=-]+", "-", text)
    text = re.sub(r"-{2,}", "-", text)
    text = re.sub(r"_{2,}", "_", text)  # "__" separates the parts of a name
    text = text.strip("-._")
    return text[:48].rstrip("-._")


def _value_labels(key: str, values: Sequence[Any]) -> dict[str, str]:
    """Each value's part of a cell name, unique among ``values`` (colliding ones get a hash)."""
    def label(v: Any) -> str:
        if key == "seed":
            return f"s{v}"
        if key == "budget":
            return f"b{v}"
        if key == "max_accuracy_drop":
            return "drop" + ("none" if v is None else _sanitise(f"{v:g}"))
        return _sanitise(str(v))

    out = {_key(v): label(v) for v in values}
    counts: dict[str, int] = {}
    for lab in out.values():
        counts[lab] = counts.get(lab, 0) + 1
    for v in values:
        k = _key(v)
        if not out[k] or counts[out[k]] > 1:
            digest = hashlib.sha1(k.encode()).hexdigest()[:6]
            out[k] = f"{out[k]}-{digest}" if out[k] else f"{key}-{digest}"
    return out


def _check_value(where: str, key: str, value: Any, problems: list[str]) -> Any:
    """``value`` converted for ``key`` (ints of float fields to floats, ``"none"`` to None), or
    a problem appended."""
    def bad(expected: str) -> None:
        problems.append(f"{where} must be {expected}, got {value!r}")

    if key in _STR_KEYS:
        if not isinstance(value, str) or not value:
            bad("a non-empty string")
    elif key in _INT_KEYS:
        if not isinstance(value, int) or isinstance(value, bool):
            bad("an integer")
    elif key in _OPTIONAL_FLOAT_KEYS:
        if isinstance(value, str) and value.lower() == "none":
            return None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            bad('a number or "none"')
        else:
            return float(value)
    elif key in _TABLE_KEYS:
        if not isinstance(value, dict):
            bad("a table")
    elif key in _BOOL_KEYS:
        if not isinstance(value, bool):
            bad("true or false")
    return value


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file; every problem is reported at once, naming the file,
    the key and the value. Every cell's :class:`RunConfig` is built, so a bad value is reported
    with the cells it spoils."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CodesignError(f"{path}: no such sweep file") from None
    except IsADirectoryError:
        raise CodesignError(f"{path}: is a folder, not a sweep file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CodesignError(f"{path}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CodesignError(f"{path}: not valid TOML: {exc}") from None
    problems: list[str] = []
    unknown = sorted(set(data) - {"grid", "run"})
    if unknown:
        problems.append(f"unknown tables or keys {unknown}; a sweep has [grid] and [run]")
    raw_grid = data.get("grid")
    raw_run = data.get("run", {})
    if raw_grid is None:
        problems.append("no [grid] table")
        raw_grid = {}
    elif not isinstance(raw_grid, dict):
        problems.append(f"grid must be a table, got {raw_grid!r}")
        raw_grid = {}
    if not isinstance(raw_run, dict):
        problems.append(f"run must be a table, got {raw_run!r}")
        raw_run = {}

    grid: dict[str, tuple[Any, ...]] = {}
    for key, value in raw_grid.items():
        if key not in GRID_KEYS:
            problems.append(f"[grid] unknown key {key!r} (= {value!r}); a grid varies "
                            f"{', '.join(GRID_KEYS)}")
            continue
        values = value if isinstance(value, list) else [value]
        if not values:
            problems.append(f"[grid] {key} is an empty list; give at least one value")
            continue
        n = len(problems)
        converted = [_check_value(f"[grid] {key}", key, v, problems) for v in values]
        if len(problems) > n:
            continue
        keys = [_key(v) for v in converted]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            problems.append(f"[grid] {key} repeats {', '.join(dupes)} (in {value!r})")
            continue
        grid[key] = tuple(converted)

    fixed: dict[str, Any] = {}
    for key, value in raw_run.items():
        if key not in RUN_KEYS:
            problems.append(f"[run] unknown key {key!r} (= {value!r}); run config fields are "
                            f"{', '.join(RUN_KEYS)}")
            continue
        if key in raw_grid:
            problems.append(f"{key} is in both [grid] (= {raw_grid[key]!r}) and [run] "
                            f"(= {value!r}); give it in one of them")
            continue
        n = len(problems)
        converted = _check_value(f"[run] {key}", key, value, problems)
        if len(problems) == n:
            fixed[key] = converted

    if not problems:
        sweep = Sweep(path=path, grid=grid, fixed=fixed)
        _, errors = sweep._build()
        problems += errors
        if not problems:
            return sweep
    raise CodesignError(f"{path}: {len(problems)} problem{'s' if len(problems) > 1 else ''} "
                        "in the sweep file:\n  " + "\n  ".join(problems))


# ------------------------------------------------------------------------------ the study


@dataclass(frozen=True, slots=True)
class CellStatus:
    """A cell's state in a study."""

    name: str
    config: RunConfig
    status: str                 # pending, running, complete, failed
    error: str | None = None
    run_dir: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "config": self.config.to_json(), "status": self.status,
                "error": self.error}


@dataclass(frozen=True, slots=True)
class StudyResult:
    """What :func:`run_sweep` leaves: the study folder and each cell's final state."""

    out_dir: Path
    cells: tuple[CellStatus, ...]
    elapsed_s: float
    ran: int                    # cells run in this session (the others were already complete)

    def by_status(self, status: str) -> list[CellStatus]:
        return [c for c in self.cells if c.status == status]

    @property
    def complete(self) -> list[CellStatus]:
        return self.by_status("complete")

    @property
    def failed(self) -> list[CellStatus]:
        return self.by_status("failed")

    @property
    def pending(self) -> list[CellStatus]:
        return [c for c in self.cells if c.status in ("pending", "running")]


def cell_dir(out_dir: str | Path, name: str) -> Path:
    return Path(out_dir) / CELLS_DIR / name


def run_is_complete(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a finished run (its ``summary.json`` says so)."""
    try:
        summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("status") == "complete"


def is_study(out_dir: str | Path) -> bool:
    return (Path(out_dir) / SWEEP_FILE).is_file()


def read_study(out_dir: str | Path) -> dict[str, Any]:
    """``study.json`` (an empty study when it is missing or unreadable)."""
    try:
        data = json.loads((Path(out_dir) / STUDY_FILE).read_text())
    except (OSError, ValueError):
        return {"format": STUDY_FORMAT, "cells": []}
    return data if isinstance(data, dict) else {"format": STUDY_FORMAT, "cells": []}


class _Study:
    """The driver's view of study.json: one entry per cell, rewritten (atomically) on change."""

    def __init__(self, out_dir: Path, cells: Sequence[Cell]) -> None:
        self.out_dir = out_dir
        previous = {c.get("name"): c for c in read_study(out_dir).get("cells", [])
                    if isinstance(c, dict)}
        self.states: dict[str, CellStatus] = {}
        for cell in cells:
            run_dir = cell_dir(out_dir, cell.name)
            if run_is_complete(run_dir):
                status, error = "complete", None
            else:
                old = previous.get(cell.name, {})
                status = "failed" if old.get("status") == "failed" else "pending"
                error = old.get("error") if status == "failed" else None
            self.states[cell.name] = CellStatus(cell.name, cell.config, status, error, run_dir)

    def set(self, name: str, status: str, error: str | None = None) -> None:
        old = self.states[name]
        self.states[name] = CellStatus(name, old.config, status, error, old.run_dir)

    def write(self) -> None:
        write_json(self.out_dir / STUDY_FILE, {
            "format": STUDY_FORMAT,
            "sweep": SWEEP_FILE,
            "cells": [s.to_json() for s in self.states.values()],
        })


def _run_cell(config_json: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """Run one cell serially in this process (the local loop and each Ray task): explore its
    config into ``run_dir``, resuming what a previous attempt left there. Errors are returned,
    not raised, so that one bad cell does not stop the others."""
    from rl_search.runs.explore import explore

    path = Path(run_dir)
    try:
        config = RunConfig.from_json(config_json)
        result = explore(config, path, resume=(path / CONFIG_FILE).exists(), progress=False)
    except Exception as exc:
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    best = result.best
    return {"status": "complete", "error": None, "evaluations": result.evaluations,
            "replayed": result.replayed,
            "best_latency_ms": None if best is None else best["latency_ms"]}


def _describe(name: str, outcome: Mapping[str, Any]) -> str:
    if outcome["status"] != "complete":
        return f"{name}: FAILED: {outcome['error']}"
    best = outcome.get("best_latency_ms")
    return (f"{name}: complete, {outcome.get('evaluations')} evaluations "
            f"({outcome.get('replayed')} replayed), best feasible latency "
            + ("none" if best is None else f"{best:.4g} ms"))


def _same_cells(a: Sequence[Cell], b: Sequence[Cell]) -> list[str]:
    """Differences between two cell lists (``workers`` may differ)."""
    names_a, names_b = [c.name for c in a], [c.name for c in b]
    if names_a != names_b:
        return [f"cells {names_a} vs {names_b}"]
    out = []
    for ca, cb in zip(a, b, strict=True):
        out += [f"cell {ca.name}: {d}" for d in ca.config.differences(cb.config)]
    return out


def _prepare_study(sweep_path: str | Path | None, out: Path, resume: bool) -> Sweep:
    study_sweep = out / SWEEP_FILE
    if resume:
        if not out.is_dir():
            raise CodesignError(f"no study to resume in {out}: no such folder")
        if not study_sweep.is_file():
            raise CodesignError(f"{out} is not a study folder ({SWEEP_FILE} is missing); start "
                                f"one with codesign sweep SWEEP.toml --out {out}")
        sweep = load_sweep(study_sweep)
        if sweep_path is not None:
            given = load_sweep(sweep_path)
            diffs = _same_cells(sweep.cells(), given.cells())
            if diffs:
                raise CodesignError(f"{sweep_path} describes other cells than the study in "
                                    f"{out}:\n  " + "\n  ".join(diffs[:20])
                                    + "\nresume without the sweep file, or use a new folder")
        return sweep
    if sweep_path is None:
        raise CodesignError("a new study needs a sweep file")
    sweep = load_sweep(sweep_path)  # before touching out_dir
    if out.exists() and not out.is_dir():
        raise CodesignError(f"{out} is an existing file, not a folder; choose another --out")
    if study_sweep.exists():
        raise CodesignError(f"{out} already holds a study; resume it (codesign sweep --resume "
                            f"{out}) or choose another --out")
    if out.exists() and any(out.iterdir()):
        raise CodesignError(f"{out} exists and is not an empty folder or a study folder")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sweep_path, study_sweep)
    return load_sweep(study_sweep)


def run_sweep(sweep_path: str | Path | None, out_dir: str | Path, *, backend: str = "local",
              address: str | None = None, resume: bool = False,
              progress: bool = True) -> StudyResult:
    """Run every cell of a sweep into the study folder ``out_dir`` (see the module docstring).

    A new study needs a new or empty ``out_dir``; the sweep file is copied in as
    ``sweep.toml``. With ``resume`` the study in ``out_dir`` continues from its own
    ``sweep.toml`` (``sweep_path`` may be None; when given, it must describe the same cells).
    A cell whose ``summary.json`` says complete is skipped, one with a partial run folder is
    resumed (``explore(resume=True)`` replays its log), a failed one is tried again.

    A cell that fails is recorded as failed with its error in ``study.json``; the other cells
    still run.

    :param backend: ``"local"``: the cells one after another in this process. ``"ray"``: one
        Ray task per cell (``num_cpus=1``, retried twice if its worker dies; a retry resumes
        the cell's run folder), each running ``explore`` serially in its worker and writing the
        run folder itself. The workers must therefore see ``out_dir`` at the same path: a local
        Ray on this machine, or a cluster whose nodes share the filesystem that holds it.
    :param address: the Ray cluster to join (``"auto"``, ``"ray://head:10001"``); without it a
        local Ray is started.
    :param progress: a tqdm bar over the cells on stderr. One line per finished cell is
        written to stderr either way.
    :raises CodesignError: a bad sweep file or folder, or Ray missing for ``backend="ray"``.
    """
    if backend not in ("local", "ray"):
        raise CodesignError(f"unknown sweep backend {backend!r}; expected local or ray")
    out = Path(out_dir)
    if backend == "ray":
        from rl_search.runs.ray_backend import require_ray

        require_ray()  # before the folder is made
    sweep = _prepare_study(sweep_path, out, resume)
    cells = sweep.cells()
    study = _Study(out, cells)
    study.write()
    todo = [c for c in cells if study.states[c.name].status != "complete"]
    start = time.perf_counter()
    from tqdm import tqdm

    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), unit="cell",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)

    def finished(name: str, outcome: Mapping[str, Any]) -> None:
        study.set(name, outcome["status"], outcome.get("error"))
        study.write()
        bar.update(1)
        line = _describe(name, outcome)
        if progress:
            bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    try:
        if backend == "local":
            _run_local(todo, out, study, finished)
        else:
            _run_ray(todo, out, study, finished, address)
    except KeyboardInterrupt:
        for name, state in study.states.items():
            if state.status == "running":
                study.set(name, "pending")
        study.write()
        raise
    finally:
        bar.close()
    return StudyResult(out_dir=out, cells=tuple(study.states.values()),
                       elapsed_s=time.perf_counter() - start, ran=len(todo))


def _run_local(todo: Sequence[Cell], out: Path, study: _Study, finished: Any) -> None:
    for cell in todo:
        study.set(cell.name, "running")
        study.write()
        finished(cell.name, _run_cell(cell.config.to_json(), str(cell_dir(out, cell.name))))


def _run_ray(todo: Sequence[Cell], out: Path, study: _Study, finished: Any,
             address: str | None) -> None:
    from rl_search.runs.ray_backend import ensure_ray

    if not todo:
        return
    ray = ensure_ray(address)
    task = ray.remote(num_cpus=1, max_retries=2)(_run_cell)
    # Absolute paths: a worker's working directory is not the driver's.
    refs = {task.remote(c.config.to_json(), str(cell_dir(out, c.name).resolve())): c.name
            for c in todo}
    for name in refs.values():
        study.set(name, "running")
    study.write()
    waiting = list(refs)
    try:
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for ref in ready:
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died on every try
                    outcome = {"status": "failed",
                               "error": f"Ray task failed: {type(exc).__name__}: {exc}"}
                finished(refs[ref], outcome)
    except KeyboardInterrupt:
        for ref in waiting:  # each run flushes its log and can be resumed
            try:
                ray.cancel(ref)
            except Exception:
                pass
        raise


__all__ = ["CELLS_DIR", "GRID_KEYS", "STUDY_FILE", "SWEEP_FILE", "Cell", "CellStatus",
           "StudyResult", "Sweep", "cell_dir", "is_study", "load_sweep", "read_study",
           "run_is_complete", "run_sweep"]
