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

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from cost_models.fpga import HeteroFpgaTarget
from hwsim.errors import CodesignError
from hwsim.fpga.resources import check_feasible, total_resources, utilisation
from hwsim.ir.lowrank import apply_ranks
from rl_search.spaces import HW_KNOBS, DesignSpace

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
    :param max_accuracy_drop: upper bound on ``baseline - accuracy`` as a fraction
        (0.01 = one point of top-1; None: none).
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
    """Evaluations of ``n`` points (all arrays have first dimension ``n``)."""

    x: IntArray              # the points evaluated (after repair/clamp)
    latency_ms: FloatArray
    accuracy: FloatArray
    accuracy_drop: FloatArray
    max_utilisation: FloatArray  # max over LUT, FF, DSP, BRAM36 of used / available
    fits: BoolArray          # resources fit and every layer can run
    feasible: BoolArray      # fits and every budget holds
    reward: FloatArray
    lut_fraction: FloatArray  # [n, L] the splits used (balance points solved)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def row(self, i: int) -> dict[str, Any]:
        """One evaluation as a JSON-able dict (what run folders store)."""
        return {"x": [int(v) for v in self.x[i]], "latency_ms": float(self.latency_ms[i]),
                "accuracy": float(self.accuracy[i]), "accuracy_drop": float(self.accuracy_drop[i]),
                "max_utilisation": float(self.max_utilisation[i]), "fits": bool(self.fits[i]),
                "feasible": bool(self.feasible[i]), "reward": float(self.reward[i])}


class Problem:
    """Space + target + oracle + objective: evaluates design points in batches."""

    def __init__(self, space: DesignSpace, target: HeteroFpgaTarget, oracle: BatchOracle,
                 objective: Objective) -> None:
        self.space = space
        self.target = target
        self.oracle = oracle
        self.objective = objective
        self.evaluations = 0
        self._resource_cache: dict[tuple[Any, ...], tuple[bool, float, list[str]]] = {}
        self._workload_cache: dict[tuple[int, ...], Any] = {}
        # Reference latency: every bit knob at its largest choice, everything else at the base.
        ref = self._raw(self.max_bits_point()[None, :])
        self.reference_latency_ms = float(ref["latency_ms"][0])
        if not np.isfinite(self.reference_latency_ms):
            self.reference_latency_ms = 1.0
        self._bit_knobs = np.array([j for j, k in enumerate(space.knobs)
                                    if k.kind in ("weight_bits", "act_bits")], dtype=np.int64)

    def max_bits_point(self) -> IntArray:
        """Every bit knob at its largest choice, ranks dense, hardware knobs at the base cores."""
        x = np.zeros(len(self.space), dtype=np.int64)
        for j, knob in enumerate(self.space.knobs):
            if knob.kind in ("weight_bits", "act_bits"):
                x[j] = knob.n - 1
            elif knob.kind == "rank":
                x[j] = knob.n - 1  # dense
            elif knob.layer is None:
                core, field, _ = HW_KNOBS[knob.kind]
                base = getattr(self.space.lut_core if core == "lut" else self.space.dsp_core,
                               field)
                x[j] = int(np.argmin([abs(c - base) for c in knob.choices]))
        return x

    # ------------------------------------------------------------------ raw evaluation

    def resources(self, lut: Any, dsp: Any, act_max: int) -> tuple[bool, float, list[str]]:
        """``(fits, max utilisation, violated limits)`` of a pair of cores whose DSP core runs
        activations of at most ``act_max`` bits (cached)."""
        key = (lut, dsp, act_max)
        hit = self._resource_cache.get(key)
        if hit is None:
            device = self.target.device
            used = total_resources(device, dsp, lut, act_max)
            fits, violations = check_feasible(used, device)
            util = max(v for v in utilisation(used, device).values() if np.isfinite(v))
            hit = (fits, float(util), violations)
            self._resource_cache[key] = hit
        return hit

    def _workload(self, rank_row: tuple[int, ...]) -> Any:
        wl = self._workload_cache.get(rank_row)
        if wl is None:
            if len(self._workload_cache) >= 4096:  # bounded: rank searches see many vectors
                self._workload_cache.clear()
            wl = (self.space.workload if not any(rank_row) else
                  apply_ranks(self.space.workload, [r or None for r in rank_row]))
            self._workload_cache[rank_row] = wl
        return wl

    @staticmethod
    def _group_keys(d: dict[str, Any]) -> tuple[IntArray, int]:
        """Rows sharing hardware knobs and ranks share one workload and one pair of cores."""
        return np.concatenate([d["hw"], d["rank"]], axis=1), int(d["hw"].shape[1])

    @staticmethod
    def _groups(keys: IntArray) -> list[IntArray]:
        if keys.shape[0] == 1 or keys.shape[1] == 0 or (keys == keys[0]).all():
            return [np.arange(keys.shape[0])]
        _, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.reshape(-1)
        return [np.nonzero(group == g)[0] for g in np.unique(group)]

    def _raw(self, X: IntArray) -> dict[str, Any]:
        """Latency, accuracy and resource fit of points, without budgets or repair."""
        d = self.space.decode_batch(X)
        n = X.shape[0]
        latency = np.empty(n)
        fits = np.empty(n, dtype=bool)
        util = np.empty(n)
        rho = d["lut_fraction"].copy()
        keys, n_hw = self._group_keys(d)
        for rows in self._groups(keys):
            hw_row = d["hw"][rows[0]]
            lut, dsp = self.space.cores_for(hw_row, d["hw_knobs"])
            wl = self._workload(tuple(int(r) for r in keys[rows[0], n_hw:]))
            res = self.target.evaluate_batch(wl, d["weight_bits"][rows], d["act_bits"][rows],
                                             rho[rows], lut_core=lut, dsp_core=dsp)
            latency[rows] = res.latency_ms
            rho[rows] = res.lut_fraction
            for r in rows:
                dsp_used = rho[r] < 1.0  # layers with channels left on the DSP core
                act_max = int(d["act_bits"][r][dsp_used].max()) if dsp_used.any() else 1
                ok, u, _ = self.resources(lut, dsp, act_max)
                fits[r] = ok and np.isfinite(latency[r])
                util[r] = u
        rank = d["rank"] if d["rank"].any() else None
        acc = np.asarray(self.oracle.estimate_batch(d["weight_bits"], d["act_bits"], rho, rank),
                         dtype=np.float64)
        return {"latency_ms": latency, "fits": fits, "util": util, "accuracy": acc, "rho": rho}

    # ------------------------------------------------------------------ budgets and reward

    def _score(self, X: IntArray, raw: dict[str, Any]) -> BatchEvaluation:
        obj = self.objective
        latency, acc = raw["latency_ms"], raw["accuracy"]
        drop = self.oracle.baseline - acc
        excess = np.zeros(len(latency))
        finite = np.isfinite(latency)
        excess[~finite] += 10.0
        if obj.require_fit:
            excess[finite & ~raw["fits"]] += 1.0
        if obj.latency_budget_ms is not None:
            over = np.where(finite, latency / obj.latency_budget_ms - 1.0, 0.0)
            excess += np.maximum(over, 0.0)
        if obj.max_accuracy_drop is not None:
            over = (drop - obj.max_accuracy_drop) / max(obj.max_accuracy_drop, 0.01)
            excess += np.maximum(over, 0.0)
        feasible = excess <= 0.0
        if obj.minimise == "latency":
            good = -np.minimum(np.where(finite, latency, np.inf) / self.reference_latency_ms, 2.0)
        else:
            good = -drop
        reward = np.where(feasible, good, -2.0 - excess)
        return BatchEvaluation(x=X, latency_ms=latency, accuracy=acc, accuracy_drop=drop,
                               max_utilisation=raw["util"], fits=raw["fits"], feasible=feasible,
                               reward=reward, lut_fraction=raw["rho"])

    # ------------------------------------------------------------------ public

    def evaluate_batch(self, X: Any) -> BatchEvaluation:
        """Evaluate points (int ``[n, n_knobs]``), applying the objective's constraint mode."""
        X = np.atleast_2d(np.asarray(X, dtype=np.int64)).copy()
        if X.shape[1] != len(self.space):
            raise CodesignError(f"points must have {len(self.space)} entries, got {X.shape[1]}")
        X = self.space.clip(X)
        if self.objective.mode == "repair":
            X = self.repair(X)
        elif self.objective.mode == "clamp":
            X = self.clamp(X)
        self.evaluations += X.shape[0]
        return self._score(X, self._raw(X))

    def evaluate(self, x: Any) -> dict[str, Any]:
        """One point, with the full cost breakdown (violated limits named)."""
        ev = self.evaluate_batch(np.asarray(x)[None, :])
        out = ev.row(0)
        design = self.space.decode(ev.x[0])
        lut = design.lut_core or self.space.lut_core
        dsp = design.dsp_core or self.space.dsp_core
        _, _, violations = self.resources(lut, dsp, int(max(design.act_bits)))
        out["violations"] = violations if self.objective.require_fit else []
        if self.objective.latency_budget_ms is not None and (
                out["latency_ms"] > self.objective.latency_budget_ms):
            out["violations"].append(f"latency {out['latency_ms']:.3f} ms > budget "
                                     f"{self.objective.latency_budget_ms:g} ms")
        if self.objective.max_accuracy_drop is not None and (
                out["accuracy_drop"] > self.objective.max_accuracy_drop):
            out["violations"].append(f"accuracy drop {out['accuracy_drop']:.4f} > budget "
                                     f"{self.objective.max_accuracy_drop:g}")
        out["lut_fraction"] = [float(v) for v in ev.lut_fraction[0]]
        return out

    def latency_ms(self, X: IntArray) -> FloatArray:
        """Latency of points as given (no repair, clamp, oracle or budget): what the repair
        and clamp modes and the environment's per-step clamp check against."""
        d = self.space.decode_batch(X)
        out = np.empty(X.shape[0])
        keys, n_hw = self._group_keys(d)
        for rows in self._groups(keys):
            lut, dsp = self.space.cores_for(d["hw"][rows[0]], d["hw_knobs"])
            wl = self._workload(tuple(int(r) for r in keys[rows[0], n_hw:]))
            out[rows] = self.target.evaluate_batch(wl, d["weight_bits"][rows], d["act_bits"][rows],
                                                   d["lut_fraction"][rows], lut_core=lut,
                                                   dsp_core=dsp).latency_ms
        return out

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
        all when None), the largest choice not above the requested one such that the design,
        completed with every later bit knob at its minimum, meets the latency budget. Later
        knobs are only assumed at their minimum while checking; they keep their values.
        Vectorised over the points: one batch evaluation per bit knob."""
        budget = self.objective.latency_budget_ms
        assert budget is not None
        X = np.atleast_2d(X).copy()
        knobs = self._bit_knobs if upto is None else self._bit_knobs[self._bit_knobs <= upto]
        for j in knobs:
            later = self._bit_knobs[self._bit_knobs > j]
            reps = X[:, j] + 1
            owner = np.repeat(np.arange(X.shape[0]), reps)
            trial = X[owner].copy()
            trial[:, j] = np.concatenate([np.arange(r) for r in reps])
            trial[:, later] = 0
            ok = self.latency_ms(trial) <= budget
            best = np.zeros(X.shape[0], dtype=np.int64)
            np.maximum.at(best, owner[ok], trial[ok, j])
            X[:, j] = best
        return X

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
