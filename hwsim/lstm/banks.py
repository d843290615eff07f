"""Banked working memory: bank mappings, the address streams of a contraction stage, and the
cycles an access group costs.

A buffer holds one intermediate tensor of a :class:`~hwsim.lstm.plan.Plan` in its producer's
row-major layout (index order ``layout``, slowest first). An *access group* is the ``P``
addresses the PE array touches in one cycle; on ``B`` banks of ``ports`` ports it costs
``max over banks ceil(hits / ports)`` cycles (REFERENCE.md section 4), at least 1.

Mappings (element -> bank), each a function of the element's multi-index in the layout:

* ``interleave``: ``flat address mod B``, the plain low-order interleave;
* ``skew(a, b)``: ``(a*row + b*col) mod B`` over the producer's ``rows x cols`` matrix view
  (linear skewing, Budnik & Kuck 1971; conflict-free on rows iff ``gcd(b, B) = 1``, on columns
  iff ``gcd(a, B) = 1``);
* ``xor``: ``(row xor col) mod B`` (B a power of two; conflict-free on aligned rows and
  columns; Frailong et al. 1985);
* ``linear(c)``: ``sum_x c_x * x mod B`` over every tensor index ``x`` of the layout, one
  coefficient per index: the per-stage mapping a search picks (:func:`search_mapping`). Its
  address generator is a set of counters, one per index, as the stage's loops already keep.

Streams of a stage (row-parallel PE array, :mod:`hwsim.lstm.accel`): PE ``p`` owns rows
``p, p+P, ...`` of the stage's GEMM ``(rows x inner) @ (inner x cols)``. The *read* stream takes,
for each block of ``P`` rows and each inner position, the ``P`` operands of the block
(:func:`read_groups`); the *write* stream stores each block's ``P x cols`` results, one column a
cycle (:func:`write_groups`). Both are element multi-indices; a mapping turns them into banks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hwsim.errors import CodesignError
from hwsim.lstm.plan import Plan, Stage

IntArray = npt.NDArray[np.int64]

MAPPINGS = ("interleave", "skew", "xor", "per-stage")
"""The mapping policies :func:`stage_mapping` understands."""


@dataclass(frozen=True)
class Buffer:
    """A tensor stored in the working memory: index names (slowest first), their sizes, and
    how many leading indices form the producer matrix's row (the rest its column)."""

    layout: tuple[str, ...]
    dims: Mapping[str, int]
    row_split: int

    @property
    def elems(self) -> int:
        return math.prod(self.dims[i] for i in self.layout)

    def strides(self) -> dict[str, int]:
        out, s = {}, 1
        for i in reversed(self.layout):
            out[i] = s
            s *= self.dims[i]
        return out

    def matrix(self, idx: Mapping[str, IntArray]) -> tuple[IntArray, IntArray]:
        """``(row, col)`` of elements in the producer's matrix view."""
        row = np.zeros_like(next(iter(idx.values())))
        col = np.zeros_like(row)
        for pos, name in enumerate(self.layout):
            if pos < self.row_split:
                row = row * self.dims[name] + idx[name]
            else:
                col = col * self.dims[name] + idx[name]
        return row, col


@dataclass(frozen=True)
class BankMapping:
    """A bank mapping: ``kind`` in interleave / skew / xor / linear and its parameters."""

    kind: str
    banks: int
    a: int = 1
    b: int = 1
    coefs: Mapping[str, int] = field(default_factory=dict)

    def bank(self, buf: Buffer, idx: Mapping[str, IntArray]) -> IntArray:
        """The bank of each element (``idx``: index name -> value array, any common shape)."""
        B = self.banks
        if self.kind == "interleave":
            flat = np.zeros_like(next(iter(idx.values())))
            for name in buf.layout:
                flat = flat * buf.dims[name] + idx[name]
            return flat % B
        if self.kind == "linear":
            out = np.zeros_like(next(iter(idx.values())))
            for name, c in self.coefs.items():
                if c:
                    out = out + c * idx[name]
            return out % B
        row, col = buf.matrix(idx)
        if self.kind == "skew":
            return (self.a * row + self.b * col) % B
        if self.kind == "xor":
            return (row ^ col) % B
        raise CodesignError(f"unknown bank mapping {self.kind!r}")

    def describe(self) -> str:
        if self.kind == "skew":
            return f"skew(a={self.a}, b={self.b})"
        if self.kind == "linear":
            terms = " + ".join(f"{c}*{n}" for n, c in self.coefs.items() if c) or "0"
            return f"linear({terms}) mod {self.banks}"
        return self.kind


def interleave(banks: int) -> BankMapping:
    return BankMapping("interleave", banks)


def skew(banks: int, a: int, b: int) -> BankMapping:
    return BankMapping("skew", banks, a=a, b=b)


def xor(banks: int) -> BankMapping:
    if banks & (banks - 1):
        raise CodesignError(f"the xor mapping needs a power-of-two bank count, got {banks}")
    return BankMapping("xor", banks)


def linear(banks: int, coefs: Mapping[str, int]) -> BankMapping:
    return BankMapping("linear", banks, coefs=dict(coefs))


# ------------------------------------------------------------------------------ streams


def _unravel(flat: IntArray, names: Sequence[str], dims: Mapping[str, int]) -> dict[str, IntArray]:
    out: dict[str, IntArray] = {}
    rest = flat
    for name in reversed(names):
        out[name] = rest % dims[name]
        rest = rest // dims[name]
    return out


def read_groups(stage: Stage, dims: Mapping[str, int], pes: int) -> tuple[dict[str, IntArray],
                                                                          npt.NDArray[np.bool_]]:
    """The stage's read stream: ``[groups, P]`` index arrays (groups: row blocks x inner, inner
    fastest) and the ``[groups, P]`` mask of lanes that hold a real row."""
    blocks = -(-stage.rows // pes)
    row = (np.arange(blocks)[:, None, None] * pes + np.arange(pes)[None, None, :])
    inner = np.arange(stage.inner)[None, :, None]
    row, inner = np.broadcast_arrays(row, inner)
    valid = row < stage.rows
    row = np.where(valid, row, 0).reshape(-1, pes)
    inner = inner.reshape(-1, pes)
    idx = _unravel(row, stage.row_indices, dims) | _unravel(inner, stage.inner_indices, dims)
    return idx, valid.reshape(-1, pes)


def write_groups(stage: Stage, dims: Mapping[str, int], pes: int, *,
                 stagger: bool = False) -> tuple[dict[str, IntArray], npt.NDArray[np.bool_]]:
    """The stage's write stream: per row block, ``cols`` groups in which the P PEs each store one
    result of their row. Unstaggered, every PE stores column ``c`` at step ``c``; staggered,
    PE ``p`` stores column ``(c + p) mod cols`` (each PE holds its row's results in registers
    at the end of a block, so the order is free)."""
    blocks = -(-stage.rows // pes)
    lane = np.arange(pes)[None, None, :]
    row = np.arange(blocks)[:, None, None] * pes + lane
    col = np.arange(stage.cols)[None, :, None]
    if stagger:
        col = (col + lane) % stage.cols
    row, col = np.broadcast_arrays(row, col)
    valid = row < stage.rows
    row = np.where(valid, row, 0).reshape(-1, pes)
    col = col.reshape(-1, pes)
    idx = _unravel(row, stage.row_indices, dims) | _unravel(col, stage.col_indices, dims)
    return idx, valid.reshape(-1, pes)


def group_cycles(bank: IntArray, valid: npt.NDArray[np.bool_], banks: int,
                 ports: int = 1) -> IntArray:
    """Cycles each access group takes: ``max over banks ceil(hits / ports)``, at least 1."""
    hits = np.zeros((bank.shape[0], banks), dtype=np.int64)
    rows = np.broadcast_to(np.arange(bank.shape[0])[:, None], bank.shape)
    np.add.at(hits, (rows[valid], bank[valid]), 1)
    return np.maximum(-(-hits.max(axis=1) // ports), 1)


def bank_hits(bank: IntArray, valid: npt.NDArray[np.bool_], banks: int) -> IntArray:
    """``[groups, banks]`` accesses per bank in each group (the picture of a stage)."""
    hits = np.zeros((bank.shape[0], banks), dtype=np.int64)
    rows = np.broadcast_to(np.arange(bank.shape[0])[:, None], bank.shape)
    np.add.at(hits, (rows[valid], bank[valid]), 1)
    return hits


# ------------------------------------------------------------------------------ buffers


def stage_buffers(plan: Plan) -> list[Buffer]:
    """The buffer each stage reads (stage 0: the input, in X's layout; its row is everything but
    the last mode) followed by the final output buffer."""
    dims = plan.network.dims
    out = [Buffer(plan.stages[0].layout, dims, len(plan.stages[0].layout) - 1)]
    for s in plan.stages:
        out.append(Buffer(s.out_layout, dims, len(s.row_indices)))
    return out


def _sample(n: int, limit: int, rng: np.random.Generator) -> IntArray:
    if n <= limit:
        return np.arange(n)
    head = np.arange(limit // 2)
    return np.unique(np.concatenate([head, rng.choice(n, limit - head.size, replace=False)]))


def search_mapping(buf: Buffer, streams: Sequence[tuple[dict[str, IntArray],
                                                        npt.NDArray[np.bool_]]],
                   banks: int, ports: int = 1, *, sample: int = 512,
                   seed: int = 0) -> BankMapping:
    """A ``linear`` mapping of ``buf`` with the fewest conflict cycles over ``streams`` (the
    writes that fill the buffer and the reads that drain it).

    Candidates: one coefficient in ``0..B-1`` for each index that varies inside some access
    group (at most 4; the others get 0), searched exhaustively on a sample of the groups, the
    winner checked on every group; the plain interleave (as linear coefficients, the index
    strides) is a candidate too, so the search never does worse than it."""
    rng = np.random.default_rng(seed)
    varying: dict[str, int] = {}
    sampled = []
    for idx, valid in streams:
        rows = _sample(valid.shape[0], sample, rng)
        part = {k: v[rows] for k, v in idx.items()}
        sampled.append((part, valid[rows]))
        for name, v in part.items():
            spread = int((v.max(axis=1) - v.min(axis=1)).max()) if v.size else 0
            if spread and name in buf.layout:
                varying[name] = max(varying.get(name, 0), spread)
    names = sorted(varying, key=lambda n: -varying[n])[:4]
    strides = buf.strides()
    baseline = {n: strides[n] % banks for n in buf.layout}
    # 0, 3 and the powers of two first (the coefficients a conflict-free mapping of
    # mixed-radix strides usually needs), then every value; both tiers exhaustive over the
    # varying indices
    simple = sorted({0, 3 % banks} | {1 << e for e in range(banks.bit_length()) if 1 << e < banks})
    tiers = []
    for values in (simple, [v for v in range(banks)]):
        grids = np.meshgrid(*[np.asarray(values)] * len(names), indexing="ij")
        tiers.append(np.stack([g.reshape(-1) for g in grids], axis=1) if names
                     else np.zeros((1, 0), np.int64))
    cands = np.concatenate(tiers)
    floor = sum(int(v.shape[0]) for _, v in sampled)
    total = np.full(cands.shape[0], np.iinfo(np.int64).max, dtype=np.int64)
    for lo in range(0, cands.shape[0], 256):
        chunk = cands[lo:lo + 256]
        cost = np.zeros(chunk.shape[0], dtype=np.int64)
        for part, valid in sampled:
            val = np.stack([part[n] for n in names], axis=0) if names else None
            # bank of each candidate for each access: [cands, groups, P]
            bank = (np.tensordot(chunk, val, axes=(1, 0)) if val is not None
                    else np.zeros((1, *valid.shape), np.int64)) % banks
            same = (bank[..., :, None] == bank[..., None, :]) & valid[None, :, None, :]
            most = np.where(valid[None], same.sum(axis=3), 0).max(axis=2)
            cost += np.maximum(-(-most // ports), 1).sum(axis=1)
        total[lo:lo + chunk.shape[0]] = cost
        if cost.min() == floor:  # conflict-free on the sample: stop
            break
    best = int(np.argmin(total))
    chosen = linear(banks, {n: int(c) for n, c in zip(names, cands[best], strict=True)})
    plain = linear(banks, baseline)

    def full_cost(m: BankMapping) -> int:
        return sum(int(group_cycles(m.bank(buf, idx), valid, banks, ports).sum())
                   for idx, valid in streams)

    return chosen if full_cost(chosen) <= full_cost(plain) else plain


@dataclass(frozen=True)
class StreamCost:
    """Cycles of one stream under one mapping: ``cycles`` (conflicts included), ``ideal`` (one
    per group) and their difference, ``conflict_cycles``."""

    cycles: int
    ideal: int

    @property
    def conflict_cycles(self) -> int:
        return self.cycles - self.ideal


def stream_cost(mapping: BankMapping, buf: Buffer, stream: tuple[dict[str, IntArray],
                                                             npt.NDArray[np.bool_]],
                ports: int = 1) -> StreamCost:
    idx, valid = stream
    cyc = group_cycles(mapping.bank(buf, idx), valid, mapping.banks, ports)
    return StreamCost(int(cyc.sum()), int(cyc.size))


def fixed_mapping(kind: str, banks: int, **params: Any) -> BankMapping:
    """``interleave``, ``xor`` or ``skew`` (``a``, ``b``) by name."""
    if kind == "interleave":
        return interleave(banks)
    if kind == "xor":
        return xor(banks)
    if kind == "skew":
        return skew(banks, int(params.get("a", 1)), int(params.get("b", 1)))
    raise CodesignError(f"unknown fixed mapping {kind!r}; use interleave, skew or xor")


__all__ = ["MAPPINGS", "Buffer", "BankMapping", "StreamCost", "bank_hits", "fixed_mapping",
           "group_cycles", "interleave", "linear", "read_groups", "search_mapping", "skew",
           "stage_buffers", "stream_cost", "write_groups", "xor"]
