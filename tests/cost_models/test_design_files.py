"""Design files of any shape: a Design, or one DesignError naming the file; never another
exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cost_models as cm
from cost_models.design import DesignError, load_design
from hwsim.errors import CodesignError
from hwsim.ir import zoo
from hwsim.ir.toml_workload import toml_value

R20 = zoo.get("resnet20")

scalars = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.text(max_size=8),
                    st.booleans())
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)


def _toml_value(v: object) -> str:
    """Any nested value as TOML: the project's writer for scalars and arrays, inline tables
    here (design files have none, so the writer does not write them)."""
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_value(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return toml_value(v)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["design", "mapping", "hardware", "layers", "lut_core",
                                        "extra"]), values, max_size=4),
       st.lists(st.dictionaries(st.sampled_from(["name", "weight_bits", "act_bits", "rank",
                                                 "lut_fraction", "x"]), values, max_size=5),
                max_size=3))
def test_any_design_document_loads_or_names_the_file(tmp_path_factory, top, layers):
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    for table in layers:
        lines.append("[[layers]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    path = tmp_path_factory.mktemp("d") / "d.toml"
    path.write_text("\n".join(lines) + "\n")
    try:
        design = load_design(path, R20)
    except DesignError as exc:
        assert "d.toml" in str(exc)
        return
    try:  # a design that loads is costed, or refused by the target, with the project's errors
        cm.evaluate(R20, "n3h-zcu102", design)
    except CodesignError:
        pass


@pytest.mark.parametrize("content", [None, b"\xff\xfe\x00binary", b"[design]\nworkload = \"x"])
def test_unreadable_design_files_are_named(tmp_path, content):
    path = tmp_path / "bad.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(DesignError, match=r"bad\.toml"):
        load_design(path)


def test_names_with_quotes_and_backslashes_round_trip(tmp_path):
    from hwsim.ir import Workload
    from hwsim.ir.layers import Linear

    wl = Workload('net "q"', (Linear('fc "1" \\ x', 8, 8), Linear("fc\t2", 8, 4)))
    design = cm.uniform_design(wl, 4, 4, mapping={"lut_fraction": 0.5},
                               options={"balance": "n3h-sweep"})
    path = tmp_path / "d.toml"
    design.save(path)
    assert load_design(path, wl) == design
