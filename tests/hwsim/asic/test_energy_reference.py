"""hwsim.asic.energy against its sources: Horowitz ISSCC'14's 45 nm figures, the NanGate and
Intel cell areas, Bit Fusion's fusion factors, and values worked out by hand from the formulas
in the module docstring (mutation-tested, see the README's "Mutation testing")."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.asic import energy


def test_constants_are_the_cited_figures():
    assert energy.TECH_NM == 45
    assert energy.MULT_8B_PJ == 0.2 and energy.ADD_32B_PJ == 0.1  # Horowitz ISSCC'14
    assert energy.REGISTER_PJ_PER_MAC == pytest.approx(0.3)  # Eyeriss: RF access ~ one MAC
    assert energy.FUSION_OVERHEAD == 1.2 and energy.FUSION_AREA == 1.3
    assert energy.SRAM_8KB_PJ_PER_64B == 10.0
    assert energy.DRAM_PJ_PER_BYTE == 243.75  # 1.95 nJ / 8 bytes
    assert 1300 / 8 <= energy.DRAM_PJ_PER_BYTE <= 2600 / 8  # inside Horowitz's 1.3 - 2.6 nJ
    assert energy.MULT_8B_UM2 == 282.0 and energy.ADD_32B_UM2 == 137.0
    assert energy.DFF_UM2 == 4.522  # NanGate 45 nm DFF_X1
    assert energy.SRAM_CELL_UM2 == 0.346 and energy.SRAM_ARRAY_EFFICIENCY == 0.6
    # 8192 cells x 0.346 um^2 / 0.6 = 4,724.05 um^2 per KiB
    assert energy.SRAM_MM2_PER_KIB == pytest.approx(0.00472405333, rel=1e-9)


@pytest.mark.parametrize(("bits", "fused"), [(1, 2), (2, 2), (3, 4), (4, 4), (5, 8), (8, 8),
                                             (9, 16), (16, 16)])
def test_fused_bits_rounds_up_to_a_brick_width(bits, fused):
    assert energy.fused_bits(bits) == fused


def test_fused_bits_on_arrays():
    np.testing.assert_array_equal(energy.fused_bits(np.array([2, 3, 6, 12])), [2, 4, 8, 16])


@pytest.mark.parametrize(("wb", "ab", "per_cycle"), [
    (8, 8, 1.0), (8, 4, 2.0), (4, 8, 2.0), (4, 4, 4.0), (8, 2, 4.0), (4, 2, 8.0), (2, 2, 16.0),
    (16, 8, 0.5), (3, 5, 2.0)])
def test_bit_fusion_multiplies_per_cycle(wb, ab, per_cycle):
    # Bit Fusion ISCA'18: one 8x8, two 8x4, four 4x4 or 8x2, eight 4x2, sixteen 2x2 per cycle;
    # a 16-bit operand takes two passes (temporal fusion)
    assert energy.fusion_factor(wb, ab, True, 8) == per_cycle


def test_fixed_pe_passes():
    assert energy.fusion_factor(2, 2, False, 8) == 1.0  # zero-padded, one multiply
    assert energy.fusion_factor(8, 8, False, 8) == 1.0
    assert energy.fusion_factor(16, 8, False, 8) == 0.5  # two passes of the weight
    assert energy.fusion_factor(16, 16, False, 8) == 0.25
    assert energy.fusion_factor(12, 20, False, 8) == pytest.approx(1 / 6)  # 2 x 3 passes
    assert energy.fusion_factor(16, 16, False, 16) == 1.0
    assert energy.fusion_factor(8, 8, True, 16) == 4.0  # a 16-bit fusion PE: four 8x8
    np.testing.assert_array_equal(
        energy.fusion_factor(np.array([8, 8]), np.array([4, 4]), np.array([True, False]), 8),
        [2.0, 1.0])


@pytest.mark.parametrize(("wb", "ab", "fusion", "pe", "pj"), [
    # fixed: 0.2 pJ x (pe/8)^2 x passes, + 0.1 pJ accumulate + 0.3 pJ register traffic
    (8, 8, False, 8, 0.6),
    (2, 2, False, 8, 0.6),
    (16, 8, False, 8, 0.8),
    (16, 16, False, 8, 1.2),
    (8, 8, False, 16, 1.2),
    (12, 20, False, 8, 1.6),
    # fused: 0.2 pJ x 1.2 x bw' ba' / 64, + 0.4 pJ
    (8, 8, True, 8, 0.64),
    (4, 8, True, 8, 0.52),
    (2, 2, True, 8, 0.415),
    (3, 2, True, 16, 0.43),
])
def test_mac_energy_by_hand(wb, ab, fusion, pe, pj):
    assert energy.mac_energy_pj(wb, ab, fusion, pe) == pytest.approx(pj, rel=1e-12)


def test_mac_energy_near_horowitz_32_bit_multiply():
    # a 32x32 fixed multiply scales 0.2 pJ by 16 = 3.2 pJ; Horowitz measures 3.1 pJ
    mult = energy.mac_energy_pj(32, 32, False, 32) - 0.4
    assert mult == pytest.approx(3.1, rel=0.05)


@pytest.mark.parametrize(("kib", "pj_per_byte"), [
    (8, 10.0 / 8), (32, 20.0 / 8), (2, 5.0 / 8), (2.0, 5.0 / 8), (0.5, 2.5 / 8)])
def test_sram_energy_at_horowitz_points(kib, pj_per_byte):
    assert energy.sram_pj_per_byte(kib) == pytest.approx(pj_per_byte, rel=1e-12)


def test_sram_energy_at_1mb_within_fit_error():
    # Horowitz: 100 pJ per 64 bits at 1 MB; the fit gives 10 * sqrt(128) = 113 pJ (+13 %)
    assert energy.sram_pj_per_byte(1024) * 8 == pytest.approx(100.0, rel=0.14)
    assert energy.sram_pj_per_byte(1024) * 8 == pytest.approx(10 * 128 ** 0.5, rel=1e-12)


@pytest.mark.parametrize(("pe", "fusion", "um2"), [
    # 282 (pe/8)^2 + 137 + 4.522 (2 pe + 32)
    (8, False, 282 + 137 + 4.522 * 48),
    (16, False, 1128 + 137 + 4.522 * 64),
    (4, False, 70.5 + 137 + 4.522 * 40),
    (8, True, 1.3 * (282 + 137 + 4.522 * 48)),
])
def test_pe_area_by_hand(pe, fusion, um2):
    assert energy.pe_area_um2(pe, fusion) == pytest.approx(um2, rel=1e-12)


def test_array_area_by_hand():
    # 2 x 3 PEs of 636.056 um^2, plus 1 + 2 + 4 KiB of SRAM at 4,724.05 um^2 per KiB
    pe = 282 + 137 + 4.522 * 48
    expected = (6 * pe + 7 * 8192 * 0.346 / 0.6) / 1e6
    assert energy.array_area_mm2(2, 3, 8, False, 1, 2, 4) == pytest.approx(expected, rel=1e-12)
    assert energy.array_area_mm2(2, 3, 8, True, 0, 0, 0) == pytest.approx(6 * 1.3 * pe / 1e6,
                                                                          rel=1e-12)
