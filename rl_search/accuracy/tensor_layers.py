"""TT- and HT-factorised linear maps in torch: the products (einsum over stored cores, leaves
and transfer tensors), their dense reconstructions, parameter counts, and :class:`TensorLinear`,
the layer the digits stand-in of :mod:`rl_search.accuracy.tensor_lstm` trains. Formats as in
:mod:`hwsim.lstm.plan` (TT: Oseledets 2011; HT: a balanced binary tree, FDHT-LSTM)."""

from __future__ import annotations

import string
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from hwsim.errors import CodesignError
from hwsim.ir.lowrank import tt_ranks

FORMATS = ("tt", "ht")
IN_MODES = (2, 2, 2, 4)
"""The digits stand-in's input modes (32 features: four image rows per step)."""
OUT_MODES = (4, 2, 2, 4)
"""The digits stand-in's output modes (64 = 4 gates x hidden 16, the gate first)."""

_LETTERS = string.ascii_letters

# ------------------------------------------------------------------------------ tensor train

def tt_param_count(in_modes: Sequence[int], out_modes: Sequence[int],
                   ranks: Sequence[int]) -> int:
    """``sum_k r_{k-1} n_k m_k r_k``."""
    return sum(ranks[k] * n * m * ranks[k + 1]
               for k, (n, m) in enumerate(zip(in_modes, out_modes, strict=True)))


def _tt_spec(d: int, with_x: bool) -> str:
    ins, outs, rks = _LETTERS[1:d + 1], _LETTERS[d + 1:2 * d + 1], _LETTERS[2 * d + 1:3 * d + 2]
    cores = [f"{rks[k]}{ins[k]}{outs[k]}{rks[k + 1]}" for k in range(d)]
    if with_x:
        return f"a{ins}," + ",".join(cores) + f"->a{outs}"
    return ",".join(cores) + f"->{outs}{ins}"


def tt_apply(x: torch.Tensor, cores: Sequence[torch.Tensor]) -> torch.Tensor:
    """``x @ W.T`` for the TT matrix of ``cores`` (each ``(r_{k-1}, n_k, m_k, r_k)``); ``x`` is
    ``[..., prod n]`` (features row-major over the input modes), the result ``[..., prod m]``."""
    in_modes = [c.shape[1] for c in cores]
    lead = x.shape[:-1]
    xt = x.reshape(-1, *in_modes)
    y = torch.einsum(_tt_spec(len(cores), True), xt, *cores)
    return y.reshape(*lead, -1)


def tt_dense(cores: Sequence[torch.Tensor]) -> torch.Tensor:
    """The ``prod m x prod n`` matrix the TT cores represent (``nn.Linear`` layout)."""
    w = torch.einsum(_tt_spec(len(cores), False), *cores)
    n_out = int(np.prod([c.shape[2] for c in cores]))
    return w.reshape(n_out, -1)


# ------------------------------------------------------------------------ hierarchical Tucker

def ht_tree(d: int) -> Any:
    """The balanced dimension tree over modes ``0..d-1`` as nested pairs (a leaf is its int),
    the left child taking ``ceil(n/2)`` modes: ``((0, 1), 2)`` for d = 3, ``((0, 1), (2, 3))``
    for d = 4."""
    def build(modes: list[int]) -> Any:
        if len(modes) == 1:
            return modes[0]
        half = (len(modes) + 1) // 2
        return (build(modes[:half]), build(modes[half:]))
    if d < 2:
        raise CodesignError(f"HT needs at least 2 modes, got {d}")
    return build(list(range(d)))


def ht_shapes(in_modes: Sequence[int], out_modes: Sequence[int],
              rank: int) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """``(leaf shapes, transfer shapes)`` of the uniform-rank HT format on :func:`ht_tree`:
    leaves ``(n_k, m_k, r)``; transfer tensors in post-order, ``(r, r, r)`` for an inner node and
    ``(r, r)`` for the root (rank 1)."""
    d = len(in_modes)
    leaves: list[tuple[int, ...]] = [(n, m, rank)
                                     for n, m in zip(in_modes, out_modes, strict=True)]
    n_inner = d - 1
    transfers: list[tuple[int, ...]] = [(rank, rank, rank)] * (n_inner - 1) + [(rank, rank)]
    return leaves, transfers


def ht_param_count(in_modes: Sequence[int], out_modes: Sequence[int], rank: int) -> int:
    """``sum_k n_k m_k r + (d-2) r^3 + r^2`` (the count of :func:`ht_shapes`)."""
    leaves, transfers = ht_shapes(in_modes, out_modes, rank)
    return sum(int(np.prod(s)) for s in leaves + transfers)


def _ht_spec(d: int, with_x: bool) -> str:
    """Einsum over ``[x,] leaf_1, ..., leaf_d`` interleaved with the transfer tensors in the
    order of a post-order walk of the tree (leaves as met, a node's transfer after its children);
    the operands must be passed in :func:`_ht_operands` order."""
    ins, outs = _LETTERS[1:d + 1], _LETTERS[d + 1:2 * d + 1]
    fresh = iter(_LETTERS[2 * d + 1:])
    terms: list[str] = []

    def walk(node: Any, root: bool) -> str:
        if isinstance(node, int):
            r = next(fresh)
            terms.append(f"{ins[node]}{outs[node]}{r}")
            return r
        left, right = walk(node[0], False), walk(node[1], False)
        if root:
            terms.append(f"{left}{right}")
            return ""
        parent = next(fresh)
        terms.append(f"{left}{right}{parent}")
        return parent

    walk(ht_tree(d), True)
    if with_x:
        return f"a{ins}," + ",".join(terms) + f"->a{outs}"
    return ",".join(terms) + f"->{outs}{ins}"


def _ht_operands(leaves: Sequence[torch.Tensor],
                 transfers: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    d = len(leaves)
    it_t = iter(transfers)
    ops: list[torch.Tensor] = []

    def walk(node: Any) -> None:
        if isinstance(node, int):
            ops.append(leaves[node])
            return
        walk(node[0])
        walk(node[1])
        ops.append(next(it_t))

    walk(ht_tree(d))
    return ops


def _ht_subtree(node: Any, leaves: Sequence[torch.Tensor],
                transfers: Iterator[torch.Tensor]) -> torch.Tensor:
    """The weight-only operator of a non-root subtree as ``(N, M, r)``: ``N`` / ``M`` the
    row-major products of its input / output modes, ``r`` its rank to the parent."""
    if isinstance(node, int):
        return leaves[node]
    left = _ht_subtree(node[0], leaves, transfers)
    right = _ht_subtree(node[1], leaves, transfers)
    b = next(transfers)
    out = torch.einsum("xya,zwb,abc->xzywc", left, right, b)
    n_l, m_l, _ = left.shape
    n_r, m_r, _ = right.shape
    return out.reshape(n_l * n_r, m_l * m_r, b.shape[2])


def ht_apply(x: torch.Tensor, leaves: Sequence[torch.Tensor],
             transfers: Sequence[torch.Tensor]) -> torch.Tensor:
    """``x @ W.T`` for the HT matrix of ``leaves`` (``(n_k, m_k, r)``) and ``transfers``
    (post-order, see :func:`ht_shapes`); shapes of ``x`` as :func:`tt_apply`.

    Each child of the root is first contracted into its weight-only operator (its leaves and
    transfer tensors: ``(N_child, M_child, r)``); the input then meets the left operator, the
    root matrix and the right operator in turn, so no intermediate exceeds
    ``batch * N_right * M_left * r``."""
    lead = x.shape[:-1]
    tree = ht_tree(len(leaves))
    it = iter(transfers)
    left = _ht_subtree(tree[0], leaves, it)
    right = _ht_subtree(tree[1], leaves, it)
    root = next(it)
    xt = x.reshape(-1, left.shape[0], right.shape[0])
    t = torch.einsum("pxz,xya->pzya", xt, left)
    t = torch.einsum("pzya,ab->pzyb", t, root)
    y = torch.einsum("pzyb,zwb->pyw", t, right)
    return y.reshape(*lead, -1)


def ht_dense(leaves: Sequence[torch.Tensor], transfers: Sequence[torch.Tensor]) -> torch.Tensor:
    """The ``prod m x prod n`` matrix the HT factors represent (``nn.Linear`` layout)."""
    w = torch.einsum(_ht_spec(len(leaves), False), *_ht_operands(leaves, transfers))
    n_out = int(np.prod([u.shape[1] for u in leaves]))
    return w.reshape(n_out, -1)


# ------------------------------------------------------------------------------------ layers

class TensorLinear(nn.Module):
    """A TT- or HT-factorised ``in -> out`` linear map with a bias, the factors stored as
    parameters (``factors``: the TT cores, or the HT leaves then the transfer tensors)."""

    def __init__(self, fmt: str, rank: int, in_modes: Sequence[int] = IN_MODES,
                 out_modes: Sequence[int] = OUT_MODES) -> None:
        super().__init__()
        if fmt not in FORMATS:
            raise CodesignError(f"tensor format must be one of {FORMATS}, got {fmt!r}")
        if not isinstance(rank, int) or rank < 1:
            raise CodesignError(f"tensor rank must be an int >= 1, got {rank!r}")
        self.fmt, self.rank = fmt, rank
        self.in_modes, self.out_modes = tuple(in_modes), tuple(out_modes)
        self.in_features = int(np.prod(in_modes))
        self.out_features = int(np.prod(out_modes))
        d = len(in_modes)
        if fmt == "tt":
            self.ranks = tt_ranks(in_modes, out_modes, rank)
            shapes: list[tuple[int, ...]] = [
                (self.ranks[k], n, m, self.ranks[k + 1])
                for k, (n, m) in enumerate(zip(in_modes, out_modes, strict=True))]
            self.n_leaves = d
            summed = int(np.prod(self.ranks[1:-1]))
        else:
            leaves, transfers = ht_shapes(in_modes, out_modes, rank)
            shapes = leaves + transfers
            self.n_leaves = d
            summed = rank ** (2 * d - 2)  # one rank index per tree edge
        # Equal std for every factor so that Var(W) = 1 / (3 in), PyTorch's default for Linear.
        target = 1.0 / (3.0 * self.in_features)
        std = (target / summed) ** (1.0 / (2 * len(shapes)))
        self.factors = nn.ParameterList(nn.Parameter(torch.randn(s) * std) for s in shapes)
        bound = 1.0 / self.in_features ** 0.5
        self.bias = nn.Parameter(torch.empty(self.out_features).uniform_(-bound, bound))

    @property
    def weight_params(self) -> int:
        return sum(p.numel() for p in self.factors)

    def apply_factors(self, x: torch.Tensor, factors: Sequence[torch.Tensor]) -> torch.Tensor:
        if self.fmt == "tt":
            return tt_apply(x, factors) + self.bias
        return ht_apply(x, factors[:self.n_leaves], factors[self.n_leaves:]) + self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply_factors(x, list(self.factors))

    def dense(self, factors: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """The represented ``out x in`` matrix (of ``factors`` when given)."""
        fs = list(self.factors) if factors is None else list(factors)
        if self.fmt == "tt":
            return tt_dense(fs)
        return ht_dense(fs[:self.n_leaves], fs[self.n_leaves:])

    def factor_rows(self, i: int, factor: torch.Tensor) -> torch.Tensor:
        """Factor ``i`` as a 2-D matrix whose rows are its contraction's output rows (see the
        module docstring); :meth:`factor_from_rows` inverts it."""
        perm, _ = self._row_layout(i, factor)
        return factor.permute(*perm).reshape(self._n_rows(i, factor), -1)

    def factor_from_rows(self, i: int, rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        perm, _ = self._row_layout(i, like)
        shaped = rows.reshape([like.shape[p] for p in perm])
        return shaped.permute(*np.argsort(perm).tolist())

    def _row_layout(self, i: int, factor: torch.Tensor) -> tuple[list[int], int]:
        if self.fmt == "tt":            # (r_{k-1}, n, m, r_k): rows (r_{k-1}, m)
            return [0, 2, 1, 3], 2
        if i < self.n_leaves:           # (n, m, r): rows (m, r)
            return [1, 2, 0], 2
        if factor.ndim == 3:            # (r_left, r_right, r_parent): rows r_parent
            return [2, 0, 1], 1
        return [0, 1], 0                # root (r_left, r_right): one row

    def _n_rows(self, i: int, factor: torch.Tensor) -> int:
        perm, lead = self._row_layout(i, factor)
        return int(np.prod([factor.shape[p] for p in perm[:lead]])) if lead else 1


__all__ = ["FORMATS", "IN_MODES", "OUT_MODES", "TensorLinear", "ht_apply", "ht_dense",
           "ht_param_count", "ht_shapes", "ht_tree", "tt_apply", "tt_dense",
           "tt_param_count", "tt_ranks"]
