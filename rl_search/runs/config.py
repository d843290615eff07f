"""What a run is: :class:`RunConfig`, the run folder's file names, and building the problem and
searcher a config names.

Names in a :class:`RunConfig` are resolved as the CLI does: ``searcher`` through
:func:`rl_search.searchers.registry.make_searcher`, ``oracle`` ``"prior[:regime]"`` through
:func:`rl_search.factory.make_problem`. Either may instead be an import path ``"module:name"``
(a :class:`~rl_search.searchers.base.Searcher` subclass taking ``seed`` and options; a callable
taking the workload and returning an oracle), so user code plugs in and worker processes can
rebuild it.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError
from rl_search import defaults
from rl_search.problem import Objective, Problem
from rl_search.searchers.base import Searcher

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
LOG_FILE = "evaluations.jsonl"
PARETO_FILE = "pareto.csv"
BEST_FILE = "best.toml"
SUMMARY_FILE = "summary.json"
TIMING_FILE = "timing.json"
PLOT_FILES = {"pareto": "pareto.png", "progress": "progress.png", "best_design": "best_design.png"}

RUNTIME_FIELDS = ("workers",)
"""Config fields that do not change which designs a run evaluates: free to differ on resume."""


class IncompatibleRunError(CodesignError):
    """A run folder was asked to continue under a different configuration."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything that decides which designs a run evaluates (plus ``workers``, which does not).

    :param workload: zoo name or workload TOML path.
    :param target: target preset or hardware TOML (``n3h-zcu102``, ``n3h-pynq-z2``, ...).
    :param space: design-space preset (see :func:`rl_search.spaces.make_space`).
    :param space_options: keyword options of ``make_space`` (``weight_bits``, ``split``, ...).
    :param searcher: registry name (``random``, ``genetic``, ``ppo``, ...) or ``"module:Class"``.
    :param searcher_options: keyword options of the searcher.
    :param budget: number of design evaluations.
    :param seed: the searcher's seed; a resumed run must reuse it to replay its path.
    :param minimise, latency_budget_ms, max_accuracy_drop, require_fit, mode: the
        :class:`~rl_search.problem.Objective` (``max_accuracy_drop`` a fraction of 1: 0.01 is
        one point of top-1 with the prior).
    :param oracle: ``"prior"`` (``"prior:qat"``), ``"prior:ptq"`` or ``"module:function"``
        (function of the workload); see :mod:`rl_search.accuracy.units`.
    :param workers: processes evaluating each batch (results do not depend on it).
    """

    workload: str = defaults.WORKLOAD
    target: str = defaults.TARGET
    space: str = defaults.SPACE
    space_options: Mapping[str, Any] = field(default_factory=dict)
    searcher: str = defaults.SEARCHER
    searcher_options: Mapping[str, Any] = field(default_factory=dict)
    budget: int = defaults.BUDGET
    seed: int = 0
    minimise: str = "latency"
    latency_budget_ms: float | None = None
    max_accuracy_drop: float | None = defaults.MAX_ACCURACY_DROP
    require_fit: bool = True
    mode: str = "penalty"
    oracle: str = defaults.ORACLE
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
        if not 0 <= self.seed < 2**32:
            raise CodesignError(f"run config seed must be in [0, 2**32), got {self.seed}")
        for name in ("workload", "target", "space", "searcher", "oracle"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise CodesignError(f"run config {name} must be a non-empty string, got {value!r}")
        from rl_search.accuracy.units import prior_regime

        prior_regime(self.oracle)  # a prior spec with an unknown regime fails here
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
        try:
            return cls(**data)
        except CodesignError as exc:
            raise CodesignError(f"{where}: {exc}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise CodesignError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CodesignError(f"{path}: cannot read it ({exc})") from None
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
    from rl_search.accuracy.units import prior_regime

    oracle: Any = config.oracle
    if prior_regime(config.oracle) is None and ":" in config.oracle:
        factory = _import_object(config.oracle, "oracle")
        try:
            oracle = factory(workload)
        except Exception as exc:
            raise CodesignError(f"oracle {config.oracle!r}: calling it with the workload failed: "
                                f"{type(exc).__name__}: {exc}") from exc
        missing = [a for a in ("estimate_batch", "baseline") if not hasattr(oracle, a)]
        if missing:
            raise CodesignError(f"oracle {config.oracle!r} returned a {type(oracle).__name__}, "
                                f"not an accuracy oracle (it lacks {', '.join(missing)}; see "
                                f"rl_search.accuracy)")
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
