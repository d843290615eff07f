"""``evaluations.jsonl``: the append-only log of a run, and :class:`RunLog`, which replays it.

One line per evaluated design, strict JSON (non-finite numbers written as ``null``), fsync'd
after every batch. Resume works by replay: the log is the budget's evaluation function
(:class:`~rl_search.searchers.base.EvaluationBudget`'s ``evaluate`` hook); on resume it first
serves the logged evaluations, in order, to the searcher restarted with the same seed, checking
that every proposed point equals the logged one, then evaluates (through the run's
:class:`~rl_search.runs.evaluators.Evaluator`) and appends new ones. A last line torn by a crash
is dropped with a warning (and cut from the file before anything is appended); the design it
held is simply evaluated again.

:func:`batch_from_records`, :func:`records_from_batch` and :func:`best_feasible_latency` are the
only code of :mod:`rl_search.runs` that names :class:`~rl_search.problem.BatchEvaluation`'s
fields.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from hwsim.errors import CodesignError
from rl_search.problem import BatchEvaluation
from rl_search.runs.evaluators import concat_batches, take_rows
from rl_search.searchers.base import EvaluateFn
from rl_search.spaces import DesignSpace

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]


class RunDivergedError(CodesignError):
    """A resumed searcher proposed a point other than the one the run log holds."""


# --------------------------------------------------------------------------- reading, JSON


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
            if not isinstance(rec, dict) or rec.get("index") != len(records):
                raise ValueError(f"not evaluation #{len(records)} of this run")
            x = rec.get("x")
            if n_knobs is not None and isinstance(x, list) and len(x) != n_knobs:
                # a whole, well-formed record of another space: not a torn line (never cut)
                raise CodesignError(
                    f"{path}: line {number} is a point of {len(x)} knobs, but the run's "
                    f"config.json describes a space of {n_knobs}: the config no longer matches "
                    f"the run that wrote this log (was it edited?); restore it, or start a new "
                    f"run folder")
            if n_knobs is not None and not isinstance(x, list):
                raise ValueError("no point 'x'")
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


# ------------------------------------------------------ BatchEvaluation <-> records (the only
# ------------------------------------------------------ code here naming its fields)


RECORD_KEYS = ("index", "x", "latency_ms", "accuracy", "accuracy_drop", "max_utilisation",
               "fits", "feasible", "reward", "proposed", "weight_bits", "act_bits", "rank")
"""Keys of a log record that every target writes; any other key is a per-layer mapping knob of
the target (the FPGA's ``lut_fraction``), one value per layer as the target used it."""


def mapping_keys(record: Mapping[str, Any]) -> list[str]:
    """The per-layer mapping knobs a log record holds (see :data:`RECORD_KEYS`)."""
    return [k for k in record if k not in RECORD_KEYS]


def batch_from_records(records: Sequence[Mapping[str, Any]]) -> BatchEvaluation:
    """The logged evaluations ``records`` as the batch that produced them (replay). The
    target's batch result is not logged (``cost`` is None)."""
    def col(key: str, dtype: Any) -> Any:
        return np.array([r[key] for r in records], dtype=dtype)

    return BatchEvaluation(
        x=col("x", np.int64), latency_ms=col("latency_ms", np.float64),
        accuracy=col("accuracy", np.float64), accuracy_drop=col("accuracy_drop", np.float64),
        max_utilisation=col("max_utilisation", np.float64), fits=col("fits", np.bool_),
        feasible=col("feasible", np.bool_), reward=col("reward", np.float64),
        mapping={k: col(k, np.float64) for k in (mapping_keys(records[0]) if records else [])})


def records_from_batch(ev: BatchEvaluation, proposed: IntArray, space: DesignSpace,
                       first_index: int) -> list[dict[str, Any]]:
    """The log records of a batch: numbered from ``first_index``, with the per-layer bits (and
    ranks) decoded, and ``proposed`` where repair or clamping moved the point."""
    decoded = space.decode_batch(ev.x)
    has_rank = any(k.kind == "rank" for k in space.knobs)
    new: list[dict[str, Any]] = []
    for i in range(len(ev)):
        rec: dict[str, Any] = {"index": first_index + i, **ev.row(i)}
        if not np.array_equal(proposed[i], ev.x[i]):  # repair / clamp moved it
            rec["proposed"] = proposed[i].tolist()
        rec["weight_bits"] = decoded.weight_bits[i].tolist()
        rec["act_bits"] = decoded.act_bits[i].tolist()
        for name, values in ev.mapping.items():
            rec[name] = values[i].tolist()
        if has_rank:
            rec["rank"] = ([int(r) or None for r in decoded.rank[i]] if decoded.rank is not None
                           else [None] * decoded.n_layers)
        new.append(rec)
    return new


def best_feasible_latency(ev: BatchEvaluation, below: float = math.inf) -> float:
    """The lowest latency of a feasible row of ``ev`` if it is under ``below``, else ``below``."""
    ok = ev.feasible & (ev.latency_ms < below)
    return float(ev.latency_ms[ok].min()) if ok.any() else below


# ---------------------------------------------------------------------------------- RunLog


class RunLog:
    """``evaluations.jsonl`` as an evaluation function: replays logged evaluations, then
    evaluates through ``evaluate`` and appends.

    :param path: the JSONL file (created if missing; a torn last line is cut off).
    :param space: the run's design space (decodes per-layer knobs for the records).
    :param evaluate: the real evaluation: the run's
        :class:`~rl_search.runs.evaluators.Evaluator` (any ``X -> BatchEvaluation`` callable
        will do); the log does not close it.
    """

    def __init__(self, path: Path, space: DesignSpace, evaluate: EvaluateFn) -> None:
        self.path = path
        self.space = space
        self._evaluate = evaluate
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
            parts.append(batch_from_records(self.records[self.cursor:self.cursor + n_replay]))
            self.cursor += n_replay
        if n_replay < len(X):
            if n_replay:
                # The log ends inside this batch: evaluate all of it, as the first run did, and
                # keep the new rows (their numbers may depend on the chunk they were in).
                ev = take_rows(self._evaluate(X), slice(n_replay, None))
            else:
                ev = self._evaluate(X)
            self._append(X[n_replay:], ev)
            parts.append(ev)
        return concat_batches(parts)

    def _append(self, proposed: IntArray, ev: BatchEvaluation) -> None:
        new = records_from_batch(ev, proposed, self.space, len(self.records))
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
