"""The LSTM-accelerator target through the generic interface: evaluate and evaluate_batch agree,
ranks move the cost as the contraction plan says, the CLI's lstm commands, and a rank search on
FDHT that lands on the exhaustive Pareto front of accuracy vs frames/s."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from cost_models import Design, DesignError, evaluate, get_target
from cost_models.lstm import LstmAcceleratorTarget
from hwsim.ir import zoo
from hwsim.lstm.plan import plan_layer
from hwsim.spec import load_hardware
from rl_search.cli import main
from rl_search.factory import default_oracle
from rl_search.runs.config import RunConfig
from rl_search.runs.explore import explore, load_run
from rl_search.runs.results import pareto_front
from rl_search.spaces import make_space


def _design(workload, rank=None):
    n = len(workload.layers)
    return Design(workload.layer_names, (16,) * n, (16,) * n, rank=rank)


@pytest.mark.parametrize(("workload", "target"),
                         [("lstm-ucf-ht", "fdht"), ("lstm-ucf-tt", "tie"),
                          ("lstm-youtube-ht", "tie")])
def test_presets_build_the_lstm_target_and_evaluate(workload, target):
    tgt = get_target(target)
    assert isinstance(tgt, LstmAcceleratorTarget)
    wl = zoo.get(workload)
    report = evaluate(wl, target)
    assert report.feasible and report.total_cycles > 0
    assert [layer.name for layer in report.layers] == list(wl.layer_names)
    assert report.energy_pj is not None and report.energy_pj > 0
    cycle = evaluate(wl, target, fidelity="cycle")
    assert cycle.total_cycles >= report.total_cycles


def test_batch_equals_single_evaluations_over_random_rank_designs():
    wl = zoo.get("lstm-ucf-ht")
    tgt = get_target("fdht")
    rng = np.random.default_rng(0)
    designs = [_design(wl, (int(r1) or None, int(r2) or None, None))
               for r1, r2 in zip(rng.integers(0, 9, 12), rng.choice([0, 16, 64, 128], 12),
                                 strict=True)]
    batch = tgt.evaluate_batch(wl, tgt.design_batch(designs))
    for d, cycles, energy in zip(designs, batch.cycles, batch.details["energy_uj"], strict=True):
        report = tgt.evaluate(wl, d)
        assert cycles == report.total_cycles
        assert energy == pytest.approx(report.energy_pj / 1e6)


def test_ht_rank_moves_cycles_as_the_optimal_plan_macs():
    wl = zoo.get("lstm-ucf-ht")
    cycles = []
    for r in range(1, 9):
        report = evaluate(wl, "fdht", _design(wl, (r, None, None)))
        layer = report.layers[0]
        plan = plan_layer(wl.layers[0].__class__(layer.name, (8, 20, 20, 18), (16, 4, 4, 4), r))
        # per stage: one cycle per block of 16 rows, inner position and group of 16 columns,
        # unless the block's result writes (one column of 16 a cycle) take longer
        assert layer.cycles == sum(max(-(-s.rows // 16) * s.inner * -(-s.cols // 16),
                                       -(-s.rows // 16) * s.cols) for s in plan.stages)
        cycles.append(layer.cycles)
    assert cycles == sorted(cycles) and cycles[0] < cycles[-1]


def test_rank_space_offers_tensor_ranks_one_by_one():
    wl = zoo.get("lstm-ucf-ht")
    space = make_space("rank", wl, get_target("fdht"))
    knob = next(k for k in space.knobs if k.name == "lstm.w_ih.rank")
    assert knob.choices == (1, 2, 3, 4, 5, 6, 7, 8, None)


def test_bits_beyond_the_datapath_are_refused():
    wl = zoo.get("lstm-ucf-ht")
    hw = load_hardware("fdht")
    narrow = dataclasses.replace(hw, lstm_accelerator=dataclasses.replace(
        hw.lstm_accelerator, bits=8))
    with pytest.raises(DesignError, match=r"runs 1..8 bits"):
        evaluate(wl, narrow, _design(wl))
    assert evaluate(wl, narrow, Design(wl.layer_names, (8,) * 3, (8,) * 3)).feasible


# --- the CLI --------------------------------------------------------------------------------------

def test_lstm_plan_prints_the_optimal_order(capsys):
    assert main(["lstm", "plan", "--workload", "lstm-ucf-ht"]) == 0
    out = capsys.readouterr().out
    assert "order optimal: 1,855,488 MACs in 4 stages" in out
    assert "order leaf-first: 15,466,496 MACs" in out
    assert main(["lstm", "plan", "--workload", "lstm-ucf-tt", "--order", "tie", "--json"]) == 0
    plans = json.loads(capsys.readouterr().out)
    assert plans[0]["plans"][0]["macs"] == 1_937_408


def test_lstm_simulate_reports_conflicts_and_plots(capsys, tmp_path: Path):
    png = tmp_path / "banks.png"
    assert main(["lstm", "simulate", "--workload", "lstm-ucf-tt", "--accelerator", "fdht",
                 "--mapping", "interleave", "--plot", str(png), "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out[:out.rindex("}") + 1])
    assert data["summary"]["conflict_cycles"] > 0
    assert png.stat().st_size > 10_000
    assert main(["lstm", "simulate", "--workload", "lstm-youtube-ht"]) == 0
    assert "0 conflict cycles" in capsys.readouterr().out


def test_lstm_compare_prints_both_workloads_beside_the_published_ratios(capsys):
    assert main(["lstm", "compare", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["workload"] for r in results] == ["lstm-ucf", "lstm-youtube"]
    for r in results:
        thr = r["ratios"]["throughput"]
        assert thr["modelled"] == pytest.approx(r["fdht"]["frames_per_s"]
                                                / r["tie"]["frames_per_s"])
        assert thr["published"] in (1.9, 2.5) and thr["why"]
        assert r["fdht"]["conflict_cycles"] == 0
    assert main(["lstm", "compare", "--workload", "lstm-ucf"]) == 0
    out = capsys.readouterr().out
    assert "published" in out and "1.90x" in out and "Why" in out


def test_lstm_commands_name_bad_input(capsys):
    assert main(["lstm", "plan", "--workload", "resnet18"]) == 2
    assert "no TT or HT layer" in capsys.readouterr().err
    assert main(["lstm", "simulate", "--workload", "lstm-ucf-ht", "--accelerator",
                 "n3h-zcu102"]) == 2
    assert "no [lstm_accelerator] section" in capsys.readouterr().err
    assert main(["lstm", "simulate", "--workload", "lstm-ucf-ht", "--plot", "x.png",
                 "--stage", "9"]) == 2
    assert "--stage 9" in capsys.readouterr().err


# --- the rank search ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def standin_cache(tmp_path_factory: pytest.TempPathFactory):
    """One cache of trained digits stand-ins for this module's searches."""
    path = tmp_path_factory.mktemp("standins")
    old = os.environ.get("CODESIGN_CACHE")
    os.environ["CODESIGN_CACHE"] = str(path)
    yield path
    if old is None:
        del os.environ["CODESIGN_CACHE"]
    else:
        os.environ["CODESIGN_CACHE"] = old


def test_tensor_workloads_default_to_the_tensor_lstm_oracle(standin_cache, tmp_path: Path,
                                                            capsys):
    assert default_oracle(zoo.get("lstm-youtube-tt")) == "tensor-lstm"
    assert default_oracle(zoo.get("lstm-ucf")) == default_oracle(zoo.get("resnet18")) == "prior"
    assert main(["explore", "--workload", "lstm-ucf-tt", "--target", "tie", "--space", "rank",
                 "--budget", "20", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert RunConfig.load(tmp_path / "run" / "config.json").oracle == "tensor-lstm"
    assert "oracle tensor-lstm" in capsys.readouterr().out


def test_genetic_rank_search_on_fdht_lands_on_the_exhaustive_pareto_front(standin_cache,
                                                                          tmp_path: Path):
    common = {"workload": "lstm-ucf-ht", "target": "fdht", "space": "rank",
              "oracle": "tensor-lstm", "max_accuracy_drop": 0.03}
    explore(RunConfig(searcher="exhaustive", budget=200, **common), tmp_path / "all",
            progress=False)
    explore(RunConfig(searcher="genetic", budget=120, **common), tmp_path / "ga",
            progress=False)
    _, every = load_run(tmp_path / "all")
    _, found = load_run(tmp_path / "ga")
    assert len({tuple(r["x"]) for r in every}) == 9 * 16  # the whole space: 9 x 16 points
    true_front = {(r["latency_ms"], r["accuracy"]) for r in pareto_front(every)}
    ga_front = {(r["latency_ms"], r["accuracy"]) for r in pareto_front(found)}
    assert ga_front & true_front
    feasible = [r["latency_ms"] for r in every if r["feasible"]]
    assert min(r["latency_ms"] for r in found if r["feasible"]) == min(feasible)


@pytest.mark.parametrize("env_id", ["codesign/LowRank-v0", "codesign/MixedPrecision-v0"])
def test_env_presets_run_on_the_fdht_target(env_id, standin_cache, env_episode):
    info = env_episode(env_id, workload="lstm-ucf-ht", target="fdht")
    assert info["latency_ms"] > 0 and 0.0 <= info["accuracy"] <= 1.0
