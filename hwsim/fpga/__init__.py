"""FPGA GEMM cores of N3H-Core (FPGA'22): the DSP core, the BISMO LUT core and their split.

``analytic``: the released closed-form latency equations (REFERENCE.md section 1), numba kernels
vectorised over GEMMs and designs (each design on its own cores: ``batch_designs``).
``cycle``: the tile-level event simulation of the same cores on :mod:`hwsim.engine`, with its
schedules in ``cycle_schedules`` and its agreement bands against ``analytic`` in ``cycle_bands``.
``resources``: LUT / FF / DSP / BRAM estimates of the cores and the platform shell.
"""

from hwsim.fpga.analytic import (
    batch_network_cycles,
    dsp_core_cycles,
    dsp_core_problem,
    exact_balance,
    hetero_layer_cycles,
    lut_core_cycles,
    lut_core_problem,
    n3h_sweep_balance,
    split_gemm,
)

__all__ = [
    "batch_network_cycles",
    "dsp_core_cycles",
    "dsp_core_problem",
    "exact_balance",
    "hetero_layer_cycles",
    "lut_core_cycles",
    "lut_core_problem",
    "n3h_sweep_balance",
    "split_gemm",
]
