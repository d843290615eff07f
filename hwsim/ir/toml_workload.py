"""Workload files in TOML: read (validating every layer, reporting every problem at once) and write.

Format::

    [workload]
    name = "tiny"
    description = "two convs and a classifier"
    source = "where the shapes come from"

    [[layers]]
    kind = "conv2d"            # a key of hwsim.ir.layers.LAYER_TYPES
    name = "conv1"
    in_channels = 3
    out_channels = 16
    in_height = 32
    in_width = 32
    kernel_h = 3
    kernel_w = 3

    [[layers]]
    kind = "linear"
    name = "fc"
    in_features = 16
    out_features = 10
    inputs = ["conv1"]         # optional: producer layers; default is the previous layer

The other keys of a ``[[layers]]`` table are the constructor fields of the layer record; tuple
fields (``in_modes``, ``ranks``, ...) are TOML arrays. ``inputs = []`` marks a layer that reads
only the network input. Each layer's ``inputs`` become the workload's edges ``(producer,
consumer)``, in file order.

Validation goes through :func:`hwsim.spec.loader.build_record`, the same checker as hardware
presets: unknown kinds and keys, wrong types, values the record rejects, unknown or forward
``inputs`` names and duplicate layer names are all gathered into one
:class:`~hwsim.errors.WorkloadError`, each problem located as
``"file.toml: layers[2] 'conv3' key"``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from hwsim.errors import Problem, WorkloadError
from hwsim.ir.layers import LAYER_TYPES, Layer
from hwsim.ir.workload import Workload
from hwsim.spec.loader import build_record, check_table, read_file, read_toml

WORKLOAD_SECTION = "workload"
LAYERS_SECTION = "layers"
_SET_BY_LOADER = ("layers", "edges")  # Workload fields that come from [[layers]], not [workload]
_MISSING = object()
_INT64_MAX = 2**63 - 1


def load_workload_toml(path: str | Path) -> Workload:
    """Read a workload TOML file (format in the module docstring).

    :raises WorkloadError: the file is missing, is not valid TOML, or has invalid contents; one
        error lists every problem, each with the file, the layer index and name, and the key.
    """
    path = Path(path)
    record = f"workload file {str(path)!r}"
    data = read_file(path, WorkloadError, record)
    return _parse(read_toml(data, path.name, WorkloadError, record), path.name, record)


def loads_workload_toml(text: str, filename: str = "<string>") -> Workload:
    """Parse workload TOML from a string; ``filename`` is used in problem locations."""
    record = f"workload {filename!r}"
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as err:  # a lone surrogate: not text any file could hold
        raise WorkloadError(record, [Problem("encoding", err.object[err.start:err.end],
                                             "text is not valid Unicode (lone surrogate)",
                                             filename)]) from None
    return _parse(read_toml(data, filename, WorkloadError, record), filename, record)


def _parse(document: dict[str, Any], filename: str, record: str) -> Workload:
    problems: list[Problem] = []
    for key, value in document.items():
        if key not in (WORKLOAD_SECTION, LAYERS_SECTION):
            problems.append(Problem(key, value, "unknown section; a workload file holds "
                                    "[workload] and [[layers]]", f"{filename}: [{key}]"))

    header = document.get(WORKLOAD_SECTION, _MISSING)
    header_where = f"{filename}: [{WORKLOAD_SECTION}]"
    if header is _MISSING:
        problems.append(Problem(WORKLOAD_SECTION, None,
                                "missing section; give the workload's name (and description)",
                                header_where))
    elif not isinstance(header, dict):
        problems.append(Problem(WORKLOAD_SECTION, header, "must be a table", header_where))

    tables = document.get(LAYERS_SECTION, _MISSING)
    layers_where = f"{filename}: [[{LAYERS_SECTION}]]"
    layers: list[Layer] = []
    edges: list[tuple[int, int]] = []
    if tables is _MISSING or tables == []:
        problems.append(Problem(LAYERS_SECTION, None,
                                "a workload needs at least one [[layers]] table", layers_where))
    elif not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append(Problem(LAYERS_SECTION, tables,
                                "must be an array of tables, written [[layers]]", layers_where))
    else:
        layers, edges = _parse_layers(tables, filename, problems)
        total = sum(layer.macs for layer in layers)
        if total > _INT64_MAX:  # Workload.macs sums them in int64
            problems.append(Problem(LAYERS_SECTION, total, f"the layers' MACs add up to more "
                                    f"than {_INT64_MAX} (int64)", layers_where))

    if isinstance(header, dict):
        if problems:
            check_table(Workload, header, header_where, problems, exclude=_SET_BY_LOADER)
        else:
            workload = build_record(Workload, header, header_where, problems,
                                    exclude=_SET_BY_LOADER,
                                    extra={"layers": tuple(layers), "edges": tuple(edges)})
            if workload is not None:
                return workload
    raise WorkloadError(record, problems)


def _parse_layers(
    tables: list[dict[str, Any]], filename: str, problems: list[Problem]
) -> tuple[list[Layer], list[tuple[int, int]]]:
    # Names first, so that `inputs` resolve even when the named layer is itself invalid.
    first_index: dict[str, int] = {}
    for i, table in enumerate(tables):
        name = table.get("name")
        if isinstance(name, str) and name not in first_index:
            first_index[name] = i

    known_kinds = ", ".join(sorted(LAYER_TYPES))
    layers: list[Layer] = []
    edges: list[tuple[int, int]] = []
    for i, raw in enumerate(tables):
        table = dict(raw)
        name = table.get("name")
        label = f"layers[{i}] {name!r}" if isinstance(name, str) and name else f"layers[{i}]"
        where = f"{filename}: {label}"

        if isinstance(name, str) and first_index.get(name, i) != i:
            problems.append(Problem("name", name, f"duplicates layers[{first_index[name]}]",
                                    f"{where} name"))

        kind = table.pop("kind", _MISSING)
        inputs = table.pop("inputs", _MISSING)
        if kind is _MISSING:
            problems.append(Problem("kind", None, f"is required; known kinds: {known_kinds}",
                                    f"{where} kind"))
        elif not isinstance(kind, str) or kind not in LAYER_TYPES:
            problems.append(Problem("kind", kind, f"unknown layer kind; known kinds: "
                                    f"{known_kinds}", f"{where} kind"))
        else:
            layer = build_record(LAYER_TYPES[kind], table, where, problems)
            if layer is not None:
                layers.append(layer)
        edges.extend((p, i) for p in _producers(inputs, i, first_index, where, problems))
    return layers, edges


def _producers(
    inputs: object, i: int, first_index: dict[str, int], where: str, problems: list[Problem]
) -> list[int]:
    """Indices of the layers ``inputs`` names; the previous layer when ``inputs`` is absent."""
    if inputs is _MISSING:
        return [i - 1] if i > 0 else []
    where = f"{where} inputs"
    if not isinstance(inputs, list) or not all(isinstance(n, str) for n in inputs):
        problems.append(Problem("inputs", inputs, "must be an array of layer names", where))
        return []
    producers: list[int] = []
    for name in inputs:
        j = first_index.get(name)
        if j is None:
            problems.append(Problem("inputs", name, "no layer of this name in the file", where))
        elif j >= i:
            problems.append(Problem("inputs", name, f"must name an earlier layer; {name!r} is "
                                    f"layers[{j}]", where))
        elif j in producers:
            problems.append(Problem("inputs", name, "is listed twice", where))
        else:
            producers.append(j)
    return producers


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def dump_workload_toml(workload: Workload) -> str:
    """Write ``workload`` in the format :func:`load_workload_toml` reads.

    Every constructor field of every layer is written (not only non-defaults), so the file keeps
    its meaning if a default changes. ``inputs`` is written only where a layer's producers differ
    from the default (the previous layer).
    """
    names = workload.layer_names
    producers: dict[int, list[int]] = {i: [] for i in range(len(workload.layers))}
    for a, b in workload.edges or ():
        producers[b].append(a)

    lines = [f"[{WORKLOAD_SECTION}]",
             f"name = {toml_value(workload.name)}",
             f"description = {toml_value(workload.description)}",
             f"source = {toml_value(workload.source)}"]
    for i, layer in enumerate(workload.layers):
        lines += ["", f"[[{LAYERS_SECTION}]]", f"kind = {toml_value(layer.kind)}"]
        lines += [f"{f.name} = {toml_value(getattr(layer, f.name))}"
                  for f in dataclasses.fields(layer) if f.init]  # type: ignore[arg-type]
        if producers[i] != ([i - 1] if i > 0 else []):
            lines.append(f"inputs = {toml_value(tuple(names[p] for p in producers[i]))}")
    return "\n".join(lines) + "\n"


def toml_value(value: object) -> str:
    """``value`` (bool, int, float incl. nan/inf, str, or a sequence of them) as one TOML value;
    every writer of TOML files in codesign goes through it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, except that TOML also wants DEL escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as a TOML value")


__all__ = ["dump_workload_toml", "load_workload_toml", "loads_workload_toml", "toml_value"]
