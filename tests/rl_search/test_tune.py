"""Ray Tune over an agent's hyper-parameters on a local Ray: every trial reported, the best one
saved with its sidecar and loadable, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwsim.errors import CodesignError

pytest.importorskip("ray.tune")

from rl_search.cli import main
from rl_search.train import propose
from rl_search.tune import tune_agent

PROBLEM = {"workload": "resnet20", "target": "n3h-zcu102", "space": "haq"}


@pytest.mark.slow
def test_tune_saves_the_best_trial_and_reports_them_all(tmp_path: Path):
    out = tmp_path / "agent.zip"
    space = {"learning_rate": ("loguniform", 1e-4, 1e-2), "n_steps": ("choice", [16, 32])}
    summary = tune_agent("a2c", PROBLEM, 32, n_trials=3, seed=0, out_path=out, space=space,
                         cpus=2)
    trials = summary["trials"]
    assert len(trials) == 3 and all("reward" in t for t in trials)
    assert summary["best"]["reward"] == max(t["reward"] for t in trials)
    for t in trials:
        assert 1e-4 <= t["config"]["learning_rate"] <= 1e-2 and t["config"]["n_steps"] in (16, 32)
    assert json.loads(Path(f"{out}.tune.json").read_text())["best"] == summary["best"]
    design = propose(out, "resnet20", "n3h-zcu102")[0]
    assert design["reward"] == pytest.approx(summary["best"]["reward"])


def test_tune_errors_name_the_problem(tmp_path: Path, capsys):
    with pytest.raises(CodesignError, match="not \\(loguniform"):
        tune_agent("a2c", PROBLEM, 8, n_trials=1, space={"learning_rate": ("normal", 0, 1)},
                   out_path=tmp_path / "a.zip", cpus=1)
    with pytest.raises(CodesignError, match="n_trials must be >= 1"):
        tune_agent("a2c", PROBLEM, 8, n_trials=0, out_path=tmp_path / "a.zip")
    assert main(["train", "--workload", "resnet20", "--space", "haq", "--tune", "n_trials=2",
                 "--out", str(tmp_path / "b.zip")]) == 2
    assert "add --backend ray" in capsys.readouterr().err
    assert main(["train", "--workload", "resnet20", "--space", "haq", "--backend", "ray",
                 "--tune", "trials=2", "--out", str(tmp_path / "b.zip")]) == 2
    assert "n_trials=N" in capsys.readouterr().err
