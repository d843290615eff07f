"""A DSP-only accelerator that scales to the board: ``blocks`` copies of N3H-Core's 16x16 DSP
core side by side, for a fair DSP-only baseline in the N3H-Core question.

N3H-Core's released model is one 16x16 VTA-style block (128 DSP slices): as a DSP-only design on
a ZCU102 (2,520 DSPs) it uses 5 % of the board. Here ``blocks`` identical cores share a layer:

* one GEMM of ``n`` output channels (``count == 1``, or dependent repetitions: an LSTM's time
  steps, one after another): its ``T = ceil(n/16)`` channel tiles are dealt out round-robin, the
  slowest block taking ``ceil(T/blocks)`` tiles, and each block runs N3H-Core's released
  equations on its channels (:func:`hwsim.fpga.analytic.dsp_core_cycles`);
* ``count`` independent repetitions (groups, heads, experts): whole repetitions are dealt out,
  the slowest block running ``ceil(count/blocks)`` of them.

Each block keeps its own buffers and runs the released equations, which stream from DRAM at
their own pace; with ``dram_bytes_per_cycle`` (the board's port) a layer also takes at least
its blocks' total DRAM traffic (:func:`dsp_core_dram_bytes`, every block re-reading the
activations it needs) over the port: a first-order floor, not a simulation of the blocks
contending (the cycle tier's job), so the baseline stays **optimistic** for DSP-only and a
heterogeneous design's speed-up over it is a lower bound. Resources: ``blocks`` times one core's
(:func:`hwsim.fpga.resources.dsp_core_resources`) plus the platform shell.
"""

from __future__ import annotations

import math

from hwsim.errors import Checker, RecordError
from hwsim.fpga.analytic import dsp_core_cycles
from hwsim.fpga.resources import Resources, dsp_core_resources, shell_resources
from hwsim.spec import DspCore, FpgaDevice

BLOCK_CHANNELS = 16
"""Output channels one block computes at once (the release's 16x16 block)."""


def _check_blocks(blocks: object) -> int:
    c = Checker()
    c.require(isinstance(blocks, int) and not isinstance(blocks, bool) and 1 <= blocks <= 2**16,
              "blocks", blocks, "must be an int in [1, 65536]")
    c.raise_if_any(RecordError, "DSP array")
    assert isinstance(blocks, int)
    return blocks


def dsp_core_dram_bytes(m: int, n: int, k: int, a_bits: int, core: DspCore) -> float:
    """First-order DRAM traffic of one DSP core running ``n`` output channels of the GEMM
    ``(m x k) @ (k x n)`` (bytes), after the loop nests of N3H-Core's equations (VTA-like):
    the inputs (8-bit storage) re-read once per weight-buffer group, the weights once per
    input-buffer group, 8-bit outputs written once (docs/formulas.md, "DRAM traffic")."""
    if n <= 0:
        return 0.0
    packed = a_bits <= core.pack_act_bits
    t_k = -(-k // (core.block_rows * (2 if packed else 1)))
    rows_per_group = max(core.input_buffer_depth // t_k, 1)
    blocks_per_group = max(core.weight_buffer_depth // t_k // 2, 1)
    t_n = -(-n // core.block_cols)
    input_groups = -(-m // rows_per_group)
    weight_groups = -(-t_n // blocks_per_group)
    return float(m * k * weight_groups + t_n * core.block_cols * k * input_groups + m * n)


def dsp_array_cycles(m: int, n: int, k: int, a_bits: int, core: DspCore, blocks: int, *,
                     count: int = 1, independent: bool = True,
                     dram_bytes_per_cycle: float | None = None) -> float:
    """Cycles of ``count`` repetitions of the GEMM ``(m x k) @ (k x n)`` (8-bit weights) on
    ``blocks`` DSP cores (see the module notes); with ``dram_bytes_per_cycle``, at least the
    blocks' DRAM traffic over that port."""
    blocks = _check_blocks(blocks)
    if count > 1 and independent:
        cycles = math.ceil(count / blocks) * dsp_core_cycles(m, n, k, a_bits, core)
        traffic = count * dsp_core_dram_bytes(m, n, k, a_bits, core)
    else:
        tiles = math.ceil(n / BLOCK_CHANNELS)
        per_tiles = math.ceil(tiles / blocks)
        per_block = min(n, BLOCK_CHANNELS * per_tiles)
        cycles = count * dsp_core_cycles(m, per_block, k, a_bits, core)
        active = math.ceil(tiles / per_tiles)
        last = n - (active - 1) * per_block
        traffic = count * ((active - 1) * dsp_core_dram_bytes(m, per_block, k, a_bits, core)
                           + dsp_core_dram_bytes(m, last, k, a_bits, core))
    if dram_bytes_per_cycle is None:
        return cycles
    return max(cycles, traffic / dram_bytes_per_cycle)


def dsp_array_resources(device: FpgaDevice, core: DspCore, blocks: int,
                        act_bits_max: int) -> Resources:
    """Shell plus ``blocks`` DSP cores (parts ``shell`` and ``dsp_array/...``)."""
    blocks = _check_blocks(blocks)
    one = dsp_core_resources(core, act_bits_max)
    total = one
    for _ in range(blocks - 1):
        total = total + one
    return shell_resources(device) + total.labelled("dsp_array")
