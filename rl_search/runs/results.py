"""What a run found: :class:`RunResult`, the Pareto front, the best design, ``pareto.csv`` and
``summary.json``, all computed from the log's records (plain dicts, one per evaluation)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rl_search.runs.config import FORMAT_VERSION, RunConfig
from rl_search.runs.log import mapping_keys


@dataclass(frozen=True, slots=True)
class RunResult:
    """What :func:`~rl_search.runs.explore.explore` leaves: counts, the best design, the Pareto
    front and the files."""

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


def write_pareto_csv(path: Path, front: Sequence[Mapping[str, Any]]) -> None:
    """``pareto.csv``: one row per front record, per-layer lists space-separated."""
    maps = mapping_keys(front[0]) if front else []
    columns = ["index", "latency_ms", "accuracy", "accuracy_drop", "max_utilisation", "reward",
               "weight_bits", "act_bits", *maps, "x"]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for r in front:
            writer.writerow([r["index"], r["latency_ms"], r["accuracy"], r["accuracy_drop"],
                             r["max_utilisation"], r["reward"],
                             " ".join(str(v) for v in r["weight_bits"]),
                             " ".join(str(v) for v in r["act_bits"]),
                             *(" ".join(f"{v:.4g}" for v in r[m]) for m in maps),
                             " ".join(str(v) for v in r["x"])])


def _figure_row(r: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if r is None:
        return None
    keys = ("index", "x", "latency_ms", "accuracy", "accuracy_drop", "max_utilisation", "reward",
            "weight_bits", "act_bits", *mapping_keys(r), "rank")
    return {k: r[k] for k in keys if k in r}


def run_summary(config: RunConfig, records: Sequence[Mapping[str, Any]], *, status: str,
                replayed: int, elapsed_s: float, extra: Mapping[str, Any]) -> dict[str, Any]:
    """What ``summary.json`` holds (``extra``: the figures only a finished run knows)."""
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
        **extra,
    }


def run_timing(records_new: int, elapsed_s: float, backend: str,
               env_steps: int | None = None) -> dict[str, Any]:
    """What ``timing.json`` holds: this session's wall time, rate and backend (kept out of
    ``summary.json`` so that a run folder's results are byte-identical whichever machine or
    backend evaluated them), and for an SB3 agent the env steps it took and their rate (its
    throughput while training, evaluations included)."""
    out = {"elapsed_s": round(elapsed_s, 3),
           "evaluations_per_s": (round(records_new / elapsed_s, 1)
                                 if elapsed_s > 0 and records_new else None),
           "evaluated_this_session": records_new, "backend": backend}
    if env_steps:
        out["agent_env_steps"] = env_steps
        out["agent_env_steps_per_s"] = round(env_steps / elapsed_s, 1) if elapsed_s > 0 else None
    return out


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (a temporary file, then a rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)

