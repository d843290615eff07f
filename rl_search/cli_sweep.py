"""``codesign sweep``: a grid of exploration runs (a study), and the study report that
``codesign report DIR`` prints when ``DIR/sweep.toml`` exists."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError


def cmd_sweep(args: argparse.Namespace) -> int:
    from rl_search.runs.study import format_study, report_study
    from rl_search.runs.sweep import SWEEP_FILE, is_study, load_sweep, run_sweep

    if args.address and args.backend != "ray":
        raise CodesignError("--address is the Ray cluster to join; use it with --backend ray")
    resume = args.resume is not None
    if resume:
        if args.out is not None and Path(args.out) != Path(args.resume):
            raise CodesignError("give the study folder once: --resume DIR (without --out)")
        out = Path(args.resume)
        if not out.is_dir():
            raise CodesignError(f"--resume {out}: no such folder")
        if not is_study(out):
            raise CodesignError(f"--resume {out}: not a study folder ({SWEEP_FILE} is missing); "
                                f"start one with codesign sweep SWEEP.toml --out {out}")
        sweep_path = args.sweep
    else:
        if args.sweep is None:
            raise CodesignError("codesign sweep needs a sweep file (codesign sweep SWEEP.toml "
                                "--out DIR) or --resume DIR")
        sweep_path = Path(args.sweep)
        if not sweep_path.is_file():
            raise CodesignError(f"{sweep_path}: no such sweep file")
        if args.out is None:
            raise CodesignError("codesign sweep needs --out DIR, the study folder")
        out = Path(args.out)
        if is_study(out):
            raise CodesignError(f"--out {out} already holds a study; continue it with "
                                f"codesign sweep --resume {out}, or choose another --out")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise CodesignError(f"--out {out} exists and is not an empty folder or a study "
                                "folder; choose another --out")
    cells = load_sweep(out / SWEEP_FILE if resume else sweep_path).cells()
    print(f"study {out}: {len(cells)} cells, backend {args.backend}"
          + (f" at {args.address}" if args.address else "")
          + (" (resuming)" if resume else ""))
    print(f"  run folders in {out / 'cells'}, cell states in {out / 'study.json'}")
    try:
        result = run_sweep(sweep_path, out, backend=args.backend, address=args.address,
                           resume=resume, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ncodesign: interrupted; {out} is saved. Resume with:\n"
              f"  codesign sweep --resume {out}", file=sys.stderr)
        return 130
    print(f"ran {result.ran} cells in {result.elapsed_s:.1f} s: {len(result.complete)} "
          f"complete, {len(result.failed)} failed, {len(result.pending)} pending")
    print()
    print(format_study(report_study(out)))
    if result.failed:
        print(f"\n{len(result.failed)} cells failed; fix the cause and run "
              f"codesign sweep --resume {out}")
    print(f"\nnext: codesign report {out}")
    return 1 if result.failed else 0


def cmd_report_study(path: str | Path) -> int:
    """``codesign report DIR`` for a study folder (``DIR/sweep.toml`` exists)."""
    from rl_search.runs.study import format_study, report_study

    print(format_study(report_study(path)))
    return 0


def add_parser(sub: Any) -> None:
    """The ``sweep`` subcommand."""
    p = sub.add_parser("sweep", help="a grid of exploration runs (a study), resumable cell by "
                       "cell, here or on Ray")
    p.add_argument("sweep", nargs="?", metavar="SWEEP.toml",
                   help="the sweep file: [grid] (workload, target, space, searcher, seed, "
                   "budget, oracle, max_accuracy_drop, mode, minimise: a value or a list) and "
                   "[run] (fixed run config fields)")
    p.add_argument("--out", metavar="DIR", help="the study folder (new or empty)")
    p.add_argument("--resume", metavar="DIR", help="continue the study in DIR (its own "
                   "sweep.toml): complete cells are skipped, partial ones resumed")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: the cells one after another here; ray: one Ray task per cell "
                   "(the workers must see DIR: this machine or a shared filesystem)")
    p.add_argument("--address", help="Ray cluster to join (auto, ray://head:10001); default: "
                   "start a local Ray")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)


__all__ = ["add_parser", "cmd_report_study", "cmd_sweep"]
