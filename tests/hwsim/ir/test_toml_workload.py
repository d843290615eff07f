"""Workload TOML files: round trip through dump/load, and every error branch of the reader."""

from __future__ import annotations

import tomllib

import pytest

from hwsim.errors import Problem, WorkloadError
from hwsim.ir import (
    LAYER_TYPES,
    Conv2d,
    HTLinear,
    Linear,
    LstmCell,
    MatMul,
    MoEExperts,
    SvdLinear,
    TTLinear,
    Tucker2Conv,
    Workload,
)
from hwsim.ir.toml_workload import dump_workload_toml, load_workload_toml, loads_workload_toml

TINY = """
[workload]
name = "tiny"
description = "two convs and a classifier"

[[layers]]
kind = "conv2d"
name = "conv1"
in_channels = 3
out_channels = 16
in_height = 32
in_width = 32
kernel_h = 3
kernel_w = 3
padding = 1

[[layers]]
kind = "conv2d"
name = "conv2"
in_channels = 16
out_channels = 16
in_height = 32
in_width = 32
kernel_h = 3
kernel_w = 3
stride = 2
padding = 1

[[layers]]
kind = "linear"
name = "fc"
in_features = 4096
out_features = 10
"""


def every_kind_workload() -> Workload:
    layers = (
        Conv2d("conv", 3, 8, 16, 16, 3, 3, padding=1),
        Conv2d("dw", 8, 8, 16, 16, 3, 3, padding=1, groups=8),
        Tucker2Conv("tucker", 8, 16, 16, 16, 3, 3, rank_in=4, rank_out=6, stride=2, padding=1),
        Linear("fc", 1024, 64, tokens=4),
        SvdLinear("svd", 64, 64, rank=8, tokens=4),
        MatMul("scores", 4, 4, 16, heads=4),
        MoEExperts("moe", hidden=64, expert_ffn=128, experts=8, top_k=2, tokens=4,
                   shared_experts=1, shared_ffn=64),
        LstmCell("lstm", 64, 32, steps=5),
        TTLinear("tt", (8, 20, 20, 18), (16, 4, 4, 4), (1, 4, 4, 4, 1)),
        HTLinear("ht", (8, 20, 20, 18), (16, 4, 4, 4), rank=4),
    )
    # A chain plus a skip (conv -> fc), a layer with two producers, and "tt" reading only the
    # network input; edges grouped by consumer, as the reader produces them.
    edges = ((0, 1), (1, 2), (0, 3), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (8, 9))
    return Workload("every-kind", layers, edges, description='all "kinds"\ttabbed',
                    source="test \u00e9\x7f")


def load_problems(text: str, filename: str = "w.toml") -> list[Problem]:
    with pytest.raises(WorkloadError) as info:
        loads_workload_toml(text, filename)
    return info.value.problems


# --------------------------------------------------------------------------------------------
# Reading and round trip
# --------------------------------------------------------------------------------------------


def test_tiny_file_loads_as_a_chain(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    wl = load_workload_toml(path)
    assert wl.name == "tiny"
    assert wl.layer_names == ("conv1", "conv2", "fc")
    assert wl.edges == ((0, 1), (1, 2))
    assert wl.layers[1] == Conv2d("conv2", 16, 16, 32, 32, 3, 3, stride=2, padding=1)
    assert load_workload_toml(str(path)) == wl


def test_round_trip_every_layer_kind():
    wl = every_kind_workload()
    assert {layer.kind for layer in wl.layers} == set(LAYER_TYPES)
    text = dump_workload_toml(wl)
    tomllib.loads(text)  # valid TOML
    again = loads_workload_toml(text)
    assert again == wl
    assert again.edges == wl.edges
    assert dump_workload_toml(again) == text


def test_round_trip_through_a_file(tmp_path):
    wl = loads_workload_toml(TINY)
    path = tmp_path / "out.toml"
    path.write_text(dump_workload_toml(wl))
    assert load_workload_toml(path) == wl


def test_dump_writes_inputs_only_off_the_chain():
    text = dump_workload_toml(every_kind_workload())
    assert text.count("inputs = ") == 2
    assert 'inputs = ["conv", "tucker"]' in text  # two producers
    assert "inputs = []" in text  # tt reads only the network input
    assert 'inputs = ["dw"]' not in text  # tucker's producer is the previous layer: default
    assert "inputs" not in dump_workload_toml(loads_workload_toml(TINY))


def test_tuple_fields_from_arrays():
    text = dump_workload_toml(Workload("t", (TTLinear("tt", (4, 4), (2, 2), (1, 3, 1)),)))
    assert "in_modes = [4, 4]" in text
    layer = loads_workload_toml(text).layers[0]
    assert layer.in_modes == (4, 4) and isinstance(layer.ranks, tuple)


def test_explicit_inputs_give_a_dag():
    text = TINY + 'inputs = ["conv1", "conv2"]\n'
    assert loads_workload_toml(text).edges == ((0, 1), (0, 2), (1, 2))


def test_description_and_source_are_optional():
    wl = loads_workload_toml('[workload]\nname = "x"\n[[layers]]\nkind = "linear"\nname = "a"\n'
                             "in_features = 2\nout_features = 3\n")
    assert (wl.description, wl.source) == ("", "")


# --------------------------------------------------------------------------------------------
# Errors, one branch at a time
# --------------------------------------------------------------------------------------------


def test_unknown_kind_lists_known_kinds():
    (p,) = load_problems(TINY.replace('kind = "linear"', 'kind = "dense"'))
    assert p.where == "w.toml: layers[2] 'fc' kind"
    assert p.value == "dense"
    for kind in LAYER_TYPES:
        assert kind in p.message


def test_missing_kind():
    (p,) = load_problems(TINY.replace('kind = "linear"\n', ""))
    assert p.where == "w.toml: layers[2] 'fc' kind"
    assert "required" in p.message and "conv2d" in p.message


def test_unknown_key_lists_allowed():
    (p,) = load_problems(TINY + "bias = true\n")
    assert p.where == "w.toml: layers[2] 'fc' bias"
    assert "unknown key" in p.message and "in_features, out_features, tokens" in p.message


def test_wrong_type():
    (p,) = load_problems(TINY.replace("in_features = 4096", 'in_features = "4096"'))
    assert p.where == "w.toml: layers[2] 'fc' in_features"
    assert p.message == "must be an integer"


def test_wrong_type_in_array():
    text = dump_workload_toml(Workload("t", (TTLinear("tt", (4, 4), (2, 2), (1, 3, 1)),)))
    (p,) = load_problems(text.replace("in_modes = [4, 4]", 'in_modes = [4, "4"]'))
    assert p.where == "w.toml: layers[0] 'tt' in_modes"
    assert p.message == "must be an array of integers"


def test_bad_value_reported_by_the_record():
    (p,) = load_problems(TINY.replace("out_channels = 16\nin_height = 32\nin_width = 32\n"
                                      "kernel_h = 3\nkernel_w = 3\nstride = 2",
                                      "out_channels = 16\nin_height = 32\nin_width = 32\n"
                                      "kernel_h = 3\nkernel_w = 3\nstride = 0"))
    assert p.where == "w.toml: layers[1] 'conv2' stride"
    assert p.value == 0


def test_missing_required_field():
    (p,) = load_problems(TINY.replace("out_features = 10\n", ""))
    assert p.where == "w.toml: layers[2] 'fc' out_features"
    assert "required" in p.message


def test_layer_without_name_is_located_by_index():
    (p,) = load_problems(TINY.replace('name = "fc"\n', ""))
    assert p.where == "w.toml: layers[2] name"


def test_unknown_input_name():
    (p,) = load_problems(TINY + 'inputs = ["conv9"]\n')
    assert p.where == "w.toml: layers[2] 'fc' inputs"
    assert p.value == "conv9"


def test_input_must_be_an_earlier_layer():
    text = TINY.replace('name = "conv2"\n', 'name = "conv2"\ninputs = ["fc"]\n')
    (p,) = load_problems(text)
    assert p.where == "w.toml: layers[1] 'conv2' inputs"
    assert "earlier layer" in p.message and "layers[2]" in p.message


def test_input_listed_twice():
    (p,) = load_problems(TINY + 'inputs = ["conv1", "conv1"]\n')
    assert "twice" in p.message


def test_inputs_must_be_an_array_of_names():
    (p,) = load_problems(TINY + 'inputs = "conv1"\n')
    assert p.where == "w.toml: layers[2] 'fc' inputs"
    assert "array of layer names" in p.message


def test_duplicate_layer_name():
    (p,) = load_problems(TINY.replace('name = "fc"', 'name = "conv1"'))
    assert p.where == "w.toml: layers[2] 'conv1' name"
    assert "duplicates layers[0]" in p.message


def test_missing_workload_section():
    (p,) = load_problems(TINY.replace('[workload]\nname = "tiny"\n'
                                      'description = "two convs and a classifier"\n', ""))
    assert p.where == "w.toml: [workload]"


def test_workload_section_must_be_a_table():
    text = 'workload = "tiny"\n' + TINY.split("\n", 4)[4]
    (p,) = load_problems(text)
    assert p.where == "w.toml: [workload]"
    assert "table" in p.message


def test_workload_name_required():
    (p,) = load_problems(TINY.replace('name = "tiny"\n', ""))
    assert p.where == "w.toml: [workload] name"


def test_unknown_key_in_workload_section():
    (p,) = load_problems(TINY.replace('name = "tiny"\n', 'name = "tiny"\nbatch = 4\n'))
    assert p.where == "w.toml: [workload] batch"
    assert "name, description, source" in p.message


def test_unknown_top_level_section():
    (p,) = load_problems(TINY + "[hardware]\nboard = 1\n")
    assert p.where == "w.toml: [hardware]"


def test_no_layers():
    (p,) = load_problems('[workload]\nname = "empty"\n')
    assert p.where == "w.toml: [[layers]]"
    assert "at least one" in p.message


def test_layers_must_be_an_array_of_tables():
    (p,) = load_problems('layers = [1, 2]\n[workload]\nname = "x"\n')
    assert p.where == "w.toml: [[layers]]"
    assert "array of tables" in p.message


def test_bad_toml_syntax_gives_line():
    (p,) = load_problems(TINY + "oops = \n")
    assert p.where == f"w.toml: line {len(TINY.splitlines()) + 1}"
    assert "invalid TOML" in p.message


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(WorkloadError, match="no such file") as info:
        load_workload_toml(path)
    assert str(path) in str(info.value)


def test_every_problem_reported_at_once(tmp_path):
    text = """
[workload]
name = "bad"
owner = "me"

[[layers]]
kind = "conv2d"
name = "c1"
in_channels = 3
out_channels = "16"
in_height = 32
in_width = 32
kernel_h = 3
kernel_w = 3
groups = 0

[[layers]]
kind = "mlp"
name = "m"

[[layers]]
kind = "linear"
name = "c1"
in_features = 10
out_features = 10
dropout = 0.1
inputs = ["nowhere"]

[[layers]]
kind = "tt_linear"
name = "tt"
in_modes = [2, 2]
out_modes = [2, 2]
ranks = [1, 2, 2]
"""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(WorkloadError) as info:
        load_workload_toml(path)
    err = info.value
    assert [p.where for p in err.problems] == [
        "bad.toml: layers[0] 'c1' out_channels",  # wrong type
        "bad.toml: layers[0] 'c1' groups",        # bad value, found despite the wrong type
        "bad.toml: layers[1] 'm' kind",           # unknown kind
        "bad.toml: layers[2] 'c1' name",          # duplicate name
        "bad.toml: layers[2] 'c1' dropout",       # unknown key
        "bad.toml: layers[2] 'c1' inputs",        # unknown input
        "bad.toml: layers[3] 'tt' ranks",         # record's own check
        "bad.toml: [workload] owner",             # unknown key in the header
    ]
    message = str(err)
    assert str(path) in message
    for problem in err.problems:
        assert f"  - {problem}" in message


def testtoml_value_formatting():
    from hwsim.ir.toml_workload import toml_value

    assert toml_value(float("inf")) == "inf"
    assert toml_value(float("-inf")) == "-inf"
    assert toml_value(float("nan")) == "nan"
    assert toml_value(0.5) == "0.5"
    assert toml_value(True) == "true"
    with pytest.raises(TypeError):
        toml_value(None)


def test_dumped_file_is_readable_text():
    text = dump_workload_toml(loads_workload_toml(TINY))
    assert text.startswith('[workload]\nname = "tiny"\n')
    assert "[[layers]]\nkind = \"conv2d\"\nname = \"conv1\"\n" in text
