"""cost_models.evaluate on the heterogeneous FPGA target: consistency, designs, bad input."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

import cost_models as cm
from cost_models.design import Design, DesignError, load_design
from cost_models.fpga import dram_bytes
from hwsim.fpga import analytic
from hwsim.ir import zoo
from hwsim.spec import LutCore, load_hardware
from rl_search.cli import main

R18 = zoo.get("resnet18")
MBV2 = zoo.get("mobilenetv2")
LSTM = zoo.get("lstm-ucf", steps=4)


def _lstm_design(act_bits: int = 4) -> Design:
    """lstm-ucf on n3h-zcu102 with buffers deep enough for its k = 57,856 (the preset's are not)."""
    target = cm.get_target("n3h-zcu102")
    lut = dataclasses.replace(target.lut_core, depth_bits=256, act_buffer_depth=4096)
    dsp = dataclasses.replace(target.dsp_core, weight_buffer_depth=4096)  # packed: T_k = 1808
    return cm.uniform_design(
        LSTM,
        4,
        act_bits,
        hardware={"lut_core": dataclasses.asdict(lut), "dsp_core": dataclasses.asdict(dsp)},
    )


def test_default_design_is_n3h_convention():
    d = cm.default_design(R18)
    assert d.weight_bits[0] == d.act_bits[0] == 8 and d.weight_bits[-1] == 8
    assert set(d.weight_bits[1:-1]) == {4} and d.mapping == ()


def test_report_totals_equal_analytic_sum():
    target = cm.get_target("n3h-zcu102")
    design = cm.uniform_design(R18, 4, 4, mapping={"lut_fraction": 0.3})
    report = target.evaluate(R18, design)
    a = R18.to_arrays()
    _, _, layer = analytic.hetero_layer_cycles(
        a.m, a.n, a.k, 4, 4, 0.3, target.lut_core, target.dsp_core, count=a.count
    )
    assert report.total_cycles == pytest.approx(float(layer.sum()), rel=1e-12)
    assert report.latency_ms == pytest.approx(report.total_cycles / 1e5)
    assert report.feasible and report.violations == ()


@pytest.mark.parametrize("rho", [0.0, 1.0])
def test_single_core_fractions(rho):
    target = cm.get_target("n3h-zcu102")
    report = target.evaluate(R18, cm.uniform_design(R18, 4, 4, mapping={"lut_fraction": rho}))
    for layer in report.layers:
        if rho == 0.0:
            assert layer.units["lut_core"] == 0 and layer.cycles == layer.units["dsp_core"]
        else:
            assert layer.units["dsp_core"] == 0 and layer.cycles == layer.units["lut_core"]


def test_balance_point_beats_both_single_cores_per_layer():
    target = cm.get_target("n3h-zcu102")
    balanced = target.evaluate(R18, cm.uniform_design(R18, 4, 4))
    dsp = target.evaluate(R18, cm.uniform_design(R18, 4, 4, mapping={"lut_fraction": 0.0}))
    lut = target.evaluate(R18, cm.uniform_design(R18, 4, 4, mapping={"lut_fraction": 1.0}))
    for b, d, u in zip(balanced.layers, dsp.layers, lut.layers, strict=True):
        assert b.cycles <= min(d.cycles, u.cycles)
    sweep = target.evaluate(R18, cm.uniform_design(R18, 4, 4, options={"balance": "n3h-sweep"}))
    assert balanced.total_cycles <= sweep.total_cycles


def test_batch_matches_single_evaluations():
    target = cm.get_target("n3h-zcu102")
    rng = np.random.default_rng(0)
    wb = rng.integers(2, 9, size=(16, len(R18)))
    ab = rng.integers(2, 9, size=(16, len(R18)))
    rho = rng.uniform(0, 1, size=(16, len(R18)))
    rho[:4] = np.nan  # balance points
    batch = cm.evaluate_batch(R18, "n3h-zcu102", wb, ab, mapping={"lut_fraction": rho})
    for i in range(16):
        fr = tuple(None if np.isnan(f) else float(f) for f in rho[i])
        design = Design(
            R18.layer_names,
            tuple(map(int, wb[i])),
            tuple(map(int, ab[i])),
            mapping={"lut_fraction": fr},
        )
        report = target.evaluate(R18, design)
        assert batch.cycles[i] == pytest.approx(report.total_cycles, rel=1e-12)
        assert bool(batch.feasible[i]) == report.feasible


def test_mobilenetv2_depthwise_layers_share_the_cores():
    """A depthwise convolution is ``count = C`` GEMMs of one channel; the balance point splits
    whole repetitions, so some go to each core and the layer beats either core alone."""
    target = cm.get_target("n3h-zcu102")
    report = target.evaluate(MBV2, cm.default_design(MBV2))
    dsp = target.evaluate(MBV2, cm.uniform_design(MBV2, 4, 4, mapping={"lut_fraction": 0.0}))
    lut = target.evaluate(MBV2, cm.uniform_design(MBV2, 4, 4, mapping={"lut_fraction": 1.0}))
    shared = 0
    for b, d, u in zip(report.layers, dsp.layers, lut.layers, strict=True):
        if b.count == 1:
            continue
        assert b.n == 1 and b.count > 1  # MobileNetV2's only repeated GEMMs: depthwise convs
        c_lut = round(b.count * b.mapping["lut_fraction"])
        assert b.mapping["lut_channels"] == c_lut and b.mapping["lut_fraction"] == c_lut / b.count
        assert b.cycles <= min(d.cycles, u.cycles)
        if 0 < b.mapping["lut_fraction"] < 1:
            shared += 1
            assert b.units["lut_core"] > 0 and b.units["dsp_core"] > 0
            assert b.cycles < min(d.cycles, u.cycles)
    assert shared > 0
    # repetitions run back to back: all on one core costs count times one repetition
    depthwise = next(layer for layer in dsp.layers if layer.count > 1)
    one = analytic.dsp_core_cycles(depthwise.m, 1, depthwise.k, 4, target.dsp_core)
    assert depthwise.cycles == depthwise.count * one


def test_batch_matches_single_evaluations_on_mobilenetv2():
    target = cm.get_target("n3h-zcu102")
    rng = np.random.default_rng(1)
    wb = rng.integers(2, 9, size=(12, len(MBV2)))
    ab = rng.integers(2, 9, size=(12, len(MBV2)))
    rho = rng.uniform(0, 1, size=(12, len(MBV2)))
    rho[:4] = np.nan  # balance points
    rho[4, ::3] = 0.99  # rounds to every repetition on the LUT core for small counts
    batch = cm.evaluate_batch(MBV2, "n3h-zcu102", wb, ab, mapping={"lut_fraction": rho})
    for i in range(12):
        fr = tuple(None if np.isnan(f) else float(f) for f in rho[i])
        design = Design(
            MBV2.layer_names,
            tuple(map(int, wb[i])),
            tuple(map(int, ab[i])),
            mapping={"lut_fraction": fr},
        )
        report = target.evaluate(MBV2, design)
        assert batch.cycles[i] == pytest.approx(report.total_cycles, rel=1e-12)
        assert bool(batch.feasible[i]) == report.feasible
        assert batch.mapping["lut_fraction"][i].tolist() == [
            layer.mapping["lut_fraction"] for layer in report.layers
        ]


def test_cycle_tier_runs_repetitions():
    target = cm.get_target("n3h-zcu102")
    report = target.evaluate(MBV2, cm.default_design(MBV2), fidelity="cycle")
    assert report.feasible and np.isfinite(report.total_cycles)
    from hwsim.fpga import cycle

    layer = next(x for x in report.layers if x.count > 1 and 0 < x.mapping["lut_fraction"] < 1)
    sim = cycle.simulate_layer(
        layer.m,
        layer.n,
        layer.k,
        layer.weight_bits,
        layer.act_bits,
        layer.mapping["lut_fraction"],
        target.lut_core,
        target.dsp_core,
        target.device.dram_bytes_per_cycle,
        count=layer.count,
    )
    assert layer.cycles == sim.total_cycles and layer.mapping["lut_channels"] == sim.lut_channels
    assert layer.dram_bytes == math.ceil(sim.dram_bytes)


def test_cache_returns_the_same_report():
    target = cm.get_target("n3h-zc706")
    design = cm.uniform_design(R18, 3, 3, mapping={"lut_fraction": 0.5})
    first = target.evaluate(R18, design)
    hits = target.cache_hits
    assert target.evaluate(R18, design) is first and target.cache_hits == hits + 1


def test_infeasible_design_is_a_report_not_an_exception():
    hw = load_hardware("n3h-pynq-z2")
    big = dataclasses.replace(hw, name="too-big", lut_core=LutCore(16, 256, 16))
    report = cm.evaluate(R18, big)
    assert not report.feasible
    assert any(v.startswith("LUT ") for v in report.violations)
    # A buffer too small for the layer's k: inf cycles and a reason naming the layer.
    tiny = dataclasses.replace(hw, name="tiny-buffers", lut_core=LutCore(4, 64, 8, 16))
    report = cm.evaluate(R18, tiny, cm.uniform_design(R18, 8, 8, mapping={"lut_fraction": 1.0}))
    assert not report.feasible and any("layer4.1.conv2" in v for v in report.violations)
    assert np.isinf(report.total_cycles)


def test_design_errors_name_the_layer():
    with pytest.raises(DesignError, match=r"conv1\.weight_bits"):
        Design(("conv1",), (0,), (4,))
    with pytest.raises(DesignError, match="lut_fraction"):  # out of the knob's range
        cm.evaluate(R18, "n3h-zcu102", cm.uniform_design(R18, 4, 4, mapping={"lut_fraction": 1.5}))
    with pytest.raises(DesignError, match="lut_fracton"):  # not a knob of the target
        cm.evaluate(R18, "n3h-zcu102", cm.uniform_design(R18, 4, 4, mapping={"lut_fracton": 0.5}))
    other = cm.default_design(zoo.get("resnet20"))
    with pytest.raises(DesignError, match="resnet18"):
        cm.evaluate(R18, "n3h-zcu102", other)
    too_many_bits = cm.uniform_design(R18, 4, 9)
    with pytest.raises(DesignError, match="act_bits"):
        cm.evaluate(R18, "n3h-zcu102", too_many_bits)


def test_unknown_target_lists_known_ones():
    with pytest.raises(KeyError, match="n3h-zcu102"):
        cm.get_target("n3h-zcu999")
    with pytest.raises(Exception, match="no cost model"):
        cm.get_target("zcu102")  # a bare board has no GEMM cores


def test_design_toml_round_trip_and_errors(tmp_path):
    design = cm.uniform_design(
        R18,
        5,
        3,
        mapping={"lut_fraction": 0.25},
        hardware={"lut_core": {"rows": 4, "depth_bits": 64, "cols": 8}},
    )
    path = tmp_path / "d.toml"
    design.save(path)
    assert load_design(path, R18) == design
    bad = path.read_text().replace("weight_bits = 5", "weight_bits = 0", 1)
    bad = bad.replace("lut_fraction = 0.25", "lut_fraction = 2.0", 1).replace(
        'name = "fc"', 'name = "classifier"'
    )
    bad += "\n[extra]\nx = 1\n"
    path.write_text(bad)
    with pytest.raises(DesignError) as err:
        load_design(path, R18)
    text = str(err.value)
    for needle in ("d.toml", "conv1.weight_bits", "classifier", "extra"):
        assert needle in text, text
    # a mapping value out of the target's range is the target's to report
    path.write_text(
        bad.replace("weight_bits = 0", "weight_bits = 5")
        .replace('name = "classifier"', 'name = "fc"')
        .replace("\n[extra]\nx = 1\n", "")
    )
    with pytest.raises(DesignError, match=r"conv1\.lut_fraction"):
        cm.evaluate(R18, "n3h-zcu102", load_design(path, R18))


def test_cli_estimate_table_json_and_infeasible(capsys, tmp_path):
    assert main(["estimate", "--workload", "resnet18", "--target", "n3h-pynq-z2"]) == 0
    out = capsys.readouterr().out
    assert "FEASIBLE" in out and "layer4.1.conv2" in out and "BRAM36" in out
    assert main(["estimate", "--workload", "resnet18", "--target", "n3h-zcu102", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["layers"]) == 21 and data["feasible"] is True
    design = cm.uniform_design(
        R18, 8, 8, hardware={"lut_core": {"rows": 16, "depth_bits": 256, "cols": 16}}
    )
    path = tmp_path / "big.toml"
    design.save(path)
    code = main(["estimate", "--target", "n3h-pynq-z2", "--design", str(path), "--strict"])
    out = capsys.readouterr().out
    assert code == 1 and "INFEASIBLE" in out and "LUT " in out


def test_ranks_rewrite_the_workload_and_cut_latency():
    r20 = zoo.get("resnet20")
    dense = cm.uniform_design(r20, 8, 8, mapping={"lut_fraction": 0.0})
    ranks = tuple(
        8 if layer.kind == "conv2d" and i > 0 else None for i, layer in enumerate(r20.layers)
    )
    low = dataclasses.replace(dense, rank=ranks)
    rd, rl = cm.evaluate(r20, "n3h-zcu102", dense), cm.evaluate(r20, "n3h-zcu102", low)
    assert rl.total_cycles < rd.total_cycles
    assert rl.layers[5].kind == "tucker2_conv" and rd.layers[5].kind == "conv2d"
    with pytest.raises(DesignError, match="rank"):
        cm.evaluate(r20, "n3h-zcu102", dataclasses.replace(dense, rank=(10_000,) * len(r20)))


def test_design_toml_keeps_ranks(tmp_path):
    r20 = zoo.get("resnet20")
    ranks = tuple(4 if i == 3 else None for i in range(len(r20)))
    design = dataclasses.replace(cm.uniform_design(r20, 4, 4), rank=ranks)
    path = tmp_path / "r.toml"
    design.save(path)
    assert load_design(path, r20) == design


def test_lstm_time_steps_split_by_channels_each_step():
    """An LSTM's time steps depend on each other: every step splits its 4*hidden gate channels
    between the cores (the count == 1 balance), and the steps run in sequence."""
    target = cm.get_target("n3h-zcu102")
    design = _lstm_design()
    report = target.evaluate(LSTM, design)
    assert report.feasible
    layer = report.layers[0]
    (g,) = LSTM.layers[0].gemms()
    assert layer.kind == "lstm" and layer.count == g.count == 4 and not g.independent
    lut, dsp = target.cores(design)
    n_one, one = analytic.exact_balance(g.m, g.n, g.k, 4, 4, lut, dsp)
    assert 0 < int(n_one) < g.n  # both cores hold some of every step's channels
    assert layer.mapping["lut_fraction"] == int(n_one) / g.n
    assert layer.mapping["lut_channels"] == g.count * int(n_one)
    single = analytic.hetero_layer_cycles(
        g.m, g.n, g.k, 4, 4, layer.mapping["lut_fraction"], lut, dsp
    )
    assert layer.cycles == g.count * float(single[2]) == g.count * float(one)
    assert (layer.units["lut_core"], layer.units["dsp_core"]) == (
        g.count * float(single[0]),
        g.count * float(single[1]),
    )
    # as independent repetitions the same GEMM would put whole steps on each core
    n_rep, _ = analytic.exact_balance(g.m, g.n, g.k, 4, 4, lut, dsp, count=g.count)
    assert int(n_rep) % g.n == 0
    # the DRAM traffic counts every step's share
    n_l, c_l, n_d, c_d = analytic.split_gemm(g.n, g.count, layer.mapping["lut_fraction"], False)
    assert (n_l, c_l, c_d) == (int(n_one), g.count, g.count) and n_d > 0
    assert layer.dram_bytes == dram_bytes(
        g.m, n_l, n_d, g.k, 4, 4, lut, dsp, lut_repetitions=g.count, dsp_repetitions=g.count
    )


def test_batch_matches_single_evaluations_on_lstm():
    target = cm.get_target("n3h-zcu102")
    base = _lstm_design()
    rng = np.random.default_rng(2)
    wb = rng.integers(2, 9, size=(10, len(LSTM)))
    ab = rng.integers(2, 9, size=(10, len(LSTM)))
    ab[:6] = rng.integers(2, 5, size=(6, len(LSTM)))  # the DSP core fits the LSTM when packed
    rho = rng.uniform(0, 1, size=(10, len(LSTM)))
    rho[:4] = np.nan  # balance points
    rho[4] = 0.0
    rho[5] = 1.0
    batch = target.evaluate_batch(
        LSTM,
        cm.DesignBatch(
            wb,
            ab,
            mapping={"lut_fraction": rho},
            hardware={f"{c}.{f}": np.full(10, v) for c, fields in base.hardware for f, v in fields},
        ),
    )
    for i in range(10):
        fr = tuple(None if np.isnan(f) else float(f) for f in rho[i])
        design = base.with_changes(
            weight_bits=tuple(map(int, wb[i])),
            act_bits=tuple(map(int, ab[i])),
            mapping={"lut_fraction": fr},
        )
        report = target.evaluate(LSTM, design)
        assert batch.cycles[i] == pytest.approx(report.total_cycles, rel=1e-12)
        assert bool(batch.feasible[i]) == report.feasible
        assert batch.mapping["lut_fraction"][i].tolist() == [
            layer.mapping["lut_fraction"] for layer in report.layers
        ]
    assert np.isfinite(batch.cycles[:6]).all() and batch.feasible[:6].all()


def test_cycle_tier_runs_lstm_steps_in_sequence():
    from hwsim.fpga import cycle

    target = cm.get_target("n3h-zcu102")
    design = _lstm_design()
    report = target.evaluate(LSTM, design, fidelity="cycle")
    assert report.feasible, report.violations
    layer = report.layers[0]
    assert 0 < layer.mapping["lut_fraction"] < 1
    one = cycle.simulate_layer(
        layer.m,
        layer.n,
        layer.k,
        4,
        4,
        layer.mapping["lut_fraction"],
        *target.cores(design),
        target.device.dram_bytes_per_cycle,
    )
    assert layer.cycles == layer.count * one.total_cycles
    assert layer.dram_bytes == math.ceil(layer.count * one.dram_bytes)
