"""Problem and Objective against values worked out by hand.

The space is a real one (``n3h`` over a two-layer network on N3H-Core's ZCU102 cores: the LUT
core's row count, weight bits {2, 4, 8} and activation bits {4, 8} per layer, a LUT-fraction
knob per layer), but the target and the oracle are stubs with formulas simple enough to
evaluate by hand, since the problem layer talks to the target only through ``evaluate_batch``:

* latency (ms) = 0.01 * sum over layers of (weight bits * act bits) * 8 / rows; a design with
  one row cannot run (infinite latency);
* LUT used = 1000 * rows + 100 * sum(weight bits), of 12,000; DSP used = 10 * sum(act bits),
  of 150;
* accuracy = 0.7 - 0.001 * (sum(8 - weight bits) + sum(8 - act bits)) (baseline 0.7).

Knobs, in order: 0 rows (1, 2, 4, 8, 12, 16; preset 8 = index 3), 1 w0, 2 a0, 3 w1, 4 a1,
5-6 the LUT fractions (0.0, 0.1, ..., 1.0). The reference latency (every bit at 8, rows 8) is
0.01 * (64 + 64) = 1.28 ms.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from cost_models import BatchCost, get_target
from hwsim.errors import CodesignError
from hwsim.ir import Workload
from hwsim.ir.layers import Conv2d, Linear
from rl_search.problem import BatchEvaluation, Objective, Problem
from rl_search.spaces import make_space

REAL = get_target("n3h-zcu102")
WORKLOAD = Workload("two", (Conv2d("c1", 3, 8, 8, 8, 3, 3, padding=1),
                            Linear("fc", 8 * 8 * 8, 10)))


class StubTarget:
    name = "stub"

    def __init__(self, lut_limit: float = 12_000.0, runnable_one_row: bool = False,
                 inf_everywhere: bool = False, latency_dtype: Any = np.float64,
                 extra: bool = False) -> None:
        self.latency_dtype = latency_dtype
        self.extra = extra
        self.lut_limit = lut_limit
        self.runnable_one_row = runnable_one_row
        self.inf_everywhere = inf_everywhere
        self.calls = 0
        self.points = 0

    def evaluate_batch(self, workload: Any, batch: Any) -> BatchCost:
        self.calls += 1
        wb = np.asarray(batch.weight_bits, dtype=np.float64)
        ab = np.asarray(batch.act_bits, dtype=np.float64)
        n = wb.shape[0]
        self.points += n
        rows = np.asarray(batch.hardware.get("lut_core.rows", np.full(n, 8)), dtype=np.float64)
        runnable = np.ones(n, dtype=bool) if self.runnable_one_row else rows != 1
        if self.inf_everywhere:
            runnable[:] = False
        lat = np.where(runnable, 0.01 * (wb * ab).sum(axis=1) * 8.0 / rows, np.inf)
        lut = 1000.0 * rows + 100.0 * wb.sum(axis=1)
        dsp = 10.0 * ab.sum(axis=1)
        feasible = runnable & (lut <= self.lut_limit) & (dsp <= 150.0)
        frac = np.asarray(batch.mapping["lut_fraction"], dtype=np.float64) \
            if "lut_fraction" in batch.mapping else np.full(wb.shape, 0.5)
        resources = {"lut": lut, "dsp": dsp}
        limits = {"lut": self.lut_limit, "dsp": 150.0}
        if self.extra:  # FF: 500 per row of 6,000, no label; URAM: no limit at all
            resources |= {"ff": 500.0 * rows, "uram": np.full(n, 7.0)}
            limits |= {"ff": 6000.0}
        return BatchCost(cycles=lat * 1e5, latency_ms=lat.astype(self.latency_dtype),
                         runnable=runnable, feasible=feasible, resources=resources,
                         limits=limits, labels={"lut": "LUT", "dsp": "DSP"},
                         mapping={"lut_fraction": frac},
                         precision_share=np.ones(wb.shape), details={"rows": rows})


class StubOracle:
    baseline = 0.7

    def __init__(self) -> None:
        self.calls = 0

    def estimate_batch(self, weight_bits: Any, act_bits: Any, lut_fraction: Any,
                       rank: Any = None) -> np.ndarray:
        self.calls += 1
        wb, ab = np.asarray(weight_bits), np.asarray(act_bits)
        return 0.7 - 0.001 * ((8 - wb).sum(axis=1) + (8 - ab).sum(axis=1))


class FastOracle(StubOracle):
    """An oracle with the unchecked fast path: the problem must take it when it exists."""

    def __init__(self) -> None:
        super().__init__()
        self.fast_calls = 0

    def estimate_arrays(self, weight_bits: Any, act_bits: Any, lut_fraction: Any,
                        rank: Any = None) -> np.ndarray:
        self.fast_calls += 1
        return self.estimate_batch(weight_bits, act_bits, lut_fraction, rank) - 0.1


def space(**kw: Any) -> Any:
    return make_space("n3h", WORKLOAD, REAL, weight_bits=(2, 4, 8), act_bits=(4, 8),
                      pin_edges=False, hardware=["lut_core.rows"], split="choose", **kw)


def problem(objective: Objective | None = None, target: Any = None, oracle: Any = None
            ) -> Problem:
    return Problem(space(), target or StubTarget(), oracle or StubOracle(),
                   objective or Objective())


# Points used below, with their hand-computed figures:
# P: rows 8, w (4, 8), a (8, 4): latency 0.01 * (32 + 32) = 0.64 ms; drop 0.001 * (4 + 4) =
#    0.008; LUT 8000 + 1200 = 9200, DSP 120: fits.
P = [3, 1, 1, 2, 0, 5, 10]
# Q: rows 16, every bit at 8: latency 1.28 * 8 / 16 = 0.64 ms; drop 0; LUT 16000 + 1600 =
#    17,600 > 12,000 and DSP 160 > 150: does not fit.
Q = [5, 2, 1, 2, 1, 0, 0]
# R: rows 1: cannot run; w (2, 2) a (4, 4): drop 0.001 * (12 + 8) = 0.020; LUT 1000 + 400.
R = [0, 0, 0, 0, 0, 0, 0]
# S: rows 4, w (2, 8), a (4, 8): latency 0.01 * (8 + 64) * 2 = 1.44 ms; drop 0.010 (on the
#    budget); LUT 4000 + 1000, DSP 120: fits.
S = [2, 0, 0, 2, 1, 3, 3]


# ---------------------------------------------------------------------------- Objective


def test_objective_defaults() -> None:
    o = Objective()
    assert (o.minimise, o.latency_budget_ms, o.max_accuracy_drop, o.require_fit, o.mode) == (
        "latency", None, 0.01, True, "penalty")


@pytest.mark.parametrize("kwargs", [
    {"minimise": "accuracy_drop"},
    {"latency_budget_ms": 1e-9},
    {"max_accuracy_drop": 0.0}, {"max_accuracy_drop": 1.0}, {"max_accuracy_drop": None},
    {"mode": "repair", "latency_budget_ms": 1.0}, {"mode": "clamp", "latency_budget_ms": 1.0},
])
def test_objective_accepts_the_documented_range(kwargs: dict[str, Any]) -> None:
    Objective(**kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"minimise": "energy"},
     "objective.minimise must be one of ('latency', 'accuracy_drop'), got 'energy'"),
    ({"mode": "soft"}, "objective.mode must be one of ('penalty', 'repair', 'clamp'), got 'soft'"),
    ({"latency_budget_ms": 0.0}, "latency budget must be > 0 ms, got 0.0"),
    ({"latency_budget_ms": -1.0}, "latency budget must be > 0 ms, got -1.0"),
    ({"latency_budget_ms": math.nan}, "latency budget must be > 0 ms, got nan"),
    ({"max_accuracy_drop": -0.01}, "max accuracy drop must be in [0, 1], got -0.01"),
    ({"max_accuracy_drop": 1.01}, "max accuracy drop must be in [0, 1], got 1.01"),
    ({"max_accuracy_drop": math.nan}, "max accuracy drop must be in [0, 1], got nan"),
    ({"mode": "repair"}, "constraint mode 'repair' needs a latency budget"),
    ({"mode": "clamp"}, "constraint mode 'clamp' needs a latency budget"),
])
def test_objective_refuses_with_a_message(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(CodesignError) as info:
        Objective(**kwargs)
    assert str(info.value) == message


# ---------------------------------------------------------------------------- construction


def test_problem_construction() -> None:
    target, oracle, obj = StubTarget(), StubOracle(), Objective(max_accuracy_drop=0.02)
    sp = space()
    p = Problem(sp, target, oracle, obj)
    assert p.space is sp and p.target is target and p.oracle is oracle and p.objective is obj
    assert p.evaluations == 0  # the reference evaluation is not counted
    assert p.reference_latency_ms == pytest.approx(1.28)
    assert p._bit_knobs.dtype == np.int64
    np.testing.assert_array_equal(p._bit_knobs, [1, 2, 3, 4])
    # bits at the top, rows at the preset (8 = index 3), mapping knobs at their first choice
    np.testing.assert_array_equal(p.max_bits_point(), [3, 2, 1, 2, 1, 0, 0])


def test_reference_latency_falls_back_to_one_when_infinite() -> None:
    p = problem(target=StubTarget(inf_everywhere=True))
    assert p.reference_latency_ms == 1.0


# ---------------------------------------------------------------------------- evaluation


def test_evaluate_batch_by_hand() -> None:
    p = problem()
    ev = p.evaluate_batch(np.array([P, Q, R, S]))
    assert p.evaluations == 4
    assert len(ev) == 4
    np.testing.assert_array_equal(ev.x, [P, Q, R, S])
    np.testing.assert_allclose(ev.latency_ms, [0.64, 0.64, math.inf, 1.44])
    np.testing.assert_allclose(ev.accuracy, [0.692, 0.7, 0.68, 0.69])
    np.testing.assert_allclose(ev.accuracy_drop, [0.008, 0.0, 0.02, 0.01], atol=1e-12)
    # max(LUT / 12000, DSP / 150)
    np.testing.assert_allclose(ev.max_utilisation, [max(9200 / 12000, 120 / 150),
                                                    17600 / 12000, 80 / 150,
                                                    max(5000 / 12000, 120 / 150)])
    np.testing.assert_array_equal(ev.fits, [True, False, False, True])
    # S's drop is 0.01 in floating point: 0.7 - 0.69 may land a hair either side of the budget
    assert ev.feasible[:3].tolist() == [True, False, False]
    # P: -0.64 / 1.28; Q: -2 - 1 (does not fit) - 0 (drop); R: -2 - 10 (cannot run) - (0.02 -
    # 0.01) / 0.01 = -13
    np.testing.assert_allclose(ev.reward[:3], [-0.5, -3.0, -13.0])
    np.testing.assert_allclose(ev.mapping["lut_fraction"], [[0.5, 1.0], [0, 0], [0, 0],
                                                            [0.3, 0.3]])
    assert isinstance(ev.cost, BatchCost)
    np.testing.assert_allclose(ev.cost.resources["lut"], [9200, 17600, 1400, 5000])


def test_out_of_range_indices_are_clipped_and_whole_floats_accepted() -> None:
    p = problem()
    ev = p.evaluate_batch([[9, 1, 1, 7, -3, 5, 10], [3.0, 1.0, 1.0, 2.0, 0.0, 5.0, 10.0]])
    np.testing.assert_array_equal(ev.x, [[5, 1, 1, 2, 0, 5, 10], P])
    assert ev.x.dtype == np.int64
    np.testing.assert_allclose(ev.latency_ms, [0.01 * 64 * 8 / 16, 0.64])
    ev1 = p.evaluate_batch(np.array(P, dtype=np.int32))  # one point, any int dtype
    np.testing.assert_array_equal(ev1.x, [P])
    assert p.evaluations == 3


def test_points_given_as_bools_and_the_input_array() -> None:
    p = problem()
    X = np.array([[True] * 7])
    ev = p.evaluate_batch(X)
    np.testing.assert_array_equal(ev.x, [[1] * 7])
    Y = np.array([[9, 1, 1, 2, 0, 5, 10]])
    p.evaluate_batch(Y)
    np.testing.assert_array_equal(Y, [[9, 1, 1, 2, 0, 5, 10]])  # the caller's array is kept


# the message quotes the first entry as repr() writes a numpy scalar of the array's dtype
F = "points must hold whole-number choice indices, got dtype float64 ({!r} ...)"


@pytest.mark.parametrize(("X", "message"), [
    ([[1, 2, 3]], "points must have shape [n, 7] (one choice index per knob), got (1, 3)"),
    (np.zeros((1, 1, 7)), "points must have shape [n, 7] (one choice index per knob), got "
                          "(1, 1, 7)"),
    ([[1.5] * 7], F.format(np.float64(1.5))),
    ([[2.5, 3.0] + [0.0] * 5], F.format(np.float64(2.5))),  # the first entry is quoted
    ([[math.nan] * 7], F.format(np.float64(math.nan))),
    ([[math.inf] * 7], F.format(np.float64(math.inf))),
    ([[-math.inf] * 7], F.format(np.float64(-math.inf))),
    ([[2.0**62] * 7], F.format(np.float64(2.0**62))),
    ([[-(2.0**62)] * 7], F.format(np.float64(-(2.0**62)))),
    ([["a"] * 7], f"points must hold whole-number choice indices, got dtype <U1 "
                  f"({np.str_('a')!r} ...)"),
    (np.zeros((0, 7), dtype="<U1"), "points must hold whole-number choice indices, got dtype "
                                    "<U1 ('empty' ...)"),
])
def test_bad_points_are_refused(X: Any, message: str) -> None:
    p = problem()
    with pytest.raises(CodesignError) as info:
        p.evaluate_batch(X)
    assert str(info.value) == message
    assert p.evaluations == 0


def test_ragged_points_are_refused() -> None:
    p = problem()
    with pytest.raises(CodesignError) as info:
        p.evaluate_batch([[1, 2], [1]])
    assert str(info.value).startswith("points must be an int array [n, 7]: ")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_large_whole_floats_below_the_limit_are_accepted() -> None:
    p = problem()
    ev = p.evaluate_batch([[-(2.0**61)] * 7])  # whole, below 2^62: clipped to 0
    np.testing.assert_array_equal(ev.x, [R])


def test_empty_batch() -> None:
    p = problem()
    target = p.target
    before = target.calls
    for X in (np.zeros((0, 7), dtype=np.int64), np.zeros((0, 7))):
        ev = p.evaluate_batch(X)
        assert len(ev) == 0
        assert ev.x.shape == (0, 7) and ev.x.dtype == np.int64
        for name in ("latency_ms", "accuracy", "accuracy_drop", "max_utilisation", "reward"):
            assert getattr(ev, name).shape == (0,)
            assert getattr(ev, name).dtype == np.float64
        assert ev.fits.dtype == np.bool_ and ev.feasible.dtype == np.bool_
        assert ev.fits.shape == (0,) and ev.feasible.shape == (0,)
        assert ev.mapping == {} and ev.cost is None
    assert p.evaluations == 0 and target.calls == before


def test_accuracy_objective_and_budgets() -> None:
    # accuracy_drop goal, latency budget 0.7 ms: P feasible (reward -drop = -0.008); Q does
    # not fit (-2 - 1); S: 1.44 ms is (1.44 / 0.7 - 1) over budget, drop 0.01 within the
    # default budget up to rounding, so its reward is -2 - 1.44/0.7 + 1 (- rounding)
    p = problem(Objective(minimise="accuracy_drop", latency_budget_ms=0.7))
    ev = p.evaluate_batch(np.array([P, Q, S]))
    np.testing.assert_allclose(ev.reward, [-0.008, -3.0, -2.0 - (1.44 / 0.7 - 1.0)], atol=1e-9)
    assert ev.feasible.tolist() == [True, False, False]


def test_no_fit_requirement_and_no_drop_budget() -> None:
    # Q does not fit but is not required to: feasible, -0.64 / 1.28; R cannot run: -2 - 10
    p = problem(Objective(require_fit=False, max_accuracy_drop=None))
    ev = p.evaluate_batch(np.array([Q, R]))
    np.testing.assert_allclose(ev.reward, [-0.5, -12.0])
    assert ev.feasible.tolist() == [True, False]
    assert ev.fits.tolist() == [False, False]


def test_tight_drop_budget_uses_the_floor_of_one_point() -> None:
    # max drop 0.005: P's drop 0.008 is over by 0.003, relative to max(0.005, 0.01) = 0.01
    p = problem(Objective(max_accuracy_drop=0.005))
    ev = p.evaluate_batch(np.array([P]))
    np.testing.assert_allclose(ev.reward, [-2.3])
    # and with a budget of 0.04 (above the floor): R over by nothing in drop
    p2 = problem(Objective(max_accuracy_drop=0.004))
    np.testing.assert_allclose(p2.evaluate_batch(np.array([P])).reward, [-2.4])


def test_fast_oracle_path_is_used() -> None:
    oracle = FastOracle()
    p = problem(oracle=oracle)
    ev = p.evaluate_batch(np.array([P]))
    np.testing.assert_allclose(ev.accuracy, [0.592])  # the fast path's (stub) figure
    assert oracle.fast_calls == 2  # the reference latency and this batch
    assert oracle.calls == 2  # the stub's fast path calls estimate_batch itself


# ---------------------------------------------------------------------------- evaluate / rows


def test_evaluate_one_point() -> None:
    p = problem()
    out = p.evaluate(P)
    assert out == {"x": P, "latency_ms": pytest.approx(0.64), "accuracy": pytest.approx(0.692),
                   "accuracy_drop": pytest.approx(0.008),
                   "max_utilisation": pytest.approx(0.8), "fits": True, "feasible": True,
                   "reward": pytest.approx(-0.5), "violations": [],
                   "mapping": {"lut_fraction": [0.5, 1.0]}}
    assert type(out["latency_ms"]) is float and type(out["fits"]) is bool
    assert all(type(v) is float for v in out["mapping"]["lut_fraction"])
    assert p.evaluations == 1


def test_evaluate_infeasible_point_names_every_violation() -> None:
    p = problem(Objective(latency_budget_ms=0.5, max_accuracy_drop=0.005))
    out = p.evaluate(Q)
    # Q: 0.64 ms > 0.5; LUT 17,600 > 12,000 (146.7%); DSP 160 > 150 (106.7%); drop 0 is fine
    assert out["violations"] == ["LUT 17,600 > 12,000 (146.7%)", "DSP 160 > 150 (106.7%)",
                                 "latency 0.640 ms > budget 0.5 ms"]
    assert out["feasible"] is False
    out = p.evaluate(R)
    # R cannot run: named once as such, and its infinite latency is over the budget too
    assert out["violations"] == ["a layer cannot run on the hardware (infinite latency)",
                                 "latency inf ms > budget 0.5 ms",
                                 "accuracy drop 0.0200 > budget 0.005"]


def test_violations_batch_and_rows() -> None:
    p = problem(Objective(latency_budget_ms=0.6))
    ev = p.evaluate_batch(np.array([P, Q, R]))
    assert p.violations_batch(ev) == [
        ["latency 0.640 ms > budget 0.6 ms"],
        ["LUT 17,600 > 12,000 (146.7%)", "DSP 160 > 150 (106.7%)",
         "latency 0.640 ms > budget 0.6 ms"],
        ["a layer cannot run on the hardware (infinite latency)",
         "latency inf ms > budget 0.6 ms", "accuracy drop 0.0200 > budget 0.01"],
    ]
    assert p.violations(ev, 1) == ["LUT 17,600 > 12,000 (146.7%)", "DSP 160 > 150 (106.7%)",
                                   "latency 0.640 ms > budget 0.6 ms"]
    assert p.violations(ev, 0) == ["latency 0.640 ms > budget 0.6 ms"]
    assert p.violations(ev.take([2]), 0) == [
        "a layer cannot run on the hardware (infinite latency)",
        "latency inf ms > budget 0.6 ms", "accuracy drop 0.0200 > budget 0.01"]
    # a feasible design, alone or in a batch, violates nothing
    ok = p.evaluate_batch(np.array([P, P]))
    assert p.violations_batch(problem().evaluate_batch(np.array([P]))) == [[]]
    assert problem().violations_batch(ok) == [[], []]


def test_violations_without_fit_requirement_or_budgets() -> None:
    p = problem(Objective(require_fit=False, max_accuracy_drop=None))
    ev = p.evaluate_batch(np.array([Q, R]))
    assert p.violations_batch(ev) == [[], ["a layer cannot run on the hardware (infinite "
                                           "latency)"]]


def test_violations_of_a_logged_evaluation_recompute_the_cost_uncounted() -> None:
    p = problem()
    ev = p.evaluate_batch(np.array([Q, P]))
    logged = BatchEvaluation(x=ev.x, latency_ms=ev.latency_ms, accuracy=ev.accuracy,
                             accuracy_drop=ev.accuracy_drop, max_utilisation=ev.max_utilisation,
                             fits=ev.fits, feasible=ev.feasible, reward=ev.reward,
                             mapping=ev.mapping)
    calls = p.target.calls
    assert p.violations_batch(logged) == [["LUT 17,600 > 12,000 (146.7%)",
                                           "DSP 160 > 150 (106.7%)"], []]
    assert p.target.calls == calls + 1 and p.evaluations == 2


def test_row_take_and_concat() -> None:
    p = problem()
    ev = p.evaluate_batch(np.array([P, Q, R]))
    row = ev.row(1)
    assert row == {"x": Q, "latency_ms": pytest.approx(0.64), "accuracy": pytest.approx(0.7),
                   "accuracy_drop": pytest.approx(0.0, abs=1e-12),
                   "max_utilisation": pytest.approx(17600 / 12000), "fits": False,
                   "feasible": False, "reward": pytest.approx(-3.0)}
    assert type(row["x"][0]) is int and type(row["feasible"]) is bool
    assert type(row["accuracy"]) is float and type(row["reward"]) is float
    assert type(row["max_utilisation"]) is float and type(row["accuracy_drop"]) is float
    for rows, idx in ((slice(1, 3), [1, 2]), (np.array([2, 0]), [2, 0]), ([1], [1])):
        part = ev.take(rows)
        assert len(part) == len(idx)
        for name in ("x", "latency_ms", "accuracy", "accuracy_drop", "max_utilisation", "fits",
                     "feasible", "reward"):
            np.testing.assert_array_equal(getattr(part, name), getattr(ev, name)[idx])
        np.testing.assert_array_equal(part.mapping["lut_fraction"],
                                      ev.mapping["lut_fraction"][idx])
        c, full = part.cost, ev.cost
        assert c is not None and full is not None
        for name in ("cycles", "latency_ms", "runnable", "feasible", "precision_share"):
            np.testing.assert_array_equal(getattr(c, name), getattr(full, name)[idx])
        for name in ("resources", "mapping", "details"):
            assert set(getattr(c, name)) == set(getattr(full, name))
            for k, v in getattr(c, name).items():
                np.testing.assert_array_equal(v, getattr(full, name)[k][idx])
        assert c.limits == full.limits and c.labels == full.labels
    logged = BatchEvaluation(x=ev.x, latency_ms=ev.latency_ms, accuracy=ev.accuracy,
                             accuracy_drop=ev.accuracy_drop, max_utilisation=ev.max_utilisation,
                             fits=ev.fits, feasible=ev.feasible, reward=ev.reward,
                             mapping=ev.mapping)
    assert logged.take([0]).cost is None
    both = BatchEvaluation.concat([ev.take([2]), p._empty(), ev.take([0, 1])])
    np.testing.assert_array_equal(both.x, [R, P, Q])
    np.testing.assert_array_equal(both.reward, ev.reward[[2, 0, 1]])
    np.testing.assert_array_equal(both.mapping["lut_fraction"],
                                  ev.mapping["lut_fraction"][[2, 0, 1]])
    assert both.cost is not None
    np.testing.assert_array_equal(both.cost.latency_ms, ev.latency_ms[[2, 0, 1]])
    for name in ("x", "latency_ms", "accuracy", "accuracy_drop", "max_utilisation", "fits",
                 "feasible", "reward"):
        np.testing.assert_array_equal(getattr(both, name), getattr(ev, name)[[2, 0, 1]])
    # only empty parts: the first one stands for them all (its cost kept, even when a later
    # empty part has none)
    nothing = BatchEvaluation.concat([ev.take([]), logged.take([])])
    assert len(nothing) == 0 and nothing.cost is not None and len(nothing.cost) == 0
    assert set(nothing.mapping) == {"lut_fraction"}
    mixed = BatchEvaluation.concat([ev.take([2]), logged.take([0])])
    assert mixed.cost is None and len(mixed) == 2
    empty = BatchEvaluation.concat([p._empty()])
    assert len(empty) == 0


# ---------------------------------------------------------------------------- repair / clamp


def test_latency_of_points_as_given() -> None:
    p = problem()
    np.testing.assert_allclose(p.latency_ms(np.array(P)), [0.64])
    np.testing.assert_allclose(p.latency_ms(np.array([P, S])), [0.64, 1.44])
    assert p.evaluations == 0


TOP = [3, 2, 1, 2, 1, 4, 4]  # rows 8, every bit at 8: 1.28 ms


def test_repair_by_hand() -> None:
    """From W8A8 everywhere at rows 8, lowering walks a1, w1, a0, w0, a1, ...:
    a1 -> 4: 0.01 * (64 + 32) = 0.96; w1 -> 4: 0.80; a0 -> 4: 0.48; w0 -> 4: 0.32;
    (a1 at its minimum) w1 -> 2: 0.24; (a0 at its minimum) w0 -> 2: 0.16 (the minimum)."""
    p = problem(Objective(latency_budget_ms=0.5, mode="repair"))
    X = np.array([TOP, TOP, P, TOP], dtype=np.int64)
    X[3, 0] = 5  # rows 16: 0.64 ms; a1 -> 4: 0.48
    out = p.repair(X)
    np.testing.assert_array_equal(out[:, 1:5], [[2, 0, 1, 0], [2, 0, 1, 0], [1, 1, 1, 0],
                                                [2, 1, 2, 0]])
    np.testing.assert_array_equal(out[:, [0, 5, 6]], X[:, [0, 5, 6]])
    np.testing.assert_array_equal(X[0], TOP)  # the input is kept
    # P (0.64 ms) lowered a1 (already 4, skipped) then w1 8 -> 4: 0.01 * (32 + 16) = 0.48

    tighter = problem(Objective(latency_budget_ms=0.2, mode="repair"))
    np.testing.assert_array_equal(tighter.repair(np.array([TOP]))[0, 1:5], [0, 0, 0, 0])
    impossible = problem(Objective(latency_budget_ms=0.1, mode="repair"))
    np.testing.assert_array_equal(impossible.repair(np.array([TOP, P]))[:, 1:5],
                                  [[0, 0, 0, 0], [0, 0, 0, 0]])  # stops at the minimum
    at = problem(Objective(latency_budget_ms=0.32, mode="repair"))
    np.testing.assert_array_equal(at.repair(np.array([TOP]))[0, 1:5], [1, 0, 1, 0])  # == 0.32


def test_evaluate_batch_in_repair_mode() -> None:
    p = problem(Objective(latency_budget_ms=0.5, mode="repair"))
    ev = p.evaluate_batch(np.array([TOP]))
    np.testing.assert_array_equal(ev.x, [[3, 2, 0, 1, 0, 4, 4]])
    np.testing.assert_allclose(ev.latency_ms, [0.48])
    assert p.evaluations == 1


def test_clamp_knob_by_hand() -> None:
    p = problem(Objective(latency_budget_ms=0.3, mode="clamp"))
    X = np.array([TOP, TOP, TOP])
    # knob 1 (w0) with a0, w1, a1 at their minimum (4, 2, 4): 0.01 * (w0 * 4 + 8) = 0.16,
    # 0.24, 0.40 for w0 = 2, 4, 8: within 0.3 up to w0 = 4
    best, lat = p.clamp_knob(X, 1, [2, 0, 1])
    np.testing.assert_array_equal(best, [1, 0, 1])
    np.testing.assert_allclose(lat, [0.24, 0.16, 0.24])
    best, lat = p.clamp_knob(X[:1], 1, 2)
    np.testing.assert_array_equal(best, [1])
    # budget below every choice: the lowest choice, with its latency
    low = problem(Objective(latency_budget_ms=0.1, mode="clamp"))
    best, lat = low.clamp_knob(X[:2], 1, [2, 1])
    np.testing.assert_array_equal(best, [0, 0])
    np.testing.assert_allclose(lat, [0.16, 0.16])
    # on the budget exactly: 0.24 <= 0.24
    on = problem(Objective(latency_budget_ms=0.24, mode="clamp"))
    np.testing.assert_array_equal(on.clamp_knob(X[:1], 1, [2])[0], [1])
    # a knob that is not a bit knob is not clamped: rows 12 with every later bit knob at
    # its minimum: 0.01 * (8 + 8) * 8 / 12
    best, lat = p.clamp_knob(X[:2], 0, [4, 1])
    np.testing.assert_array_equal(best, [4, 1])
    np.testing.assert_allclose(lat, [0.16 * 8 / 12, 0.16 * 8 / 2])
    np.testing.assert_array_equal(X, [TOP, TOP, TOP])  # untouched
    # the last bit knob (a1): no later knob; w0 8, a0 8, w1 8: 0.01 * (64 + 8 * a1)
    best, lat = problem(Objective(latency_budget_ms=1.0, mode="clamp")).clamp_knob(X[:1], 4, 1)
    np.testing.assert_array_equal(best, [0])
    np.testing.assert_allclose(lat, [0.96])
    # a mapping knob after every bit knob: not clamped, latency of the point as it is
    best, lat = p.clamp_knob(X[:1], 6, 7)
    np.testing.assert_array_equal(best, [7])
    np.testing.assert_allclose(lat, [1.28])


def test_clamp_by_hand() -> None:
    """Budget 0.5 from W8A8: w0 8 (0.01 * (32 + 8) = 0.40 with the rest at minimum), a0 4
    (8: 0.72), w1 4 (0.01 * (32 + 16) = 0.48; 8: 0.64), a1 4 (8: 0.64)."""
    p = problem(Objective(latency_budget_ms=0.5, mode="clamp"))
    np.testing.assert_array_equal(p.clamp(np.array(TOP)), [[3, 2, 0, 1, 0, 4, 4]])
    np.testing.assert_array_equal(p.clamp(np.array([TOP]), upto=2), [[3, 2, 0, 2, 1, 4, 4]])
    np.testing.assert_array_equal(p.clamp(np.array([TOP]), upto=1), [TOP])
    np.testing.assert_array_equal(p.clamp(np.array([TOP]), upto=3), [[3, 2, 0, 1, 1, 4, 4]])
    ev = p.evaluate_batch(np.array([TOP]))
    np.testing.assert_array_equal(ev.x, [[3, 2, 0, 1, 0, 4, 4]])
    np.testing.assert_allclose(ev.latency_ms, [0.48])


# ---------------------------------------------------------------------------- cheapest


def test_cheapest_over_every_hardware_configuration() -> None:
    """Every bit at its minimum (w 2, a 4): 0.16 ms at rows 8; rows 1 cannot run, rows 2 and 4
    are slower (0.64, 0.32), rows 12 and 16 are faster but do not fit (LUT 12,400 and 16,400
    > 12,000). Accuracy 0.7 - 0.001 * (12 + 8) = 0.68."""
    p = problem(Objective(latency_budget_ms=0.2))
    assert p.cheapest() == {"x": [3, 0, 0, 0, 0, 0, 0], "latency_ms": pytest.approx(0.16),
                            "accuracy": pytest.approx(0.68), "fits": True,
                            "hardware_points": 6}
    assert p.evaluations == 0


def test_cheapest_with_nothing_that_fits_takes_the_lowest_latency() -> None:
    p = problem(target=StubTarget(lut_limit=100.0))
    assert p.cheapest() == {"x": [5, 0, 0, 0, 0, 0, 0], "latency_ms": pytest.approx(0.08),
                            "accuracy": pytest.approx(0.68), "fits": False,
                            "hardware_points": 6}


def test_cheapest_samples_when_there_are_too_many_configurations() -> None:
    p = problem()
    # the documented seeded sample: uniform indices, drawn as the space draws points
    for seed in (0, 3):
        rows = (np.random.default_rng(seed).random((4, 1)) * 6).astype(np.int64)[:, 0]
        lat = {0: math.inf, 1: 0.64, 2: 0.32, 3: 0.16, 4: math.inf, 5: math.inf}
        # (rows 12 and 16 do not fit: treated as infinite when anything fits)
        raw = {0: math.inf, 1: 0.64, 2: 0.32, 3: 0.16, 4: 0.16 * 8 / 12, 5: 0.08}
        fits = [i for i in rows.tolist() if math.isfinite(lat[i])]
        best = min(fits, key=lambda i: lat[i]) if fits else min(rows.tolist(),
                                                                  key=lambda i: raw[i])
        out = p.cheapest(max_hardware=4, seed=seed)
        assert out["hardware_points"] == 4
        assert out["x"] == [best, 0, 0, 0, 0, 0, 0]
        assert out["latency_ms"] == pytest.approx(raw[best])
    # six configurations fit under max_hardware = 6: enumerated, not sampled
    assert p.cheapest(max_hardware=6)["x"] == [3, 0, 0, 0, 0, 0, 0]
    assert p.cheapest(max_hardware=5)["hardware_points"] == 5


def test_cheapest_without_hardware_knobs() -> None:
    sp = make_space("haq", WORKLOAD, REAL, weight_bits=(2, 4, 8), act_bits=(4, 8),
                    pin_edges=False)
    p = Problem(sp, StubTarget(), StubOracle(), Objective())
    assert p.cheapest() == {"x": [0, 0, 0, 0], "latency_ms": pytest.approx(0.16),
                            "accuracy": pytest.approx(0.68), "fits": True,
                            "hardware_points": 1}


def test_check_budgets_reachable() -> None:
    problem(Objective(latency_budget_ms=0.16)).check_budgets_reachable()  # exactly reachable
    problem(Objective(latency_budget_ms=0.2)).check_budgets_reachable()
    target = StubTarget()
    p = problem(Objective(), target=target)
    calls = target.calls
    assert p.check_budgets_reachable() is None  # no latency budget: nothing to check
    assert target.calls == calls
    with pytest.raises(CodesignError) as info:
        problem(Objective(latency_budget_ms=0.15)).check_budgets_reachable()
    assert str(info.value) == (
        "no design in space 'n3h' can meet the latency budget of 0.15 ms: the cheapest "
        "(every bit-width and rank at its minimum, best of 6 hardware configuration(s)) takes "
        "0.160 ms at accuracy 0.6800")


def test_latency_is_reported_in_double_precision() -> None:
    """A target handing back single-precision latencies still gives float64 figures."""
    p = problem(target=StubTarget(latency_dtype=np.float32))
    ev = p.evaluate_batch(np.array([P]))
    assert ev.latency_ms.dtype == np.float64
    np.testing.assert_allclose(ev.latency_ms, [0.64], rtol=1e-6)
    np.testing.assert_allclose(ev.reward, [-0.5], rtol=1e-6)


def test_max_bits_point_puts_mapping_knobs_at_their_first_choice() -> None:
    """Even when a mapping knob's base choice is another one (a hand-built space)."""
    import dataclasses

    from rl_search.spaces import DesignSpace

    sp = space()
    knobs = [dataclasses.replace(k, base_index=7) if k.kind == "mapping" else k
             for k in sp.knobs]
    hand = DesignSpace("hand", sp.workload, knobs, sp.base, REAL)
    np.testing.assert_array_equal(hand.base_point(), [3, 2, 1, 2, 1, 7, 7])
    p = Problem(hand, StubTarget(), StubOracle(), Objective())
    np.testing.assert_array_equal(p.max_bits_point(), [3, 2, 1, 2, 1, 0, 0])


RANK_WORKLOAD = Workload("r", (Linear("fc1", 256, 256), Linear("fc2", 256, 64)))


def test_space_without_bit_knobs() -> None:
    """A rank-only space (fc1: 16 rank choices, fc2: 4; dense last): nothing to repair or
    clamp; every bit at 8 (the base), rows 8: 0.01 * (64 + 64) = 1.28 ms."""
    sp = make_space("rank", RANK_WORKLOAD, REAL)
    assert [k.kind for k in sp.knobs] == ["rank", "rank"]
    p = Problem(sp, StubTarget(), StubOracle(), Objective(latency_budget_ms=0.5, mode="clamp"))
    assert p._bit_knobs.dtype == np.int64 and p._bit_knobs.shape == (0,)
    X = np.array([[3, 1], [15, 3]])
    np.testing.assert_array_equal(p.repair(X), X)
    np.testing.assert_array_equal(p.clamp(X), X)
    best, lat = p.clamp_knob(X, 0, [5, 2])
    np.testing.assert_array_equal(best, [5, 2])
    np.testing.assert_allclose(lat, [1.28, 1.28])
    ev = p.evaluate_batch(X)
    np.testing.assert_array_equal(ev.x, X)


def test_violations_name_unlabelled_resources_and_skip_unlimited_ones() -> None:
    """FF (no label: named by its key) 8,000 > 6,000 at rows 16; at rows 12 it uses exactly
    6,000, which is within the limit; URAM has no limit and is never over."""
    p = problem(target=StubTarget(extra=True))
    rows12 = [4, 2, 1, 2, 1, 0, 0]  # LUT 12,000 + 1,600 = 13,600 (113.3%), DSP 160 (106.7%)
    ev = p.evaluate_batch(np.array([Q, rows12]))
    assert p.violations_batch(ev) == [
        ["LUT 17,600 > 12,000 (146.7%)", "DSP 160 > 150 (106.7%)", "ff 8,000 > 6,000 (133.3%)"],
        ["LUT 13,600 > 12,000 (113.3%)", "DSP 160 > 150 (106.7%)"]]


def test_violations_of_row_one_of_two_and_on_the_latency_budget() -> None:
    # budget 0.64 ms: P takes exactly 0.64 (within), Q too but does not fit
    p = problem(Objective(latency_budget_ms=0.64))
    ev = p.evaluate_batch(np.array([Q, P]))
    assert ev.latency_ms.tolist() == [0.64, 0.64]
    assert p.violations(ev, 1) == []
    assert p.violations(ev, 0) == ["LUT 17,600 > 12,000 (146.7%)", "DSP 160 > 150 (106.7%)"]
    assert p.violations_batch(ev) == [["LUT 17,600 > 12,000 (146.7%)",
                                       "DSP 160 > 150 (106.7%)"], []]


def test_violations_use_the_kept_cost_without_evaluating_again() -> None:
    p = problem()
    ev = p.evaluate_batch(np.array([Q, P]))
    calls = p.target.calls
    assert p.violations_batch(ev)[0] == ["LUT 17,600 > 12,000 (146.7%)", "DSP 160 > 150 (106.7%)"]
    assert p.violations(ev, 0)[0] == "LUT 17,600 > 12,000 (146.7%)"
    assert p.target.calls == calls


class DyadicOracle:
    """Accuracies exact in binary: 0.75 less 1/16 per weight bit-width below 8."""

    baseline = 0.75

    def estimate_batch(self, weight_bits: Any, act_bits: Any, lut_fraction: Any,
                       rank: Any = None) -> np.ndarray:
        return 0.75 - 0.0625 * (np.asarray(weight_bits) < 8).sum(axis=1)


def test_drop_exactly_on_its_budget_is_no_violation() -> None:
    # P: one weight below 8: drop 0.0625, on the budget; R: two: 0.125 > 0.0625
    p = problem(Objective(max_accuracy_drop=0.0625), oracle=DyadicOracle())
    ev = p.evaluate_batch(np.array([P, R]))
    assert ev.accuracy_drop.tolist() == [0.0625, 0.125]
    assert p.violations_batch(ev) == [[], [
        "a layer cannot run on the hardware (infinite latency)",
        "accuracy drop 0.1250 > budget 0.0625"]]


def test_repair_leaves_a_point_on_the_budget_and_handles_one_bit_knob() -> None:
    p = problem(Objective(latency_budget_ms=0.64, mode="repair"))
    np.testing.assert_array_equal(p.repair(np.array([P])), [P])  # 0.64 ms: within
    # a hand-built space whose only bit knob is w0 (a0, w1, a1 stay at the base's 8 bits):
    # 0.01 * (8 * w0 + 64) = 1.28, 0.96, 0.80 ms for w0 = 8, 4, 2
    from rl_search.spaces import DesignSpace

    sp = space()
    knobs = [k for k in sp.knobs if k.kind not in ("act_bits",) and k.name != "fc.weight_bits"]
    assert [k.kind for k in knobs] == ["hardware", "weight_bits", "mapping", "mapping"]
    one = Problem(DesignSpace("one", sp.workload, knobs, sp.base, REAL), StubTarget(),
                  StubOracle(), Objective(latency_budget_ms=1.0, mode="repair"))
    np.testing.assert_array_equal(one.repair(np.array([[3, 2, 0, 0]])), [[3, 1, 0, 0]])


def test_repair_goes_below_one_step_above_the_minimum() -> None:
    """Activation bits {2, 4, 8}; from w (4, 4) a (4, 8) at rows 8 (0.01 * (16 + 32) = 0.48),
    budget 0.1: a1 -> 4 (every bit knob now one step above its minimum: 0.32), w1 -> 2 (0.24),
    a0 -> 2 (0.16), w0 -> 2 (0.12), a1 -> 2: 0.01 * (4 + 4) = 0.08, within."""
    sp = make_space("n3h", WORKLOAD, REAL, weight_bits=(2, 4, 8), act_bits=(2, 4, 8),
                    pin_edges=False, hardware=["lut_core.rows"], split="choose")
    p = Problem(sp, StubTarget(), StubOracle(), Objective(latency_budget_ms=0.1, mode="repair"))
    out = p.repair(np.array([[3, 1, 1, 1, 2, 0, 0]]))
    np.testing.assert_array_equal(out, [[3, 0, 0, 0, 0, 0, 0]])


def test_clamp_knob_takes_whole_float_choices() -> None:
    """``requested`` may come as whole floats (an agent's action): read as choice indices."""
    p = problem(Objective(latency_budget_ms=0.3, mode="clamp"))
    X = np.array([TOP, TOP])
    best, lat = p.clamp_knob(X, 1, np.array([2.0, 0.0]))
    assert best.dtype == np.int64
    np.testing.assert_array_equal(best, [1, 0])
    np.testing.assert_allclose(lat, [0.24, 0.16])
    best, _ = p.clamp_knob(X, 0, np.array([4.0, 1.0]))  # not a bit knob: as requested
    assert best.dtype == np.int64
    np.testing.assert_array_equal(best, [4, 1])


def reference_sample(seed: int, n: int) -> list[int]:
    """The documented seeded sample of the one hardware knob (6 row counts): uniform choice
    indices drawn as the space draws random points."""
    draws = np.random.default_rng(seed).random((n, 1)) * 6
    return [int(v) for v in draws[:, 0]]


def test_cheapest_sample_depends_only_on_the_seed() -> None:
    """Everything fits and runs (rows 1 too): the latency 0.16 * 8 / rows falls with rows, so
    the cheapest is the largest row choice in the sample."""
    p = problem(target=StubTarget(lut_limit=1e9, runnable_one_row=True))
    for seed in range(6):
        want = max(reference_sample(seed, 4))
        out = p.cheapest(max_hardware=4, seed=seed)
        assert out["x"] == [want, 0, 0, 0, 0, 0, 0]
        assert all(type(v) is int for v in out["x"])
    # the default seed is 0: sample [3, 1, 0, 0] -> rows 8
    assert reference_sample(0, 4) == [3, 1, 0, 0]
    assert p.cheapest(max_hardware=4)["x"] == [3, 0, 0, 0, 0, 0, 0]
    # everything enumerated when the six configurations fit under max_hardware exactly: rows 16
    out = p.cheapest(max_hardware=6, seed=25)  # a sample of six would be [0, 0, 1, 2, 0, 1]
    assert reference_sample(25, 6) == [0, 0, 1, 2, 0, 1]
    assert out["x"] == [5, 0, 0, 0, 0, 0, 0] and out["hardware_points"] == 6
    assert all(type(v) is int for v in out["x"])
    # ... while a sample of six misses rows 16 for seed 12 ([1, 5, 1, 1, 2, 1] has it; seed 25:
    # [0, 0, 1, 2, 0, 1] does not): at max_hardware = 5 the sample decides
    assert max(reference_sample(25, 5)) == p.cheapest(max_hardware=5, seed=25)["x"][0]


def test_cheapest_samples_20000_configurations_by_default() -> None:
    """A hand-built space whose row-count knob has 20,001 choices: one more than the default
    max_hardware (20,000), so the check samples 20,000 of them instead of enumerating."""
    from rl_search.spaces import DesignSpace, Knob

    sp = space()
    rows = Knob("hw.rows", "hardware", tuple(range(1, 20_002)), None, "lut_core.rows", 7)
    hand = DesignSpace("wide", sp.workload, [rows, *sp.knobs[1:]], sp.base, REAL)
    p = Problem(hand, StubTarget(lut_limit=1e9), StubOracle(), Objective())
    assert p.cheapest()["hardware_points"] == 20_000
    assert p.cheapest(max_hardware=20_001)["hardware_points"] == 20_001


class RankOracle(StubOracle):
    """Low-rank layers cost a point each: 0.7 - 0.01 per layer with a rank (0 = dense)."""

    def estimate_batch(self, weight_bits: Any, act_bits: Any, lut_fraction: Any,
                       rank: Any = None) -> np.ndarray:
        n = np.asarray(weight_bits).shape[0]
        if rank is None:
            return np.full(n, 0.7)
        return 0.7 - 0.01 * (np.asarray(rank) > 0).sum(axis=1)


def test_the_oracle_sees_the_ranks() -> None:
    """Rank space (fc1: ranks 16, 32, ..., 240, dense; fc2: 16, 32, 48, dense): [3, 1] is
    fc1 at rank 64 and fc2 at rank 32, two low-rank layers: 0.68; [15, 3] is dense: 0.7."""
    sp = make_space("rank", RANK_WORKLOAD, REAL)
    p = Problem(sp, StubTarget(), RankOracle(), Objective(max_accuracy_drop=None))
    np.testing.assert_allclose(p.evaluate_batch(np.array([[3, 1], [15, 3], [15, 0]])).accuracy,
                               [0.68, 0.7, 0.69])


def test_score_kernel_on_hand_worked_rows() -> None:
    """The objective kernel itself, on rows worked out by hand from its docstring (baseline
    0.9, reference 10 ms): a design that cannot run, under a 5 ms budget, owes 10 and no
    latency overshoot (its latency is not a number to compare): -2 - 10; a feasible design
    slower than twice the reference is capped at -2; one at 15 ms gets -1.5."""
    from rl_search.problem import _score_kernel

    latency = np.array([np.inf, 30.0, 15.0])
    acc = np.array([0.9, 0.9, 0.88])
    fits = np.array([True, True, True])
    drop, feasible, reward = _score_kernel(latency, acc, fits, 0.9, True, 5.0, math.nan, True,
                                           10.0)
    assert feasible.tolist() == [False, False, False]
    assert reward[0] == -12.0
    assert reward[1] == pytest.approx(-2.0 - (30.0 / 5.0 - 1.0))
    drop, feasible, reward = _score_kernel(latency, acc, fits, 0.9, True, math.nan, math.nan,
                                           True, 10.0)
    assert feasible.tolist() == [False, True, True]
    assert reward[1:].tolist() == [-2.0, -1.5]
    assert drop.tolist() == pytest.approx([0.0, 0.0, 0.02])
