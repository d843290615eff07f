"""``CostReport``: what a design costs on a target, per layer and in total; the same shape for
every hardware family.

Per layer: cycles, a per-unit breakdown (``units``: the busy cycles of each compute unit, e.g. the
FPGA's ``lut_core`` and ``dsp_core``; ``bound`` names the one that finishes last), the mapping
used (the FPGA's solved ``lut_fraction``), bytes moved, energy where the target models it, and
free-form ``details`` (the cycle tier's per-stage busy and stall cycles). In total: latency,
resources against the limits, the hardware components the design ran on (the preset with the
design's overrides merged), and ``feasible`` with the violated limits. An infeasible design is a
report with ``feasible = False`` and its reasons, never an exception.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LayerCost:
    """Cost of one layer.

    ``m, n, k, count`` describe the layer's largest GEMM; ``cycles`` covers all its GEMMs.
    ``units`` maps each compute unit to its busy cycles on this layer; ``bound`` is the unit
    that finishes last. ``mapping`` holds the per-layer mapping values used.
    """

    name: str
    kind: str
    m: int
    n: int
    k: int
    count: int
    weight_bits: int
    act_bits: int
    cycles: float
    units: Mapping[str, float] = field(default_factory=dict)
    bound: str = ""
    mapping: Mapping[str, Any] = field(default_factory=dict)
    dram_bytes: int = 0
    energy_pj: float | None = None
    rank: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CostReport:
    """Per-layer and total cost of one design of one workload on one target.

    :param hardware: the components the design ran on, ``{component: {field: value}}``
        (preset values with the design's overrides merged).
    """

    target: str
    workload: str
    fidelity: str
    clock_mhz: float
    layers: tuple[LayerCost, ...]
    resources: Mapping[str, float]
    limits: Mapping[str, float]
    feasible: bool
    violations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    hardware: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def total_cycles(self) -> float:
        """Layers run one after another (no inter-layer overlap)."""
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

    @property
    def energy_pj(self) -> float | None:
        """Total energy where the target models it (every layer has a figure), else None."""
        values = [layer.energy_pj for layer in self.layers]
        return None if any(v is None for v in values) else float(sum(values))  # type: ignore[arg-type]

    @property
    def unit_names(self) -> tuple[str, ...]:
        """Compute units named in any layer's breakdown, in first-seen order."""
        return tuple(dict.fromkeys(u for layer in self.layers for u in layer.units))

    @property
    def mapping_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for layer in self.layers for m in layer.mapping))

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
            "energy_pj": self.energy_pj,
            "feasible": self.feasible,
            "violations": list(self.violations),
            "notes": list(self.notes),
            "hardware": {k: dict(v) for k, v in self.hardware.items()},
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
