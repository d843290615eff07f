"""The ``codesign`` command line. Every subcommand is a thin wrapper over the Python API.

Malformed input exits with status 2 and a message on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError

log = logging.getLogger(__name__)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned text columns, numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(headers))]
    lines = []
    for j, row in enumerate(cells):
        parts = [c.rjust(w) if numeric[i] and j else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:g}"


def _parse_params(items: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CodesignError(f"--param expects key=value, got {item!r}")
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        params[key] = value
    return params


def load_workload(spec: str, params: dict[str, Any] | None = None) -> Any:
    """A zoo name (with builder params) or the path of a workload TOML file."""
    from hwsim.ir import zoo

    if spec.endswith(".toml") or Path(spec).exists():
        from hwsim.ir.toml_workload import load_workload_toml

        if params:
            raise CodesignError("--param applies to zoo workloads, not to TOML files")
        return load_workload_toml(spec)
    return zoo.get(spec, **(params or {}))


# ----------------------------------------------------------------------------------- workloads


def _workload_json(wl: Any) -> dict[str, Any]:
    preds: dict[int, list[str]] = {i: [] for i in range(len(wl.layers))}
    for a, b in wl.edges:
        preds[b].append(wl.layers[a].name)
    layers = []
    for i, layer in enumerate(wl.layers):
        layers.append({
            "index": i,
            "name": layer.name,
            "kind": layer.kind,
            "shape": layer.shape_str(),
            "record": {f.name: getattr(layer, f.name) for f in dataclasses.fields(layer)},
            "gemms": [{"m": g.m, "n": g.n, "k": g.k, "count": g.count, "macs": g.macs}
                      for g in layer.gemms()],
            "macs": layer.macs,
            "params": layer.weight_params,
            "inputs": preds[i],
        })
    return {**wl.summary(), "source": wl.source, "layers": layers}


def cmd_workloads_list(args: argparse.Namespace) -> int:
    from hwsim.ir import zoo

    rows = []
    entries = []
    for name in zoo.names():
        wl = zoo.get(name)
        entries.append(wl.summary())
        rows.append((name, len(wl.layers), len(wl.to_arrays()), _human(wl.macs),
                     _human(wl.weight_params), wl.description))
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        print(_table(("name", "layers", "gemms", "MACs", "params", "description"), rows))
    return 0


def cmd_workloads_show(args: argparse.Namespace) -> int:
    wl = load_workload(args.workload, _parse_params(args.param))
    if args.json:
        print(json.dumps(_workload_json(wl), indent=2, default=list))
        return 0
    rows = []
    for i, layer in enumerate(wl.layers):
        for j, g in enumerate(layer.gemms()):
            first = j == 0
            rows.append((i if first else "", layer.name if first else "",
                         layer.kind if first else "", layer.shape_str() if first else "",
                         g.m, g.n, g.k, g.count, g.macs))
    print(f"{wl.name}: {len(wl.layers)} layers, {len(wl.to_arrays())} GEMMs, "
          f"{wl.macs:,} MACs ({_human(wl.macs)}), {wl.weight_params:,} weights")
    if wl.description:
        print(wl.description)
    print()
    print(_table(("#", "layer", "kind", "shape", "m", "n", "k", "count", "MACs"), rows))
    if wl.source:
        print(f"\nsource: {wl.source}")
    return 0


# ----------------------------------------------------------------------------------- hardware


def _hardware_json(hw: Any) -> dict[str, Any]:
    return dataclasses.asdict(hw)


def cmd_hardware_list(args: argparse.Namespace) -> int:
    from hwsim.spec import list_hardware, load_hardware

    rows, entries = [], []
    for name in list_hardware():
        hw = load_hardware(name)
        entries.append(_hardware_json(hw))
        parts = [n for n in ("fpga", "dsp_core", "lut_core", "systolic_array", "gpu",
                             "lstm_accelerator") if getattr(hw, n) is not None]
        fpga = hw.fpga
        rows.append((name, "+".join(parts),
                     fpga.part if fpga else "", fpga.lut if fpga else "", fpga.dsp if fpga else "",
                     fpga.bram36 if fpga else "", hw.description))
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        print(_table(("name", "components", "part", "LUT", "DSP", "BRAM36", "description"), rows))
    return 0


def cmd_hardware_show(args: argparse.Namespace) -> int:
    from hwsim.spec import load_hardware

    hw = load_hardware(args.hardware)
    data = _hardware_json(hw)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{hw.name}: {hw.description}")
    if hw.source:
        print(f"source: {hw.source}")
    for section, values in data.items():
        if isinstance(values, dict):
            print(f"\n[{section}]")
            print(_table(("field", "value"), [(k, v) for k, v in values.items()]))
    return 0


# ----------------------------------------------------------------------------------- estimate


def cmd_estimate(args: argparse.Namespace) -> int:
    import cost_models

    wl = load_workload(args.workload, _parse_params(args.param))
    target = cost_models.get_target(args.target)
    if args.design:
        design = cost_models.load_design(args.design, wl)
    else:
        design = cost_models.default_design(wl, balance=args.balance)
    report = target.evaluate(wl, design, fidelity=args.fidelity)
    if args.json:
        print(report.to_json())
        return 0 if report.feasible or not args.strict else 1
    print(f"{wl.name} on {report.target} ({report.fidelity}): {report.total_cycles:,.0f} cycles = "
          f"{report.latency_ms:.3f} ms at {report.clock_mhz:g} MHz")
    rows = []
    for i, layer in enumerate(report.layers):
        rows.append((i, layer.name, f"{layer.m}x{layer.n}x{layer.k}"
                     + (f" x{layer.count}" if layer.count > 1 else ""),
                     f"W{layer.weight_bits}A{layer.act_bits}", f"{layer.lut_fraction:.3f}",
                     layer.lut_channels, round(layer.dsp_cycles), round(layer.lut_cycles),
                     round(layer.cycles), layer.bound.upper(), round(layer.dram_bytes / 1024)))
    print()
    print(_table(("#", "layer", "m x n x k", "bits", "lut_frac", "LUT ch", "DSP cycles",
                  "LUT cycles", "cycles", "bound", "DRAM KiB"), rows))
    print(f"\ntotal: {report.total_cycles:,.0f} cycles, {report.latency_ms:.3f} ms, "
          f"{report.dram_bytes / 2**20:,.1f} MiB DRAM traffic")
    print("\nresources (used / limit):")
    res_rows = [(key.upper(), used, report.limits[key],
                 f"{100 * used / report.limits[key]:.1f}%" if report.limits[key] else "-")
                for key, used in report.resources.items() if report.limits.get(key) or used]
    print(_table(("resource", "used", "limit", "util"), res_rows))
    for note in report.notes:
        print(f"note: {note}")
    if report.feasible:
        print("\nFEASIBLE")
    else:
        print("\nINFEASIBLE: " + "; ".join(report.violations))
    return 0 if report.feasible or not args.strict else 1


# ----------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codesign",
        description="Hardware-software co-design simulator: cost models and design search.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    wl = sub.add_parser("workloads", help="the model zoo and workload files")
    wl_sub = wl.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = wl_sub.add_parser("list", help="one line per zoo model: layers, GEMMs, MACs, params")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_workloads_list)
    p = wl_sub.add_parser("show", help="per-layer table: kind, shape, lowered GEMMs, MACs")
    p.add_argument("workload", help="zoo name (see `codesign workloads list`) or a .toml file")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="builder parameter of a zoo model, e.g. --param tokens=16")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_workloads_show)

    hw = sub.add_parser("hardware", help="hardware presets and their limits")
    hw_sub = hw.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = hw_sub.add_parser("list", help="shipped presets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hardware_list)
    p = hw_sub.add_parser("show", help="one preset (or a preset TOML file) in full")
    p.add_argument("hardware", help="preset name or .toml file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hardware_show)

    p = sub.add_parser("estimate", help="latency and resources of a design on a target")
    p.add_argument("--workload", default="resnet18", help="zoo name or workload .toml")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="builder parameter of a zoo workload")
    p.add_argument("--target", default="n3h-zcu102",
                   help="hardware preset with a cost model (e.g. n3h-pynq-z2) or a .toml file")
    p.add_argument("--design", help="design .toml (default: first/last W8A8, others W4A4, "
                   "each layer at its balance point)")
    p.add_argument("--balance", choices=("exact", "n3h-sweep"), default="exact",
                   help="balance-point rule of the default design")
    p.add_argument("--fidelity", choices=("analytic", "cycle"), default="analytic")
    p.add_argument("--json", action="store_true")
    p.add_argument("--strict", action="store_true", help="exit 1 when the design is infeasible")
    p.set_defaults(func=cmd_estimate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except CodesignError as exc:
        print(f"codesign: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"codesign: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `codesign ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
