"""cost_models: the query layer, ``evaluate(workload, target, design) -> CostReport``.

Importing this package loads neither torch nor gymnasium.
"""

from __future__ import annotations

from pathlib import Path

from cost_models import fpga as _fpga  # noqa: F401  (registers the FPGA target)
from cost_models.design import (
    Design,
    DesignError,
    default_design,
    load_design,
    uniform_design,
)
from cost_models.fpga import BatchResult, HeteroFpgaTarget
from cost_models.report import CostReport, LayerCost
from cost_models.targets import Target, get_target, register_target, target_names
from hwsim.ir import Workload
from hwsim.spec import Hardware


def evaluate(workload: Workload, target: str | Path | Hardware | Target,
             design: Design | None = None, fidelity: str = "analytic") -> CostReport:
    """What ``design`` of ``workload`` costs on ``target`` (a preset name, a hardware TOML file,
    a ``Hardware`` record or a target); the target's default design when ``design`` is None."""
    return get_target(target).evaluate(workload, design, fidelity)


def evaluate_batch(workload: Workload, target: str | Path | Hardware | Target, weight_bits,
                   act_bits, lut_fraction=None) -> BatchResult:  # type: ignore[no-untyped-def]
    """Analytic cost of many designs (arrays ``[n_designs, n_layers]``) at once."""
    tgt = get_target(target)
    if not isinstance(tgt, HeteroFpgaTarget):
        raise TypeError(f"batch evaluation is not available for target {tgt.name!r}")
    return tgt.evaluate_batch(workload, weight_bits, act_bits, lut_fraction)


__all__ = ["BatchResult", "CostReport", "Design", "DesignError", "HeteroFpgaTarget", "LayerCost",
           "Target", "default_design", "evaluate", "evaluate_batch", "get_target",
           "load_design", "register_target", "target_names", "uniform_design"]
