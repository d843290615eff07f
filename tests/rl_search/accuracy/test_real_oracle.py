"""RealOracle: measurement, caching (memory and disk), fine-tuning; the digits tasks."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from cost_models.design import Design, DesignError, uniform_design
from rl_search.accuracy import AccuracyEstimate, RealOracle, digits_cnn, digits_lstm
from rl_search.accuracy.base import design_key


def test_estimate_is_real_and_cached_in_memory(cnn_task, cnn_real):
    workload = cnn_real.workload
    design = uniform_design(workload, 3, 4, mapping={"lut_fraction": 0.6})
    before = cnn_real.evaluations
    first = cnn_real.estimate(design)
    assert isinstance(first, AccuracyEstimate) and first.kind == "real"
    assert first.baseline == pytest.approx(cnn_task.float_accuracy)
    assert not first.details["cached"] and cnn_real.evaluations == before + 1
    second = cnn_real(design)
    assert second.details["cached"] and cnn_real.evaluations == before + 1
    assert second.accuracy == first.accuracy and second.delta == first.delta
    assert (
        cnn_real.estimate(uniform_design(workload, 3, 4, mapping={"lut_fraction": 0.7})).details[
            "cached"
        ]
        is False
    )


def test_fraction_override_shares_the_cache_entry(cnn_real):
    workload = cnn_real.workload
    unsolved = uniform_design(workload, 5, 5)
    with pytest.raises(DesignError, match="solve_mapping"):
        cnn_real.estimate(unsolved)
    a = cnn_real.estimate(unsolved, fractions=[0.25] * 5)
    b = cnn_real.estimate(uniform_design(workload, 5, 5, mapping={"lut_fraction": 0.25}))
    assert b.details["cached"] and a.accuracy == b.accuracy


def test_disk_cache_survives_a_new_oracle(cnn_task, tmp_path):
    oracle = RealOracle(
        cnn_task.model, cnn_task.val_loader, cnn_task.calib_batch, cache_dir=tmp_path
    )
    design = Design(
        oracle.layer_names,
        (2, 3, 4, 5, 6),
        (8, 7, 6, 5, 4),
        mapping={"lut_fraction": (0.1, 0.3, 0.5, 0.7, 0.9)},
        rank=(None, 16, None, 32, None),
    )
    measured = oracle.estimate(design)
    files = list(tmp_path.glob("real-*.json"))
    assert len(files) == 1
    stored = json.loads(files[0].read_text())
    assert design_key(design, design.mapping_values("lut_fraction")) in stored["results"]
    again = RealOracle(
        cnn_task.model, cnn_task.val_loader, cnn_task.calib_batch, cache_dir=tmp_path
    )
    hit = again.estimate(design)
    assert hit.details["cached"] and again.evaluations == 0
    assert hit.accuracy == measured.accuracy
    # another model (or fine-tune setting) gets another file
    other = RealOracle(
        cnn_task.model,
        cnn_task.val_loader,
        cnn_task.calib_batch,
        cache_dir=tmp_path,
        finetune_steps=1,
        train_loader=cnn_task.train_loader,
    )
    assert not other.estimate(design).details["cached"]
    assert len(list(tmp_path.glob("real-*.json"))) == 2


def test_design_key_is_stable_and_ignores_hardware_knobs(cnn_real):
    names = cnn_real.layer_names
    a = Design(names, (4,) * 5, (4,) * 5, mapping={"lut_fraction": (0.5,) * 5})
    b = Design(
        names,
        (4,) * 5,
        (4,) * 5,
        mapping={"lut_fraction": (0.50,) * 5},
        options={"balance": "n3h-sweep"},
        workload="x",
    )
    c = Design(
        names,
        (4,) * 5,
        (4,) * 5,
        mapping={"lut_fraction": (0.5,) * 5},
        rank=(None, None, None, 8, None),
    )
    assert design_key(a, a.mapping_values("lut_fraction")) == design_key(
        b, b.mapping_values("lut_fraction")
    )
    assert design_key(a, a.mapping_values("lut_fraction")) != design_key(
        c, c.mapping_values("lut_fraction")
    )
    assert len(design_key(a, a.mapping_values("lut_fraction"))) == 64


def test_finetune_recovers_accuracy_deterministically(cnn_task):
    design = Design(
        ("conv1", "conv2", "conv3", "fc1", "fc2"),
        (2,) * 5,
        (3,) * 5,
        mapping={"lut_fraction": (1.0,) * 5},
    )
    plain = RealOracle(cnn_task.model, cnn_task.val_loader, cnn_task.calib_batch)
    tuned = [
        RealOracle(
            cnn_task.model,
            cnn_task.val_loader,
            cnn_task.calib_batch,
            finetune_steps=30,
            train_loader=cnn_task.train_loader,
            lr=3e-3,
        )
        for _ in range(2)
    ]
    rng_before = torch.get_rng_state()
    results = [o.estimate(design).accuracy for o in tuned]
    assert torch.equal(rng_before, torch.get_rng_state())
    ptq = plain.estimate(design).accuracy
    print(f"W2A3 everywhere: post-training {ptq:.4f}, 30 STE steps {results[0]:.4f}")
    assert results[0] == results[1]
    assert results[0] > ptq + 0.05


def test_finetune_needs_a_train_loader(cnn_task):
    with pytest.raises(ValueError, match="train_loader"):
        RealOracle(cnn_task.model, cnn_task.val_loader, cnn_task.calib_batch, finetune_steps=5)


def test_default_estimate_batch_loops_over_estimate(cnn_real):
    n = len(cnn_real.layer_names)
    wb = np.array([[8] * n, [3] * n])
    ab = np.array([[8] * n, [4] * n])
    fr = np.full((2, n), 0.5)
    rk = np.array([[0] * n, [0, 0, 0, 16, 0]])
    batch = cnn_real.estimate_batch(wb, ab, fr, rk)
    one = cnn_real.estimate(
        Design(
            cnn_real.layer_names,
            (3,) * n,
            (4,) * n,
            mapping={"lut_fraction": (0.5,) * n},
            rank=(None, None, None, 16, None),
        )
    )
    assert batch.shape == (2,) and batch[1] == one.accuracy
    with pytest.raises(DesignError, match=r"conv1\.lut_fraction.*NaN"):
        cnn_real.estimate_batch(wb, ab, np.full((2, n), np.nan))
    with pytest.raises(DesignError, match=r"conv3\.weight_bits"):
        cnn_real.estimate_batch(np.array([[8, 8, 0, 8, 8]]), ab[:1], fr[:1])


def test_tasks_are_cached_on_disk(cache_dir, cnn_task, lstm_task):
    start = time.perf_counter()
    again = digits_cnn(cache_dir=cache_dir)
    assert time.perf_counter() - start < 5.0
    assert again.float_accuracy == cnn_task.float_accuracy
    for a, b in zip(
        again.model.state_dict().values(), cnn_task.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert list((cache_dir / "tasks").glob("digits-cnn-v*-seed0.pt"))
    assert digits_lstm(cache_dir=cache_dir).float_accuracy == lstm_task.float_accuracy
    assert lstm_task.float_accuracy > 0.9 and cnn_task.float_accuracy > 0.95
    sizes = [
        len(loader.dataset)
        for loader in (cnn_task.train_loader, cnn_task.val_loader, cnn_task.test_loader)
    ]
    assert sizes == [1078, 359, 360]
    assert cnn_task.example_input.shape == (1, 1, 8, 8)
    assert lstm_task.example_input.shape == (1, 8, 8)


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    from rl_search.accuracy.tasks import cache_root

    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("CODESIGN_CACHE")
    assert cache_root().parts[-2:] == (".cache", "codesign")
    assert cache_root(tmp_path / "x") == tmp_path / "x"


def test_real_oracle_on_the_lstm(lstm_task):
    oracle = RealOracle(lstm_task.model, lstm_task.val_loader, lstm_task.calib_batch)
    assert oracle.layer_names == ("lstm.l0", "fc")
    high = oracle.estimate(
        Design(oracle.layer_names, (8, 8), (8, 8), mapping={"lut_fraction": (1.0, 1.0)})
    ).accuracy
    low = oracle.estimate(
        Design(oracle.layer_names, (2, 2), (2, 2), mapping={"lut_fraction": (1.0, 1.0)})
    ).accuracy
    assert abs(high - lstm_task.float_accuracy) <= 0.01 and low < high - 0.1


def test_digits_cnn_oracle_spec_builds_a_fine_tuning_oracle(cache_dir, cnn_task, monkeypatch):
    from hwsim.errors import CodesignError
    from hwsim.ir import from_torch, zoo
    from rl_search.accuracy.tasks import digits_cnn_oracle

    monkeypatch.setenv("CODESIGN_CACHE", str(cache_dir))  # the task trained for this session
    oracle = digits_cnn_oracle(from_torch(cnn_task.model, cnn_task.example_input))
    assert oracle.finetune_steps == 20 and oracle.layer_names[0] == "conv1"
    with pytest.raises(CodesignError, match="has layers"):
        digits_cnn_oracle(zoo.get("resnet20"))
