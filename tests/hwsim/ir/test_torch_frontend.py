"""Tests of the torch.fx front end (hwsim.ir.torch_frontend).

ResNet-18 and MobileNetV2 are written here in plain torch, module for module as torchvision
defines them (torchvision itself is not installed), so the traced layer names match the zoo's.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections import Counter

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from hwsim.errors import UnsupportedOpError, WorkloadError  # noqa: E402
from hwsim.ir import Conv2d, Gemm, Linear, LstmCell, MatMul, Workload, zoo  # noqa: E402
from hwsim.ir.torch_frontend import TraceResult, from_torch, trace  # noqa: E402

# -- reference models (torchvision's structure and module names) ------------------------------


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet18(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, planes in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def conv_bn_act(inp: int, oup: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(oup), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = inp * expand_ratio
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn_act(inp, hidden, 1))
        layers += [conv_bn_act(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        settings = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                    (6, 160, 3, 2), (6, 320, 1, 1))
        features: list[nn.Module] = [conv_bn_act(3, 32, 3, 2)]
        inp = 32
        for t, c, n, s in settings:
            for i in range(n):
                features.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        features.append(conv_bn_act(inp, 1280, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def gemm_rows(workload: Workload) -> list[tuple[int, int, int, int]]:
    return [(g.m, g.n, g.k, g.count) for _, g in workload.gemms()]


@pytest.fixture(scope="module")
def resnet18_trace() -> Workload:
    return from_torch(ResNet18(), torch.randn(1, 3, 224, 224))


@pytest.fixture(scope="module")
def mobilenetv2_trace() -> Workload:
    return from_torch(MobileNetV2(), torch.randn(1, 3, 224, 224))


# -- whole networks against the zoo ------------------------------------------------------------


def test_resnet18_matches_the_21_gemms_of_n3h_core(resnet18_trace: Workload) -> None:
    m = [12544] + [3136] * 4 + [784] * 5 + [196] * 5 + [49] * 5 + [1]
    k = [147, 576, 576, 576, 576, 576, 1152, 64, 1152, 1152, 1152, 2304, 128, 2304, 2304,
         2304, 4608, 256, 4608, 4608, 512]
    n = [64] * 5 + [128] * 5 + [256] * 5 + [512] * 5 + [1000]
    assert gemm_rows(resnet18_trace) == list(zip(m, n, k, [1] * 21, strict=True))
    assert resnet18_trace.name == "ResNet18"


@pytest.mark.parametrize(("zoo_name", "fixture"), [("resnet18", "resnet18_trace"),
                                                     ("mobilenetv2", "mobilenetv2_trace")])
def test_trace_equals_zoo_entry(zoo_name: str, fixture: str,
                                request: pytest.FixtureRequest) -> None:
    traced: Workload = request.getfixturevalue(fixture)
    expected = zoo.get(zoo_name)
    assert Counter(gemm_rows(traced)) == Counter(gemm_rows(expected))
    # Execution order, torchvision names and residual edges agree too.
    assert gemm_rows(traced) == gemm_rows(expected)
    assert traced.layer_names == expected.layer_names
    assert set(traced.edges or ()) == set(expected.edges or ())
    assert traced.macs == expected.macs


def test_resnet18_residual_edges_in_networkx(resnet18_trace: Workload) -> None:
    graph = resnet18_trace.to_networkx()
    idx = resnet18_trace.index
    # identity shortcut: conv1 (through maxpool) feeds layer1.0.conv1 and, via the add, layer1.1
    assert graph.has_edge(idx("conv1"), idx("layer1.0.conv1"))
    assert graph.has_edge(idx("conv1"), idx("layer1.1.conv1"))
    assert graph.has_edge(idx("layer1.0.conv2"), idx("layer1.1.conv1"))
    # projection shortcut: the downsample conv reads the block input, its output joins the add
    assert graph.has_edge(idx("layer1.1.conv2"), idx("layer2.0.downsample.0"))
    assert graph.has_edge(idx("layer2.0.downsample.0"), idx("layer2.1.conv1"))
    assert graph.has_edge(idx("layer2.0.conv2"), idx("layer2.1.conv1"))
    assert not graph.has_edge(idx("layer2.0.conv1"), idx("layer2.1.conv1"))
    assert graph.in_degree(idx("conv1")) == 0
    assert graph.out_degree(idx("fc")) == 0
    import networkx as nx

    assert nx.is_directed_acyclic_graph(graph)


def test_tracing_leaves_the_module_untouched() -> None:
    model = ResNet18(num_classes=10).train()
    model.layer1[0].bn1.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    from_torch(model, torch.randn(2, 3, 64, 64))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [m.training for m in model.modules()] == modes


# -- convolutions ------------------------------------------------------------------------------


class Convs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.grouped = nn.Conv2d(8, 16, 3, padding=1, groups=4)
        self.depthwise = nn.Conv2d(16, 16, 3, stride=2, padding=(1, 1), groups=16)
        self.dilated = nn.Conv2d(16, 32, 3, padding=2, dilation=2)
        self.same = nn.Conv2d(32, 32, 5, padding="same")
        self.row = nn.Conv2d(32, 8, (1, 7), padding=(0, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.row(self.same(self.dilated(self.depthwise(self.grouped(x)))))


def test_conv_groups_dilation_and_padding() -> None:
    w = from_torch(Convs(), torch.randn(2, 8, 20, 24))
    layers = dict(zip(w.layer_names, w.layers, strict=True))
    grouped, depthwise, dilated, same, row = (layers[n] for n in
                                              ("grouped", "depthwise", "dilated", "same", "row"))
    assert all(isinstance(layer, Conv2d) for layer in w.layers)
    assert grouped.groups == 4 and grouped.batch == 2
    assert grouped.gemms()[0].m == 2 * 20 * 24
    assert (grouped.gemms()[0].n, grouped.gemms()[0].k, grouped.gemms()[0].count) == (4, 18, 4)
    assert depthwise.is_depthwise and depthwise.stride == 2
    assert (depthwise.gemms()[0].m, depthwise.gemms()[0].n, depthwise.gemms()[0].k,
            depthwise.gemms()[0].count) == (2 * 10 * 12, 1, 9, 16)
    assert dilated.dilation == 2 and (dilated.out_height, dilated.out_width) == (10, 12)
    assert same.padding == 2 and (same.out_height, same.out_width) == (10, 12)
    # (0, 3) padding is folded into the width: same GEMM, same output
    assert (row.out_height, row.out_width) == (10, 12)
    assert row.gemms()[0].m == 2 * 10 * 12 and row.gemms()[0].k == 32 * 7
    assert w.edges == ((0, 1), (1, 2), (2, 3), (3, 4))


def test_functional_conv2d_with_parameter_weight() -> None:
    class FConv(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(6, 3, 3, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.conv2d(x, self.weight, None, 2, 1)

    (layer,) = from_torch(FConv(), torch.randn(1, 3, 16, 16)).layers
    assert isinstance(layer, Conv2d)
    assert layer.name == "conv2d"
    assert (layer.out_channels, layer.stride, layer.padding, layer.out_height) == (6, 2, 1, 8)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's note on even-kernel 'same' padding
@pytest.mark.parametrize(("conv", "message"), [
    (nn.Conv2d(4, 4, 3, stride=(2, 1), padding=1), "unequal strides"),
    (nn.Conv2d(4, 4, 3, dilation=(1, 2), padding=1), "unequal dilations"),
    (nn.Conv2d(4, 4, 4, padding="same"), "asymmetrically"),
])
def test_conv_configurations_not_modelled_are_reported(conv: nn.Module, message: str) -> None:
    with pytest.raises(UnsupportedOpError, match=message) as info:
        from_torch(nn.Sequential(conv), torch.randn(1, 4, 12, 12))
    ((op, where),) = info.value.ops
    assert op.startswith("torch.nn.Conv2d") and "'0'" in where


# -- linear, matmul, attention -----------------------------------------------------------------


def test_linear_on_3d_input_counts_tokens() -> None:
    (layer,) = from_torch(nn.Sequential(nn.Linear(32, 64)), torch.randn(4, 10, 32)).layers
    assert layer == Linear("0", 32, 64, tokens=40)


class SelfAttention(nn.Module):
    def __init__(self, dim: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, t, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q @ k.transpose(-2, -1) * (c // self.heads) ** -0.5).softmax(dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, t, c)
        return x + self.proj(out)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = SelfAttention()
        self.fc = nn.Linear(32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.attn(x))


def test_attention_matmuls_become_matmul_layers() -> None:
    w = from_torch(Block(), torch.randn(2, 16, 32))
    # named as the zoo names attention products (q @ k^T: scores, attn @ v: context)
    assert w.layer_names == ("attn.qkv", "attn.scores", "attn.context", "attn.proj", "fc")
    qkv, scores, context, proj, fc = w.layers
    assert qkv == Linear("attn.qkv", 32, 96, tokens=32)
    assert scores == MatMul("attn.scores", m=16, n=16, k=8, heads=4, batch=2)
    assert context == MatMul("attn.context", m=16, n=8, k=16, heads=4, batch=2)
    assert proj == Linear("attn.proj", 32, 32, tokens=32)
    assert fc.gemms()[0].m == 32
    # qkv feeds both products; the residual add takes the input (no layer) and proj
    assert set(w.edges or ()) == {(0, 1), (0, 2), (1, 2), (2, 3), (3, 4)}


def test_matmul_with_a_parameter_is_a_linear() -> None:
    class Proj(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(24, 16))
            self.u = nn.Parameter(torch.randn(8, 16))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.linear(x, self.u)            # 16 -> 8, weight given as (out, in)
            z = x @ self.w.t()                 # 16 -> 24 through a transposed parameter
            both = torch.cat([y, z], -1)
            return both @ both.transpose(-2, -1)

    w = from_torch(Proj(), torch.randn(3, 5, 16))
    assert w.layers[0] == Linear("linear", 16, 8, tokens=15)
    assert w.layers[1] == Linear("matmul", 16, 24, tokens=15)
    assert w.layers[2] == MatMul("matmul_1", m=5, n=5, k=32, batch=3)
    assert set(w.edges or ()) == {(0, 2), (1, 2)}


def test_sdpa_and_multihead_attention() -> None:
    class Attn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = nn.MultiheadAttention(32, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y, _ = self.mha(x, x, x)
            q = y.view(2, 10, 4, 8).transpose(1, 2)
            return F.scaled_dot_product_attention(q, q, q)

    w = from_torch(Attn(), torch.randn(2, 10, 32))
    assert w.layer_names == ("mha.q_proj", "mha.k_proj", "mha.v_proj", "mha.scores",
                             "mha.context", "mha.out_proj", "scaled_dot_product_attention.scores",
                             "scaled_dot_product_attention.context")
    assert w.layers[0] == Linear("mha.q_proj", 32, 32, tokens=20)
    assert w.layers[3] == MatMul("mha.scores", m=10, n=10, k=8, heads=4, batch=2)
    assert w.layers[4] == MatMul("mha.context", m=10, n=8, k=10, heads=4, batch=2)
    assert w.layers[6] == MatMul("scaled_dot_product_attention.scores", 10, 10, 8, 4, 2)
    assert set(w.edges or ()) == {(0, 3), (1, 3), (3, 4), (2, 4), (4, 5), (5, 6), (5, 7), (6, 7)}


def test_module_called_twice_gets_distinct_names() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.relu(self.fc(x)))

    w = from_torch(Twice(), torch.randn(1, 8))
    assert w.layer_names == ("fc", "fc:1")
    assert w.edges == ((0, 1),)


# -- LSTM --------------------------------------------------------------------------------------


class Recurrent(nn.Module):
    def __init__(self, layers: int, batch_first: bool, bidirectional: bool = False) -> None:
        super().__init__()
        self.lstm = nn.LSTM(20, 32, num_layers=layers, batch_first=batch_first,
                            bidirectional=bidirectional)
        self.head = nn.Linear(32 * (2 if bidirectional else 1), 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1] if self.lstm.batch_first else out[-1])


def test_lstm_one_layer_batch_first() -> None:
    w = from_torch(Recurrent(1, batch_first=True), torch.randn(3, 7, 20))
    assert w.layers[0] == LstmCell("lstm.l0", 20, 32, steps=7, batch=3)
    assert w.layers[0].gemms() == (Gemm(3, 128, 52, 7, independent=False),)
    assert w.layers[1] == Linear("head", 32, 5, tokens=3)
    assert w.edges == ((0, 1),)


def test_lstm_two_layers_sequence_first() -> None:
    w = from_torch(Recurrent(2, batch_first=False), torch.randn(9, 4, 20))
    assert w.layers[:2] == (LstmCell("lstm.l0", 20, 32, steps=9, batch=4),
                            LstmCell("lstm.l1", 32, 32, steps=9, batch=4))
    assert w.edges == ((0, 1), (1, 2))


def test_lstm_bidirectional_counts_both_directions() -> None:
    w = from_torch(Recurrent(2, batch_first=True, bidirectional=True), torch.randn(1, 6, 20))
    assert w.layer_names == ("lstm.l0", "lstm.l0_reverse", "lstm.l1", "lstm.l1_reverse", "head")
    assert [layer.input_size for layer in w.layers[:4]] == [20, 20, 64, 64]  # type: ignore[attr-defined]
    assert set(w.edges or ()) == {(0, 2), (0, 3), (1, 2), (1, 3), (2, 4), (3, 4)}
    assert w.layers[4] == Linear("head", 64, 5)


@pytest.mark.filterwarnings("ignore::UserWarning")  # oneDNN has no projected LSTM
def test_lstm_with_projection_is_unsupported() -> None:
    class Proj(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(8, 16, proj_size=4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lstm(x)[0]

    with pytest.raises(UnsupportedOpError, match="proj_size=4"):
        from_torch(Proj(), torch.randn(5, 1, 8))


# -- unsupported ops, errors -------------------------------------------------------------------


class Spectral(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.fft(self.fc(x)).real


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.spectral = Spectral()
        self.conv1d = nn.Conv1d(16, 16, 3)
        self.out = nn.Linear(16, 4)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.spectral(self.embed(tokens))
        x = self.conv1d(x.transpose(1, 2)).transpose(1, 2)
        return self.out(x)


def test_unsupported_op_reported_by_name_and_location() -> None:
    with pytest.raises(UnsupportedOpError) as info:
        from_torch(Spectral(), torch.randn(2, 16))
    ((op, where),) = info.value.ops
    assert op == "torch.fft.fft"
    assert "node 'fft_fft'" in where
    assert "test_torch_frontend.py" in where and "torch.fft.fft(self.fc(x))" in where
    assert "torch.fft.fft" in str(info.value) and "skip_unsupported=True" in str(info.value)


def test_every_unsupported_op_is_listed() -> None:
    with pytest.raises(UnsupportedOpError) as info:
        from_torch(Mixed(), torch.randint(0, 100, (2, 12)))
    ops = info.value.ops
    assert [op for op, _ in ops] == ["torch.nn.Embedding", "torch.fft.fft", "torch.nn.Conv1d"]
    assert "module 'embed'" in ops[0][1]
    assert "in module 'spectral'" in ops[1][1]
    assert "module 'conv1d'" in ops[2][1]


def test_skip_unsupported_lists_the_skipped_ops(caplog: pytest.LogCaptureFixture) -> None:
    model, tokens = Mixed(), torch.randint(0, 100, (2, 12))
    result = trace(model, tokens, skip_unsupported=True)
    assert isinstance(result, TraceResult)
    assert [op for op, _ in result.skipped] == ["torch.nn.Embedding", "torch.fft.fft",
                                                "torch.nn.Conv1d"]
    w = result.workload
    assert w.layer_names == ("spectral.fc", "out")
    assert w.layers[0] == Linear("spectral.fc", 16, 16, tokens=24)
    assert w.layers[1] == Linear("out", 16, 4, tokens=20)
    assert w.edges == ((0, 1),)  # data still flows through the skipped ops
    with caplog.at_level(logging.WARNING, logger="hwsim.ir.torch_frontend"):
        assert from_torch(model, tokens, name="mixed", skip_unsupported=True).name == "mixed"
    assert "skipped 3 unsupported op(s)" in caplog.text and "torch.nn.Conv1d" in caplog.text


def test_model_without_gemm_is_an_error() -> None:
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    with pytest.raises(WorkloadError, match="has no GEMM layer"):
        from_torch(model, torch.randn(1, 3, 8, 8))


def test_only_unsupported_ops_skipped_is_still_an_error() -> None:
    class OnlyFft(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.fft.fft(x)

    with pytest.raises(WorkloadError, match="has no GEMM layer"):
        from_torch(OnlyFft(), torch.randn(4), skip_unsupported=True)


def test_untraceable_model_is_a_clear_error() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:
                return self.fc(x)
            return x

    with pytest.raises(WorkloadError, match=r"torch\.fx could not trace it") as info:
        from_torch(Branchy(), torch.randn(1, 4))
    assert "control flow" in str(info.value)
    assert "test_torch_frontend.py" in str(info.value) and "if x.sum() > 0" in str(info.value)


def test_wrong_example_input_is_a_clear_error() -> None:
    with pytest.raises(WorkloadError, match="running the traced model on it failed at node"):
        from_torch(nn.Sequential(nn.Linear(8, 4)), torch.randn(2, 5))


def test_not_a_module_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        from_torch(lambda x: x, torch.randn(1))  # type: ignore[arg-type]


def test_multiple_inputs_as_a_tuple() -> None:
    class Cross(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return a @ b

    (layer,) = from_torch(Cross(), (torch.randn(3, 4), torch.randn(4, 5))).layers
    assert layer == MatMul("matmul", m=3, n=5, k=4)


# -- layering ----------------------------------------------------------------------------------


def test_importing_hwsim_ir_does_not_import_torch() -> None:
    code = ("import hwsim, hwsim.ir, sys; assert 'torch' not in sys.modules; "
            "f = hwsim.ir.from_torch; assert f.__module__ == 'hwsim.ir.torch_frontend'; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lazy_attributes_of_hwsim_ir() -> None:
    import hwsim.ir

    assert hwsim.ir.from_torch is from_torch
    assert hwsim.ir.trace is trace
    with pytest.raises(AttributeError, match="no_such_thing"):
        hwsim.ir.no_such_thing  # noqa: B018
