"""Refit the weight-free prior's parameters from the published-accuracy table.

Run ``python -m rl_search.accuracy.calibrate`` to fit on the table's ``fit`` rows and write
``rl_search/accuracy/data/prior_parameters.toml`` (what :meth:`ProxyOracle.prior` loads), then
print every row's published and predicted loss; ``--check`` prints the table against the
shipped parameters without fitting.

**What is fitted** (docs/formulas.md, accuracy prior). Every row is a design on a zoo network
(:func:`row_design`); the prior's per-layer terms ``e_l`` (:func:`~.proxy.noise_tables`) give

    z = scale[r] * sum_l m_l * (e_w,l + e_a,l + rank_weight[r] * e_r,l)
    points_lost = B * z^k[r] / (1 + z^k[r])

with ``m_l = edge_weight`` on the first and last layers, ``depthwise_weight`` on depthwise
convolutions, 1 elsewhere, ``B`` the row's float top-1 (100 where the source gives only the
change) and ``r`` the row's regime. ``edge_weight`` and ``depthwise_weight`` are shared by both
regimes (which layers are fragile is a property of the network); ``scale``, ``k`` and
``rank_weight`` are per regime. They are the least-squares fit, in top-1 points, of the ``fit``
rows (``scipy.optimize.least_squares`` on log-parameters, several starts). The ``ptq`` regime
has no low-rank row, so its ``rank_weight`` is not fitted: it stays at 1 (the noise model's own
weight) and the file says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwsim.ir import Workload, zoo
from hwsim.ir.lowrank import apply_ranks, full_rank
from rl_search.accuracy.layer_errors import MAX_BITS
from rl_search.accuracy.published import (
    REGIMES,
    PriorParameters,
    PublishedResult,
    PublishedTable,
    TableError,
    load_parameters,
    load_table,
    parameters_path,
    parameters_toml,
    table_path,
)

UNFITTED_RANK_WEIGHT = 1.0
"""``rank_weight`` of a regime without low-rank rows in the table."""


@dataclass(frozen=True, slots=True)
class RowDesign:
    """A row's design as ``[n_layers]`` arrays (rank 0 = dense)."""

    weight_bits: np.ndarray
    act_bits: np.ndarray
    rank: np.ndarray


@dataclass(frozen=True, slots=True)
class RowCheck:
    """A row's published and predicted loss, in top-1 points."""

    result: PublishedResult
    published: float
    predicted: float

    @property
    def error(self) -> float:
        return self.predicted - self.published


def _uniform_ranks(workload: Workload, reduction: float) -> np.ndarray:
    """Ranks at one ratio ``q`` of each factorisable layer's full rank (first and last layers
    dense), ``q`` bisected until the factorised network has ``1 - reduction`` of the MACs."""
    n = len(workload.layers)
    full = np.array([full_rank(la) or 0 for la in workload.layers])
    full[[0, n - 1]] = 0
    target = (1.0 - reduction) * workload.macs

    def ranks(q: float) -> np.ndarray:
        return np.where(full > 0, np.maximum(1, np.rint(q * full)), 0).astype(np.int64)

    def macs(q: float) -> int:
        return apply_ranks(workload, [int(r) if r else None for r in ranks(q)]).macs

    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if macs(mid) < target else (lo, mid)
    return ranks(hi)


def row_design(result: PublishedResult, workload: Workload) -> RowDesign:
    """The design a row describes, on the zoo network ``workload``.

    :raises TableError: per-layer bits whose length is not the network's layer count.
    """
    n = len(workload.layers)
    if result.flops_reduction is not None:
        full = np.full(n, MAX_BITS, dtype=np.int64)
        return RowDesign(full, full.copy(), _uniform_ranks(workload, result.flops_reduction))
    arrays = []
    for bits in (result.weight_bits, result.act_bits):
        if isinstance(bits, tuple):
            if len(bits) != n:
                raise TableError(f"{result.method} on {result.network}: {len(bits)} per-layer "
                                 f"bits, the zoo network has {n} layers")
            arr = np.array(bits, dtype=np.int64)
        else:
            assert bits is not None
            arr = np.full(n, bits, dtype=np.int64)
            if result.edge_bits is not None:
                arr[[0, n - 1]] = result.edge_bits
        arrays.append(arr)
    return RowDesign(arrays[0], arrays[1], np.zeros(n, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class _Terms:
    """Per row: the summed weight, activation and low-rank terms, each over the three layer
    groups (plain, edge, depthwise) so that the shared weights stay free parameters."""

    weight: np.ndarray  # [n_rows, 3]
    act: np.ndarray     # [n_rows, 3]
    rank: np.ndarray    # [n_rows, 3]
    span: np.ndarray    # [n_rows] float top-1, percent
    regime: np.ndarray  # [n_rows] index into REGIMES


def _terms(results: Sequence[PublishedResult]) -> _Terms:
    from rl_search.accuracy.proxy import ProxyOracle, layer_roles, noise_tables

    cache: dict[str, tuple[ProxyOracle, np.ndarray]] = {}
    rows: list[list[np.ndarray]] = [[], [], []]
    span, regime, n = [], [], []
    for r in results:
        if r.network not in cache:
            wl = zoo.get(r.network)
            edge, depthwise = layer_roles(wl)
            group = np.where(edge, 1, np.where(depthwise, 2, 0))
            cache[r.network] = (ProxyOracle(noise_tables(wl), np.ones(len(wl.layers)),
                                            baseline=1.0, kind="prior", workload=wl), group)
        oracle, group = cache[r.network]
        assert oracle.workload is not None
        d = row_design(r, oracle.workload)
        ones = np.ones((1, len(d.weight_bits)))
        terms = oracle.error_terms(d.weight_bits[None], d.act_bits[None], ones, d.rank[None])
        for out, term in zip(rows, terms, strict=True):
            out.append(np.bincount(group, term[0], minlength=3))
        span.append(r.float_top1 if r.float_top1 is not None else 100.0)
        regime.append(REGIMES.index(r.regime))
        n.append(len(d.weight_bits))
    weight, act, rank = (np.array(x).reshape(-1, 3) / np.array(n)[:, None] for x in rows)
    return _Terms(weight, act, rank, np.array(span, dtype=np.float64), np.array(regime))


def _score(terms: _Terms, edge: float, depthwise: float, act: float, scale: np.ndarray,
           rank_weight: np.ndarray) -> np.ndarray:
    m = np.array([1.0, edge, depthwise])
    return scale[terms.regime] * (terms.weight @ m + act * (terms.act @ m)
                                  + rank_weight[terms.regime] * (terms.rank @ m))


def _loss(z: np.ndarray, span: np.ndarray, steepness: np.ndarray) -> np.ndarray:
    zk = np.maximum(z, 0.0) ** steepness
    return span * zk / (1.0 + zk)


def predict(params: PriorParameters, results: Sequence[PublishedResult]) -> np.ndarray:
    """Predicted points lost for ``results``."""
    terms = _terms(results)
    z = _score(terms, params.edge_weight, params.depthwise_weight, params.act_weight,
               np.array([params.scale[g] for g in REGIMES]),
               np.array([params.rank_weight[g] for g in REGIMES]))
    k = np.array([params.steepness[g] for g in REGIMES])[terms.regime]
    return _loss(z, terms.span, k)


def check(table: PublishedTable, params: PriorParameters) -> list[RowCheck]:
    """Every row's published and predicted loss."""
    predicted = predict(params, table.results)
    return [RowCheck(r, r.points_lost, float(p)) for r, p in zip(table.results, predicted,
                                                                  strict=True)]


LOSSLESS_POINTS = 0.05
"""What the low-rank rule calls lossless: a predicted loss of at most this many points."""


def fit(table: PublishedTable) -> PriorParameters:
    """Parameters fitted to the table's ``fit`` rows (module docstring)."""
    from scipy.optimize import least_squares

    quantised = [r for r in table.results if r.split == "fit" and r.flops_reduction is None]
    low_rank = [r for r in table.results if r.split == "fit" and r.flops_reduction is not None]
    terms = _terms(quantised)
    target = np.array([r.points_lost for r in quantised])
    n = len(REGIMES)
    no_rank = np.zeros(n)

    def unpack(p: np.ndarray) -> tuple[float, float, float, np.ndarray, np.ndarray]:
        e = np.exp(p)
        return float(e[0]), float(e[1]), float(e[2]), e[3: 3 + n], e[3 + n: 3 + 2 * n]

    def residual(p: np.ndarray) -> np.ndarray:
        edge, depthwise, act, scale, steepness = unpack(p)
        z = _score(terms, edge, depthwise, act, scale, no_rank)
        return _loss(z, terms.span, steepness[terms.regime]) - target

    starts = [np.r_[np.log([edge, 1.0, act]), np.full(n, np.log(s)), np.full(n, np.log(k))]
              for edge in (1.0, 4.0) for act in (0.3, 3.0) for s in (0.1, 1.0)
              for k in (0.7, 1.5)]
    best = min((least_squares(residual, x0, bounds=(-12.0, 8.0)) for x0 in starts),
               key=lambda sol: sol.cost)
    edge, depthwise, act, scale, steepness = unpack(best.x)
    rank_weight = np.full(n, UNFITTED_RANK_WEIGHT)
    if low_rank:
        # Every published low-rank result here is a gain: they bound the weight from above
        # only. Take the largest weight that keeps each of them lossless.
        lr = _terms(low_rank)
        m = np.array([1.0, edge, depthwise])
        for i in range(n):
            rows = lr.regime == i
            if not rows.any():
                continue
            q = LOSSLESS_POINTS / lr.span[rows]
            z_max = (q / (1.0 - q)) ** (1.0 / steepness[i])
            other = lr.weight[rows] @ m + act * (lr.act[rows] @ m)
            rank_weight[i] = float(np.min((z_max / scale[i] - other) / (lr.rank[rows] @ m)))
    params = PriorParameters(edge, depthwise, act, dict(zip(REGIMES, scale.tolist(), strict=True)),
                             dict(zip(REGIMES, steepness.tolist(), strict=True)),
                             dict(zip(REGIMES, rank_weight.tolist(), strict=True)),
                             table=Path(table.path).name)
    fitted = [r for r in table.results if r.split == "fit"]
    errors = predict(params, fitted) - np.array([r.points_lost for r in fitted])
    regimes = np.array([r.regime for r in fitted])
    rms = {g: float(math.sqrt(np.mean(errors[regimes == g] ** 2)))
           for g in REGIMES if np.any(regimes == g)}
    return PriorParameters(edge, depthwise, act, params.scale, params.steepness,
                           params.rank_weight, table=params.table, fit_rms_points=rms)


def cross_validate(table: PublishedTable) -> list[RowCheck]:
    """Leave-one-method-out cross-validation over the rows the prior is meant for (``fit`` and
    ``held-out``; not ``excluded``): for each published method (paper), refit on every other
    method's rows, all treated as ``fit``, and predict that method's rows. A procedure fixed in
    advance, so no choice of split can flatter it; each row is predicted once, by parameters
    that never saw its paper. Returns the rows in table order."""
    pool = [r for r in table.results if r.split != "excluded"]
    out: dict[int, RowCheck] = {}
    for method in dict.fromkeys(r.method for r in pool):
        train = tuple(dataclasses.replace(r, split="fit") for r in pool if r.method != method)
        rows = [r for r in pool if r.method == method]
        if not any(r.flops_reduction is None for r in train):
            continue
        params = fit(dataclasses.replace(table, results=train))
        for r, p in zip(rows, predict(params, rows), strict=True):
            out[id(r)] = RowCheck(r, r.points_lost, float(p))
    return [out[id(r)] for r in pool if id(r) in out]


def format_checks(checks: Sequence[RowCheck]) -> str:
    """The rows as a text table: split, regime, network, method, design, published and
    predicted points lost, error; then the largest error of each split."""
    head = ("split", "regime", "network", "method", "design", "published", "predicted", "error")
    body = [(c.result.split, c.result.regime, c.result.network, c.result.method[:34],
             c.result.design, f"{c.published:.2f}", f"{c.predicted:.2f}", f"{c.error:+.2f}")
            for c in checks]
    widths = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(str(v).ljust(w) if i < 5 else str(v).rjust(w)
                       for i, (v, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for split in ("fit", "held-out", "excluded"):
        errs = [abs(c.error) for c in checks if c.result.split == split]
        if errs:
            lines.append(f"{split}: {len(errs)} rows, largest |error| {max(errs):.2f} points, "
                         f"RMS {math.sqrt(sum(e * e for e in errs) / len(errs)):.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rl_search.accuracy.calibrate",
        description="Refit the weight-free accuracy prior on the published-accuracy table and "
                    "write its parameters (points of top-1 lost, per regime).")
    parser.add_argument("--table", default=None, help=f"table to read (default {table_path()})")
    parser.add_argument("--out", default=None,
                        help=f"parameters file to write (default {parameters_path()})")
    parser.add_argument("--check", action="store_true",
                        help="print the table against the shipped parameters; fit nothing")
    parser.add_argument("--cv", action="store_true",
                        help="leave-one-method-out cross-validation: each paper's rows "
                             "predicted by a fit on the others; writes nothing")
    args = parser.parse_args(argv)
    try:
        table = load_table(args.table)
        if args.cv:
            checks = cross_validate(table)
            print(format_checks(checks).replace("\nfit:", "\nrows labelled fit:")
                  .replace("\nheld-out:", "\nrows labelled held-out:"))
            errs = np.abs([c.error for c in checks])
            print(f"leave-one-method-out: {len(checks)} rows of "
                  f"{len({c.result.method for c in checks})} methods, largest |error| "
                  f"{errs.max():.2f} points, RMS {math.sqrt(float(np.mean(errs ** 2))):.2f}, "
                  f"{100 * float(np.mean(errs <= 1.0)):.0f} % within 1 point, "
                  f"{100 * float(np.mean(errs <= 1.5)):.0f} % within 1.5")
            return 0
        if args.check:
            params = load_parameters(args.out)
        else:
            params = fit(table)
            out = Path(args.out) if args.out else parameters_path()
            out.write_text(parameters_toml(params, header=(
                "Weight-free accuracy prior: fitted parameters (docs/formulas.md, accuracy "
                "prior).",
                "Written by `python -m rl_search.accuracy.calibrate` from the table named "
                "below; do not edit by hand.",
                "ptq.rank_weight is not fitted (no low-rank row in that regime): it is the "
                "noise model's own weight, 1.")))
            print(f"wrote {out}")
    except TableError as exc:
        print(f"calibrate: error: {exc}", file=sys.stderr)
        return 2
    for regime in REGIMES:
        print(f"{regime}: scale {params.scale[regime]:.4g}, steepness "
              f"{params.steepness[regime]:.4g}, rank_weight {params.rank_weight[regime]:.4g}")
    print(f"shared: edge_weight {params.edge_weight:.4g}, depthwise_weight "
          f"{params.depthwise_weight:.4g}, act_weight {params.act_weight:.4g}")
    print(format_checks(check(table, params)))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["RowCheck", "RowDesign", "check", "fit", "format_checks", "main", "predict",
           "row_design"]
