"""TIE and FDHT-LSTM as PE array + banked working memory + schedule: per-step cycles, energy and
buffer sizes of a TT / HT layer (and the dense layers beside it).

What is published, and used as given (REFERENCE.md section 4): TIE has 16 PEs at 1 GHz in 28 nm
CMOS on 1.74 mm^2 and computes TT products stage by stage with the fewest multiplications, its
stage intermediates in a banked working memory (Deng et al., ISCA'19); FDHT-LSTM computes HT
products and performs the inter-stage transforms "on the fly without any access conflict"
(Gong et al., IEEE TC'22); FDHT over TIE: 2.5x / 1.9x throughput on LSTM-Youtube / UCF, 1.46x /
comparable area efficiency, 2.41x / 1.83x energy efficiency. ETTE (ISCA'23, the same group)
says TIE stores each stage's intermediate results and spends extra data transfers inside a
layer. Everything else below is **our assumption**, chosen the same for both designs so that
only the schedules differ:

* **PE array** (both): ``pes`` PEs of ``macs_per_pe`` 16-bit multipliers. A stage's GEMM
  ``(rows x inner) @ (inner x cols)`` runs row-parallel: PE ``p`` owns rows ``p, p+P, ...``,
  reads one operand a cycle and multiplies it by ``cols`` weights, ``macs_per_pe`` at a time
  (weights broadcast to every PE from a weight buffer). Stage compute:
  ``ceil(rows/P) * inner * ceil(cols/macs_per_pe)`` cycles; the results go out one column of
  ``P`` a cycle (``ceil(rows/P) * cols`` cycles) into the other half of a ping-pong working
  memory, overlapped with the reads, so a stage takes the longer of the two.
* **TIE's schedule**: each stage reads its operand in the order it needs; before every stage but
  the first, an explicit transform pass re-lays the previous stage's result out in that order
  (ETTE's "data transfer inside a layer"): ``ceil(elems/P)`` cycles, P reads and P writes a
  cycle. In the cycle tier the pass's reads (in the next stage's order) pay the conflicts of
  TIE's one fixed bank mapping; its writes, the stage's reads of the re-laid-out copy and the
  stage's result writes all go in address order, which a low-order interleave serves without
  conflict, so they are charged none.
* **FDHT's schedule**: each stage reads the previous result in place, in its own order (the
  transform folded into the address generator), with a bank mapping chosen per stage and
  staggered result writes (:mod:`hwsim.lstm.banks`); no transform pass.
* **Dense layers** (the recurrent ``Linear`` 256 -> 1,024 and the classifier, the same on both):
  ``ceil(MACs / (pes * macs_per_pe))`` cycles (weights streamed at the array's rate).
* **Energy** (dynamic only): MACs and SRAM accesses at Horowitz's 45 nm figures
  (:mod:`hwsim.asic.energy`) scaled to 28 nm by :data:`ENERGY_SCALE_28NM`; no leakage, no clock
  tree. +-50 %.

Fidelities: ``analytic`` takes every access group as one cycle (the FDHT claim, which the cycle
tier checks); ``cycle`` simulates every access group's banks (:mod:`hwsim.lstm.banks`) and adds
the conflict cycles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwsim.asic import energy as asic_energy
from hwsim.errors import CodesignError
from hwsim.ir.layers import HTLinear, Layer, TTLinear
from hwsim.lstm import banks as bk
from hwsim.lstm.plan import Plan, plan_layer
from hwsim.spec import LstmAccelerator

ENERGY_SCALE_28NM = 28.0 / 45.0
"""45 nm -> 28 nm energy: first-order switched-capacitance scaling with the feature size at
constant supply voltage (our assumption, +-50 %; voltage has scaled little since 45 nm)."""

WORD_BYTES = 2
"""16-bit fixed point, TIE's and FDHT's operand width."""


@dataclass(frozen=True, slots=True)
class StageRun:
    """One contraction stage on an accelerator.

    ``compute_cycles``: the row-parallel GEMM's cycles with no conflict;
    ``read_conflict_cycles`` / ``write_conflict_cycles``: what the bank mapping adds to the
    stage's in-place reads and result writes (FDHT's schedule, cycle tier; 0 in the analytic
    tier and on TIE, whose stages access memory in address order);
    ``transform_cycles``: TIE's explicit re-layout pass before the stage (conflicts included);
    ``cycles``: the stage's total (reads and writes overlap: ping-pong buffers).
    """

    index: int
    weights: tuple[str, ...]
    rows: int
    inner: int
    cols: int
    macs: int
    compute_cycles: int
    read_conflict_cycles: int
    write_cycles: int
    write_conflict_cycles: int
    transform_cycles: int
    transform_conflict_cycles: int
    cycles: int
    sram_reads: int
    sram_writes: int
    weight_reads: int
    in_elems: int
    out_elems: int
    mapping: str


@dataclass(frozen=True)
class LayerRun:
    """A layer's run on an accelerator: stages (none for a dense layer), cycles, MACs, energy
    parts (pJ) and the working memory it needs (bytes)."""

    name: str
    kind: str
    stages: tuple[StageRun, ...]
    cycles: int
    macs: int
    energy_pj: dict[str, float]
    buffer_bytes: int
    plan: Plan | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def conflict_cycles(self) -> int:
        return sum(s.read_conflict_cycles + s.write_conflict_cycles
                   + s.transform_conflict_cycles for s in self.stages)

    @property
    def total_energy_pj(self) -> float:
        return float(sum(self.energy_pj.values()))


def _energy(acc: LstmAccelerator, macs: float, sram: float, weights: float,
            bank_kib: float) -> dict[str, float]:
    mac = float(asic_energy.mac_energy_pj(acc.bits, acc.bits, False, acc.bits))
    per_byte = float(asic_energy.sram_pj_per_byte(max(bank_kib, 1.0)))
    return {"mac": macs * mac * ENERGY_SCALE_28NM,
            "working_sram": sram * WORD_BYTES * per_byte * ENERGY_SCALE_28NM,
            "weight_buffer": weights * WORD_BYTES * per_byte * ENERGY_SCALE_28NM}


def default_mapping(acc: LstmAccelerator) -> str:
    """FDHT: a mapping per stage; TIE: one fixed skew for every stage."""
    return "per-stage" if acc.style == "fdht" else "skew"


def _fixed_skew(plan: Plan, acc: LstmAccelerator) -> bk.BankMapping:
    """TIE's one mapping: the linear skew ``(a, b)`` with the fewest conflict cycles over every
    transform read of the plan (the most favourable fixed skew for TIE)."""
    dims = plan.network.dims
    buffers = bk.stage_buffers(plan)
    streams = [(buffers[s], bk.read_groups(st, dims, acc.pes))
               for s, st in enumerate(plan.stages) if s > 0]
    best, best_cost = bk.skew(acc.banks, 1, 1), math.inf
    for a in range(acc.banks):
        for b in range(acc.banks):
            m = bk.skew(acc.banks, a, b)
            cost = sum(bk.stream_cost(m, buf, st, acc.bank_ports).cycles for buf, st in streams)
            if cost < best_cost:
                best, best_cost = m, cost
    return best


def run_plan(plan: Plan, acc: LstmAccelerator, *, fidelity: str = "analytic",
             mapping: str | None = None, name: str = "", kind: str = "") -> LayerRun:
    """Cycles, energy and buffers of one TT/HT layer's ``plan`` on ``acc``.

    ``mapping`` (cycle tier): ``per-stage`` (searched per buffer), ``interleave``, ``skew``
    (FDHT: ``a = b = 1``; TIE: its best fixed skew), ``xor``; default per
    :func:`default_mapping`."""
    if fidelity not in ("analytic", "cycle"):
        raise CodesignError(f"LSTM accelerators offer fidelity analytic or cycle, not {fidelity!r}")
    mapping = mapping or default_mapping(acc)
    if mapping not in bk.MAPPINGS:
        raise CodesignError(f"unknown bank mapping {mapping!r}; use one of {bk.MAPPINGS}")
    P, M, B = acc.pes, acc.macs_per_pe, acc.banks
    dims = plan.network.dims
    tie = acc.style == "tie"
    buffers = bk.stage_buffers(plan)
    cycle = fidelity == "cycle"
    fixed: bk.BankMapping | None = None
    if cycle and mapping != "per-stage":
        fixed = (_fixed_skew(plan, acc) if tie and mapping == "skew"
                 else bk.fixed_mapping(mapping, B))
    stages: list[StageRun] = []
    for s, st in enumerate(plan.stages):
        blocks = -(-st.rows // P)
        per_read = -(-st.cols // M)
        compute = blocks * st.inner * per_read
        writes = blocks * st.cols
        transform = -(-st.in_elems // P) if tie and s > 0 else 0
        r_conf = w_conf = t_conf = 0
        label = "-"
        if cycle:
            read = bk.read_groups(st, dims, P)
            write = bk.write_groups(st, dims, P, stagger=not tie)
            out_buf = buffers[s + 1]
            if tie:
                # the stage reads the re-laid-out operand row by row and writes its result in
                # natural order: the transform pass is where the corner turn meets the banks
                m = fixed if fixed is not None else _searched(plan, s, acc, "tie")
                if s > 0:
                    t_conf = bk.stream_cost(m, buffers[s], read, acc.bank_ports).conflict_cycles
                label = m.describe()
            else:
                m = fixed if fixed is not None else _searched(plan, s, acc, "in")
                cyc = bk.group_cycles(m.bank(buffers[s], read[0]), read[1], B, acc.bank_ports)
                r_conf = int(np.maximum(cyc, per_read).sum()) - compute
                label = m.describe()
                # this stage's writes land in the next buffer, under that buffer's mapping
                # (the next stage's input buffer: one mapping for its writes and its reads)
                m_out = fixed if fixed is not None else (
                    _searched(plan, s + 1, acc, "in") if s + 1 < len(plan.stages)
                    else _searched(plan, s, acc, "out"))
                w_conf = bk.stream_cost(m_out, out_buf, write, acc.bank_ports).conflict_cycles
        transform_total = transform + t_conf
        cycles = max(compute + r_conf, writes + w_conf) + transform_total
        stages.append(StageRun(
            s, st.weights, st.rows, st.inner, st.cols, st.macs, compute, r_conf, writes, w_conf,
            transform, t_conf, cycles, sram_reads=st.in_elems * (2 if transform else 1),
            sram_writes=st.out_elems + (st.in_elems if transform else 0),
            weight_reads=blocks * st.inner * st.cols, in_elems=st.in_elems,
            out_elems=st.out_elems, mapping=label))
    peak = max(max(s.in_elems, s.out_elems) for s in stages)
    copies = 3 if tie else 2  # TIE: the result, its re-laid-out copy, and the stage's output
    buffer_bytes = copies * peak * WORD_BYTES
    bank_kib = buffer_bytes / 1024 / B
    macs = sum(s.macs for s in stages)
    energy = _energy(acc, macs, sum(s.sram_reads + s.sram_writes for s in stages),
                     sum(s.weight_reads for s in stages), bank_kib)
    return LayerRun(name, kind, tuple(stages), sum(s.cycles for s in stages), macs, energy,
                    buffer_bytes, plan)


_SEARCHED: dict[tuple[Any, ...], bk.BankMapping] = {}
"""Per-stage mappings found so far, keyed by the plan's stages, dims and the memory geometry
(the search takes up to a second a buffer; a rank search revisits the same plans)."""


def _searched(plan: Plan, s: int, acc: LstmAccelerator, which: str) -> bk.BankMapping:
    key = (plan.stages, tuple(sorted(plan.network.dims.items())), acc.pes, acc.banks,
           acc.bank_ports, s, which)
    hit = _SEARCHED.get(key)
    if hit is None:
        if len(_SEARCHED) > 4096:
            _SEARCHED.clear()
        dims = plan.network.dims
        buffers = bk.stage_buffers(plan)
        st = plan.stages[s]
        if which == "in":  # the buffer stage s reads: written by stage s-1, read by stage s
            streams = ([bk.write_groups(plan.stages[s - 1], dims, acc.pes, stagger=True)]
                       if s else [])
            streams.append(bk.read_groups(st, dims, acc.pes))
            hit = bk.search_mapping(buffers[s], streams, acc.banks, acc.bank_ports)
        elif which == "tie":  # TIE's transform pass reads the buffer in stage s's order
            hit = bk.search_mapping(buffers[s], [bk.read_groups(st, dims, acc.pes)],
                                    acc.banks, acc.bank_ports)
        else:
            hit = _out_mapping(plan, s, acc)
        _SEARCHED[key] = hit
    return hit


def _out_mapping(plan: Plan, s: int, acc: LstmAccelerator) -> bk.BankMapping:
    """The per-stage mapping of the buffer stage ``s`` writes (searched over those writes and the
    next stage's reads; the final output buffer over the writes alone)."""
    dims = plan.network.dims
    buffers = bk.stage_buffers(plan)
    streams = [bk.write_groups(plan.stages[s], dims, acc.pes, stagger=True)]
    if s + 1 < len(plan.stages):
        streams.append(bk.read_groups(plan.stages[s + 1], dims, acc.pes))
    return bk.search_mapping(buffers[s + 1], streams, acc.banks, acc.bank_ports)


def plan_for(layer: Layer, acc: LstmAccelerator) -> Plan:
    """TIE runs TT layers in its stage-by-stage order; FDHT (and TIE on an HT layer) the
    optimal order."""
    if isinstance(layer, TTLinear) and acc.style == "tie":
        return plan_layer(layer, "tie")
    return plan_layer(layer, "optimal")


def run_layer(layer: Layer, acc: LstmAccelerator, *, fidelity: str = "analytic",
              mapping: str | None = None) -> LayerRun:
    """Any layer on ``acc``: TT/HT layers stage by stage (:func:`run_plan`), any other as
    dense GEMMs at the array's peak rate."""
    if isinstance(layer, TTLinear | HTLinear):
        return run_plan(plan_for(layer, acc), acc, fidelity=fidelity, mapping=mapping,
                        name=layer.name, kind=layer.kind)
    macs = sum(g.macs for g in layer.gemms())
    cycles = -(-macs // (acc.pes * acc.macs_per_pe))
    weights = layer.weight_params
    energy = _energy(acc, macs, 0.0, float(weights), 8.0)
    return LayerRun(layer.name, layer.kind, (), cycles, macs, energy, 0, None,
                    ("dense: MACs / (pes * macs_per_pe), weights streamed",))


def summary(runs: list[LayerRun], acc: LstmAccelerator) -> dict[str, Any]:
    """Per step (one frame): cycles, frames/s, energy, and the efficiency figures."""
    cycles = sum(r.cycles for r in runs)
    seconds = cycles / (acc.clock_mhz * 1e6)
    energy_pj = sum(r.total_energy_pj for r in runs)
    fps = 1.0 / seconds if seconds else math.inf
    return {"cycles": cycles, "frames_per_s": fps, "energy_uj": energy_pj / 1e6,
            "area_mm2": acc.area_mm2, "frames_per_s_per_mm2": fps / acc.area_mm2,
            "frames_per_uj": 1e6 / energy_pj if energy_pj else math.inf,
            "macs": sum(r.macs for r in runs),
            "conflict_cycles": sum(r.conflict_cycles for r in runs),
            "buffer_bytes": max((r.buffer_bytes for r in runs), default=0)}


__all__ = ["ENERGY_SCALE_28NM", "LayerRun", "StageRun", "default_mapping", "plan_for",
           "run_layer", "run_plan", "summary"]
