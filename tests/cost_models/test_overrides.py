"""Hardware overrides merge onto the preset: a partial table changes only the keys it names."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import cost_models as cm
from cost_models.design import DesignError, load_design
from hwsim.ir import zoo
from hwsim.spec import load_hardware
from rl_search.cli import main

R18 = zoo.get("resnet18")


@pytest.mark.parametrize(("component", "field", "value"), [
    ("lut_core", "rows", 8),
    ("lut_core", "act_buffer_depth", 4096),
    ("dsp_core", "input_buffer_depth", 8192),
    ("dsp_core", "weight_buffer_depth", 4096),
])
def test_partial_override_changes_only_its_key(component, field, value):
    target = cm.get_target("n3h-zc706")
    preset = getattr(load_hardware("n3h-zc706"), component)
    design = cm.uniform_design(R18, 4, 4, hardware={component: {field: value}})
    used = target.components_for(design)[component]
    assert used == dataclasses.replace(preset, **{field: value})
    report = target.evaluate(R18, design)
    assert report.hardware[component] == dataclasses.asdict(used)
    # the same cores given in full give the same report
    full = cm.uniform_design(R18, 4, 4, hardware={component: dataclasses.asdict(used)})
    assert target.evaluate(R18, full).total_cycles == report.total_cycles


def test_partial_lut_table_keeps_the_presets_lmem(tmp_path):
    """The bug this replaces: ``rows = 8`` alone on n3h-zc706 reset LMEM to the class default."""
    path = tmp_path / "d.toml"
    path.write_text('[design]\nworkload = "resnet18"\n[hardware.lut_core]\nrows = 8\n'
                    + "".join(f'[[layers]]\nname = "{n}"\nweight_bits = 4\nact_bits = 4\n'
                              for n in R18.layer_names))
    design = load_design(path, R18)
    lut, _ = cm.get_target("n3h-zc706").cores(design)
    assert lut.rows == 8 and lut.act_buffer_depth == load_hardware("n3h-zc706").lut_core \
        .act_buffer_depth


def test_legacy_design_files_still_load(tmp_path):
    """best.toml files written before mapping and hardware were split out: top-level
    [lut_core] / [dsp_core] and ``balance`` under [design]."""
    lines = ['[design]', 'workload = "resnet18"', 'balance = "n3h-sweep"', '', '[lut_core]',
             'rows = 4', 'depth_bits = 128', 'cols = 16', 'act_buffer_depth = 2048',
             'weight_buffer_depth = 1024', 'dram_bits_per_cycle = 64', 'max_bits = 8']
    for i, name in enumerate(R18.layer_names):
        lines += ["", "[[layers]]", f'name = "{name}"', "weight_bits = 4", "act_bits = 4"]
        if i == 3:
            lines.append("lut_fraction = 0.25")
    path = tmp_path / "old.toml"
    path.write_text("\n".join(lines) + "\n")
    design = load_design(path, R18)
    assert design.option("balance") == "n3h-sweep"
    assert design.overrides("lut_core")["rows"] == 4
    assert design.mapping_values("lut_fraction")[3] == 0.25
    report = cm.evaluate(R18, "n3h-zcu102", design)
    assert report.hardware["lut_core"]["rows"] == 4 and report.feasible


def test_bad_overrides_are_named():
    target = cm.get_target("n3h-zcu102")
    for hardware, needle in (({"lut_core": {"rowz": 8}}, "rowz"),
                             ({"lut_core": {"depth_bits": 100}}, "depth_bits"),
                             ({"systolic_array": {"rows": 8}}, "systolic_array"),
                             ({"dsp_core": {"block_rows": 8}}, "block_rows")):
        with pytest.raises(DesignError, match=needle):
            target.evaluate(R18, cm.uniform_design(R18, 4, 4, hardware=hardware))
    with pytest.raises(DesignError, match="balance"):
        target.evaluate(R18, cm.uniform_design(R18, 4, 4, options={"balance": "fast"}))


def test_batch_hardware_columns_equal_single_designs():
    target = cm.get_target("n3h-zcu102")
    rng = np.random.default_rng(3)
    n = 12
    rows = rng.choice([2, 4, 8, 16], n)
    depth = rng.choice([1024, 2048, 4096, 16384], n)
    wb = rng.integers(2, 9, (n, len(R18)))
    batch = target.evaluate_batch(R18, cm.DesignBatch(
        wb, wb, hardware={"lut_core.rows": rows, "dsp_core.input_buffer_depth": depth}))
    for i in range(n):
        design = cm.Design(R18.layer_names, tuple(map(int, wb[i])), tuple(map(int, wb[i])),
                           hardware={"lut_core": {"rows": int(rows[i])},
                                     "dsp_core": {"input_buffer_depth": int(depth[i])}})
        report = target.evaluate(R18, design)
        assert batch.cycles[i] == pytest.approx(report.total_cycles, rel=1e-12)
        assert bool(batch.feasible[i]) == report.feasible
        assert batch.violations(i) == list(report.violations)
        assert {k: int(v[i]) for k, v in batch.resources.items()} == report.resources


def test_estimate_prints_the_core_sizes_it_used(tmp_path, capsys):
    design = cm.uniform_design(R18, 4, 4, hardware={"lut_core": {"rows": 4}})
    path = tmp_path / "d.toml"
    design.save(path)
    assert main(["estimate", "--target", "n3h-zc706", "--design", str(path)]) == 0
    out = capsys.readouterr().out
    assert "[lut_core] rows=4*" in out and "act_buffer_depth=" in out and "[dsp_core]" in out


def test_design_for_another_workload_is_refused(tmp_path):
    """Layer names alone do not make a design fit: ``[design] workload`` is checked too."""
    design = dataclasses.replace(cm.uniform_design(R18, 4, 4), workload="resnet18-other")
    with pytest.raises(DesignError, match="another workload"):
        cm.evaluate(R18, "n3h-zcu102", design)


@pytest.mark.parametrize("off_grid", [False, True])
def test_large_batches_on_and_off_the_knob_grid_equal_single_designs(off_grid):
    """Batches past the small-batch path take the knob-grid tables (or, with a value that is not
    a knob choice, the per-core path); both must equal one-design evaluations."""
    from cost_models.fpga import HARDWARE_CHOICES

    target = cm.get_target("n3h-zcu102")
    rng = np.random.default_rng(4)
    n = 48
    hardware = {name: rng.choice(choices, n) for name, choices in HARDWARE_CHOICES.items()}
    if off_grid:
        hardware["lut_core.rows"][0] = 5  # not a knob choice, still a valid core
    wb = rng.integers(2, 9, (n, len(R18)))
    ab = rng.integers(2, 9, (n, len(R18)))
    designs = cm.DesignBatch(wb, ab, hardware=hardware)
    on_grid = {c: target._grid_codes(designs, c) is not None for c in ("lut_core", "dsp_core")}
    assert on_grid == {"lut_core": not off_grid, "dsp_core": True}  # the fast path is taken
    batch = target.evaluate_batch(R18, designs)
    for i in range(0, n, 3):
        overrides: dict[str, dict[str, int]] = {}
        for name, col in hardware.items():
            component, field = name.split(".")
            overrides.setdefault(component, {})[field] = int(col[i])
        design = cm.Design(R18.layer_names, tuple(map(int, wb[i])), tuple(map(int, ab[i])),
                           hardware=overrides)
        report = target.evaluate(R18, design)
        assert batch.cycles[i] == report.total_cycles or (
            batch.cycles[i] == pytest.approx(report.total_cycles, rel=1e-12))
        assert batch.violations(i) == list(report.violations[:len(batch.violations(i))])
        assert {k: int(v[i]) for k, v in batch.resources.items()} == report.resources
