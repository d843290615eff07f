"""The ``codesign`` command line. Every subcommand is a thin wrapper over the Python API.

Malformed input exits with status 2 and a message on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError
from rl_search import defaults
from rl_search.cli_common import _parse_params, _table
from rl_search.cli_query import (
    cmd_design_init,
    cmd_estimate,
    cmd_hardware_list,
    cmd_hardware_show,
    cmd_workloads_list,
    cmd_workloads_show,
)

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------- explore


def _parse_bits(text: str) -> list[int]:
    """``"2-8"`` (a range) or ``"2,4,8"`` (a list) -> ascending ints."""
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-", 1))
            return list(range(lo, hi + 1))
        return sorted({int(v) for v in text.split(",")})
    except ValueError:
        raise CodesignError(f"bit-widths must look like 2-8 or 2,4,8, got {text!r}") from None


def _optional_float(text: str, option: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise CodesignError(f"{option} expects a number or 'none', got {text!r}") from None


def _drop_budget(text: str, spec: str) -> float | None:
    """``--max-accuracy-drop`` in the oracle's unit (top-1 points for the prior, a fraction
    otherwise) as the library's fraction, or ``None`` for 'none'."""
    from rl_search.accuracy.units import drop_to_fraction, drop_unit

    value = _optional_float(text, "--max-accuracy-drop")
    if value is None:
        return None
    limit = 100.0 if drop_unit(spec) == "points" else 1.0
    if not 0.0 <= value <= limit:
        raise CodesignError(f"--max-accuracy-drop {value:g}: with oracle {spec!r} it is in "
                            f"{drop_unit(spec)}, so it must be in [0, {limit:g}]")
    return drop_to_fraction(value, spec)


def _explore_config(args: argparse.Namespace) -> tuple[Any, Path, bool]:
    """The run's config, folder and whether it resumes; on resume, explicitly given options
    must agree with the folder's own config.json (``--workers`` may change)."""
    from rl_search.runner import CONFIG_FILE, IncompatibleRunError, RunConfig

    given: dict[str, Any] = {}
    for name in ("workload", "target", "space", "searcher", "budget", "seed", "minimise",
                 "mode", "oracle", "workers"):
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    if args.latency_budget_ms is not None:
        given["latency_budget_ms"] = _optional_float(args.latency_budget_ms,
                                                     "--latency-budget-ms")
    stored = None
    if args.resume and (Path(args.resume) / CONFIG_FILE).exists():
        stored = RunConfig.load(Path(args.resume) / CONFIG_FILE)
    if stored is None and "oracle" not in given:
        # a workload with TT / HT layers gets the oracle that models their ranks
        from rl_search.factory import default_oracle, resolve_workload

        given["oracle"] = default_oracle(resolve_workload(given.get("workload",
                                                                    defaults.WORKLOAD)))
    if args.max_accuracy_drop is not None:
        spec = given.get("oracle") or (stored.oracle if stored else defaults.ORACLE)
        given["max_accuracy_drop"] = _drop_budget(args.max_accuracy_drop, spec)
    if "workload" in given and Path(given["workload"]).exists():
        given["workload"] = str(Path(given["workload"]).resolve())
    space_options: dict[str, Any] = {}
    if args.weight_bits is not None:
        space_options["weight_bits"] = _parse_bits(args.weight_bits)
    if args.act_bits is not None:
        space_options["act_bits"] = _parse_bits(args.act_bits)
    if args.split is not None:
        space_options["split"] = args.split
    searcher_options = (_parse_params(args.searcher_option, "--searcher-option")
                        if args.searcher_option else {})
    if args.resume:
        run_dir = Path(args.resume)
        if args.out is not None and Path(args.out).resolve() != run_dir.resolve():
            raise CodesignError(f"--resume {run_dir} continues that folder; drop --out "
                                f"{args.out}")
        if stored is None:
            raise CodesignError(f"no run to resume in {run_dir}: {CONFIG_FILE} is missing")
        config = stored.replace(
            **given, space_options={**stored.space_options, **space_options},
            searcher_options={**stored.searcher_options, **searcher_options})
        diffs = stored.differences(config)
        if diffs:
            raise IncompatibleRunError(
                f"options given with --resume differ from {run_dir / CONFIG_FILE}:\n  "
                + "\n  ".join(diffs) + "\ndrop them to resume, or start a new run with --out")
        return config, run_dir, True
    config = RunConfig(**given, space_options=space_options, searcher_options=searcher_options)
    if args.out is not None:
        run_dir = Path(args.out)
    else:
        run_dir = Path("runs") / (f"{Path(config.workload).stem}-{config.space}-"
                                  f"{config.searcher.replace(':', '.')}-s{config.seed}")
    return config, run_dir, False


def _no_feasible_advice(config: Any, run_dir: Path) -> str:
    """What to try when a run found nothing feasible, starting from its closest design."""
    from rl_search.accuracy.units import format_drop
    from rl_search.runner import best_record, load_run

    lines = ["no feasible design found."]
    _, records = load_run(run_dir)
    closest = best_record(records, feasible_only=False)
    if closest is not None:
        parts = [f"{closest['latency_ms']:.3f} ms"
                 + (f" (budget {config.latency_budget_ms:g})"
                    if config.latency_budget_ms is not None else ""),
                 f"accuracy drop {format_drop(closest['accuracy_drop'], config.oracle)}"
                 + (f" (budget {format_drop(config.max_accuracy_drop, config.oracle)})"
                    if config.max_accuracy_drop is not None else ""),
                 "fits the hardware" if closest["fits"] else "does not fit the hardware"]
        lines.append(f"closest: evaluation #{closest['index']}: " + ", ".join(parts))
    tips = []
    if config.searcher == "random":
        tips.append("a searcher that improves on what it found (--searcher genetic or greedy)")
    if config.mode == "repair":
        tips.append("--mode penalty (repair lowers bits until the latency fits, spending the "
                    "accuracy budget)")
    tips.append(f"a larger --budget (this run: {config.budget})")
    tips.append("looser --latency-budget-ms / --max-accuracy-drop")
    lines.append("try: " + "; ".join(tips))
    return "\n".join(lines)


def cmd_explore(args: argparse.Namespace) -> int:
    from rl_search.accuracy.units import format_accuracy, format_drop
    from rl_search.runner import RunInterrupted, accuracy_label, explore

    config, run_dir, resume = _explore_config(args)
    try:
        result = explore(config, run_dir, resume=resume, progress=not args.no_progress,
                         backend=args.backend, address=args.address)
    except RunInterrupted as exc:
        print(f"\ncodesign: interrupted after {exc.evaluations} of {config.budget} evaluations; "
              f"{run_dir} is saved. Resume with:\n  codesign explore --resume {run_dir}",
              file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ncodesign: interrupted", file=sys.stderr)
        return 130
    summary = result.summary
    print(f"explored {config.workload} on {config.target} (space {config.space}, searcher "
          f"{config.searcher}, seed {config.seed}): {result.evaluations} evaluations "
          f"({result.replayed} replayed from the log), {result.feasible} feasible, "
          f"{result.elapsed_s:.1f} s")
    best = result.best
    if best is None:
        print(_no_feasible_advice(config, run_dir))
    else:
        ref = summary["reference_latency_ms"]
        print(f"best feasible: evaluation #{best['index']}: {best['latency_ms']:.4f} ms "
              f"({best['latency_ms'] / ref:.3f} x the all-8-bit design's {ref:.4g} ms), "
              f"{format_accuracy(best['accuracy'], config.oracle)} (drop "
              f"{format_drop(best['accuracy_drop'], config.oracle)}), "
              f"max utilisation {best['max_utilisation']:.3f}")
        print(f"  {accuracy_label(config)}")
    print(f"Pareto front: {len(result.pareto)} designs")
    print(f"run folder {run_dir}: " + " ".join(p.name for p in result.files.values()))
    print(f"next: codesign report {run_dir}")
    if "best" in result.files:
        print(f"      codesign estimate --workload {config.workload} --target {config.target} "
              f"--design {result.files['best']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    if (Path(args.run_dir) / "sweep.toml").exists():  # a study: one table across the grid
        from rl_search.cli_sweep import cmd_report_study

        return cmd_report_study(args.run_dir)
    from rl_search.runner import report

    print(report(args.run_dir, top=args.top))
    return 0


def _cmd_tune(args: argparse.Namespace, problem: dict[str, Any]) -> int:
    from rl_search.tune import tune_agent

    if args.backend != "ray":
        raise CodesignError("--tune runs its trials on Ray: add --backend ray")
    spec = _parse_params([args.tune], "--tune")
    if set(spec) != {"n_trials"} or not isinstance(spec["n_trials"], int):
        raise CodesignError(f"--tune expects n_trials=N, got {args.tune!r}")
    problem["space"] = args.space or defaults.SPACE
    summary = tune_agent(args.algo, {"workload": args.workload, "target": args.target,
                                     **problem}, args.steps, n_trials=spec["n_trials"],
                         seed=args.seed, out_path=args.out, form=args.form,
                         action=args.action, address=args.address,
                         options=_parse_params(args.option, "--option"))
    rows = [(i, *(f"{t['config'][k]:.4g}" if isinstance(t["config"][k], float)
                  else t["config"][k] for k in summary["space"]),
             t["reward"], t["latency_ms"], t["feasible"])
            for i, t in enumerate(summary["trials"]) if "reward" in t]
    print(f"tuned {args.algo} over {spec['n_trials']} trials of {args.steps:,} steps on "
          f"{args.workload} / {args.target} (space {problem['space']}):")
    print(_table(("#", *summary["space"], "reward", "latency ms", "feasible"), rows))
    print(f"best saved at {args.out} (and {Path(args.out).with_suffix('.json')}); every trial in "
          f"{args.out}.tune.json")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from rl_search.train import propose, train_agent

    problem: dict[str, Any] = {"space": args.space}
    for name in ("minimise", "mode"):
        if getattr(args, name) is not None:
            problem[name] = getattr(args, name)
    if args.latency_budget_ms is not None:
        problem["latency_budget_ms"] = _optional_float(args.latency_budget_ms,
                                                       "--latency-budget-ms")
    if args.max_accuracy_drop is not None:  # train and propose use the default oracle
        problem["max_accuracy_drop"] = _drop_budget(args.max_accuracy_drop, defaults.ORACLE)
    for name in ("weight_bits", "act_bits"):
        if getattr(args, name) is not None:
            problem[name] = _parse_bits(getattr(args, name))
    from rl_search.cli_mutate import check_args, cmd_train_mutate, is_mutation_agent

    check_args(args)
    if args.algo == "ppo-mutate" or (args.propose and is_mutation_agent(args.propose)):
        return cmd_train_mutate(args, problem)
    if args.propose:
        if args.space is None:
            del problem["space"]
        designs = propose(args.propose, args.workload, args.target, n=args.n, seed=args.seed,
                          **problem)
        print(f"designs proposed by {args.propose} for {args.workload} on {args.target}:")
    elif args.tune is not None:
        return _cmd_tune(args, problem)
    else:
        problem["space"] = args.space or defaults.SPACE
        options = _parse_params(args.option, "--option")
        out = train_agent(args.algo, {"workload": args.workload, "target": args.target,
                                      **problem}, args.steps, args.seed, args.out,
                          form=args.form, action=args.action,
                          progress=not args.no_progress, **options)
        print(f"trained {args.algo} for {args.steps:,} steps on {args.workload} / {args.target} "
              f"(space {problem['space']}, seed {args.seed}); saved {out} and "
              f"{out.with_suffix('.json')}")
        designs = propose(out, args.workload, args.target, n=args.n, seed=args.seed)
        print(f"its design{'s' if args.n > 1 else ''} for {args.workload}:")
    from rl_search.accuracy.units import accuracy_label

    rows = [(i, d["latency_ms"], 100 * d["accuracy"], 100 * d["accuracy_drop"],
             d["max_utilisation"], d["feasible"], d["reward"]) for i, d in enumerate(designs)]
    print(_table(("#", "latency ms", "top-1 %", "drop (points)", "max util", "feasible",
                  "reward"), rows))
    print(accuracy_label(defaults.ORACLE))
    for i, d in enumerate(designs):
        if d["violations"]:
            print(f"#{i} violates: " + "; ".join(d["violations"]))
    return 0


# ----------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codesign",
        description="Hardware-software co-design simulator: cost models and design search.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    wl = sub.add_parser("workloads", help="the model zoo and workload files")
    wl_sub = wl.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = wl_sub.add_parser("list", help="one line per zoo model: layers, GEMMs, MACs, params")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_workloads_list)
    p = wl_sub.add_parser("show", help="per-layer table: kind, shape, lowered GEMMs, MACs")
    p.add_argument("workload", help="zoo name (see `codesign workloads list`) or a .toml file")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="builder parameter of a zoo model, e.g. --param tokens=16")
    p.add_argument("--json", action="store_true")
    p.add_argument("--toml", action="store_true",
                   help="print the workload as a workload TOML file (to edit and load back)")
    p.set_defaults(func=cmd_workloads_show)

    hw = sub.add_parser("hardware", help="hardware presets and their limits")
    hw_sub = hw.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = hw_sub.add_parser("list", help="shipped presets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hardware_list)
    p = hw_sub.add_parser("show", help="one preset (or a preset TOML file) in full")
    p.add_argument("hardware", help="preset name or .toml file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hardware_show)

    p = sub.add_parser("estimate", help="latency and resources of a design on a target")
    p.add_argument("--workload", default=defaults.WORKLOAD, help="zoo name or workload .toml")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="builder parameter of a zoo workload")
    p.add_argument("--target", default=defaults.TARGET,
                   help="hardware preset with a cost model (e.g. n3h-pynq-z2) or a .toml file")
    p.add_argument("--design", help="design .toml (default: first/last W8A8, others W4A4, "
                   "each layer at its balance point)")
    p.add_argument("--balance", choices=("exact", "n3h-sweep"), default=None,
                   help="FPGA targets: how unset splits are solved (the design's [mapping] "
                   "balance option)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a design-wide mapping option of the target (see 'codesign hardware "
                   "show')")
    p.add_argument("--fidelity", default="analytic",
                   help="a fidelity the target offers (analytic, cycle, ...)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--strict", action="store_true", help="exit 1 when the design is infeasible")
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("explore", help="design-space exploration into a resumable run folder")
    p.add_argument("--workload", help="zoo name or workload .toml (default resnet18)")
    p.add_argument("--target", help=f"a target preset or .toml file (default {defaults.TARGET})")
    p.add_argument("--space", help="design space: n3h, haq, rank, haq+rank, n3h+rank "
                   "(default n3h)")
    p.add_argument("--searcher", help="random, genetic, greedy, exhaustive, ppo, a2c, sac, td3, "
                   f"ddpg, ddpg-haq, or module:Class (default {defaults.SEARCHER})")
    p.add_argument("--searcher-option", action="append", metavar="KEY=VALUE",
                   help="searcher option, e.g. --searcher-option population_size=64")
    p.add_argument("--budget", type=int, help="design evaluations (default 1000)")
    p.add_argument("--seed", type=int, help="searcher seed (default 0)")
    p.add_argument("--out", help="run folder (default runs/WORKLOAD-SPACE-SEARCHER-sSEED)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR with its own config.json")
    p.add_argument("--latency-budget-ms", metavar="MS", help="latency budget (default none)")
    p.add_argument("--max-accuracy-drop", metavar="DROP",
                   help="accuracy-loss budget: top-1 points with the prior (default "
                   f"{100 * defaults.MAX_ACCURACY_DROP:g}), a fraction with other oracles "
                   "(0.01 = one point); 'none' for no budget")
    p.add_argument("--minimise", choices=("latency", "accuracy_drop"),
                   help="what to minimise under the budgets (default latency)")
    p.add_argument("--mode", choices=("penalty", "repair", "clamp"),
                   help="latency-budget handling (default penalty)")
    p.add_argument("--weight-bits", metavar="BITS", help="weight bit-widths, e.g. 2-8 or 2,4,8")
    p.add_argument("--act-bits", metavar="BITS", help="activation bit-widths, e.g. 2-8")
    p.add_argument("--split", choices=("balance", "choose"),
                   help="per-layer LUT share: each layer's balance point, or a knob")
    p.add_argument("--oracle", help="accuracy oracle: prior (= prior:qat, after "
                   "quantisation-aware fine-tuning; the default), prior:ptq (post-training "
                   "quantisation), tensor-lstm (a TT/HT digits LSTM measured at each rank; the "
                   "default for workloads with TT/HT layers), or module:function")
    p.add_argument("--workers", type=int, help="processes (or Ray actors) evaluating each "
                   "batch (default 1)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="where batches are evaluated: this machine, or Ray (a local Ray "
                   "without --address; the run folder is the same either way)")
    p.add_argument("--address", help="Ray cluster to join: auto or ray://head:10001")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_explore)

    p = sub.add_parser("design", help="design files")
    design_sub = p.add_subparsers(dest="design_command", required=True)
    p = design_sub.add_parser("init", help="print a complete, commented design file to edit "
                              "(the target's default design, every knob in comments)")
    p.add_argument("--workload", default=defaults.WORKLOAD, help="zoo name or workload .toml")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="builder parameter of a zoo workload")
    p.add_argument("--target", default=defaults.TARGET, help="a target preset or .toml file")
    p.add_argument("--out", help="write to this file instead of standard output")
    p.set_defaults(func=cmd_design_init)

    p = sub.add_parser("report", help="best designs and plots of a run folder, or one table "
                       "and plot across a study (codesign sweep)")
    p.add_argument("run_dir", help="a folder written by `codesign explore`")
    p.add_argument("--top", type=int, default=10, help="designs in the table")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("train", help="train and save an SB3 agent, or let a saved agent "
                       "propose designs for a workload (--propose)")
    p.add_argument("--workload", default=defaults.WORKLOAD, help="zoo name or workload .toml")
    p.add_argument("--target", default=defaults.TARGET, help="a target preset or .toml file")
    p.add_argument("--space", help="design space: n3h (default), haq, rank, haq+rank, n3h+rank; "
                   "with --propose, the agent's own unless given")
    p.add_argument("--algo", default="ppo", choices=("ppo", "a2c", "sac", "td3", "ddpg",
                                                     "ddpg-haq", "ppo-mutate"),
                   help="ppo-mutate: a policy proposing mutations of the best design so far, "
                   "trained over --workloads and applied to unseen ones (--propose)")
    p.add_argument("--workloads", metavar="A,B,C", help="ppo-mutate: train over these "
                   "workloads in turn (default: --workload)")
    p.add_argument("--searches", type=int, default=30, help="ppo-mutate: training searches, "
                   "each from the highest-precision design of the next workload")
    p.add_argument("--evaluations", type=int, help="ppo-mutate: evaluations per training "
                   "search (default 400), or of the search with --propose (default 200)")
    p.add_argument("--finetune", type=int, nargs="?", const=200, metavar="N",
                   help="ppo-mutate with --propose: keep learning on the workload's N "
                   "evaluations (default 200; without it the policy is frozen: zero-shot)")
    p.add_argument("--steps", type=int, default=2000, help="environment steps to train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="agent.zip", help="saved agent (plus a .json sidecar)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="ray: with --tune, trials run on Ray (a local Ray without --address)")
    p.add_argument("--address", help="Ray cluster to join: auto or ray://head:10001")
    p.add_argument("--tune", metavar="n_trials=N", help="Ray Tune over the algorithm's "
                   "hyper-parameters (rl_search/tune.py's default space): N trials of --steps "
                   "each; the best agent is saved at --out, every trial in <out>.tune.json")
    p.add_argument("--form", choices=("sequential", "oneshot"), default="sequential",
                   help="one knob per step (transfers across workloads) or one action")
    p.add_argument("--action", choices=("box", "discrete"), default="box")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="algorithm option, e.g. --option n_steps=128")
    p.add_argument("--propose", metavar="AGENT_ZIP",
                   help="roll this saved agent out on --workload instead of training")
    p.add_argument("-n", type=int, default=1, help="designs to propose (the first is the "
                   "policy's deterministic one)")
    p.add_argument("--latency-budget-ms", metavar="MS", help="latency budget")
    p.add_argument("--max-accuracy-drop", metavar="POINTS",
                   help="accuracy-loss budget in top-1 points (the prior, qat regime)")
    p.add_argument("--minimise", choices=("latency", "accuracy_drop"))
    p.add_argument("--mode", choices=("penalty", "repair", "clamp"))
    p.add_argument("--weight-bits", metavar="BITS", help="weight bit-widths, e.g. 2-8 or 2,4,8")
    p.add_argument("--act-bits", metavar="BITS", help="activation bit-widths, e.g. 2-8")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    from rl_search.cli_lstm import add_parser as add_lstm_parser
    from rl_search.cli_sweep import add_parser as add_sweep_parser
    from rl_search.cli_tables import add_parser as add_tables_parser

    add_lstm_parser(sub)
    add_tables_parser(sub)
    add_sweep_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except CodesignError as exc:
        print(f"codesign: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"codesign: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `codesign ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
