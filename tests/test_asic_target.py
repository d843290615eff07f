"""The systolic-array target (cost_models.asic) through the generic interface: SCALE-Sim's
compute cycles per layer, dataflow per layer, partial overrides, precision scaling, energy and
area, the area budget, batch == single evaluation, bad input, and search on it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import cost_models as cm
from cost_models.asic import DATAFLOWS, SystolicTarget
from hwsim.asic import analytic as sa
from hwsim.asic import energy
from hwsim.ir import Workload, zoo
from hwsim.ir.layers import Linear
from rl_search.cli import main
from rl_search.factory import make_problem

R18 = zoo.get("resnet18")
R20 = zoo.get("resnet20")
PRESETS = ("systolic-32x32", "tpu-v1-like", "eyeriss-like")


def one_gemm(m: int, n: int, k: int) -> Workload:
    """A workload of one Linear layer lowering to the GEMM ``(m x k) @ (k x n)``."""
    return Workload("one", (Linear("fc", in_features=k, out_features=n, tokens=m),))


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_load_as_systolic_targets_and_fit_their_budget(preset):
    target = cm.get_target(preset)
    assert isinstance(target, SystolicTarget)
    report = cm.evaluate(R18, preset, cm.uniform_design(R18, 8, 8))
    assert report.feasible and report.energy_pj and report.energy_pj > 0
    array = target.array
    area = energy.array_area_mm2(array.rows, array.cols, array.bits, array.bit_fusion,
                                 array.ifmap_sram_kib, array.filter_sram_kib,
                                 array.ofmap_sram_kib)
    assert report.resources["area_mm2"] == pytest.approx(area, abs=1e-4)
    assert area <= array.area_budget_mm2 < 1.1 * area


@pytest.mark.parametrize("flow", DATAFLOWS)
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (197, 384, 1152), (33, 65, 17), (3136, 64, 576)])
def test_layer_compute_cycles_are_scalesims(flow, m, n, k):
    wl = one_gemm(m, n, k)
    design = cm.uniform_design(wl, 8, 8, mapping={"dataflow": flow})
    report = cm.evaluate(wl, "systolic-32x32", design)
    layer = report.layers[0]
    assert layer.mapping["dataflow"] == flow
    assert layer.details["compute_cycles"] == sa.compute_cycles(m, n, k, 32, 32, flow)
    assert layer.cycles == layer.details["compute_cycles"] + layer.details["stall_cycles"]


def test_unset_dataflow_is_the_arrays_own_and_per_layer_dataflow_changes_cycles():
    target = cm.get_target("systolic-32x32")
    base = cm.evaluate(R20, target, cm.uniform_design(R20, 8, 8))
    assert {layer.mapping["dataflow"] for layer in base.layers} == {target.array.dataflow}
    flows = {f: cm.evaluate(R20, target, cm.uniform_design(R20, 8, 8, mapping={"dataflow": f}))
             for f in DATAFLOWS}
    assert flows["os"].total_cycles == base.total_cycles
    assert len({r.total_cycles for r in flows.values()}) == 3


def test_partial_override_keeps_the_presets_other_fields_and_is_reported(capsys):
    design = cm.uniform_design(R20, 8, 8, hardware={"systolic_array": {"rows": 8}})
    report = cm.evaluate(R20, "systolic-32x32", design)
    hw = report.hardware["systolic_array"]
    assert hw["rows"] == 8 and hw["cols"] == 32 and hw["ifmap_sram_kib"] == 64
    assert hw["dram_bytes_per_cycle"] == 10.0 and hw["dataflow"] == "os"
    assert main(["estimate", "--workload", "resnet20", "--target", "systolic-32x32"]) == 0
    out = capsys.readouterr().out
    assert "rows=32" in out and "energy uJ" in out and "DRAM" in out


def test_area_budget_is_a_feasibility_limit():
    design = cm.uniform_design(R20, 8, 8, hardware={"systolic_array": {"rows": 64}})
    report = cm.evaluate(R20, "systolic-32x32", design)
    assert not report.feasible
    assert report.violations[0].startswith("area ") and "> 1.600 mm^2" in report.violations[0]
    batch = cm.get_target("systolic-32x32").evaluate_batch(
        R20, cm.get_target("systolic-32x32").design_batch([design]))
    assert not batch.feasible[0] and batch.violations(0)[0].startswith("area mm^2")


def test_fixed_pes_ignore_narrow_operands_and_take_passes_for_wide_ones():
    wl = one_gemm(196, 256, 1152)
    target = cm.get_target("systolic-32x32")
    w8 = cm.evaluate(wl, target, cm.uniform_design(wl, 8, 8)).layers[0]
    w2 = cm.evaluate(wl, target, cm.uniform_design(wl, 2, 2)).layers[0]
    w16 = cm.evaluate(wl, target, cm.uniform_design(wl, 16, 8)).layers[0]
    assert w2.details["compute_cycles"] == w8.details["compute_cycles"]
    assert w16.details["compute_cycles"] == 2 * w8.details["compute_cycles"]
    assert w2.energy_pj == pytest.approx(w8.energy_pj)  # one PE word per operand either way
    # a fixed PE multiplies at its own width, so the MAC energy is the same
    assert energy.mac_energy_pj(2, 2, False, 8) == energy.mac_energy_pj(8, 8, False, 8)


def test_bit_fusion_shrinks_the_reduction_by_the_fusion_factor():
    wl = one_gemm(196, 256, 1152)
    fused = {"systolic_array": {"bit_fusion": True}}
    target = cm.get_target("systolic-32x32")
    for wb, ab, factor in ((8, 8, 1), (4, 4, 4), (2, 2, 16), (8, 2, 4), (4, 8, 2)):
        layer = cm.evaluate(wl, target, cm.uniform_design(wl, wb, ab, hardware=fused)).layers[0]
        assert layer.details["fusion_factor"] == factor
        assert layer.details["compute_cycles"] == sa.compute_cycles(
            196, 256, math.ceil(1152 / factor), 32, 32, "os")
    w2 = cm.evaluate(wl, target, cm.uniform_design(wl, 2, 2, hardware=fused))
    w8 = cm.evaluate(wl, target, cm.uniform_design(wl, 8, 8, hardware=fused))
    assert w2.energy_pj < w8.energy_pj and w2.latency_ms < w8.latency_ms


def test_low_rank_layers_lower_to_their_gemms():
    wl = one_gemm(196, 256, 1152)
    design = cm.uniform_design(wl, 8, 8).with_changes(rank=(32,))
    report = cm.evaluate(wl, "systolic-32x32", design)
    expected = (sa.compute_cycles(196, 32, 1152, 32, 32, "os")
                + sa.compute_cycles(196, 256, 32, 32, 32, "os"))
    assert report.layers[0].details["compute_cycles"] == expected


@pytest.mark.parametrize("space", ["n3h", "haq", "haq+rank"])
def test_batch_equals_single_evaluations(space):
    problem = make_problem(R20, "systolic-32x32", space, split="choose")
    X = problem.space.random(np.random.default_rng(1), 24)
    ev = problem.evaluate_batch(X)
    target = problem.target
    for i in range(len(X)):
        report = cm.evaluate(R20, target, problem.space.decode(X[i]))
        assert report.latency_ms == pytest.approx(ev.latency_ms[i], rel=1e-12)
        assert report.feasible == bool(ev.fits[i])


@pytest.mark.parametrize("override,field", [
    ({"rows": 0}, "rows"), ({"cols": -4}, "cols"), ({"ifmap_sram_kib": 0}, "ifmap_sram_kib"),
    ({"dataflow": "rs"}, "dataflow"), ({"bits": 3}, "bits"),
    ({"rows": 8192, "filter_sram_kib": 16}, "filter_sram_kib"),
    ({"dram_bytes_per_cycle": float("nan")}, "dram_bytes_per_cycle")])
def test_bad_hardware_overrides_name_the_field(override, field):
    design = cm.uniform_design(R20, 8, 8, hardware={"systolic_array": override})
    with pytest.raises(cm.DesignError, match=field):
        cm.evaluate(R20, "systolic-32x32", design)


def test_bad_batch_columns_and_dataflows_name_the_field():
    target = cm.get_target("systolic-32x32")
    n = len(R20.layers)
    wb = np.full((2, n), 8)
    with pytest.raises(cm.DesignError, match=r"systolic_array\.rows"):
        target.evaluate_batch(R20, cm.DesignBatch(wb, wb, hardware={
            "systolic_array.rows": np.array([32, 0])}))
    with pytest.raises(cm.DesignError, match=r"systolic_array\.bit_fusion"):
        target.evaluate_batch(R20, cm.DesignBatch(wb, wb, hardware={
            "systolic_array.bit_fusion": np.array([1, 2])}))
    with pytest.raises(cm.DesignError, match=r"mapping\.dataflow"):
        target.evaluate_batch(R20, cm.DesignBatch(wb, wb, mapping={
            "dataflow": np.full((2, n), 7.0)}))
    with pytest.raises(cm.DesignError, match="dataflow"):
        cm.evaluate(R20, target, cm.uniform_design(R20, 8, 8, mapping={"dataflow": "rs"}))


def test_design_file_round_trip_and_estimate_json(tmp_path, capsys):
    design = cm.uniform_design(R20, 4, 8, mapping={"dataflow": "ws"},
                               hardware={"systolic_array": {"bit_fusion": True, "cols": 16}})
    path = tmp_path / "d.toml"
    design.save(path)
    assert cm.load_design(path, R20) == design
    assert main(["estimate", "--workload", "resnet20", "--target", "systolic-32x32",
                 "--design", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hardware"]["systolic_array"]["cols"] == 16
    assert data["layers"][1]["mapping"]["dataflow"] == "ws"


def test_explore_genetic_on_the_systolic_target(tmp_path):
    out = tmp_path / "run"
    assert main(["explore", "--workload", "resnet20", "--target", "systolic-32x32", "--space",
                 "n3h", "--searcher", "genetic", "--budget", "400", "--out", str(out),
                 "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluations"] == 400
    best = cm.load_design(out / "best.toml", R20)
    report = cm.evaluate(R20, "systolic-32x32", best)
    assert report.feasible and math.isfinite(report.latency_ms)
    base = cm.evaluate(R20, "systolic-32x32", cm.uniform_design(R20, 8, 8))
    assert report.latency_ms < base.latency_ms  # the search beats the preset at W8A8


@pytest.mark.parametrize("env_id", ["codesign/HeteroFPGA-v0", "codesign/MixedPrecision-v0",
                                    "codesign/LowRank-v0"])
def test_env_presets_run_on_the_systolic_target(env_id, env_episode):
    info = env_episode(env_id, workload="resnet20", target="systolic-32x32")
    assert math.isfinite(info["latency_ms"]) and "violations" in info


def test_sb3_agent_explores_the_systolic_target(tmp_path):
    out = tmp_path / "ppo"
    assert main(["explore", "--workload", "resnet20", "--target", "eyeriss-like", "--space",
                 "haq", "--searcher", "ppo", "--budget", "200", "--out", str(out),
                 "--no-progress"]) == 0
    assert json.loads((out / "summary.json").read_text())["evaluations"] == 200
    best = cm.load_design(out / "best.toml", R20)
    assert cm.evaluate(R20, "eyeriss-like", best).feasible


def test_overriding_the_arrays_dataflow_sets_the_unset_layers():
    own = cm.uniform_design(R20, 8, 8, hardware={"systolic_array": {"dataflow": "is"}})
    per_layer = cm.uniform_design(R20, 8, 8, mapping={"dataflow": "is"})
    report = cm.evaluate(R20, "systolic-32x32", own)
    assert report.hardware["systolic_array"]["dataflow"] == "is"
    assert {layer.mapping["dataflow"] for layer in report.layers} == {"is"}
    assert report.total_cycles == cm.evaluate(R20, "systolic-32x32", per_layer).total_cycles
