"""The board-sized DSP-only baseline (hwsim.fpga.dsp_array): blocks of N3H-Core's 16x16 DSP
core sharing a layer's channel tiles or repetitions, their DRAM floor and their resources."""

from __future__ import annotations

import math

import pytest

from hwsim.errors import RecordError
from hwsim.fpga.analytic import dsp_core_cycles
from hwsim.fpga.dsp_array import dsp_array_cycles, dsp_array_resources, dsp_core_dram_bytes
from hwsim.fpga.resources import dsp_core_resources, shell_resources
from hwsim.spec import DspCore, load_hardware

CORE = DspCore()


def test_one_block_is_the_released_core():
    for m, n, k, a in ((3136, 64, 576, 4), (49, 512, 4608, 8), (1, 1000, 512, 8)):
        assert dsp_array_cycles(m, n, k, a, CORE, 1) == dsp_core_cycles(m, n, k, a, CORE)
    assert dsp_array_cycles(196, 1, 9, 4, CORE, 1, count=96) == 96 * dsp_core_cycles(
        196, 1, 9, 4, CORE)


def test_channel_tiles_are_dealt_out_round_robin():
    # 100 channels = 7 tiles of 16; 3 blocks: the slowest takes ceil(7/3) = 3 tiles = 48 channels
    assert dsp_array_cycles(784, 100, 1152, 4, CORE, 3) == dsp_core_cycles(784, 48, 1152, 4, CORE)
    # more blocks than tiles: one tile each (the last tile is full here: 64 = 4 x 16)
    assert dsp_array_cycles(784, 64, 576, 4, CORE, 10) == dsp_core_cycles(784, 16, 576, 4, CORE)
    # dependent repetitions (an LSTM's steps) run one after another, each split
    assert dsp_array_cycles(1, 64, 256, 8, CORE, 2, count=5, independent=False) == \
        5 * dsp_core_cycles(1, 32, 256, 8, CORE)


def test_independent_repetitions_are_dealt_out_whole():
    # a depthwise layer: 96 groups of one channel on 8 blocks, 12 groups on the slowest
    assert dsp_array_cycles(3136, 1, 9, 4, CORE, 8, count=96) == 12 * dsp_core_cycles(
        3136, 1, 9, 4, CORE)


def test_cycles_never_grow_with_blocks():
    previous = math.inf
    for blocks in range(1, 40):
        cycles = dsp_array_cycles(784, 128, 1152, 4, CORE, blocks)
        assert cycles <= previous
        previous = cycles


def test_dram_floor_by_hand():
    # 1x1 conv m=16, k=64, n=16, A8 (not packed): T_k = ceil(64/16) = 4, rows per input group
    # 2048 // 4 = 512 (1 group), weight blocks per group 1024 // 4 // 2 = 128 (1 group):
    # inputs 16*64*1 + weights 16*64*1 + outputs 16*16 = 2,304 bytes
    assert dsp_core_dram_bytes(16, 16, 64, 8, CORE) == 2304
    # two blocks of one tile each move 2 x 2,304 bytes; at 1 byte/cycle that is the floor
    floor = dsp_array_cycles(16, 32, 64, 8, CORE, 2, dram_bytes_per_cycle=1.0)
    assert floor == 2 * 2304
    assert dsp_array_cycles(16, 32, 64, 8, CORE, 2, dram_bytes_per_cycle=1e9) == \
        dsp_core_cycles(16, 16, 64, 8, CORE)


def test_resources_scale_with_blocks():
    device = load_hardware("zcu102").fpga
    one = dsp_core_resources(CORE, 4)
    shell = shell_resources(device)
    for blocks in (1, 2, 7):
        used = dsp_array_resources(device, CORE, blocks, 4)
        assert used.dsp == blocks * one.dsp == blocks * 128
        assert used.bram36 == shell.bram36 + blocks * one.bram36
        assert used.lut == shell.lut + blocks * one.lut


@pytest.mark.parametrize("blocks", [0, -1, 2.5, True])
def test_bad_block_counts_name_the_field(blocks):
    with pytest.raises(RecordError, match="blocks"):
        dsp_array_cycles(16, 16, 16, 8, CORE, blocks)
