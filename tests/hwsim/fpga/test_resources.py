"""FPGA resource model: BISMO's published estimator, DSP packing, BRAM mapping, monotonicity,
feasibility against the REFERENCE.md board figures."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.errors import RecordError, SpecError
from hwsim.fpga.resources import (
    BISMO_CONTROL,
    BISMO_FETCH_STAGE,
    BISMO_RESULT_STAGE,
    ZYNQ7_SHELL,
    ZYNQMP_SHELL,
    Resources,
    bram36_for,
    check_feasible,
    dsp_core_resources,
    lut_core_resources,
    ramb18_for,
    shell_resources,
    total_resources,
    utilisation,
)
from hwsim.spec.records import DspCore, FpgaDevice, LutCore

# REFERENCE.md section 2 board table.
PYNQ_Z2 = FpgaDevice(part="xc7z020clg400-1", lut=53_200, ff=106_400, dsp=220, bram36=140)
ZCU102 = FpgaDevice(part="xczu9eg-ffvb1156-2-e", lut=274_080, ff=548_160, dsp=2_520, bram36=912)

N3H_LUT = LutCore(rows=8, depth_bits=128, cols=16, act_buffer_depth=1024, weight_buffer_depth=1024)
N3H_DSP = DspCore(block_rows=16, block_cols=16, input_buffer_depth=2048, weight_buffer_depth=1024)

FIELDS = ("lut", "ff", "dsp", "bram36", "uram")


def bismo_lut_direct(dm: int, dk: int, dn: int) -> float:
    """BISMO.scala estimateResources, written out as in the release."""
    lut_per_dpu = 1.17 * dk + 44.1
    return dm * dn * (lut_per_dpu + 120.1)


def bismo_bram_direct(dm: int, dk: int, dn: int, lhs: int, rhs: int) -> int:
    return math.ceil(dk / 32) * (dm * math.ceil(lhs / 1024) + dn * math.ceil(rhs / 1024))


def assert_no_field_smaller(small: Resources, big: Resources) -> None:
    for name in FIELDS:
        assert getattr(big, name) >= getattr(small, name), (name, small, big)


# --- BISMO array -------------------------------------------------------------------------------


def test_bismo_8x128x16_matches_published_figures() -> None:
    array = lut_core_resources(N3H_LUT).breakdown["array"]
    assert array.lut == pytest.approx(40_200, abs=100)  # REFERENCE.md: ~40.2 k LUT
    assert array.lut == math.ceil(bismo_lut_direct(8, 128, 16))
    assert array.bram36 == 96
    assert array.dsp == 0


@pytest.mark.parametrize(
    ("dm", "dk", "dn", "lhs", "rhs"),
    [
        (2, 64, 2, 1024, 1024),
        (8, 256, 8, 1024, 1024),
        (4, 192, 12, 2048, 1024),
        (1, 64, 1, 512, 4096),
        (50, 256, 50, 3000, 1500),
    ],
)
def test_bismo_array_is_the_release_estimator(
    dm: int, dk: int, dn: int, lhs: int, rhs: int
) -> None:
    core = LutCore(rows=dm, depth_bits=dk, cols=dn, act_buffer_depth=lhs, weight_buffer_depth=rhs)
    array = lut_core_resources(core).breakdown["array"]
    assert array.lut == math.ceil(bismo_lut_direct(dm, dk, dn))
    assert array.bram36 == bismo_bram_direct(dm, dk, dn, lhs, rhs)


@pytest.mark.parametrize("dk", [64, 128, 256])
@pytest.mark.parametrize("depth", [512, 1024, 2048, 4096])
def test_bismo_bram_formula_agrees_with_generic_mapping(dk: int, depth: int) -> None:
    # One tile memory is Dk bits wide; BISMO counts 32 bits x 1024 per BRAM36.
    core = LutCore(rows=1, depth_bits=dk, cols=1, act_buffer_depth=depth, weight_buffer_depth=depth)
    per_memory = lut_core_resources(core).breakdown["array"].bram36 / 2
    if depth >= 1024:
        assert per_memory == bram36_for(dk, depth)
    else:  # a 512-deep memory fits half the RAMB36s the 1024-granular formula charges
        assert per_memory >= bram36_for(dk, depth)


def test_lut_core_parts_add_up() -> None:
    res = lut_core_resources(N3H_LUT)
    assert list(res.breakdown) == ["array", "fetch", "result", "control"]
    assert sum(res.breakdown.values(), Resources()) == res
    overhead = BISMO_FETCH_STAGE + BISMO_RESULT_STAGE + BISMO_CONTROL
    assert res.lut == res.breakdown["array"].lut + overhead.lut


# --- DSP core ----------------------------------------------------------------------------------


@pytest.mark.parametrize("act_bits", [1, 2, 4, 5, 8])
def test_dsp_count_follows_the_latency_model(act_bits: int) -> None:
    # EX = 2 cycles per 16x16 block: 128 DSPs, one MAC each per cycle at A8, two packed at A<=4.
    assert dsp_core_resources(N3H_DSP, act_bits).dsp == 128


def test_w8a4_16x16_uses_128_dsps() -> None:
    assert dsp_core_resources(DspCore(), 4).dsp == 128
    assert dsp_core_resources(DspCore(cycles_per_block=1), 8).dsp == 256


def test_odd_mac_count_rounds_dsps_up() -> None:
    core = DspCore(block_rows=3, block_cols=3)
    assert dsp_core_resources(core, 4).dsp == 5
    assert dsp_core_resources(core, 8).dsp == 5


def test_dsp_core_buffers_follow_vta_layout() -> None:
    # 128-bit x 2048 input (16 RAMB18), 2048-bit x 1024 weights (128), 128-bit x 512 out (4).
    buffers = dsp_core_resources(N3H_DSP, 4).breakdown["buffers"]
    assert buffers.bram36 == (16 + 128 + 4) // 2 == 74


@pytest.mark.parametrize("bad", [0, 17, -1, True, 4.0])
def test_dsp_core_rejects_bad_act_bits(bad: object) -> None:
    with pytest.raises(SpecError, match="act_bits_max"):
        dsp_core_resources(N3H_DSP, bad)  # type: ignore[arg-type]


# --- BRAM mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "depth", "halves"),
    [
        (1, 16384, 1),
        (1, 16385, 2),
        (32, 512, 1),
        (16, 1024, 1),
        (8, 2048, 1),
        (33, 512, 2),
        (128, 2048, 16),
        (2048, 1024, 128),
        (72, 512, 3),
        (1, 1, 1),
        (36, 1024, 3),
    ],
)
def test_ramb18_mapping(width: int, depth: int, halves: int) -> None:
    assert ramb18_for(width, depth) == halves
    assert bram36_for(width, depth) == math.ceil(halves / 2)


@pytest.mark.parametrize(("width", "depth"), [(0, 10), (10, 0), (-1, 5)])
def test_bram_mapping_rejects_non_positive(width: int, depth: int) -> None:
    with pytest.raises(SpecError):
        ramb18_for(width, depth)


@given(st.integers(1, 4096), st.integers(1, 70_000), st.integers(0, 64), st.integers(0, 5000))
def test_bram_mapping_is_monotone_and_holds_the_bits(
    width: int, depth: int, dw: int, dd: int
) -> None:
    n = ramb18_for(width, depth)
    assert ramb18_for(width + dw, depth + dd) >= n
    assert n * 18 * 1024 >= width * depth  # never fewer bits than the memory holds


# --- monotonicity ------------------------------------------------------------------------------

lut_cores = st.builds(
    LutCore,
    rows=st.integers(1, 50),
    depth_bits=st.sampled_from([64, 128, 192, 256]),
    cols=st.integers(1, 50),
    act_buffer_depth=st.integers(1, 8192),
    weight_buffer_depth=st.integers(1, 8192),
)


@settings(max_examples=200)
@given(
    lut_cores,
    st.sampled_from(["rows", "depth_bits", "cols", "act_buffer_depth", "weight_buffer_depth"]),
    st.integers(1, 2048),
)
def test_lut_core_never_shrinks_when_it_grows(core: LutCore, knob: str, step: int) -> None:
    if knob == "depth_bits":
        step = 64 * (1 + step % 4)
    bigger = replace(core, **{knob: getattr(core, knob) + step})
    assert_no_field_smaller(lut_core_resources(core), lut_core_resources(bigger))


dsp_cores = st.builds(
    DspCore,
    block_rows=st.integers(1, 64),
    block_cols=st.integers(1, 64),
    input_buffer_depth=st.integers(1, 25_600),
    weight_buffer_depth=st.integers(1, 4096),
)


@settings(max_examples=200)
@given(
    dsp_cores,
    st.sampled_from(["block_rows", "block_cols", "input_buffer_depth", "weight_buffer_depth"]),
    st.integers(1, 4096),
    st.integers(1, 16),
)
def test_dsp_core_never_shrinks_when_it_grows(
    core: DspCore, knob: str, step: int, act_bits: int
) -> None:
    bigger = replace(core, **{knob: getattr(core, knob) + step})
    assert_no_field_smaller(
        dsp_core_resources(core, act_bits), dsp_core_resources(bigger, act_bits)
    )


@given(lut_cores, dsp_cores, st.integers(1, 16))
def test_total_is_the_sum_of_its_parts(lut: LutCore, dsp: DspCore, act_bits: int) -> None:
    total = total_resources(ZCU102, dsp, lut, act_bits)
    assert total == (
        shell_resources(ZCU102) + dsp_core_resources(dsp, act_bits) + lut_core_resources(lut)
    )
    assert sum(total.breakdown.values(), Resources()) == total


# --- Resources record --------------------------------------------------------------------------


def test_addition_and_breakdown() -> None:
    a = Resources(lut=10, ff=20, dsp=1, bram36=2).labelled("a")
    b = Resources(lut=1, ff=2, dsp=3, bram36=4, uram=5).labelled("b")
    total = a + b + a
    assert total == Resources(lut=21, ff=42, dsp=5, bram36=8, uram=5)
    assert total.breakdown == {
        "a": Resources(lut=20, ff=40, dsp=2, bram36=4),
        "b": Resources(lut=1, ff=2, dsp=3, bram36=4, uram=5),
    }
    assert list(total.labelled("top").breakdown) == ["top/a", "top/b"]
    assert (Resources(lut=1) + Resources(lut=2)).breakdown == {"other": Resources(lut=3)}
    assert Resources().breakdown == {}
    assert (a + Resources()).breakdown == a.breakdown


def test_equality_ignores_breakdown() -> None:
    r = Resources(lut=5)
    assert r.labelled("x") == r
    assert hash(r.labelled("x")) == hash(r)
    assert r.labelled("x").totals().parts == ()


def test_adding_a_non_record_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Resources(lut=1) + 1  # type: ignore[operator]


@pytest.mark.parametrize("bad", [{"lut": -1}, {"dsp": 1.5}, {"bram36": True}])
def test_resources_reject_bad_counts(bad: dict[str, object]) -> None:
    with pytest.raises(RecordError):
        Resources(**bad)  # type: ignore[arg-type]


def test_report_lists_parts_total_and_utilisation() -> None:
    text = total_resources(ZCU102, N3H_DSP, N3H_LUT, 4).report(ZCU102)
    for word in (
        "shell",
        "dsp_core/buffers",
        "lut_core/array",
        "total",
        "limit",
        "utilisation",
        "274,080",
        ZCU102.part,
    ):
        assert word in text
    assert "limit" not in Resources(lut=1).report()


# --- shell, feasibility ------------------------------------------------------------------------


def test_shell_depends_on_family() -> None:
    assert shell_resources(ZCU102) == ZYNQMP_SHELL
    assert shell_resources(PYNQ_Z2) == ZYNQ7_SHELL
    assert list(shell_resources(PYNQ_Z2).breakdown) == ["shell"]


def test_shell_only_when_no_cores() -> None:
    assert total_resources(PYNQ_Z2, None, None, 8) == ZYNQ7_SHELL


def test_check_feasible_message_format() -> None:
    ok, problems = check_feasible(Resources(lut=61_234), PYNQ_Z2)
    assert not ok
    assert problems == ["LUT 61,234 > 53,200 (115.1%)"]


def test_check_feasible_lists_every_violated_limit() -> None:
    used = Resources(lut=60_000, ff=200_000, dsp=221, bram36=141, uram=1)
    ok, problems = check_feasible(used, PYNQ_Z2)
    assert not ok
    assert problems == [
        "LUT 60,000 > 53,200 (112.8%)",
        "FF 200,000 > 106,400 (188.0%)",
        "DSP 221 > 220 (100.5%)",
        "BRAM36 141 > 140 (100.7%)",
        "URAM 1 > 0 (device has none)",
    ]


def test_exactly_at_the_limit_fits() -> None:
    used = Resources(lut=53_200, ff=106_400, dsp=220, bram36=140)
    assert check_feasible(used, PYNQ_Z2) == (True, [])
    assert utilisation(used, PYNQ_Z2) == {
        "lut": 1.0,
        "ff": 1.0,
        "dsp": 1.0,
        "bram36": 1.0,
        "uram": 0.0,
    }


def test_utilisation_of_missing_resource() -> None:
    assert utilisation(Resources(uram=2), PYNQ_Z2)["uram"] == math.inf


@pytest.mark.parametrize("act_bits", [4, 8])
def test_default_n3h_design_fits_zcu102_but_not_pynq_z2(act_bits: int) -> None:
    ok, problems = check_feasible(total_resources(ZCU102, N3H_DSP, N3H_LUT, act_bits), ZCU102)
    assert ok and problems == []
    ok, problems = check_feasible(total_resources(PYNQ_Z2, N3H_DSP, N3H_LUT, act_bits), PYNQ_Z2)
    assert not ok
    assert any(p.startswith("LUT ") for p in problems)
    assert any(p.startswith("BRAM36 ") for p in problems)
    assert not any(p.startswith("DSP ") for p in problems)  # 128 DSPs <= 220 at any width


def test_default_n3h_figures() -> None:
    """Golden figures of the default N3H-Core configuration on ZCU102 (W8A4 DSP core); a
    change here means a changed estimate. Regenerate by printing
    ``total_resources(ZCU102, N3H_DSP, N3H_LUT, 4).report(ZCU102)`` with the records above.
    """
    total = total_resources(ZCU102, N3H_DSP, N3H_LUT, 4)
    assert total == Resources(lut=60_843, ff=47_556, dsp=128, bram36=172)
