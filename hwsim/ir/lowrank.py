"""Low-rank rewriting of a workload: the layer records a rank search produces.

``Linear -> SvdLinear`` (rank r: ``in -> r -> out``) and dense ``Conv2d -> Tucker2Conv`` (ranks
``r_in = min(r, C_in)``, ``r_out = min(r, C_out)``), REFERENCE.md section 5 (HALOC, ELRT). A
tensor-decomposed layer takes a new rank in its own format: ``HTLinear`` rank r is the uniform HT
rank; ``TTLinear`` rank r sets every internal TT rank to r, clipped to what the modes allow
(``r_k <= min(prod_{i<=k} in_i*out_i, prod_{i>k} in_i*out_i)``, Oseledets 2011). A rewritten
layer keeps its name and position, so per-layer design tuples still line up.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import replace

from hwsim.errors import Problem, WorkloadError
from hwsim.ir.layers import Conv2d, HTLinear, Layer, Linear, SvdLinear, TTLinear, Tucker2Conv
from hwsim.ir.workload import Workload

MAX_TENSOR_RANK = 16
"""The largest TT / HT rank a design may ask for (the published TT-RNN, TIE and FDHT-LSTM
models use ranks of 4 or so)."""


def full_rank(layer: Layer) -> int | None:
    """The largest rank that can be asked of ``layer``, or ``None`` when it cannot be factorised."""
    if isinstance(layer, Linear | SvdLinear):
        return min(layer.in_features, layer.out_features)
    if isinstance(layer, Conv2d) and layer.groups == 1:
        return max(layer.in_channels, layer.out_channels)
    if isinstance(layer, TTLinear | HTLinear):
        return MAX_TENSOR_RANK
    return None


def tt_ranks(in_modes: Sequence[int], out_modes: Sequence[int], rank: int) -> tuple[int, ...]:
    """Uniform internal TT rank ``rank``, each clipped to the largest the modes allow."""
    sizes = [i * o for i, o in zip(in_modes, out_modes, strict=True)]
    d = len(sizes)
    inner = [min(rank, math.prod(sizes[:k]), math.prod(sizes[k:])) for k in range(1, d)]
    return (1, *inner, 1)


def rank_problems(workload: Workload, ranks: Sequence[int | None]) -> list[Problem]:
    problems: list[Problem] = []
    if len(ranks) != len(workload.layers):
        problems.append(Problem("rank", len(ranks),
                                f"needs one entry per layer ({len(workload.layers)})"))
        return problems
    for layer, r in zip(workload.layers, ranks, strict=True):
        if r is None:
            continue
        limit = full_rank(layer)
        if limit is None:
            problems.append(Problem(f"{layer.name}.rank", r,
                                    f"a {layer.kind} layer cannot be factorised"))
        elif not isinstance(r, int) or isinstance(r, bool) or not 1 <= r <= limit:
            problems.append(Problem(f"{layer.name}.rank", r, f"must be an int in [1, {limit}]"))
    return problems


@functools.lru_cache(maxsize=65536)
def low_rank_layer(layer: Layer, rank: int) -> Layer:
    """The low-rank form of ``layer`` at ``rank`` (cached: records are frozen)."""
    if isinstance(layer, Linear):
        return SvdLinear(layer.name, layer.in_features, layer.out_features, rank, layer.tokens)
    if isinstance(layer, SvdLinear):
        return replace(layer, rank=rank)
    if isinstance(layer, TTLinear):
        return replace(layer, ranks=tt_ranks(layer.in_modes, layer.out_modes, rank))
    if isinstance(layer, HTLinear):
        return replace(layer, rank=rank)
    if isinstance(layer, Conv2d) and layer.groups == 1:
        return Tucker2Conv(layer.name, layer.in_channels, layer.out_channels, layer.in_height,
                           layer.in_width, layer.kernel_h, layer.kernel_w,
                           min(rank, layer.in_channels), min(rank, layer.out_channels),
                           layer.stride, layer.padding, layer.dilation, layer.batch)
    raise WorkloadError(f"layer {layer.name!r}", [Problem("rank", rank, "cannot be factorised")])


def apply_ranks(workload: Workload, ranks: Sequence[int | None]) -> Workload:
    """``workload`` with every layer whose rank is set replaced by its low-rank form."""
    problems = rank_problems(workload, ranks)
    if problems:
        raise WorkloadError(f"ranks for workload {workload.name!r}", problems)
    if all(r is None for r in ranks):
        return workload
    layers = tuple(layer if r is None else low_rank_layer(layer, r)
                   for layer, r in zip(workload.layers, ranks, strict=True))
    return Workload(f"{workload.name}+lowrank", layers, workload.edges, workload.description,
                    workload.source)
