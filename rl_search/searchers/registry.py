"""Searchers by name: ``make_searcher("ppo", seed=0, n_steps=128)``.

Every entry is imported on first use, so naming a classic searcher does not load torch and
stable-baselines3, and a searcher whose module is not installed fails only when asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from typing import Any

from hwsim.errors import CodesignError
from rl_search.searchers.base import Searcher

_ENTRIES: dict[str, str] = {
    "random": "rl_search.searchers.random_search:RandomSearch",
    "genetic": "rl_search.searchers.genetic:GeneticSearch",
    "greedy": "rl_search.searchers.greedy:GreedyRepair",
    "exhaustive": "rl_search.searchers.exhaustive:ExhaustiveSearch",
    "ppo": "rl_search.searchers.sb3:PPOSearcher",
    "a2c": "rl_search.searchers.sb3:A2CSearcher",
    "sac": "rl_search.searchers.sb3:SACSearcher",
    "td3": "rl_search.searchers.sb3:TD3Searcher",
    "ddpg": "rl_search.searchers.sb3:DDPGSearcher",
    "ddpg-haq": "rl_search.searchers.sb3:HaqDDPGSearcher",
    "ppo-mutate": "rl_search.searchers.sb3:PPOMutateSearcher",
}
SB3_NAMES = ("ppo", "a2c", "sac", "td3", "ddpg", "ddpg-haq")


class _Registry(Mapping[str, type[Searcher]]):
    """Name -> searcher class, importing the class's module on lookup."""

    def __getitem__(self, name: str) -> type[Searcher]:
        if name not in _ENTRIES:
            raise KeyError(name)
        module, _, attr = _ENTRIES[name].partition(":")
        try:
            cls: type[Searcher] = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise CodesignError(f"searcher {name!r} is not available: {exc}") from exc
        return cls

    def __contains__(self, name: object) -> bool:
        return name in _ENTRIES

    def __iter__(self) -> Iterator[str]:
        return iter(_ENTRIES)

    def __len__(self) -> int:
        return len(_ENTRIES)


SEARCHERS: Mapping[str, type[Searcher]] = _Registry()


def available() -> tuple[str, ...]:
    """The names whose module is installed (without importing it)."""
    return tuple(name for name, entry in _ENTRIES.items()
                 if importlib.util.find_spec(entry.partition(":")[0]) is not None)


def make_searcher(name: str, seed: int = 0, **options: Any) -> Searcher:
    """A searcher by name (see :data:`SEARCHERS`), seeded, with its options."""
    if name not in SEARCHERS:
        raise CodesignError(f"unknown searcher {name!r}; known: {', '.join(SEARCHERS)}")
    return SEARCHERS[name](seed=seed, **options)
