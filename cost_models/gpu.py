"""GPU target: a per-GEMM roofline for every preset with a ``[gpu]`` section (``docs/gpu.md``).

Per GEMM ``(m x k) @ (k x n)`` repeated ``count`` times, at the data type its layer's bits ask
for (the widest of weight and activation bits: <= 8 -> INT8, <= 16 -> FP16; a type the GPU has
no peak for runs at the next wider one that it has, FP32 last)::

    flops   = 2 * m * n * k * count
    bytes   = count * (m*k + k*n + m*n) * width(dtype)          inputs + weights + outputs
    compute = flops / (peak(dtype) * compute_efficiency)
    memory  = bytes / (memory_gbps * 1e9 * memory_efficiency)
    time    = max(compute, memory) + launches * launch_overhead_us * 1e-6

Assumptions, stated: every GEMM is one kernel, its ``count`` repetitions one batched kernel
(grouped and depthwise convolutions, attention heads), except repetitions that depend on each
other (``Gemm.independent`` false: an LSTM's time steps), which are one kernel each; no cache
reuse across kernels (every kernel reads its operands from and writes its output to DRAM,
once); no overlap between kernels (layers and GEMMs run one after another, as on one CUDA
stream); no non-GEMM work (activations, pooling, normalisation fused or free). It is a roofline:
unvalidated against measurements on these GPUs (the project's machines have none).

Cycles are reported at the record's nominal ``clock_mhz`` (cycles = seconds x clock); per layer
the units are ``compute``, ``memory`` and ``launch`` in cycles, ``bound`` the largest.
Feasibility: the weights of every layer plus the largest layer's input and output activations,
at their data types, must fit ``memory_gib``; otherwise the design is infeasible, with the
reason. No other limit.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from cost_models.batch import BatchCost, DesignBatch
from cost_models.design import Design, DesignError
from cost_models.report import CostReport, LayerCost
from cost_models.targets import Target, register_target
from hwsim.errors import Problem, SpecError
from hwsim.ir import Workload
from hwsim.spec import Gpu, Hardware

FloatArray = npt.NDArray[np.float64]

DTYPES = ("int8", "fp16", "fp32")
"""The data types, in the order of their codes."""
WIDTH_BYTES = np.array([1.0, 2.0, 4.0])
"""Bytes per element of each data type."""
GIB = 2.0**30

NUMERIC_FIELDS = ("peak_tflops", "memory_gbps", "memory_gib", "clock_mhz", "launch_overhead_us",
                  "compute_efficiency", "memory_efficiency")


def dtype_codes(bits: Any, has_int8: Any, has_fp16: Any) -> npt.NDArray[np.int64]:
    """The data type (index into :data:`DTYPES`) each entry of ``bits`` runs at: <= 8 bits
    INT8, <= 16 FP16, wider FP32; a type the GPU lacks falls back to the next wider it has."""
    bits = np.asarray(bits)
    has_int8 = np.asarray(has_int8, dtype=bool)
    has_fp16 = np.asarray(has_fp16, dtype=bool)
    want = np.where(bits <= 8, 0, np.where(bits <= 16, 1, 2))
    want = np.where((want == 0) & ~has_int8, 1, want)
    return np.where((want == 1) & ~has_fp16, 2, want).astype(np.int64)


class GpuRooflineTarget(Target):
    """A GPU at the roofline level (the ``[gpu]`` component)."""

    fidelities = ("analytic",)
    mapping_options: ClassVar[dict[str, tuple[Any, ...]]] = {}
    max_bits = 16  # what a Design allows; FP32 is still used where a GPU has no FP16 peak

    def __init__(self, hardware: Hardware) -> None:
        super().__init__(hardware)
        assert hardware.gpu is not None
        self.gpu: Gpu = hardware.gpu

    def precision_note(self) -> str:
        return ("every layer at its design bits; the GPU runs them in the narrowest of INT8 / "
                "FP16 / FP32 that holds them and that it has")

    # ------------------------------------------------------------------------ columns

    def _records(self, batch: DesignBatch) -> list[Gpu]:
        """One record per design with the batch's ``gpu.*`` overrides (records validate
        themselves: a bad value raises :class:`DesignError` naming the field)."""
        n = len(batch)
        cols = {name.partition(".")[2]: np.asarray(v) for name, v in batch.hardware.items()}
        if not cols:
            return [self.gpu] * n
        types = {f.name: f.type for f in dataclasses.fields(Gpu)}
        out: list[Gpu] = []
        made: dict[tuple[Any, ...], Gpu] = {}
        for i in range(n):
            changes: dict[str, Any] = {}
            for f, v in cols.items():
                value = v[i].item() if hasattr(v[i], "item") else v[i]
                if types[f] == "int" and isinstance(value, float) and value.is_integer():
                    value = int(value)
                if types[f] == "float | None" and isinstance(value, float) and np.isnan(value):
                    value = None
                changes[f] = value
            key = tuple(sorted(changes.items()))
            record = made.get(key)
            if record is None:
                try:
                    record = made[key] = dataclasses.replace(self.gpu, **changes)
                except SpecError as exc:
                    raise DesignError(f"gpu overrides on {self.name!r}", [
                        dataclasses.replace(p, field=f"hardware.gpu.{p.field}")
                        for p in exc.problems]) from None
            out.append(record)
        return out

    @staticmethod
    def _columns(records: list[Gpu]) -> dict[str, FloatArray]:
        """Each record field as a ``[n]`` column; the peaks as FLOP/s per data type
        (``[n, 3]``, NaN where the GPU has none)."""
        cols = {f: np.array([getattr(r, f) for r in records], dtype=np.float64)
                for f in NUMERIC_FIELDS}
        nan = float("nan")
        cols["peaks"] = np.array([[nan if r.peak_tflops_int8 is None else r.peak_tflops_int8,
                                   nan if r.peak_tflops_fp16 is None else r.peak_tflops_fp16,
                                   r.peak_tflops] for r in records]) * 1e12
        return cols

    # ------------------------------------------------------------------------ the model

    def _costs(self, workload: Workload, batch: DesignBatch, records: list[Gpu]
               ) -> dict[str, Any]:
        """Per design and GEMM (``[n, G]``): data type, FLOPs, bytes and the compute, memory
        and launch seconds; per design the memory the design needs."""
        a = workload.to_arrays()
        cols = self._columns(records)
        peaks = cols["peaks"]
        bits = np.maximum(batch.weight_bits, batch.act_bits)            # [n, L]
        dtype_l = dtype_codes(bits, np.isfinite(peaks[:, 0:1]), np.isfinite(peaks[:, 1:2]))
        dtype = dtype_l[:, a.layer]                                       # [n, G]
        width = WIDTH_BYTES[dtype]
        m, n, k, count = (x.astype(np.float64) for x in (a.m, a.n, a.k, a.count))
        flops = np.broadcast_to(2.0 * m * n * k * count, dtype.shape)
        bytes_ = count * (m * k + k * n + m * n) * width
        peak = np.take_along_axis(peaks, dtype, axis=1)
        compute = flops / (peak * cols["compute_efficiency"][:, None])
        memory = bytes_ / (cols["memory_gbps"][:, None] * 1e9
                           * cols["memory_efficiency"][:, None])
        launches = np.where(a.independent.astype(bool), 1.0, count)
        launch = launches[None, :] * cols["launch_overhead_us"][:, None] * 1e-6
        seconds = np.maximum(compute, memory) + launch
        # memory held: every layer's weights at its data type + the largest layer's input and
        # output activations (layers run one after another)
        weights = np.array([layer.weight_params for layer in workload.layers], dtype=np.float64)
        weight_bytes = (weights[None, :] * WIDTH_BYTES[dtype_l]).sum(axis=1)
        acts = count * (m * k + m * n) * width                            # [n, G]
        onehot = np.zeros((len(a), dtype_l.shape[1]))
        onehot[np.arange(len(a)), a.layer] = 1.0
        per_layer = acts @ onehot                                         # [n, L]
        need_gib = (weight_bytes + per_layer.max(axis=1, initial=0.0)) / GIB
        clock_hz = cols["clock_mhz"] * 1e6
        return {"arrays": a, "cols": cols, "dtype": dtype, "dtype_layer": dtype_l,
                "flops": flops, "bytes": bytes_, "compute": compute, "memory": memory,
                "launch": launch, "seconds": seconds, "need_gib": need_gib,
                "clock_hz": clock_hz}

    # ------------------------------------------------------------------------ batch

    def _evaluate_batch(self, workload: Workload, batch: DesignBatch) -> BatchCost:
        records = self._records(batch)
        c = self._costs(workload, batch, records)
        seconds = c["seconds"].sum(axis=1)
        cols = c["cols"]
        cycles = seconds * c["clock_hz"]
        latency_ms = cycles / (cols["clock_mhz"] * 1e3)
        need = c["need_gib"]
        limit = cols["memory_gib"]
        feasible = need <= limit
        return BatchCost(
            cycles=cycles, latency_ms=latency_ms, runnable=np.ones(len(batch), dtype=bool),
            feasible=feasible, resources={"memory_gib": need},
            limits={"memory_gib": float(self.gpu.memory_gib)},
            labels={"memory_gib": "GPU memory GiB"}, mapping={},
            precision_share=np.ones(batch.weight_bits.shape),
            details={"dram_bytes": c["bytes"].sum(axis=1),
                     "compute_ms": c["compute"].sum(axis=1) * 1e3,
                     "memory_ms": c["memory"].sum(axis=1) * 1e3,
                     "launch_ms": c["launch"].sum(axis=1) * 1e3,
                     "dtype": c["dtype_layer"]})

    # ------------------------------------------------------------------------ evaluate

    def _evaluate(self, workload: Workload, design: Design, fidelity: str) -> CostReport:
        gpu: Gpu = self.components_for(design)["gpu"]
        ran = design.apply_to(workload)
        batch = self.design_batch([design])
        c = self._costs(ran, batch, [gpu])
        a = c["arrays"]
        clock_hz = float(c["clock_hz"][0])
        layers: list[LayerCost] = []
        for i, layer in enumerate(ran.layers):
            g0, g1 = int(a.first_gemm[i]), int(a.first_gemm[i + 1])
            main = max(layer.gemms(), key=lambda g: g.macs)
            units = {u: float(c[u][0, g0:g1].sum()) * clock_hz
                     for u in ("compute", "memory", "launch")}
            flops = float(c["flops"][0, g0:g1].sum())
            moved = float(c["bytes"][0, g0:g1].sum())
            cycles = float(c["seconds"][0, g0:g1].sum()) * clock_hz
            layers.append(LayerCost(
                name=layer.name, kind=layer.kind, m=main.m, n=main.n, k=main.k,
                count=main.count, weight_bits=design.weight_bits[i],
                act_bits=design.act_bits[i], cycles=cycles, units=units,
                bound=max(units, key=units.__getitem__), dram_bytes=round(moved),
                rank=None if design.rank is None else design.rank[i],
                details={"dtype": DTYPES[int(c["dtype_layer"][0, i])], "flops": flops,
                         "bytes": moved,
                         "arithmetic_intensity": flops / moved if moved else 0.0,
                         "kernels": int(sum(1 if g.independent else g.count
                                            for g in layer.gemms()))}))
        need = float(c["need_gib"][0])
        violations = ([] if need <= gpu.memory_gib else
                      [f"GPU memory {need:,.3f} GiB > {gpu.memory_gib:,.3f} GiB "
                       f"({100 * need / gpu.memory_gib:.1f}%): weights and the largest "
                       f"layer's activations do not fit"])
        notes = ("analytic: per-GEMM roofline, max(FLOPs / (peak(dtype) x "
                 f"{gpu.compute_efficiency:g}), bytes / (bandwidth x {gpu.memory_efficiency:g}))"
                 f" + {gpu.launch_overhead_us:g} us per kernel; dtype from the layer's bits "
                 "(<= 8 INT8, <= 16 FP16, falling back to the next wider the GPU has); no cache "
                 "reuse across kernels, no overlap; unvalidated against measurements "
                 "(docs/gpu.md)",)
        return CostReport(
            target=self.name, workload=workload.name, fidelity=fidelity,
            clock_mhz=gpu.clock_mhz, layers=tuple(layers),
            resources={"memory_gib": round(need, 6)}, limits={"memory_gib": gpu.memory_gib},
            feasible=not violations, violations=tuple(violations), notes=notes,
            hardware={"gpu": dataclasses.asdict(gpu)})

    def _design_problems(self, design: Design) -> list[Problem]:
        return []


register_target(lambda hw: hw.gpu is not None, GpuRooflineTarget,
                "GPU roofline (per-GEMM compute / bandwidth bound plus launch overhead)")

__all__ = ["DTYPES", "GpuRooflineTarget", "dtype_codes"]
