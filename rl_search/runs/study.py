"""``codesign report STUDY``: a study's cells grouped by everything but the seed.

Per group: seeds done / total, the best feasible design's latency over the done seeds (mean,
sample standard deviation, min), that design's accuracy drop (mean), and the evaluations logged;
failed and pending cells are listed. :func:`report_study` also writes ``study.csv`` (one row
per group) and ``study.png`` (one bar per group: mean best latency, std error bars).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError
from rl_search.runs.explore import load_run
from rl_search.runs.results import best_record
from rl_search.runs.sweep import (
    GRID_KEYS,
    SWEEP_FILE,
    cell_dir,
    is_study,
    load_sweep,
    read_study,
    run_is_complete,
)

CSV_FILE = "study.csv"
PNG_FILE = "study.png"
GROUP_KEYS = tuple(k for k in GRID_KEYS if k != "seed")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _std(values: list[float]) -> float | None:
    """Sample standard deviation (ddof 1); 0 for one value, None for none."""
    if not values:
        return None
    if len(values) == 1:
        return 0.0
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def report_study(out_dir: str | Path) -> dict[str, Any]:
    """The study in ``out_dir`` grouped by everything but the seed (see the module docstring);
    writes ``study.csv`` and ``study.png`` there. Read from the cells' run folders, so it works
    on an unfinished study too (only complete cells count as done)."""
    out = Path(out_dir)
    if not is_study(out):
        raise CodesignError(f"{out} is not a study folder: {SWEEP_FILE} is missing")
    sweep = load_sweep(out / SWEEP_FILE)
    cells = sweep.cells()
    recorded = {c.get("name"): c for c in read_study(out).get("cells", []) if isinstance(c, dict)}
    groups: dict[str, dict[str, Any]] = {}
    failed, pending = [], []
    for cell in cells:
        cfg = cell.config
        g = groups.setdefault(cell.group, {
            "group": cell.group,
            **{k: getattr(cfg, k) for k in GROUP_KEYS},
            "oracle_spec": cfg.oracle,
            "seeds_total": 0, "seeds_done": 0, "feasible_seeds": 0, "evaluations": 0,
            "_lat": [], "_drop": [], "cells": [], "failed": [], "pending": []})
        g["seeds_total"] += 1
        g["cells"].append(cell.name)
        run_dir = cell_dir(out, cell.name)
        logged = 0
        records: list[dict[str, Any]] = []
        if (run_dir / "config.json").exists():
            _, records = load_run(run_dir)
            logged = len(records)
            g["evaluations"] += logged
        if run_is_complete(run_dir):
            g["seeds_done"] += 1
            best = best_record(records)
            if best is not None:
                g["feasible_seeds"] += 1
                g["_lat"].append(float(best["latency_ms"]))
                g["_drop"].append(float(best["accuracy_drop"]))
            continue
        entry = recorded.get(cell.name, {})
        if entry.get("status") == "failed":
            item = {"name": cell.name, "seed": cfg.seed, "error": entry.get("error")}
            failed.append(item)
            g["failed"].append(cell.name)
        else:
            item = {"name": cell.name, "seed": cfg.seed, "evaluations": logged,
                    "budget": cfg.budget}
            pending.append(item)
            g["pending"].append(cell.name)
    rows = []
    for g in groups.values():
        lat, drop = g.pop("_lat"), g.pop("_drop")
        g["seed_values"] = [c.config.seed for c in cells if c.group == g["group"]]
        g["best_latency_ms_mean"] = _mean(lat)
        g["best_latency_ms_std"] = _std(lat)
        g["best_latency_ms_min"] = min(lat) if lat else None
        g["best_accuracy_drop_mean"] = _mean(drop)
        g["best_latencies_ms"] = lat
        rows.append(g)
    report = {"study": str(out), "cells": len(cells),
              "complete": sum(g["seeds_done"] for g in rows), "groups": rows,
              "failed": failed, "pending": pending, "varying": sweep.varying,
              "files": {"csv": str(out / CSV_FILE), "png": str(out / PNG_FILE)}}
    _write_csv(out / CSV_FILE, rows)
    _write_png(out / PNG_FILE, rows, out.name)
    return report


CSV_COLUMNS = ("group", *GROUP_KEYS, "seeds_done", "seeds_total", "feasible_seeds",
               "best_latency_ms_mean", "best_latency_ms_std", "best_latency_ms_min",
               "best_accuracy_drop_mean", "evaluations", "failed", "pending")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for g in rows:
            out = []
            for col in CSV_COLUMNS:
                v = g[col]
                if col in ("failed", "pending"):
                    v = len(v)
                out.append("" if v is None else v)
            writer.writerow(out)


def _write_png(path: Path, rows: list[dict[str, Any]], title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(5.0, 0.9 * len(rows) + 2.0), 4.8), layout="constrained")
    ax = fig.add_subplot()
    xs = list(range(len(rows)))
    means = [g["best_latency_ms_mean"] if g["best_latency_ms_mean"] is not None else 0.0
             for g in rows]
    stds = [g["best_latency_ms_std"] or 0.0 for g in rows]
    ax.bar(xs, means, yerr=stds, capsize=4, color="tab:blue", alpha=0.8)
    for x, g in zip(xs, rows, strict=True):
        label = (f"{g['feasible_seeds']}/{g['seeds_total']}" if g["best_latency_ms_mean"]
                 is not None else "none")
        ax.annotate(label, (x, means[x] + stds[x]), ha="center", va="bottom", fontsize=8,
                    xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(xs, [g["group"] for g in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("best feasible latency (ms), mean over seeds")
    ax.set_title(f"study {title}: mean \u00b1 std over seeds\n(above each bar: seeds with a "
                 "feasible design / seeds)", fontsize=9)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)


def _fmt(v: float | None, spec: str = ".4g") -> str:
    return "-" if v is None else format(v, spec)


def format_study(report: dict[str, Any]) -> str:
    """The text rendering of :func:`report_study`'s result."""
    from rl_search.accuracy.units import drop_unit
    from rl_search.cli_common import _table

    groups = report["groups"]
    lines = [f"study {report['study']}: {report['cells']} cells, {report['complete']} complete, "
             f"{len(report['failed'])} failed, {len(report['pending'])} pending; "
             f"{len(groups)} group{'s' if len(groups) != 1 else ''} (cells differing only in "
             "the seed)", ""]
    if groups:
        first = groups[0]
        lines.append(f"{first['workload']} on {first['target']}, space {first['space']}"
                     if not {"workload", "target", "space"} & set(report["varying"]) else
                     "varying: " + ", ".join(report["varying"]))
        rows = []
        for g in groups:
            points = drop_unit(g["oracle_spec"]) == "points"
            drop = g["best_accuracy_drop_mean"]
            rows.append((g["group"], f"{g['seeds_done']}/{g['seeds_total']}",
                         _fmt(g["best_latency_ms_mean"]), _fmt(g["best_latency_ms_std"]),
                         _fmt(g["best_latency_ms_min"]),
                         "-" if drop is None else (f"{100 * drop:.2f} pts" if points
                                                   else f"{drop:.4f}"),
                         g["evaluations"]))
        lines.append(_table(("group", "seeds done", "best lat ms mean", "std", "min",
                             "drop of best (mean)", "evaluations"), rows))
        lines.append("best lat: the best feasible design's latency per seed, over the done "
                     "seeds; std: sample (ddof 1)")
    if report["failed"]:
        lines += ["", "failed cells:"]
        lines += [f"  {c['name']}: {c['error']}" for c in report["failed"]]
    if report["pending"]:
        lines += ["", f"pending cells (resume: codesign sweep --resume {report['study']}):"]
        lines += [f"  {c['name']}: {c['evaluations']} of {c['budget']} evaluations"
                  for c in report["pending"]]
    lines += ["", "files:", f"  {report['files']['csv']}", f"  {report['files']['png']}"]
    return "\n".join(lines)


__all__ = ["CSV_COLUMNS", "CSV_FILE", "PNG_FILE", "format_study", "report_study"]
