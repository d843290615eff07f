"""The hardware loader: every validation branch, and every shipped preset against REFERENCE.md."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from hwsim.errors import Checker, Problem, SpecError, UnknownNameError
from hwsim.spec import (
    COMPONENTS,
    DspCore,
    FpgaDevice,
    Gpu,
    Hardware,
    LstmAccelerator,
    LutCore,
    SystolicArray,
    build_record,
    check_table,
    hardware_summary,
    list_hardware,
    load_hardware,
)

GOOD_FPGA = """
[fpga]
part = "XC7Z020"
lut = 53200
ff = 106400
dsp = 220
bram36 = 140
"""

PRESET = """
[preset]
name = "mine"
description = "a test board"
source = "the test"
"""


def write(tmp_path: Path, text: str, name: str = "board.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(SpecError) as info:
        load_hardware(path)
    return info.value.problems


def where_list(problems: list[Problem]) -> list[str]:
    return [p.where for p in problems]


# --------------------------------------------------------------------------------------------
# A valid user file
# --------------------------------------------------------------------------------------------


def test_user_file_loads_with_defaults_and_int_for_float(tmp_path):
    path = write(tmp_path, PRESET + GOOD_FPGA + "clock_mhz = 150\n")
    hw = load_hardware(path)
    assert hw == Hardware("mine", "a test board", "the test",
                          fpga=FpgaDevice("XC7Z020", 53200, 106400, 220, 140, clock_mhz=150.0))
    assert isinstance(hw.fpga.clock_mhz, float)  # TOML int accepted for a float, converted
    assert hw.fpga.dram_bytes_per_cycle == 8.0  # default


def test_user_file_by_string_path(tmp_path):
    path = write(tmp_path, PRESET + GOOD_FPGA)
    assert load_hardware(str(path)).name == "mine"


def test_heterogeneous_user_file(tmp_path):
    text = PRESET + GOOD_FPGA + "[dsp_core]\ninput_buffer_depth = 4096\n[lut_core]\nrows = 4\n"
    hw = load_hardware(write(tmp_path, text))
    assert hw.dsp_core == DspCore(input_buffer_depth=4096)
    assert hw.lut_core == LutCore(rows=4)


# --------------------------------------------------------------------------------------------
# One branch at a time
# --------------------------------------------------------------------------------------------


def test_unknown_key_lists_allowed_keys(tmp_path):
    (p,) = problems_of(write(tmp_path, PRESET + GOOD_FPGA + "luts = 5\n"))
    assert p.where == "board.toml: [fpga] luts"
    assert "unknown key" in p.message and "did you mean 'lut'" in p.message
    for field in ("part", "lut", "ff", "dsp", "bram36", "uram", "clock_mhz",
                  "dram_bytes_per_cycle"):
        assert field in p.message


def test_unknown_section_lists_known_sections(tmp_path):
    (p,) = problems_of(write(tmp_path, PRESET + GOOD_FPGA + "[tpu]\ncores = 2\n"))
    assert p.where == "board.toml: [tpu]"
    assert "unknown section" in p.message
    for section in ("preset", *COMPONENTS):
        assert section in p.message


def test_section_that_is_not_a_table(tmp_path):
    (p,) = problems_of(write(tmp_path, 'gpu = "big"\n' + PRESET + GOOD_FPGA))
    assert p.where == "board.toml: [gpu]"
    assert "must be a table" in p.message


@pytest.mark.parametrize(("line", "expected"), [
    ('lut = "53200"', "must be an integer"),
    ("lut = 53200.0", "must be an integer"),
    ("lut = true", "must be an integer"),
    ('clock_mhz = "fast"', "must be a number"),
    ("clock_mhz = false", "must be a number"),
    ("part = 7020", "must be a string"),
])
def test_wrong_type(tmp_path, line, expected):
    key = line.split(" = ")[0]
    text = PRESET + GOOD_FPGA.replace(f"\n{key} =", f"\n#{key} =") + line + "\n"
    (p,) = problems_of(write(tmp_path, text))
    assert p.where == f"board.toml: [fpga] {key}"
    assert p.message == expected


def test_negative_size(tmp_path):
    text = PRESET + "[lut_core]\nrows = -8\n" + GOOD_FPGA
    (p,) = problems_of(write(tmp_path, text))
    assert p.where == "board.toml: [lut_core] rows"
    assert p.value == -8
    assert "in [1, " in p.message


def test_lut_count_zero(tmp_path):
    (p,) = problems_of(write(tmp_path, PRESET + GOOD_FPGA.replace("lut = 53200", "lut = 0")))
    assert p.where == "board.toml: [fpga] lut"
    assert p.value == 0


def test_missing_required_key(tmp_path):
    (p,) = problems_of(write(tmp_path, PRESET + GOOD_FPGA.replace("dsp = 220\n", "")))
    assert p.where == "board.toml: [fpga] dsp"
    assert "required" in p.message


def test_missing_preset_section(tmp_path):
    (p,) = problems_of(write(tmp_path, GOOD_FPGA))
    assert p.where == "board.toml: [preset]"
    assert "missing" in p.message


def test_missing_preset_name(tmp_path):
    (p,) = problems_of(write(tmp_path, '[preset]\ndescription = "x"\n' + GOOD_FPGA))
    assert p.where == "board.toml: [preset] name"
    assert "required" in p.message


def test_unknown_key_in_preset_table(tmp_path):
    (p,) = problems_of(write(tmp_path, PRESET + 'vendor = "x"\n' + GOOD_FPGA))
    assert p.where == "board.toml: [preset] vendor"
    assert "name, description, source" in p.message  # components are not keys of [preset]


def test_component_cannot_be_set_inside_preset_table(tmp_path):
    (p,) = problems_of(write(tmp_path, PRESET + "[preset.fpga]\nlut = 1\n" + GOOD_FPGA))
    assert p.where == "board.toml: [preset] fpga"
    assert "unknown key" in p.message


def test_preset_without_any_component(tmp_path):
    (p,) = problems_of(write(tmp_path, PRESET))
    assert p.where == "board.toml: [preset] name"
    assert "at least one of" in p.message


def test_cores_without_fpga(tmp_path):
    (p,) = problems_of(write(tmp_path, PRESET + "[dsp_core]\n"))
    assert p.where == "board.toml: [fpga]"
    assert "[fpga]" in p.message


def test_record_consistency_check_reported_with_key(tmp_path):
    text = PRESET + GOOD_FPGA + "[lut_core]\ndepth_bits = 100\n"
    (p,) = problems_of(write(tmp_path, text))
    assert p.where == "board.toml: [lut_core] depth_bits"
    assert "multiple of 64" in p.message


def test_bad_enum_value(tmp_path):
    (p,) = problems_of(write(tmp_path, PRESET + '[systolic_array]\ndataflow = "rs"\n'))
    assert p.where == "board.toml: [systolic_array] dataflow"
    assert "'ws', 'os', 'is'" in p.message


# --------------------------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------------------------


def test_several_problems_reported_together_with_file_and_key(tmp_path):
    text = """
[preset]
name = "broken"
colour = "red"

[fpga]
part = "XC7Z020"
lut = 0
ff = "many"
dsp = -4
bram36 = 140
speed = 3

[lut_core]
rows = -1
depth_bits = 100

[gpu]
model = "x"
peak_tflops = 1.0
memory_gbps = 10.0

[asic]
area = 1
"""
    path = write(tmp_path, text, "zcu102.toml")
    with pytest.raises(SpecError) as info:
        load_hardware(path)
    err = info.value
    assert where_list(err.problems) == [
        "zcu102.toml: [fpga] ff",       # wrong type
        "zcu102.toml: [fpga] speed",    # unknown key
        "zcu102.toml: [fpga] lut",      # LUT count zero, found despite the wrong type above
        "zcu102.toml: [fpga] dsp",      # negative
        "zcu102.toml: [lut_core] rows",
        "zcu102.toml: [lut_core] depth_bits",
        "zcu102.toml: [gpu] memory_gib",  # required, missing
        "zcu102.toml: [asic]",            # unknown section
        "zcu102.toml: [preset] colour",   # unknown key
    ]
    message = str(err)
    assert str(path) in message
    assert f"{len(err.problems)} problem(s)" in message
    for problem in err.problems:  # one line each, with file and key
        assert f"  - {problem}" in message
        assert problem.where.startswith("zcu102.toml: [")


def test_range_problems_still_reported_when_a_record_has_a_wrong_type(tmp_path):
    text = PRESET + '[lut_core]\nrows = "8"\ncols = 0\ndepth_bits = 100\n' + GOOD_FPGA
    problems = problems_of(write(tmp_path, text))
    assert [(p.where, p.value) for p in problems] == [
        ("board.toml: [lut_core] rows", "8"),
        ("board.toml: [lut_core] cols", 0),
        ("board.toml: [lut_core] depth_bits", 100),
    ]
    assert problems[0].message == "must be an integer"  # the record's own message is dropped


def test_value_problems_of_a_well_typed_section_reported_together(tmp_path):
    fpga = GOOD_FPGA.replace("lut = 53200", "lut = 0").replace("dsp = 220", "dsp = -1")
    problems = problems_of(write(tmp_path, PRESET + fpga + "clock_mhz = -100\n"))
    assert where_list(problems) == ["board.toml: [fpga] lut", "board.toml: [fpga] dsp",
                                    "board.toml: [fpga] clock_mhz"]


# --------------------------------------------------------------------------------------------
# Files and names
# --------------------------------------------------------------------------------------------


def test_bad_toml_syntax_gives_file_and_line(tmp_path):
    text = PRESET + "[fpga]\npart = \"XC7Z020\"\nlut 53200\n"
    (p,) = problems_of(write(tmp_path, text))
    line = text.splitlines().index("lut 53200") + 1
    assert p.where == f"board.toml: line {line}"
    assert p.value == "lut 53200"
    assert "invalid TOML" in p.message


def test_syntax_error_at_end_of_document_points_at_last_line(tmp_path):
    text = PRESET + GOOD_FPGA + 'clock_mhz = "100'
    (p,) = problems_of(write(tmp_path, text))
    assert p.where == f"board.toml: line {len(text.splitlines())}"
    assert p.value == 'clock_mhz = "100'
    assert p.message == "invalid TOML: Unterminated string"


def test_duplicate_key_is_a_syntax_error(tmp_path):
    (p,) = problems_of(write(tmp_path, PRESET + GOOD_FPGA + "lut = 1\n"))
    assert p.where.startswith("board.toml: line ")
    assert "invalid TOML" in p.message


def test_not_utf8(tmp_path):
    path = tmp_path / "board.toml"
    path.write_bytes(b'[preset]\nname = "\xff"\n')
    (p,) = problems_of(path)
    assert p.where == "board.toml"
    assert "UTF-8" in p.message


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(SpecError) as info:
        load_hardware(path)
    assert str(path) in str(info.value)
    assert "no such file" in str(info.value)
    with pytest.raises(SpecError, match="no such file"):
        load_hardware(str(path))


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(SpecError, match="directory"):
        load_hardware(tmp_path)


def test_unknown_preset_name_lists_known_names():
    with pytest.raises(UnknownNameError) as info:
        load_hardware("zcu999")
    message = str(info.value)
    assert "'zcu999'" in message
    for name in list_hardware():
        assert name in message
    assert info.value.known == list_hardware()
    assert isinstance(info.value, KeyError)


# --------------------------------------------------------------------------------------------
# build_record / check_table on their own
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sample:
    name: str
    modes: tuple[int, ...]
    scale: float = 1.0
    flag: bool = False
    other: FpgaDevice | None = None
    limit: int | None = None


def test_build_record_converts_arrays_and_checks_elements():
    problems: list[Problem] = []
    rec = build_record(_Sample, {"name": "a", "modes": [1, 2], "scale": 2, "flag": True},
                       "f.toml: [s]", problems)
    assert problems == []
    assert rec == _Sample("a", (1, 2), 2.0, True)

    bad = build_record(_Sample, {"name": "a", "modes": [1, 2.5], "flag": 1}, "f.toml: [s]",
                       problems)
    assert bad is None
    assert [(p.where, p.message) for p in problems] == [
        ("f.toml: [s] modes", "must be an array of integers"),
        ("f.toml: [s] flag", "must be true or false"),
    ]


def test_build_record_exclude_and_extra():
    problems: list[Problem] = []
    assert check_table(_Sample, {"name": "a", "modes": [], "other": {}}, "w", problems,
                       exclude=("other",)) is None
    assert problems[0].where == "w other"
    assert "other" not in problems[0].message.split("allowed:")[1]

    problems.clear()
    fpga = FpgaDevice("p", 1, 1, 1, 1)
    rec = build_record(_Sample, {"name": "a", "modes": [3]}, "w", problems,
                       exclude=("other",), extra={"other": fpga})
    assert problems == [] and rec is not None and rec.other is fpga


def test_build_record_optional_field_checked_against_its_type():
    problems: list[Problem] = []
    assert check_table(_Sample, {"name": "a", "modes": [1], "limit": 3}, "w", problems) == {
        "name": "a", "modes": (1,), "limit": 3}
    assert check_table(_Sample, {"name": "a", "modes": [1], "limit": 3.5}, "w", problems) is None
    assert [(p.where, p.message) for p in problems] == [("w limit", "must be an integer")]


@dataclass(frozen=True, slots=True)
class _Fragile:
    """A record whose checks assume well-typed fields, as some layer records do."""

    modes: tuple[int, ...]
    count: int = 1

    def __post_init__(self) -> None:
        if len(self.modes) > 3:
            raise TypeError("a bug in the record")
        c = Checker()
        c.positive("count", self.count)
        c.raise_if_any(SpecError, "_Fragile")


def test_record_tripping_over_an_already_reported_value_is_not_an_error():
    problems: list[Problem] = []
    assert build_record(_Fragile, {"modes": 3, "count": 0}, "w", problems) is None
    assert [p.where for p in problems] == ["w modes"]  # len(3) failed; nothing more to say


def test_record_failing_on_well_typed_input_is_a_bug_and_raises():
    with pytest.raises(TypeError, match="bug"):
        build_record(_Fragile, {"modes": [1, 2, 3, 4]}, "w", [])


# --------------------------------------------------------------------------------------------
# Shipped presets
# --------------------------------------------------------------------------------------------

# REFERENCE.md section 2, "Boards" table: LUT, FF, DSP, BRAM36, URAM.
BOARDS = {
    "pynq-z2": ("XC7Z020", 53_200, 106_400, 220, 140, 0),
    "zc706": ("XC7Z045", 218_600, 437_200, 900, 545, 0),
    "zcu104": ("XCZU7EV", 230_400, 460_800, 1_728, 312, 96),
    "zcu102": ("XCZU9EG", 274_080, 548_160, 2_520, 912, 0),
}


def test_list_hardware_is_sorted_and_complete():
    names = list_hardware()
    assert names == sorted(names)
    expected = {*BOARDS, *(f"n3h-{b}" for b in BOARDS), "systolic-32x32", "rtx-3090",
                "jetson-tx2", "tie"}
    assert expected <= set(names)


@pytest.mark.parametrize("name", list_hardware())
def test_every_preset_loads_and_is_named_after_its_file(name):
    hw = load_hardware(name)
    assert hw.name == name
    assert hw.description and hw.source
    assert load_hardware(name) is hw  # presets are cached
    json.dumps(hardware_summary(hw))


@pytest.mark.parametrize("board", BOARDS)
def test_board_figures_equal_reference_table(board):
    part, lut, ff, dsp, bram36, uram = BOARDS[board]
    # Two HP AXI ports at the fabric clock: 2 x 128 bit on UltraScale+, 2 x 64 bit on Zynq-7000.
    port = 32.0 if board.startswith("zcu") else 16.0
    expected = FpgaDevice(part, lut, ff, dsp, bram36, uram, clock_mhz=100.0,
                          dram_bytes_per_cycle=port)
    assert load_hardware(board).fpga == expected
    assert "DS19" in load_hardware(board).source or "DS89" in load_hardware(board).source
    n3h = load_hardware(f"n3h-{board}")
    assert n3h.fpga == expected
    assert n3h.dsp_core is not None and n3h.lut_core is not None


def test_n3h_zcu102_is_the_papers_sanity_configuration():
    """REFERENCE.md section 1: Dm=8, Dk=128, Dn=16, LMEM=1024, Dl=2048, Dr=1024, 100 MHz."""
    hw = load_hardware("n3h-zcu102")
    lut, dsp = hw.lut_core, hw.dsp_core
    assert (lut.rows, lut.depth_bits, lut.cols, lut.act_buffer_depth) == (8, 128, 16, 1024)
    assert lut.dram_bits_per_cycle == 64
    assert (dsp.block_rows, dsp.block_cols) == (16, 16)
    assert (dsp.input_buffer_depth, dsp.weight_buffer_depth) == (2048, 1024)
    assert hw.fpga.clock_mhz == 100.0


def _bismo_lut(core: LutCore) -> float:
    """BISMO's LUT estimate (REFERENCE.md section 2)."""
    return core.rows * core.cols * (1.17 * core.depth_bits + 44.1 + 120.1)


def _bismo_bram36(core: LutCore) -> int:
    """BISMO's BRAM36 estimate (REFERENCE.md section 2)."""
    return math.ceil(core.depth_bits / 32) * (core.rows * math.ceil(core.act_buffer_depth / 1024)
                                              + core.cols * math.ceil(core.weight_buffer_depth
                                                                      / 1024))


def test_bismo_estimator_matches_reference_figure():
    core = load_hardware("n3h-zcu102").lut_core
    assert round(_bismo_lut(core)) == 40_187  # "~40.2 k LUT"
    assert _bismo_bram36(core) == 96


@pytest.mark.parametrize("board", BOARDS)
def test_n3h_presets_leave_room_for_a_shell(board):
    hw = load_hardware(f"n3h-{board}")
    dsp_slices = hw.dsp_core.block_rows * hw.dsp_core.block_cols // hw.dsp_core.macs_per_dsp_packed
    assert dsp_slices == 128
    assert dsp_slices <= 0.6 * hw.fpga.dsp
    assert _bismo_lut(hw.lut_core) <= 0.4 * hw.fpga.lut
    assert _bismo_bram36(hw.lut_core) <= 0.4 * hw.fpga.bram36


def test_gpu_lstm_and_systolic_presets():
    assert load_hardware("rtx-3090").gpu == Gpu(
        "GeForce RTX 3090 (GA102)", 35.6, 936.0, 24.0, 82, peak_tflops_fp16=71.0,
        peak_tflops_int8=284.0, clock_mhz=1695.0)
    tx2 = load_hardware("jetson-tx2").gpu
    assert (tx2.peak_tflops, tx2.memory_gbps, tx2.memory_gib, tx2.sm_count) == (0.67, 59.7, 8.0, 2)
    assert load_hardware("tie").lstm_accelerator == LstmAccelerator(
        style="tie", pes=16, banks=16, clock_mhz=1000.0, area_mm2=1.74)
    sa = load_hardware("systolic-32x32").systolic_array
    assert sa == SystolicArray(32, 32, "os", 64, 64, 64, 1000.0, 10.0, 8, area_budget_mm2=1.6)


def test_hardware_summary_holds_every_field_of_present_components():
    summary = hardware_summary(load_hardware("n3h-zcu102"))
    assert summary["name"] == "n3h-zcu102"
    assert set(summary) == {"name", "description", "source", "fpga", "dsp_core", "lut_core"}
    assert summary["fpga"]["lut"] == 274_080
    assert summary["lut_core"]["depth_bits"] == 128
    assert json.loads(json.dumps(summary)) == summary


def test_user_file_named_like_a_preset_path_is_read_as_a_file(tmp_path, monkeypatch):
    write(tmp_path, PRESET + GOOD_FPGA, "myboard")
    monkeypatch.chdir(tmp_path)
    assert load_hardware("myboard").name == "mine"  # an existing file, not a preset name
