"""A second hardware family in a few lines: the proof that the next ones only add files.

A toy systolic-array target (one hardware knob, one categorical mapping knob, one resource) is
registered for the duration of the test module. Without any change to rl_search it is costed by
``codesign estimate``, explored by ``codesign explore`` with the genetic search and an SB3 agent,
and its environment passes Gymnasium's and SB3's checkers.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check

import cost_models as cm
from cost_models.targets import registered
from hwsim.ir import Workload, zoo
from rl_search.cli import main
from rl_search.env import CoDesignEnv
from rl_search.factory import make_problem

PES_LIMIT = 2048


class ToySystolic(cm.Target):
    """cycles = sum over GEMMs of count * ceil(m/R) * ceil(n/C) * (k + R + C) * bits/8, the
    output-stationary ``os`` dataflow paying 10 % more per fold than ``ws``: not a real model."""

    mapping_options: ClassVar[dict[str, tuple[Any, ...]]] = {}
    max_bits = 8

    def mapping_knobs(self) -> tuple[cm.KnobSpec, ...]:
        return (cm.KnobSpec("dataflow", "layer", ("ws", "os"), None, "toy dataflow",
                            categorical=True),)

    def hardware_knobs(self) -> tuple[cm.KnobSpec, ...]:
        array = self.hardware.systolic_array
        return (cm.KnobSpec("systolic_array.rows", "hardware", (8, 16, 32, 64, 128), array.rows),)

    def _evaluate_batch(self, workload: Workload, batch: cm.DesignBatch) -> cm.BatchCost:
        a = workload.to_arrays()
        array = self.hardware.systolic_array
        rows = batch.hardware.get("systolic_array.rows", np.full(len(batch), array.rows))
        rows = rows.astype(np.int64)[:, None]
        flow = batch.mapping.get("dataflow", np.full(batch.weight_bits.shape, np.nan))
        flow = np.where(np.isnan(flow), 0.0, flow)  # the target's choice: ws
        bits = np.maximum(batch.weight_bits, batch.act_bits)[:, a.layer]
        per_gemm = (a.count * -(-a.m // rows) * -(-a.n // array.cols) * (a.k + rows + array.cols)
                    * bits / 8 * (1 + 0.1 * flow[:, a.layer]))
        cycles = per_gemm.sum(axis=1)
        pes = rows[:, 0] * array.cols
        ones = np.ones(batch.weight_bits.shape)
        return cm.BatchCost(cycles=cycles, latency_ms=cycles / (array.clock_mhz * 1e3),
                            runnable=np.isfinite(cycles), feasible=pes <= PES_LIMIT,
                            resources={"pes": pes}, limits={"pes": PES_LIMIT},
                            labels={"pes": "PEs"}, mapping={"dataflow": flow},
                            precision_share=ones)

    def _evaluate(self, workload: Workload, design: cm.Design, fidelity: str) -> cm.CostReport:
        cost = self.evaluate_batch(workload, self.design_batch([design]))
        ran = design.apply_to(workload)
        comps = self.components_for(design)
        layers = []
        for i, layer in enumerate(ran.layers):
            g = max(layer.gemms(), key=lambda g: g.macs)
            sub = Workload(ran.name, (layer,))
            one = self.design_batch([design]).take(slice(0, 1))
            one = cm.DesignBatch(one.weight_bits[:, i:i + 1], one.act_bits[:, i:i + 1], None,
                                 {k: v[:, i:i + 1] for k, v in one.mapping.items()},
                                 one.hardware)
            c = float(self._evaluate_batch(sub, one).cycles[0])
            layers.append(cm.LayerCost(layer.name, layer.kind, g.m, g.n, g.k, g.count,
                                       design.weight_bits[i], design.act_bits[i], c,
                                       units={"array": c}, bound="array",
                                       mapping={"dataflow": ("ws", "os")[
                                           int(cost.mapping["dataflow"][0, i])]}))
        return cm.CostReport(self.name, workload.name, fidelity,
                             comps["systolic_array"].clock_mhz, tuple(layers),
                             {"pes": int(cost.resources["pes"][0])}, {"pes": PES_LIMIT},
                             bool(cost.feasible[0]), tuple(cost.violations(0)),
                             hardware={"systolic_array": dict(
                                 rows=comps["systolic_array"].rows,
                                 cols=comps["systolic_array"].cols)})


@pytest.fixture(scope="module", autouse=True)
def toy() -> Iterator[None]:
    with registered(lambda hw: hw.systolic_array is not None, ToySystolic, "toy systolic array"):
        yield


R20 = zoo.get("resnet20")


def test_estimate_builds_its_table_from_what_the_target_reports(capsys):
    report = cm.evaluate(R20, "systolic-32x32")
    assert report.feasible and report.unit_names == ("array",)
    assert report.total_cycles == pytest.approx(sum(layer.cycles for layer in report.layers))
    assert main(["estimate", "--workload", "resnet20", "--target", "systolic-32x32"]) == 0
    out = capsys.readouterr().out
    assert "ARRAY cycles" in out and "dataflow" in out and "rows=32" in out and "FEASIBLE" in out


def test_partial_override_merges_onto_the_preset_and_violations_are_named(tmp_path, capsys):
    design = cm.uniform_design(R20, 8, 8, hardware={"systolic_array": {"rows": 128}},
                               mapping={"dataflow": "os"})
    report = cm.evaluate(R20, "systolic-32x32", design)
    assert report.hardware["systolic_array"] == {"rows": 128, "cols": 32}  # cols: the preset's
    assert not report.feasible and report.violations == ("PEs 4,096 > 2,048 (200.0%)",)
    path = tmp_path / "d.toml"
    design.save(path)
    assert cm.load_design(path, R20) == design
    assert main(["estimate", "--workload", "resnet20", "--target", "systolic-32x32", "--design",
                 str(path), "--strict"]) == 1
    assert "rows=128*" in capsys.readouterr().out
    with pytest.raises(cm.DesignError, match="lut_fraction"):  # another family's knob
        cm.evaluate(R20, "systolic-32x32",
                    cm.uniform_design(R20, 8, 8, mapping={"lut_fraction": 0.5}))


def test_batch_equals_single_evaluations():
    problem = make_problem(R20, "systolic-32x32", "n3h", split="choose")
    X = problem.space.random(np.random.default_rng(0), 32)
    ev = problem.evaluate_batch(X)
    for i in range(len(X)):
        design = problem.space.decode(X[i])
        report = cm.evaluate(R20, problem.target, design)
        assert report.latency_ms == pytest.approx(ev.latency_ms[i], rel=1e-12)
        assert report.feasible == bool(ev.fits[i])
        assert problem.space.encode(design).tolist() == X[i].tolist()


@pytest.mark.parametrize("searcher", ["genetic", "ppo"])
def test_explore_runs_on_the_toy_target(tmp_path, searcher):
    out = tmp_path / searcher
    code = main(["explore", "--workload", "resnet20", "--target", "systolic-32x32", "--space",
                 "n3h", "--searcher", searcher, "--budget", "300", "--out", str(out),
                 "--no-progress"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluations"] == 300
    best = cm.load_design(out / "best.toml", R20)
    report = cm.evaluate(R20, "systolic-32x32", best)
    assert report.feasible and math.isfinite(report.latency_ms)


@pytest.mark.parametrize("form", ["sequential", "oneshot"])
def test_env_passes_the_checkers(form):
    from stable_baselines3.common.env_checker import check_env as sb3_check

    problem = make_problem(R20, "systolic-32x32", "n3h", split="choose")
    env = CoDesignEnv(problem, form=form)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check(env, skip_render_check=True)
        sb3_check(CoDesignEnv(problem, form=form), warn=True)
    env.reset(seed=0)
    done, info = False, {}
    while not done:
        _, _, done, _, info = env.step(env.action_space.sample())
    assert set(info) >= {"latency_ms", "feasible", "violations"}
