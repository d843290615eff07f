"""The true optimum of small spaces, to measure the other searchers against.

* :class:`ExhaustiveSearch` evaluates every point of a space small enough, in batches, through
  the shared evaluation budget (so a run folder logs it like any other searcher).
* :func:`dp_optimum` solves problems that are additively separable per layer without
  enumerating them: a knapsack-style dynamic programme over layers. On the heterogeneous FPGA
  target the network latency is a sum over layers for fixed cores, each layer at its own split
  (N3H-Core's model: layer latency ``max(L_DSP, L_LUT)``, network latency the sum over layers,
  no inter-layer overlap; REFERENCE.md section 1), and under the proxy oracle the accuracy drop
  is a sum of per-layer drops; HAQ's latency is likewise a sum of per-layer table entries
  (REFERENCE.md section 3). So the latency-optimal design under an accuracy-drop budget is a
  multiple-choice knapsack: one option (the layer's knob values) per layer, cost = the layer's
  latency, weight = the layer's accuracy drop, capacity = the drop budget.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from hwsim.errors import CodesignError
from rl_search.problem import Problem
from rl_search.searchers.base import EvaluationBudget, Searcher
from rl_search.searchers.greedy import highest_precision_point
from rl_search.spaces import DesignSpace

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Tolerances: a per-layer weight within this many grid steps of a grid point counts as on it;
# separability is accepted within these (float sums in a different order differ in the last
# bits).
_GRID_TOL = 1e-6
_SEP_RTOL = 1e-9
_SEP_ATOL = 1e-9
_MAX_CAPACITY = 10_000_000


def space_points(space: DesignSpace, start: int, stop: int) -> IntArray:
    """Points ``start .. stop-1`` of the space in lexicographic order (last knob fastest, as
    :func:`itertools.product`)."""
    flat = np.arange(start, stop, dtype=np.int64)
    return np.stack(np.unravel_index(flat, tuple(int(n) for n in space.nvec)),
                    axis=1).astype(np.int64)


class ExhaustiveSearch(Searcher):
    """Evaluates every point of the space once, in lexicographic order, ``batch_size`` at a
    time, then stops (the rest of the budget is left unspent).

    :param seed: unused (the order is fixed); accepted for the common interface.
    :param max_points: largest space it agrees to enumerate.
    :param batch_size: points per batch evaluation.
    :raises CodesignError: when the space has more than ``max_points`` points, or when the
        budget left is smaller than the space (both before evaluating anything).
    """

    name: ClassVar[str] = "exhaustive"

    def __init__(self, seed: int = 0, *, max_points: int = 1_000_000,
                 batch_size: int = 4096) -> None:
        if max_points < 1 or batch_size < 1:
            raise CodesignError(f"exhaustive search needs max_points >= 1 and batch_size >= 1, "
                                f"got {max_points} and {batch_size}")
        super().__init__(seed, max_points=max_points, batch_size=batch_size)
        self.max_points = int(max_points)
        self.batch_size = int(batch_size)

    def search(self, problem: Problem, budget: EvaluationBudget) -> None:
        space = problem.space
        if space.size > self.max_points:
            raise CodesignError(
                f"exhaustive search: space {space.name!r} over {space.workload.name!r} has "
                f"{space.size:.4g} points ({len(space)} knobs), more than max_points="
                f"{self.max_points}; restrict the space (fewer layers, bit choices or hardware "
                f"knobs), raise max_points, or use dp_optimum / another searcher")
        n = int(space.size)
        if budget.remaining < n:
            raise CodesignError(
                f"exhaustive search: space {space.name!r} has {n} points but the budget has "
                f"only {budget.remaining} evaluations left; give it a budget of at least {n}")
        for start in range(0, n, self.batch_size):
            budget(space_points(space, start, min(start + self.batch_size, n)))


# ---------------------------------------------------------------------------- dynamic programme


@dataclass(frozen=True, slots=True)
class DpResult:
    """What :func:`dp_optimum` found.

    :param x: the optimal point (None when no design meets the budgets).
    :param reward, latency_ms, accuracy_drop, feasible: ``x`` evaluated by the problem.
    :param exact: every condition under which the DP is exact held (see :func:`dp_optimum`);
        ``notes`` says which did not.
    :param step: grid step of the constrained quantity (accuracy drop or latency in ms) for
        the winning hardware setting.
    :param evaluations: points the probes evaluated through ``problem.evaluate_batch``.
    """

    x: IntArray | None
    reward: float
    latency_ms: float
    accuracy_drop: float
    feasible: bool
    exact: bool
    step: float
    evaluations: int
    notes: tuple[str, ...]


def _knapsack(costs: list[FloatArray], weights: list[IntArray], allowed: list[BoolArray],
              capacity: int, rooms: tuple[int, ...]) -> list[tuple[float, list[int]]]:
    """Multiple-choice knapsack: one option per group, minimising the summed cost with the
    summed weight at most ``room``, for each ``room`` in ``rooms`` (all <= ``capacity``; one
    table serves them all). Returns (cost, option per group) per room, leaving out rooms no
    choice fits. Ties go to the lowest option index, so the answer is deterministic."""
    best = np.zeros(capacity + 1)  # best[w]: least cost of the groups so far with weight <= w
    choice: list[IntArray] = []
    span = np.arange(capacity + 1)
    for c, w, ok in zip(costs, weights, allowed, strict=True):
        opts = np.nonzero(ok & np.isfinite(c) & (w <= capacity))[0]
        if opts.size == 0:
            return []
        src = span[None, :] - w[opts][:, None]
        cand = np.where(src >= 0, best[np.maximum(src, 0)] + c[opts][:, None], np.inf)
        arg = np.argmin(cand, axis=0)
        best = cand[arg, span]
        choice.append(opts[arg])
    out = []
    for room in rooms:
        if not np.isfinite(best[room]):
            continue
        picks: list[int] = []
        left = room
        for g in range(len(costs) - 1, -1, -1):
            o = int(choice[g][left])
            picks.append(o)
            left -= int(weights[g][o])
        out.append((float(best[room]), picks[::-1]))
    return out


def dp_optimum(problem: Problem, *, grid_points: int = 2000, step: float | None = None,
               checks: int = 8, seed: int = 0, max_hardware_points: int = 4096) -> DpResult:
    """Optimum of an additively separable problem by dynamic programming over layers.

    Objective ``"latency"``: least latency with accuracy drop <= ``max_accuracy_drop`` (the
    knapsack's weight is the drop); objective ``"accuracy_drop"``: least drop with latency <=
    ``latency_budget_ms`` (the weight is the latency). The other budget, if any, is checked on
    the answer: the answer is optimal in its own quantity, so if it breaks the other budget no
    design meets both. Hardware knobs are enumerated (one DP per hardware setting, at most
    ``max_hardware_points``); the resource fit, which couples layers only through the widest
    activation run on the DSP core, is handled by one DP per cap on that width.

    How it works: per hardware setting, each layer's options (every combination of its knobs)
    are probed with the other layers held at the highest-precision point, giving per-layer
    latency and drop deltas; ``checks`` random points then test that the sum of deltas
    predicts the evaluated latency and drop (a :class:`CodesignError` when not: the problem is
    not separable and the DP does not apply). Weights are put on a grid of ``step`` (default:
    the budget's slack over ``grid_points``) and rounded **up**, so every answer really meets
    the budget.

    **Exact** (``result.exact``) when: latency and drop are separable (checked as above); every
    per-layer weight lies on the grid (e.g. an oracle whose per-layer drops are multiples of
    ``step``, or latencies in whole cycles with a step of one cycle); the constraint mode is
    ``penalty``; the resource fit does not grow with narrower activations; and the answer,
    evaluated, matches the prediction. Off the grid the answer is still feasible, and at least
    as good as the true optimum under a budget tightened by ``n_layers * step``.

    :param problem: a penalty-mode problem; probes are evaluated with
        ``problem.evaluate_batch`` (they count in ``problem.evaluations``, not in any searcher's
        budget).
    :param grid_points: grid cells across the slack of the budget when ``step`` is None.
    :param step: grid step of the constrained quantity (accuracy drop as a fraction, or ms).
    :param checks: random points per hardware setting for the separability test.
    :param seed: seed of those random points.
    :param max_hardware_points: most hardware settings to enumerate.
    """
    obj = problem.objective
    space = problem.space
    if obj.mode != "penalty":
        raise CodesignError(f"dp_optimum needs constraint mode 'penalty' (repair and clamp "
                            f"change the points evaluated), got {obj.mode!r}")
    if grid_points < 1 or (step is not None and not step > 0):
        raise CodesignError(f"dp_optimum needs grid_points >= 1 and step > 0, got "
                            f"{grid_points} and {step}")
    latency_goal = obj.minimise == "latency"
    limit = obj.max_accuracy_drop if latency_goal else obj.latency_budget_ms
    hw_idx = np.array([j for j, k in enumerate(space.knobs) if k.layer is None], dtype=np.int64)
    hw_knobs = [space.knobs[j] for j in hw_idx]
    n_hw = math.prod(k.n for k in hw_knobs)
    if n_hw > max_hardware_points:
        raise CodesignError(f"dp_optimum: space {space.name!r} has {n_hw} hardware settings, "
                            f"more than max_hardware_points={max_hardware_points}; restrict "
                            f"its hardware knobs or raise the limit")
    layers = sorted({k.layer for k in space.knobs if k.layer is not None})
    group_idx = [np.array([j for j, k in enumerate(space.knobs) if k.layer == layer],
                          dtype=np.int64) for layer in layers]
    group_opts = [np.array(list(itertools.product(*(range(int(space.nvec[j])) for j in idx))),
                           dtype=np.int64) for idx in group_idx]
    knob_layers = set(layers)
    rng = np.random.default_rng(seed)
    base = highest_precision_point(space)
    notes: list[str] = []
    grid_exact = True
    evaluations = 0
    candidates: list[tuple[float, IntArray, float]] = []  # (predicted value, x, step)

    for hw in itertools.product(*(range(k.n) for k in hw_knobs)):
        ref = base.copy()
        ref[hw_idx] = hw
        probes = [ref[None, :]]
        for idx, opts in zip(group_idx, group_opts, strict=True):
            rows = np.repeat(ref[None, :], opts.shape[0], axis=0)
            rows[:, idx] = opts
            probes.append(rows)
        check = space.random(rng, checks)
        check[:, hw_idx] = hw
        probes.append(check)
        X = np.concatenate(probes)
        ev = problem.evaluate_batch(X)
        evaluations += len(ev)
        lat0, drop0 = float(ev.latency_ms[0]), float(ev.accuracy_drop[0])
        if not np.isfinite(lat0):
            notes.append(f"hardware setting {list(hw)} skipped: its highest-precision design "
                         f"cannot run, so per-layer latencies could not be probed")
            continue
        assert ev.cost is not None
        coupled = ev.cost.details.get("dsp_act_bits")
        if obj.require_fit and coupled is None:
            raise CodesignError(f"dp_optimum: the resources of target {problem.target.name!r} "
                                f"are not known to separate over layers; use require_fit=False "
                                f"or another searcher")
        lat_d, drop_d, act_o = [], [], []
        at = 1
        for layer, opts in zip(layers, group_opts, strict=True):
            sl = slice(at, at + opts.shape[0])
            at += opts.shape[0]
            lat_d.append(ev.latency_ms[sl] - lat0)
            drop_d.append(ev.accuracy_drop[sl] - drop0)
            if coupled is not None:
                act_o.append(coupled[sl, layer])
        _check_separable(space, X[at:], ev.latency_ms[at:], ev.accuracy_drop[at:], lat0, drop0,
                         group_idx, lat_d, drop_d)
        fixed = [ln for ln in range(len(space.workload.layers)) if ln not in knob_layers]
        fixed_act = max([int(coupled[0, ln]) for ln in fixed], default=1) if coupled is not None \
            else 1
        costs = lat_d if latency_goal else drop_d
        wvals = drop_d if latency_goal else lat_d
        base_cost = lat0 if latency_goal else drop0
        base_w = drop0 if latency_goal else lat0
        caps: list[float] = [math.inf]
        if obj.require_fit:
            # The FPGA's resources couple the layers only through the widest activation on
            # the DSP core: solve once per cap on it, keeping the layers' options under the cap.
            lut, dsp = problem.target.cores(space.decode(ref))  # type: ignore[attr-defined]
            widths = sorted({fixed_act, *(int(v) for a in act_o for v in a)})
            caps = [float(c) for c in widths if c >= fixed_act
                    and problem.target.fits_with_dsp_act(lut, dsp, c)]  # type: ignore[attr-defined]
        for cap in caps:
            allowed = ([(a <= cap) & np.isfinite(ld) for a, ld in zip(act_o, lat_d, strict=True)]
                       if act_o else [np.isfinite(ld) for ld in lat_d])
            if not all(ok.any() for ok in allowed):
                continue
            if limit is None:
                weights = [np.zeros(len(w), dtype=np.int64) for w in wvals]
                capacity, cell = 0, 1.0
            else:
                wmin = [float(w[ok].min()) for w, ok in zip(wvals, allowed, strict=True)]
                slack = limit - base_w - sum(wmin)
                if slack < -_SEP_ATOL:
                    continue
                cell = step if step is not None else (slack / grid_points if slack > 0 else 1.0)
                capacity = math.floor(max(slack, 0.0) / cell + _GRID_TOL)
                if capacity > _MAX_CAPACITY:
                    raise CodesignError(f"dp_optimum: step {cell:g} makes a grid of {capacity} "
                                        f"cells; use a coarser step")
                units = [np.where(ok, (w - m) / cell, 0.0)
                         for w, m, ok in zip(wvals, wmin, allowed, strict=True)]
                weights = [np.ceil(u - _GRID_TOL).astype(np.int64) for u in units]
                if any(np.any(np.abs(u - np.rint(u)) > _GRID_TOL) for u in units):
                    grid_exact = False
            # One cell inside the budget as well: an answer exactly on the budget can be judged
            # over it by the problem's float arithmetic.
            rooms = (capacity, capacity - 1) if capacity >= 1 else (capacity,)
            for value, picks in _knapsack(costs, weights, allowed, capacity, rooms):
                x = ref.copy()
                for idx, opts, o in zip(group_idx, group_opts, picks, strict=True):
                    x[idx] = opts[o]
                candidates.append((value + base_cost, x, cell))

    if not grid_exact:
        notes.append("some per-layer weights are off the grid: the answer meets the budget but "
                     "may miss the optimum by up to n_layers grid steps of budget")
    # The best predicted candidate that the problem judges feasible is the answer.
    candidates.sort(key=lambda c: c[0])
    for at in range(0, len(candidates), 64):
        chunk = candidates[at:at + 64]
        ev = problem.evaluate_batch(np.array([c[1] for c in chunk]))
        evaluations += len(ev)
        hits = np.nonzero(ev.feasible)[0]
        if hits.size:
            i = int(hits[0])
            value, x, cell = chunk[i]
            rejected = sum(1 for c in candidates[:at + i] if c[0] < value)
            if rejected:
                notes.append(f"{rejected} design(s) with a better predicted value were judged "
                             f"infeasible (on the budget boundary under float rounding, or a "
                             f"resource fit that grows with narrower activations)")
            got = float(ev.latency_ms[i] if latency_goal else ev.accuracy_drop[i])
            if not math.isclose(got, value, rel_tol=_SEP_RTOL, abs_tol=_SEP_ATOL):
                notes.append(f"the answer evaluates to {got!r}, the DP predicted {value!r}")
            return DpResult(x=x, reward=float(ev.reward[i]), latency_ms=float(ev.latency_ms[i]),
                            accuracy_drop=float(ev.accuracy_drop[i]), feasible=True,
                            exact=not notes, step=cell, evaluations=evaluations,
                            notes=tuple(notes))
    return DpResult(None, -math.inf, math.inf, math.inf, False, not notes, math.nan,
                    evaluations, tuple(notes))


def _check_separable(space: DesignSpace, X: IntArray, latency: FloatArray, drop: FloatArray,
                     lat0: float, drop0: float, group_idx: list[IntArray],
                     lat_d: list[FloatArray], drop_d: list[FloatArray]) -> None:
    """Raise unless ``ref + sum of per-layer deltas`` predicts latency and drop at ``X``."""
    if X.shape[0] == 0:
        return
    pred_lat = np.full(X.shape[0], lat0)
    pred_drop = np.full(X.shape[0], drop0)
    for idx, ld, dd in zip(group_idx, lat_d, drop_d, strict=True):
        o = np.ravel_multi_index(tuple(X[:, idx].T), tuple(int(space.nvec[j]) for j in idx))
        pred_lat += ld[o]
        pred_drop += dd[o]
    for label, pred, got in (("latency", pred_lat, latency), ("accuracy drop", pred_drop, drop)):
        both_inf = np.isinf(pred) & np.isinf(got)
        ok = both_inf | np.isclose(pred, got, rtol=_SEP_RTOL, atol=_SEP_ATOL)
        if not ok.all():
            i = int(np.argmin(ok))
            raise CodesignError(
                f"dp_optimum: the problem is not additively separable per layer in {label}: "
                f"point {X[i].tolist()} evaluates to {got[i]!r}, the per-layer sum predicts "
                f"{pred[i]!r}; use ExhaustiveSearch on a small space instead")


class _ScoreAsDrop:
    """Presents a proxy oracle's additive score as an accuracy drop scaled so that the score
    limit maps onto the drop budget: same feasible set, and a drop that is a sum over layers."""

    def __init__(self, oracle: Any, max_drop: float) -> None:
        self.oracle = oracle
        self.baseline = 1.0
        self.scale = max_drop / oracle.score_limit(max_drop)

    def estimate_batch(self, weight_bits: Any, act_bits: Any, lut_fraction: Any,
                       rank: Any = None) -> FloatArray:
        z = self.oracle.score_batch(weight_bits, act_bits, lut_fraction, rank)
        return 1.0 - np.asarray(z, dtype=np.float64) * self.scale


def dp_optimum_proxy(problem: Problem, **options: Any) -> DpResult:
    """:func:`dp_optimum` for a problem whose oracle is a proxy with a monotone link
    (:class:`~rl_search.accuracy.proxy.ProxyOracle`): accuracy is a monotone function of an
    additive score, so "drop <= budget" is "score <= limit", and the DP runs on the score.
    Objective ``"latency"`` with an accuracy-drop budget only. The result's ``accuracy_drop``
    is re-evaluated with the real oracle of ``problem``."""
    obj = problem.objective
    oracle = problem.oracle
    if obj.minimise != "latency" or obj.max_accuracy_drop is None:
        raise CodesignError("dp_optimum_proxy needs minimise='latency' with an accuracy-drop "
                            "budget")
    if not hasattr(oracle, "score_batch") or not hasattr(oracle, "score_limit"):
        raise CodesignError(f"dp_optimum_proxy needs an oracle with an additive score "
                            f"(score_batch, score_limit); got {type(oracle).__name__}")
    limit = oracle.score_limit(obj.max_accuracy_drop)
    if not math.isfinite(limit) or limit <= 0:
        raise CodesignError(f"dp_optimum_proxy: the drop budget {obj.max_accuracy_drop} maps "
                            f"to score limit {limit}; nothing to optimise")
    wrapped = Problem(problem.space, problem.target, _ScoreAsDrop(oracle, obj.max_accuracy_drop),
                      obj)
    result = dp_optimum(wrapped, **options)
    if result.x is None:
        return result
    ev = problem.evaluate_batch(result.x[None, :])
    return DpResult(x=result.x, reward=float(ev.reward[0]), latency_ms=float(ev.latency_ms[0]),
                    accuracy_drop=float(ev.accuracy_drop[0]), feasible=bool(ev.feasible[0]),
                    exact=result.exact, step=result.step,
                    evaluations=result.evaluations + 1, notes=result.notes)
