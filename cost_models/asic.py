"""Systolic-array ASIC target (SCALE-Sim's architecture): one ``rows x cols`` array of PEs,
double-buffered ifmap / filter / ofmap SRAMs and a DRAM port.

Every GEMM of a layer runs on the whole array, one after another (a grouped or depthwise conv's
``count`` repetitions too, as SCALE-Sim runs a layer); a layer costs its compute cycles
(SCALE-Sim 3.0.0's fold-by-fold counting, exactly) plus the stall cycles of its DRAM traffic
(:mod:`hwsim.asic.analytic`, a stated approximation of SCALE-Sim's memory system). Per layer the
dataflow is a mapping knob (``ws`` / ``os`` / ``is``; unset: the array's own).

Bit-widths: a fixed PE of ``bits`` runs every narrower operand in one multiply (zero-padded)
and a wider one in several passes; with ``bit_fusion`` the PE fuses narrow operands into more
multiplies per cycle (Bit Fusion, ISCA'18), which we model as the reduction dimension shrinking
by the fusion factor (``k -> ceil(k / f)``: each PE consumes ``f`` reduction terms a cycle) and
operands stored packed at their own width. Energy and area: :mod:`hwsim.asic.energy` (45 nm,
cited figures); the die area against ``area_budget_mm2`` is the feasibility limit.

Fidelities: ``analytic`` (closed forms, numba) and ``cycle`` (fold-by-fold simulation of the
SRAM fills and drains against the DRAM port on the event engine, :mod:`hwsim.asic.cycle`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from cost_models.batch import BatchCost, DesignBatch, KnobSpec
from cost_models.design import Design, DesignError
from cost_models.report import CostReport, LayerCost
from cost_models.targets import Target, register_target
from hwsim.asic import analytic as sa
from hwsim.asic import cycle, energy
from hwsim.errors import Problem
from hwsim.ir import Workload
from hwsim.spec import Hardware, SystolicArray

FloatArray = npt.NDArray[np.float64]

DATAFLOWS = ("os", "ws", "is")
"""The dataflows, in the order of their codes in a batch's ``mapping["dataflow"]``."""

EDGE_CHOICES = (8, 16, 32, 64, 128, 256)
SRAM_CHOICES = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
SRAM_FIELDS = ("ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib")


def _with(choices: tuple[Any, ...], preset: Any) -> tuple[Any, ...]:
    return tuple(sorted(set(choices) | {preset}))


def _memory(a: Any, k_eff: Any, cols: dict[str, Any], flows: Any, a_store: Any,
            w_store: Any) -> sa.SystolicCosts:
    """:func:`hwsim.asic.analytic.memory_costs` of every (design, GEMM) pair, ``[n, G]``
    fields. ``k`` differs per design under Bit Fusion, so the pairs go to the kernel as the
    GEMMs of one design; and a search's batch repeats the same pairs many times (few hardware
    choices, few bit-widths), so each distinct pair is costed once."""
    shape = k_eff.shape
    key = np.stack([np.broadcast_to(v, shape).reshape(-1).astype(np.float64) for v in (
        a.m, a.n, k_eff, a.count, cols["rows"][:, None], cols["cols"][:, None], flows,
        cols["ifmap_sram_kib"][:, None] * 8.0 / a_store,
        cols["filter_sram_kib"][:, None] * 8.0 / w_store,
        cols["ofmap_sram_kib"][:, None] * 8.0 / a_store,
        cols["dram_bytes_per_cycle"][:, None] * 8.0 / np.maximum(w_store, a_store))], axis=1)
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    ints = uniq[:, :7].astype(np.int64)
    mem = sa.memory_costs(ints[:, 0], ints[:, 1], ints[:, 2], ints[:, 3], ints[None, :, 4],
                          ints[None, :, 5], ints[None, :, 6], uniq[None, :, 7],
                          uniq[None, :, 8], uniq[None, :, 9], word_bytes=1,
                          dram_bytes_per_cycle=uniq[None, :, 10], parallel=False)
    return dataclasses.replace(mem, **{f.name: getattr(mem, f.name)[0, inverse].reshape(shape)
                                       for f in dataclasses.fields(mem)})


class SystolicTarget(Target):
    """A SCALE-Sim-style systolic array (the ``[systolic_array]`` component)."""

    fidelities = ("analytic", "cycle")
    mapping_options: ClassVar[dict[str, tuple[Any, ...]]] = {}
    max_bits = 16

    def __init__(self, hardware: Hardware) -> None:
        super().__init__(hardware)
        assert hardware.systolic_array is not None
        self.array: SystolicArray = hardware.systolic_array

    # ------------------------------------------------------------------------ knob table

    def mapping_knobs(self) -> tuple[KnobSpec, ...]:
        return (KnobSpec("dataflow", "layer", DATAFLOWS, None,
                         "per-layer dataflow: output / weight / input stationary (unset: the "
                         "array's own)", categorical=True),)

    def hardware_knobs(self) -> tuple[KnobSpec, ...]:
        a = self.array
        return (
            KnobSpec("systolic_array.rows", "hardware", _with(EDGE_CHOICES, a.rows), a.rows,
                     "PE rows"),
            KnobSpec("systolic_array.cols", "hardware", _with(EDGE_CHOICES, a.cols), a.cols,
                     "PE columns"),
            *(KnobSpec(f"systolic_array.{f}", "hardware", _with(SRAM_CHOICES, getattr(a, f)),
                       getattr(a, f), f"{f.split('_')[0]} scratchpad, KiB (double-buffered)")
              for f in SRAM_FIELDS),
            KnobSpec("systolic_array.bit_fusion", "hardware", (False, True), a.bit_fusion,
                     "Bit Fusion PEs: narrow operands fuse into more multiplies a cycle"),
        )

    def precision_note(self) -> str:
        return "every output channel at the design's weight and activation bits"

    # ------------------------------------------------------------------------ batch
    def design_batch(self, designs: list[Design]) -> DesignBatch:
        """As :meth:`Target.design_batch`; a design overriding the array's own ``dataflow``
        gets it as the per-layer dataflow wherever it leaves the mapping knob unset (a batch
        holds numbers only)."""
        out = []
        for d in designs:
            flow = d.overrides("systolic_array").get("dataflow")
            if flow is not None:
                hardware = tuple((c, tuple((f, v) for f, v in fields if f != "dataflow"))
                                 for c, fields in d.hardware)
                d = dataclasses.replace(d, hardware=tuple((c, f) for c, f in hardware if f))
                d = d.with_changes(mapping={"dataflow": [flow if v is None else v
                                                         for v in d.mapping_values("dataflow")]})
            out.append(d)
        return super().design_batch(out)


    def _columns(self, batch: DesignBatch) -> dict[str, npt.NDArray[Any]]:
        """Each ``[systolic_array]`` field as a ``[n]`` column (the preset's value where the
        batch has none); bad override values raise :class:`DesignError` naming the field."""
        n = len(batch)
        cols: dict[str, npt.NDArray[Any]] = {}
        problems: list[Problem] = []
        for f in dataclasses.fields(SystolicArray):
            value = batch.hardware.get(f"systolic_array.{f.name}")
            cols[f.name] = (np.full(n, getattr(self.array, f.name), dtype=object
                                    if f.name == "dataflow" else None)
                            if value is None else np.asarray(value))
        ints = ("rows", "cols", "bits", *SRAM_FIELDS)
        for name in ints:
            col = np.asarray(cols[name], dtype=np.float64)
            bad = ~np.isfinite(col) | (col != np.round(col)) | (col < 1) | (col > 2**31)
            if name in ("rows", "cols"):
                bad |= col > 2**16
            if name == "bits":
                bad |= ~np.isin(col, (2, 4, 8, 16))
            if bad.any():
                problems.append(Problem(f"hardware.systolic_array.{name}", col[bad][0],
                                        "must be a positive int (bits: 2, 4, 8 or 16)"))
            cols[name] = np.where(bad, 1, col).astype(np.int64)
        for name in ("clock_mhz", "dram_bytes_per_cycle"):
            col = np.asarray(cols[name], dtype=np.float64)
            bad = ~np.isfinite(col) | (col <= 0) | (col > 1e6)
            if bad.any():
                problems.append(Problem(f"hardware.systolic_array.{name}", col[bad][0],
                                        "must be a finite number > 0"))
            cols[name] = np.where(bad, 1.0, col)
        if "systolic_array.dataflow" in batch.hardware:
            problems.append(Problem("hardware.systolic_array.dataflow", "(batch column)",
                                    "set the dataflow per layer with mapping['dataflow']"))
        budget = self.array.area_budget_mm2
        cols["area_budget_mm2"] = np.full(n, math.inf if budget is None else budget)
        fusion = np.asarray(cols["bit_fusion"], dtype=np.float64)
        if not np.isin(fusion, (0.0, 1.0)).all():
            problems.append(Problem("hardware.systolic_array.bit_fusion",
                                    fusion[~np.isin(fusion, (0.0, 1.0))][0],
                                    "must be true or false (0 or 1)"))
        cols["bit_fusion"] = fusion == 1.0
        if not problems:
            edge = np.maximum(cols["rows"], cols["cols"])
            for name in SRAM_FIELDS:
                small = cols[name] * 8192 < 2 * edge * 16
                if small.any():
                    i = int(np.argmax(small))
                    problems.append(Problem(
                        f"hardware.systolic_array.{name}", int(cols[name][i]),
                        f"is smaller than two rows of {int(edge[i])} 16-bit words "
                        f"(double-buffered) for a {int(cols['rows'][i])}x{int(cols['cols'][i])} "
                        f"array"))
        if problems:
            raise DesignError(f"systolic-array overrides on {self.name!r}", problems)
        return cols

    def _flows(self, batch: DesignBatch) -> npt.NDArray[np.int64]:
        """``[n, L]`` dataflow codes, the array's own where the batch leaves one unset."""
        own = DATAFLOWS.index(self.array.dataflow)
        flow = batch.mapping.get("dataflow")
        if flow is None:
            return np.full(batch.weight_bits.shape, own, dtype=np.int64)
        bad = ~np.isnan(flow) & ~np.isin(flow, (0.0, 1.0, 2.0))
        if bad.any():
            raise DesignError(f"design batch on {self.name!r}", [Problem(
                "mapping.dataflow", float(flow[bad][0]),
                f"must be a dataflow code 0..2 ({', '.join(DATAFLOWS)}) or NaN")])
        return np.where(np.isnan(flow), own, flow).astype(np.int64)

    def _costs(self, workload: Workload, batch: DesignBatch) -> dict[str, Any]:
        """Per design and GEMM: cycles, stalls, traffic and energy (``[n, G]`` arrays), and per
        design the area; what both ``evaluate`` and ``evaluate_batch`` report."""
        a = workload.to_arrays()
        cols = self._columns(batch)
        flows = self._flows(batch)[:, a.layer]
        wb, ab = batch.weight_bits[:, a.layer], batch.act_bits[:, a.layer]
        fusion = cols["bit_fusion"][:, None]
        pe_bits = cols["bits"][:, None]
        factor = energy.fusion_factor(wb, ab, fusion, pe_bits)
        # fused: f reduction terms per PE a cycle; wide operands: 1/f passes of the whole GEMM
        k_eff = np.where(factor >= 1, -(-a.k // np.maximum(factor, 1)).astype(np.int64), a.k)
        passes = np.where(factor >= 1, 1.0, 1.0 / factor)
        # operand storage: packed at the layer's widths with fusion, one PE word each without
        # (a wider operand: its own width); the kernel counts words, so the SRAMs and the DRAM
        # port are given in operands of each width (one DRAM rate per design: the wider one's)
        w_store = np.where(fusion, energy.fused_bits(wb), np.maximum(pe_bits, wb))
        a_store = np.where(fusion, energy.fused_bits(ab), np.maximum(pe_bits, ab))
        mem = _memory(a, k_eff, cols, flows, a_store, w_store)
        compute = mem.compute_cycles * passes
        scalesim_stall = mem.stall_cycles * passes
        # physical DRAM traffic (valid operands; SCALE-Sim's own columns also count the null
        # words padding partial folds), in bytes, all repetitions and passes
        words = cycle.dram_words(a.m, a.n, k_eff, cols["rows"][:, None], cols["cols"][:, None],
                                 flows, cols["ifmap_sram_kib"][:, None] * 4096.0 / a_store,
                                 cols["filter_sram_kib"][:, None] * 4096.0 / w_store)
        reps = passes * a.count[None, :]
        traffic = [reps * w * b / 8.0 for w, b in zip(words, (a_store, w_store, a_store),
                                                      strict=True)]
        # SCALE-Sim prefetches an operand that fits its SRAM before the layer's cycle 0, for
        # free; run layer after layer, a layer cannot end before its traffic has moved through
        # each operand's DRAM interface: the DRAM floor
        floor = np.maximum.reduce(traffic) / cols["dram_bytes_per_cycle"][:, None]
        stall = np.maximum(compute + scalesim_stall, floor) - compute
        macs = (a.m * a.n * a.k * a.count)[None, :] * np.ones_like(compute)
        dram_bytes = traffic[0] + traffic[1] + traffic[2]
        sram = {f: cols[f][:, None] for f in SRAM_FIELDS}
        e_mac = macs * energy.mac_energy_pj(wb, ab, fusion, pe_bits)
        e_sram = passes / 8.0 * (
            mem.ifmap_sram_reads * a_store * energy.sram_pj_per_byte(sram["ifmap_sram_kib"])
            + mem.filter_sram_reads * w_store * energy.sram_pj_per_byte(sram["filter_sram_kib"])
            + mem.ofmap_sram_writes * a_store * energy.sram_pj_per_byte(sram["ofmap_sram_kib"]))
        e_dram = dram_bytes * energy.DRAM_PJ_PER_BYTE
        area = energy.array_area_mm2(cols["rows"], cols["cols"], cols["bits"], cols["bit_fusion"],
                                     *(cols[f] for f in SRAM_FIELDS))
        pes = (cols["rows"] * cols["cols"]).astype(np.float64)
        return {"arrays": a, "cols": cols, "flows": flows, "compute": compute, "stall": stall,
                "cycles": compute + stall, "macs": macs, "scalesim_stall": scalesim_stall,
                "dram_floor": floor, "dram_bytes": dram_bytes,
                "energy_pj": e_mac + e_sram + e_dram, "energy_parts": (e_mac, e_sram, e_dram),
                "area_mm2": area, "pes": pes, "factor": factor, "memory": mem,
                # PE utilisation counts PE-cycles of work at the layer's widths: a fused PE
                # doing f multiplies a cycle is fully used by f MACs
                "pe_slots": macs / factor,
                "k_eff": k_eff, "passes": passes, "w_store": w_store, "a_store": a_store}

    def _evaluate_batch(self, workload: Workload, batch: DesignBatch) -> BatchCost:
        c = self._costs(workload, batch)
        cycles = c["cycles"].sum(axis=1)
        cols = c["cols"]
        clock = cols["clock_mhz"]
        latency_ms = cycles / (clock * 1e3)
        area = c["area_mm2"]
        budget = float(cols["area_budget_mm2"][0])
        feasible = np.isfinite(cycles) & (area <= budget)
        util = c["pe_slots"].sum(axis=1) / np.maximum(cycles * c["pes"], 1.0)
        flows = self._flows(batch).astype(np.float64)
        return BatchCost(
            cycles=cycles, latency_ms=latency_ms, runnable=np.isfinite(cycles),
            feasible=feasible, resources={"area_mm2": area},
            limits={"area_mm2": budget} if math.isfinite(budget) else {},
            labels={"area_mm2": "area mm^2"}, mapping={"dataflow": flows},
            precision_share=np.ones(batch.weight_bits.shape),
            details={"energy_uj": c["energy_pj"].sum(axis=1) / 1e6, "pe_utilisation": util,
                     "dram_bytes": c["dram_bytes"].sum(axis=1)})

    def _simulate(self, c: dict[str, Any]) -> dict[str, Any]:
        """The cycle tier (:mod:`hwsim.asic.cycle`) on design 0 of ``c``: per GEMM, all its
        repetitions and precision passes, cycles, DRAM bytes and per-stage busy cycles."""
        a, cols = c["arrays"], c["cols"]
        n_gemms = len(a)
        out: dict[str, Any] = {"cycles": np.zeros(n_gemms), "dram_bytes": np.zeros(n_gemms),
                               "busy": {s: np.zeros(n_gemms) for s in cycle.STAGES}}
        for g in range(n_gemms):
            a_b, w_b = float(c["a_store"][0, g]), float(c["w_store"][0, g])
            run = cycle.simulate_gemm(
                int(a.m[g]), int(a.n[g]), int(c["k_eff"][0, g]), int(cols["rows"][0]),
                int(cols["cols"][0]), int(c["flows"][0, g]),
                ifmap_words=cols["ifmap_sram_kib"][0] * 8192 / a_b,
                filter_words=cols["filter_sram_kib"][0] * 8192 / w_b,
                ofmap_words=cols["ofmap_sram_kib"][0] * 8192 / a_b,
                ifmap_bytes=a_b / 8, filter_bytes=w_b / 8, ofmap_bytes=a_b / 8,
                dram_bytes_per_cycle=float(cols["dram_bytes_per_cycle"][0]))
            reps = float(a.count[g]) * float(c["passes"][0, g])
            out["cycles"][g] = reps * run.cycles
            out["dram_bytes"][g] = reps * run.dram_bytes
            for st, v in run.busy.items():
                out["busy"][st][g] = reps * v
        return out

    # ------------------------------------------------------------------------ evaluate

    def _evaluate(self, workload: Workload, design: Design, fidelity: str) -> CostReport:
        comps = self.components_for(design)
        array: SystolicArray = comps["systolic_array"]
        ran = design.apply_to(workload)
        batch = self.design_batch([design])
        c = self._costs(ran, batch)
        a = c["arrays"]
        sim = self._simulate(c) if fidelity == "cycle" else None
        layers: list[LayerCost] = []
        for i, layer in enumerate(ran.layers):
            g0, g1 = int(a.first_gemm[i]), int(a.first_gemm[i + 1])
            main = max(layer.gemms(), key=lambda g: g.macs)
            compute = float(c["compute"][0, g0:g1].sum())
            stall = float(c["stall"][0, g0:g1].sum())
            cycles = compute + stall
            details: dict[str, Any] = {
                "compute_cycles": compute, "stall_cycles": stall,
                "scalesim_cycles": compute + float(c["scalesim_stall"][0, g0:g1].sum()),
                "dram_floor_cycles": float(c["dram_floor"][0, g0:g1].sum()),
                                       "fusion_factor": float(c["factor"][0, g0])}
            if sim is not None:
                cycles = float(sim["cycles"][g0:g1].sum())
                details.update(cycle_cycles=cycles, dram_bytes_moved=float(
                    sim["dram_bytes"][g0:g1].sum()), stage_busy_cycles={
                        st: float(sim["busy"][st][g0:g1].sum()) for st in sim["busy"]})
                stall = cycles - compute
            slots = float(c["pe_slots"][0, g0:g1].sum())
            details["pe_utilisation"] = slots / max(cycles * float(c["pes"][0]), 1.0)
            layers.append(LayerCost(
                name=layer.name, kind=layer.kind, m=main.m, n=main.n, k=main.k,
                count=main.count, weight_bits=design.weight_bits[i],
                act_bits=design.act_bits[i], cycles=cycles,
                units={"array": compute, "dram_stall": max(stall, 0.0)},
                bound="array" if compute >= stall else "dram_stall",
                mapping={"dataflow": DATAFLOWS[int(c["flows"][0, g0])]},
                dram_bytes=math.ceil(float(c["dram_bytes"][0, g0:g1].sum())),
                energy_pj=float(c["energy_pj"][0, g0:g1].sum()),
                rank=None if design.rank is None else design.rank[i], details=details))
        area = float(c["area_mm2"][0])
        budget = array.area_budget_mm2
        violations = ([] if budget is None or area <= budget else
                      [f"area {area:,.3f} mm^2 > {budget:,.3f} mm^2 ({100 * area / budget:.1f}%)"])
        notes = ("analytic: SCALE-Sim 3.0.0's compute cycles (exact) + a closed-form stall model "
                 "(hwsim.asic.analytic; see docs/asic.md for its tolerance); energy and area at "
                 "45 nm from cited figures (hwsim.asic.energy, +-50 %)",) if fidelity == \
            "analytic" else ("cycle: fold-by-fold SRAM fills and drains against the DRAM port "
                             "(hwsim.asic.cycle)",)
        return CostReport(
            target=self.name, workload=workload.name, fidelity=fidelity,
            clock_mhz=array.clock_mhz, layers=tuple(layers),
            resources={"area_mm2": round(area, 4)},
            limits={} if budget is None else {"area_mm2": budget},
            feasible=not violations, violations=tuple(violations), notes=notes,
            hardware={"systolic_array": dataclasses.asdict(array)})


register_target(lambda hw: hw.systolic_array is not None, SystolicTarget,
                "systolic-array ASIC (SCALE-Sim's architecture)")
