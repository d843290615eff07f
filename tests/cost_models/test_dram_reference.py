"""The analytic tier's DRAM traffic against values worked out by hand from docs/formulas.md
("DRAM traffic (analytic tier)") for one small GEMM on small cores (issue 16: the only other
test of these bytes computed its expected value with the function under test).

The GEMM: a 1x1 conv, 64 -> 48 channels on a 4x4 input, so ``m = 16``, ``k = 64``, ``n = 48``;
weights and activations at 4 bits (the DSP core packs them: ``4 <= pack_act_bits``).
The cores are chosen so that every round and group count is above 1.

LUT core ``Dm = 4, Dk = 64, Dn = 8, LMEM = 12``, ``n_L = 12`` channels::

    T_k = ceil(64/64) = 1;  R = 12 // (1*4) = 3;  T_m = ceil(16/4) = 4;  F_L = ceil(4/3) = 2
    activations  T_m*Dm*k*Ab/8          = 4*4*64*4/8     =   512
    weights      F_L*ceil(12/8)*8*k*Wb/8 = 2*2*8*64*4/8   = 1,024
    results      4*m*n_L                 = 4*16*12        =   768   (32-bit)
                                                     LUT  = 2,304

DSP core (16x16 block) ``Dl = 4, Dr = 8``, ``n_D = 36`` channels::

    T_k = ceil(64/32) = 2 (packed);  T_n = ceil(36/16) = 3
    input_groups  = ceil(16 / max(4 // 2, 1))      = ceil(16/2) = 8
    weight_groups = ceil(3 / max(8 // 2 // 2, 1))  = ceil(3/2)  = 2
    inputs   m*k*weight_groups     = 16*64*2       =  2,048
    weights  T_n*16*k*input_groups = 3*16*64*8     = 24,576
    outputs  m*n_D                 = 16*36         =    576   (8-bit)
                                               DSP = 27,200

Both cores: 29,504 bytes.
"""

from __future__ import annotations

import dataclasses

import pytest

import cost_models as cm
from cost_models.design import Design
from cost_models.fpga import dram_bytes
from hwsim.ir import Workload
from hwsim.ir.layers import Conv2d
from hwsim.spec import DspCore, LutCore

LUT = LutCore(rows=4, depth_bits=64, cols=8, act_buffer_depth=12)
DSP = DspCore(input_buffer_depth=4, weight_buffer_depth=8)
M, K, N = 16, 64, 48
LUT_BYTES = 512 + 1_024 + 768
DSP_BYTES = 2_048 + 24_576 + 576


def test_split_gemm_by_hand():
    assert dram_bytes(M, 12, 36, K, 4, 4, LUT, DSP) == LUT_BYTES + DSP_BYTES == 29_504


def test_each_core_alone_by_hand():
    assert dram_bytes(M, 12, 0, K, 4, 4, LUT, DSP) == 2_304
    assert dram_bytes(M, 0, 36, K, 4, 4, LUT, DSP) == 27_200
    # every channel on the LUT core at W3A3: R = 12 // 3 = 4, F_L = ceil(4/4) = 1;
    # 4*4*64*3/8 + 1*ceil(48/8)*8*64*3/8 + 4*16*48 = 384 + 1,152 + 3,072
    assert dram_bytes(M, 48, 0, K, 3, 3, LUT, DSP) == 4_608
    # DSP core at 8-bit activations (not packed): T_k = ceil(64/16) = 4, T_n = 3,
    # input_groups = ceil(16 / (4 // 4)) = 16, weight_groups = ceil(3 / max(8 // 4 // 2, 1)) = 3;
    # 16*64*3 + 3*16*64*16 + 16*36 = 3,072 + 49,152 + 576
    assert dram_bytes(M, 0, 36, K, 4, 8, LUT, DSP) == 52_800


def test_repetitions_multiply_each_core():
    assert dram_bytes(M, 12, 36, K, 4, 4, LUT, DSP, lut_repetitions=3,
                      dsp_repetitions=2) == 3 * 2_304 + 2 * 27_200


def test_report_carries_the_hand_derived_bytes():
    """What the FPGA target's analytic report gives for the layer (split 0.25: 12 of 48
    channels on the LUT core), not only the function."""
    workload = Workload("dram-hand", (Conv2d("c", 64, 48, 4, 4, 1, 1),))
    design = Design(("c",), (4,), (4,), mapping={"lut_fraction": (0.25,)},
                    hardware={"lut_core": dataclasses.asdict(LUT),
                              "dsp_core": dataclasses.asdict(DSP)})
    report = cm.get_target("n3h-zcu102").evaluate(workload, design)
    layer = report.layers[0]
    assert (layer.m, layer.k, layer.n) == (M, K, N)
    assert layer.mapping["lut_channels"] == 12
    assert layer.dram_bytes == report.dram_bytes == 29_504
    assert report.feasible, report.violations


@pytest.mark.parametrize("bits", [2, 4])
def test_write_back_is_four_bytes_per_lut_result(bits):
    """Doubling the LUT core's channels (one activation round, weights padded to Dn = 8 either
    way) adds exactly the second half's weights and its 32-bit results: 8 more channels,
    8*64*bits/8 weight bytes and 4*16*8 = 512 result bytes."""
    big = dataclasses.replace(LUT, act_buffer_depth=64)  # R >= T_m: F_L = 1
    extra = dram_bytes(M, 16, 0, K, bits, bits, big, DSP) - dram_bytes(M, 8, 0, K, bits,
                                                                      bits, big, DSP)
    assert extra == 8 * 64 * bits // 8 + 512
