"""The N3H-Core question: on one FPGA, is a DSP core + LUT core split better than either alone?

For each board and workload, every core sizing in a grid is checked against the board's
resources (hwsim.fpga.resources) and costed with the analytic tier (N3H-Core's released
equations). Precision is N3H-Core's: first and last layers W8A8, the others W4A4 on the LUT core;
the DSP core always keeps 8-bit weights (so DSP-only runs W8A4 there, as in the paper). Three
designs per board and workload:

* best DSP-only, one block: the fastest feasible DSP core of N3H-Core's release (one 16x16
  block, 128 DSP slices; buffers Dl, Dr), every layer at lut_fraction 0;
* best DSP-only, board-sized: the fastest feasible array of such blocks (``hwsim.fpga.dsp_array``:
  as many 16x16 blocks as the board's DSPs, BRAM and LUTs allow, channel tiles or whole
  repetitions dealt out between them; each layer at least its DRAM traffic over the board's
  port; optimistic: no contention between the blocks beyond that floor);
* best LUT-only: the fastest feasible BISMO array (Dm, Dk, Dn, LMEM), lut_fraction 1;
* best heterogeneous: the fastest feasible pair, each layer split at its exact balance point
  (a depthwise convolution's channels, one per group, are split as whole groups).

N3H-Core reports 1.12-1.32x lower latency than Mix&Match (which we do not model); here the ratios
are against the single-core designs on the same board.

Run: ``python benchmarks/bench_n3h_question.py``; prints one table per board.
"""

from __future__ import annotations

import itertools
import platform
import time

import numpy as np

from cost_models import default_design
from hwsim.fpga import analytic
from hwsim.fpga.dsp_array import dsp_array_cycles, dsp_array_resources
from hwsim.fpga.resources import check_feasible, total_resources
from hwsim.ir import zoo
from hwsim.spec import DspCore, LutCore, load_hardware

BOARDS = ("pynq-z2", "zcu102")
WORKLOADS = ("resnet18", "mobilenetv2")
LUT_GRID = [LutCore(rows=dm, depth_bits=dk, cols=dn, act_buffer_depth=lmem)
            for dm, dk, dn, lmem in itertools.product((2, 4, 8, 12, 16), (64, 128, 256),
                                                      (4, 8, 16, 32), (1024, 2048, 4096))]
DSP_GRID = [DspCore(input_buffer_depth=dl, weight_buffer_depth=dr)
            for dl, dr in itertools.product((1024, 2048, 4096, 8192), (1024, 2048, 4096))]
NONE_LUT = LutCore()  # placeholder core for DSP-only designs (never given channels)
NONE_DSP = DspCore()


def network_cycles(wl, bits_w, bits_a, rho, lut, dsp) -> float:
    arrays = wl.to_arrays()
    if rho is None:  # exact balance per layer's GEMMs (whole repetitions of depthwise convs)
        n_lut, _ = analytic.exact_balance(arrays.m, arrays.n, arrays.k,
                                          bits_w[arrays.layer], bits_a[arrays.layer], lut, dsp,
                                          count=arrays.count, independent=arrays.independent)
        per_layer = np.zeros(len(wl))
        per_layer[arrays.layer] = n_lut / (arrays.n * arrays.count)  # one GEMM a layer here
        rho = per_layer
    return float(analytic.batch_network_cycles(arrays, bits_w, bits_a, rho, lut, dsp)[0])


def best_dsp_array(wl, device, bits_a):
    """The fastest feasible board-sized DSP array: (cycles, (core, blocks, DSPs used))."""
    arrays = wl.to_arrays()
    act_max = int(bits_a.max())
    best_cycles, best_cfg = np.inf, None
    for dsp in DSP_GRID:
        blocks = 1
        while True:
            used = dsp_array_resources(device, dsp, blocks, act_max)
            if not check_feasible(used, device)[0]:
                break
            cycles = sum(dsp_array_cycles(int(arrays.m[g]), int(arrays.n[g]), int(arrays.k[g]),
                                          int(bits_a[arrays.layer[g]]), dsp, blocks,
                                          count=int(arrays.count[g]),
                                          independent=bool(arrays.independent[g]),
                                          dram_bytes_per_cycle=device.dram_bytes_per_cycle)
                         for g in range(len(arrays)))
            if cycles < best_cycles:
                best_cycles, best_cfg = cycles, (dsp, blocks, used.dsp)
            blocks += 1
    return best_cycles, best_cfg


def best(wl, device, bits_w, bits_a, mode):
    act_max = int(bits_a.max())
    best_cycles, best_cfg = np.inf, None
    if mode == "dsp":
        configs = [(None, d) for d in DSP_GRID]
    elif mode == "lut":
        configs = [(lut, None) for lut in LUT_GRID]
    else:
        configs = list(itertools.product(LUT_GRID, DSP_GRID))
    for lut, dsp in configs:
        fits, _ = check_feasible(total_resources(device, dsp, lut, act_max), device)
        if not fits:
            continue
        rho = np.zeros(len(wl)) if mode == "dsp" else np.ones(len(wl)) if mode == "lut" else None
        cycles = network_cycles(wl, bits_w, bits_a, rho, lut or NONE_LUT, dsp or NONE_DSP)
        if cycles < best_cycles:
            best_cycles, best_cfg = cycles, (lut, dsp)
    return best_cycles, best_cfg


def describe(cfg) -> str:
    if len(cfg) == 3:  # a DSP array
        dsp, blocks, dsps = cfg
        return (f"{blocks} x DSP 16x16 Dl{dsp.input_buffer_depth} Dr{dsp.weight_buffer_depth} "
                f"({dsps:,} DSP slices)")
    lut, dsp = cfg
    parts = []
    if lut is not None:
        parts.append(f"LUT {lut.rows}x{lut.depth_bits}x{lut.cols} L{lut.act_buffer_depth}")
    if dsp is not None:
        parts.append(f"DSP Dl{dsp.input_buffer_depth} Dr{dsp.weight_buffer_depth} (128 DSP slices)")
    return " + ".join(parts)


print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
      f"python {platform.python_version()}")
print(f"grid: {len(LUT_GRID)} LUT cores x {len(DSP_GRID)} DSP cores; precision first/last W8A8, "
      "others W4A4 (DSP core: W8)")
start = time.perf_counter()
for board in BOARDS:
    device = load_hardware(board).fpga
    assert device is not None
    print(f"\n{board} ({device.part}: {device.lut:,} LUT, {device.dsp} DSP, "
          f"{device.bram36} BRAM36, {device.clock_mhz:g} MHz)")
    print(f"{'workload':<12} {'design':<14} {'latency ms':>10}  {'hetero speed-up':>15}  config")
    for name in WORKLOADS:
        wl = zoo.get(name)
        d = default_design(wl)
        bw, ba = np.array(d.weight_bits), np.array(d.act_bits)
        results = {mode: best(wl, device, bw, ba, mode) for mode in ("dsp", "lut", "hetero")}
        results["dsp_array"] = best_dsp_array(wl, device, ba)
        het = results["hetero"][0]
        for mode, label in (("dsp", "DSP 1 block"), ("dsp_array", "DSP board"),
                            ("lut", "LUT-only"), ("hetero", "heterogeneous")):
            cycles, cfg = results[mode]
            ms = cycles / (device.clock_mhz * 1e3)
            ratio = f"{cycles / het:.2f}x" if mode != "hetero" else ""
            print(f"{name:<12} {label:<14} {ms:>10.2f}  {ratio:>15}  "
                  f"{describe(cfg) if cfg else 'none feasible'}")
print(f"\nelapsed {time.perf_counter() - start:.1f} s")
