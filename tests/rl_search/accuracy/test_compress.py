"""compress_model: one design, one network, two views; accuracy of the digits CNN; bad input."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cost_models.design import Design, DesignError, uniform_design
from hwsim.errors import UnsupportedOpError
from hwsim.ir import from_torch
from rl_search.accuracy import Compressor, UnsupportedLayerError, compress_model
from rl_search.accuracy.real import top1


def gemm_multiset(workload):
    return Counter(g for _, g in workload.gemms())


def cnn_design(workload, bits=4, act=4, fraction=0.5, rank=None):
    n = len(workload.layers)
    return Design(
        workload.layer_names,
        (bits,) * n,
        (act,) * n,
        mapping={"lut_fraction": (fraction,) * n},
        rank=rank,
    )


@pytest.mark.parametrize(
    "rank", [None, (1, 8, 16, 64, 5), (16, 32, 64, 64, 10), (3, None, 7, 30, None)]
)
def test_compressed_model_traces_to_the_gemms_the_ir_costs(cnn_task, rank):
    x = cnn_task.example_input
    workload = from_torch(cnn_task.model, x)
    assert workload.layer_names == ("conv1", "conv2", "conv3", "fc1", "fc2")
    design = cnn_design(workload, rank=rank)
    compressed = compress_model(cnn_task.model, design, cnn_task.calib_batch)
    assert gemm_multiset(from_torch(compressed, x)) == gemm_multiset(design.apply_to(workload))


def test_lstm_compressed_model_traces_to_the_same_gemms(lstm_task):
    x = lstm_task.example_input
    workload = from_torch(lstm_task.model, x)
    assert workload.layer_names == ("lstm.l0", "fc")
    design = Design(
        workload.layer_names, (3, 5), (4, 6), mapping={"lut_fraction": (0.7, 0.2)}, rank=(None, 6)
    )
    compressed = compress_model(lstm_task.model, design, lstm_task.calib_batch)
    assert gemm_multiset(from_torch(compressed, x)) == gemm_multiset(design.apply_to(workload))


def test_eight_bits_keep_float_accuracy_and_two_bits_lose_clearly_more(cnn_task):
    workload = from_torch(cnn_task.model, cnn_task.example_input)
    compressor = Compressor(cnn_task.model, cnn_task.calib_batch)
    acc8, _ = top1(
        compressor.compress(uniform_design(workload, 8, 8, mapping={"lut_fraction": 1.0})),
        cnn_task.val_loader,
    )
    acc2, _ = top1(
        compressor.compress(uniform_design(workload, 2, 8, mapping={"lut_fraction": 1.0})),
        cnn_task.val_loader,
    )
    print(f"digits CNN: float {cnn_task.float_accuracy:.4f}, W8A8 {acc8:.4f}, W2A8 {acc2:.4f}")
    assert cnn_task.float_accuracy > 0.95
    assert abs(acc8 - cnn_task.float_accuracy) <= 0.01
    assert acc2 < cnn_task.float_accuracy - 0.10


def test_dsp_share_protects_accuracy(cnn_task):
    workload = from_torch(cnn_task.model, cnn_task.example_input)
    compressor = Compressor(cnn_task.model, cnn_task.calib_batch)
    accs = [
        top1(
            compressor.compress(uniform_design(workload, 2, 8, mapping={"lut_fraction": f})),
            cnn_task.val_loader,
        )[0]
        for f in (0.0, 1.0)
    ]
    assert accs[0] >= cnn_task.float_accuracy - 0.01 > accs[1]


def test_full_rank_sixteen_bit_model_matches_the_float_model(cnn_task):
    workload = from_torch(cnn_task.model, cnn_task.example_input)
    full = (16, 32, 64, 64, 10)
    design = Design(
        workload.layer_names, (16,) * 5, (16,) * 5, mapping={"lut_fraction": (1.0,) * 5}, rank=full
    )
    compressed = compress_model(cnn_task.model, design, cnn_task.calib_batch)
    x = cnn_task.calib_batch
    with torch.no_grad():
        assert torch.allclose(compressed(x), cnn_task.model(x), atol=1e-2)


def test_original_model_is_untouched(cnn_task):
    before = {k: v.clone() for k, v in cnn_task.model.state_dict().items()}
    workload = from_torch(cnn_task.model, cnn_task.example_input)
    compress_model(cnn_task.model, cnn_design(workload, 2, 2, 1.0, (2,) * 5), cnn_task.calib_batch)
    after = cnn_task.model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert type(cnn_task.model.conv1) is nn.Conv2d


# -------------------------------------------------------------------------------- bad input


def test_unknown_layer_is_named(cnn_task):
    workload = from_torch(cnn_task.model, cnn_task.example_input)
    names = ("conv1", "conv2", "convX", "fc1", "fc2")
    design = Design(names, (4,) * 5, (4,) * 5, mapping={"lut_fraction": (0.5,) * 5})
    with pytest.raises(DesignError, match="convX"):
        compress_model(cnn_task.model, design, cnn_task.calib_batch)
    short = Design(
        workload.layer_names[:4], (4,) * 4, (4,) * 4, mapping={"lut_fraction": (0.5,) * 4}
    )
    with pytest.raises(DesignError, match="5 layers"):
        compress_model(cnn_task.model, short, cnn_task.calib_batch)


def test_rank_above_full_rank_is_named(cnn_task):
    workload = from_torch(cnn_task.model, cnn_task.example_input)
    design = cnn_design(workload, rank=(None, None, None, 65, None))
    with pytest.raises(DesignError, match=r"fc1\.rank.*\[1, 64\]"):
        compress_model(cnn_task.model, design, cnn_task.calib_batch)


def test_bits_below_one_are_named(cnn_task):
    workload = from_torch(cnn_task.model, cnn_task.example_input)
    with pytest.raises(DesignError, match=r"conv2\.weight_bits"):
        Design(
            workload.layer_names, (4, 0, 4, 4, 4), (4,) * 5, mapping={"lut_fraction": (0.5,) * 5}
        )
    with pytest.raises(DesignError, match=r"fc2\.act_bits"):
        Design(
            workload.layer_names, (4,) * 5, (4, 4, 4, 4, -1), mapping={"lut_fraction": (0.5,) * 5}
        )


def test_unsolved_fractions_need_an_override(cnn_task):
    workload = from_torch(cnn_task.model, cnn_task.example_input)
    design = uniform_design(workload, 4, 4)  # lut_fraction None: the balance point
    with pytest.raises(DesignError, match=r"conv1\.lut_fraction.*solve_mapping"):
        compress_model(cnn_task.model, design, cnn_task.calib_batch)
    model = compress_model(cnn_task.model, design, cnn_task.calib_batch, fractions=[0.5] * 5)
    with pytest.raises(DesignError, match="one entry per layer"):
        compress_model(cnn_task.model, design, cnn_task.calib_batch, fractions=[0.5] * 4)
    assert isinstance(model, nn.Module)


class FunctionalHead(nn.Module):
    """A conv, then a classifier written as F.linear with a raw parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Parameter(torch.randn(10, 4 * 8 * 8) * 0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.relu(self.conv(x)).flatten(1), self.head)


class SharedLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc(torch.relu(self.fc(x))))


def test_unsupported_layers_are_named_and_skipped_only_on_request():
    model = FunctionalHead()
    x = torch.rand(16, 1, 8, 8)
    with pytest.raises(UnsupportedLayerError, match=r"linear.*functional call"):
        Compressor(model, x)
    compressor = Compressor(model, x, skip_unsupported=True)
    assert [name for name, _ in compressor.unsupported] == ["linear"]
    design = Design(compressor.layer_names, (2, 2), (2, 2), mapping={"lut_fraction": (1.0, 1.0)})
    compressed = compressor.compress(design)
    assert torch.equal(compressed.head, model.head)
    assert gemm_multiset(from_torch(compressed, x[:1])) == gemm_multiset(from_torch(model, x[:1]))


def test_module_called_twice_is_unsupported():
    with pytest.raises(UnsupportedLayerError, match=r"fc:1: module called more than once"):
        Compressor(SharedLayer(), torch.randn(4, 8))


def test_untraceable_ops_are_reported_by_the_front_end():
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Flatten(), nn.Linear(4 * 6, 2))
    with pytest.raises(UnsupportedOpError, match="Conv1d"):
        Compressor(model, torch.randn(2, 2, 8))
    compressor = Compressor(model, torch.randn(2, 2, 8), skip_unsupported=True)
    assert compressor.layer_names == ("2",)
