"""``codesign design init``: a complete, commented design file that loads as it is and with every
commented knob switched on."""

from __future__ import annotations

import re

import pytest

import cost_models as cm
from cost_models.template import design_template
from hwsim.ir import zoo
from rl_search.cli import main


@pytest.mark.parametrize(("workload", "target"), [("resnet18", "n3h-zcu102"),
                                                  ("mobilenetv2", "n3h-pynq-z2")])
def test_template_loads_as_written_and_with_every_knob_uncommented(tmp_path, workload, target):
    wl = zoo.get(workload)
    tgt = cm.get_target(target)
    text = design_template(wl, tgt)
    path = tmp_path / "d.toml"
    path.write_text(text)
    design = cm.load_design(path, wl)
    assert design == tgt.default_design(wl)
    assert tgt.evaluate(wl, design).feasible
    # every "# key = value" line switched on: still a valid design, now setting every knob
    on = re.sub(r"^# (\w+ = )", r"\1", text, flags=re.MULTILINE)
    path.write_text(on)
    full = cm.load_design(path, wl)
    assert full.option("balance") == "exact"
    assert set(dict(full.hardware)) == set(tgt.overridable())
    assert all(v is not None for v in full.mapping_values("lut_fraction"))
    assert full.rank is not None
    report = tgt.evaluate(wl, full)
    assert report.hardware["lut_core"] == dict(
        (f, getattr(tgt.hardware.lut_core, f)) for f in report.hardware["lut_core"])


def test_cli_design_init_then_estimate(tmp_path, capsys):
    out = tmp_path / "d.toml"
    assert main(["design", "init", "--workload", "resnet18", "--target", "n3h-zcu102",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["estimate", "--workload", "resnet18", "--target", "n3h-zcu102", "--design",
                 str(out), "--strict"]) == 0
    assert "FEASIBLE" in capsys.readouterr().out
    assert main(["design", "init", "--workload", "resnet20"]) == 0
    assert capsys.readouterr().out.count("[[layers]]") == len(zoo.get("resnet20").layers)


def test_bad_key_value_options_name_their_flag(capsys):
    code = main(["explore", "--searcher", "genetic", "--searcher-option", "noequals",
                 "--budget", "10", "--no-progress"])
    assert code == 2 and "--searcher-option expects KEY=VALUE" in capsys.readouterr().err
