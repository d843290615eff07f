"""Building a :class:`~cost_models.tables.LatencyTable` by timing layers with torch.

Every layer record the table can hold is turned into a torch module that does the layer's GEMM
work at its shapes (:func:`torch_layer`): random weights (seeded), eval mode, no biases (a
record's MACs and ``weight_params`` exclude them), run under ``torch.inference_mode()``. Each
distinct shape (:func:`~cost_models.tables.layer_key`) is timed once per dtype
(:func:`measure_layer`, the :class:`Protocol`); :func:`build_table` does that for the layers of
whole networks (dense, at uniform ranks, or every rank the ``rank`` design space offers) and of
random shapes drawn for the latency predictor, and times each whole network as its layers run
back to back.

What a network row measures: the network's GEMM layers, one after another, each on its own
pre-made input, with its own weights. The glue between them (activations, batch norm, residual
adds, pooling) is not in the workload IR and is *not* timed, neither in the rows nor in the
network total; so ``NetworkRow.gap`` is how far the sum of separately timed layers is from the
same layers run back to back (caches, frequency, allocator, dispatch), not from the full model.

Timing: on CPU ``time.perf_counter_ns`` around each call; on CUDA a pair of CUDA events around
each call, read after a synchronisation. A row's time is the median of its timed calls, its
spread their 25th and 75th percentiles.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import math
import platform
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from cost_models.tables.table import (
    DTYPES,
    LatencyTable,
    NetworkRow,
    Row,
    TableError,
    layer_key,
)
from hwsim.errors import CodesignError, Problem
from hwsim.ir import Workload
from hwsim.ir.layers import (
    Conv2d,
    HTLinear,
    Layer,
    Linear,
    MatMul,
    SvdLinear,
    TTLinear,
    Tucker2Conv,
)
from hwsim.ir.lowrank import apply_ranks, full_rank, low_rank_layer

TORCH_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16,
                                        "fp16": torch.float16}
"""The table's dtype names and torch's dtypes."""

SUPPORTED_KINDS = (Conv2d.kind, Linear.kind, SvdLinear.kind, Tucker2Conv.kind, MatMul.kind)
"""Layer kinds :func:`torch_layer` builds a module for."""

RANK_STEP = 16
MAX_RANK_CANDIDATES = 16
"""The ``rank`` design space's defaults (``rl_search.spaces.make_space``: ``rank_step``,
``max_rank_candidates``), which :func:`rank_candidates` mirrors."""

SAMPLE_MAX_MACS = 2**30
"""Predictor samples are redrawn until their MACs are at most this (about 1.07 G MACs, tens of
milliseconds on one CPU core), so that a build with samples stays minutes, not hours."""


# ------------------------------------------------------------------------------ modules


class _BatchedMatMul(nn.Module):
    """``x @ other`` with ``other`` a fixed random activation (a :class:`MatMul` has no
    weights: the second operand is held as a buffer so the module takes one input)."""

    other: torch.Tensor

    def __init__(self, other: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("other", other)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(x, self.other)


def _seed_of(layer: Layer, seed: int) -> int:
    return (seed * 1_000_003 + zlib.crc32(layer_key(layer).encode())) % 2**31


def _unsupported(layer: Layer) -> TableError:
    return TableError(f"layer {layer.name!r}", [Problem(
        "kind", layer.kind, f"cannot be timed with torch (a {layer.kind} layer); supported "
        f"kinds: {', '.join(SUPPORTED_KINDS)}")])


def _check_timeable(layer: Layer, dtype: str) -> None:
    if dtype not in TORCH_DTYPES:
        raise TableError(f"layer {layer.name!r}", [Problem("dtype", dtype,
                                                           f"must be one of {DTYPES}")])
    if layer.kind not in SUPPORTED_KINDS:
        raise _unsupported(layer)


def torch_layer(layer: Layer, dtype: str = "fp32", *, device: str = "cpu",
                seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """A torch module doing ``layer``'s GEMM work at its shapes, and an example input.

    * ``Conv2d``: ``nn.Conv2d`` (groups, stride, padding, dilation), input ``[batch, C, H, W]``;
    * ``Linear``: ``nn.Linear``, input ``[tokens, in_features]``;
    * ``SvdLinear``: ``Linear(in, rank)`` then ``Linear(rank, out)``;
    * ``Tucker2Conv``: 1x1 ``in -> rank_in``, ``k x k`` ``rank_in -> rank_out`` with the conv's
      stride, padding and dilation, 1x1 ``rank_out -> out``;
    * ``MatMul``: ``[batch, heads, m, k] @ [batch, heads, k, n]``.

    No biases (the records' MACs and parameters have none); weights random from ``seed`` and the
    layer's shape; eval mode. Any other kind raises :class:`TableError` naming the layer.
    """
    _check_timeable(layer, dtype)
    tdtype = TORCH_DTYPES[dtype]
    gen = torch.Generator().manual_seed(_seed_of(layer, seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed_of(layer, seed))
        module: nn.Module
        if isinstance(layer, Conv2d):
            module = nn.Conv2d(layer.in_channels, layer.out_channels,
                               (layer.kernel_h, layer.kernel_w), stride=layer.stride,
                               padding=layer.padding, dilation=layer.dilation,
                               groups=layer.groups, bias=False)
            shape: tuple[int, ...] = (layer.batch, layer.in_channels, layer.in_height,
                                      layer.in_width)
        elif isinstance(layer, Linear):
            module = nn.Linear(layer.in_features, layer.out_features, bias=False)
            shape = (layer.tokens, layer.in_features)
        elif isinstance(layer, SvdLinear):
            module = nn.Sequential(nn.Linear(layer.in_features, layer.rank, bias=False),
                                   nn.Linear(layer.rank, layer.out_features, bias=False))
            shape = (layer.tokens, layer.in_features)
        elif isinstance(layer, Tucker2Conv):
            module = nn.Sequential(
                nn.Conv2d(layer.in_channels, layer.rank_in, 1, bias=False),
                nn.Conv2d(layer.rank_in, layer.rank_out, (layer.kernel_h, layer.kernel_w),
                          stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                          bias=False),
                nn.Conv2d(layer.rank_out, layer.out_channels, 1, bias=False))
            shape = (layer.batch, layer.in_channels, layer.in_height, layer.in_width)
        elif isinstance(layer, MatMul):
            other = torch.randn((layer.batch, layer.heads, layer.k, layer.n), generator=gen)
            module = _BatchedMatMul(other)
            shape = (layer.batch, layer.heads, layer.m, layer.k)
        else:  # pragma: no cover - _check_timeable raised
            raise _unsupported(layer)
        example = torch.randn(shape, generator=gen)
    module = module.to(device=device, dtype=tdtype).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module, example.to(device=device, dtype=tdtype)


# ------------------------------------------------------------------------------ timing


@dataclass(frozen=True)
class Protocol:
    """How one layer (or one network) is timed.

    The timed calls are split into ``rounds``; :func:`build_table` runs round 1 of every layer
    and network, then round 2 of every one, and so on, so that a slow spell of the machine
    (another process on a shared core, a frequency change) is spread over all rows instead of
    landing on a few. Each round starts with ``warmup`` untimed calls, then times calls, one
    sample each, until the layer has (cumulatively) its share of ``repeats`` samples *and* of
    ``min_seconds`` of timed calls, or its share of ``max_repeats`` samples. The statistic is
    the median of all the samples, the spread their 25th and 75th percentiles (linear
    interpolation).

    The defaults (5 rounds of 3 warm-up calls, at least 30 samples and 0.5 s per layer in all)
    build ResNet-18 dense plus three uniform-rank variants (48 distinct shapes, 4 networks) at
    fp32 on one CPU thread in well under two minutes on a 2-core shared machine.
    """

    warmup: int = 3
    repeats: int = 30
    min_seconds: float = 0.5
    max_repeats: int = 10_000
    rounds: int = 5

    def __post_init__(self) -> None:
        problems = []
        for name, low in (("warmup", 0), ("repeats", 1), ("max_repeats", 1), ("rounds", 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                problems.append(Problem(name, v, f"must be an int >= {low}"))
        if not isinstance(self.min_seconds, (int, float)) or isinstance(self.min_seconds, bool) \
                or not math.isfinite(self.min_seconds) or self.min_seconds < 0:
            problems.append(Problem("min_seconds", self.min_seconds,
                                    "must be a finite number >= 0"))
        if not problems and self.max_repeats < self.repeats:
            problems.append(Problem("max_repeats", self.max_repeats,
                                    f"must be >= repeats ({self.repeats})"))
        if not problems and self.repeats < self.rounds:
            problems.append(Problem("rounds", self.rounds,
                                    f"must be <= repeats ({self.repeats})"))
        if problems:
            raise TableError("timing protocol", problems)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "statistic": "median", "spread": "p25-p75"}


def _check_device(device: str) -> str:
    """``cpu`` or ``cuda[:i]`` (normalised to ``cuda:i``); a CUDA request without a GPU
    raises."""
    if device == "cpu":
        return "cpu"
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise CodesignError(f"device {device!r}: torch {torch.__version__} sees no CUDA GPU "
                                f"on this machine (torch.cuda.is_available() is False); "
                                f"build the table on a machine with one, or use --device cpu")
        try:
            index = int(device.split(":", 1)[1]) if ":" in device \
                else torch.cuda.current_device()
        except ValueError:
            raise CodesignError(f"device {device!r}: use 'cpu', 'cuda' or 'cuda:N'") from None
        if not 0 <= index < torch.cuda.device_count():
            raise CodesignError(f"device {device!r}: this machine has "
                                f"{torch.cuda.device_count()} CUDA device(s)")
        return f"cuda:{index}"
    raise CodesignError(f"device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")


class _Timing:
    """The samples of one timed thing (a layer or a network), gathered round by round; the
    modules are made afresh each round by ``make`` (same seed, same weights), so only one
    layer's tensors are alive at a time."""

    def __init__(self, make: Callable[[], Callable[[], object]], device: str,
                 protocol: Protocol) -> None:
        self.make, self.device, self.protocol = make, device, protocol
        self.samples: list[float] = []
        self.spent_ms = 0.0
        self.done_rounds = 0

    def run_round(self) -> None:
        p = self.protocol
        self.done_rounds += 1
        share = self.done_rounds / p.rounds
        want = math.ceil(p.repeats * share)
        cap = max(want, math.ceil(p.max_repeats * share))
        budget_ms = p.min_seconds * 1e3 * share
        fn = self.make()
        with torch.inference_mode():
            for _ in range(p.warmup):
                fn()
            if self.device == "cpu":
                while (len(self.samples) < want or self.spent_ms < budget_ms) \
                        and len(self.samples) < cap:
                    t0 = time.perf_counter_ns()
                    fn()
                    ms = (time.perf_counter_ns() - t0) / 1e6
                    self.spent_ms += ms
                    self.samples.append(ms)
                return
            torch.cuda.synchronize(self.device)
            while (len(self.samples) < want or self.spent_ms < budget_ms) \
                    and len(self.samples) < cap:
                # a batch of event pairs, read after one synchronisation
                batch = max(1, min(want - len(self.samples), cap - len(self.samples), 64))
                events = [(torch.cuda.Event(enable_timing=True),
                           torch.cuda.Event(enable_timing=True)) for _ in range(batch)]
                for start, end in events:
                    start.record()
                    fn()
                    end.record()
                torch.cuda.synchronize(self.device)
                for start, end in events:
                    ms = float(start.elapsed_time(end))
                    self.spent_ms += ms
                    self.samples.append(ms)

    def stats(self) -> tuple[float, float, float]:
        """25th percentile, median, 75th percentile (ms)."""
        p25, med, p75 = (float(v) for v in np.percentile(np.asarray(self.samples),
                                                          [25, 50, 75]))
        floor = 1e-6  # a row's times must be > 0; no call takes under a nanosecond
        p25, med, p75 = max(p25, floor), max(med, floor), max(p75, floor)
        return min(p25, med), med, max(p75, med)


def _layer_macs(layer: Layer) -> int:
    return sum(g.macs for g in layer.gemms())


def _layer_call(layer: Layer, dtype: str, device: str, seed: int) -> Callable[[], object]:
    module, x = torch_layer(layer, dtype, device=device, seed=seed)
    return lambda: module(x)


def _network_call(layers: Sequence[Layer], dtype: str, device: str,
                  seed: int) -> Callable[[], object]:
    pairs = [torch_layer(layer, dtype, device=device, seed=seed + i)
             for i, layer in enumerate(layers)]

    def run() -> None:
        for module, x in pairs:
            module(x)

    return run


def _row(layer: Layer, dtype: str, timing: _Timing, sample: bool) -> Row:
    p25, med, p75 = timing.stats()
    return Row(layer_key(layer), layer.kind, dtype, med, p25, p75, len(timing.samples),
               _layer_macs(layer), sample)


def measure_layer(layer: Layer, dtype: str = "fp32", device: str = "cpu",
                  protocol: Protocol = Protocol(), *, seed: int = 0,
                  sample: bool = False) -> Row:
    """Time ``layer`` at ``dtype`` on ``device`` under ``protocol`` (its rounds back to back):
    one :class:`Row` keyed by its shape. Uses the current ``torch.get_num_threads()``
    (:func:`build_table` sets it)."""
    device = _check_device(device)
    _check_timeable(layer, dtype)
    timing = _Timing(lambda: _layer_call(layer, dtype, device, seed), device, protocol)
    for _ in range(protocol.rounds):
        timing.run_round()
    return _row(layer, dtype, timing, sample)


def measure_network(layers: Sequence[Layer], dtype: str = "fp32", device: str = "cpu",
                    protocol: Protocol = Protocol(), *, seed: int = 0) -> tuple[float, float,
                                                                                float]:
    """Median, 25th and 75th percentile (ms) of ``layers`` run back to back in one timed loop,
    each module with its own weights and its own pre-made input (no glue ops between them)."""
    device = _check_device(device)
    timing = _Timing(lambda: _network_call(layers, dtype, device, seed), device, protocol)
    for _ in range(protocol.rounds):
        timing.run_round()
    p25, med, p75 = timing.stats()
    return med, p25, p75


# ------------------------------------------------------------------------------ shapes


def rank_candidates(layer: Layer, step: int = RANK_STEP,
                    max_candidates: int = MAX_RANK_CANDIDATES) -> tuple[int | None, ...]:
    """The ranks the ``rank`` design space offers ``layer`` (``None`` = dense), the same rule as
    ``rl_search.spaces._rank_knobs`` (kept here so cost_models does not import rl_search):
    ``step, 2*step, ... < full rank``, thinned evenly to ``max_candidates - 1``, then dense;
    TT/HT layers ranks 1..8; a layer that cannot be factorised (or whose full rank is at most
    ``step``) only dense."""
    full = full_rank(layer)
    if isinstance(layer, TTLinear | HTLinear):
        return (*range(1, 9), None)
    if full is None or full <= step:
        return (None,)
    cands = list(range(step, full, step))
    if len(cands) > max_candidates - 1:
        keep = np.unique(np.linspace(0, len(cands) - 1, max_candidates - 1).round())
        cands = [cands[int(j)] for j in keep]
    return (*cands, None)


def uniform_ranks(workload: Workload, rank: int) -> tuple[int | None, ...]:
    """Per-layer ranks: every factorisable layer at ``min(rank, full_rank(layer))``."""
    out: list[int | None] = []
    for layer in workload.layers:
        full = full_rank(layer)
        out.append(None if full is None else min(rank, full))
    return tuple(out)


RankSpec = int | str | None


def _rank_spec(spec: RankSpec) -> RankSpec:
    if spec is None or spec == "space":
        return spec
    if isinstance(spec, int) and not isinstance(spec, bool) and spec >= 1:
        return spec
    raise CodesignError(f"rank spec {spec!r}: use None (dense), an int >= 1 (uniform rank) or "
                        f"'space' (every rank of the rank design space)")


def _variant_layers(workload: Workload, spec: RankSpec) -> tuple[list[Layer],
                                                                tuple[int | None, ...] | None]:
    """The layers a rank spec asks of ``workload`` and (for whole networks) the per-layer
    ranks; ``'space'`` gives every layer variant and ``None`` for the ranks."""
    if spec is None:
        return list(workload.layers), None
    if spec == "space":
        layers: list[Layer] = []
        for layer in workload.layers:
            for r in rank_candidates(layer):
                layers.append(layer if r is None else low_rank_layer(layer, r))
        return layers, None
    assert isinstance(spec, int)
    ranks = uniform_ranks(workload, spec)
    return list(apply_ranks(workload, ranks).layers), ranks


def _log_int(rng: np.random.Generator, low: int, high: int) -> int:
    return round(math.exp(rng.uniform(math.log(low), math.log(high))))


def sample_layers(n: int, seed: int = 0, max_macs: int = SAMPLE_MAX_MACS) -> list[Layer]:
    """``n`` random conv2d and ``n`` random linear shapes for the latency predictor: channels
    8..1024 and features/tokens 1..4096 (log-uniform), spatial 7..112, kernel 1/3/5/7 (same
    padding), stride 1/2, one conv in ten depthwise; redrawn while over ``max_macs``."""
    rng = np.random.default_rng(seed)
    out: list[Layer] = []
    i = 0
    while sum(isinstance(x, Conv2d) for x in out) < n:
        i += 1
        cin, cout = _log_int(rng, 8, 1024), _log_int(rng, 8, 1024)
        hw = int(rng.integers(7, 113))
        k = int(rng.choice([1, 3, 5, 7]))
        stride = int(rng.choice([1, 2]))
        groups = 1
        if rng.random() < 0.1:
            cout, groups = cin, cin
        conv = Conv2d(f"sample.conv{i}", cin, cout, hw, hw, k, k, stride, k // 2, 1, groups)
        if _layer_macs(conv) <= max_macs:
            out.append(conv)
    while sum(isinstance(x, Linear) for x in out) < n:
        i += 1
        lin = Linear(f"sample.linear{i}", _log_int(rng, 1, 4096), _log_int(rng, 1, 4096),
                     _log_int(rng, 1, 4096))
        if _layer_macs(lin) <= max_macs:
            out.append(lin)
    return out


# ------------------------------------------------------------------------------ tables


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: str) -> str:
    device = _check_device(device)
    if device == "cpu":
        return _cpu_name()
    return torch.cuda.get_device_name(torch.device(device))


def build_table(workloads: Iterable[Workload], *, device: str = "cpu",
                ranks: Sequence[RankSpec] = (None,), dtypes: Sequence[str] = ("fp32",),
                threads: int = 1, protocol: Protocol = Protocol(), samples: int = 0,
                seed: int = 0, progress: bool = True,
                sample_max_macs: int = SAMPLE_MAX_MACS) -> LatencyTable:
    """Time every distinct layer shape of ``workloads`` under each rank spec at each dtype, and
    each whole network (see the module docstring).

    :param ranks: rank specs: ``None`` dense; an int r every factorisable layer at rank
        ``min(r, full_rank)``; ``"space"`` every rank the ``rank`` design space offers each layer
        (layer variants only: no network row).
    :param threads: ``torch.set_num_threads`` for the build (restored after).
    :param samples: also ``samples`` random conv2d and as many linear shapes (``sample=True``
        rows), for the latency predictor.
    """
    workloads = list(workloads)
    dev = _check_device(device)
    if not workloads and samples <= 0:
        raise CodesignError("build_table needs at least one workload or samples > 0")
    specs = [_rank_spec(s) for s in ranks]
    if not specs:
        raise CodesignError("build_table needs at least one rank spec (None for dense)")
    bad = [d for d in dtypes if d not in TORCH_DTYPES]
    if bad or not dtypes:
        raise CodesignError(f"dtypes {list(dtypes)}: each must be one of {DTYPES}")
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise CodesignError(f"threads {threads!r}: must be an int >= 1")
    dtypes = list(dict.fromkeys(dtypes))

    # every distinct shape, and the networks to time
    unique: dict[str, tuple[Layer, bool]] = {}
    networks: list[tuple[Workload, tuple[int | None, ...] | None, list[Layer]]] = []
    for wl in workloads:
        for spec in specs:
            layers, per_layer = _variant_layers(wl, spec)
            for layer in layers:
                unique.setdefault(layer_key(layer), (layer, False))
            if spec != "space":
                networks.append((wl, per_layer, layers))
    if samples > 0:
        for layer in sample_layers(samples, seed, sample_max_macs):
            unique.setdefault(layer_key(layer), (layer, True))
    for layer, _ in unique.values():  # fail before timing anything
        _check_timeable(layer, dtypes[0])

    from tqdm import tqdm

    old_threads = torch.get_num_threads()
    started = time.perf_counter()
    layer_timings = [(key, layer, is_sample, dtype,
                      _Timing(functools.partial(_layer_call, layer, dtype, dev, seed), dev,
                              protocol))
                     for dtype in dtypes for key, (layer, is_sample) in unique.items()]
    net_timings = [(wl, per_layer, layers, dtype,
                    _Timing(functools.partial(_network_call, layers, dtype, dev, seed), dev,
                            protocol))
                   for dtype in dtypes for wl, per_layer, layers in networks]
    total = (len(layer_timings) + len(net_timings)) * protocol.rounds
    try:
        torch.set_num_threads(threads)
        with tqdm(total=total, disable=not progress, file=sys.stderr, unit="timing",
                  desc=f"timing on {dev}") as bar:
            for rnd in range(protocol.rounds):
                for _, layer, _, dtype, timing in layer_timings:
                    bar.set_postfix_str(f"round {rnd + 1} {dtype} {layer.kind}", refresh=False)
                    timing.run_round()
                    bar.update()
                for wl, _, _, dtype, timing in net_timings:
                    bar.set_postfix_str(f"round {rnd + 1} {dtype} {wl.name}", refresh=False)
                    timing.run_round()
                    bar.update()
    finally:
        torch.set_num_threads(old_threads)
    rows = [_row(layer, dtype, timing, is_sample)
            for _, layer, is_sample, dtype, timing in layer_timings]
    index = {(r.key, r.dtype): r for r in rows}
    net_rows = []
    for wl, per_layer, layers, dtype, timing in net_timings:
        _, med, _ = timing.stats()
        sum_ms = sum(index[(layer_key(layer), dtype)].median_ms for layer in layers)
        net_rows.append(NetworkRow(wl.name, dtype, med, sum_ms, per_layer))
    metadata = {
        "device": dev,
        "device_name": device_name(dev),
        "torch": torch.__version__,
        "threads": threads,
        "dtypes": dtypes,
        "protocol": {**protocol.to_dict(),
                     "timer": "perf_counter_ns" if dev == "cpu" else "cuda events"},
        "created": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        "host": platform.node(),
        "python": platform.python_version(),
        "workloads": [wl.name for wl in workloads],
        "ranks": [s for s in specs],
        "samples": samples,
        "seed": seed,
        "build_seconds": round(time.perf_counter() - started, 3),
        "network_rows": "the workload's GEMM layers back to back, each on its own pre-made "
                        "input; activations, norms, adds and pooling are not in the IR and are "
                        "not timed",
    }
    return LatencyTable(metadata, tuple(rows), tuple(net_rows))


__all__ = ["MAX_RANK_CANDIDATES", "RANK_STEP", "SAMPLE_MAX_MACS", "SUPPORTED_KINDS",
           "TORCH_DTYPES", "Protocol", "build_table", "device_name", "measure_layer",
           "measure_network", "rank_candidates", "sample_layers", "torch_layer",
           "uniform_ranks"]
