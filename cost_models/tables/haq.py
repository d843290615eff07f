"""HAQ's latency-table layout, in and out.

HAQ (Wang et al., CVPR'19) searches against per-layer latency tables from a hardware simulator,
stored as a NumPy array of shape ``(layers, 8, 8)`` indexed ``[layer, weight_bits - 1,
act_bits - 1]`` (REFERENCE.md section 3); we read the values as milliseconds. The array names
no layers, so on its own it can only be checked by its layer count; a table we export carries a
sidecar ``<file>.layers.json`` listing each layer's name and shape (``layer_key``), and a table
with a sidecar is checked layer by layer, in order: a mismatch names the first differing layer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cost_models.tables.table import TableError, layer_key
from hwsim.errors import CodesignError, Problem
from hwsim.ir import Workload

BITS = 8
"""HAQ's tables cover 1..8 bits for weights and activations."""


def sidecar(path: str | Path) -> Path:
    return Path(f"{path}.layers.json")


def load_haq(path: str | Path) -> tuple[npt.NDArray[np.float64], list[dict[str, str]] | None]:
    """The ``(layers, 8, 8)`` array and the sidecar's layer list (None without one)."""
    path = Path(path)
    try:
        values = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CodesignError(f"HAQ table {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise CodesignError(f"HAQ table {path}: not a NumPy .npy array ({exc})") from None
    problems = []
    if values.ndim != 3 or values.shape[1:] != (BITS, BITS):
        problems.append(Problem("shape", values.shape, f"must be (layers, {BITS}, {BITS}), "
                                "indexed [layer, weight_bits-1, act_bits-1]", f"{path}: shape"))
    elif not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all() \
            or (values <= 0).any():
        bad = values[~np.isfinite(values) | (values <= 0)] if np.issubdtype(
            values.dtype, np.number) else values.dtype
        problems.append(Problem("values", bad.flat[0] if hasattr(bad, "flat") else bad,
                                "every latency must be a finite number > 0 (ms)",
                                f"{path}: values"))
    if problems:
        raise TableError(str(path), problems)
    layers = None
    side = sidecar(path)
    if side.exists():
        try:
            layers = json.loads(side.read_text())
            assert isinstance(layers, list) and all(isinstance(x, dict) for x in layers)
        except (ValueError, AssertionError):
            raise TableError(str(side), [Problem(
                "(file)", "?", "must be a JSON list of {name, key} objects",
                f"{side}: (file)")]) from None
        if len(layers) != values.shape[0]:
            raise TableError(str(side), [Problem("layers", len(layers), f"the table has "
                                                 f"{values.shape[0]} layers", f"{side}: layers")])
    return values.astype(np.float64), layers


def check_layers(path: Path, values: npt.NDArray[np.float64],
                 layers: list[dict[str, str]] | None, workload: Workload) -> None:
    """Raise naming the first layer where ``workload`` and the table differ."""
    if values.shape[0] != len(workload.layers):
        raise CodesignError(f"HAQ table {path} lists {values.shape[0]} layers; workload "
                            f"{workload.name!r} has {len(workload.layers)}")
    if layers is None:
        return
    for i, (entry, layer) in enumerate(zip(layers, workload.layers, strict=True)):
        if entry.get("key") != layer_key(layer):
            raise CodesignError(
                f"HAQ table {path}: layer {i} is {entry.get('name')!r} "
                f"({entry.get('key')}), workload {workload.name!r} has {layer.name!r} "
                f"({layer_key(layer)}) there")


def export_haq(workload: Workload, target: Any, path: str | Path) -> Path:
    """Write ``target``'s per-layer latencies (ms) of ``workload`` in HAQ's layout, with its
    sidecar: entry ``[l, w-1, a-1]`` is layer ``l`` of the design with every layer at ``w``-bit
    weights and ``a``-bit activations (the layer's own cost under that design)."""
    from cost_models import get_target, uniform_design

    tgt = get_target(target)
    limit = min(BITS, tgt.max_bits)
    out = np.zeros((len(workload.layers), BITS, BITS))
    for w in range(1, BITS + 1):
        for a in range(1, BITS + 1):
            report = tgt.evaluate(workload, uniform_design(workload, min(w, limit),
                                                           min(a, limit)))
            out[:, w - 1, a - 1] = [layer.cycles / (report.clock_mhz * 1e3)
                                    for layer in report.layers]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        np.save(fh, out)
    sidecar(path).write_text(json.dumps([{"name": layer.name, "key": layer_key(layer)}
                                         for layer in workload.layers], indent=1) + "\n")
    return path


__all__ = ["BITS", "check_layers", "export_haq", "load_haq", "sidecar"]
