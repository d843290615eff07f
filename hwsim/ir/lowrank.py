"""Low-rank rewriting of a workload: the layer records a rank search produces.

``Linear -> SvdLinear`` (rank r: ``in -> r -> out``) and dense ``Conv2d -> Tucker2Conv`` (ranks
``r_in = min(r, C_in)``, ``r_out = min(r, C_out)``), REFERENCE.md section 5 (HALOC, ELRT). A
rewritten layer keeps its name and position, so per-layer design tuples still line up.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace

from hwsim.errors import Problem, WorkloadError
from hwsim.ir.layers import Conv2d, Layer, Linear, SvdLinear, Tucker2Conv
from hwsim.ir.workload import Workload


def full_rank(layer: Layer) -> int | None:
    """The largest rank that can be asked of ``layer``, or ``None`` when it cannot be factorised."""
    if isinstance(layer, Linear | SvdLinear):
        return min(layer.in_features, layer.out_features)
    if isinstance(layer, Conv2d) and layer.groups == 1:
        return max(layer.in_channels, layer.out_channels)
    return None


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
