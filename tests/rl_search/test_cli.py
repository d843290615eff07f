"""The ``codesign`` command line: output, JSON, and clean failures on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hwsim.ir import zoo
from rl_search.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_workloads_list_names_every_zoo_model(capsys):
    code, out, _ = run(capsys, "workloads", "list")
    assert code == 0
    for name in zoo.names():
        assert name in out
    code, out, _ = run(capsys, "workloads", "list", "--json")
    entries = json.loads(out)
    assert {e["name"] for e in entries} == set(zoo.names())
    r18 = next(e for e in entries if e["name"] == "resnet18")
    assert r18["layers"] == 21 and r18["macs"] == zoo.get("resnet18").macs


def test_workloads_show_table_and_json(capsys):
    code, out, _ = run(capsys, "workloads", "show", "resnet18")
    assert code == 0
    assert "12,544" in out and "layer4.1.conv2" in out and "1,814,073,344 MACs" in out
    code, out, _ = run(capsys, "workloads", "show", "resnet18", "--json")
    data = json.loads(out)
    gemms = [(g["m"], g["k"], g["n"]) for layer in data["layers"] for g in layer["gemms"]]
    assert gemms[0] == (12544, 147, 64) and gemms[-1] == (1, 512, 1000) and len(gemms) == 21
    assert data["layers"][7]["name"] == "layer2.0.downsample.0"


def test_workloads_show_params(capsys):
    code, out, _ = run(capsys, "workloads", "show", "lstm-ucf", "--param", "variant=tt", "--json")
    assert code == 0
    kinds = [layer["kind"] for layer in json.loads(out)["layers"]]
    assert "tt_linear" in kinds


def test_workloads_show_toml_file(capsys, tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text('[workload]\nname = "tiny"\n\n[[layers]]\nkind = "linear"\nname = "fc"\n'
                    "in_features = 64\nout_features = 10\n")
    code, out, _ = run(capsys, "workloads", "show", str(path))
    assert code == 0 and "tiny" in out and "640" in out


def test_hardware_list_and_show(capsys):
    code, out, _ = run(capsys, "hardware", "list")
    assert code == 0 and "zcu102" in out and "n3h-pynq-z2" in out
    code, out, _ = run(capsys, "hardware", "show", "zcu102", "--json")
    data = json.loads(out)
    assert data["fpga"]["lut"] == 274_080 and data["fpga"]["dsp"] == 2_520
    code, out, _ = run(capsys, "hardware", "show", "pynq-z2")
    assert "53,200" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("workloads", "show", "resnet19"), "known: "),
        (("hardware", "show", "zcu999"), "zcu102"),
        (("workloads", "show", "resnet18", "--param", "depth"), "--param expects KEY=VALUE"),
        (("workloads", "show", "mixtral-8x7b", "--param", "bogus=1"), "bogus"),
    ],
)
def test_bad_names_exit_nonzero_with_message(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert code == 2 and needle in err and "Traceback" not in err


def test_bad_preset_file_lists_every_problem_without_traceback(tmp_path):
    path = tmp_path / "board.toml"
    path.write_text('[preset]\nname = "board"\n\n[fpga]\npart = "x"\nlut = 0\nff = "many"\n'
                    "dsp = -4\nbram36 = 10\ncolour = 1\n")
    proc = subprocess.run([sys.executable, "-m", "rl_search.cli", "hardware", "show", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    for key in ("lut", "ff", "dsp", "colour"):
        assert f"[fpga] {key}" in proc.stderr, proc.stderr
    assert "board.toml" in proc.stderr


def test_explore_with_no_options_finds_a_feasible_design(tmp_path, monkeypatch):
    """The defaults (ResNet-18, n3h-zcu102, n3h space, genetic search, 1,000 evaluations, a
    budget of one point of top-1 under the qat prior) find a feasible design: a new user's
    first command is not a dead end."""
    monkeypatch.chdir(tmp_path)
    assert main(["explore", "--no-progress"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["feasible"] > 0 and (run / "best.toml").exists()


@pytest.mark.parametrize(("argv", "needle"), [
    (["--out", "afile"], "is an existing file"),
    (["--seed", "-1"], "seed must be in [0, 2**32)"),
    (["--oracle", "os:getcwd"], "calling it with the workload failed"),
    (["--oracle", "json:dumps"], "calling it with the workload failed"),
    (["--searcher", "ppo", "--searcher-option", "n_steps=1"], "stable-baselines3 rejected"),
    (["--oracle", "prior:int8"], "unknown prior regime 'int8'"),
    (["--max-accuracy-drop", "150"], "it is in points, so it must be in [0, 100]"),
    (["--oracle", "os:getcwd", "--max-accuracy-drop", "2"], "in fraction, so it must be in"),
])
def test_bad_run_options_are_refused_with_a_message(capsys, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    code = main(["explore", "--budget", "10", "--no-progress", "--out", "run", *argv])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err


def test_an_oracle_that_is_not_an_oracle_is_named(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fake_oracle.py").write_text("def make(workload):\n    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code = main(["explore", "--budget", "10", "--no-progress", "--oracle", "fake_oracle:make"])
    err = capsys.readouterr().err
    assert code == 2 and "not an accuracy oracle" in err


def test_accuracy_budget_is_in_top1_points_for_the_prior(capsys, tmp_path, monkeypatch):
    """``--max-accuracy-drop 2`` with the prior is two points of top-1 (0.02 in the run's
    config), every output names the regime, and the report prints points."""
    monkeypatch.chdir(tmp_path)
    code = main(["explore", "--budget", "40", "--no-progress", "--out", "run",
                 "--oracle", "prior:ptq", "--max-accuracy-drop", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "ptq regime" in out and "points of top-1" in out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["max_accuracy_drop"] == 0.02 and config["oracle"] == "prior:ptq"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["accuracy"]["regime"] == "ptq"
    assert summary["accuracy"]["command_line_drop_unit"] == "points"
    assert main(["explore", "--resume", "run", "--no-progress", "--max-accuracy-drop", "2"]) == 0
    capsys.readouterr()
    assert main(["report", "run"]) == 0
    report = capsys.readouterr().out
    assert "max accuracy drop 2.00 points of top-1" in report and "drop pts" in report
    assert "ptq regime" in report
