"""cost_models: the query layer, ``evaluate(workload, target, design) -> CostReport``.

Every hardware family is a :class:`Target` with the same doors: ``evaluate`` for one design,
``evaluate_batch`` for many, and a knob table (mapping and hardware knobs) that design spaces are
built from. Importing this package loads neither torch nor gymnasium.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cost_models import asic as _asic  # noqa: F401  (registers the systolic-array target)
from cost_models import fpga as _fpga  # noqa: F401  (registers the FPGA target)
from cost_models import gpu as _gpu  # noqa: F401  (registers the GPU roofline target)
from cost_models import lstm as _lstm  # noqa: F401  (registers the LSTM-accelerator target)
from cost_models.batch import BatchCost, DesignBatch, KnobSpec
from cost_models.design import (
    Design,
    DesignError,
    default_design,
    load_design,
    uniform_design,
)
from cost_models.fpga import HeteroFpgaTarget
from cost_models.report import CostReport, LayerCost
from cost_models.tables import target as _tables  # noqa: F401  (registers table: and haq-table:)
from cost_models.targets import Target, get_target, register_target, target_names
from hwsim.ir import Workload
from hwsim.spec import Hardware


def evaluate(workload: Workload, target: str | Path | Hardware | Target,
             design: Design | None = None, fidelity: str = "analytic") -> CostReport:
    """What ``design`` of ``workload`` costs on ``target`` (a preset name, a hardware TOML file,
    a ``Hardware`` record or a target); the target's default design when ``design`` is None."""
    return get_target(target).evaluate(workload, design, fidelity)


def evaluate_batch(workload: Workload, target: str | Path | Hardware | Target,
                   weight_bits: Any, act_bits: Any, *, rank: Any = None,
                   mapping: Mapping[str, Any] | None = None,
                   hardware: Mapping[str, Any] | None = None,
                   options: Mapping[str, Any] | None = None) -> BatchCost:
    """Analytic cost of many designs (arrays ``[n_designs, n_layers]``) at once.

    :param rank: int ``[n, L]``, 0 = dense (None: all dense).
    :param mapping: per-layer mapping knobs of the target, float ``[n, L]`` each, NaN = the
        target's choice (FPGA: ``{"lut_fraction": ...}``, NaN = the balance point).
    :param hardware: ``{"component.field": [n] values}`` overriding the preset per design.
    :param options: design-wide mapping options shared by the batch (FPGA: ``balance``).
    """
    batch = DesignBatch(weight_bits, act_bits, rank, mapping or {}, hardware or {},
                        options or {})
    return get_target(target).evaluate_batch(workload, batch)


__all__ = ["BatchCost", "CostReport", "Design", "DesignBatch", "DesignError", "HeteroFpgaTarget",
           "KnobSpec", "LayerCost", "Target", "default_design", "evaluate", "evaluate_batch",
           "get_target", "load_design", "register_target", "target_names", "uniform_design"]
