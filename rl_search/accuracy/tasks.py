"""Built-in tasks that need no download: scikit-learn's bundled digits (8x8, 10 classes).

``digits_cnn()`` (three conv layers and two linear layers) and
``digits_lstm()`` (an LSTM reading the image row by row, then a linear classifier) are trained on
first use in a few seconds, with fixed seeds, and cached on disk, so every demo and test has a
real accuracy to lose.

* Data: ``sklearn.datasets.load_digits`` (1,797 images, pixel values 0..16, scaled to [0, 1]),
  split 60 / 20 / 20 into train / validation / test by a permutation drawn from ``seed``.
* Cache: ``<cache>/tasks/<name>-v<version>-seed<seed>.pt`` (a state dict) and a ``.json`` with
  the float accuracies; ``<cache>`` is ``cache_dir``, else ``$CODESIGN_CACHE``, else
  ``~/.cache/codesign``. Training is deterministic on one machine (seeded initialisation, a seeded
  shuffle, fixed epochs); the cached weights make it deterministic across runs.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rl_search.accuracy._threads import torch_threads

log = logging.getLogger(__name__)

_VERSION = 1
"""Bump when a task's data, model or training changes, so stale caches are not reused."""


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$CODESIGN_CACHE``, else ``~/.cache/codesign``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("CODESIGN_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "codesign"


@dataclass(frozen=True)
class Task:
    """A trained float model with its data.

    ``float_accuracy`` is the model's top-1 on ``val_loader`` (the split the oracles measure on),
    ``test_accuracy`` on ``test_loader``. ``example_input`` is one sample (batch of 1) for
    :func:`hwsim.ir.from_torch`; ``calib_batch`` 128 training samples for activation ranges.
    """

    name: str
    model: nn.Module
    train_loader: DataLoader
    val_loader: DataLoader
    test_loader: DataLoader
    float_accuracy: float
    test_accuracy: float
    example_input: torch.Tensor
    calib_batch: torch.Tensor
    num_classes: int = 10


class DigitsCNN(nn.Module):
    """Three 3x3 convolutions (16, 32, 64 channels, two 2x2 max-pools) and two linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 2 * 2, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class DigitsLSTM(nn.Module):
    """An LSTM (hidden 48) over the 8 image rows, then a linear classifier on the last state."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 48, batch_first=True)
        self.fc = nn.Linear(48, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


@dataclass(frozen=True)
class _Recipe:
    name: str
    model: type[nn.Module]
    image_shape: tuple[int, ...]
    epochs: int
    lr: float


_CNN = _Recipe("digits-cnn", DigitsCNN, (1, 8, 8), epochs=30, lr=3e-3)
_LSTM = _Recipe("digits-lstm", DigitsLSTM, (8, 8), epochs=60, lr=1e-2)


def digits_cnn(*, cache_dir: str | os.PathLike[str] | None = None, seed: int = 0,
               retrain: bool = False, threads: int | None = 1) -> Task:
    """The digits CNN (layers ``conv1, conv2, conv3, fc1, fc2``), trained or loaded from cache.

    :param cache_dir: where trained weights are kept (see :func:`cache_root`).
    :param seed: fixes the data split, the initialisation and the shuffle.
    :param retrain: train even when cached weights exist (and overwrite them).
    :param threads: torch intra-op threads while training (``None``: torch's setting).
    """
    with torch_threads(threads):
        return _task(_CNN, cache_dir, seed, retrain)


def digits_lstm(*, cache_dir: str | os.PathLike[str] | None = None, seed: int = 0,
                retrain: bool = False, threads: int | None = 1) -> Task:
    """The digits LSTM classifier (layers ``lstm.l0, fc``); parameters as :func:`digits_cnn`."""
    with torch_threads(threads):
        return _task(_LSTM, cache_dir, seed, retrain)


def digits_cnn_oracle(workload: Any, *, finetune_steps: int = 20) -> Any:
    """The real accuracy oracle of the digits CNN, fine-tuned ``finetune_steps`` steps per
    design (straight-through estimator), for a run config's ``oracle`` spec
    ``rl_search.accuracy.tasks:digits_cnn_oracle``: an oracle whose every evaluation trains,
    the expensive kind a cluster backend is for. ``workload`` must be the traced digits CNN
    (``from_torch(digits_cnn().model, digits_cnn().example_input)``, or its TOML dump); a
    workload with other layers raises naming them."""
    from hwsim.errors import CodesignError
    from rl_search.accuracy.real import RealOracle

    task = digits_cnn()
    oracle = RealOracle(task.model, task.val_loader, task.calib_batch,
                        finetune_steps=finetune_steps, train_loader=task.train_loader)
    if tuple(getattr(workload, "layer_names", ())) != tuple(oracle.layer_names):
        raise CodesignError(f"digits_cnn_oracle: workload {getattr(workload, 'name', '?')!r} "
                            f"has layers {tuple(getattr(workload, 'layer_names', ()))}, the "
                            f"digits CNN {tuple(oracle.layer_names)}")
    return oracle


def digits_splits(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "val", "test"}: (images float32 in [0, 1] of shape [n, 64], labels int64)``."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    n_train, n_val = int(0.6 * len(y)), int(0.2 * len(y))
    parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val],
             "test": order[n_train + n_val:]}
    return {k: ((x[idx] / 16.0).astype(np.float32), y[idx].astype(np.int64))
            for k, idx in parts.items()}


def _task(recipe: _Recipe, cache_dir: str | os.PathLike[str] | None, seed: int,
          retrain: bool) -> Task:
    splits = digits_splits(seed)
    tensors = {k: (torch.from_numpy(x).reshape(-1, *recipe.image_shape), torch.from_numpy(y))
               for k, (x, y) in splits.items()}
    loader_gen = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(TensorDataset(*tensors["train"]), batch_size=64, shuffle=True,
                              generator=loader_gen)
    val_loader = DataLoader(TensorDataset(*tensors["val"]), batch_size=512)
    test_loader = DataLoader(TensorDataset(*tensors["test"]), batch_size=512)

    folder = cache_root(cache_dir) / "tasks"
    stem = folder / f"{recipe.name}-v{_VERSION}-seed{seed}"
    weights, meta = stem.with_suffix(".pt"), stem.with_suffix(".json")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = recipe.model()
    if weights.exists() and meta.exists() and not retrain:
        model.load_state_dict(torch.load(weights, weights_only=True))
        info = json.loads(meta.read_text())
    else:
        log.info("training %s (seed %d); cached at %s", recipe.name, seed, weights)
        _train(model, tensors["train"], recipe, seed)
        info = {"val_accuracy": _accuracy(model, val_loader),
                "test_accuracy": _accuracy(model, test_loader),
                "epochs": recipe.epochs, "lr": recipe.lr, "seed": seed, "version": _VERSION}
        folder.mkdir(parents=True, exist_ok=True)
        tmp = weights.with_suffix(".pt.tmp")
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, weights)
        meta.write_text(json.dumps(info, indent=2))
    model.eval()
    x_train = tensors["train"][0]
    return Task(recipe.name, model, train_loader, val_loader, test_loader,
                float(info["val_accuracy"]), float(info["test_accuracy"]),
                example_input=x_train[:1].clone(), calib_batch=x_train[:128].clone())


def _train(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], recipe: _Recipe,
           seed: int) -> None:
    x, y = data
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, recipe.epochs)
    model.train()
    for _ in range(recipe.epochs):
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), 64):
            idx = order[start:start + 64]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()


def _accuracy(model: nn.Module, loader: DataLoader) -> float:
    correct = total = 0
    model.eval()
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(-1) == y).sum())
            total += len(y)
    return correct / total


__all__ = ["DigitsCNN", "DigitsLSTM", "Task", "cache_root", "digits_cnn", "digits_cnn_oracle",
           "digits_lstm",
           "digits_splits"]
