"""The run folder's plots, from the log's records: the Pareto front, the best reward and
feasible latency so far, and the best design's per-layer bits and LUT share (PNG, Agg;
matplotlib is imported on first use and pyplot's state is left untouched)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.errors import CodesignError
from rl_search.runs.config import BEST_FILE, PLOT_FILES, RunConfig
from rl_search.runs.log import mapping_keys
from rl_search.runs.results import best_record, pareto_front


def accuracy_label(config: RunConfig) -> str:
    """What the run's accuracies are: the weight-free prior is labelled as a prediction, with
    its regime."""
    from rl_search.accuracy.units import accuracy_label as label

    return label(config.oracle)


def _hardware_line(run_dir: Path, best: Mapping[str, Any] | None) -> str:
    """The hardware the best design chose (its ``best.toml`` overrides), as a second title
    line; empty when it sets none."""
    from cost_models import load_design

    path = run_dir / BEST_FILE
    if best is None or not path.exists():
        return ""
    try:
        design = load_design(path)
    except CodesignError:
        return ""
    parts = [f"{c}: " + ", ".join(f"{k}={v}" for k, v in fields) for c, fields in design.hardware]
    return "".join("\n" + part for part in parts)


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
    if feas.any():
        # Frame the feasible designs (and the budgets): infeasible ones far below the
        # accuracy floor would otherwise squash the front against the top.
        floor = baseline - (config.max_accuracy_drop or 0.0)
        y_lo, y_hi = min(acc[feas].min(), floor), max(acc[feas].max(), baseline)
        pad = max(0.1 * (y_hi - y_lo), 1e-3)
        ax.set_ylim(y_lo - pad, y_hi + pad)
        x_hi = max(lat[feas].max(), config.latency_budget_ms or 0.0)
        ax.set_xlim(0.0, 1.25 * x_hi)
        outside = int((grey & ((acc < y_lo - pad) | (lat > 1.25 * x_hi))).sum())
        if outside:
            ax.text(0.01, 0.01, f"{outside} infeasible designs outside the axes",
                    transform=ax.transAxes, fontsize=7, color="0.4")
    ax.legend(fontsize=7, loc="upper right")
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

    # Per-layer bits, and the target's first mapping knob (the FPGA's LUT share) or the
    # ranks, of the best design.
    shown = best if best is not None else best_record(records, feasible_only=False)
    assert shown is not None
    n_layers = len(shown["weight_bits"])
    names = list(layer_names) if layer_names and len(layer_names) == n_layers else [
        str(i) for i in range(n_layers)]
    maps = mapping_keys(shown)
    lower = maps[0] if maps else ("rank" if "rank" in shown else None)
    fig = Figure(figsize=(max(7.5, 0.28 * n_layers), 6 if lower else 3.5), layout="constrained")
    axes = fig.subplots(2 if lower else 1, 1, sharex=True, squeeze=False)[:, 0]
    ax1 = axes[0]
    pos = np.arange(n_layers)
    ax1.bar(pos - 0.2, shown["weight_bits"], width=0.4, label="weight bits")
    ax1.bar(pos + 0.2, shown["act_bits"], width=0.4, label="activation bits")
    ax1.set_ylabel("bits")
    ax1.set_yticks(range(0, 9, 2))
    ax1.set_ylim(0, 10.5)  # room above the bars for the legend
    ax1.legend(fontsize=7, loc="upper center", ncols=2)
    state = "best feasible" if best is not None else "best (INFEASIBLE)"
    ax1.set_title(f"{state} design #{shown['index']}: {shown['latency_ms']:.3f} ms, "
                  f"accuracy {shown['accuracy']:.4f}" + _hardware_line(run_dir, best), fontsize=8)
    if lower is not None:
        ax2 = axes[1]
        values = [np.nan if v is None else v for v in shown[lower]]
        ax2.bar(pos, values, color="tab:orange")
        ax2.set_ylabel("LUT-core share of channels" if lower == "lut_fraction" else lower)
        if lower == "lut_fraction":
            ax2.set_ylim(0, 1)
    axes[-1].set_xticks(pos, names, rotation=90, fontsize=7)
    save(fig, paths["best_design"])
    return paths

