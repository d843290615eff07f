"""Workload IR: layer records, their lowering to GEMMs, the model zoo and the front ends."""

from hwsim.ir.layers import (
    LAYER_TYPES,
    Conv2d,
    Gemm,
    HTLinear,
    Layer,
    Linear,
    LstmCell,
    MatMul,
    MoEExperts,
    SvdLinear,
    TTLinear,
    Tucker2Conv,
)
from hwsim.ir.workload import Workload, WorkloadArrays

__all__ = ["LAYER_TYPES", "Conv2d", "Gemm", "HTLinear", "Layer", "Linear", "LstmCell", "MatMul",
           "MoEExperts", "SvdLinear", "TTLinear", "Tucker2Conv", "Workload", "WorkloadArrays"]
