"""Frozen layer records of the workload IR and their lowering to GEMMs.

Length: over 600 lines on purpose. Every layer kind and its lowering convention sit together
so that the convention below is read and checked in one file.

Lowering convention (used by every cost model in codesign):

* A GEMM is ``Gemm(m, n, k, count, independent)``: an ``m x k`` activation matrix times a
  ``k x n`` weight matrix, repeated ``count`` times with different operands. MACs =
  ``m * n * k * count``. ``independent`` (default true) says the repetitions may run
  concurrently (groups, heads, experts); an LSTM's time steps are not.
* Batch is 1 unless a layer says otherwise; batch multiplies ``m``.
* Conv2d: ``m`` = output pixels (H_out * W_out * batch), ``k`` = C_in/groups * kh * kw,
  ``n`` = C_out/groups, ``count`` = groups. A dense conv is one GEMM; a depthwise conv
  (groups == C_in == C_out) is ``C`` GEMMs with ``n = 1``. This is the im2col lowering of
  N3H-Core's released latency model (REFERENCE.md section 1) for groups == 1.
* Linear: ``m`` = tokens (rows of the input), ``k`` = in_features, ``n`` = out_features.
* Batched MatMul (attention scores and context): ``count`` = batch * heads.
* LSTM cell: one GEMM per time step of ``[x_t; h_{t-1}]`` (k = input + hidden) onto the four
  stacked gates (n = 4 * hidden); ``count`` = time steps, ``independent=False`` (each step
  needs the previous one's hidden state). Element-wise gate maths is not a GEMM
  and is left to the accelerator models.
* TT / HT linear: the input-dependent contraction stages, each a GEMM (see the classes).
* Low-rank forms: SVD linear = two GEMMs, Tucker-2 conv = three (REFERENCE.md section 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from hwsim.errors import Checker, WorkloadError

# Upper bounds, so that every count reaches numpy's int64 (``Workload.to_arrays()``) and the
# numba kernels without wrapping, yet far beyond any real network.

MAX_DIM = 2**31
"""Any one size of a layer (channels, features, spatial sizes, kernel, tokens, batch, modes,
ranks, experts): the largest real ones are around 2**20 (a million-token context)."""

MAX_MACS = 2**53
"""MACs of one layer, and so of each of its GEMMs (``m*n*k*count``): float64 holds every
integer up to here exactly (cost models divide MAC counts in floating point), and summing 1024
such layers still fits int64. The largest real layers (an LLM FFN over a 128k-token prompt) have
about 2**47."""

_INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Gemm:
    """One GEMM (or ``count`` identical GEMMs): ``(m x k) @ (k x n)``.

    ``independent``: whether the ``count`` repetitions may run concurrently on different cores
    (groups, attention heads, MoE experts: true), or must run one after another because each
    needs the previous one's output (an LSTM's time steps: false). Meaningless for
    ``count == 1``.
    """

    m: int
    n: int
    k: int
    count: int = 1
    independent: bool = True

    def __post_init__(self) -> None:
        c = Checker()
        for name in ("m", "n", "k", "count"):
            value = getattr(self, name)
            c.require(isinstance(value, int) and not isinstance(value, bool)
                      and 1 <= value <= _INT64_MAX, name, value,
                      f"must be an int in [1, {_INT64_MAX}] (int64)")
        c.require(isinstance(self.independent, bool), "independent", self.independent,
                  "must be a bool")
        if not c.problems:
            c.require(self.macs <= _INT64_MAX, "macs", self.macs,
                      f"m*n*k*count must be <= {_INT64_MAX} (int64)")
        c.raise_if_any(WorkloadError, "Gemm")

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k * self.count


def _conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output size of a convolution along one axis (PyTorch's Conv2d formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class Layer:
    """Mixin of every layer record: a ``name``, a ``kind`` tag, and lowering to GEMMs."""

    __slots__ = ()
    kind: ClassVar[str] = "layer"
    name: str

    def gemms(self) -> tuple[Gemm, ...]:
        raise NotImplementedError

    @property
    def macs(self) -> int:
        return sum(g.macs for g in self.gemms())

    @property
    def weight_params(self) -> int:
        """Number of weights (biases excluded)."""
        raise NotImplementedError

    @property
    def out_channels_total(self) -> int:
        """Output channels (features) of the layer: the axis N3H-Core splits between cores."""
        raise NotImplementedError

    def shape_str(self) -> str:
        raise NotImplementedError

    def _start(self) -> Checker:
        c = Checker()
        c.require(isinstance(self.name, str) and bool(self.name), "name", self.name,
                  "must be a non-empty string")
        return c

    def _finish(self, c: Checker) -> None:
        if not c.problems:  # every size is in range: check the products they lower to
            try:
                macs = sum(g.macs for g in self.gemms())
                c.require(macs <= MAX_MACS, "macs", macs, f"the layer's MACs must be <= 2**53 "
                          f"= {MAX_MACS}; its sizes are too large")
            except WorkloadError as err:  # a GEMM size beyond int64
                bad = err.problems[0]
                c.add("macs", bad.value, f"a GEMM's {bad.field} exceeds int64 (2**63 - 1); the "
                      "layer's sizes are too large")
        c.raise_if_any(WorkloadError, f"{type(self).__name__} {self.name!r}")


def _ints(c: Checker, obj: object, names: tuple[str, ...], minimum: int) -> None:
    for name in names:
        value = getattr(obj, name)
        ok = isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= MAX_DIM
        c.require(ok, name, value, f"must be an int in [{minimum}, {MAX_DIM}]")


def _int_tuple(value: object) -> bool:
    """A non-empty tuple of ints in ``[1, MAX_DIM]``."""
    return isinstance(value, tuple) and bool(value) and all(
        isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_DIM for v in value)


@dataclass(frozen=True, slots=True)
class Conv2d(Layer):
    """2-D convolution over an ``in_height x in_width`` input (PyTorch semantics).

    ``groups == in_channels == out_channels`` is a depthwise conv.
    """

    kind: ClassVar[str] = "conv2d"
    name: str
    in_channels: int
    out_channels: int
    in_height: int
    in_width: int
    kernel_h: int
    kernel_w: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    batch: int = 1

    def __post_init__(self) -> None:
        c = self._start()
        _ints(c, self, ("in_channels", "out_channels", "in_height", "in_width", "kernel_h",
                        "kernel_w", "stride", "dilation", "groups", "batch"), 1)
        _ints(c, self, ("padding",), 0)
        if not c.problems:
            c.require(self.in_channels % self.groups == 0, "groups", self.groups,
                      f"must divide in_channels ({self.in_channels})")
            c.require(self.out_channels % self.groups == 0, "groups", self.groups,
                      f"must divide out_channels ({self.out_channels})")
            c.require(self.out_height >= 1 and self.out_width >= 1, "kernel_h", self.kernel_h,
                      f"leaves no output pixels on a {self.in_height}x{self.in_width} input")
        self._finish(c)

    @property
    def out_height(self) -> int:
        return _conv_out(self.in_height, self.kernel_h, self.stride, self.padding, self.dilation)

    @property
    def out_width(self) -> int:
        return _conv_out(self.in_width, self.kernel_w, self.stride, self.padding, self.dilation)

    @property
    def is_depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels == self.out_channels

    def gemms(self) -> tuple[Gemm, ...]:
        m = self.out_height * self.out_width * self.batch
        k = self.in_channels // self.groups * self.kernel_h * self.kernel_w
        return (Gemm(m, self.out_channels // self.groups, k, self.groups),)

    @property
    def weight_params(self) -> int:
        return self.out_channels * self.in_channels // self.groups * self.kernel_h * self.kernel_w

    @property
    def out_channels_total(self) -> int:
        return self.out_channels

    def shape_str(self) -> str:
        g = f" g{self.groups}" if self.groups > 1 else ""
        return (f"{self.in_channels}x{self.in_height}x{self.in_width} -> "
                f"{self.out_channels}x{self.out_height}x{self.out_width} "
                f"k{self.kernel_h}x{self.kernel_w} s{self.stride} p{self.padding}{g}")


@dataclass(frozen=True, slots=True)
class Linear(Layer):
    """Fully connected layer applied to ``tokens`` rows (1 for a CNN classifier)."""

    kind: ClassVar[str] = "linear"
    name: str
    in_features: int
    out_features: int
    tokens: int = 1

    def __post_init__(self) -> None:
        c = self._start()
        _ints(c, self, ("in_features", "out_features", "tokens"), 1)
        self._finish(c)

    def gemms(self) -> tuple[Gemm, ...]:
        return (Gemm(self.tokens, self.out_features, self.in_features),)

    @property
    def weight_params(self) -> int:
        return self.in_features * self.out_features

    @property
    def out_channels_total(self) -> int:
        return self.out_features

    @property
    def break_even_rank(self) -> float:
        """Rank below which an SVD factorisation has fewer MACs: r*(in+out) < in*out."""
        return self.in_features * self.out_features / (self.in_features + self.out_features)

    def shape_str(self) -> str:
        return f"{self.tokens}x{self.in_features} -> {self.tokens}x{self.out_features}"


@dataclass(frozen=True, slots=True)
class MatMul(Layer):
    """Batched activation-by-activation product, e.g. attention scores ``Q K^T`` and context.

    No weights: both operands are activations. ``count`` of the GEMM = ``batch * heads``.
    """

    kind: ClassVar[str] = "matmul"
    name: str
    m: int
    n: int
    k: int
    heads: int = 1
    batch: int = 1

    def __post_init__(self) -> None:
        c = self._start()
        _ints(c, self, ("m", "n", "k", "heads", "batch"), 1)
        self._finish(c)

    def gemms(self) -> tuple[Gemm, ...]:
        return (Gemm(self.m, self.n, self.k, self.heads * self.batch),)

    @property
    def weight_params(self) -> int:
        return 0

    @property
    def out_channels_total(self) -> int:
        return self.n

    def shape_str(self) -> str:
        return f"{self.batch * self.heads}x ({self.m}x{self.k} @ {self.k}x{self.n})"


@dataclass(frozen=True, slots=True)
class LstmCell(Layer):
    """One LSTM layer unrolled over ``steps`` time steps (PyTorch gate order i, f, g, o).

    Lowered as the fused gate GEMM ``[x_t; h_{t-1}] @ W`` with ``W`` of shape
    ``(input_size + hidden_size) x 4*hidden_size``, once per time step.
    """

    kind: ClassVar[str] = "lstm"
    name: str
    input_size: int
    hidden_size: int
    steps: int = 1
    batch: int = 1

    def __post_init__(self) -> None:
        c = self._start()
        _ints(c, self, ("input_size", "hidden_size", "steps", "batch"), 1)
        self._finish(c)

    def gemms(self) -> tuple[Gemm, ...]:
        k = self.input_size + self.hidden_size
        # time step t needs h_{t-1}: the steps cannot run concurrently
        return (Gemm(self.batch, 4 * self.hidden_size, k, self.steps, independent=False),)

    @property
    def weight_params(self) -> int:
        return (self.input_size + self.hidden_size) * 4 * self.hidden_size

    @property
    def out_channels_total(self) -> int:
        return 4 * self.hidden_size

    def shape_str(self) -> str:
        return (f"x{self.input_size} h{self.hidden_size} -> 4x{self.hidden_size} "
                f"over {self.steps} steps")


def _prod(values: tuple[int, ...]) -> int:
    return math.prod(values)


@dataclass(frozen=True, slots=True)
class TTLinear(Layer):
    """Tensor-train factorised linear layer (Oseledets 2011; TT-RNN, Yang et al. ICML'17).

    ``W((i1,j1),...,(id,jd)) = G1[i1,j1] ... Gd[id,jd]`` with cores of shape
    ``(r_{k-1}, in_k, out_k, r_k)`` and ``r_0 = r_d = 1``. Lowered core by core, k = d..1, each
    stage one GEMM (REFERENCE.md section 4): rows = ``prod(in[:k-1]) * prod(out[k:])`` (the input
    modes not yet contracted times the output modes already produced), inner dimension
    ``in_k * r_k``, columns ``r_{k-1} * out_k``. For LSTM-UCF (input modes 8,20,20,18, output
    16,4,4,4 with the gates folded into the first, ranks 1,4,4,4,1) this gives 1.94 M MACs per
    step, the figure TIE reports.
    """

    kind: ClassVar[str] = "tt_linear"
    name: str
    in_modes: tuple[int, ...]
    out_modes: tuple[int, ...]
    ranks: tuple[int, ...]
    tokens: int = 1

    def __post_init__(self) -> None:
        c = self._start()
        _ints(c, self, ("tokens",), 1)
        _check_modes(c, self.in_modes, self.out_modes)
        d = len(self.in_modes) if isinstance(self.in_modes, tuple) else -1
        if not isinstance(self.ranks, tuple):
            c.add("ranks", self.ranks, "must be a tuple of ints")
        elif d >= 0 and len(self.ranks) != d + 1:
            c.add("ranks", self.ranks, f"must have len(in_modes) + 1 = {d + 1} entries")
        elif not _int_tuple(self.ranks):
            c.add("ranks", self.ranks, f"must all be ints in [1, {MAX_DIM}]")
        elif self.ranks[0] != 1 or self.ranks[-1] != 1:
            c.add("ranks", self.ranks, "must start and end with 1")
        self._finish(c)

    @property
    def in_features(self) -> int:
        return _prod(self.in_modes)

    @property
    def out_features(self) -> int:
        return _prod(self.out_modes)

    def gemms(self) -> tuple[Gemm, ...]:
        n_in, n_out, r = self.in_modes, self.out_modes, self.ranks
        stages = []
        for k in range(len(n_in) - 1, -1, -1):
            rows = self.tokens * _prod(n_in[:k]) * _prod(n_out[k + 1 :])
            stages.append(Gemm(rows, r[k] * n_out[k], n_in[k] * r[k + 1]))
        return tuple(stages)

    @property
    def weight_params(self) -> int:
        r = self.ranks
        return sum(r[k] * i * o * r[k + 1]
                   for k, (i, o) in enumerate(zip(self.in_modes, self.out_modes, strict=True)))

    @property
    def out_channels_total(self) -> int:
        return self.out_features

    def shape_str(self) -> str:
        return f"TT in{list(self.in_modes)} out{list(self.out_modes)} r{list(self.ranks)}"


@dataclass(frozen=True, slots=True)
class HTLinear(Layer):
    """Hierarchical-Tucker factorised linear layer with a balanced binary dimension tree and
    uniform rank ``rank`` (FDHT-LSTM, Yin et al. CVPR'21 / IEEE TC'22).

    Parameters: ``sum_k in_k*out_k*r + (d-2)*r^3 + r^2`` (REFERENCE.md section 4).

    Lowering: the weight-only tree nodes are merged offline into the leaves, leaving a chain of
    ``d`` input-dependent GEMM stages. The order is leaf ``d-1`` alone (inner dimension ``in``,
    no incoming rank), then leaf ``d`` (``in_d * r``), then leaves ``d-2 .. 1`` (``in_k * r``),
    the last stage closing the rank. For LSTM-UCF (8,20,20,18 -> 16,4,4,4, r = 4) the stages are
    921,600 / 737,280 / 163,840 / 32,768 MACs, total 1.86 M: the optimal order quoted in
    REFERENCE.md. Choosing the order per tree shape is the job of ``hwsim.lstm``'s planner.
    """

    kind: ClassVar[str] = "ht_linear"
    name: str
    in_modes: tuple[int, ...]
    out_modes: tuple[int, ...]
    rank: int
    tokens: int = 1

    def __post_init__(self) -> None:
        c = self._start()
        _ints(c, self, ("rank", "tokens"), 1)
        _check_modes(c, self.in_modes, self.out_modes)
        if isinstance(self.in_modes, tuple) and len(self.in_modes) < 2:
            c.add("in_modes", self.in_modes, "HT needs at least 2 modes")
        self._finish(c)

    @property
    def in_features(self) -> int:
        return _prod(self.in_modes)

    @property
    def out_features(self) -> int:
        return _prod(self.out_modes)

    def _order(self) -> list[int]:
        d = len(self.in_modes)
        return [d - 2, d - 1, *range(d - 3, -1, -1)]

    def gemms(self) -> tuple[Gemm, ...]:
        order = self._order()
        remaining = set(range(len(self.in_modes)))
        produced: set[int] = set()
        stages = []
        r = self.rank
        for step, leaf in enumerate(order):
            remaining.discard(leaf)
            rows = self.tokens * _prod(tuple(self.in_modes[i] for i in remaining))
            rows *= _prod(tuple(self.out_modes[i] for i in produced))
            inner = self.in_modes[leaf] * (1 if step == 0 else r)
            cols = self.out_modes[leaf] * (1 if step == len(order) - 1 else r)
            stages.append(Gemm(rows, cols, inner))
            produced.add(leaf)
        return tuple(stages)

    @property
    def weight_params(self) -> int:
        d, r = len(self.in_modes), self.rank
        leaves = sum(i * o * r for i, o in zip(self.in_modes, self.out_modes, strict=True))
        return leaves + (d - 2) * r**3 + r**2

    @property
    def out_channels_total(self) -> int:
        return self.out_features

    def shape_str(self) -> str:
        return f"HT in{list(self.in_modes)} out{list(self.out_modes)} r{self.rank}"


def _check_modes(c: Checker, in_modes: object, out_modes: object) -> None:
    for name, modes in (("in_modes", in_modes), ("out_modes", out_modes)):
        if not _int_tuple(modes):
            c.add(name, modes, f"must be a non-empty tuple of ints in [1, {MAX_DIM}]")
    if (isinstance(in_modes, tuple) and isinstance(out_modes, tuple)
            and len(in_modes) != len(out_modes)):
        c.add("out_modes", out_modes, f"must have as many modes as in_modes ({len(in_modes)})")


@dataclass(frozen=True, slots=True)
class MoEExperts(Layer):
    """Mixture-of-experts FFN block: router, ``experts`` routed SwiGLU experts of which each token
    uses ``top_k``, and ``shared_experts`` always-on experts (DeepSeek / Qwen-MoE style).

    Each expert is a SwiGLU FFN: gate and up projections (hidden -> ffn) and a down projection
    (ffn -> hidden), as in Mixtral (Jiang et al. 2024). Routing is assumed balanced: the
    ``tokens * top_k`` token-expert pairs are spread evenly over ``min(experts, tokens*top_k)``
    active experts (the best case for latency; real routers are skewed).
    """

    kind: ClassVar[str] = "moe"
    name: str
    hidden: int
    expert_ffn: int
    experts: int
    top_k: int
    tokens: int = 1
    shared_experts: int = 0
    shared_ffn: int = 0

    def __post_init__(self) -> None:
        c = self._start()
        _ints(c, self, ("hidden", "expert_ffn", "experts", "top_k", "tokens"), 1)
        _ints(c, self, ("shared_experts", "shared_ffn"), 0)
        if not c.problems:
            c.require(self.top_k <= self.experts, "top_k", self.top_k,
                      f"must be <= experts ({self.experts})")
            c.require((self.shared_experts == 0) == (self.shared_ffn == 0), "shared_ffn",
                      self.shared_ffn, "must be > 0 exactly when shared_experts > 0")
        self._finish(c)

    @property
    def active_experts(self) -> int:
        return min(self.experts, self.tokens * self.top_k)

    @property
    def tokens_per_expert(self) -> int:
        return -(-self.tokens * self.top_k // self.active_experts)

    def gemms(self) -> tuple[Gemm, ...]:
        t, h, e = self.tokens_per_expert, self.hidden, self.active_experts
        out = [
            Gemm(self.tokens, self.experts, h),          # router
            Gemm(t, self.expert_ffn, h, 2 * e),          # gate and up projections
            Gemm(t, h, self.expert_ffn, e),              # down projection
        ]
        if self.shared_experts:
            # Shared experts see every token; DeepSeek/Qwen fuse them into one wide FFN.
            width = self.shared_ffn * self.shared_experts
            out += [Gemm(self.tokens, width, h, 2), Gemm(self.tokens, h, width)]
        return tuple(out)

    @property
    def weight_params(self) -> int:
        expert = 3 * self.hidden * self.expert_ffn
        shared = 3 * self.hidden * self.shared_ffn * self.shared_experts
        return self.hidden * self.experts + self.experts * expert + shared

    @property
    def out_channels_total(self) -> int:
        return self.hidden

    def shape_str(self) -> str:
        shared = (f" + {self.shared_experts} shared x{self.shared_ffn}"
                  if self.shared_experts else "")
        return (f"{self.tokens} tok, {self.experts} experts top-{self.top_k}, "
                f"{self.hidden} -> {self.expert_ffn}{shared}")


@dataclass(frozen=True, slots=True)
class SvdLinear(Layer):
    """Linear layer factorised by truncated SVD into ``in -> rank -> out`` (two GEMMs)."""

    kind: ClassVar[str] = "svd_linear"
    name: str
    in_features: int
    out_features: int
    rank: int
    tokens: int = 1

    def __post_init__(self) -> None:
        c = self._start()
        _ints(c, self, ("in_features", "out_features", "rank", "tokens"), 1)
        if not c.problems:
            full = min(self.in_features, self.out_features)
            c.require(self.rank <= full, "rank", self.rank, f"must be <= full rank {full}")
        self._finish(c)

    def gemms(self) -> tuple[Gemm, ...]:
        return (Gemm(self.tokens, self.rank, self.in_features),
                Gemm(self.tokens, self.out_features, self.rank))

    @property
    def weight_params(self) -> int:
        return self.rank * (self.in_features + self.out_features)

    @property
    def out_channels_total(self) -> int:
        return self.out_features

    def shape_str(self) -> str:
        return f"{self.in_features} -> r{self.rank} -> {self.out_features} ({self.tokens} tok)"


@dataclass(frozen=True, slots=True)
class Tucker2Conv(Layer):
    """Conv2d factorised by Tucker-2 on its channel modes (Kim et al. ICLR'16; HALOC):
    1x1 (C_in -> rank_in) at the input resolution, kxk (rank_in -> rank_out) with the original
    stride/padding/dilation, 1x1 (rank_out -> C_out) at the output resolution. Three GEMMs.
    Only dense (groups == 1) convolutions are factorised.
    """

    kind: ClassVar[str] = "tucker2_conv"
    name: str
    in_channels: int
    out_channels: int
    in_height: int
    in_width: int
    kernel_h: int
    kernel_w: int
    rank_in: int
    rank_out: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    batch: int = 1

    def __post_init__(self) -> None:
        c = self._start()
        _ints(c, self, ("in_channels", "out_channels", "in_height", "in_width", "kernel_h",
                        "kernel_w", "rank_in", "rank_out", "stride", "dilation", "batch"), 1)
        _ints(c, self, ("padding",), 0)
        if not c.problems:
            c.require(self.rank_in <= self.in_channels, "rank_in", self.rank_in,
                      f"must be <= in_channels ({self.in_channels})")
            c.require(self.rank_out <= self.out_channels, "rank_out", self.rank_out,
                      f"must be <= out_channels ({self.out_channels})")
            c.require(self.core.out_height >= 1, "kernel_h", self.kernel_h, "leaves no output")
        self._finish(c)

    @property
    def core(self) -> Conv2d:
        """The kxk core convolution (rank_in -> rank_out)."""
        return Conv2d(f"{self.name}.core", self.rank_in, self.rank_out, self.in_height,
                      self.in_width, self.kernel_h, self.kernel_w, self.stride, self.padding,
                      self.dilation, 1, self.batch)

    @property
    def out_height(self) -> int:
        return _conv_out(self.in_height, self.kernel_h, self.stride, self.padding, self.dilation)

    @property
    def out_width(self) -> int:
        return _conv_out(self.in_width, self.kernel_w, self.stride, self.padding, self.dilation)

    def gemms(self) -> tuple[Gemm, ...]:
        pix_in = self.in_height * self.in_width * self.batch
        pix_out = self.out_height * self.out_width * self.batch
        return (Gemm(pix_in, self.rank_in, self.in_channels),
                Gemm(pix_out, self.rank_out, self.rank_in * self.kernel_h * self.kernel_w),
                Gemm(pix_out, self.out_channels, self.rank_out))

    @property
    def weight_params(self) -> int:
        kk = self.kernel_h * self.kernel_w
        return (self.in_channels * self.rank_in + self.rank_in * self.rank_out * kk
                + self.rank_out * self.out_channels)

    @property
    def out_channels_total(self) -> int:
        return self.out_channels

    def break_even_rank(self) -> float:
        """Uniform rank r (= rank_in = rank_out) at which the three GEMMs cost as many MACs as
        the dense conv; the positive root of
        ``P_in*C_in*r + P_out*kk*r^2 + P_out*C_out*r = P_out*C_in*C_out*kk``.
        """
        pix_in = self.in_height * self.in_width
        pix_out = self.out_height * self.out_width
        kk = self.kernel_h * self.kernel_w
        a = pix_out * kk
        b = pix_in * self.in_channels + pix_out * self.out_channels
        dense = pix_out * self.in_channels * self.out_channels * kk
        return (-b + math.sqrt(b * b + 4 * a * dense)) / (2 * a)

    def shape_str(self) -> str:
        return (f"{self.in_channels}x{self.in_height}x{self.in_width} -> "
                f"{self.out_channels}x{self.out_height}x{self.out_width} "
                f"k{self.kernel_h}x{self.kernel_w} s{self.stride} "
                f"r({self.rank_in},{self.rank_out})")


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls
    for cls in (Conv2d, Linear, MatMul, LstmCell, TTLinear, HTLinear, MoEExperts, SvdLinear,
                Tucker2Conv)
}
"""Layer classes by their ``kind`` tag, as written in workload TOML files."""

__all__ = ["LAYER_TYPES", "Conv2d", "Gemm", "HTLinear", "Layer", "LstmCell", "Linear", "MatMul",
           "MoEExperts", "SvdLinear", "TTLinear", "Tucker2Conv"]
