"""``CostReport``: what a design costs on a target, per layer and in total.

An infeasible design is a report with ``feasible = False`` and its reasons, never an exception.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LayerCost:
    """Cost of one layer on the heterogeneous FPGA target.

    ``m, n, k, count`` describe the layer's largest GEMM (the one the split was solved on);
    ``cycles`` covers all of the layer's GEMMs. ``bound`` says which core finishes last.
    """

    name: str
    kind: str
    m: int
    n: int
    k: int
    count: int
    weight_bits: int
    act_bits: int
    lut_fraction: float
    lut_channels: int
    lut_cycles: float
    dsp_cycles: float
    cycles: float
    bound: str
    dram_bytes: int
    stages: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CostReport:
    """Per-layer and total cost of one design of one workload on one target."""

    target: str
    workload: str
    fidelity: str
    clock_mhz: float
    layers: tuple[LayerCost, ...]
    resources: Mapping[str, int]
    limits: Mapping[str, int]
    feasible: bool
    violations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def total_cycles(self) -> float:
        """Layers run one after another (no inter-layer overlap, as in N3H-Core)."""
        return float(sum(layer.cycles for layer in self.layers))

    @property
    def latency_s(self) -> float:
        return self.total_cycles / (self.clock_mhz * 1e6)

    @property
    def latency_ms(self) -> float:
        return self.latency_s * 1e3

    @property
    def dram_bytes(self) -> int:
        return sum(layer.dram_bytes for layer in self.layers)

    def utilisation(self) -> dict[str, float]:
        return {key: self.resources[key] / self.limits[key]
                for key in self.resources if self.limits.get(key)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "workload": self.workload,
            "fidelity": self.fidelity,
            "clock_mhz": self.clock_mhz,
            "total_cycles": self.total_cycles,
            "latency_ms": self.latency_ms,
            "dram_bytes": self.dram_bytes,
            "feasible": self.feasible,
            "violations": list(self.violations),
            "notes": list(self.notes),
            "resources": dict(self.resources),
            "limits": dict(self.limits),
            "utilisation": self.utilisation(),
            "layers": [dataclasses.asdict(layer) for layer in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_jsonable)


def _jsonable(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
