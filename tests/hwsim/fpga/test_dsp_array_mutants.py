"""hwsim.fpga.dsp_array against values worked out by hand: the DRAM traffic of one DSP core on
each branch of its loop nests (packed / unpacked activations, several input and weight groups,
clamped group sizes), the DRAM floor with a partial last block, and the block-count bounds
(mutation-tested, see the README's "Mutation testing"). Compute cycles come from
:func:`hwsim.fpga.analytic.dsp_core_cycles`, tested on its own against tests/naive.py."""

from __future__ import annotations

import pytest

from hwsim.errors import RecordError
from hwsim.fpga.analytic import dsp_core_cycles
from hwsim.fpga.dsp_array import (
    BLOCK_CHANNELS,
    dsp_array_cycles,
    dsp_array_resources,
    dsp_core_dram_bytes,
)
from hwsim.spec import DspCore, load_hardware

CORE = DspCore()  # 16x16 blocks, input buffer 2048, weight buffer 1024, packs A <= 4 bits


@pytest.mark.parametrize(("m", "n", "k", "a_bits", "expected"), [
    # A4 packs two activations: T_k = ceil(300/32) = 10; rows/group 2048//10 = 204 (5 groups);
    # blocks/group 1024//10//2 = 51 (1 group); T_n = 3
    # 1000*300*1 + 3*16*300*5 + 1000*40
    (1000, 40, 300, 4, 412_000),
    # A8 does not: T_k = 19; rows/group 107 (10 groups); blocks/group 26 (1 group)
    (1000, 40, 300, 8, 484_000),
    # T_k = 256: rows/group 8 (3 groups of 20 rows); blocks/group 2 (T_n = 7: 4 groups)
    # 20*4096*4 + 7*16*4096*3 + 20*100
    (20, 100, 4096, 8, 1_705_936),
    # T_k = 2500 > both buffers: groups clamp to one row and one block
    # 3*40000*2 + 2*16*40000*3 + 3*20
    (3, 20, 40000, 8, 4_080_060),
    # one channel: T_k = 1, one group each: 16 + 16*16 + 1
    (1, 1, 16, 8, 273),
    # T_k = ceil(9.375) = 10: rows/group 2048//10 = 204, so 409 rows take 3 groups (not the
    # 2 of 2048/9.375 = 218 or 2048/10 = 204.8 rows); 409*300 + 16*300*3 + 409*16
    (409, 16, 300, 4, 143_644),
    # T_k = 19: blocks/group (1024//19 = 53)//2 = 26, so T_n = 53 blocks take 3 weight groups
    # (not the 2 of 53/2 = 26.5 blocks); 1*300*3 + 53*16*300*1 + 848
    (1, 848, 300, 8, 256_148),
])
def test_dram_bytes_by_hand(m, n, k, a_bits, expected):
    got = dsp_core_dram_bytes(m, n, k, a_bits, CORE)
    assert isinstance(got, float) and got == expected


def test_no_channels_move_no_bytes():
    assert dsp_core_dram_bytes(5, 0, 5, 8, CORE) == 0.0
    assert dsp_core_dram_bytes(5, -3, 5, 8, CORE) == 0.0
    assert dsp_core_dram_bytes(5, 0, 0, 8, CORE) == 0.0  # returns before dividing by T_k = 0


def test_dram_floor_with_a_partial_last_block():
    # n = 40 on 2 blocks: 3 tiles, 2 per block: one block of 32 channels, one of 8.
    # m=16, k=64, A8: 32 channels move 16*64 + 2*16*64 + 16*32 = 3,584 bytes, 8 channels
    # 16*64 + 16*64 + 16*8 = 2,176; three dependent repetitions: 3 x 5,760 = 17,280 bytes
    assert BLOCK_CHANNELS == 16
    compute = 3 * dsp_core_cycles(16, 32, 64, 8, CORE)
    floor = dsp_array_cycles(16, 40, 64, 8, CORE, 2, count=3, independent=False,
                             dram_bytes_per_cycle=0.5)
    assert floor == 17_280 / 0.5 > compute


def test_dram_floor_of_independent_repetitions():
    # 5 repetitions of 2,304 bytes (test_dsp_array.py's by-hand case) over 2 bytes per cycle
    compute = 3 * dsp_core_cycles(16, 16, 64, 8, CORE)
    floor = dsp_array_cycles(16, 16, 64, 8, CORE, 2, count=5, dram_bytes_per_cycle=2.0)
    assert floor == 5 * 2304 / 2.0 > compute
    assert dsp_array_cycles(16, 16, 64, 8, CORE, 2, count=5, dram_bytes_per_cycle=1e9) == compute


def test_one_repetition_is_split_not_dealt_out():
    # count == 1 with independent=True still splits the channels (3 tiles, 2 per block)
    assert dsp_array_cycles(784, 48, 576, 8, CORE, 2) == dsp_core_cycles(784, 32, 576, 8, CORE)
    assert dsp_array_cycles(784, 48, 576, 8, CORE, 2, count=1, independent=True) == \
        dsp_core_cycles(784, 32, 576, 8, CORE)


def test_two_independent_repetitions_are_dealt_out():
    # count = 2 on 2 blocks: one whole GEMM each, not both split over the blocks
    assert dsp_array_cycles(49, 16, 512, 8, CORE, 2, count=2) == dsp_core_cycles(49, 16, 512, 8,
                                                                                  CORE)


def test_resources_are_reported_under_dsp_array():
    device = load_hardware("zcu102").fpga
    used = dsp_array_resources(device, CORE, 2, 4)
    names = [name for name, _ in used.parts]
    assert names[0] == "shell"
    assert names[1:] == 2 * ["dsp_array/macs", "dsp_array/buffers", "dsp_array/control"]


def test_dependent_repetitions_of_one_block():
    # count > 1 but dependent: each repetition split over 4 blocks, one tile each
    assert dsp_array_cycles(49, 64, 512, 8, CORE, 4, count=7, independent=False) == \
        7 * dsp_core_cycles(49, 16, 512, 8, CORE)
    # independent repetitions: ceil(7/4) = 2 rounds of the whole GEMM
    assert dsp_array_cycles(49, 64, 512, 8, CORE, 4, count=7) == \
        2 * dsp_core_cycles(49, 64, 512, 8, CORE)


def test_block_count_bounds():
    assert dsp_array_cycles(16, 16, 16, 8, CORE, 65536) == dsp_core_cycles(16, 16, 16, 8, CORE)
    with pytest.raises(RecordError) as err:
        dsp_array_cycles(16, 16, 16, 8, CORE, 65537)
    message = str(err.value)
    assert message.startswith("invalid DSP array: 1 problem(s)")
    assert "blocks: must be an int in [1, 65536] (got 65537)" in message
