"""An accuracy oracle for TT/HT-factorised LSTMs, measured on a digits stand-in task.

The zoo's video LSTMs (``lstm-ucf`` / ``lstm-youtube``, ``variant="ht"`` or ``"tt"``) carry one
tensorised input-to-gates layer ``lstm.w_ih`` (an :class:`~hwsim.ir.layers.HTLinear` or
:class:`~hwsim.ir.layers.TTLinear`, 57,600 -> 1,024), a dense recurrent ``lstm.w_hh``
(256 -> 1,024) and a ``classifier`` (256 -> classes). They have no weights and their datasets
(UCF11, YouTube Celebrities) are not available offline, so :class:`TensorLstmOracle` measures a
**stand-in**: a small LSTM of the same structure, trained on scikit-learn's bundled digits
(:func:`~rl_search.accuracy.tasks.digits_splits`, the 60/20/20 split of ``seed``), whose
input-to-gates matrix is TT- or HT-factorised at the rank under test. What it reports is that
stand-in's top-1 on the digits validation split (359 images), **not** an accuracy on the video
datasets: it says how accuracy moves with the tensor rank, SVD ranks and weight bits of such a
network, on a task small enough to train per rank in a few seconds.

Stand-in (:class:`TensorDigitsLSTM`)
------------------------------------
* Input: the 8x8 image read four rows per step, 2 steps of 32 features (pixels in [0, 1]).
* ``w_ih``: 32 -> 64 (= 4 gates x hidden 16), tensorised with d = 4 modes like the zoo's layer:
  input modes ``(2, 2, 2, 4)`` (row-major over the 32 features: the four rows as 2 x 2, the
  eight columns as 2 x 4), output modes ``(4, 2, 2, 4)``, the first output mode being the gate
  (i, f, g, o), as the zoo folds the gates into its first output mode; one float bias of 64. The
  dense matrix would have 2,048 weights. This shape was chosen because rank shows in it: with
  16 features per step and hidden 32 (d = 3) a rank-1 model did as well as a rank-8 one (a
  Kronecker product of full-rank factors is still a full-rank map), with d = 4, two steps and
  hidden 16 rank 1 loses 3 to 5 points (two seeds measured).

  - **TT** rank ``r``: cores ``G_k`` of shape ``(r_{k-1}, n_k, m_k, r_k)``, ``r_0 = r_4 = 1``,
    internal ranks ``r_k = min(r, prod_{i<=k} n_i m_i, prod_{i>k} n_i m_i)`` (no clipping below
    9 here: the bounds are 8, 32, 16), ``sum_k r_{k-1} n_k m_k r_k`` weights: 32 at r = 1, 224
    at r = 4, 704 at r = 8.
  - **HT** rank ``r`` (uniform): the balanced dimension tree ``((1, 2), (3, 4))``: leaves
    ``U_k`` of shape ``(n_k, m_k, r)``, transfer tensors ``(r, r, r)`` for the nodes ``(1, 2)``
    and ``(3, 4)`` and the root ``(r, r)`` (root rank 1): ``sum_k n_k m_k r + (d-2) r^3 + r^2``
    = ``32 r + 2 r^3 + r^2`` weights: 35 at r = 1, 272 at r = 4, 1,344 at r = 8 (leaves with
    ``n_k m_k = 4 < r`` are kept at the uniform rank all the same, as the formula counts them).
    For d = 3 the same code uses the tree ``((1, 2), 3)`` and counts
    ``sum_k n_k m_k r + r^3 + r^2``.
* ``w_hh``: dense 16 -> 64 (1,024 weights, no bias); ``classifier``: 16 -> 10 (160 + 10).

Both products are einsums over the stored factors (:func:`tt_apply`, :func:`ht_apply`); the dense
matrix they represent is :func:`tt_dense` / :func:`ht_dense`.

Training and cache
------------------
One model per ``(fmt, rank, seed)``, ``rank`` in 1..8, trained from scratch (seeded
initialisation scaled so the represented matrix has the variance of PyTorch's default linear
initialisation, Adam lr 1e-2 with a cosine schedule, 40 epochs of batch 64, one torch thread:
2.5 to 4 s per rank on one core of a lightly loaded machine) and cached as
``<cache>/tasks/tensor-digits-lstm-<fmt>-r<rank>-v<version>-seed<seed>.pt`` with a ``.json``
of its float accuracies and training time; ``<cache>`` is
:func:`~rl_search.accuracy.tasks.cache_root` (``cache_dir``, else ``$CODESIGN_CACHE``, else
``~/.cache/codesign``), so a rank is trained once.

Design -> stand-in mapping
--------------------------
* The tensor layer's rank ``r`` (0 = the workload's own: the ``HTLinear``'s rank, or the
  largest internal rank of the ``TTLinear``, 4 in the zoo) -> the stand-in trained at rank
  ``min(r, 8)`` (ranks above 8 are measured at 8).
* A ``Linear`` layer's SVD rank ``r`` (0 = dense) -> the stand-in's matching matrix (``w_hh`` for
  ``lstm.w_hh``, ``classifier`` for ``classifier``) truncated by SVD at
  ``max(1, round(r * standin_full / workload_full))`` (full = ``min(in, out)``: 16 and 10 for the
  stand-in), applied after training, without retraining; the singular values are split evenly
  between the two factors as in :func:`~rl_search.accuracy.compress.svd_factors`. A rank above
  the workload layer's full rank is a :class:`~cost_models.design.DesignError`.
* ``weight_bits`` ``b``: symmetric per-row uniform fake quantisation
  (:func:`~rl_search.accuracy.compress.quantize_rows`) of every weight factor of that stand-in
  layer; ``b >= 16`` leaves the weights in float. A row is an output row of the factor's
  contraction: ``(r_{k-1}, m_k)`` of a TT core, ``(m_k, parent rank)`` of an HT leaf, the parent
  rank of a transfer tensor (the HT root is one row), an output row of a dense matrix or of each
  SVD factor. As in :mod:`~rl_search.accuracy.compress`, ``lut_fraction`` (N3H-Core's split)
  puts ``round(rows * lut_fraction)`` rows of each factor (those quantising best) at ``b`` bits
  and the rest at 8 bits; biases stay in float.
* ``act_bits``: **ignored** (the stand-in's activations and recurrent state stay in float).

The baseline is the stand-in at the workload's own tensor rank with dense, float ``w_hh`` and
classifier. Results are memoised per distinct stand-in configuration (the mapped ranks, the bits
and the fractions), so repeated design rows cost one evaluation.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cost_models.design import Design, DesignError
from hwsim.errors import CodesignError, Problem
from hwsim.ir import Workload
from hwsim.ir.layers import HTLinear, Linear, TTLinear
from rl_search.accuracy._threads import torch_threads
from rl_search.accuracy.base import (
    AccuracyEstimate,
    AccuracyOracle,
    batch_arrays,
    check_layers,
    lut_channels,
    resolve_fractions,
)
from rl_search.accuracy.compress import assign_rows, quantize_rows
from rl_search.accuracy.tasks import cache_root, digits_splits
from rl_search.accuracy.tensor_layers import (
    FORMATS,
    IN_MODES,
    OUT_MODES,
    TensorLinear,
)

log = logging.getLogger(__name__)

_VERSION = 1
"""Bump when the stand-in's data, model or training changes, so stale caches are not reused."""

MAX_RANK = 8
"""Ranks offered by the stand-in: 1..MAX_RANK."""

ROWS_PER_STEP = 4
HIDDEN = 16
STEPS = 8 // ROWS_PER_STEP
NUM_CLASSES = 10
EPOCHS = 40
LR = 1e-2
BATCH = 64




class TensorDigitsLSTM(nn.Module):
    """The stand-in: an LSTM (hidden 16) reading the digits image four rows per step (2 steps of
    32 features) whose input-to-gates map ``w_ih`` is a :class:`TensorLinear` (``fmt`` "tt" or
    "ht" at ``rank``, modes (2, 2, 2, 4) -> (4, 2, 2, 4)), a dense recurrent ``w_hh`` (16 -> 64,
    no bias) and a linear ``classifier`` (16 -> 10) on the last hidden state. Gate order i, f,
    g, o (the first output mode of ``w_ih``)."""

    def __init__(self, fmt: str, rank: int) -> None:
        super().__init__()
        self.w_ih = TensorLinear(fmt, rank, IN_MODES, OUT_MODES)
        self.w_hh = nn.Linear(HIDDEN, 4 * HIDDEN, bias=False)
        self.classifier = nn.Linear(HIDDEN, NUM_CLASSES)

    def forward(self, x: torch.Tensor, *, w_ih_factors: Sequence[torch.Tensor] | None = None,
                w_hh: torch.Tensor | None = None,
                classifier: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of images ``x`` (``[batch, 64]`` or ``[batch, 8, 8]``); the keyword weights,
        when given, replace the module's (the oracle passes compressed copies)."""
        seq = x.reshape(x.shape[0], STEPS, ROWS_PER_STEP * 8)
        gates_x = (self.w_ih(seq) if w_ih_factors is None
                   else self.w_ih.apply_factors(seq, w_ih_factors))
        w_rec = self.w_hh.weight if w_hh is None else w_hh
        h = seq.new_zeros(x.shape[0], HIDDEN)
        c = seq.new_zeros(x.shape[0], HIDDEN)
        for t in range(STEPS):
            g = gates_x[:, t] + h @ w_rec.T
            i, f, cand, o = g.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(cand)
            h = torch.sigmoid(o) * torch.tanh(c)
        w_cls = self.classifier.weight if classifier is None else classifier
        return F.linear(h, w_cls, self.classifier.bias)


# ---------------------------------------------------------------------------------- training

def _data(seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {k: (torch.from_numpy(x), torch.from_numpy(y)) for k, (x, y) in
            digits_splits(seed).items()}


def _accuracy(model: TensorDigitsLSTM, data: tuple[torch.Tensor, torch.Tensor],
              **weights: Any) -> float:
    x, y = data
    with torch.no_grad():
        return float((model(x, **weights).argmax(-1) == y).double().mean())


def _stem(cache_dir: str | os.PathLike[str] | None, fmt: str, rank: int, seed: int) -> Path:
    return (cache_root(cache_dir) / "tasks"
            / f"tensor-digits-lstm-{fmt}-r{rank}-v{_VERSION}-seed{seed}")


def trained_standin(fmt: str, rank: int, *, cache_dir: str | os.PathLike[str] | None = None,
                    seed: int = 0, retrain: bool = False,
                    threads: int | None = 1) -> tuple[TensorDigitsLSTM, dict[str, Any]]:
    """The stand-in at ``(fmt, rank)`` trained with ``seed`` (data split, initialisation and
    shuffle), loaded from the cache when there; ``(model in eval mode, info)`` where ``info``
    holds ``val_accuracy``, ``test_accuracy``, ``weight_params``, ``train_seconds`` (of the run
    that trained it) and the settings.

    :param rank: 1..:data:`MAX_RANK`.
    :param threads: torch intra-op threads while training (``None``: torch's setting).
    """
    if fmt not in FORMATS:
        raise CodesignError(f"tensor format must be one of {FORMATS}, got {fmt!r}")
    if not isinstance(rank, int) or not 1 <= rank <= MAX_RANK:
        raise CodesignError(f"stand-in ranks are 1..{MAX_RANK}, got {rank!r}")
    stem = _stem(cache_dir, fmt, rank, seed)
    weights, meta = stem.with_suffix(".pt"), stem.with_suffix(".json")
    with torch_threads(threads):
        data = _data(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = TensorDigitsLSTM(fmt, rank)
        if weights.exists() and meta.exists() and not retrain:
            model.load_state_dict(torch.load(weights, weights_only=True))
            info = json.loads(meta.read_text())
        else:
            log.info("training the %s stand-in at rank %d (seed %d); cached at %s",
                     fmt, rank, seed, weights)
            start = time.perf_counter()
            _train(model, data["train"], seed)
            elapsed = time.perf_counter() - start
            model.eval()
            info = {"val_accuracy": _accuracy(model, data["val"]),
                    "test_accuracy": _accuracy(model, data["test"]),
                    "weight_params": model.w_ih.weight_params, "fmt": fmt, "rank": rank,
                    "train_seconds": elapsed, "epochs": EPOCHS, "lr": LR, "seed": seed,
                    "version": _VERSION}
            weights.parent.mkdir(parents=True, exist_ok=True)
            tmp = weights.with_suffix(".pt.tmp")
            torch.save(model.state_dict(), tmp)
            os.replace(tmp, weights)
            meta.write_text(json.dumps(info, indent=2))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, info


def _train(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], seed: int) -> None:
    x, y = data
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), BATCH):
            idx = order[start:start + BATCH]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()


# ------------------------------------------------------------------------------ compression

def _quantise(w2d: torch.Tensor, bits: int, fraction: float) -> torch.Tensor:
    """Per-row symmetric fake quantisation, ``round(rows * fraction)`` rows (the best-quantising)
    at ``bits`` and the rest at 8; ``bits >= 16`` leaves the LUT rows in float."""
    n_lut = lut_channels(w2d.shape[0], fraction)
    row_bits = assign_rows(w2d, bits, n_lut)
    out = quantize_rows(w2d, row_bits)
    if bits >= 16:
        keep = row_bits == bits
        out = torch.where(keep[:, None], w2d, out)
    return out


def _dense_weight(weight: torch.Tensor, rank: int | None, bits: int,
                  fraction: float) -> torch.Tensor:
    """The effective matrix of a dense stand-in layer: truncated SVD at ``rank`` (``None``: kept
    dense), each factor quantised per row."""
    if rank is None or rank >= min(weight.shape):
        return _quantise(weight, bits, fraction)
    u, s, vh = torch.linalg.svd(weight.double(), full_matrices=False)
    root = s[:rank].sqrt()
    first = (root[:, None] * vh[:rank]).to(weight.dtype)       # r x in
    second = (u[:, :rank] * root[None, :]).to(weight.dtype)    # out x r
    return _quantise(second, bits, fraction) @ _quantise(first, bits, fraction)


def _tensor_factors(layer: TensorLinear, bits: int, fraction: float) -> list[torch.Tensor]:
    out = []
    for i, f in enumerate(layer.factors):
        rows = layer.factor_rows(i, f.detach())
        out.append(layer.factor_from_rows(i, _quantise(rows, bits, fraction), f))
    return out


# ------------------------------------------------------------------------------------ oracle

def _full_rank(layer: Linear) -> int:
    return min(layer.in_features, layer.out_features)


class TensorLstmOracle(AccuracyOracle):
    """Accuracy of designs of a TT/HT LSTM workload, measured on the digits stand-in (see the
    module docstring for the model, the rank mapping and what is ignored).

    :param workload: a workload with exactly one ``TTLinear`` or ``HTLinear`` layer (the zoo's
        ``lstm-ucf`` / ``lstm-youtube`` with ``variant="tt"`` or ``"ht"``); its ``Linear`` layers
        named ``...w_hh`` map to the stand-in's recurrent matrix, the others to its classifier.
    :param cache_dir: where trained stand-ins are kept (:func:`~rl_search.accuracy.tasks.
        cache_root`).
    :param seed: data split, initialisation and shuffle of every stand-in.
    :param threads: torch intra-op threads while training and evaluating.
    :raises CodesignError: the workload has no tensor layer, more than one, or a layer the
        stand-in cannot map.
    """

    kind: ClassVar[str] = "real"

    def __init__(self, workload: Workload, *, cache_dir: str | os.PathLike[str] | None = None,
                 seed: int = 0, threads: int | None = 1) -> None:
        tensor = [i for i, layer in enumerate(workload.layers)
                  if isinstance(layer, (TTLinear, HTLinear))]
        if len(tensor) != 1:
            raise CodesignError(
                f"TensorLstmOracle needs a workload with exactly one TTLinear or HTLinear layer; "
                f"{workload.name!r} has {len(tensor)}"
                + (f" ({[workload.layers[i].name for i in tensor]})" if tensor else ""))
        roles: list[str] = []
        for layer in workload.layers:
            if isinstance(layer, (TTLinear, HTLinear)):
                roles.append("w_ih")
            elif isinstance(layer, Linear):
                roles.append("w_hh" if layer.name.endswith("w_hh") else "classifier")
            else:
                raise CodesignError(
                    f"TensorLstmOracle cannot map layer {layer.name!r} ({layer.kind}) of "
                    f"{workload.name!r} to the digits stand-in (only the tensor layer, w_hh and "
                    f"classifier Linear layers)")
        if roles.count("w_hh") > 1 or roles.count("classifier") > 1:
            raise CodesignError(f"{workload.name!r} has more than one w_hh or classifier Linear "
                                f"layer; the stand-in has one of each")
        self._workload = workload
        self._names = tuple(layer.name for layer in workload.layers)
        self._roles = tuple(roles)
        self._tensor_index = tensor[0]
        layer = workload.layers[tensor[0]]
        self.fmt = "tt" if isinstance(layer, TTLinear) else "ht"
        self.own_rank = (layer.rank if isinstance(layer, HTLinear)
                         else max(cast(TTLinear, layer).ranks[1:-1], default=1))
        self.cache_dir, self.seed, self.threads = cache_dir, seed, threads
        self._val = _data(seed)["val"]
        self._models: dict[int, tuple[TensorDigitsLSTM, dict[str, Any]]] = {}
        self._memo: dict[tuple[Any, ...], float] = {}
        self.hits = 0
        self._baseline = self._measure(self.standin_rank(0), None, None,
                                       (16,) * 3, (1.0,) * 3)

    # -------------------------------------------------------------------------- interface

    @property
    def layer_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def baseline(self) -> float:
        return self._baseline

    @property
    def workload(self) -> Workload:
        return self._workload

    def standin_rank(self, rank: int) -> int:
        """The stand-in's tensor rank for the workload's tensor rank ``rank`` (0: own)."""
        return min(self.own_rank if rank == 0 else int(rank), MAX_RANK)

    def model(self, rank: int) -> tuple[TensorDigitsLSTM, dict[str, Any]]:
        """The trained stand-in at stand-in rank ``rank`` and its info (trained on first use)."""
        if rank not in self._models:
            self._models[rank] = trained_standin(self.fmt, rank, cache_dir=self.cache_dir,
                                                 seed=self.seed, threads=self.threads)
        return self._models[rank]

    def estimate(self, design: Design, *,
                 fractions: Sequence[float] | None = None) -> AccuracyEstimate:
        check_layers(design, self._names, f"workload {self._workload.name!r}")
        fracs = resolve_fractions(design, fractions)
        ranks = [0 if design.rank is None or r is None else int(r)
                 for r in (design.rank or (None,) * len(self._names))]
        before = self.hits
        acc, mapped = self._row(design.weight_bits, fracs, ranks)
        return AccuracyEstimate(acc, self._baseline, self.kind, {
            "task": "digits stand-in (scikit-learn digits, validation split); not the accuracy "
                    "on the workload's video dataset",
            "format": self.fmt, "standin": mapped, "act_bits": "ignored",
            "cached": self.hits > before})

    def estimate_batch(self, weight_bits: Any, act_bits: Any, lut_fraction: Any,
                       rank: Any = None) -> np.ndarray:
        """Accuracies of ``[n, L]`` design rows (``rank`` None: all 0); ``act_bits`` is
        validated and ignored."""
        wb, _ab, fr, rk = batch_arrays(self._names, weight_bits, act_bits, lut_fraction, rank)
        return np.array([self._row(wb[i], fr[i], rk[i])[0] for i in range(wb.shape[0])],
                        dtype=np.float64)

    # -------------------------------------------------------------------------- internals

    def _row(self, weight_bits: Sequence[int], fractions: Sequence[float],
             ranks: Sequence[int]) -> tuple[float, dict[str, Any]]:
        problems = []
        t_rank, hh_rank, cls_rank = 0, None, None
        bits = {"w_ih": 16, "w_hh": 16, "classifier": 16}
        fr = {"w_ih": 1.0, "w_hh": 1.0, "classifier": 1.0}
        for name, role, layer, b, f, r in zip(self._names, self._roles, self._workload.layers,
                                              weight_bits, fractions, ranks, strict=True):
            bits[role], fr[role] = min(int(b), 16), float(f)
            if role == "w_ih":
                t_rank = self.standin_rank(int(r))
                continue
            if r == 0:
                continue
            assert isinstance(layer, Linear)
            full = _full_rank(layer)
            if r > full:
                problems.append(Problem(f"{name}.rank", int(r),
                                        f"above the layer's full rank {full}"))
                continue
            standin_full = HIDDEN if role == "w_hh" else min(HIDDEN, NUM_CLASSES)
            mapped = min(standin_full, max(1, round(int(r) * standin_full / full)))
            if role == "w_hh":
                hh_rank = mapped
            else:
                cls_rank = mapped
        if problems:
            raise DesignError(f"design for workload {self._workload.name!r}", problems)
        key_bits = tuple(bits[k] for k in ("w_ih", "w_hh", "classifier"))
        key_fr = tuple(fr[k] for k in ("w_ih", "w_hh", "classifier"))
        acc = self._measure(t_rank, hh_rank, cls_rank, key_bits, key_fr)
        return acc, {"rank": t_rank, "w_hh_rank": hh_rank, "classifier_rank": cls_rank,
                     "weight_bits": key_bits}

    def _measure(self, t_rank: int, hh_rank: int | None, cls_rank: int | None,
                 bits: tuple[int, ...], fracs: tuple[float, ...]) -> float:
        # Rows at >= 16 bits are float whatever their fraction: normalise the key.
        fracs = tuple(1.0 if b >= 16 else f for b, f in zip(bits, fracs, strict=True))
        key = (t_rank, hh_rank, cls_rank, bits, fracs)
        if key in self._memo:
            self.hits += 1
            return self._memo[key]
        model, _ = self.model(t_rank)
        with torch_threads(self.threads), torch.no_grad():
            weights: dict[str, Any] = {}
            if bits[0] < 16:
                weights["w_ih_factors"] = _tensor_factors(model.w_ih, bits[0], fracs[0])
            if hh_rank is not None or bits[1] < 16:
                weights["w_hh"] = _dense_weight(model.w_hh.weight, hh_rank, bits[1], fracs[1])
            if cls_rank is not None or bits[2] < 16:
                weights["classifier"] = _dense_weight(model.classifier.weight, cls_rank,
                                                      bits[2], fracs[2])
            acc = _accuracy(model, self._val, **weights)
        self._memo[key] = acc
        return acc


__all__ = ["MAX_RANK", "TensorDigitsLSTM", "TensorLstmOracle", "trained_standin"]
