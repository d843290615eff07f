"""Tensor-decomposed LSTM accelerator target (TIE, FDHT-LSTM): every preset with an
``[lstm_accelerator]`` section.

A TT or HT layer runs stage by stage on the accelerator's PE array and banked working memory,
as :mod:`hwsim.lstm.accel` models it (TIE: its stage-by-stage order with an explicit transform
pass between stages; FDHT: the optimal contraction order, transforms on the fly); every other
layer (the recurrent ``Linear``, the classifier) runs as dense GEMMs at the array's peak rate.
Latency is per time step (one frame): the zoo's ``lstm-*`` workloads default to one step.

The design space is the compression: per-layer ranks (TT / HT ranks of the tensor layers, SVD
ranks of the dense ones) and bit-widths; the datapath is ``bits`` wide (16: TIE's and FDHT's
fixed point), so narrower weights run at 16 bits and cost the same, wider ones cannot run.
No resource limit: every design is feasible; the working memory a design needs is reported as a
resource (``working_kib``).

Fidelities: ``analytic`` (every access group one cycle) and ``cycle`` (every access group's
bank conflicts simulated; :mod:`hwsim.lstm.banks`). ``evaluate`` takes either;
``evaluate_batch``, the search path, is analytic as on every target (FDHT's schedule is
conflict-free in the cycle tier on the shipped workloads, so the two agree there; TIE's fixed
mapping adds 3-6 % in the cycle tier).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from cost_models.batch import BatchCost, DesignBatch
from cost_models.design import Design
from cost_models.report import CostReport, LayerCost
from cost_models.targets import Target, register_target
from hwsim.errors import Problem
from hwsim.ir import Workload
from hwsim.ir.layers import Layer
from hwsim.lstm.accel import LayerRun, run_layer
from hwsim.spec import Hardware, LstmAccelerator


class LstmAcceleratorTarget(Target):
    """TIE or FDHT-LSTM (the ``[lstm_accelerator]`` component)."""

    fidelities = ("analytic", "cycle")
    mapping_options: ClassVar[dict[str, tuple[Any, ...]]] = {}

    def __init__(self, hardware: Hardware) -> None:
        super().__init__(hardware)
        assert hardware.lstm_accelerator is not None
        self.accelerator: LstmAccelerator = hardware.lstm_accelerator
        self.max_bits = self.accelerator.bits
        self._runs: dict[tuple[Layer, LstmAccelerator, str], LayerRun] = {}

    def precision_note(self) -> str:
        return f"every layer on a {self.accelerator.bits}-bit fixed-point datapath"

    def _design_problems(self, design: Design) -> list[Problem]:
        return []

    def run(self, layer: Layer, acc: LstmAccelerator, fidelity: str) -> LayerRun:
        """One layer's run (cached per layer record, accelerator and fidelity)."""
        key = (layer, acc, fidelity)
        hit = self._runs.get(key)
        if hit is None:
            if len(self._runs) > self.cache_size:
                self._runs.clear()
            hit = self._runs[key] = run_layer(layer, acc, fidelity=fidelity)
        return hit

    # ------------------------------------------------------------------------ batch

    def _accelerators(self, batch: DesignBatch) -> list[LstmAccelerator]:
        """One record per design with the batch's ``lstm_accelerator.*`` overrides (records
        validate themselves: a bad value raises naming the field)."""
        n = len(batch)
        cols = {name.partition(".")[2]: np.asarray(v) for name, v in batch.hardware.items()}
        if not cols:
            return [self.accelerator] * n
        fields = {f.name: f.type for f in dataclasses.fields(LstmAccelerator)}
        out = []
        for i in range(n):
            changes = {}
            for f, v in cols.items():
                value = v[i].item() if hasattr(v[i], "item") else v[i]
                if fields[f] == "int" and isinstance(value, float) and value.is_integer():
                    value = int(value)
                changes[f] = value
            out.append(dataclasses.replace(self.accelerator, **changes))
        return out

    def _evaluate_batch(self, workload: Workload, batch: DesignBatch) -> BatchCost:
        n = len(batch)
        accs = self._accelerators(batch)
        cycles = np.zeros(n)
        energy = np.zeros(n)
        memory = np.zeros(n)
        for acc in dict.fromkeys(accs):
            rows = np.array([a == acc for a in accs])
            runs = [self.run(layer, acc, "analytic") for layer in workload.layers]
            cycles[rows] = sum(r.cycles for r in runs)
            energy[rows] = sum(r.total_energy_pj for r in runs) / 1e6
            memory[rows] = max(r.buffer_bytes for r in runs) / 1024
        clock = np.array([a.clock_mhz for a in accs])
        latency_ms = cycles / (clock * 1e3)
        ok = np.ones(n, dtype=bool)
        return BatchCost(
            cycles=cycles, latency_ms=latency_ms, runnable=ok, feasible=ok.copy(),
            resources={"working_kib": memory}, limits={},
            labels={"working_kib": "working memory KiB"}, mapping={},
            precision_share=np.ones(batch.weight_bits.shape),
            details={"energy_uj": energy, "frames_per_s": 1e3 / latency_ms})

    # ------------------------------------------------------------------------ evaluate

    def _evaluate(self, workload: Workload, design: Design, fidelity: str) -> CostReport:
        comps = self.components_for(design)
        acc: LstmAccelerator = comps["lstm_accelerator"]
        ran = design.apply_to(workload)
        layers = []
        memory = 0
        for i, layer in enumerate(ran.layers):
            run = self.run(layer, acc, fidelity)
            main = max(layer.gemms(), key=lambda g: g.macs)
            compute = float(sum(s.compute_cycles for s in run.stages)) if run.stages \
                else float(run.cycles)
            transform = float(sum(s.transform_cycles + s.transform_conflict_cycles
                                  for s in run.stages))
            conflicts = float(sum(s.read_conflict_cycles + s.write_conflict_cycles
                                  for s in run.stages))
            units = {"pe_array": compute, "transform": transform, "bank_conflicts": conflicts}
            memory = max(memory, run.buffer_bytes)
            details: dict[str, Any] = {
                "energy_parts_pj": dict(run.energy_pj), "buffer_bytes": run.buffer_bytes,
                "stages": [dataclasses.asdict(s) for s in run.stages]}
            if run.plan is not None:
                details["contraction_order"] = run.plan.order
            layers.append(LayerCost(
                name=layer.name, kind=layer.kind, m=main.m, n=main.n, k=main.k,
                count=main.count, weight_bits=design.weight_bits[i],
                act_bits=design.act_bits[i], cycles=float(run.cycles), units=units,
                bound=max(units, key=units.__getitem__), dram_bytes=0,
                energy_pj=run.total_energy_pj,
                rank=None if design.rank is None else design.rank[i], details=details))
        notes = (f"{acc.style}: {'TT stage by stage with a transform pass between stages' if acc.style == 'tie' else 'optimal contraction order, transforms on the fly'}; "  # noqa: E501
                 f"{fidelity}: " + ("every access group one cycle" if fidelity == "analytic"
                                    else "bank conflicts simulated per access group")
                 + "; PE array, banks and energy per hwsim.lstm.accel's stated assumptions "
                 "(energy +-50 %, dynamic only); latency per time step",)
        return CostReport(
            target=self.name, workload=workload.name, fidelity=fidelity,
            clock_mhz=acc.clock_mhz, layers=tuple(layers),
            resources={"working_kib": round(memory / 1024, 3), "area_mm2": acc.area_mm2},
            limits={}, feasible=True, notes=notes,
            hardware={"lstm_accelerator": dataclasses.asdict(acc)})


register_target(lambda hw: hw.lstm_accelerator is not None, LstmAcceleratorTarget,
                "tensor-decomposed LSTM accelerator (TIE, FDHT-LSTM)")

__all__ = ["LstmAcceleratorTarget"]
