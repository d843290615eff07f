"""``Workload``: an ordered tuple of layer records plus the edges between them."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hwsim.errors import Problem, WorkloadError
from hwsim.ir.layers import Gemm, Layer

if TYPE_CHECKING:
    import networkx as nx

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class WorkloadArrays:
    """Structure-of-arrays view of a workload's GEMMs, the form numba kernels take.

    One row per GEMM (a layer may lower to several). ``layer`` maps each GEMM to the index of its
    layer; ``first_gemm`` (length ``n_layers + 1``) gives each layer's GEMM rows as a slice
    ``first_gemm[i]:first_gemm[i+1]``. ``independent`` is ``Gemm.independent`` as 0/1. All
    arrays are int64 and read-only.
    """

    m: IntArray
    n: IntArray
    k: IntArray
    count: IntArray
    layer: IntArray
    first_gemm: IntArray
    independent: IntArray

    @property
    def macs(self) -> IntArray:
        return self.m * self.n * self.k * self.count

    def __len__(self) -> int:
        return int(self.m.shape[0])


@functools.lru_cache(maxsize=65536)
def _gemm_rows(layer: Layer) -> tuple[tuple[int, int, int, int, int], ...]:
    """A layer's GEMMs as plain ``(m, n, k, count, independent)`` tuples, cached: searches
    rebuild workloads from the same layer records (low-rank rewrites) many times."""
    return tuple((g.m, g.n, g.k, g.count, int(g.independent)) for g in layer.gemms())


def _readonly(values: Sequence[int]) -> IntArray:
    arr = np.asarray(values, dtype=np.int64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class Workload:
    """An ordered network: layers in execution order and the data edges between them.

    ``edges`` are ``(producer, consumer)`` pairs of layer indices; when omitted the layers form a
    chain. Residual adds and concatenations are edges, not layers (they are not GEMMs).
    """

    name: str
    layers: tuple[Layer, ...]
    edges: tuple[tuple[int, int], ...] | None = None
    description: str = ""
    source: str = ""
    _arrays: WorkloadArrays = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not self.layers:
            problems.append(Problem("layers", self.layers, "a workload needs at least one layer"))
        seen: dict[str, int] = {}
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                problems.append(Problem(f"layers[{i}]", layer, "is not a layer record"))
            elif layer.name in seen:
                problems.append(Problem(f"layers[{i}].name", layer.name,
                                        f"duplicates layers[{seen[layer.name]}]"))
            else:
                seen[layer.name] = i
        if self.edges is None:
            chain = tuple((i, i + 1) for i in range(len(self.layers) - 1))
            object.__setattr__(self, "edges", chain)
        else:
            object.__setattr__(self, "edges", tuple((int(a), int(b)) for a, b in self.edges))
            for a, b in self.edges or ():
                if not (0 <= a < b < len(self.layers)):
                    problems.append(Problem("edges", (a, b),
                                            "must point forward between existing layer indices"))
        if not problems:
            total = sum(gm * gn * gk * gc for layer in self.layers
                        for gm, gn, gk, gc, _ in _gemm_rows(layer))
            if total > 2**63 - 1:  # the kernels sum MACs in int64
                problems.append(Problem("macs", total, "the network's MACs exceed int64 "
                                        "(2**63 - 1); split it into smaller workloads"))
        if problems:
            raise WorkloadError(f"workload {self.name!r}", problems)
        object.__setattr__(self, "_arrays", self._build_arrays())

    def _build_arrays(self) -> WorkloadArrays:
        m, n, k, count, indep, owner, first = [], [], [], [], [], [], [0]
        for i, layer in enumerate(self.layers):
            for gm, gn, gk, gc, gi in _gemm_rows(layer):
                m.append(gm)
                n.append(gn)
                k.append(gk)
                count.append(gc)
                indep.append(gi)
                owner.append(i)
            first.append(len(m))
        return WorkloadArrays(*(_readonly(a) for a in (m, n, k, count, owner, first, indep)))

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterable[Layer]:  # type: ignore[override]
        return iter(self.layers)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(f"workload {self.name!r} has no layer {name!r}")

    def gemms(self) -> list[tuple[int, Gemm]]:
        """Every GEMM of the workload with the index of the layer it comes from."""
        return [(i, g) for i, layer in enumerate(self.layers) for g in layer.gemms()]

    def to_arrays(self) -> WorkloadArrays:
        """The structure-of-arrays view (computed once, at construction)."""
        return self._arrays

    @property
    def macs(self) -> int:
        return int(self._arrays.macs.sum())

    @property
    def weight_params(self) -> int:
        return sum(layer.weight_params for layer in self.layers)

    def to_networkx(self) -> nx.DiGraph:
        """The layer DAG: nodes are layer indices with ``layer`` and ``name`` attributes."""
        import networkx as nx

        graph = nx.DiGraph(name=self.name)
        for i, layer in enumerate(self.layers):
            graph.add_node(i, name=layer.name, layer=layer)
        graph.add_edges_from(self.edges or ())
        return graph

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "layers": len(self.layers), "gemms": len(self._arrays),
                "macs": self.macs, "params": self.weight_params,
                "description": self.description}
