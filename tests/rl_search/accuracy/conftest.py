"""Shared fixtures: the digits tasks trained once per session into a temporary cache, so no
test depends on ``~/.cache``."""

from __future__ import annotations

from pathlib import Path

import pytest

from rl_search.accuracy import RealOracle, Task, digits_cnn, digits_lstm


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("codesign-cache")


@pytest.fixture(scope="session")
def cnn_task(cache_dir: Path) -> Task:
    return digits_cnn(cache_dir=cache_dir)


@pytest.fixture(scope="session")
def lstm_task(cache_dir: Path) -> Task:
    return digits_lstm(cache_dir=cache_dir)


@pytest.fixture(scope="session")
def cnn_real(cnn_task: Task) -> RealOracle:
    return RealOracle(cnn_task.model, cnn_task.val_loader, cnn_task.calib_batch)
