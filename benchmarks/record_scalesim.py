"""Record SCALE-Sim 3.0.0's figures for the shapes tests/hwsim/asic/test_analytic.py checks.

Run: ``/tmp/peers/bin/python benchmarks/record_scalesim.py`` (any Python with
``pip install scalesim==3.0.0``; codesign itself is not needed). It writes
``tests/data/scalesim_3.0.0.json`` and takes 7 to 10 minutes on one core (440 s and 612 s
measured, the second on a busier machine).

Two kinds of case:

* ``full``: SCALE-Sim's own front door (``scalesim.scale_sim.scalesim``: config, topology and
  layout files in a temporary folder, ``run_scale``), its COMPUTE_REPORT, BANDWIDTH_REPORT and
  DETAILED_ACCESS_REPORT read back. The DRAM interface is ``InterfaceBandwidth: USER`` with
  ``Bandwidth`` = ``IfmapSRAMBankBandwidth`` = ``FilterSRAMBankBandwidth`` = the case's words
  per cycle (SCALE-Sim feeds the ifmap and filter buffers from the two latter keys and the
  ofmap from the first), one bank, no custom layout, no sparsity, no Ramulator.
* ``compute``: layers too large for a trace-driven run here (its cost grows with the trace).
  SCALE-Sim's own compute half (``compute.operand_matrix`` and
  ``compute.systolic_compute_{os,ws,is}.create_demand_matrices``, as ``single_layer_sim.run``
  calls them): compute cycles are the demand matrices' lines minus one (what
  ``double_buffered_scratchpad.service_memory_requests`` reports as "Total Cycles" when nothing
  stalls), with its mapping efficiency, compute utilisation and SRAM request counts.

Conv layers are given in SCALE-Sim's conv topology format with the padding already applied and
the input trimmed to ``(H_out - 1)*stride + R`` rows (and columns): SCALE-Sim does not pad and
takes ``ceil((H - R + stride)/stride)`` outputs, one more than PyTorch when ``(H - R) % stride``
is not 0. A depthwise layer is a row whose name contains ``DP`` with Channels = C and
Num Filter = 1: ``topology_utils.load_arrays_conv`` runs it as C single-channel layers, which
are summed here (our IR: one GEMM with ``count = C``).

numpy shim: SCALE-Sim 3.0.0 calls ``int(max(a))`` on ``(n, 1)`` arrays (``read_buffer``,
``double_buffered_scratchpad_mem``), which numpy 2.4 refuses ("only 0-dimensional arrays can
be converted to Python scalars"; deprecated since numpy 1.25). The script gives those modules
a ``max`` that returns a 0-d array for a one-element result; nothing else changes.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import importlib.metadata
import io
import json
import math
import platform
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import cpu_model, parse_args


@dataclass
class Args:
    out: str = str(Path(__file__).resolve().parents[1] / "tests" / "data" / "scalesim_3.0.0.json")
    """where the JSON goes"""
    full_limit_s: float = 8.0
    """skip a full case whose estimated run time exceeds this"""
    compute_limit_s: float = 6.0
    """skip a compute-only case whose estimated run time exceeds this"""
    timeout_s: int = 90
    """abort (and list as skipped) a case that runs longer than this"""
    dry_run: int = 0
    """1: print the plan with estimated seconds and stop"""


args = parse_args(Args, __doc__)


from _scalesim import CONFIG  # noqa: E402  (importing it applies the numpy shim)
from scalesim.compute.operand_matrix import operand_matrix  # noqa: E402
from scalesim.compute.systolic_compute_is import systolic_compute_is  # noqa: E402
from scalesim.compute.systolic_compute_os import systolic_compute_os  # noqa: E402
from scalesim.compute.systolic_compute_ws import systolic_compute_ws  # noqa: E402
from scalesim.layout_utils import layouts  # noqa: E402
from scalesim.scale_config import scale_config  # noqa: E402
from scalesim.scale_sim import scalesim  # noqa: E402
from scalesim.topology_utils import topologies  # noqa: E402

ARRAYS = [(32, 32), (8, 8), (12, 14)]
FLOWS = ["os", "ws", "is"]
# (ifmap, filter, ofmap KiB, DRAM words/cycle): SCALE-Sim's sample sizes, then smaller ones
SRAM = {"64k_bw10": (64, 64, 64, 10), "16k_bw4": (16, 16, 16, 4), "4k_bw2": (4, 4, 4, 2),
        "1k_bw1": (1, 1, 1, 1), "1m_bw10": (1024, 1024, 1024, 10),
        "ofmap4k_bw2": (64, 64, 4, 2)}  # inputs resident, the ofmap drains stall


@dataclass(frozen=True)
class Layer:
    """A GEMM (``conv is None``) or a conv row ``(H, W, R, S, C, N, stride)`` as SCALE-Sim
    takes it; ``depthwise``: a DP row (C single-channel layers of one filter each)."""

    name: str
    m: int
    n: int
    k: int
    count: int = 1
    conv: tuple[int, int, int, int, int, int, int] | None = None
    depthwise: bool = False


def conv(name: str, h_out: int, c: int, n: int, r: int, stride: int, depthwise: bool = False
         ) -> Layer:
    """A square conv layer from its output size: input trimmed to (h_out-1)*stride + r."""
    h_in = (h_out - 1) * stride + r
    if depthwise:
        return Layer(name, h_out * h_out, 1, r * r, c, (h_in, h_in, r, r, c, 1, stride), True)
    return Layer(name, h_out * h_out, n, r * r * c, 1, (h_in, h_in, r, r, c, n, stride))


ODD = [Layer("odd.1x1x1", 1, 1, 1), Layer("odd.7x13x29", 7, 13, 29),
       Layer("odd.33x65x17", 33, 65, 17), Layer("odd.2x100x3", 2, 100, 3)]
DEIT_ATTN = [Layer("deit_s.attn_scores", 197, 197, 64), Layer("deit_s.attn_values", 197, 64, 197)]
SWEEP = [Layer(f"sweep.{m}x{n}x{k}", m, n, k)
         for m, n, k in ((64, 64, 64), (100, 30, 200), (197, 64, 64), (300, 16, 40),
                         (49, 128, 96))]
CONV_FULL = [conv("resnet18.layer4.0.downsample", 7, 256, 512, 1, 2)]
DEPTHWISE = conv("mobilenetv2.features.8.conv.1.DP", 14, 384, 1, 3, 1, depthwise=True)
BIG = [Layer("deit_s.qkv", 197, 1152, 384), Layer("deit_s.proj", 197, 384, 384),
       Layer("deit_s.fc1", 197, 1536, 384), Layer("deit_s.fc2", 197, 384, 1536),
       conv("resnet18.conv1", 112, 3, 64, 7, 2), conv("resnet18.layer1.0.conv1", 56, 64, 64, 3, 1),
       conv("resnet18.layer2.0.conv1", 28, 64, 128, 3, 2),
       conv("resnet18.layer3.0.conv2", 14, 256, 256, 3, 1),
       conv("resnet18.layer4.1.conv2", 7, 512, 512, 3, 1), Layer("resnet18.fc", 1, 1000, 512),
       conv("resnet50.layer1.0.conv1", 56, 64, 64, 1, 1),
       conv("resnet50.layer1.0.conv3", 56, 64, 256, 1, 1),
       conv("resnet50.layer4.2.conv3", 7, 512, 2048, 1, 1),
       conv("mobilenetv2.features.0", 112, 3, 32, 3, 2),
       conv("mobilenetv2.features.2.conv.1.DP", 112, 96, 1, 3, 2, depthwise=True),
       conv("mobilenetv2.features.17.conv.0", 7, 160, 960, 1, 1)]


def dims(layer: Layer, rows: int, cols: int, flow: str) -> tuple[int, int, int, int]:
    """(folds, lines per fold, lines, SRAM reads + writes) of one repetition."""
    s_r, s_c, t = {"os": (layer.m, layer.n, layer.k), "ws": (layer.k, layer.n, layer.m),
                   "is": (layer.k, layer.m, layer.n)}[flow]
    folds = math.ceil(s_r / rows) * math.ceil(s_c / cols)
    per_fold = t + rows + cols - 2 if flow == "os" else t + 2 * rows + cols - 2
    accesses = {"os": layer.m * layer.k * math.ceil(layer.n / cols)
                + layer.k * layer.n * math.ceil(layer.m / rows) + layer.m * layer.n,
                "ws": layer.m * layer.k * math.ceil(layer.n / cols) + layer.k * layer.n
                + layer.m * layer.n * math.ceil(layer.k / rows),
                "is": layer.m * layer.k + layer.k * layer.n * math.ceil(layer.m / cols)
                + layer.m * layer.n * math.ceil(layer.k / rows)}[flow]
    return folds, per_fold, folds * per_fold, accesses


def full_estimate_s(layer: Layer, rows: int, cols: int, flow: str) -> float:
    """Seconds of a trace-driven run, fitted on this machine (about 9 us per SRAM access, 25 us
    per cycle, 50 ms per layer)."""
    _, _, lines, accesses = dims(layer, rows, cols, flow)
    return layer.count * (9e-6 * accesses + 25e-6 * lines + 0.05)


def compute_estimate_s(layer: Layer, rows: int, cols: int, flow: str) -> float:
    """Seconds of the compute-only path: os and is append each fold's demand matrix to the
    whole with np.concatenate (quadratic in the folds), ws collects a list."""
    folds, per_fold, _, _ = dims(layer, rows, cols, flow)
    fold_bytes = 8.0 * per_fold * (rows + 2 * cols)
    copied = fold_bytes * (folds * folds / 2 if flow in ("os", "is") else 2 * folds)
    return copied / 3e9 + 3 * folds * 40e-6 + 3e-8 * layer.m * layer.k


def topology_row(layer: Layer) -> tuple[str, str]:
    if layer.conv is None:
        return "Layer, M, N, K,\n", f"{layer.name}, {layer.m}, {layer.n}, {layer.k},\n"
    h, w, r, s, c, n, stride = layer.conv
    return ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
            "Num Filter, Strides,\n", f"{layer.name}, {h}, {w}, {r}, {s}, {c}, {n}, {stride},\n")


def read_report(path: Path) -> list[dict[str, float]]:
    with path.open() as f:
        table = [row for row in csv.reader(f) if row]
    head = [h.strip() for h in table[0]]
    return [{h: float(v) for h, v in zip(head, row, strict=False) if h and v.strip()}
            for row in table[1:]]


class Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Timeout


def run_full(layer: Layer, rows: int, cols: int, flow: str, sram: tuple[int, ...]
             ) -> dict[str, Any]:
    i_kib, f_kib, o_kib, bw = sram
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "scale.cfg").write_text(CONFIG.format(
            rows=rows, cols=cols, ifmap_sram_kib=i_kib, filter_sram_kib=f_kib,
            ofmap_sram_kib=o_kib, bw=bw, dataflow=flow))
        head, row = topology_row(layer)
        (folder / "topology.csv").write_text(head + row)
        (folder / "layout.csv").write_text("Layer,\n")
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=str(folder / "scale.cfg"),
                           topology=str(folder / "topology.csv"),
                           layout=str(folder / "layout.csv"),
                           input_type_gemm=layer.conv is None)
            sim.run_scale(top_path=str(folder / "out"))
        reports = {name: read_report(folder / "out" / "run" / f"{name}.csv")
                   for name in ("COMPUTE_REPORT", "DETAILED_ACCESS_REPORT")}
    comp, detail = reports["COMPUTE_REPORT"], reports["DETAILED_ACCESS_REPORT"]
    if len(comp) != layer.count:
        raise RuntimeError(f"{layer.name}: SCALE-Sim ran {len(comp)} layers, expected "
                           f"{layer.count}")
    util_keys = ("Overall Util %", "Mapping Efficiency %", "Compute Util %")
    per_layer = {tuple(c[key] for key in ("Total Cycles", "Stall Cycles", *util_keys))
                 for c in comp}

    def total(rows_: list[dict[str, float]], key: str) -> int:
        return int(sum(r[key] for r in rows_))

    return {
        "identical_layers": len(per_layer) == 1,
        "total_cycles": total(comp, "Total Cycles"),
        "stall_cycles": total(comp, "Stall Cycles"),
        "compute_cycles": total(comp, "Total Cycles") - total(comp, "Stall Cycles"),
        "total_cycles_incl_prefetch": total(comp, "Total Cycles (incl. prefetch)"),
        "overall_util_pct": comp[0]["Overall Util %"],
        "mapping_efficiency_pct": comp[0]["Mapping Efficiency %"],
        "compute_util_pct": comp[0]["Compute Util %"],
        "ifmap_sram_reads": total(detail, "SRAM IFMAP Reads"),
        "filter_sram_reads": total(detail, "SRAM Filter Reads"),
        "ofmap_sram_writes": total(detail, "SRAM OFMAP Writes"),
        "ifmap_dram_reads": total(detail, "DRAM IFMAP Reads"),
        "filter_dram_reads": total(detail, "DRAM Filter Reads"),
        "ofmap_dram_writes": total(detail, "DRAM OFMAP Writes"),
    }


def run_compute(layer: Layer, rows: int, cols: int, flow: str) -> dict[str, Any]:
    """SCALE-Sim's compute half for one repetition (a DP layer: one channel), times count."""
    config = scale_config()
    config.set_arr_dims(rows, cols)
    config.set_dataflow(flow)
    config.force_valid()
    topo = topologies()
    if layer.conv is None:
        entry = [layer.name, layer.m, layer.k, 1, layer.k, 1, layer.n, 1, 1, 1, 1]
    else:
        h, w, r, s, c, n, stride = layer.conv
        entry = [layer.name, h, w, r, s, 1 if layer.depthwise else c, n, stride, stride, 1, 1]
    topo.load_layer_params_from_list(layer.name, entry)
    topo.topo_calc_hyperparams()
    operands = operand_matrix()
    operands.set_params(config, topo, layouts(), 0)
    operands.create_operand_matrices()
    system = {"os": systolic_compute_os, "ws": systolic_compute_ws,
              "is": systolic_compute_is}[flow]()
    mats = {"config_obj": config, "ifmap_op_mat": operands.ifmap_addr_matrix,
            "filter_op_mat": operands.filter_addr_matrix,
            "ofmap_op_mat": operands.ofmap_addr_matrix}
    if flow == "ws":
        mats["ifmap_op_mat_original"] = operands.ifmap_addr_matrix_original
    system.set_params(**mats)
    system.create_demand_matrices()
    return {
        "identical_layers": True,
        "compute_cycles": layer.count * (system.ofmap_demand_matrix.shape[0] - 1),
        "mapping_efficiency_pct": 100 * system.get_avg_mapping_efficiency(),
        "compute_util_pct": 100 * system.get_avg_compute_utilization(),
        "ifmap_sram_reads": layer.count * int(system.get_ifmap_requests()),
        "filter_sram_reads": layer.count * int(system.get_filter_requests()),
        "ofmap_sram_writes": layer.count * int(system.get_ofmap_requests()),
    }


# the case list: (layer, rows, cols, dataflow, SRAM preset or None for compute-only)
plan: list[tuple[Layer, int, int, str, str | None]] = []
for layer in ODD:
    plan += [(layer, r, c, f, s) for r, c in ARRAYS for f in FLOWS for s in ("64k_bw10", "1k_bw1")]
for layer in DEIT_ATTN:
    plan += [(layer, r, c, f, s) for r, c in ARRAYS for f in FLOWS for s in ("64k_bw10", "4k_bw2")
             if s == "64k_bw10" or r != 8]
for layer in SWEEP:
    plan += [(layer, r, c, f, s) for r, c in ARRAYS for f in FLOWS
             for s in ("64k_bw10", "16k_bw4", "4k_bw2", "ofmap4k_bw2")]
for layer in CONV_FULL:
    plan += [(layer, 32, 32, f, "1m_bw10") for f in FLOWS]
plan += [(DEPTHWISE, 32, 32, "ws", "64k_bw10"), (DEPTHWISE, 12, 14, "os", "64k_bw10")]
for layer in BIG:
    plan += [(layer, r, c, f, None) for r, c in ARRAYS for f in FLOWS]

if args.dry_run:
    total_s = 0.0
    for layer, rows, cols, flow, preset in plan:
        estimate = (full_estimate_s(layer, rows, cols, flow) if preset else
                    compute_estimate_s(layer, rows, cols, flow))
        keep = (estimate <= (args.full_limit_s if preset else args.compute_limit_s)
                or (layer.depthwise and preset is not None))
        total_s += estimate if keep else 0.0
        print(f"{estimate:8.2f} s {'run ' if keep else 'skip'} {layer.name} {rows}x{cols} {flow} "
              f"{preset or 'compute-only'}")
    print(f"estimated total {total_s:.0f} s")
    sys.exit(0)

cases: list[dict[str, Any]] = []
skipped: list[dict[str, Any]] = []
signal.signal(signal.SIGALRM, _alarm)
start_all = time.perf_counter()
for layer, rows, cols, flow, preset in plan:
    where = f"{layer.name} {rows}x{cols} {flow} {preset or 'compute-only'}"
    estimate = (full_estimate_s(layer, rows, cols, flow) if preset else
                compute_estimate_s(layer, rows, cols, flow))
    limit = args.full_limit_s if preset else args.compute_limit_s
    if layer.depthwise and preset:
        limit = math.inf  # the one layer SCALE-Sim splits into C layers: always run
    if estimate > limit:
        skipped.append({"case": where, "reason": f"estimated {estimate:.0f} s > {limit:g} s"})
        continue
    start = time.perf_counter()
    signal.alarm(args.timeout_s)
    try:
        figures = (run_full(layer, rows, cols, flow, SRAM[preset]) if preset else
                   run_compute(layer, rows, cols, flow))
    except Timeout:
        skipped.append({"case": where, "reason": f"ran past {args.timeout_s} s"})
        continue
    finally:
        signal.alarm(0)
    seconds = time.perf_counter() - start
    case: dict[str, Any] = {
        "name": layer.name, "mode": "full" if preset else "compute",
        "gemm": {"m": layer.m, "n": layer.n, "k": layer.k, "count": layer.count},
        "conv": (dict(zip(("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "filters",
                           "stride"), layer.conv, strict=True)) if layer.conv else None),
        "depthwise": layer.depthwise, "rows": rows, "cols": cols, "dataflow": flow,
        "seconds": round(seconds, 3), "scalesim": figures}
    if preset:
        i_kib, f_kib, o_kib, bw = SRAM[preset]
        case.update(sram=preset, ifmap_sram_kib=i_kib, filter_sram_kib=f_kib,
                    ofmap_sram_kib=o_kib, dram_words_per_cycle=bw, word_bytes=1)
    cases.append(case)
    print(f"{seconds:7.2f} s  {where}", flush=True)

elapsed = time.perf_counter() - start_all
record = {
    "scalesim_version": importlib.metadata.version("scalesim"),
    "command": "/tmp/peers/bin/python benchmarks/record_scalesim.py "
               "(any Python with scalesim==3.0.0)",
    "recorded_on": {"cpu": cpu_model(), "platform": platform.platform(),
                    "python": platform.python_version(), "numpy": np.__version__,
                    "seconds": round(elapsed, 1)},
    "notes": sys.modules[__name__].__doc__,
    "cases": cases,
    "skipped": skipped,
}
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
print(f"{len(cases)} cases, {len(skipped)} skipped, {elapsed:.0f} s -> {args.out}")
