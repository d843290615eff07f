"""Sweeps (studies): the grid and its cell names, local and Ray backends giving the same run
folders, resume cell by cell, failing cells, bad sweep files, the study report and the CLI
functions."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
from pathlib import Path

import pytest

from hwsim.errors import CodesignError
from rl_search.cli_sweep import add_parser, cmd_report_study
from rl_search.runs.explore import load_run
from rl_search.runs.results import best_record
from rl_search.runs.study import report_study
from rl_search.runs.sweep import load_sweep, run_sweep

SWEEP = """\
[grid]
workload = "resnet20"
target = "n3h-zcu102"
space = "haq"
searcher = ["random", "genetic"]
seed = [0, 1]
budget = 40
"""
NAMES = ["random__s0", "random__s1", "genetic__s0", "genetic__s1"]

# timing.json records how long this execution took and is the only file that differs between
# two executions of a cell; after a resume, summary.json also counts what this session replayed.
TIMING_FILE = "timing.json"
SESSION_KEYS = ("replayed", "evaluated_this_session")


def folder_files(root: Path, ignore: tuple[str, ...] = ()) -> dict[str, object]:
    """Every file under ``root`` but timing.json, by relative path: its bytes, or, when
    ``ignore`` names keys, summary.json parsed without them."""
    out: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != TIMING_FILE:
            rel = str(path.relative_to(root))
            if path.name == "summary.json" and ignore:
                data = json.loads(path.read_text())
                out[rel] = {k: v for k, v in data.items() if k not in ignore}
            else:
                out[rel] = path.read_bytes()
    return out


def write_sweep(path: Path, text: str = SWEEP) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    out = root / "local"
    result = run_sweep(write_sweep(root / "grid.toml"), out, progress=False)
    assert [c.name for c in result.cells] == NAMES
    assert [c.status for c in result.cells] == ["complete"] * 4
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codesign")
    add_parser(p.add_subparsers(dest="command", required=True))
    return p


# ------------------------------------------------------------------------------- the grid


def test_cells_are_the_product_with_seeds_fastest_and_names_from_varying_keys(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path / "s.toml", """\
[grid]
workload = ["resnet20", "resnet18"]
target = ["n3h-zcu102", "table:/x/y.table", "table:/z/y.table"]
searcher = "random"
seed = [0, 1]
max_accuracy_drop = [0.01, "none"]
[run]
searcher_options = {}
latency_budget_ms = 3
"""))
    cells = sweep.cells()
    assert len(cells) == 2 * 3 * 2 * 2
    assert [c.config.seed for c in cells[:4]] == [0, 1, 0, 1]
    assert cells[0].name == "resnet20__n3h-zcu102__drop0.01__s0"
    assert cells[3].name == "resnet20__n3h-zcu102__dropnone__s1"
    assert cells[3].config.max_accuracy_drop is None
    assert cells[0].config.latency_budget_ms == 3.0
    names = [c.name for c in cells]
    assert len(set(names)) == len(names)
    assert all("/" not in n and ":" not in n and n == n.strip(".-") for n in names)
    table_names = {n.split("__")[1] for n in names if "table" in n}
    assert len(table_names) == 2 and all(t.startswith("table-y.table") for t in table_names)
    assert cells[0].group == "resnet20__n3h-zcu102__drop0.01"
    # a one-cell sweep still has a name
    one = load_sweep(write_sweep(tmp_path / "one.toml", "[grid]\nworkload = 'resnet20'\n"))
    assert [c.name for c in one.cells()] == ["run"]


def test_bad_sweep_files_name_the_file_and_every_key(tmp_path):
    path = write_sweep(tmp_path / "bad.toml", """\
[grid]
workload = "resnet20"
searcher = []
seed = [0, "one"]
colour = "red"
budget = 40
[run]
budget = 50
bogus = 1
space_options = 3
""")
    with pytest.raises(CodesignError) as exc:
        load_sweep(path)
    msg = str(exc.value)
    assert str(path) in msg
    for needle in ("searcher is an empty list", "[grid] seed must be an integer, got 'one'",
                   "unknown key 'colour'", "budget is in both [grid]", "unknown key 'bogus'",
                   "space_options must be a table, got 3"):
        assert needle in msg, needle
    # a value RunConfig refuses is mapped to the cells it spoils
    path = write_sweep(tmp_path / "cells.toml", """\
[grid]
oracle = ["prior", "prior:nonsense"]
budget = [40, 0]
""")
    with pytest.raises(CodesignError) as exc:
        load_sweep(path)
    msg = str(exc.value)
    assert str(path) in msg
    assert "cells b0__prior, b0__prior-nonsense: run config budget must be >= 1" in msg
    assert "cell b40__prior-nonsense:" in msg
    with pytest.raises(CodesignError, match="not valid TOML"):
        load_sweep(write_sweep(tmp_path / "syntax.toml", "[grid\n"))
    with pytest.raises(CodesignError, match="no such sweep file"):
        load_sweep(tmp_path / "missing.toml")


# ---------------------------------------------------------------------------- the study


def test_study_folder_layout(study):
    assert (study / "sweep.toml").read_text() == SWEEP
    data = json.loads((study / "study.json").read_text())
    assert [c["name"] for c in data["cells"]] == NAMES
    assert {c["status"] for c in data["cells"]} == {"complete"}
    for name in NAMES:
        run = study / "cells" / name
        assert json.loads((run / "summary.json").read_text())["status"] == "complete"
        config, records = load_run(run)
        assert config.to_json() == next(c["config"] for c in data["cells"] if c["name"] == name)
        assert len(records) == 40


def test_a_second_run_skips_complete_cells_and_refuses_a_used_folder(study, tmp_path):
    copy = shutil.copytree(study, tmp_path / "copy")
    before = {p: p.stat().st_mtime_ns for p in (copy / "cells").rglob("*")}
    result = run_sweep(None, copy, resume=True, progress=False)
    assert result.ran == 0 and len(result.complete) == 4
    assert {p: p.stat().st_mtime_ns for p in (copy / "cells").rglob("*")} == before
    with pytest.raises(CodesignError, match="already holds a study"):
        run_sweep(copy / "sweep.toml", copy, progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x").write_text("x")
    with pytest.raises(CodesignError, match="not an empty folder or a study"):
        run_sweep(copy / "sweep.toml", tmp_path / "junk", progress=False)
    with pytest.raises(CodesignError, match="not a study folder"):
        run_sweep(None, tmp_path / "junk", resume=True, progress=False)


def test_resume_completes_a_truncated_cell_with_the_same_bytes(study, tmp_path):
    copy = shutil.copytree(study, tmp_path / "copy")
    victim = copy / "cells" / "genetic__s0"
    (victim / "summary.json").unlink()
    log = victim / "evaluations.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[: len(lines) // 2]))
    others = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (copy / "cells").rglob("*")
              if p.is_file() and victim not in p.parents}
    result = run_sweep(None, copy, resume=True, progress=False)
    assert result.ran == 1 and len(result.complete) == 4
    assert folder_files(victim, SESSION_KEYS) == folder_files(study / "cells" / "genetic__s0",
                                                              SESSION_KEYS)
    summary = json.loads((victim / "summary.json").read_text())
    assert summary["replayed"] == len(lines) // 2
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in others} == others


def test_a_failing_cell_is_recorded_and_the_others_complete(tmp_path):
    sweep = write_sweep(tmp_path / "fail.toml", """\
[grid]
workload = ["resnet20", "no-such-network"]
target = "n3h-zcu102"
space = "haq"
searcher = "random"
budget = 20
""")
    out = tmp_path / "fail"
    result = run_sweep(sweep, out, progress=False)
    assert [c.status for c in result.cells] == ["complete", "failed"]
    assert "no-such-network" in result.failed[0].error
    data = json.loads((out / "study.json").read_text())
    assert data["cells"][1]["status"] == "failed"
    assert "no-such-network" in data["cells"][1]["error"]
    report = report_study(out)
    assert [c["name"] for c in report["failed"]] == ["no-such-network"]
    # resume retries the failed cell (and fails again), leaving the good one alone
    again = run_sweep(None, out, resume=True, progress=False)
    assert again.ran == 1 and [c.status for c in again.cells] == ["complete", "failed"]


# ---------------------------------------------------------------------------- the report


def test_report_groups_by_seed(study, capsys):
    report = report_study(study)
    groups = {g["group"]: g for g in report["groups"]}
    assert list(groups) == ["random", "genetic"]
    for searcher, g in groups.items():
        lats, drops = [], []
        for seed in (0, 1):
            _, records = load_run(study / "cells" / f"{searcher}__s{seed}")
            best = best_record(records)
            lats.append(best["latency_ms"])
            drops.append(best["accuracy_drop"])
        assert (g["seeds_done"], g["seeds_total"], g["evaluations"]) == (2, 2, 80)
        assert g["best_latency_ms_mean"] == pytest.approx(statistics.mean(lats), rel=1e-12)
        assert g["best_latency_ms_std"] == pytest.approx(statistics.stdev(lats), rel=1e-12)
        assert g["best_latency_ms_min"] == min(lats)
        assert g["best_accuracy_drop_mean"] == pytest.approx(statistics.mean(drops), rel=1e-12)
    with open(study / "study.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["group"] for r in rows] == ["random", "genetic"]
    assert float(rows[0]["best_latency_ms_mean"]) == pytest.approx(
        groups["random"]["best_latency_ms_mean"])
    assert (study / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cmd_report_study(study) == 0
    out = capsys.readouterr().out
    assert "4 complete" in out and "genetic" in out and "2/2" in out


# ---------------------------------------------------------------------------------- CLI


def test_cli_sweep_and_its_errors(tmp_path, capsys):
    p = parser()
    sweep = write_sweep(tmp_path / "s.toml", SWEEP.replace("seed = [0, 1]", "seed = 0")
                        .replace('["random", "genetic"]', '"random"').replace("40", "10"))
    args = p.parse_args(["sweep", str(sweep), "--out", str(tmp_path / "st"), "--no-progress"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "1 cells" in out and "1 complete" in out and f"codesign report {tmp_path / 'st'}" in out
    args = p.parse_args(["sweep", "--resume", str(tmp_path / "st"), "--no-progress"])
    assert args.func(args) == 0
    assert "ran 0 cells" in capsys.readouterr().out
    for argv, match in [
        (["sweep", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "x")],
         "no such sweep file"),
        (["sweep", "--resume", str(tmp_path)], "not a study folder"),
        (["sweep", str(sweep), "--out", str(tmp_path)], "not an empty folder or a study"),
        (["sweep", str(sweep), "--out", str(tmp_path / "st")], "already holds a study"),
        (["sweep", str(sweep)], "needs --out"),
    ]:
        args = p.parse_args(argv)
        with pytest.raises(CodesignError, match=match):
            args.func(args)


# ---------------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    from rl_search.runs.ray_backend import ensure_ray

    started = not ray.is_initialized()
    ensure_ray(num_cpus=2)
    yield ray
    if started:
        ray.shutdown()


def test_ray_backend_gives_the_local_run_folders(study, ray_cluster, tmp_path):
    out = tmp_path / "ray"
    result = run_sweep(study / "sweep.toml", out, backend="ray", progress=False)
    assert [c.status for c in result.cells] == ["complete"] * 4
    assert json.loads((out / "study.json").read_text())["cells"] == \
        json.loads((study / "study.json").read_text())["cells"]
    # every file of every cell, byte for byte, PNG plots and summary.json included; only
    # timing.json (this execution's wall time) is left out
    local, remote = folder_files(study / "cells"), folder_files(out / "cells")
    assert sorted(local) == sorted(remote)
    assert len(local) == 4 * 8  # config, log, pareto.csv, best.toml, summary, 3 plots
    for rel in local:
        assert local[rel] == remote[rel], rel


def test_the_documented_sweep_file_loads(tmp_path):
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "file-formats.md").read_text()
    section = text[text.index("## Sweep files"):]
    example = re.search(r"complete example:\n\n```toml\n(.*?)```", section, re.S)
    assert example is not None
    path = tmp_path / "sweep.toml"
    path.write_text(example.group(1))
    sweep = load_sweep(path)
    assert [c.name for c in sweep.cells()] == ["random__s0", "random__s1", "genetic__s0",
                                               "genetic__s1"]
