"""Contraction IR and planner of tensor-train (TT) and hierarchical-Tucker (HT) linear layers.

A factorised matrix-vector product is a tensor network: the input ``X`` (indices ``i1..id``, the
input modes, plus ``b``, the tokens) and the weight tensors (TT cores; HT leaves and transfer
tensors), joined by rank edges. Evaluating it is a sequence of pairwise contractions. Contractions
between weight tensors only can be done once, offline (merged into one stored operand); every
contraction that involves the input is a *stage* run per input, lowered to one GEMM:

* rows: the intermediate's indices not contracted (kept), inner: the indices shared with the
  weight operand, columns: the weight operand's other indices; MACs = rows x inner x cols.

:func:`optimal_plan` finds the order with the fewest input-dependent MACs by dynamic programming
over the subsets of weight tensors (REFERENCE.md section 4: for LSTM-UCF's HT at rank 4 the
optimum is 1.86 M MACs in 4 stages against 15.5 M for the naive post-order,
:func:`leaf_first_plan`). :func:`tie_plan` is TIE's stage-by-stage TT order (core d first, Deng
et al. ISCA'19; Novikov et al. 2015), the order whose multiplication count TIE reports.

Each stage also records the *layout* of the intermediate it reads (the producer's row-major
``rows x cols`` order) and the order in which it reads it: the reshape-transpose between stages
that an accelerator performs through its banked working memory (:mod:`hwsim.lstm.banks`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from hwsim.errors import CodesignError
from hwsim.ir.layers import HTLinear, Layer, TTLinear

MAX_WEIGHT_TENSORS = 13
"""The DP is exponential in the weight tensors (3^w subsets); 13 allows HT with 7 leaves."""


@dataclass(frozen=True, slots=True)
class Tensor:
    """One tensor of the network: its name and index names (dims in :class:`Network`)."""

    name: str
    indices: tuple[str, ...]


@dataclass(frozen=True)
class Network:
    """A factorised layer as a tensor network.

    ``dims`` maps every index to its size; ``x`` is the input tensor, ``weights`` the weight
    tensors; ``outputs`` the open indices of the result (output modes ``o1..od`` and ``b``).
    ``fmt`` is ``"tt"`` or ``"ht"``; ``ranks`` the rank of each edge index.
    """

    fmt: str
    dims: Mapping[str, int]
    x: Tensor
    weights: tuple[Tensor, ...]
    outputs: tuple[str, ...]
    ranks: Mapping[str, int] = field(default_factory=dict)

    def size(self, indices: Sequence[str]) -> int:
        return math.prod(self.dims[i] for i in indices)

    @property
    def weight_params(self) -> int:
        return sum(self.size(t.indices) for t in self.weights)

    @cached_property
    def occurrences(self) -> dict[str, int]:
        """How many tensors (input and weights) hold each index."""
        out: dict[str, int] = {}
        for t in (self.x, *self.weights):
            for i in t.indices:
                out[i] = out.get(i, 0) + 1
        return out


@dataclass(frozen=True, slots=True)
class Stage:
    """One input-dependent contraction, lowered to a GEMM ``(rows x inner) @ (inner x cols)``.

    ``layout``: the index order (slowest first) of the intermediate this stage reads, as the
    previous stage wrote it (row-major ``rows x cols``; the raw input for stage 0).
    ``row_indices`` / ``inner_indices`` / ``col_indices``: the GEMM's index groups, slowest first;
    the stage reads its operand row by row in this order, which is a permutation of ``layout``
    (the transform). ``weights``: the weight tensors merged offline into this stage's operand.
    """

    index: int
    weights: tuple[str, ...]
    layout: tuple[str, ...]
    row_indices: tuple[str, ...]
    inner_indices: tuple[str, ...]
    col_indices: tuple[str, ...]
    rows: int
    inner: int
    cols: int
    weight_elems: int

    @property
    def macs(self) -> int:
        return self.rows * self.inner * self.cols

    @property
    def out_layout(self) -> tuple[str, ...]:
        return (*self.row_indices, *self.col_indices)

    @property
    def in_elems(self) -> int:
        return self.rows * self.inner

    @property
    def out_elems(self) -> int:
        return self.rows * self.cols

    @property
    def transposed(self) -> bool:
        """Whether the stage reads its operand in another order than it was written."""
        return (*self.row_indices, *self.inner_indices) != self.layout


@dataclass(frozen=True)
class Plan:
    """A contraction order: the stages, the network, and how the order was chosen."""

    network: Network
    stages: tuple[Stage, ...]
    order: str

    @property
    def macs(self) -> int:
        return sum(s.macs for s in self.stages)

    @property
    def stored_weight_elems(self) -> int:
        """Weight elements stored after the offline merges."""
        return sum(s.weight_elems for s in self.stages)

    @property
    def peak_intermediate_elems(self) -> int:
        """The largest intermediate (input included) live between two stages."""
        return max(max(s.in_elems, s.out_elems) for s in self.stages)

    def to_dict(self) -> dict[str, object]:
        return {
            "format": self.network.fmt, "order": self.order, "macs": self.macs,
            "weight_params": self.network.weight_params,
            "stored_weight_elems": self.stored_weight_elems,
            "dims": dict(self.network.dims),
            "stages": [{"index": s.index, "weights": list(s.weights), "rows": s.rows,
                        "inner": s.inner, "cols": s.cols, "macs": s.macs,
                        "layout": list(s.layout), "row_indices": list(s.row_indices),
                        "inner_indices": list(s.inner_indices),
                        "col_indices": list(s.col_indices), "transposed": s.transposed,
                        "weight_elems": s.weight_elems} for s in self.stages],
        }


# ------------------------------------------------------------------------------ networks


def tt_network(in_modes: Sequence[int], out_modes: Sequence[int], ranks: Sequence[int],
               tokens: int = 1) -> Network:
    """TT matrix (REFERENCE.md section 4): cores ``G_k[t_{k-1}, i_k, o_k, t_k]``; rank-1 boundary
    edges are dropped."""
    d = len(in_modes)
    if len(out_modes) != d or len(ranks) != d + 1 or ranks[0] != 1 or ranks[-1] != 1:
        raise CodesignError(f"TT network needs d in and out modes and d+1 ranks starting and "
                            f"ending with 1; got {tuple(in_modes)}, {tuple(out_modes)}, "
                            f"{tuple(ranks)}")
    dims: dict[str, int] = {"b": tokens}
    weights = []
    for k in range(d):
        dims[f"i{k + 1}"], dims[f"o{k + 1}"] = in_modes[k], out_modes[k]
        idx = [f"i{k + 1}", f"o{k + 1}"]
        if k > 0:
            idx.insert(0, f"t{k}")
        if k < d - 1:
            idx.append(f"t{k + 1}")
            dims[f"t{k + 1}"] = ranks[k + 1]
        weights.append(Tensor(f"G{k + 1}", tuple(idx)))
    x = Tensor("X", ("b", *(f"i{k + 1}" for k in range(d))))
    return Network("tt", dims, x, tuple(weights), ("b", *(f"o{k + 1}" for k in range(d))),
                   {f"t{k}": ranks[k] for k in range(1, d)})


def ht_tree(d: int) -> tuple[object, ...]:
    """The balanced binary dimension tree over leaves ``0..d-1`` as nested pairs (the left half
    takes the extra leaf: d = 3 gives ((0, 1), 2))."""
    def build(lo: int, hi: int) -> object:
        if hi - lo == 1:
            return lo
        mid = (lo + hi + 1) // 2
        return (build(lo, mid), build(mid, hi))
    tree = build(0, d)
    assert isinstance(tree, tuple)
    return tree


def ht_network(in_modes: Sequence[int], out_modes: Sequence[int], rank: int | Mapping[str, int],
               tokens: int = 1) -> Network:
    """HT matrix over :func:`ht_tree`: leaves ``U_k[i_k, o_k, e_k]``, transfer tensors
    ``B_v[e_left, e_right, e_v]`` and the root ``B_root[e_left, e_right]`` (root rank 1).

    ``rank``: one uniform rank, or a rank per edge name (``e1..ed`` the leaves' edges, ``e`` +
    the leaves below, e.g. ``e12``, for internal nodes; see :attr:`Network.ranks`)."""
    d = len(in_modes)
    if len(out_modes) != d or d < 2:
        raise CodesignError(f"HT network needs d >= 2 in and out modes; got {tuple(in_modes)}, "
                            f"{tuple(out_modes)}")
    dims: dict[str, int] = {"b": tokens}
    weights: list[Tensor] = []
    ranks: dict[str, int] = {}

    def edge_rank(name: str) -> int:
        r = rank if isinstance(rank, int) else rank.get(name)
        if not isinstance(r, int) or r < 1:
            raise CodesignError(f"HT edge {name!r}: rank must be an int >= 1, got {r!r}")
        return r

    def visit(node: object, root: bool) -> tuple[str, str]:
        """Adds the tensors below ``node``; returns (edge name to the parent, leaf label)."""
        if isinstance(node, int):
            k = node + 1
            dims[f"i{k}"], dims[f"o{k}"] = in_modes[node], out_modes[node]
            e = f"e{k}"
            dims[e] = ranks[e] = edge_rank(e)
            weights.append(Tensor(f"U{k}", (f"i{k}", f"o{k}", e)))
            return e, str(k)
        assert isinstance(node, tuple)
        el, ll = visit(node[0], False)
        er, lr = visit(node[1], False)
        label = ll + lr
        if root:
            weights.append(Tensor("B_root", (el, er)))
            return "", label
        e = f"e{label}"
        dims[e] = ranks[e] = edge_rank(e)
        weights.append(Tensor(f"B{label}", (el, er, e)))
        return e, label

    visit(ht_tree(d), True)
    x = Tensor("X", ("b", *(f"i{k + 1}" for k in range(d))))
    return Network("ht", dims, x, tuple(weights), ("b", *(f"o{k + 1}" for k in range(d))),
                   ranks)


def layer_network(layer: Layer) -> Network:
    """The network of a :class:`~hwsim.ir.layers.TTLinear` or
    :class:`~hwsim.ir.layers.HTLinear` (tokens as the ``b`` index)."""
    if isinstance(layer, TTLinear):
        return tt_network(layer.in_modes, layer.out_modes, layer.ranks, layer.tokens)
    if isinstance(layer, HTLinear):
        return ht_network(layer.in_modes, layer.out_modes, layer.rank, layer.tokens)
    raise CodesignError(f"layer {layer.name!r} is a {layer.kind}; only tt_linear and ht_linear "
                        f"layers have a contraction plan")


# ------------------------------------------------------------------------------ planning


def _open(net: Network, members: frozenset[int], with_x: bool) -> tuple[str, ...]:
    """Open indices of the contraction of weight tensors ``members`` (and X): an index stays
    open while some tensor holding it is outside the group, or it is a network output."""
    held: dict[str, int] = {}
    tensors = [net.weights[m] for m in sorted(members)] + ([net.x] if with_x else [])
    for t in tensors:
        for i in t.indices:
            held[i] = held.get(i, 0) + 1
    total = net.occurrences
    return tuple(i for i in _ordered(net, tensors)
                 if i in net.outputs or held[i] < total[i])


def _ordered(net: Network, tensors: Sequence[Tensor]) -> list[str]:
    seen: dict[str, None] = {}
    for t in tensors:
        for i in t.indices:
            seen.setdefault(i, None)
    return list(seen)


def _stage(net: Network, index: int, done: frozenset[int], group: frozenset[int],
           layout: tuple[str, ...]) -> Stage:
    a = _open(net, done, True)
    b = _open(net, group, False)
    shared = [i for i in b if i in a and i not in net.outputs]
    # rows keep the producer's order (slowest first), so a stage reads its rows in the order
    # they were written; inner and cols follow the weight operand's order
    rows = [i for i in layout if i in a and i not in shared]
    inner = [i for i in layout if i in shared]
    cols = [i for i in b if i not in shared]
    return Stage(index, tuple(net.weights[g].name for g in sorted(group)), layout, tuple(rows),
                 tuple(inner), tuple(cols), net.size(rows), net.size(inner), net.size(cols),
                 net.size(b))


def plan_from_groups(net: Network, groups: Sequence[Sequence[int]], order: str) -> Plan:
    """The plan contracting X with the weight groups in turn (each group merged offline)."""
    done: frozenset[int] = frozenset()
    layout = net.x.indices
    stages = []
    for s, g in enumerate(groups):
        group = frozenset(g)
        if not group or group & done:
            raise CodesignError(f"contraction group {tuple(g)} is empty or repeats a tensor")
        stage = _stage(net, s, done, group, layout)
        stages.append(stage)
        done |= group
        layout = stage.out_layout
    if done != frozenset(range(len(net.weights))):
        raise CodesignError("the contraction groups must cover every weight tensor")
    return Plan(net, tuple(stages), order)


def optimal_plan(net: Network) -> Plan:
    """The order with the fewest input-dependent MACs (weight-only merges are free, offline).

    Dynamic programming over subsets of weight tensors: ``best[S]`` is the cheapest way to have
    contracted X with the tensors of ``S``; the last step contracts the intermediate with a
    group ``G`` of ``S`` merged offline. Ties go to the fewer stages, then smaller merged
    weights."""
    w = len(net.weights)
    if w > MAX_WEIGHT_TENSORS:
        raise CodesignError(f"optimal_plan: {w} weight tensors is more than "
                            f"{MAX_WEIGHT_TENSORS} (3^w subsets)")
    full = (1 << w) - 1
    sizes = [0] * (1 << w)
    opens_x: list[tuple[str, ...]] = [()] * (1 << w)
    opens_w: list[tuple[str, ...]] = [()] * (1 << w)
    for mask in range(1 << w):
        members = frozenset(i for i in range(w) if mask >> i & 1)
        opens_x[mask] = _open(net, members, True)
        opens_w[mask] = _open(net, members, False)
        sizes[mask] = net.size(opens_w[mask])
    inf = (math.inf, math.inf, math.inf)
    best: list[tuple[float, float, float]] = [inf] * (1 << w)
    choice = [0] * (1 << w)
    best[0] = (0, 0, 0)
    for mask in range(1, full + 1):
        sub = mask
        while sub:
            prev = mask ^ sub
            if best[prev][0] < math.inf:
                a, b = opens_x[prev], opens_w[sub]
                cost = net.size(tuple(dict.fromkeys((*a, *b))))
                cand = (best[prev][0] + cost, best[prev][1] + 1, best[prev][2] + sizes[sub])
                if cand < best[mask]:
                    best[mask], choice[mask] = cand, sub
            sub = (sub - 1) & mask
    groups = []
    mask = full
    while mask:
        sub = choice[mask]
        groups.append([i for i in range(w) if sub >> i & 1])
        mask ^= sub
    return plan_from_groups(net, groups[::-1], "optimal")


def leaf_first_plan(net: Network) -> Plan:
    """The network evaluated naively, one weight tensor per stage in post-order (each leaf
    contracted with the input, each transfer tensor as soon as both its children are in; no
    offline merging). For HT-UCF at rank 4: 15.47 M MACs, REFERENCE.md's 15.5 M."""
    return plan_from_groups(net, [[i] for i in range(len(net.weights))], "leaf-first")


def tie_plan(net: Network) -> Plan:
    """TIE's stage-by-stage TT order: core d first, down to core 1, one core per stage."""
    if net.fmt != "tt":
        raise CodesignError("tie_plan is TIE's order for TT networks")
    return plan_from_groups(net, [[k] for k in range(len(net.weights) - 1, -1, -1)], "tie")


def plan_layer(layer: Layer, order: str = "optimal") -> Plan:
    """:func:`optimal_plan`, :func:`leaf_first_plan` or :func:`tie_plan` of a TT/HT layer."""
    net = layer_network(layer)
    if order == "optimal":
        return optimal_plan(net)
    if order == "leaf-first":
        return leaf_first_plan(net)
    if order == "tie":
        return tie_plan(net)
    raise CodesignError(f"unknown contraction order {order!r}; use optimal, leaf-first or tie")


__all__ = ["Network", "Plan", "Stage", "Tensor", "ht_network", "ht_tree", "layer_network",
           "leaf_first_plan", "optimal_plan", "plan_from_groups", "plan_layer", "tie_plan",
           "tt_network"]
