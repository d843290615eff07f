"""What the SCALE-Sim benchmarks share (``record_scalesim.py``, ``bench_asic_vs_scalesim.py``):
the numpy shim SCALE-Sim 3.0.0 needs and the configuration file both write.

numpy shim: SCALE-Sim 3.0.0 calls ``int(max(a))`` on ``(n, 1)`` arrays (``read_buffer``,
``double_buffered_scratchpad_mem``), which numpy 2.4 refuses ("only 0-dimensional arrays can be
converted to Python scalars"). Importing this module gives those modules a ``max`` that returns a
0-d array for a one-element result; nothing else changes. Import it before any ``scalesim``
module is used.
"""

from __future__ import annotations

import builtins
import importlib
from typing import Any

import numpy as np


def _max(*a: Any, **kw: Any) -> Any:
    result = builtins.max(*a, **kw)
    if isinstance(result, np.ndarray) and result.ndim and result.size == 1:
        return result.reshape(())
    return result


for _module in ("scalesim.memory.read_buffer", "scalesim.memory.write_buffer",
                "scalesim.memory.double_buffered_scratchpad_mem", "scalesim.single_layer_sim"):
    importlib.import_module(_module).max = _max  # type: ignore[attr-defined]


CONFIG = """[general]
run_name = run

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {ifmap_sram_kib}
FilterSramSzkB: {filter_sram_kib}
OfmapSramSzkB: {ofmap_sram_kib}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: {bw}
Dataflow: {dataflow}
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
"""
"""SCALE-Sim's ``scale.cfg``: format with ``rows, cols, ifmap_sram_kib, filter_sram_kib,
ofmap_sram_kib, bw`` (words per cycle of every interface) and ``dataflow``; USER bandwidth mode,
one bank per SRAM, no sparsity, no Ramulator."""
