"""Random designs for calibrating and checking accuracy oracles (numpy only).

Each layer's knobs are drawn independently: weight bits and activation bits uniform on their
ranges, ``lut_fraction`` uniform on [0, 1] (on a 0.01 grid, like N3H-Core's sweep), and with
probability ``rank_probability`` a rank uniform on ``[ceil(min_rank_ratio * full), full]`` for a
layer that can be factorised (``full_ranks[i] > 0``), else dense.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cost_models.design import Design
from rl_search.accuracy.base import design_from_row


def random_batch(n_layers: int, n: int, *, seed: int | np.random.Generator = 0,
                 full_ranks: Sequence[int] | np.ndarray | None = None,
                 weight_bits: tuple[int, int] = (2, 8), act_bits: tuple[int, int] = (2, 8),
                 rank_probability: float = 0.25, min_rank_ratio: float = 0.25,
                 ) -> dict[str, np.ndarray]:
    """``n`` random designs as ``[n, n_layers]`` arrays (``rank`` 0 = dense).

    :param full_ranks: per-layer largest rank, 0 where a layer cannot be factorised; ``None``
        keeps every layer dense.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    shape = (n, n_layers)
    out: dict[str, Any] = {
        "weight_bits": rng.integers(weight_bits[0], weight_bits[1] + 1, shape),
        "act_bits": rng.integers(act_bits[0], act_bits[1] + 1, shape),
        "lut_fraction": np.round(rng.uniform(0.0, 1.0, shape), 2),
        "rank": np.zeros(shape, dtype=np.int64),
    }
    if full_ranks is not None and rank_probability > 0:
        full = np.asarray(full_ranks, dtype=np.int64)
        low = np.maximum(1, np.ceil(min_rank_ratio * full)).astype(np.int64)
        draw = rng.uniform(size=shape)
        rank = low + np.floor(rng.uniform(size=shape) * (full - low + 1)).astype(np.int64)
        out["rank"] = np.where((draw < rank_probability) & (full > 0), np.minimum(rank, full), 0)
    return out


def random_designs(layer_names: Sequence[str], n: int, *, seed: int | np.random.Generator = 0,
                   full_ranks: Sequence[int] | np.ndarray | None = None,
                   **ranges: Any) -> list[Design]:
    """``n`` random :class:`Design` objects; keyword ranges as :func:`random_batch`."""
    arrays = random_batch(len(layer_names), n, seed=seed, full_ranks=full_ranks, **ranges)
    return [design_from_row(layer_names, arrays["weight_bits"][i], arrays["act_bits"][i],
                            arrays["lut_fraction"][i], arrays["rank"][i]) for i in range(n)]


__all__ = ["random_batch", "random_designs"]
