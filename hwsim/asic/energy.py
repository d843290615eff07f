"""Energy per access and area per unit of a systolic-array ASIC, at 45 nm, from cited public
figures. Vectorised over designs (numpy); every function takes scalars or arrays.

Sources
-------
* **Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014**, the
  45 nm table every accelerator paper quotes: integer add 0.03 pJ (8 b) / 0.1 pJ (32 b), integer
  multiply 0.2 pJ (8 b) / 3.1 pJ (32 b); a 64-bit SRAM read 10 pJ (8 KB) / 20 pJ (32 KB) /
  100 pJ (1 MB); a 64-bit DRAM access 1.3 - 2.6 nJ. Areas: add 36 um^2 (8 b) / 137 um^2 (32 b),
  multiply 282 um^2 (8 b) / 3495 um^2 (32 b).
* **Chen et al., "Eyeriss", ISCA 2016** (normalised energy per access: ALU 1x, PE register file
  1x, PE-to-PE 2x, global buffer 6x, DRAM 200x): the PE's local register traffic costs about one
  MAC.
* **Sharma et al., "Bit Fusion", ISCA 2018**: a Fusion Unit of 16 2-bit BitBricks performs one
  8x8-bit, two 8x4, four 4x4 (or 8x2), eight 4x2, sixteen 2x2-bit multiplies per cycle; 16-bit
  operands take four passes (temporal fusion).
* **NanGate 45 nm Open Cell Library**: a flip-flop (DFF_X1) is 4.522 um^2.
* **Mistry et al., IEDM 2007** (Intel 45 nm): a 6T SRAM cell is 0.346 um^2.

What is ours (estimates, each to about +-50 %, stated where used)
-----------------------------------------------------------------
* Multiplier energy and area scale with the product of the operand widths (an array multiplier
  has ``bw*ba`` partial-product cells; Horowitz's 8 b -> 32 b figures grow 15.5x and 12.4x for a
  16x larger product). The accumulator is a 32-bit add.
* SRAM read energy per 64 bits is fitted as ``10 pJ * sqrt(KiB / 8)``: exact at 8 KB and 32 KB,
  +13 % at 1 MB. A write costs the same as a read.
* DRAM: 1.95 nJ per 64 bits (the middle of Horowitz's range), 243.75 pJ per byte.
* A PE holds a weight, an activation and a 32-bit partial-sum register; an SRAM macro is 60 %
  cells (array efficiency), so 1 KiB takes ``8192 * 0.346 / 0.6`` um^2.
* A Bit Fusion PE is 1.3x the area of the fixed-width PE of the same operand width (BitBricks and
  the shift-add tree in place of one multiplier; our estimate) and spends the energy of the
  multiplies it fuses, scaled by the operand widths, plus 20 % for the shift-add tree.
* No leakage and no clock-tree energy: dynamic energy of the accesses counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TECH_NM = 45

MULT_8B_PJ = 0.2
"""8-bit integer multiply, 45 nm (Horowitz ISSCC'14)."""
ADD_32B_PJ = 0.1
"""32-bit integer add (the accumulator), 45 nm (Horowitz ISSCC'14)."""
REGISTER_PJ_PER_MAC = MULT_8B_PJ + ADD_32B_PJ
"""PE register traffic per MAC: one 8-bit MAC's energy (Eyeriss ISCA'16: RF access ~ 1x ALU)."""
FUSION_OVERHEAD = 1.2
"""Bit Fusion's shift-add tree over the fused multiplies' energy (our estimate, +-50 %)."""
SRAM_8KB_PJ_PER_64B = 10.0
"""64-bit read of an 8 KB SRAM, 45 nm (Horowitz ISSCC'14)."""
DRAM_PJ_PER_BYTE = 1950.0 / 8
"""1.95 nJ per 64-bit DRAM access (middle of Horowitz's 1.3 - 2.6 nJ) per byte."""

MULT_8B_UM2 = 282.0
"""8-bit integer multiplier area, 45 nm (Horowitz ISSCC'14)."""
ADD_32B_UM2 = 137.0
"""32-bit adder area, 45 nm (Horowitz ISSCC'14)."""
DFF_UM2 = 4.522
"""One flip-flop, NanGate 45 nm Open Cell Library DFF_X1."""
FUSION_AREA = 1.3
"""Bit Fusion PE area over a fixed PE of the same width (our estimate, +-50 %)."""
SRAM_CELL_UM2 = 0.346
"""6T SRAM cell, Intel 45 nm (Mistry et al., IEDM 2007)."""
SRAM_ARRAY_EFFICIENCY = 0.6
"""Share of an SRAM macro's area that is cells (our assumption)."""
SRAM_MM2_PER_KIB = 8192 * SRAM_CELL_UM2 / SRAM_ARRAY_EFFICIENCY / 1e6
"""About 0.0047 mm^2 per KiB at 45 nm."""


def fused_bits(bits: Any) -> Any:
    """Operand width a Bit Fusion unit runs ``bits`` at: 2, 4, 8 or 16 (the next of them)."""
    b = np.asarray(bits)
    return np.where(b <= 2, 2, np.where(b <= 4, 4, np.where(b <= 8, 8, 16)))


def fusion_factor(weight_bits: Any, act_bits: Any, bit_fusion: Any, pe_bits: Any) -> Any:
    """Multiplies a PE performs per cycle (``> 1``) or cycles per multiply (``< 1``).

    Bit Fusion (ISCA'18): an 8x8-bit Fusion Unit does ``(8/bw')*(8/ba')`` multiplies per cycle,
    ``bw', ba'`` the operand widths rounded up to 2, 4, 8 or 16 (a 16-bit operand: half a
    multiply per cycle per 8-bit partner, temporal fusion). A PE of ``pe_bits`` scales the same
    way: ``(pe_bits/bw')*(pe_bits/ba')``.
    A fixed PE runs any operand up to ``pe_bits`` in one multiply and a wider one in
    ``ceil(bits/pe_bits)`` passes per operand (the same temporal decomposition).
    """
    wb, ab, pe = np.asarray(weight_bits), np.asarray(act_bits), np.asarray(pe_bits)
    fused = (pe / fused_bits(wb)) * (pe / fused_bits(ab))
    passes = np.ceil(wb / pe) * np.ceil(ab / pe)
    return np.where(np.asarray(bit_fusion, dtype=bool), fused, 1.0 / passes)


def mac_energy_pj(weight_bits: Any, act_bits: Any, bit_fusion: Any, pe_bits: Any) -> Any:
    """Energy of one multiply-accumulate of the layer's operands, register traffic included.

    A fixed PE multiplies at its own width whatever the operands (zero-padded): the
    ``pe_bits x pe_bits`` multiply, each pass of a wider operand again. A Bit Fusion PE spends
    the multiply at the fused widths plus :data:`FUSION_OVERHEAD`.
    """
    wb, ab, pe = np.asarray(weight_bits), np.asarray(act_bits), np.asarray(pe_bits)
    fixed = MULT_8B_PJ * (pe * pe / 64.0) * np.ceil(wb / pe) * np.ceil(ab / pe)
    fused = MULT_8B_PJ * FUSION_OVERHEAD * fused_bits(wb) * fused_bits(ab) / 64.0
    mult = np.where(np.asarray(bit_fusion, dtype=bool), fused, fixed)
    return mult + ADD_32B_PJ + REGISTER_PJ_PER_MAC


def sram_pj_per_byte(kib: Any) -> Any:
    """Read (or write) energy per byte of an SRAM of ``kib`` KiB: ``10 pJ * sqrt(KiB/8)`` per
    64 bits (fit to Horowitz ISSCC'14: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ)."""
    return SRAM_8KB_PJ_PER_64B * np.sqrt(np.asarray(kib, dtype=np.float64) / 8.0) / 8.0


def pe_area_um2(pe_bits: Any, bit_fusion: Any) -> Any:
    """One PE: a ``pe_bits`` multiplier (area ~ width^2 from Horowitz's 8-bit 282 um^2), a
    32-bit accumulator, weight / activation / 32-bit partial-sum registers; x1.3 with Bit Fusion."""
    pe = np.asarray(pe_bits, dtype=np.float64)
    base = MULT_8B_UM2 * pe * pe / 64.0 + ADD_32B_UM2 + DFF_UM2 * (2 * pe + 32)
    return base * np.where(np.asarray(bit_fusion, dtype=bool), FUSION_AREA, 1.0)


def array_area_mm2(rows: Any, cols: Any, pe_bits: Any, bit_fusion: Any, ifmap_kib: Any,
                   filter_kib: Any, ofmap_kib: Any) -> Any:
    """Die area of the PE array and its three scratchpads (SRAM sizes as configured; SCALE-Sim
    double-buffers within them), mm^2 at 45 nm."""
    pes = np.asarray(rows, dtype=np.float64) * np.asarray(cols, dtype=np.float64)
    sram = (np.asarray(ifmap_kib, dtype=np.float64) + np.asarray(filter_kib, dtype=np.float64)
            + np.asarray(ofmap_kib, dtype=np.float64))
    return pes * pe_area_um2(pe_bits, bit_fusion) / 1e6 + sram * SRAM_MM2_PER_KIB
