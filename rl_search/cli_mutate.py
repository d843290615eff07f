"""``codesign train --algo ppo-mutate``: train a mutation agent over several workloads, and
``codesign train --propose AGENT --workload W --evaluations N [--finetune]``: let it search a
workload (see :mod:`rl_search.mutate_train`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError
from rl_search import defaults
from rl_search.cli_common import _parse_params, _table


def is_mutation_agent(path: str) -> bool:
    """Whether ``path``'s sidecar says it is a mutation agent."""
    from rl_search.mutate_train import FORMAT

    sidecar = Path(path).with_suffix(".json")
    try:
        return bool(json.loads(sidecar.read_text()).get("format") == FORMAT)
    except (OSError, ValueError, AttributeError):
        return False


def cmd_train_mutate(args: argparse.Namespace, problem: dict[str, Any]) -> int:
    """Train (``--algo ppo-mutate``) or search with (``--propose``) a mutation agent."""
    from rl_search.factory import make_problem
    from rl_search.mutate_train import log_dir, search_with_agent, train_mutation_agent
    from rl_search.problem import Objective

    space = problem.pop("space", None)
    objective_fields = {k: problem.pop(k) for k in list(problem)
                        if k in ("minimise", "mode", "latency_budget_ms", "max_accuracy_drop")}
    objective = Objective(**objective_fields) if objective_fields else None
    if args.propose:
        meta = json.loads(Path(args.propose).with_suffix(".json").read_text())
        space = space or meta.get("space", defaults.SPACE)
        if objective is None and meta.get("objective"):
            objective = Objective(**meta["objective"])
        finetune = args.finetune is not None
        if finetune and args.evaluations is not None and args.evaluations != args.finetune:
            raise CodesignError(f"--finetune {args.finetune} and --evaluations "
                                f"{args.evaluations} disagree; give one")
        evaluations = args.finetune if finetune else (args.evaluations or 200)
        prob = make_problem(args.workload, args.target, space, objective=objective, **problem)
        result = search_with_agent(args.propose, prob, evaluations, finetune=finetune,
                                   seed=args.seed)
        ev = prob.evaluate(result.x)
        how = "fine-tuned on" if finetune else "zero-shot (policy frozen) on"
        print(f"{args.propose} searched {args.workload} on {args.target} (space {space}), "
              f"{how} {result.evaluations} evaluations in {result.seconds:.1f} s "
              f"({result.env_steps:,} env steps):")
        rows = [(ev["latency_ms"], 100 * ev["accuracy"], 100 * ev["accuracy_drop"],
                 ev["max_utilisation"], ev["feasible"], ev["reward"])]
        print(_table(("latency ms", "top-1 %", "drop (points)", "max util", "feasible",
                      "reward"), rows))
        print("design:", json.dumps(result.x))
        if ev["violations"]:
            print("violates: " + "; ".join(ev["violations"]))
        return 0
    workloads = [w for w in (args.workloads or args.workload).split(",") if w]
    space = space or defaults.SPACE
    options = _parse_params(args.option, "--option")
    searches = args.searches
    evaluations = args.evaluations or 400

    def make(name: str) -> Any:
        return make_problem(name, args.target, space, objective=objective, **problem)

    for name in workloads:  # fail on a bad name before any training
        make(name)

    def progress(i: int, name: str, latency: float) -> None:
        if not args.no_progress:
            print(f"search {i + 1}/{searches} on {name}: best feasible {latency:.3f} ms",
                  file=sys.stderr, flush=True)

    meta = {"space": space, "target": str(args.target),
            "objective": None if objective is None else {
                "minimise": objective.minimise, "latency_budget_ms": objective.latency_budget_ms,
                "max_accuracy_drop": objective.max_accuracy_drop,
                "require_fit": objective.require_fit, "mode": objective.mode}}
    out = train_mutation_agent(make, workloads, searches=searches, evaluations=evaluations,
                               seed=args.seed, out_path=args.out, meta=meta,
                               progress=progress, **options)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    print(f"trained ppo-mutate over {searches} searches of {evaluations} evaluations on "
          f"{', '.join(workloads)} / {args.target} (space {space}, seed {args.seed}) in "
          f"{sidecar['seconds']} s, {sidecar['env_steps']:,} env steps "
          f"({sidecar['env_steps_per_second']:,} steps/s)")
    print(f"saved {out}, {out.with_suffix('.json')}; learning curve {out.with_suffix('.png')}; "
          f"SB3 scalars {log_dir(out) / 'progress.csv'}")
    return 0


def check_args(args: argparse.Namespace) -> None:
    """Options that only the mutation agent takes, refused elsewhere with a message."""
    if args.algo != "ppo-mutate" and not args.propose:
        for flag, value in (("--workloads", args.workloads), ("--finetune", args.finetune)):
            if value:
                raise CodesignError(f"{flag} applies to --algo ppo-mutate (or --propose of a "
                                    f"mutation agent), not --algo {args.algo}")
    if args.searches < 1:
        raise CodesignError(f"--searches must be >= 1, got {args.searches}")
    for flag, value in (("--evaluations", args.evaluations), ("--finetune", args.finetune)):
        if value is not None and value < 2:
            raise CodesignError(f"{flag} must be >= 2 evaluations, got {value}")
