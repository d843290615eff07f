"""Layer-wise genetic search, after MoE-I2's genetic search over per-layer choices (Yang et al.,
"MoE-I2: Compressing Mixture of Experts Models through Inter-Expert Pruning and Intra-Expert
Low-Rank Decomposition", 2024; REFERENCE.md section 5).

MoE-I2 searches each layer's decision with a genetic algorithm whose genes are whole per-layer
choices; here a genome is a point of the design space and a gene is one layer's group of knobs
(weight bits, activation bits, split, rank of that layer; the hardware knobs form one more
group), so crossover recombines whole layers and never splits a layer's bit pair. Fitness is the
problem's reward; each generation is evaluated as one batch through the shared
:class:`~rl_search.searchers.base.EvaluationBudget`, so the GA competes with every other
searcher at the same number of evaluations (ArchGym, ISCA'23).
"""

from __future__ import annotations

from typing import ClassVar

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


def knob_groups(space: DesignSpace) -> IntArray:
    """Group id of every knob: one group per layer that has knobs, in layer order, and one for
    all hardware knobs (first, as a sequential agent decides them first)."""
    keys = sorted({-1 if k.layer is None else k.layer for k in space.knobs})
    ids = {key: i for i, key in enumerate(keys)}
    return np.array([ids[-1 if k.layer is None else k.layer] for k in space.knobs],
                    dtype=np.int64)


class GeneticSearch(Searcher):
    """Generational GA with tournament selection, layer-wise uniform crossover, per-knob
    mutation and elitism.

    Each generation keeps the ``elite`` best points, breeds ``population_size - elite``
    children (two tournament winners; with probability ``crossover_rate`` each layer's knob
    group comes from either parent with equal chance, else the child copies the first parent;
    then each knob mutates with probability ``mutation_rate``, to a neighbouring choice with
    probability ``neighbour_prob`` and to a uniformly random choice otherwise), and evaluates the
    children as one batch. Children already evaluated (or repeated within the generation) are
    mutated again, up to ``retries`` times, so that the budget buys new points; a space small
    enough to be nearly exhausted still makes progress because a child that stays a repeat is
    evaluated anyway.

    :param seed: seed of ``self.rng``.
    :param population_size: points per generation (>= 2).
    :param tournament_size: contestants per tournament (>= 1; 1 is random selection).
    :param crossover_rate: probability that a child is a layer-wise crossover of two parents.
    :param mutation_rate: per-knob mutation probability (default: ``1 / n_knobs``, one knob per
        child on average).
    :param neighbour_prob: share of mutations that move one choice up or down (the rest draw a
        random choice).
    :param elite: best points carried over unchanged (not re-evaluated).
    :param retries: re-mutations of a repeated child before it is evaluated anyway.
    :param anchor: put the highest-precision point (every bit-width at its largest, dense
        ranks, the preset's cores; HAQ's and greedy's start) in the first population, the rest
        random. In spaces where random points are rarely feasible (N3H-Core's, under an
        accuracy budget) this gives elitism a feasible design to improve from; ``False`` is a
        purely random start.
    """

    name: ClassVar[str] = "genetic"

    def __init__(self, seed: int = 0, *, population_size: int = 32, tournament_size: int = 3,
                 crossover_rate: float = 0.9, mutation_rate: float | None = None,
                 neighbour_prob: float = 0.7, elite: int = 2, retries: int = 8,
                 anchor: bool = True) -> None:
        problems = []
        if population_size < 2:
            problems.append(f"population_size must be >= 2, got {population_size}")
        if tournament_size < 1:
            problems.append(f"tournament_size must be >= 1, got {tournament_size}")
        if not 0 <= elite < population_size:
            problems.append(f"elite must be in [0, population_size), got {elite}")
        for label, p in (("crossover_rate", crossover_rate), ("neighbour_prob", neighbour_prob),
                         ("mutation_rate", 0.0 if mutation_rate is None else mutation_rate)):
            if not 0.0 <= p <= 1.0:
                problems.append(f"{label} must be in [0, 1], got {p}")
        if retries < 0:
            problems.append(f"retries must be >= 0, got {retries}")
        if problems:
            raise CodesignError("genetic search options: " + "; ".join(problems))
        super().__init__(seed, population_size=population_size, tournament_size=tournament_size,
                         crossover_rate=crossover_rate, mutation_rate=mutation_rate,
                         neighbour_prob=neighbour_prob, elite=elite, retries=retries,
                         anchor=anchor)
        self.anchor = anchor
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.crossover_rate = crossover_rate
        self.mutation_rate = mutation_rate
        self.neighbour_prob = neighbour_prob
        self.elite = elite
        self.retries = retries

    # ------------------------------------------------------------------ operators

    def _select(self, fitness: FloatArray, n: int) -> IntArray:
        """Indices of ``n`` tournament winners (ties go to the first contestant drawn)."""
        contestants = self.rng.integers(0, fitness.shape[0], size=(n, self.tournament_size))
        return contestants[np.arange(n), np.argmax(fitness[contestants], axis=1)]

    def _crossover(self, a: IntArray, b: IntArray, groups: IntArray) -> IntArray:
        n, n_groups = a.shape[0], int(groups.max()) + 1
        from_b: BoolArray = self.rng.random((n, n_groups)) < 0.5
        cross: BoolArray = self.rng.random((n,)) < self.crossover_rate
        take_b = from_b[:, groups] & cross[:, None]
        return np.where(take_b, b, a)

    def _mutate(self, x: IntArray, nvec: IntArray, rate: float) -> IntArray:
        shape = x.shape
        hit = self.rng.random(shape) < rate
        near = self.rng.random(shape) < self.neighbour_prob
        step = np.where(self.rng.random(shape) < 0.5, -1, 1)
        # A neighbour move at either end of a knob's range reflects back inwards.
        moved = x + step
        moved = np.where((moved < 0) | (moved >= nvec), x - step, moved)
        moved = np.clip(moved, 0, nvec - 1)
        drawn = (self.rng.random(shape) * nvec).astype(np.int64)
        return np.where(hit, np.where(near, moved, drawn), x)

    def _make_new(self, children: IntArray, nvec: IntArray, seen: set[bytes]) -> IntArray:
        """Re-mutate children already evaluated or repeated in this batch (one knob forced to
        move each try), so the generation's evaluations go to new points."""
        out = children.copy()
        batch: set[bytes] = set()
        one = 1.0 / out.shape[1]
        for i in range(out.shape[0]):
            for _ in range(self.retries):
                key = out[i].tobytes()
                if key not in seen and key not in batch:
                    break
                forced = self._mutate(out[i][None, :], nvec, one)[0]
                if np.array_equal(forced, out[i]):
                    j = int(self.rng.integers(0, out.shape[1]))
                    forced[j] = int(self.rng.integers(0, nvec[j]))
                out[i] = forced
            batch.add(out[i].tobytes())
        return out

    # ------------------------------------------------------------------ loop

    def search(self, problem: Problem, budget: EvaluationBudget) -> None:
        space = problem.space
        nvec = space.nvec
        groups = knob_groups(space)
        rate = self.mutation_rate if self.mutation_rate is not None else 1.0 / len(space)
        seen: set[bytes] = set()

        start = space.random(self.rng, self.population_size)
        if self.anchor:
            start[0] = highest_precision_point(space)
        first = self._make_new(start, nvec, seen)
        ev = budget(first)
        pop, fit = ev.x.copy(), ev.reward.copy()
        seen.update(p.tobytes() for p in first[: len(ev)])
        seen.update(p.tobytes() for p in pop)
        while True:
            order = np.argsort(-fit, kind="stable")
            elites = order[: self.elite]
            n_children = self.population_size - self.elite
            a = pop[self._select(fit, n_children)]
            b = pop[self._select(fit, n_children)]
            children = self._mutate(self._crossover(a, b, groups), nvec, rate)
            children = self._make_new(children, nvec, seen)
            ev = budget(children)
            seen.update(p.tobytes() for p in children[: len(ev)])
            seen.update(p.tobytes() for p in ev.x)
            pop = np.concatenate([pop[elites], ev.x])
            fit = np.concatenate([fit[elites], ev.reward])
