"""The real oracle: compress the torch model as the design says and measure it on data.

Per design: :class:`~rl_search.accuracy.compress.Compressor` builds the fake-quantised, low-rank
model; optionally it is fine-tuned for ``finetune_steps`` steps with the straight-through
estimator (Bengio, Leonard and Courville 2013; the per-candidate fine-tune of HAQ, Wang et al.
CVPR'19, and N3H-Core, scaled down); then top-1 accuracy is measured on ``val_loader``.

Results are cached by design (:func:`~rl_search.accuracy.base.design_key`: names, bits,
fractions, ranks) in memory and, with ``cache_dir``, in a JSON file
``<cache_dir>/real-<fingerprint>.json``; the fingerprint hashes the model's weights, the
calibration batch, the validation data and the fine-tune settings, so a cache is never reused
for another model or data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader

from cost_models.design import Design
from hwsim.errors import CodesignError
from hwsim.ir import Workload
from rl_search.accuracy._threads import torch_threads
from rl_search.accuracy.base import (
    AccuracyEstimate,
    AccuracyOracle,
    check_layers,
    design_key,
    resolve_fractions,
)
from rl_search.accuracy.compress import Compressor

log = logging.getLogger(__name__)

_CACHE_VERSION = 1
"""Part of the disk-cache fingerprint; bump when compression or measurement changes."""


def top1(model: nn.Module, loader: Iterable[Any]) -> tuple[float, float]:
    """``(accuracy, majority-class share)`` of ``model`` on ``(inputs, labels)`` batches.

    The global torch RNG is left as it was (iterating a ``DataLoader`` draws a seed from it).
    """
    correct = total = 0
    counts: dict[int, int] = {}
    model.eval()
    with torch.no_grad(), parametrize.cached(), torch.random.fork_rng(devices=[]):
        for x, y in loader:
            correct += int((model(x).argmax(-1) == y).sum())
            total += len(y)
            for label, n in zip(*torch.unique(y, return_counts=True), strict=True):
                counts[int(label)] = counts.get(int(label), 0) + int(n)
    if not total:
        raise CodesignError("the evaluation loader yielded no samples")
    return correct / total, max(counts.values()) / total


def finetune_ste(model: nn.Module, train_loader: Iterable[Any], steps: int, lr: float,
                 seed: int = 0) -> None:
    """``steps`` Adam steps of cross-entropy on ``train_loader`` (cycled), in place.

    The fake quantisers pass gradients straight through (STE); activation ranges stay as
    calibrated. Batches are drawn as ``seed`` says: the global torch RNG and the loader's own
    generator (if it has one) are seeded for the run and restored afterwards.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    found = getattr(train_loader, "generator", None)
    generator = found if isinstance(found, torch.Generator) else None
    saved = generator.get_state() if generator is not None else None
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if generator is not None:
                generator.manual_seed(seed)
            opt = torch.optim.Adam(params, lr=lr)
            model.train()
            batches = iter(train_loader)
            for _ in range(steps):
                try:
                    x, y = next(batches)
                except StopIteration:
                    batches = iter(train_loader)
                    x, y = next(batches)
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        if generator is not None and saved is not None:
            generator.set_state(saved)
        model.eval()


class RealOracle(AccuracyOracle):
    """Accuracy of the compressed model measured on data.

    :param model: the float classifier (not modified); it maps an input batch to logits.
    :param val_loader: yields ``(inputs, labels)``; accuracy is top-1 over all of it.
    :param calib_batch: inputs that calibrate activation ranges (and trace the model).
    :param finetune_steps: STE fine-tune steps per design (0: post-training quantisation).
    :param train_loader: ``(inputs, labels)`` batches for fine-tuning; required when
        ``finetune_steps > 0``.
    :param lr: Adam learning rate of the fine-tune.
    :param cache_dir: keep results on disk too (JSON, see the module docstring).
    :param example_input: input the designs' workload is traced with (default: one sample of
        ``calib_batch``).
    :param seed: seeds the fine-tune.
    :param threads: torch intra-op threads while compressing and measuring (``None``: torch's
        setting); one is fastest for small models on a busy machine.
    :param skip_unsupported: leave layers the transforms cannot handle uncompressed.
    """

    kind: ClassVar[str] = "real"

    def __init__(self, model: nn.Module, val_loader: DataLoader | Iterable[Any],
                 calib_batch: torch.Tensor, *, finetune_steps: int = 0,
                 train_loader: DataLoader | Iterable[Any] | None = None, lr: float = 1e-3,
                 cache_dir: str | os.PathLike[str] | None = None, example_input: Any = None,
                 seed: int = 0, threads: int | None = 1, skip_unsupported: bool = False) -> None:
        if finetune_steps < 0:
            raise ValueError(f"finetune_steps must be >= 0, got {finetune_steps}")
        if finetune_steps and train_loader is None:
            raise ValueError("finetune_steps > 0 needs a train_loader")
        self.val_loader = val_loader
        self.train_loader = train_loader
        self.finetune_steps = int(finetune_steps)
        self.lr = float(lr)
        self.seed = int(seed)
        self.threads = threads
        self.evaluations = 0
        """Designs actually measured (cache misses)."""
        with torch_threads(threads):
            self.compressor = Compressor(model, calib_batch, example_input=example_input,
                                         skip_unsupported=skip_unsupported)
            self._baseline, self.chance = top1(model, val_loader)
        self._memory: dict[str, dict[str, Any]] = {}
        self._path: Path | None = None
        if cache_dir is not None:
            self._path = Path(cache_dir) / f"real-{self._fingerprint(model, calib_batch)}.json"
            if self._path.exists():
                self._memory.update(json.loads(self._path.read_text())["results"])

    @property
    def layer_names(self) -> tuple[str, ...]:
        return self.compressor.layer_names

    @property
    def baseline(self) -> float:
        return self._baseline

    @property
    def workload(self) -> Workload:
        return self.compressor.workload

    def compress(self, design: Design, *, fractions: Sequence[float] | None = None) -> nn.Module:
        """The compressed (and, with ``finetune_steps``, fine-tuned) model for ``design``."""
        with torch_threads(self.threads):
            model = self.compressor.compress(design, fractions=fractions)
            if self.finetune_steps:
                assert self.train_loader is not None
                finetune_ste(model, self.train_loader, self.finetune_steps, self.lr, self.seed)
        return model

    def estimate(self, design: Design, *,
                 fractions: Sequence[float] | None = None) -> AccuracyEstimate:
        check_layers(design, self.layer_names, "the model")
        fracs = resolve_fractions(design, fractions)
        key = design_key(design, fracs)
        hit = key in self._memory
        if not hit:
            start = time.perf_counter()
            model = self.compress(design, fractions=fracs)
            with torch_threads(self.threads):
                accuracy, _ = top1(model, self.val_loader)
            self.evaluations += 1
            self._memory[key] = {"accuracy": accuracy,
                                 "seconds": round(time.perf_counter() - start, 6)}
            self._save()
        entry = self._memory[key]
        return AccuracyEstimate(entry["accuracy"], self._baseline, "real",
                                {"cached": hit, "seconds": entry["seconds"],
                                 "finetune_steps": self.finetune_steps, "key": key})

    # -------------------------------------------------------------------------------- cache

    def _fingerprint(self, model: nn.Module, calib_batch: torch.Tensor) -> str:
        h = hashlib.sha256()
        h.update(f"v{_CACHE_VERSION} ft{self.finetune_steps} lr{self.lr!r} "
                 f"seed{self.seed}".encode())
        for name, tensor in model.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        h.update(calib_batch.detach().cpu().contiguous().numpy().tobytes())
        for x, y in self.val_loader:
            h.update(x.detach().cpu().contiguous().numpy().tobytes())
            h.update(y.detach().cpu().contiguous().numpy().tobytes())
        if self.finetune_steps and self.train_loader is not None:
            dataset = getattr(self.train_loader, "dataset", None)
            h.update(f"train{len(dataset) if dataset is not None else '?'}".encode())
        return h.hexdigest()[:16]

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"layer_names": list(self.layer_names),
                                   "baseline": self._baseline,
                                   "finetune_steps": self.finetune_steps,
                                   "results": self._memory}, indent=1, sort_keys=True))
        os.replace(tmp, self._path)


__all__ = ["RealOracle", "finetune_ste", "top1"]
