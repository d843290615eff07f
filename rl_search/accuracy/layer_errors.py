"""A layer's error tables (:class:`LayerErrors`) and their bit range (:data:`MAX_BITS`).

Shared by :mod:`rl_search.accuracy.proxy`, which combines the tables, and
:mod:`rl_search.accuracy._tables`, which measures them from a torch model; neither imports the
other at module scope (the proxy loads ``_tables``, and so torch, only when it builds tables).
Importing this module loads numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_BITS = 16
"""Tables cover 1..16 bits, the range :class:`~cost_models.design.Design` accepts."""


@dataclass(frozen=True)
class LayerErrors:
    """One layer's error tables.

    :param name: the layer's name.
    :param weight: ``[MAX_BITS + 1, channels + 1]``: ``e_w`` with ``bits`` on the ``n_L`` best
        channels (row 0 unused).
    :param act: ``[MAX_BITS + 1]``: ``e_a`` by activation bits (entry 0 unused).
    :param rank: ``[full_rank + 1, MAX_BITS + 1]``: ``e_r`` by rank and activation bits (the
        factorised layer's intermediate activations are quantised too; column 0: not
        quantised); row 0 (dense) = 0; one row when the layer cannot be factorised.
    """

    name: str
    weight: np.ndarray
    act: np.ndarray
    rank: np.ndarray

    @property
    def channels(self) -> int:
        return int(self.weight.shape[1] - 1)

    @property
    def full_rank(self) -> int:
        return int(self.rank.shape[0] - 1)


__all__ = ["MAX_BITS", "LayerErrors"]
