"""Systolic-array ASIC (SCALE-Sim style): exact compute cycles, memory traffic and stalls.

``analytic``: the closed forms, numba kernels vectorised over GEMMs and designs, matching
SCALE-Sim 3.0.0's compute cycles exactly and its memory figures within the bands of
docs/asic.md. ``reference``: the same counts redone fold by fold in plain Python, for tests.
"""

from hwsim.asic.analytic import (
    DATAFLOWS,
    SystolicCosts,
    compute_cycles,
    dataflow_codes,
    gemm_cycles,
    layer_costs,
    memory_costs,
    utilisation,
)

__all__ = [
    "DATAFLOWS",
    "SystolicCosts",
    "compute_cycles",
    "dataflow_codes",
    "gemm_cycles",
    "layer_costs",
    "memory_costs",
    "utilisation",
]
