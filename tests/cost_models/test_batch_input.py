"""Bad input to the batch API: one clear error naming the field, never a silent conversion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cost_models as cm
from hwsim.errors import CodesignError
from hwsim.ir import zoo

R20 = zoo.get("resnet20")
L = len(R20.layers)
GOOD = np.full((3, L), 4)


@pytest.mark.parametrize(("weight_bits", "act_bits", "needle"), [
    (np.full((3, L), 4.5), GOOD, "whole numbers"),           # 4.5 must not become 4
    (np.full((2, 3, L), 4), GOOD, "2-D"),                    # 3-D
    (GOOD, np.full((2, L), 4), "shape of weight_bits"),      # different shapes
    (np.full((3, L), "4"), GOOD, "numbers"),                 # strings
    (GOOD, np.full((3, L), np.nan), "whole numbers"),        # NaN
    (np.full((3, L - 1), 4), np.full((3, L - 1), 4), "layers"),  # wrong layer count
    (np.full((3, L), 9), GOOD, "weight_bits"),               # out of the target's range
    (GOOD, np.full((3, L), 0), "act_bits"),
])
def test_bad_bit_arrays_name_the_field(weight_bits, act_bits, needle):
    with pytest.raises(CodesignError, match=needle):
        cm.evaluate_batch(R20, "n3h-zcu102", weight_bits, act_bits)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"mapping": {"lut_fracton": np.zeros((3, L))}}, "lut_fracton"),
    ({"mapping": {"lut_fraction": np.zeros((2, L))}}, "mapping.lut_fraction"),
    ({"mapping": {"lut_fraction": [["a"] * L] * 3}}, "mapping.lut_fraction"),
    ({"hardware": {"lut_core.rowz": [8, 8, 8]}}, "lut_core.rowz"),
    ({"hardware": {"lut_core.rows": [8, 8]}}, "hardware.lut_core.rows"),
    ({"hardware": {"lut_core.depth_bits": [100, 128, 128]}}, "depth_bits"),
    ({"options": {"balance": "fast"}}, "balance"),
    ({"rank": np.full((3, L), -1)}, "rank"),
])
def test_bad_mapping_hardware_and_options_name_the_field(kwargs, needle):
    with pytest.raises(CodesignError, match=needle):
        cm.evaluate_batch(R20, "n3h-zcu102", GOOD, GOOD, **kwargs)


def test_evaluate_batch_takes_a_design_batch():
    with pytest.raises(TypeError, match="DesignBatch"):
        cm.get_target("n3h-zcu102").evaluate_batch(R20, GOOD)  # type: ignore[arg-type]


_cells = st.one_of(st.integers(-3, 20), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=2), st.none())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_cells, min_size=0, max_size=L + 1), min_size=0, max_size=3))
def test_any_bits_payload_is_costed_or_refused_with_a_codesign_error(rows):
    """Whatever comes in: a BatchCost or a CodesignError, never another exception."""
    try:
        cost = cm.evaluate_batch(R20, "n3h-zcu102", rows, GOOD[: max(len(rows), 1)])
    except CodesignError:
        return
    assert len(cost) == len(rows) and np.isfinite(cost.latency_ms).all()


@pytest.mark.parametrize(("args", "needle"), [
    (("resnet20", "n3h-zcu102"), "workload must be a hwsim.ir.Workload"),
    ((R20, "n3h-zcu102", "design.toml"), "design must be a cost_models.Design"),
    ((R20, "n3h-zcu102", None, "fast"), "offers fidelity"),
    ((R20, "n3h-zcu999"), "n3h-zcu102"),
])
def test_evaluate_refuses_arguments_of_the_wrong_kind(args, needle):
    with pytest.raises(CodesignError, match=needle):
        cm.evaluate(*args)
