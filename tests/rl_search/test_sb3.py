"""SB3 searchers behind the Searcher interface, the registry, saving agents and proposing
designs for new workloads, and ``codesign train``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hwsim.errors import CodesignError
from rl_search.cli import main
from rl_search.factory import make_problem
from rl_search.problem import Problem
from rl_search.searchers.base import EvaluationBudget, Searcher
from rl_search.searchers.registry import SB3_NAMES, SEARCHERS, available, make_searcher
from rl_search.searchers.sb3 import HaqDDPG, PPOSearcher, Sb3Searcher
from rl_search.train import propose, sidecar_path, train_agent

# Small enough for CI: ResNet-20's rank space has 14 knobs, so an episode is 14 steps.
SMALL: dict[str, dict[str, Any]] = {
    "ppo": {"n_steps": 56, "batch_size": 28, "n_epochs": 2},
    "a2c": {},
    "sac": {"learning_starts": 56, "batch_size": 32},
    "td3": {"learning_starts": 56, "batch_size": 32},
    "ddpg": {"learning_starts": 56, "batch_size": 32},
    "ddpg-haq": {"warmup_episodes": 4},
}
BUDGET = 12


def _problem(space: str = "rank") -> Problem:
    return make_problem("resnet20", "n3h-zcu102", space)


def _search(name: str, seed: int = 0, budget: int = BUDGET,
            **options: Any) -> tuple[Searcher, EvaluationBudget, Problem]:
    problem = _problem()
    result = EvaluationBudget(problem, budget)
    searcher = make_searcher(name, seed, **{**SMALL[name], **options})
    searcher.run(problem, result)
    return searcher, result, problem


# ---------------------------------------------------------------------------- registry


def test_registry_names_every_searcher_and_imports_lazily() -> None:
    assert list(SEARCHERS) == ["random", "genetic", "greedy", "exhaustive", *SB3_NAMES,
                              "ppo-mutate"]
    assert SEARCHERS["ppo"] is PPOSearcher
    assert set(available()) == set(SEARCHERS)
    assert all(issubclass(SEARCHERS[name], Searcher) for name in SEARCHERS)
    assert "nope" not in SEARCHERS
    with pytest.raises(CodesignError, match="unknown searcher 'nope'; known: random"):
        make_searcher("nope")


def test_bad_sb3_options_are_refused() -> None:
    with pytest.raises(CodesignError, match="continuous actions"):
        make_searcher("sac", action="discrete")
    for name, options, match in (("ppo", {"n_step": 8}, "n_step"),
                                 ("ppo", {"noise_sigma": 0.1}, "noise_sigma"),
                                 ("td3", {"warmup": 3}, "warmup")):
        with pytest.raises(CodesignError, match=match):
            make_searcher(name, **options)
    searcher = make_searcher("td3", noise_sigma=0.2, warmup_episodes=1)
    assert isinstance(searcher, Sb3Searcher)
    model = searcher.build_model(searcher.make_env(_problem()), 100)
    assert model.learning_starts == 14
    assert model.action_noise._sigma == pytest.approx([0.2])  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- training


@pytest.mark.slow
@pytest.mark.parametrize("name", SB3_NAMES)
def test_each_algorithm_spends_the_budget_exactly(name: str) -> None:
    searcher, result, problem = _search(name)
    assert result.used == BUDGET == problem.evaluations
    assert len(result.history) == BUDGET
    assert result.best_x is not None and np.isfinite(result.best_reward)
    assert searcher.model is not None and searcher.model.num_timesteps == BUDGET * 14
    assert not torch.are_deterministic_algorithms_enabled()  # the global flag is restored


@pytest.mark.slow
def test_discrete_ppo_and_oneshot_forms_train() -> None:
    for options in ({"action": "discrete"}, {"form": "oneshot", "n_steps": 8, "batch_size": 8}):
        _, result, _ = _search("ppo", **options)
        assert result.used == BUDGET


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ppo", "ddpg-haq"])
def test_same_seed_same_search(name: str) -> None:
    _, a, _ = _search(name, seed=3)
    _, b, _ = _search(name, seed=3)
    assert a.history == b.history
    assert a.best_x is not None and b.best_x is not None
    assert np.array_equal(a.best_x, b.best_x)


@pytest.mark.slow
def test_ddpg_haq_preset_has_haqs_settings() -> None:
    searcher, _, _ = _search("ddpg-haq")
    model = searcher.model
    assert isinstance(model, HaqDDPG)
    assert [g["lr"] for g in model.actor.optimizer.param_groups] == [1e-4]
    assert [g["lr"] for g in model.critic.optimizer.param_groups] == [1e-3]
    assert (model.tau, model.gamma, model.batch_size) == (0.01, 1.0, 64)
    assert model.learning_starts == 4 * 14
    hidden = [m.out_features for m in model.actor.mu if isinstance(m, torch.nn.Linear)]
    assert hidden[:2] == [300, 300]
    sigma = model.action_noise._sigma  # type: ignore[union-attr]
    # 12 episodes, 4 of warm-up: decayed after each of the last 8 (the 12th ends the run).
    assert sigma == pytest.approx(np.full(1, 0.99 ** 8))


# ---------------------------------------------------------------------------- save / propose


@pytest.mark.slow
def test_saved_agent_proposes_for_a_new_workload(tmp_path: Path) -> None:
    out = train_agent("a2c", {"workload": "resnet20", "space": "haq",
                              "weight_bits": (2, 4, 8), "act_bits": (2, 4, 8)},
                      120, seed=0, out_path=tmp_path / "agent")
    assert out == tmp_path / "agent.zip" and out.exists()
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["space"] == "haq" and meta["knob_kinds"] == ["act_bits", "weight_bits"]
    assert meta["space_options"] == {"weight_bits": [2, 4, 8], "act_bits": [2, 4, 8]}
    designs = propose(out, "resnet18", n=3)
    assert len(designs) == 3
    for d in designs:
        assert len(d["design"].weight_bits) == 21  # ResNet-18's layers, not ResNet-20's
        assert set(d["design"].weight_bits) <= {2, 4, 8}
        assert d["latency_ms"] > 0 and 0 <= d["accuracy"] <= 1
    assert propose(out, "resnet18")[0]["x"] == designs[0]["x"]  # deterministic first rollout
    with pytest.raises(CodesignError, match=r"never saw knob kind\(s\) \['rank'\]"):
        propose(out, "resnet18", space="rank")
    with pytest.raises(CodesignError, match="cannot be changed"):
        propose(out, "resnet18", form="oneshot")


def test_missing_agent_and_sidecar_are_named(tmp_path: Path) -> None:
    with pytest.raises(CodesignError, match="no saved agent"):
        propose(tmp_path / "none.zip", "resnet18")
    (tmp_path / "bare.zip").write_bytes(b"")
    with pytest.raises(CodesignError, match="has no sidecar"):
        propose(tmp_path / "bare.zip", "resnet18")


@pytest.mark.slow
def test_oneshot_agent_refuses_another_workload(tmp_path: Path) -> None:
    out = train_agent("ppo", {"workload": "resnet20", "space": "rank"}, 16, 0,
                      tmp_path / "one.zip", form="oneshot", n_steps=8, batch_size=8)
    assert len(propose(out, "resnet20")) == 1
    with pytest.raises(CodesignError, match="one-shot agent"):
        propose(out, "resnet18")


@pytest.mark.slow
def test_cli_train_and_propose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agent = tmp_path / "agent.zip"
    assert main(["train", "--workload", "resnet20", "--space", "haq", "--algo", "a2c",
                 "--steps", "80", "--out", str(agent), "--weight-bits", "2,4,8"]) == 0
    out = capsys.readouterr().out
    assert f"saved {agent}" in out and "latency ms" in out
    assert main(["train", "--propose", str(agent), "--workload", "resnet18", "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "for resnet18 on n3h-zcu102" in out
    assert len([line for line in out.splitlines() if line[:1] in "01"]) == 2
    assert main(["train", "--propose", str(agent), "--workload", "resnet18",
                 "--space", "n3h"]) == 2
    assert "never saw knob kind" in capsys.readouterr().err
