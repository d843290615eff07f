"""Targets served from latency tables: ``table:PATH`` (a measured ``.table`` file,
:mod:`cost_models.tables.table`) and ``haq-table:PATH`` (HAQ's ``.npy`` layout,
:mod:`cost_models.tables.haq`).

A table target's fidelity is ``table``: each layer's latency is its measured median where the
table has the layer's shape, else the predictor's sum over the layer's kernels (exact rows for
kernels it has, the per-kind regressor for the others); every layer report says which. Layers
run one after another, so the network's latency is the sum of its layers (the table records how
far that sum was from the measured network). Latencies are reported as cycles of a nominal
1 MHz clock, i.e. microseconds.

The design space a table serves: ranks (any rank: unmeasured shapes are predicted) and the dtype
(``mapping.dtype``, design-wide, among the table's dtypes). Bit-widths do not change a float
table's latency (``precision_note`` says so); a HAQ table is indexed by them.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from cost_models.batch import BatchCost, DesignBatch
from cost_models.design import Design, DesignError
from cost_models.report import CostReport, LayerCost
from cost_models.tables.predict import LatencyPredictor
from cost_models.tables.table import LatencyTable, layer_key, load_table
from cost_models.targets import Target, register_target_spec
from hwsim.errors import CodesignError, Problem
from hwsim.ir import Workload
from hwsim.ir.layers import Layer
from hwsim.spec.records import COMPONENTS

CLOCK_MHZ = 1.0
"""Nominal clock of table targets: one cycle is one microsecond."""


@dataclass(frozen=True)
class TableSource:
    """What stands for a preset's ``Hardware`` record: a name and no components."""

    name: str
    description: str = ""
    source: str = ""

    def __getattr__(self, item: str) -> Any:
        if item in COMPONENTS:
            return None
        raise AttributeError(item)


class _TableTargetBase(Target):
    """What both table targets share: one tier, ``table``, which ``analytic`` (every target's
    default tier) also names."""

    fidelities = ("table",)

    def evaluate(self, workload: Workload, design: Design | None = None,
                 fidelity: str = "table") -> CostReport:
        return super().evaluate(workload, design, "table" if fidelity == "analytic"
                                else fidelity)


class TableTarget(_TableTargetBase):
    """A measured latency table (``table:PATH``)."""

    max_bits = 16

    def __init__(self, table: LatencyTable, name: str) -> None:
        super().__init__(TableSource(name, f"latency table measured on {table.device}",
                                     table.path))  # type: ignore[arg-type]
        self.table = table
        self.mapping_options: dict[str, tuple[Any, ...]] = {  # type: ignore[misc]
            "dtype": table.dtypes}
        self._predictors: dict[str, LatencyPredictor] = {}
        self._layer_ms: dict[tuple[str, str], tuple[float, str]] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> TableTarget:
        return cls(load_table(path), f"table:{path}")

    def precision_note(self) -> str:
        return "every layer at the table's dtype (a float table's latency ignores bit-widths)"

    def _dtype(self, options: Any) -> str:
        return str(dict(options).get("dtype", self.table.dtypes[0]))

    def layer_ms(self, layer: Layer, dtype: str) -> tuple[float, str]:
        """``(milliseconds, "measured" | "predicted")`` of one layer at ``dtype`` (cached)."""
        key = (layer_key(layer), dtype)
        hit = self._layer_ms.get(key)
        if hit is not None:
            return hit
        row = self.table.get(key[0], dtype)
        if row is not None:
            hit = (row.median_ms, "measured")
        else:
            model = self._predictors.get(dtype)
            if model is None:
                model = self._predictors[dtype] = LatencyPredictor.fit(self.table, dtype)
            hit = (model.predict_ms(layer), "predicted")
        self._layer_ms[key] = hit
        return hit

    def provenance(self) -> tuple[str, ...]:
        """Notes on where the table was measured, and whether that is this machine."""
        meta = self.table.metadata
        notes = [f"table: measured on {meta.get('device_name', meta.get('device', '?'))} "
                 f"({meta.get('device', '?')}), torch {meta.get('torch', '?')}, "
                 f"{meta.get('threads', '?')} thread(s), {meta.get('created', '?')}"]
        here = platform.node()
        if meta.get("host") and meta.get("host") != here:
            notes.append(f"table: measured on host {meta.get('host')!r}, not this machine "
                         f"({here!r}): its latencies are that machine's")
        try:
            import torch

            if meta.get("torch") and meta.get("torch") != torch.__version__:
                notes.append(f"table: measured with torch {meta.get('torch')}, this is "
                             f"{torch.__version__}")
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
        return tuple(notes)

    def _evaluate(self, workload: Workload, design: Design, fidelity: str) -> CostReport:
        dtype = self._dtype(design.options)
        ran = design.apply_to(workload)
        layers = []
        predicted = 0
        for i, layer in enumerate(ran.layers):
            ms, how = self.layer_ms(layer, dtype)
            predicted += how == "predicted"
            main = max(layer.gemms(), key=lambda g: g.macs)
            row = self.table.get(layer, dtype)
            details: dict[str, Any] = {"source": how, "dtype": dtype, "key": layer_key(layer)}
            if row is not None:
                details.update(p25_ms=row.p25_ms, p75_ms=row.p75_ms, repeats=row.repeats)
            layers.append(LayerCost(
                name=layer.name, kind=layer.kind, m=main.m, n=main.n, k=main.k, count=main.count,
                weight_bits=design.weight_bits[i], act_bits=design.act_bits[i],
                cycles=ms * 1e3 * CLOCK_MHZ, units={how: ms * 1e3 * CLOCK_MHZ}, bound=how,
                rank=None if design.rank is None else design.rank[i], details=details))
        notes = (f"table fidelity: measured medians; {predicted} of {len(layers)} layers "
                 f"predicted (nn-Meter-style per-kernel regressor); cycles are microseconds",
                 *self.provenance())
        return CostReport(target=self.name, workload=workload.name, fidelity=fidelity,
                          clock_mhz=CLOCK_MHZ, layers=tuple(layers), resources={}, limits={},
                          feasible=True, notes=notes)

    def _evaluate_batch(self, workload: Workload, batch: DesignBatch) -> BatchCost:
        dtype = self._dtype(batch.options)
        total = sum(self.layer_ms(layer, dtype)[0] for layer in workload.layers)
        n = len(batch)
        cycles = np.full(n, total * 1e3 * CLOCK_MHZ)
        ok = np.ones(n, dtype=bool)
        return BatchCost(cycles=cycles, latency_ms=np.full(n, total), runnable=ok,
                         feasible=ok.copy(), resources={}, limits={}, labels={}, mapping={},
                         precision_share=np.ones(batch.weight_bits.shape))


class HaqTableTarget(_TableTargetBase):
    """HAQ's latency table layout (``haq-table:PATH``): ``[layer, weight_bits-1, act_bits-1]``
    in milliseconds for a workload whose layers it lists, in order."""

    max_bits = 8
    mapping_options: ClassVar[dict[str, tuple[Any, ...]]] = {}

    def __init__(self, path: str | Path) -> None:
        from cost_models.tables import haq

        super().__init__(TableSource(f"haq-table:{path}", "HAQ latency table",
                                     str(path)))  # type: ignore[arg-type]
        self.path = Path(path)
        self.values, self.layers = haq.load_haq(path)

    def precision_note(self) -> str:
        return "every output channel at the design's weight and activation bits (HAQ's table)"

    def _check(self, workload: Workload) -> None:
        from cost_models.tables import haq

        haq.check_layers(self.path, self.values, self.layers, workload)

    def _evaluate(self, workload: Workload, design: Design, fidelity: str) -> CostReport:
        self._check(workload)
        ran = design.apply_to(workload)
        layers = []
        for i, layer in enumerate(ran.layers):
            ms = float(self.values[i, design.weight_bits[i] - 1, design.act_bits[i] - 1])
            main = max(layer.gemms(), key=lambda g: g.macs)
            layers.append(LayerCost(
                name=layer.name, kind=layer.kind, m=main.m, n=main.n, k=main.k, count=main.count,
                weight_bits=design.weight_bits[i], act_bits=design.act_bits[i],
                cycles=ms * 1e3 * CLOCK_MHZ, units={"table": ms * 1e3 * CLOCK_MHZ},
                bound="table", details={"source": "haq-table"}))
        return CostReport(target=self.name, workload=workload.name, fidelity=fidelity,
                          clock_mhz=CLOCK_MHZ, layers=tuple(layers), resources={}, limits={},
                          feasible=True, notes=("HAQ table: latency[layer, wbits-1, abits-1] "
                                                "in ms, summed over layers",))

    def _evaluate_batch(self, workload: Workload, batch: DesignBatch) -> BatchCost:
        self._check(workload)
        if batch.rank is not None and batch.rank.any():
            raise DesignError(f"design batch on {self.name!r}", [Problem(
                "rank", "(batch)", "a HAQ table has no low-rank variants; use a haq space")])
        idx = np.arange(batch.weight_bits.shape[1])[None, :]
        per_layer = self.values[idx, batch.weight_bits - 1, batch.act_bits - 1]
        total = per_layer.sum(axis=1)
        ok = np.ones(len(batch), dtype=bool)
        return BatchCost(cycles=total * 1e3 * CLOCK_MHZ, latency_ms=total, runnable=ok,
                         feasible=ok.copy(), resources={}, limits={}, labels={}, mapping={},
                         precision_share=np.ones(batch.weight_bits.shape))


def _from_spec(head: str) -> Callable[[str], Target]:
    def build(path: str) -> Target:
        if not path:
            raise CodesignError(f"target '{head}:': give the table's path after '{head}:'")
        return TableTarget.from_file(path) if head == "table" else HaqTableTarget(path)
    return build


register_target_spec("table", _from_spec("table"))
register_target_spec("haq-table", _from_spec("haq-table"))


__all__ = ["CLOCK_MHZ", "HaqTableTarget", "TableTarget"]
