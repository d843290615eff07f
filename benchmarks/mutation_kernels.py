"""Mutation testing of the numba kernels, with cosmic-ray, where mutmut cannot go.

mutmut 3 routes every function through a trampoline that numba cannot compile, so it leaves
``@numba.njit`` functions alone (README, "Mutation testing"). cosmic-ray instead rewrites the
module's source on disk, one mutant at a time, and runs a test command; with
``NUMBA_DISABLE_JIT=1`` the kernels then run as the plain Python they are written in, so each
mutant costs an interpreter start and the tests, not a numba compile.

What is mutated: every numba-decorated function of ``--module`` (found from its decorators), with
the operators mutmut uses (one replacement per operator, listed in ``OPERATORS``), not cosmic-ray's
full cross product (which replaces each ``*`` by ten other operators). The work runs in a copy of
the repository under ``--workdir``, never in the checkout; ``--workers N`` runs N copies side by
side, each on its share of the mutants. The sessions (SQLite, cosmic-ray's format) stay in
``--workdir``: running the same command again resumes where an interrupted run stopped, and
``--report`` prints the score without running anything.

Run from the repository root (README, "Mutation testing"):

    .venv/bin/python benchmarks/mutation_kernels.py --module hwsim/fpga/analytic.py \\
        --tests tests/hwsim/fpga/test_analytic.py --workers 2
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import cosmic_ray.plugins
from cosmic_ray.mutating import mutate_code
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

# mutmut's replacements (mutmut/node_mutation.py), as cosmic-ray names them
OPERATORS = re.compile(
    r"core/(NumberReplacer"
    r"|ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Mod_Div|Pow_Mul"
    r"|LShift_RShift|RShift_LShift|BitAnd_BitOr|BitOr_BitAnd|BitXor_BitAnd)"
    r"|ReplaceComparisonOperator_(Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Eq_NotEq|NotEq_Eq|Is_IsNot"
    r"|IsNot_Is|In_NotIn|NotIn_In)"
    r"|ReplaceUnaryOperator_(Delete_Not|USub_UAdd)"
    r"|ReplaceTrueWithFalse|ReplaceFalseWithTrue|ReplaceAndWithOr|ReplaceOrWithAnd"
    r"|ReplaceBreakWithContinue|ReplaceContinueWithBreak|ZeroIterationForLoop)$")

CONFIG = """\
[cosmic-ray]
module-path = "{module}"
timeout = {timeout}
excluded-modules = []
test-command = "{command}"

[cosmic-ray.distributor]
name = "local"
"""


def kernel_lines(path: Path) -> list[tuple[int, int, str]]:
    """(first line, last line, name) of every function decorated with numba's jit/njit."""
    spans = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef):
            names = {ast.unparse(d.func if isinstance(d, ast.Call) else d) for d in
                     node.decorator_list}
            if any(n.split(".")[-1] in ("njit", "jit") for n in names):
                spans.append((node.lineno, node.end_lineno or node.lineno, node.name))
    return spans


def copy_repository(dest: Path) -> None:
    """Copy the tracked and untracked-but-not-ignored files of the checkout into ``dest``."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        if Path(name).is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(name, target)


def prepare(args: argparse.Namespace, workdir: Path) -> list[Path]:
    """Copies, configs and sessions (one per worker); returns the session paths."""
    spans = kernel_lines(Path(args.module))
    pristine = workdir / "module.orig"
    if pristine.exists() and pristine.read_bytes() != Path(args.module).read_bytes():
        sys.exit(f"{args.module} changed since the sessions in {workdir} began (their mutants "
                 f"are positions in the old text): delete {workdir} to start again")
    sessions = []
    # cosmic-ray splits the command itself (no shell): NUMBA_DISABLE_JIT comes from exec's env
    command = (f"{sys.executable} -m pytest -x -q -p no:cacheprovider "
               f"--hypothesis-seed=0 {' '.join(args.tests)} {args.pytest_args}").strip()
    for worker in range(args.workers):
        copy, session = workdir / f"w{worker}", workdir / f"session{worker}.sqlite"
        sessions.append(session)
        config = workdir / f"config{worker}.toml"  # rewritten each run: exec reads it
        if not args.report or not config.exists():
            config.write_text(CONFIG.format(module=args.module, timeout=args.timeout,
                                            command=command.replace('"', '\\"')))
        pristine = workdir / "module.orig"
        if session.exists():
            if not args.report:  # an interrupted exec can leave its mutant on disk
                shutil.copy2(pristine, copy / args.module)
            continue
        copy_repository(copy)
        shutil.copy2(args.module, pristine)
        subprocess.run([sys.executable, "-m", "cosmic_ray.cli", "init", str(config.resolve()),
                        str(session.resolve())], check=True, cwd=copy)
        with use_db(str(session), WorkDB.Mode.open) as db:
            chosen = 0
            for item in list(db.pending_work_items):
                mutation = item.mutations[0]
                line = mutation.start_pos[0]
                inside = any(a <= line <= b for a, b, _ in spans)
                keep = inside and OPERATORS.match(mutation.operator_name) is not None
                if keep:
                    keep = chosen % args.workers == worker
                    chosen += 1
                if not keep:
                    db.set_result(item.job_id, WorkResult(
                        output="outside the kernels or the operator set",
                        worker_outcome=WorkerOutcome.SKIPPED))
    return sessions


EQUIVALENT = Path(__file__).with_name("mutation_equivalent.toml")


def equivalences(module: str) -> dict[tuple[str, str, str, str], str]:
    """Reasons for mutants argued equivalent, keyed by (function, operator, original line,
    mutated line), both lines stripped: ``EQUIVALENT`` (a TOML list of ``[[mutant]]``)."""
    if not EQUIVALENT.exists():
        return {}
    table = tomllib.loads(EQUIVALENT.read_text())
    return {(e["function"], e["operator"], e["line"], e["mutated"]): e["reason"]
            for e in table.get("mutant", []) if e["module"] == module}


def mutated_line(source: str, operator: str, occurrence: int, line: int) -> str:
    """The mutant's version of source line ``line`` (1-based), stripped."""
    code = mutate_code(source, cosmic_ray.plugins.get_operator(operator)(), occurrence)
    return "" if code is None else code.splitlines()[line - 1].strip()


def report(sessions: list[Path], module: str) -> None:
    """Killed / total over the sessions, and every mutant left alive with its source line and,
    where one is recorded in ``EQUIVALENT``, the reason it is equivalent."""
    source = Path(module).read_text()
    lines = source.splitlines()
    reasons = equivalences(module)
    killed = survived = pending = broken = 0
    alive = []
    for session in sessions:
        with use_db(str(session), WorkDB.Mode.open) as db:
            results = dict(db.results)
            for item in db.work_items:
                result = results.get(item.job_id)
                if result is None:
                    pending += 1
                elif result.worker_outcome == WorkerOutcome.SKIPPED:
                    continue
                elif result.test_outcome not in (TestOutcome.SURVIVED, TestOutcome.KILLED):
                    broken += 1  # the mutant could not be tested: a problem, never a kill
                elif result.test_outcome == TestOutcome.SURVIVED:
                    survived += 1
                    m = item.mutations[0]
                    alive.append((m.start_pos[0], m.operator_name, m.occurrence, item.job_id,
                                  str(getattr(m, "definition_name", "") or "")))
                else:
                    killed += 1
    done = killed + survived
    explained = []
    for line, operator, occurrence, job, function in sorted(alive):
        original = lines[line - 1].strip()
        mutated = mutated_line(source, operator, occurrence, line)
        explained.append((line, operator, job, original, mutated,
                          reasons.get((function, operator, original, mutated))))
    equivalent = sum(1 for e in explained if e[-1])
    score = f"{100.0 * killed / done:.1f} %" if done else "n/a"
    print(f"{module}: {killed} killed / {done} run ({score}); {equivalent} of the "
          f"{survived} alive argued equivalent ({EQUIVALENT.name}), {survived - equivalent} not; "
          f"{pending} pending, {broken} not testable")
    print(f"  kernels: {', '.join(n for _, _, n in kernel_lines(Path(module)))}")
    for line, operator, job, original, mutated, reason in explained:
        status = "equivalent" if reason else "ALIVE"
        print(f"  {status:10s} line {line:5d} [{job[:8]}] {operator.split('/')[-1]}: "
              f"{original[:60]}  ->  {mutated[:60]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", required=True, help="module whose numba kernels to mutate")
    parser.add_argument("--tests", nargs="+", required=True, help="test files that must kill")
    parser.add_argument("--pytest-args", default="",
                        help='more pytest arguments, e.g. \'-k "not mobilenetv2"\'')
    parser.add_argument("--workers", type=int, default=1, help="copies run side by side")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="copies and sessions (default .mutation/<module stem>)")
    parser.add_argument("--report", action="store_true", help="print the score, run nothing")
    parser.add_argument("--recheck", action="store_true",
                        help="run the surviving mutants again (after adding tests)")
    args = parser.parse_args()
    if not Path(args.module).is_file():
        parser.error(f"--module {args.module}: no such file (run from the repository root)")
    workdir = (args.workdir or Path(".mutation") / Path(args.module).stem).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    lock = workdir / "running.pid"
    if not args.report:
        # one run at a time: a second one would write the original module over the first one's
        # mutants while their tests run (and report them as survivors)
        if lock.exists() and Path(f"/proc/{lock.read_text().strip()}").exists():
            sys.exit(f"a run is going on in {workdir} (pid {lock.read_text().strip()}); "
                     f"--report reads its results")
        lock.write_text(str(os.getpid()))
    sessions = prepare(args, workdir)
    if args.recheck:
        for session in sessions:  # survivors run again, e.g. against tests added since
            with sqlite3.connect(session) as db:
                db.execute("delete from work_results where test_outcome = 'SURVIVED'")
    if not args.report:
        # No bytecode anywhere the tests could read it: a mutant written in the same second as
        # the original, with the same size, would otherwise load the original's cached .pyc
        # (Python checks only mtime and size) and pass for a survivor.
        empty = workdir / "no-pycache"
        shutil.rmtree(empty, ignore_errors=True)
        empty.mkdir()
        env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONDONTWRITEBYTECODE="1",
                   PYTHONPYCACHEPREFIX=str(empty))
        runs = [subprocess.Popen([sys.executable, "-m", "cosmic_ray.cli", "exec",
                                  str((workdir / f"config{w}.toml").resolve()),
                                  str(s.resolve())], cwd=workdir / f"w{w}", env=env)
                for w, s in enumerate(sessions)]
        for run in runs:
            run.wait()
        lock.unlink(missing_ok=True)
    report(sessions, args.module)


if __name__ == "__main__":
    main()
