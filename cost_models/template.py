"""A complete, commented design file to start from: ``codesign design init``.

The file is the target's default design (first and last layers W8A8, the others W4A4, every
mapping knob left to the target, the preset's hardware), written with every knob the target
offers in comments beside it: the design-wide mapping options with their allowed values, each
component a design may override with the preset's values, and per layer the mapping knobs and the
layer's largest rank. Uncommenting a line sets that knob; the file loads as it is.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cost_models.targets import Target
from hwsim.ir import Workload
from hwsim.ir.lowrank import full_rank
from hwsim.ir.toml_workload import toml_value


def design_template(workload: Workload, target: Target) -> str:
    """The commented design file of ``workload`` on ``target`` (see the module docstring)."""
    design = target.default_design(workload)
    lines = [f"# Design of {workload.name!r} for target {target.name!r} ({type(target).__name__}),",
             "# written by `codesign design init`: the target's default design. Uncomment a line",
             "# to set that knob; `codesign estimate --design FILE` costs it. Format:",
             "# docs/file-formats.md (design TOML).", "", "[design]",
             f"workload = {toml_value(workload.name)}"]
    lines += ["", "[mapping]                  # design-wide mapping options of the target"]
    if not target.mapping_options:
        lines.append("# (this target has none)")
    for name, allowed in target.mapping_options.items():
        lines.append(f"# {name} = {toml_value(allowed[0])}   # one of "
                     + ", ".join(toml_value(v) for v in allowed))
    knobs = {k.name: k for k in target.hardware_knobs()}
    for component in target.overridable():
        record = getattr(target.hardware, component)
        lines += ["", f"[hardware.{component}]    # overrides merge onto the preset's values"]
        for field in dataclasses.fields(record):
            value = getattr(record, field.name)
            knob = knobs.get(f"{component}.{field.name}")
            note = (f"   # searched over {', '.join(map(str, knob.choices))}"
                    if knob is not None else "")
            lines.append(f"# {field.name} = {toml_value(value)}{note}")
    mapping = target.mapping_knobs()
    for i, layer in enumerate(workload.layers):
        lines += ["", "[[layers]]", f"name = {toml_value(layer.name)}",
                  f"weight_bits = {design.weight_bits[i]}", f"act_bits = {design.act_bits[i]}"]
        rank = full_rank(layer)
        if rank is not None:
            lines.append(f"# rank = {max(1, rank // 2)}   # low-rank factorisation, 1..{rank}")
        for knob in mapping:
            lines.append(f"# {knob.name} = {toml_value(_example(knob.choices))}   # "
                         f"{knob.description or 'a mapping knob'}")
    return "\n".join(lines) + "\n"


def _example(choices: tuple[Any, ...]) -> Any:
    return choices[len(choices) // 2]
