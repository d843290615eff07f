"""GeneticSearch against a plain-Python transcription of its documented rules.

The reference below re-implements, with loops over Python lists, what the class docstring of
:class:`~rl_search.searchers.genetic.GeneticSearch` describes: tournament selection (ties to the
first contestant drawn), layer-wise uniform crossover with probability ``crossover_rate``,
per-knob mutation (neighbour move reflecting at the ends of a knob's range, else a uniform
draw), re-mutation of repeated children up to ``retries`` times (one knob forced to move), and
elitism with a stable sort of the fitness. It draws from the same ``numpy`` Generator, with the
same array shapes and in the same order as the rules need them, so the two are compared draw
for draw: every batch of points handed to the budget must be identical, and so must the state
of the generator afterwards.

The problem is a stub (a tiny hand-made space and a fake evaluate function) so the test needs
no cost model: a 5-knob space with a hardware knob first, a one-choice knob (where a neighbour
move has nowhere to go), a mapping knob and two layers.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from hwsim.errors import CodesignError
from rl_search.searchers.base import EvaluationBudget
from rl_search.searchers.genetic import GeneticSearch, knob_groups
from rl_search.spaces import Knob

# ---------------------------------------------------------------------------- stub problem


class StubSpace:
    """Just what the GA reads of a DesignSpace: knobs, nvec, len, random, base_point."""

    def __init__(self, knobs: list[Knob]) -> None:
        self.knobs = tuple(knobs)
        self.nvec = np.array([k.n for k in knobs], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.knobs)

    def random(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return (rng.random((n, len(self.knobs))) * self.nvec).astype(np.int64)

    def base_point(self) -> np.ndarray:
        return np.array([k.base_index for k in self.knobs], dtype=np.int64)


def stub_space() -> StubSpace:
    return StubSpace([
        Knob("hw", "hardware", (1, 2, 3, 4), layer=None, base_index=2),
        Knob("w0", "weight_bits", (2, 4, 8), layer=0),
        Knob("a0", "act_bits", (8,), layer=0),          # one choice only
        Knob("map1", "mapping", (0.0, 0.25, 0.5, 0.75, 1.0), layer=1),
        Knob("w1", "weight_bits", (2, 4), layer=1),
    ])


TARGET = np.array([1, 0, 0, 3, 1])


def fitness(x: Any) -> float:
    """Minus the squared distance to TARGET (many ties: small integers)."""
    return float(-sum((int(v) - int(t)) ** 2 for v, t in zip(x, TARGET, strict=True)))


def repaired(x: Any) -> list[int]:
    """What the fake evaluate function reports as evaluated: knob 3 capped at 2 (like the
    problem's repair mode, which hands back a point other than the one asked for)."""
    out = [int(v) for v in x]
    out[3] = min(out[3], 2)
    return out


class FakeEval:
    def __init__(self, x: list[list[int]]) -> None:
        self.x = np.array(x, dtype=np.int64).reshape(len(x), -1)
        self.reward = np.array([fitness(r) for r in x], dtype=np.float64)

    def __len__(self) -> int:
        return int(self.x.shape[0])


class Recorder:
    def __init__(self, repair: bool) -> None:
        self.batches: list[list[list[int]]] = []
        self.repair = repair

    def __call__(self, X: np.ndarray) -> FakeEval:
        rows = [[int(v) for v in r] for r in np.asarray(X)]
        self.batches.append(rows)
        return FakeEval([repaired(r) if self.repair else r for r in rows])


def run_ga(ga: GeneticSearch, space: StubSpace, budget: int, repair: bool) -> Recorder:
    rec = Recorder(repair)
    problem = SimpleNamespace(space=space)
    ga.run(problem, EvaluationBudget(problem, budget, rec))  # type: ignore[arg-type]
    return rec


# ---------------------------------------------------------------------------- reference


class Exhausted(Exception):
    pass


class ReferenceGA:
    """The documented algorithm, transcribed with Python lists."""

    def __init__(self, seed: int, population_size: int = 32, tournament_size: int = 3,
                 crossover_rate: float = 0.9, mutation_rate: float | None = None,
                 neighbour_prob: float = 0.7, elite: int = 2, retries: int = 8,
                 anchor: bool = True) -> None:
        self.rng = np.random.default_rng(seed)
        self.P, self.T, self.cx, self.mr = population_size, tournament_size, crossover_rate, \
            mutation_rate
        self.nb, self.E, self.R, self.anchor = neighbour_prob, elite, retries, anchor

    def select(self, fit: list[float], n: int) -> list[int]:
        draws = self.rng.integers(0, len(fit), size=(n, self.T))
        winners = []
        for row in draws.tolist():
            best = row[0]
            for c in row[1:]:
                if fit[c] > fit[best]:  # strictly better: ties stay with the first drawn
                    best = c
            winners.append(best)
        return winners

    def crossover(self, a: list[list[int]], b: list[list[int]], groups: list[int]
                  ) -> list[list[int]]:
        n, g = len(a), max(groups) + 1
        coin = self.rng.random((n, g)).tolist()
        cross = self.rng.random(n).tolist()
        out = []
        for i in range(n):
            if cross[i] < self.cx:
                out.append([b[i][k] if coin[i][groups[k]] < 0.5 else a[i][k]
                            for k in range(len(groups))])
            else:
                out.append(list(a[i]))
        return out

    def mutate(self, xs: list[list[int]], nvec: list[int], rate: float) -> list[list[int]]:
        shape = (len(xs), len(nvec))
        hit = self.rng.random(shape).tolist()
        near = self.rng.random(shape).tolist()
        down = self.rng.random(shape).tolist()
        uni = self.rng.random(shape).tolist()
        out = []
        for i, x in enumerate(xs):
            row = []
            for k, v in enumerate(x):
                if not hit[i][k] < rate:
                    row.append(v)
                elif near[i][k] < self.nb:
                    step = -1 if down[i][k] < 0.5 else 1
                    m = v + step
                    if m < 0 or m >= nvec[k]:
                        m = v - step  # reflect inwards
                    row.append(min(max(m, 0), nvec[k] - 1))
                else:
                    row.append(int(uni[i][k] * nvec[k]))
            out.append(row)
        return out

    def make_new(self, children: list[list[int]], nvec: list[int], seen: set[tuple[int, ...]]
                 ) -> list[list[int]]:
        batch: set[tuple[int, ...]] = set()
        out = []
        for child in children:
            row = list(child)
            for _ in range(self.R):
                if tuple(row) not in seen and tuple(row) not in batch:
                    break
                forced = self.mutate([row], nvec, 1.0 / len(nvec))[0]
                if forced == row:
                    j = int(self.rng.integers(0, len(nvec)))
                    forced[j] = int(self.rng.integers(0, nvec[j]))
                row = forced
            batch.add(tuple(row))
            out.append(row)
        return out

    def run(self, space: StubSpace, budget: int, repair: bool) -> list[list[list[int]]]:
        nvec = [k.n for k in space.knobs]
        layer_keys = sorted({-1 if k.layer is None else k.layer for k in space.knobs})
        groups = [layer_keys.index(-1 if k.layer is None else k.layer) for k in space.knobs]
        rate = self.mr if self.mr is not None else 1.0 / len(nvec)
        batches: list[list[list[int]]] = []
        remaining = budget

        def evaluate(X: list[list[int]]) -> tuple[list[list[int]], list[float]]:
            nonlocal remaining
            if remaining <= 0:
                raise Exhausted
            X = X[:remaining]
            remaining -= len(X)
            batches.append([list(r) for r in X])
            done = [repaired(r) if repair else list(r) for r in X]
            return done, [fitness(r) for r in done]

        seen: set[tuple[int, ...]] = set()
        try:
            start = [[int(u * n) for u, n in zip(row, nvec, strict=True)]
                     for row in self.rng.random((self.P, len(nvec))).tolist()]
            if self.anchor:
                # highest precision: bits and ranks at the top, mapping in the middle,
                # hardware at the preset's value
                start[0] = [k.base_index if k.kind == "hardware"
                            else (k.n - 1) // 2 if k.kind == "mapping" else k.n - 1
                            for k in space.knobs]
            first = self.make_new(start, nvec, seen)
            pop, fit = evaluate(first)
            seen.update(tuple(r) for r in first[: len(pop)])
            seen.update(tuple(r) for r in pop)
            while True:
                order = sorted(range(len(fit)), key=lambda i: -fit[i])  # stable
                elites = order[: self.E]
                nc = self.P - self.E
                a = [pop[i] for i in self.select(fit, nc)]
                b = [pop[i] for i in self.select(fit, nc)]
                children = self.make_new(
                    self.mutate(self.crossover(a, b, groups), nvec, rate), nvec, seen)
                done, rew = evaluate(children)
                seen.update(tuple(r) for r in children[: len(done)])
                seen.update(tuple(r) for r in done)
                pop = [pop[i] for i in elites] + done
                fit = [fit[i] for i in elites] + rew
        except Exhausted:
            pass
        return batches


# ---------------------------------------------------------------------------- the comparison

CASES = [
    ({}, 7, 75, False),
    ({}, 3, 75, True),
    ({"anchor": False, "population_size": 6, "elite": 1}, 1, 40, True),
    ({"tournament_size": 1, "crossover_rate": 0.0, "population_size": 5, "elite": 0}, 2, 30,
     False),
    ({"mutation_rate": 0.5, "neighbour_prob": 1.0, "population_size": 8, "elite": 3}, 4, 50,
     True),
    ({"mutation_rate": 0.6, "neighbour_prob": 0.0, "population_size": 8, "retries": 0}, 5, 50,
     False),
    ({"population_size": 40, "elite": 12, "tournament_size": 5, "crossover_rate": 0.5}, 11, 121,
     True),
    ({"population_size": 3, "elite": 2, "retries": 2, "crossover_rate": 1.0}, 9, 40, False),
    ({"population_size": 4, "elite": 1, "retries": 1, "mutation_rate": 0.0}, 8, 30, False),
]


@pytest.mark.parametrize(("options", "seed", "budget", "repair"), CASES)
def test_genetic_search_matches_the_reference_draw_for_draw(
        options: dict[str, Any], seed: int, budget: int, repair: bool) -> None:
    space = stub_space()
    ga = GeneticSearch(seed, **options)
    got = run_ga(ga, space, budget, repair)
    ref = ReferenceGA(seed, **options)
    want = ref.run(space, budget, repair)
    assert sum(len(b) for b in got.batches) == budget  # the budget is spent exactly
    assert len(got.batches) == len(want)
    for i, (g, w) in enumerate(zip(got.batches, want, strict=True)):
        assert g == w, f"batch {i} differs"
    # the same number of draws, to the last one (the generation cut off by the budget too)
    assert ga.rng.random() == ref.rng.random()


def test_reference_case_exercises_every_path() -> None:
    """The default case hits repeats (retries), forced moves and evaluated-anyway repeats: a
    5-knob space has 4*3*1*5*2 = 120 points, and 75 evaluations cover well over half."""
    rec = run_ga(GeneticSearch(7), stub_space(), 75, False)
    pts = [tuple(r) for b in rec.batches for r in b]
    assert len(pts) == 75
    assert all(0 <= p[k] < n for p in pts for k, n in enumerate((4, 3, 1, 5, 2)))
    assert rec.batches[0][0] == [2, 2, 0, 2, 1]  # the anchor: hw preset, top bits, middle map


# ---------------------------------------------------------------------------- operators


class ScriptedRng:
    """A stand-in for the Generator that returns prepared values (to put draws exactly on the
    thresholds, which a real generator hits with probability ~2^-53)."""

    def __init__(self, randoms: list[Any], integers: list[Any] | None = None) -> None:
        self.randoms = list(randoms)
        self.ints = list(integers or [])

    def random(self, shape: Any = None) -> Any:
        v = np.asarray(self.randoms.pop(0), dtype=np.float64)
        return float(v) if shape is None else np.broadcast_to(v, shape).copy()

    def integers(self, low: int, high: int, size: Any = None) -> Any:
        v = np.asarray(self.ints.pop(0), dtype=np.int64)
        assert (low <= v).all() and (v < high).all()
        return int(v) if size is None else np.broadcast_to(v, size).copy()


def test_select_ties_go_to_the_first_contestant() -> None:
    ga = GeneticSearch(0, tournament_size=3)
    fit = np.array([1.0, 5.0, 5.0, -1.0])
    ga.rng = ScriptedRng([], [[[2, 1, 0], [0, 3, 0], [3, 3, 1], [1, 2, 3]]])  # type: ignore
    # rows: 5 vs 5 -> first drawn (2); 1 vs -1 -> 0; best is 1; tie 5/5 -> 1
    np.testing.assert_array_equal(ga._select(fit, 4), [2, 0, 1, 1])


def test_crossover_thresholds_are_strict() -> None:
    """A coin of exactly 0.5 keeps the first parent's group; a crossover draw equal to the rate
    means no crossover (``u < p`` is the event of probability ``p``)."""
    groups = np.array([0, 0, 1])
    a, b = np.zeros((2, 3), dtype=np.int64), np.ones((2, 3), dtype=np.int64)
    ga = GeneticSearch(0, crossover_rate=0.5)
    ga.rng = ScriptedRng([[[0.5, 0.4999], [0.0, 0.5]], [0.4999, 0.4999]])  # type: ignore
    np.testing.assert_array_equal(ga._crossover(a, b, groups), [[0, 0, 1], [1, 1, 0]])
    ga.rng = ScriptedRng([[[0.0, 0.0], [0.0, 0.0]], [0.5, 0.2]])  # type: ignore
    np.testing.assert_array_equal(ga._crossover(a, b, groups), [[0, 0, 0], [1, 1, 1]])


def test_mutate_thresholds_and_reflection() -> None:
    ga = GeneticSearch(0, neighbour_prob=0.5)
    nvec = np.array([3, 3, 3, 1, 4, 4])
    x = np.array([[0, 2, 1, 0, 3, 1]])
    hit = [[0.25, 0.0, 0.0, 0.0, 0.0, 0.0]]
    near = [[0.0, 0.0, 0.0, 0.0, 0.5, 0.0]]
    down = [[0.0, 0.5, 0.5, 0.5, 0.0, 0.4999]]
    uni = [[0.9, 0.9, 0.9, 0.9, 0.0, 0.9]]
    ga.rng = ScriptedRng([hit, near, down, uni])  # type: ignore
    # knob 0: hit draw 0.25 == rate -> untouched (0)
    # knob 1: at the top (2), step +1 (0.5 is not < 0.5) -> reflects to 1
    # knob 2: 1 + 1 = 2
    # knob 3: one choice: +1 and the reflected -1 are both out -> stays 0
    # knob 4: near 0.5 is not < 0.5 -> uniform draw int(0.0 * 4) = 0 (a neighbour move: 2)
    # knob 5: step -1 (0.4999 < 0.5): 1 -> 0
    np.testing.assert_array_equal(ga._mutate(x, nvec, 0.25), [[0, 1, 2, 0, 0, 0]])
    ga.rng = ScriptedRng([[[0.0] * 6], [[0.0] * 6], [[0.0] * 6], [[0.0] * 6]])  # type: ignore
    # every knob steps down; the ones at 0 reflect up (the one-choice knob stays at 0)
    np.testing.assert_array_equal(ga._mutate(x, nvec, 0.25), [[1, 1, 0, 0, 2, 0]])


def test_make_new_forces_a_move_when_the_mutation_does_nothing() -> None:
    ga = GeneticSearch(0, retries=1)
    nvec = np.array([3, 3])
    seen = {np.array([1, 1], dtype=np.int64).tobytes()}
    children = np.array([[1, 1], [2, 2], [2, 2]], dtype=np.int64)
    # child 0 repeats a seen point: one mutation pass (no hit: draws 0.9 >= 1/2), then knob
    # j=1 forced to choice 0. child 1 is new. child 2 repeats child 1: the mutation hits knob 0
    # (0.1 < 1/2) and draws uniformly int(0.0 * 3) = 0.
    ga.rng = ScriptedRng([0.9, 0.9, 0.9, 0.9,
                          [[0.1, 0.9]], 0.9, 0.9, [[0.0, 0.0]]], [1, 0])  # type: ignore
    out = ga._make_new(children, nvec, seen)
    np.testing.assert_array_equal(out, [[1, 0], [2, 2], [0, 2]])
    np.testing.assert_array_equal(children, [[1, 1], [2, 2], [2, 2]])  # input untouched


def test_make_new_gives_up_after_retries() -> None:
    ga = GeneticSearch(0, retries=0)
    seen = {np.array([1, 1], dtype=np.int64).tobytes()}
    out = ga._make_new(np.array([[1, 1], [1, 1]]), np.array([3, 3]), seen)
    np.testing.assert_array_equal(out, [[1, 1], [1, 1]])  # no retries: evaluated anyway


def test_knob_groups_put_hardware_first_then_layers_in_order() -> None:
    space = StubSpace([
        Knob("w1", "weight_bits", (2, 4), layer=1),
        Knob("hw0", "hardware", (1, 2), layer=None),
        Knob("w0", "weight_bits", (2, 4), layer=0),
        Knob("a1", "act_bits", (2, 4), layer=1),
        Knob("hw1", "hardware", (1, 2), layer=None),
        Knob("w5", "weight_bits", (2, 4), layer=5),  # layers 2-4 have no knobs
    ])
    groups = knob_groups(space)  # type: ignore[arg-type]
    assert groups.dtype == np.int64
    np.testing.assert_array_equal(groups, [2, 0, 1, 2, 0, 3])
    layers_only = StubSpace([Knob("w3", "weight_bits", (2, 4), layer=3),
                             Knob("w2", "weight_bits", (2, 4), layer=2)])
    np.testing.assert_array_equal(knob_groups(layers_only), [1, 0])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- options


def test_options_are_kept() -> None:
    ga = GeneticSearch(5, population_size=10, tournament_size=4, crossover_rate=0.3,
                       mutation_rate=0.2, neighbour_prob=0.6, elite=3, retries=2, anchor=False)
    assert (ga.population_size, ga.tournament_size, ga.crossover_rate, ga.mutation_rate,
            ga.neighbour_prob, ga.elite, ga.retries, ga.anchor) == (10, 4, 0.3, 0.2, 0.6, 3, 2,
                                                                   False)
    assert ga.seed == 5
    assert ga.options == {"population_size": 10, "tournament_size": 4, "crossover_rate": 0.3,
                          "mutation_rate": 0.2, "neighbour_prob": 0.6, "elite": 3,
                          "retries": 2, "anchor": False}
    d = GeneticSearch()
    assert (d.seed, d.population_size, d.tournament_size, d.crossover_rate, d.mutation_rate,
            d.neighbour_prob, d.elite, d.retries, d.anchor) == (0, 32, 3, 0.9, None, 0.7, 2, 8,
                                                               True)
    assert d.options == {"population_size": 32, "tournament_size": 3, "crossover_rate": 0.9,
                         "mutation_rate": None, "neighbour_prob": 0.7, "elite": 2,
                         "retries": 8, "anchor": True}


@pytest.mark.parametrize("options", [
    {"population_size": 2, "elite": 0},
    {"population_size": 2, "elite": 1},
    {"tournament_size": 1},
    {"elite": 0},
    {"elite": 31},
    {"crossover_rate": 0.0}, {"crossover_rate": 1.0},
    {"neighbour_prob": 0.0}, {"neighbour_prob": 1.0},
    {"mutation_rate": 0.0}, {"mutation_rate": 1.0},
    {"retries": 0},
])
def test_boundary_options_are_accepted(options: dict[str, Any]) -> None:
    GeneticSearch(**options)


@pytest.mark.parametrize(("options", "message"), [
    ({"population_size": 1, "elite": 0},
     "genetic search options: population_size must be >= 2, got 1"),
    ({"tournament_size": 0}, "genetic search options: tournament_size must be >= 1, got 0"),
    ({"elite": 32}, "genetic search options: elite must be in [0, population_size), got 32"),
    ({"elite": -1}, "genetic search options: elite must be in [0, population_size), got -1"),
    ({"crossover_rate": 1.01},
     "genetic search options: crossover_rate must be in [0, 1], got 1.01"),
    ({"crossover_rate": -0.01},
     "genetic search options: crossover_rate must be in [0, 1], got -0.01"),
    ({"neighbour_prob": 1.5},
     "genetic search options: neighbour_prob must be in [0, 1], got 1.5"),
    ({"neighbour_prob": -0.5},
     "genetic search options: neighbour_prob must be in [0, 1], got -0.5"),
    ({"mutation_rate": 2.0}, "genetic search options: mutation_rate must be in [0, 1], got 2.0"),
    ({"mutation_rate": -1.0},
     "genetic search options: mutation_rate must be in [0, 1], got -1.0"),
    ({"retries": -1}, "genetic search options: retries must be >= 0, got -1"),
    ({"population_size": 1, "tournament_size": 0, "retries": -2},
     "genetic search options: population_size must be >= 2, got 1; tournament_size must be "
     ">= 1, got 0; elite must be in [0, population_size), got 2; retries must be >= 0, got -2"),
])
def test_bad_options_are_refused_with_every_reason(options: dict[str, Any], message: str
                                                   ) -> None:
    with pytest.raises(CodesignError) as info:
        GeneticSearch(**options)
    assert str(info.value) == message


def test_name() -> None:
    assert GeneticSearch.name == "genetic"
