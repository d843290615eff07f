"""The query subcommands of ``codesign``: ``workloads``, ``hardware`` and ``estimate``."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from hwsim.errors import CodesignError
from hwsim.spec.records import COMPONENTS
from rl_search.cli_common import _human, _parse_params, _table, load_workload

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
            "gemms": [{"m": g.m, "n": g.n, "k": g.k, "count": g.count,
                       "independent": g.independent, "macs": g.macs}
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
    if args.toml:
        from hwsim.ir.toml_workload import dump_workload_toml

        print(dump_workload_toml(wl), end="")
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
        parts = [n for n in COMPONENTS if getattr(hw, n) is not None]
        fpga = hw.fpga
        rows.append((name, "+".join(parts),
                     fpga.part if fpga else "", fpga.lut if fpga else "", fpga.dsp if fpga else "",
                     fpga.bram36 if fpga else "", fpga.clock_mhz if fpga else "",
                     hw.description))
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        print(_table(("name", "components", "part", "LUT", "DSP", "BRAM36", "MHz", "description"),
                     rows))
    return 0


def _knob_table(target: Any) -> dict[str, Any] | None:
    """What a target offers (fidelities, mapping and hardware knobs), or None without a cost
    model for the preset."""
    import cost_models

    try:
        tgt = cost_models.get_target(target)
    except CodesignError:
        return None

    def knob(k: Any) -> dict[str, Any]:
        return {"name": k.name, "choices": list(k.choices), "default": k.default,
                "description": k.description}

    return {"class": type(tgt).__name__, "fidelities": list(tgt.fidelities),
            "mapping_knobs": [knob(k) for k in tgt.mapping_knobs()],
            "mapping_options": {k: list(v) for k, v in tgt.mapping_options.items()},
            "hardware_knobs": [knob(k) for k in tgt.hardware_knobs()],
            "overridable": list(tgt.overridable())}


def cmd_hardware_show(args: argparse.Namespace) -> int:
    from hwsim.spec import load_hardware

    hw = load_hardware(args.hardware)
    data = _hardware_json(hw)
    table = _knob_table(hw)
    if args.json:
        print(json.dumps({**data, "target": table}, indent=2, default=str))
        return 0
    print(f"{hw.name}: {hw.description}")
    if hw.source:
        print(f"source: {hw.source}")
    for section, values in data.items():
        if isinstance(values, dict):
            print(f"\n[{section}]")
            print(_table(("field", "value"), [(k, v) for k, v in values.items()]))
    if table is None:
        print("\nno cost model yet for this preset")
        return 0
    print(f"\ncost model: {table['class']}, fidelities {', '.join(table['fidelities'])}")
    print("design overrides: [hardware.<component>] tables for "
          + ", ".join(table["overridable"]))
    rows = [(k["name"], "per layer", " ".join(map(str, k["choices"])),
             "target's choice" if k["default"] is None else k["default"], k["description"])
            for k in table["mapping_knobs"]]
    rows += [(name, "design-wide", " ".join(map(str, values)), values[0], "[mapping] option")
             for name, values in table["mapping_options"].items()]
    rows += [(k["name"], "hardware", " ".join(map(str, k["choices"])), k["default"],
              k["description"]) for k in table["hardware_knobs"]]
    if rows:
        print("\nknobs a design or a search sets:")
        print(_table(("knob", "scope", "choices (search)", "default", "what"), rows))
    return 0


# ----------------------------------------------------------------------------------- estimate


def _unit_label(unit: str) -> str:
    return unit.replace("_core", "").upper() + " cycles"


def _mapping_cell(value: Any) -> object:
    return f"{value:.3f}" if isinstance(value, float) else value


def cmd_estimate(args: argparse.Namespace) -> int:
    import cost_models

    wl = load_workload(args.workload, _parse_params(args.param))
    target = cost_models.get_target(args.target)
    design = (cost_models.load_design(args.design, wl) if args.design
              else target.default_design(wl))
    options = _parse_params(args.option, "--option")
    if args.balance is not None:
        options["balance"] = args.balance
    if options:
        design = design.with_changes(options=options)
    report = target.evaluate(wl, design, fidelity=args.fidelity)
    if args.json:
        print(report.to_json())
        return 0 if report.feasible or not args.strict else 1
    print(f"{wl.name} on {report.target} ({report.fidelity}): {report.total_cycles:,.0f} cycles = "
          f"{report.latency_ms:.3f} ms at {report.clock_mhz:g} MHz")
    units, maps = report.unit_names, report.mapping_names
    ranked = any(layer.rank is not None for layer in report.layers)
    energy = report.energy_pj is not None
    rows = []
    for i, layer in enumerate(report.layers):
        row: list[object] = [i, layer.name, f"{layer.m}x{layer.n}x{layer.k}"
                             + (f" x{layer.count}" if layer.count > 1 else ""),
                             f"W{layer.weight_bits}A{layer.act_bits}"]
        if ranked:
            row.append("-" if layer.rank is None else layer.rank)
        row += [_mapping_cell(layer.mapping.get(m, "-")) for m in maps]
        row += [round(layer.units.get(u, 0.0)) for u in units]
        row += [round(layer.cycles), layer.bound.replace("_core", "").upper() or "-",
                round(layer.dram_bytes / 1024)]
        if energy:
            row.append(round((layer.energy_pj or 0.0) / 1e6, 3))
        rows.append(row)
    headers = ["#", "layer", "m x n x k", "bits", *(["rank"] if ranked else []), *maps,
               *(_unit_label(u) for u in units), "cycles", "bound", "DRAM KiB",
               *(["energy uJ"] if energy else [])]
    print()
    print(_table(headers, rows))
    print(f"\ntotal: {report.total_cycles:,.0f} cycles, {report.latency_ms:.3f} ms, "
          f"{report.dram_bytes / 2**20:,.1f} MiB DRAM traffic"
          + (f", {report.energy_pj / 1e6:,.1f} uJ" if report.energy_pj is not None else ""))
    if report.hardware:
        print("\nhardware used (preset, with the design's overrides):")
        for component, fields in report.hardware.items():
            changed = design.overrides(component)
            print(f"  [{component}] " + ", ".join(
                f"{k}={v}" + ("*" if k in changed else "") for k, v in fields.items()))
        if design.hardware:
            print("  (* = set by the design)")
    print("\nresources (used / limit):")
    res_rows = [(key.upper(), used, report.limits.get(key) or "-",
                 f"{100 * used / report.limits[key]:.1f}%" if report.limits.get(key) else "-")
                for key, used in report.resources.items() if report.limits.get(key) or used]
    print(_table(("resource", "used", "limit", "util"), res_rows))
    for note in report.notes:
        print(f"note: {note}")
    if report.feasible:
        print("\nFEASIBLE")
    else:
        print("\nINFEASIBLE: " + "; ".join(report.violations))
    return 0 if report.feasible or not args.strict else 1


def cmd_design_init(args: argparse.Namespace) -> int:
    import cost_models
    from cost_models.template import design_template

    wl = load_workload(args.workload, _parse_params(args.param))
    target = cost_models.get_target(args.target)
    text = design_template(wl, target)
    if args.out:
        from pathlib import Path

        Path(args.out).write_text(text)
        print(f"wrote {args.out}: {len(wl.layers)} layers of {wl.name} for {target.name}; "
              f"check it with: codesign estimate --workload {args.workload} --target "
              f"{args.target} --design {args.out}")
    else:
        print(text, end="")
    return 0
