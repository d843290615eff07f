"""Mutation score per module, from the results of the last ``mutmut run``.

Reads the modules listed under ``[tool.mutmut] only_mutate`` in pyproject.toml and, for each,
mutmut's own record of every mutant (``mutants/<module>.meta``), classified with mutmut's
exit-code table. Prints killed / total and the score per module (a mutant whose tests time out,
an endless loop, counts as killed), then every mutant that was not
killed (look at one with ``.venv/bin/mutmut show NAME``). README, "Mutation testing".

Run from the repository root:

    .venv/bin/mutmut run
    .venv/bin/python benchmarks/mutation_score.py
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

config = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["mutmut"]
not_killed: list[tuple[str, str]] = []
total_killed = total_mutants = 0

print(f"{'module':34s} {'killed':>7s} {'total':>6s} {'score':>7s}  other")
for module in config["only_mutate"]:
    meta = Path("mutants") / (module + ".meta")
    if not meta.exists():
        print(f"{module:34s} no results: run `.venv/bin/mutmut run` first")
        continue
    exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
    statuses = {name: status_by_exit_code[code] for name, code in exit_codes.items()}
    counts = Counter(statuses.values())
    # a mutant that makes the tests hang past mutmut's timeout is caught too (an endless loop)
    killed, total = counts["killed"] + counts["timeout"], len(statuses)
    total_killed, total_mutants = total_killed + killed, total_mutants + total
    other = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())
                      if s not in ("killed", "timeout"))
    if counts["timeout"]:
        other = f"({counts['timeout']} of the killed by timeout) {other}".strip()
    score = f"{100.0 * killed / total:6.1f}%" if total else "    n/a"
    print(f"{module:34s} {killed:7d} {total:6d} {score}  {other}")
    not_killed += [(name, s) for name, s in sorted(statuses.items())
                   if s not in ("killed", "timeout")]

if total_mutants:
    print(f"{'all':34s} {total_killed:7d} {total_mutants:6d} "
          f"{100.0 * total_killed / total_mutants:6.1f}%")
for name, status in not_killed:
    print(f"  {status:10s} {name}")
