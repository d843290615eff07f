"""Objective and evaluation of design points: the pure functions under every searcher and env.

A :class:`Problem` ties a :class:`~rl_search.spaces.DesignSpace` to a cost target, an accuracy
oracle and an :class:`Objective`, and evaluates batches of points at once (analytic tier,
vectorised). Everything the environment and the searchers do goes through it, so they all spend
the same evaluation budget on the same numbers.

Objective (``minimise``):

* ``"latency"``: minimise latency subject to the accuracy-drop budget (and the latency budget,
  the board's resources). Feasible reward ``-min(latency / ref, 2)`` where ``ref`` is the latency
  of the space's all-8-bit design on the base cores.
* ``"accuracy_drop"``: maximise accuracy subject to the latency budget (N3H-Core's and HAQ's
  set-up). Feasible reward ``accuracy - baseline`` (in [-1, 0]).

Infeasible designs (constraint mode ``penalty``, as N3H-Core) get ``-2 - excess``, below every
feasible reward, where ``excess`` sums the relative overshoot of each violated budget (1 for a
design that does not fit the board, 10 for one the cores cannot run). Modes ``repair`` (HAQ:
lower bits from the last layer backwards until the latency budget holds) and ``clamp`` (AMC:
every decision clamped so that the latency budget stays reachable if every later layer takes its
minimum) act on the latency budget only; accuracy and resource budgets are always penalties.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numba
import numpy as np
import numpy.typing as npt

from cost_models import BatchCost, Target
from cost_models.batch import format_excess
from hwsim.errors import CodesignError
from rl_search.spaces import DesignSpace

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

MODES = ("penalty", "repair", "clamp")
GOALS = ("latency", "accuracy_drop")


class BatchOracle(Protocol):
    """What the problem needs of an accuracy oracle (see :mod:`rl_search.accuracy`)."""

    baseline: float

    def estimate_batch(self, weight_bits: Any, act_bits: Any, lut_fraction: Any,
                       rank: Any = None) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class Objective:
    """What to optimise and under which budgets.

    :param minimise: ``"latency"`` or ``"accuracy_drop"``.
    :param latency_budget_ms: upper bound on latency (None: none).
    :param max_accuracy_drop: upper bound on ``baseline - accuracy`` as a fraction of 1
        (0.01 = one point of top-1 with the prior; None: none).
    :param require_fit: the design must fit the board's LUT/FF/DSP/BRAM.
    :param mode: ``"penalty"``, ``"repair"`` or ``"clamp"``.
    """

    minimise: str = "latency"
    latency_budget_ms: float | None = None
    max_accuracy_drop: float | None = 0.01
    require_fit: bool = True
    mode: str = "penalty"

    def __post_init__(self) -> None:
        if self.minimise not in GOALS:
            raise CodesignError(f"objective.minimise must be one of {GOALS}, got {self.minimise!r}")
        if self.mode not in MODES:
            raise CodesignError(f"objective.mode must be one of {MODES}, got {self.mode!r}")
        if self.latency_budget_ms is not None and not self.latency_budget_ms > 0:
            raise CodesignError(f"latency budget must be > 0 ms, got {self.latency_budget_ms}")
        if self.max_accuracy_drop is not None and not 0 <= self.max_accuracy_drop <= 1:
            raise CodesignError(f"max accuracy drop must be in [0, 1], got "
                                f"{self.max_accuracy_drop}")
        if self.mode != "penalty" and self.latency_budget_ms is None:
            raise CodesignError(f"constraint mode {self.mode!r} needs a latency budget")


@dataclass(frozen=True, slots=True)
class BatchEvaluation:
    """Evaluations of ``n`` points (all arrays have first dimension ``n``).

    ``mapping`` holds the per-layer mapping the target used (``{"lut_fraction": [n, L]}`` on
    the FPGA, balance points solved). ``cost`` is the target's batch result, kept so that
    violated limits can be named without evaluating again; it is ``None`` for evaluations read
    back from a run log.
    """

    x: IntArray              # the points evaluated (after repair/clamp)
    latency_ms: FloatArray
    accuracy: FloatArray
    accuracy_drop: FloatArray
    max_utilisation: FloatArray  # max over the target's resources of used / available
    fits: BoolArray          # resources fit and every layer can run
    feasible: BoolArray      # fits and every budget holds
    reward: FloatArray
    mapping: dict[str, FloatArray]
    cost: BatchCost | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def row(self, i: int) -> dict[str, Any]:
        """One evaluation as a JSON-able dict (what run folders store)."""
        return {"x": self.x[i].tolist(), "latency_ms": float(self.latency_ms[i]),
                "accuracy": float(self.accuracy[i]), "accuracy_drop": float(self.accuracy_drop[i]),
                "max_utilisation": float(self.max_utilisation[i]), "fits": bool(self.fits[i]),
                "feasible": bool(self.feasible[i]), "reward": float(self.reward[i])}

    def take(self, rows: Any) -> BatchEvaluation:
        """The evaluations at ``rows`` (a slice or an index array)."""
        idx = np.arange(len(self))[rows]
        cost = None if self.cost is None else _take_cost(self.cost, idx)
        return BatchEvaluation(
            x=self.x[idx], latency_ms=self.latency_ms[idx], accuracy=self.accuracy[idx],
            accuracy_drop=self.accuracy_drop[idx], max_utilisation=self.max_utilisation[idx],
            fits=self.fits[idx], feasible=self.feasible[idx], reward=self.reward[idx],
            mapping={k: v[idx] for k, v in self.mapping.items()}, cost=cost)

    @staticmethod
    def concat(parts: list[BatchEvaluation]) -> BatchEvaluation:
        """The parts one after another (``cost`` kept only when every part has one)."""
        parts = [p for p in parts if len(p)] or parts[:1]  # empty parts add nothing

        def cat(name: str) -> Any:
            return np.concatenate([getattr(p, name) for p in parts])

        costs = [p.cost for p in parts]
        return BatchEvaluation(
            x=cat("x"), latency_ms=cat("latency_ms"), accuracy=cat("accuracy"),
            accuracy_drop=cat("accuracy_drop"), max_utilisation=cat("max_utilisation"),
            fits=cat("fits"), feasible=cat("feasible"), reward=cat("reward"),
            mapping={k: np.concatenate([p.mapping[k] for p in parts]) for k in parts[0].mapping},
            cost=BatchCost.concat(costs) if all(c is not None for c in costs) else None)


def _take_cost(cost: BatchCost, idx: IntArray) -> BatchCost:
    return BatchCost(cycles=cost.cycles[idx], latency_ms=cost.latency_ms[idx],
                     runnable=cost.runnable[idx], feasible=cost.feasible[idx],
                     resources={k: v[idx] for k, v in cost.resources.items()},
                     limits=cost.limits, labels=cost.labels,
                     mapping={k: v[idx] for k, v in cost.mapping.items()},
                     precision_share=cost.precision_share[idx],
                     details={k: v[idx] for k, v in cost.details.items()})


class Problem:
    """Space + target + oracle + objective: evaluates design points in batches.

    It talks to the target only through :meth:`cost_models.Target.evaluate_batch`, so it works
    on every registered hardware family. The constraint modes (repair, clamp) and the naming
    of violated limits live here, once, for the searchers and the environment alike.
    """

    def __init__(self, space: DesignSpace, target: Target, oracle: BatchOracle,
                 objective: Objective) -> None:
        self.space = space
        self.target = target
        self.oracle = oracle
        self.objective = objective
        self.evaluations = 0
        # Reference latency: every bit knob at its largest choice, everything else at the base.
        ref = self._raw(self.max_bits_point()[None, :])
        self.reference_latency_ms = float(ref["latency_ms"][0])
        if not np.isfinite(self.reference_latency_ms):
            self.reference_latency_ms = 1.0
        self._bit_knobs = np.array([j for j, k in enumerate(space.knobs)
                                    if k.kind in ("weight_bits", "act_bits")], dtype=np.int64)

    def max_bits_point(self) -> IntArray:
        """Every bit knob at its largest choice, ranks dense, hardware knobs at the preset's
        values, mapping knobs at their first choice."""
        x = self.space.base_point()
        for j, knob in enumerate(self.space.knobs):
            if knob.kind == "mapping":
                x[j] = 0
        return x

    # ------------------------------------------------------------------ raw evaluation

    def _cost(self, X: IntArray) -> BatchCost:
        return self.target.evaluate_batch(self.space.workload, self.space.decode_batch(X))

    def _raw(self, X: IntArray) -> dict[str, Any]:
        """Latency, accuracy and resource fit of points, without budgets or repair."""
        batch = self.space.decode_batch(X, in_range=True)  # evaluate_batch clipped X
        cost = self.target.evaluate_batch(self.space.workload, batch)
        fast = getattr(self.oracle, "estimate_arrays", None)  # unchecked: the target's arrays
        estimate = fast if fast is not None else self.oracle.estimate_batch
        acc = np.asarray(estimate(batch.weight_bits, batch.act_bits, cost.precision_share,
                                  batch.rank), dtype=np.float64)
        return {"latency_ms": cost.latency_ms, "fits": cost.feasible,
                "util": cost.max_utilisation, "accuracy": acc, "cost": cost}

    # ------------------------------------------------------------------ budgets and reward

    def _score(self, X: IntArray, raw: dict[str, Any]) -> BatchEvaluation:
        obj = self.objective
        latency = np.ascontiguousarray(raw["latency_ms"], dtype=np.float64)
        acc = np.ascontiguousarray(raw["accuracy"], dtype=np.float64)
        nan = math.nan
        drop, feasible, reward = _score_kernel(
            latency, acc, np.ascontiguousarray(raw["fits"], dtype=np.bool_),
            float(self.oracle.baseline), obj.require_fit,
            nan if obj.latency_budget_ms is None else float(obj.latency_budget_ms),
            nan if obj.max_accuracy_drop is None else float(obj.max_accuracy_drop),
            obj.minimise == "latency", float(self.reference_latency_ms))
        cost: BatchCost = raw["cost"]
        return BatchEvaluation(x=X, latency_ms=latency, accuracy=acc, accuracy_drop=drop,
                               max_utilisation=raw["util"], fits=raw["fits"], feasible=feasible,
                               reward=reward, mapping=dict(cost.mapping), cost=cost)

    # ------------------------------------------------------------------ public

    def evaluate_batch(self, X: Any) -> BatchEvaluation:
        """Evaluate points (int ``[n, n_knobs]`` of choice indices; out-of-range indices are
        clipped into the space), applying the objective's constraint mode."""
        X = self._points(X)
        if X.shape[0] == 0:
            return self._empty()
        X = self.space.clip(X, out=X)
        if self.objective.mode == "repair":
            X = self.repair(X)
        elif self.objective.mode == "clamp":
            X = self.clamp(X)
        self.evaluations += X.shape[0]
        return self._score(X, self._raw(X))

    def _points(self, X: Any) -> IntArray:
        """``X`` as a fresh int64 ``[n, n_knobs]`` array, or a CodesignError saying what it was
        (choice indices are whole numbers: 1.5 is not rounded, NaN is not 0)."""
        try:
            arr = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise CodesignError(f"points must be an int array [n, {len(self.space)}]: {exc}"
                                ) from None
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != len(self.space):
            raise CodesignError(f"points must have shape [n, {len(self.space)}] (one choice "
                                f"index per knob), got {arr.shape}")
        if arr.dtype.kind in "iub":
            return arr.astype(np.int64)
        if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all() \
                and (np.abs(arr) < 2.0**62).all():
            return arr.astype(np.int64)
        raise CodesignError(f"points must hold whole-number choice indices, got dtype "
                            f"{arr.dtype} ({arr.flat[0] if arr.size else 'empty'!r} ...)")

    def _empty(self) -> BatchEvaluation:
        f, b = np.zeros(0), np.zeros(0, dtype=bool)
        return BatchEvaluation(x=np.zeros((0, len(self.space)), dtype=np.int64), latency_ms=f,
                               accuracy=f, accuracy_drop=f, max_utilisation=f, fits=b,
                               feasible=b, reward=f, mapping={})

    def evaluate(self, x: Any) -> dict[str, Any]:
        """One point, with the full cost breakdown (violated limits named)."""
        ev = self.evaluate_batch(np.asarray(x)[None, :])
        out = ev.row(0)
        out["violations"] = self.violations(ev, 0)
        out["mapping"] = {k: [float(v) for v in values[0]] for k, values in ev.mapping.items()}
        return out

    def violations(self, ev: BatchEvaluation, i: int) -> list[str]:
        """The limits and budgets evaluation ``i`` of ``ev`` violates, one line each (empty
        when it is feasible): :meth:`violations_batch` for one row."""
        return self.violations_batch(ev if len(ev) == 1 else ev.take(slice(i, i + 1)))[0]

    def violations_batch(self, ev: BatchEvaluation) -> list[list[str]]:
        """Per evaluation of ``ev``, the limits and budgets it violates, one line each (empty
        for a feasible one). Uses the target's batch result kept in ``ev`` (evaluating the
        points again, uncounted, when ``ev`` was read back from a log). Vectorised: only the
        violating rows format a line."""
        obj = self.objective
        n = len(ev)
        if n == 1 and ev.feasible[0]:
            return [[]]  # a feasible design violates nothing: the common single-step case
        out: list[list[str]] = [[] for _ in range(n)]
        latency, drop = ev.latency_ms, ev.accuracy_drop
        for i in np.nonzero(~np.isfinite(latency))[0].tolist():
            out[i].append("a layer cannot run on the hardware (infinite latency)")
        if obj.require_fit and not ev.fits.all():
            cost = ev.cost if ev.cost is not None else self._cost(ev.x)
            for key, used in cost.resources.items():
                have = cost.limits.get(key, math.inf)
                label = cost.labels.get(key, key)
                for i in np.nonzero(np.asarray(used) > have)[0].tolist():
                    out[i].append(format_excess(label, used[i], have))
        if obj.latency_budget_ms is not None:
            budget = obj.latency_budget_ms
            for i in np.nonzero(latency > budget)[0].tolist():
                out[i].append(f"latency {latency[i]:.3f} ms > budget {budget:g} ms")
        if obj.max_accuracy_drop is not None:
            limit = obj.max_accuracy_drop
            for i in np.nonzero(drop > limit)[0].tolist():
                out[i].append(f"accuracy drop {drop[i]:.4f} > budget {limit:g}")
        return out

    def latency_ms(self, X: IntArray) -> FloatArray:
        """Latency of points as given (no repair, clamp, oracle or budget): what the repair
        and clamp modes and the environment's per-step clamp check against."""
        return self._cost(np.atleast_2d(X)).latency_ms

    def repair(self, X: IntArray) -> IntArray:
        """HAQ's repair: while over the latency budget, lower one bit-width step, walking the
        bit knobs from the last layer backwards (weights and activations alternately), until
        the budget holds or every bit knob is at its minimum. Ends within budget whenever the
        all-minimum design (on the same cores and ranks) is within budget."""
        budget = self.objective.latency_budget_ms
        assert budget is not None
        X = X.copy()
        order = self._bit_knobs[::-1]
        if order.size == 0:
            return X
        cursor = np.zeros(X.shape[0], dtype=np.int64)
        active = np.nonzero(self.latency_ms(X) > budget)[0]
        while active.size:
            for r in active:  # lower the next knob (cyclically) that can still go down
                for _ in range(order.size):
                    j = order[cursor[r] % order.size]
                    cursor[r] += 1
                    if X[r, j] > 0:
                        X[r, j] -= 1
                        break
            lat = self.latency_ms(X[active])
            exhausted = (X[active][:, self._bit_knobs] == 0).all(axis=1)
            active = active[(lat > budget) & ~exhausted]
        return X

    def clamp(self, X: IntArray, upto: int | None = None) -> IntArray:
        """AMC's per-step clamp: for each bit knob in decision order (up to knob index ``upto``;
        all when None), :meth:`clamp_knob`. Vectorised over the points: one batch evaluation
        per bit knob."""
        X = np.atleast_2d(X).copy()
        knobs = self._bit_knobs if upto is None else self._bit_knobs[self._bit_knobs <= upto]
        for j in knobs:
            X[:, j] = self.clamp_knob(X, int(j), X[:, j])[0]
        return X

    def clamp_knob(self, X: IntArray, j: int, requested: Any) -> tuple[IntArray, FloatArray]:
        """AMC's clamp of knob ``j`` for each point of ``X``: the largest choice not above
        ``requested`` such that the point, with choice ``j`` set and every later bit knob at its
        minimum, meets the latency budget (the lowest choice when none does). Later knobs are
        only assumed at their minimum while checking. A knob that is not a bit knob is not
        clamped. Returns the choices and the latency each gives (what the environment shows as
        its "cost so far")."""
        budget = self.objective.latency_budget_ms
        assert budget is not None
        X = np.atleast_2d(X)
        requested = np.broadcast_to(np.asarray(requested, dtype=np.int64), (X.shape[0],))
        later = self._bit_knobs[self._bit_knobs > j]
        if j not in self._bit_knobs:
            trial = X.copy()
            trial[:, j] = requested
            trial[:, later] = 0
            return requested.copy(), self.latency_ms(trial)
        reps = requested + 1
        owner = np.repeat(np.arange(X.shape[0]), reps)
        trial = X[owner].copy()
        trial[:, j] = np.concatenate([np.arange(r) for r in reps])
        trial[:, later] = 0
        latency = self.latency_ms(trial)
        ok = latency <= budget
        best = np.zeros(X.shape[0], dtype=np.int64)
        np.maximum.at(best, owner[ok], trial[ok, j])
        start = np.concatenate([[0], np.cumsum(reps)[:-1]])
        return best, latency[start + best]

    def cheapest(self, max_hardware: int = 20_000, seed: int = 0) -> dict[str, Any]:
        """The lowest-latency point with every bit knob at its minimum and every rank at its
        smallest, over the hardware knobs' combinations (all of them up to ``max_hardware``,
        else a seeded sample of that many): the check behind "no design can meet the budget"."""
        hw = [j for j, k in enumerate(self.space.knobs) if k.layer is None]
        base = np.zeros(len(self.space), dtype=np.int64)
        if not hw:
            X = base[None, :]
        else:
            sizes = self.space.nvec[hw]
            total = int(np.prod(sizes.astype(np.float64)))
            if total <= max_hardware:
                combos = np.stack(np.unravel_index(np.arange(total), tuple(sizes)), axis=1)
            else:
                rng = np.random.default_rng(seed)
                combos = (rng.random((max_hardware, len(hw))) * sizes).astype(np.int64)
            X = np.repeat(base[None, :], combos.shape[0], axis=0)
            X[:, hw] = combos
        raw = self._raw(X)
        lat = np.where(raw["fits"], raw["latency_ms"], np.inf)
        i = int(np.argmin(lat)) if np.isfinite(lat).any() else int(np.argmin(raw["latency_ms"]))
        return {"x": X[i].tolist(), "latency_ms": float(raw["latency_ms"][i]),
                "accuracy": float(raw["accuracy"][i]), "fits": bool(raw["fits"][i]),
                "hardware_points": int(X.shape[0])}

    def check_budgets_reachable(self) -> None:
        """Raise before a search starts when no design can meet the latency budget, quoting the
        cheapest design's figures (over the hardware knobs too, see :meth:`cheapest`)."""
        budget = self.objective.latency_budget_ms
        if budget is None:
            return
        cheap = self.cheapest()
        if cheap["latency_ms"] > budget:
            raise CodesignError(
                f"no design in space {self.space.name!r} can meet the latency budget of "
                f"{budget:g} ms: the cheapest (every bit-width and rank at its minimum, best of "
                f"{cheap['hardware_points']} hardware configuration(s)) takes "
                f"{cheap['latency_ms']:.3f} ms at accuracy {cheap['accuracy']:.4f}")


@numba.njit(cache=True)
def _nan_max0(v: float) -> float:
    """``np.maximum(v, 0.0)``: NaN stays NaN."""
    return v if v > 0.0 or v != v else 0.0


@numba.njit(cache=True)
def _score_kernel(latency: Any, acc: Any, fits: Any, baseline: float, require_fit: bool,
                  budget: float, max_drop: float, minimise_latency: bool, reference: float
                  ) -> tuple[Any, Any, Any]:
    """The objective, per design: the one place budgets become ``excess`` and a reward.

    ``excess`` sums 10 for a design that cannot run (infinite latency), 1 for one that does not
    fit (with ``require_fit``), the relative overshoot of the latency budget and that of the
    accuracy-drop budget (relative to ``max(budget, 0.01)``); ``budget`` / ``max_drop`` NaN
    mean none. Feasible (``excess <= 0``) designs get ``-min(latency / reference, 2)`` (or
    ``-drop``), the others ``-2 - excess``, below every feasible reward.

    :return: ``(accuracy drop, feasible, reward)``.
    """
    n = latency.shape[0]
    drop = np.empty(n)
    feasible = np.empty(n, dtype=np.bool_)
    reward = np.empty(n)
    has_budget = budget == budget
    has_drop = max_drop == max_drop
    for i in range(n):
        d = baseline - acc[i]
        drop[i] = d
        lat = latency[i]
        finite = np.isfinite(lat)
        excess = 0.0
        if not finite:
            excess += 10.0
        if require_fit and finite and not fits[i]:
            excess += 1.0
        if has_budget:
            excess += _nan_max0(lat / budget - 1.0 if finite else 0.0)
        if has_drop:
            excess += _nan_max0((d - max_drop) / max(max_drop, 0.01))
        ok = excess <= 0.0
        feasible[i] = ok
        if not ok:
            reward[i] = -2.0 - excess
        elif minimise_latency:
            reward[i] = -min(lat / reference if finite else np.inf, 2.0)
        else:
            reward[i] = -d
    return drop, feasible, reward
