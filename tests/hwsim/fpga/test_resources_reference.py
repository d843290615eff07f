"""FPGA resource model against independent references (issue 16, mutation-tested formulas).

Every expected value here is either derived by hand in a comment (from docs/formulas.md,
"FPGA resources", and REFERENCE.md section 2), or computed by a small plain-Python
transcription of the documented formula written in this file; none is computed by calling the
function under test. Complements tests/hwsim/fpga/test_resources.py, which holds the published
figures (BISMO 8x128x16, 128 DSPs) and the property tests.
"""

from __future__ import annotations

import pytest

from hwsim.errors import RecordError, SpecError
from hwsim.fpga.resources import (
    ZYNQ7_SHELL,
    ZYNQMP_SHELL,
    Resources,
    dsp_core_resources,
    lut_core_resources,
    ramb18_for,
    shell_resources,
)
from hwsim.spec.records import DspCore, FpgaDevice, LutCore

# REFERENCE.md section 2 board table (ZCU104 is the one board there with URAM).
PYNQ_Z2 = FpgaDevice(part="xc7z020clg400-1", lut=53_200, ff=106_400, dsp=220, bram36=140)
ZCU104 = FpgaDevice(
    part="xczu7ev-ffvc1156-2-e", lut=230_400, ff=460_800, dsp=1_728, bram36=312, uram=96
)


# --- independent transcriptions of docs/formulas.md ----------------------------------------------

# UG473 data-only RAMB18 aspect ratios (width, depth), as listed in docs/formulas.md.
UG473_SHAPES = [(1, 16384), (2, 8192), (4, 4096), (8, 2048), (16, 1024), (32, 512)]


def ref_ramb18(width: int, depth: int) -> int:
    best = None
    for w, d in UG473_SHAPES:
        n = -(-width // w) * -(-depth // d)  # integer ceilings
        best = n if best is None else min(best, n)
    assert best is not None
    return best


def ref_dsp_core(core: DspCore, act_bits_max: int) -> tuple[int, int, int, int]:
    """(LUT, FF, DSP, BRAM36) of the DSP core's ``macs`` + ``buffers`` parts, from the
    docs/formulas.md "DSP core" block, control excluded."""
    rows, cols = core.block_rows, core.block_cols
    dsp = -(-(rows * cols) // core.cycles_per_block)
    packed = act_bits_max <= core.pack_act_bits
    if packed:
        product_bits = core.weight_bits + core.pack_act_bits
    else:
        product_bits = core.weight_bits + 8
    # adder tree of rows-1 adders, product_bits + ceil(log2(rows)) wide (none for one row)
    log2_rows = 0
    while (1 << log2_rows) < rows:
        log2_rows += 1
    tree = (rows - 1) * (product_bits + log2_rows)
    fix = dsp * product_bits if (packed and core.macs_per_dsp_packed >= 2) else 0
    lut = cols * (tree + 32 + 48) + fix
    ff = cols * (tree + 32 + 8)
    halves = (
        ref_ramb18(rows * 8, core.input_buffer_depth)
        + ref_ramb18(rows * cols * core.weight_bits, core.weight_buffer_depth)
        + ref_ramb18(cols * 8, 512)
    )
    return lut, ff, dsp, -(-halves // 2)


# --- DSP core: hand-derived figures ---------------------------------------------------------------


def test_default_dsp_core_at_a8_hand_derived() -> None:
    # 16x16, W8, A8 > pack_act_bits 4: not packed.
    # product_bits = 8 + 8 = 16; adder_bits = 16 + ceil(log2 16) = 20; tree = 15*20 = 300
    # LUT = 16*(300 + 32 + 48) = 16*380 = 6,080 (no packing fix); FF = 16*(300 + 32 + 8) = 5,440
    # DSP = 16*16/2 = 128
    res = dsp_core_resources(DspCore(), 8)
    assert res.breakdown["macs"] == Resources(lut=6_080, ff=5_440, dsp=128)
    # control 4,000 LUT / 5,000 FF on top; BRAM36 (16 + 128 + 4)/2 = 74
    assert res == Resources(lut=10_080, ff=10_440, dsp=128, bram36=74)


def test_default_dsp_core_at_a4_hand_derived() -> None:
    # A4 <= pack_act_bits 4: packed (the boundary itself packs).
    # product_bits = 8 + 4 = 12; adder_bits = 12 + 4 = 16; tree = 15*16 = 240
    # LUT = 16*(240 + 80) + 128*12 = 5,120 + 1,536 = 6,656; FF = 16*(240 + 40) = 4,480
    res = dsp_core_resources(DspCore(), 4)
    assert res.breakdown["macs"] == Resources(lut=6_656, ff=4_480, dsp=128)
    # A5 is past the boundary: the A8 figures (product_bits 16).
    assert dsp_core_resources(DspCore(), 5).breakdown["macs"] == Resources(
        lut=6_080, ff=5_440, dsp=128
    )


def test_no_packing_fix_when_a_dsp_holds_one_mac() -> None:
    # macs_per_dsp_packed = 1: packed product width (12 bits) but no sign-borrow correction.
    # LUT = 16*(240 + 80) = 5,120; FF = 4,480 as at A4 above.
    res = dsp_core_resources(DspCore(macs_per_dsp_packed=1), 4)
    assert res.breakdown["macs"] == Resources(lut=5_120, ff=4_480, dsp=128)


def test_two_row_block_has_a_one_adder_tree() -> None:
    # 2x3 block, A8: product_bits 16, adder_bits = 16 + ceil(log2 2) = 17, tree = 1*17 = 17
    # DSP = ceil(6/2) = 3; LUT = 3*(17 + 80) = 291; FF = 3*(17 + 40) = 171
    res = dsp_core_resources(DspCore(block_rows=2, block_cols=3), 8)
    assert res.breakdown["macs"] == Resources(lut=291, ff=171, dsp=3)


def test_one_row_block_has_no_adder_tree() -> None:
    # 1x5 block, A8: no adders; LUT = 5*(0 + 80) = 400, FF = 5*(0 + 40) = 200, DSP = ceil(5/2) = 3
    res = dsp_core_resources(DspCore(block_rows=1, block_cols=5), 8)
    assert res.breakdown["macs"] == Resources(lut=400, ff=200, dsp=3)


def test_non_square_dsp_core_buffers_hand_derived() -> None:
    # 4 rows x 8 cols, W8, Dl = 3000, Dr = 700.
    # input  4*8 = 32 bits x 3000: 512x32 -> 1*ceil(3000/512) = 6; 1Kx16 -> 2*3 = 6; 2Kx8 -> 4*2 = 8
    #        -> 6 halves
    # weight 4*8*8 = 256 bits x 700: 512x32 -> 8*2 = 16; 1Kx16 -> 16*1 = 16; 2Kx8 -> 32 -> 16
    # output 8*8 = 64 bits x 512: 512x32 -> 2 -> 2
    # halves 24 -> 12 BRAM36 (swapping rows and cols would give 12 + 16 + 1 = 29 -> 15)
    core = DspCore(block_rows=4, block_cols=8, input_buffer_depth=3000, weight_buffer_depth=700)
    assert dsp_core_resources(core, 8).breakdown["buffers"] == Resources(bram36=12)


def test_odd_buffer_halves_round_up_to_a_tile() -> None:
    # 1x1 block, W8, Dl = Dr = 1: input 8x1 (1), weight 8x1 (1), output 8x512 (1): 3 halves -> 2
    core = DspCore(block_rows=1, block_cols=1, input_buffer_depth=1, weight_buffer_depth=1)
    assert dsp_core_resources(core, 8).breakdown["buffers"] == Resources(bram36=2)


@pytest.mark.parametrize(
    ("core", "act_bits"),
    [
        (DspCore(), 1),
        (DspCore(), 16),
        (DspCore(block_rows=3, block_cols=7, cycles_per_block=1), 2),
        (DspCore(block_rows=5, block_cols=2, weight_bits=6, pack_act_bits=6), 6),
        (DspCore(block_rows=5, block_cols=2, weight_bits=6, pack_act_bits=6), 7),
        (DspCore(block_rows=33, block_cols=9, macs_per_dsp_packed=3, cycles_per_block=4), 3),
        (DspCore(block_rows=8, block_cols=32, pack_act_bits=0), 1),
        (
            DspCore(
                block_rows=12,
                block_cols=20,
                input_buffer_depth=25_600,
                weight_buffer_depth=4096,
                weight_bits=4,
            ),
            4,
        ),
    ],
)
def test_dsp_core_matches_the_documented_formula(core: DspCore, act_bits: int) -> None:
    lut, ff, dsp, bram = ref_dsp_core(core, act_bits)
    res = dsp_core_resources(core, act_bits)
    assert res.totals() == Resources(lut=lut + 4_000, ff=ff + 5_000, dsp=dsp, bram36=bram)
    assert res.breakdown["macs"] == Resources(lut=lut, ff=ff, dsp=dsp)
    assert res.breakdown["buffers"] == Resources(bram36=bram)
    assert res.breakdown["control"] == Resources(lut=4_000, ff=5_000)


def test_act_bits_bounds_are_inclusive() -> None:
    # [1, 16] both ends accepted (no error raised).
    dsp_core_resources(DspCore(), 1)
    dsp_core_resources(DspCore(), 16)


def test_bad_act_bits_message() -> None:
    # hwsim/errors.py: "invalid <record>: <n> problem(s)" then "  - <field>: <msg> (got <value>)"
    with pytest.raises(SpecError) as info:
        dsp_core_resources(DspCore(), 0)
    assert str(info.value) == (
        "invalid dsp_core_resources: 1 problem(s)\n"
        "  - act_bits_max: must be an int in [1, 16] (got 0)"
    )


# --- LUT core (BISMO) ---------------------------------------------------------------------------


def test_lut_core_default_hand_derived() -> None:
    # 8x128x16, 1024-entry buffers (REFERENCE.md: ~40.2 k LUT, 96 BRAM36).
    # LUT  = ceil(128*(1.17*128 + 44.1 + 120.1)) = ceil(128*313.96) = ceil(40,186.88) = 40,187
    # FF per DPU = 32 + ceil(log2 129) + 128//2 + 8 = 32 + 8 + 64 + 8 = 112
    # FF = 128*(112 + 32) + 2*(8 + 16)*128 = 18,432 + 6,144 = 24,576
    # BRAM36 = ceil(128/32)*(8*1 + 16*1) = 4*24 = 96
    res = lut_core_resources(LutCore())
    assert res.breakdown["array"] == Resources(lut=40_187, ff=24_576, bram36=96)
    # + fetch 1,500/2,000/1, result 1,000/1,500/1, control 2,500/3,000
    assert res == Resources(lut=45_187, ff=31_076, bram36=98)


def test_lut_core_buffer_one_entry_past_a_slice() -> None:
    # 1x64x1, LMEM 1025, RMEM 2049: BRAM36 = ceil(64/32)*(1*ceil(1025/1024) + 1*ceil(2049/1024))
    #                                      = 2*(2 + 3) = 10
    core = LutCore(rows=1, depth_bits=64, cols=1, act_buffer_depth=1025, weight_buffer_depth=2049)
    assert lut_core_resources(core).breakdown["array"].bram36 == 10
    # and the depths the other way round, with Dm = 2, Dn = 1 so the two sides differ:
    # 2*(2*ceil(2049/1024) + 1*ceil(1025/1024)) = 2*(2*3 + 1*2) = 16
    core = LutCore(rows=2, depth_bits=64, cols=1, act_buffer_depth=2049, weight_buffer_depth=1025)
    assert lut_core_resources(core).breakdown["array"].bram36 == 16


def test_lut_core_wide_dk_bram_hand_derived() -> None:
    # Dk = 1088 (17*64): ceil(1088/32) = 34 slices of 32 bits; 1x1 array, 1024-entry buffers:
    # BRAM36 = 34*(1 + 1) = 68
    core = LutCore(rows=1, depth_bits=1088, cols=1)
    array = lut_core_resources(core).breakdown["array"]
    assert array.bram36 == 68
    # LUT = ceil(1.17*1088 + 164.2) = ceil(1272.96 + 164.2) = ceil(1437.16) = 1,438
    # FF per DPU = 32 + ceil(log2 1089) + 544 + 8 = 32 + 11 + 544 + 8 = 595
    # FF = 1*(595 + 32) + 2*(1 + 1)*1088 = 627 + 4,352 = 4,979
    assert array == Resources(lut=1_438, ff=4_979, bram36=68)


@pytest.mark.parametrize(
    ("dm", "dk", "dn", "ff"),
    [
        # FF = Dm*Dn*(32 + ceil(log2(Dk+1)) + Dk//2 + 8 + 32) + 2*(Dm + Dn)*Dk
        (1, 64, 1, 1 * (32 + 7 + 32 + 8 + 32) + 2 * 2 * 64),  # 111 + 256 = 367
        (3, 192, 5, 15 * (32 + 8 + 96 + 8 + 32) + 2 * 8 * 192),  # 15*176 + 3,072 = 5,712
        (2, 256, 7, 14 * (32 + 9 + 128 + 8 + 32) + 2 * 9 * 256),  # 14*209 + 4,608 = 7,534
    ],
)
def test_lut_core_ff_hand_derived(dm: int, dk: int, dn: int, ff: int) -> None:
    core = LutCore(rows=dm, depth_bits=dk, cols=dn)
    assert lut_core_resources(core).breakdown["array"].ff == ff


# --- BRAM mapping --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "depth"),
    [(1, 1), (3, 5000), (5, 3000), (17, 1025), (31, 513), (64, 100), (100, 9000), (2048, 1024)],
)
def test_ramb18_matches_ug473_transcription(width: int, depth: int) -> None:
    assert ramb18_for(width, depth) == ref_ramb18(width, depth)


def test_bram_mapping_error_messages() -> None:
    with pytest.raises(SpecError) as info:
        ramb18_for(0, 5)
    assert str(info.value) == (
        "invalid ramb18_for: 1 problem(s)\n  - width_bits: must be an int >= 1 (got 0)"
    )
    with pytest.raises(SpecError) as info:
        ramb18_for(-2, 0)
    assert str(info.value) == (
        "invalid ramb18_for: 2 problem(s)\n"
        "  - width_bits: must be an int >= 1 (got -2)\n"
        "  - depth: must be an int >= 1 (got 0)"
    )


# --- Resources record ----------------------------------------------------------------------------


def test_resources_error_message() -> None:
    with pytest.raises(RecordError) as info:
        Resources(lut=-1, uram=True)  # type: ignore[arg-type]
    assert str(info.value) == (
        "invalid Resources: 2 problem(s)\n"
        "  - lut: must be an int >= 0 (got -1)\n"
        "  - uram: must be an int >= 0 (got True)"
    )


# --- shell -------------------------------------------------------------------------------------


def test_shell_family_ignores_case_of_the_part() -> None:
    upper = FpgaDevice(part="XCZU9EG-FFVB1156-2-E", lut=274_080, ff=548_160, dsp=2_520, bram36=912)
    assert shell_resources(upper) == ZYNQMP_SHELL
    assert shell_resources(PYNQ_Z2) == ZYNQ7_SHELL


# --- report ------------------------------------------------------------------------------------

# Column widths of the report: name 20 (left), LUT 10, FF 10, DSP 8, BRAM36 8, URAM 6 (right);
# 62 characters a line. Written out by hand below; the rulers mark the column ends.
#         0        1         2         3         4         5         6
#         12345678901234567890123456789012345678901234567890123456789012
HEADER = "part                       LUT        FF     DSP  BRAM36  URAM"
RULE = "-" * 62


def test_report_without_device_exact() -> None:
    used = Resources(lut=20_000, ff=1_000, dsp=16, bram36=30, uram=18).labelled("core") + Resources(
        lut=3_040, ff=234, dsp=1, bram36=9, uram=6
    ).labelled("shell")
    expected = "\n".join(
        [
            HEADER,
            RULE,
            "core                    20,000     1,000      16      30    18",
            "shell                    3,040       234       1       9     6",
            RULE,
            "total                   23,040     1,234      17      39    24",
        ]
    )
    assert used.report() == expected


def test_report_with_device_exact() -> None:
    used = Resources(lut=20_000, ff=1_000, dsp=16, bram36=30, uram=18).labelled("core") + Resources(
        lut=3_040, ff=234, dsp=1, bram36=9, uram=6
    ).labelled("shell")
    # utilisation: LUT 23,040/230,400 = 10.0%; FF 1,234/460,800 = 0.268% -> 0.3%;
    # DSP 17/1,728 = 0.984% -> 1.0%; BRAM36 39/312 = 12.5%; URAM 24/96 = 25% (no decimals)
    expected = "\n".join(
        [
            "device xczu7ev-ffvc1156-2-e",
            HEADER,
            RULE,
            "core                    20,000     1,000      16      30    18",
            "shell                    3,040       234       1       9     6",
            RULE,
            "total                   23,040     1,234      17      39    24",
            "limit                  230,400   460,800   1,728     312    96",
            "utilisation              10.0%      0.3%    1.0%   12.5%   25%",
        ]
    )
    assert used.report(ZCU104) == expected


def test_report_of_an_unnamed_record_on_a_device_without_uram() -> None:
    # An unnamed record reports itself as "other"; PYNQ-Z2 has no URAM: limit 0, utilisation 0%.
    # LUT 5,320/53,200 = 10.0%; FF 0; DSP 22/220 = 10.0%; BRAM36 7/140 = 5.0%
    expected = "\n".join(
        [
            "device xc7z020clg400-1",
            HEADER,
            RULE,
            "other                    5,320         0      22       7     0",
            RULE,
            "total                    5,320         0      22       7     0",
            "limit                   53,200   106,400     220     140     0",
            "utilisation              10.0%      0.0%   10.0%    5.0%    0%",
        ]
    )
    assert Resources(lut=5_320, dsp=22, bram36=7).report(PYNQ_Z2) == expected


def test_ref_ramb18_sanity() -> None:
    # the transcription itself against UG473 figures by hand: 36x1024 needs 3 halves (1Kx16 x3),
    # 72x512 needs 3 (512x32 x3), 1x16385 needs 2
    assert ref_ramb18(36, 1024) == 3
    assert ref_ramb18(72, 512) == 3
    assert ref_ramb18(1, 16385) == 2
