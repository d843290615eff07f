"""Workload IR: layer records, their lowering to GEMMs, the model zoo and the front ends."""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from hwsim.ir.torch_frontend import TraceResult as TraceResult
    from hwsim.ir.torch_frontend import from_torch as from_torch
    from hwsim.ir.torch_frontend import trace as trace

__all__ = ["LAYER_TYPES", "Conv2d", "Gemm", "HTLinear", "Layer", "Linear", "LstmCell", "MatMul",
           "MoEExperts", "SvdLinear", "TTLinear", "Tucker2Conv", "Workload", "WorkloadArrays"]

_TORCH_FRONTEND = ("TraceResult", "from_torch", "trace")
__all__ += list(_TORCH_FRONTEND)


def __getattr__(name: str) -> Any:
    # The torch front end is loaded on first use only; even then torch itself is imported only
    # when a model is traced, so ``import hwsim.ir`` stays free of torch.
    if name in _TORCH_FRONTEND:
        from hwsim.ir import torch_frontend

        return getattr(torch_frontend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
