"""``codesign report``: a run folder's best designs as a text table, its files, and its plots
regenerated from the log (works on an unfinished or killed run too)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np

from hwsim.errors import CodesignError
from rl_search.accuracy.units import drop_unit, format_accuracy, format_drop
from rl_search.runs.config import BEST_FILE, LOG_FILE, PARETO_FILE, SUMMARY_FILE, RunConfig
from rl_search.runs.explore import load_run
from rl_search.runs.log import mapping_keys
from rl_search.runs.plots import accuracy_label, write_plots
from rl_search.runs.results import best_record


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
             + (f", max accuracy drop {format_drop(config.max_accuracy_drop, config.oracle)}"
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
    maps = mapping_keys(ranked[0]) if ranked else []
    points = drop_unit(config.oracle) == "points"
    scale, digits = (100.0, 2) if points else (1.0, 4)
    header = ("rank", "eval", "feasible", "reward", "latency_ms",
              "top-1 %" if points else "accuracy", "drop pts" if points else "drop",
              "max_util", "W bits", "A bits",
              *("LUT share" if m == "lut_fraction" else m for m in maps))
    rows = [(str(i + 1), str(r["index"]), "yes" if r["feasible"] else "no",
             f"{r['reward']:.4f}", f"{r['latency_ms']:.4f}",
             f"{scale * r['accuracy']:.{digits}f}", f"{scale * r['accuracy_drop']:.{digits}f}",
             f"{r['max_utilisation']:.3f}",
             f"{np.mean(r['weight_bits']):.2f}", f"{np.mean(r['act_bits']):.2f}",
             *(f"{np.nanmean(np.array(r[m], dtype=float)):.3f}" for m in maps))
            for i, r in enumerate(ranked)]
    if rows:
        widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(header)]
        shares = " and LUT share" if "lut_fraction" in maps else (
            " and mapping" if maps else "")
        lines.append(f"top {len(rows)} designs (bits{shares}: means over layers)")
        lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
                  for row in rows]
    else:
        lines.append("no evaluations logged yet")
    best = best_record(records)
    if best is not None:
        lines += ["", f"best feasible design #{best['index']}: {best['latency_ms']:.4f} ms, "
                  f"{format_accuracy(best['accuracy'], config.oracle)} (drop "
                  f"{format_drop(best['accuracy_drop'], config.oracle)}), max utilisation "
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
