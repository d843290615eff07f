"""A latency predictor for layer shapes a table did not measure, in nn-Meter's style (Zhang et
al., MobiSys'21): a layer is split into the kernels it runs (a ``Tucker2Conv`` is three
convolutions, an ``SvdLinear`` two linear layers), each kernel's latency is predicted by a
per-kernel-kind random-forest regressor trained on the table's measured rows (network layers and
sampled shapes), and the layer's latency is the sum of its kernels'. Where a kernel has an exact
row, the row is used instead of the regressor.

Features (per kernel, log-scaled where they span decades): MACs, input / output / weight
elements, channels or features, output pixels or tokens, kernel size, stride, groups; the
regressor fits ``log(ms)``, so its errors are relative. Accuracy is reported as nn-Meter does:
RMSPE (root mean squared percentage error) and the share of predictions within +-10 %
(:func:`evaluate_predictor`, ``python benchmarks/bench_tables.py``).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cost_models.tables.table import LatencyTable, Row, layer_key
from hwsim.errors import CodesignError
from hwsim.ir.layers import LAYER_TYPES, Conv2d, Layer, Linear, SvdLinear, Tucker2Conv

KERNEL_KINDS = ("conv2d", "linear")
_FIELD = re.compile(r"(\w+)=(\([^)]*\)|[^,]+)")


def layer_from_key(key: str, name: str = "layer") -> Layer:
    """The layer record a :func:`~cost_models.tables.table.layer_key` describes."""
    kind, _, fields = key.partition("|")
    cls = LAYER_TYPES.get(kind)
    if cls is None:
        raise CodesignError(f"latency table key {key!r}: unknown layer kind {kind!r}")
    try:
        values = {k: ast.literal_eval(v) for k, v in _FIELD.findall(fields)}
        return cls(name, **values)  # type: ignore[call-arg]
    except (ValueError, SyntaxError, TypeError) as exc:
        raise CodesignError(f"latency table key {key!r}: cannot rebuild the layer ({exc})") \
            from None


def kernels(layer: Layer) -> list[Layer]:
    """The convolutions and linear layers ``layer`` runs as (itself if it is one)."""
    if isinstance(layer, Conv2d | Linear):
        return [layer]
    if isinstance(layer, SvdLinear):
        return [Linear(f"{layer.name}.u", layer.in_features, layer.rank, layer.tokens),
                Linear(f"{layer.name}.v", layer.rank, layer.out_features, layer.tokens)]
    if isinstance(layer, Tucker2Conv):
        core = layer.core
        return [Conv2d(f"{layer.name}.in", layer.in_channels, layer.rank_in, layer.in_height,
                       layer.in_width, 1, 1, batch=layer.batch),
                core,
                Conv2d(f"{layer.name}.out", layer.rank_out, layer.out_channels,
                       core.out_height, core.out_width, 1, 1, batch=layer.batch)]
    raise CodesignError(f"layer {layer.name!r} ({layer.kind}): the latency predictor covers "
                        f"conv2d, linear, svd_linear and tucker2_conv layers")


def features(layer: Layer) -> npt.NDArray[np.float64]:
    """The regressor's features of one kernel (a ``Conv2d`` or ``Linear``)."""
    lg = np.log2
    if isinstance(layer, Conv2d):
        pix = layer.out_height * layer.out_width * layer.batch
        inputs = layer.in_channels * layer.in_height * layer.in_width * layer.batch
        outputs = layer.out_channels * pix
        return np.array([lg(max(layer.macs, 1)), lg(inputs), lg(outputs),
                         lg(layer.weight_params), lg(layer.in_channels),
                         lg(layer.out_channels), lg(pix), layer.kernel_h * layer.kernel_w,
                         layer.stride, lg(layer.groups)], dtype=np.float64)
    if isinstance(layer, Linear):
        return np.array([lg(max(layer.macs, 1)), lg(layer.in_features * layer.tokens),
                         lg(layer.out_features * layer.tokens), lg(layer.weight_params),
                         lg(layer.in_features), lg(layer.out_features), lg(layer.tokens),
                         1.0, 1.0, 0.0], dtype=np.float64)
    raise CodesignError(f"features: {layer.kind} is not a kernel (conv2d, linear)")


@dataclass
class LatencyPredictor:
    """Per-kernel-kind regressors over one table's rows at one dtype (see the module
    docstring); :meth:`predict_ms` sums a layer's kernels (exact rows where the table has
    them)."""

    table: LatencyTable
    dtype: str
    models: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def fit(cls, table: LatencyTable, dtype: str, *, rows: Sequence[Row] | None = None,
            seed: int = 0) -> LatencyPredictor:
        """Train on ``rows`` (default: every conv2d / linear row of ``table`` at ``dtype``)."""
        from sklearn.ensemble import RandomForestRegressor

        use = [r for r in (table.rows if rows is None else rows)
               if r.dtype == dtype and r.kind in KERNEL_KINDS]
        out = cls(table, dtype)
        for kind in KERNEL_KINDS:
            mine = [r for r in use if r.kind == kind]
            if len(mine) < 3:
                continue
            x = np.stack([features(layer_from_key(r.key)) for r in mine])
            y = np.log([r.median_ms for r in mine])
            model = RandomForestRegressor(n_estimators=200, min_samples_leaf=1,
                                          random_state=seed, n_jobs=1)
            model.fit(x, y)
            out.models[kind] = model
        return out

    def kernel_ms(self, kernel: Layer, *, exact: bool = True) -> float:
        """One kernel: its row when the table has it (and ``exact``), else the regressor."""
        if exact:
            row = self.table.get(kernel, self.dtype)
            if row is not None:
                return row.median_ms
        model = self.models.get(kernel.kind)
        if model is None:
            raise CodesignError(
                f"latency table {self.table.path or '(in memory)'} has no row for "
                f"{kernel.name!r} ({layer_key(kernel)}) at {self.dtype} and too few "
                f"{kernel.kind} rows to predict it; rebuild it with the workload or with "
                f"`codesign tables build --samples N`")
        return float(np.exp(model.predict(features(kernel)[None, :])[0]))

    def predict_ms(self, layer: Layer, *, exact: bool = True) -> float:
        """A layer's latency: the sum of its kernels'."""
        return sum(self.kernel_ms(k, exact=exact) for k in kernels(layer))


def evaluate_predictor(table: LatencyTable, dtype: str, *, test_share: float = 0.25,
                       seed: int = 0) -> dict[str, float]:
    """Hold out ``test_share`` of the table's conv2d / linear rows (by shape), train on the
    rest, and report nn-Meter's figures on the held-out rows: RMSPE, the share within +-10 %,
    and the number of rows each side."""
    rows = [r for r in table.rows if r.dtype == dtype and r.kind in KERNEL_KINDS]
    if len(rows) < 8:
        raise CodesignError(f"evaluate_predictor: {len(rows)} conv2d/linear rows at {dtype}; "
                            f"need at least 8 (build with --samples)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    n_test = max(1, round(test_share * len(rows)))
    test = [rows[i] for i in order[:n_test]]
    train = [rows[i] for i in order[n_test:]]
    model = LatencyPredictor.fit(table, dtype, rows=train, seed=seed)
    true = np.array([r.median_ms for r in test])
    pred = np.array([model.kernel_ms(layer_from_key(r.key), exact=False) for r in test])
    err = (pred - true) / true
    return {"rmspe": float(np.sqrt(np.mean(err ** 2))),
            "within_10pct": float(np.mean(np.abs(err) <= 0.10)),
            "train_rows": float(len(train)), "test_rows": float(len(test))}


__all__ = ["KERNEL_KINDS", "LatencyPredictor", "evaluate_predictor", "features", "kernels",
           "layer_from_key"]
