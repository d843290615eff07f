"""Torch front end on patterns of third-party models (timm, torchvision), written here in plain
torch: tracing leaves the module as it was, shape-only helpers, einsum, transformer encoders,
leaf top modules and functions hidden from fx with ``torch.fx.wrap``.

Every MAC figure is counted by hand from the layer sizes, not read back from the front end.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from hwsim.errors import UnsupportedOpError  # noqa: E402
from hwsim.ir import Linear, LstmCell, MatMul  # noqa: E402
from hwsim.ir.torch_calls import einsum_gemm  # noqa: E402
from hwsim.ir.torch_frontend import from_torch  # noqa: E402


def stochastic_depth(x: torch.Tensor, p: float, mode: str, training: bool = True) -> torch.Tensor:
    """torchvision.ops.stochastic_depth: identity in eval mode, hidden from fx."""
    if not training or p == 0.0:
        return x
    size = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
    noise = torch.empty(size, dtype=x.dtype).bernoulli_(1.0 - p)
    return x * noise.div_(1.0 - p)


def window_attention(x: torch.Tensor, qkv_weight: torch.Tensor, qkv_bias: torch.Tensor,
                     proj_weight: torch.Tensor, proj_bias: torch.Tensor, window: int,
                     heads: int) -> torch.Tensor:
    """Swin's shifted-window attention, reduced: windows, attention in each window, merge."""
    b, h, w, c = x.shape
    x = torch.roll(x, shifts=(-window // 2, -window // 2), dims=(1, 2))
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    x = x.reshape(b * (h // window) * (w // window), window * window, c)
    qkv = F.linear(x, qkv_weight, qkv_bias)
    qkv = qkv.reshape(x.size(0), x.size(1), 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    attn = q.matmul(k.transpose(-2, -1) * (c // heads) ** -0.5).softmax(dim=-1)
    x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), c)
    x = F.linear(x, proj_weight, proj_bias)
    x = x.view(b, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return torch.roll(x.reshape(b, h, w, c), shifts=(window // 2, window // 2), dims=(1, 2))


def conv_then_sdpa(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    y = F.conv2d(x, weight, padding=1)                      # (b, c, h, w)
    t = y.flatten(2).transpose(1, 2).unflatten(-1, (2, -1)).transpose(1, 2)  # (b, 2, hw, c/2)
    t = t.contiguous()  # CPU runs a fused kernel on it (a strided one goes through bmm)
    return F.scaled_dot_product_attention(t, t, t)


def transposed_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return F.conv_transpose2d(x, weight)


torch.fx.wrap("stochastic_depth")
torch.fx.wrap("window_attention")
torch.fx.wrap("conv_then_sdpa")
torch.fx.wrap("transposed_conv")


def macs(workload: object) -> int:
    return sum(layer.macs for layer in workload.layers)  # type: ignore[attr-defined]


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- 1. tracing leaves the module unchanged -----------------------------------------------------


class CachedBiasAttention(nn.Module):
    """timm LeViT's attention: in eval mode ``forward`` caches the gathered bias per device."""

    def __init__(self, dim: int = 16, heads: int = 2, tokens: int = 8) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attention_biases = nn.Parameter(torch.randn(heads, tokens))
        idx = torch.arange(tokens).view(1, -1) - torch.arange(tokens).view(-1, 1)
        self.register_buffer("attention_bias_idxs", idx.abs(), persistent=False)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.attention_bias_cache: dict[str, torch.Tensor] = {}

    def get_attention_biases(self, device: torch.device) -> torch.Tensor:
        if torch.jit.is_tracing() or self.training:
            return self.attention_biases[:, self.attention_bias_idxs]
        key = str(device)
        if key not in self.attention_bias_cache:
            self.attention_bias_cache[key] = self.attention_biases[:, self.attention_bias_idxs]
        return self.attention_bias_cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        self.calls.add_(1)  # a buffer updated in place
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        attn = q @ k.transpose(-2, -1) + self.get_attention_biases(x.device)
        return (attn.softmax(-1) @ v).transpose(1, 2).reshape(b, t, c)


@pytest.mark.parametrize("train", [False, True])
def test_tracing_twice_gives_the_same_workload_and_leaves_the_module_alone(train: bool) -> None:
    model = CachedBiasAttention().train(train)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(1, 8, 16)
    first = from_torch(model, x)
    second = from_torch(model, x)
    assert first == second
    # qkv 8 tokens x 16 -> 48; scores and context 2 heads x 8 x 8 x 8
    assert macs(first) == 8 * 16 * 48 + 2 * (2 * 8 * 8 * 8) == 8192
    assert same_state(state, model.state_dict())
    assert model.attention_bias_cache == {}
    assert model.training is train and all(m.training is train for m in model.modules())
    assert all(isinstance(p, nn.Parameter) for p in model.parameters())


def test_cache_filled_by_a_real_call_is_kept() -> None:
    model = CachedBiasAttention().eval()
    x = torch.randn(1, 8, 16)
    with torch.no_grad():
        model(x)
    cached = model.attention_bias_cache["cpu"]
    assert from_torch(model, x) == from_torch(model, x)
    assert list(model.attention_bias_cache) == ["cpu"]
    assert model.attention_bias_cache["cpu"] is cached


def test_batchnorm_statistics_and_modes_are_untouched() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 2)).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    first = from_torch(model, torch.randn(2, 3, 8, 8))
    assert first == from_torch(model, torch.randn(2, 3, 8, 8))
    assert same_state(state, model.state_dict()) and model.training
    # conv 36 pixels x 2 x (3*9) x 4, linear 2 x 144 x 2
    assert macs(first) == 36 * 2 * 27 * 4 + 2 * 144 * 2


# -- 2. shape-only helpers ----------------------------------------------------------------------


class ShapeHelpers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(12, 24)
        self.fc2 = nn.Linear(24, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:       # (2, 5, 12)
        torch._assert(x.shape[-1] == 12, "wrong width")
        y = stochastic_depth(self.fc1(x), 0.2, "row", self.training)  # (2, 5, 24)
        y = y.swapaxes(1, 2).swapdims(0, 1)                    # (24, 2, 5)
        y = torch.moveaxis(torch.movedim(y, 0, 2), 1, 0)       # (2, 5, 24) -> (5, 2, 24)
        y = torch.swapaxes(torch.swapdims(y.movedim(0, 1).moveaxis(1, 0), 0, 1), 0, 1)
        return self.fc2(y)                                     # (5, 2, 24) -> (5, 2, 7)


def test_assert_swapaxes_movedim_and_stochastic_depth_are_edges() -> None:
    w = from_torch(ShapeHelpers().eval(), torch.randn(2, 5, 12))
    assert w.layers == (Linear("fc1", 12, 24, tokens=10), Linear("fc2", 24, 7, tokens=10))
    assert w.edges == ((0, 1),)
    assert macs(w) == 10 * 12 * 24 + 10 * 24 * 7
    # traced in training mode, stochastic depth runs its random mask: still no layer
    assert from_torch(ShapeHelpers().train(), torch.randn(2, 5, 12)).layers == w.layers


# -- 3. einsum ----------------------------------------------------------------------------------


class Einsum(nn.Module):
    def __init__(self, equation: str) -> None:
        super().__init__()
        self.equation = equation

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.einsum(self.equation, a, b)


@pytest.mark.parametrize(("equation", "a", "b", "layer"), [
    ("bhid,bhjd->bhij", (2, 4, 10, 8), (2, 4, 12, 8), MatMul("einsum", 10, 12, 8, 4, 2)),
    ("bhij,bhjd->bhid", (2, 4, 10, 12), (2, 4, 12, 8), MatMul("einsum", 10, 8, 12, 4, 2)),
    ("bij,bjk->bik", (3, 5, 6), (3, 6, 7), MatMul("einsum", 5, 7, 6, 1, 3)),
    ("...ij,...jk->...ik", (2, 3, 5, 6), (2, 3, 6, 7), MatMul("einsum", 5, 7, 6, 3, 2)),
    ("...ij,jk", (3, 5, 6), (6, 7), MatMul("einsum", 15, 7, 6)),  # implicit output
    ("b i d, b j d -> b i j", (2, 9, 4), (2, 3, 4), MatMul("einsum", 9, 3, 4, 1, 2)),
])
def test_gemm_shaped_einsum_is_a_matmul(equation: str, a: tuple[int, ...], b: tuple[int, ...],
                                        layer: MatMul) -> None:
    w = from_torch(Einsum(equation), (torch.randn(a), torch.randn(b)))
    assert w.layers == (layer,)
    # MACs of an einsum: the product of every index's size, each index counted once
    sizes: dict[str, int] = {}
    lhs = equation.replace(" ", "").split("->")[0].replace("...", "")
    for term, shape in zip(lhs.split(","), (a, b), strict=True):
        for c, d in zip(term, shape[len(shape) - len(term):], strict=True):
            sizes[c] = d
    leading = a[:len(a) - len(lhs.split(",")[0])]
    assert macs(w) == math.prod(sizes.values()) * math.prod(leading)


def test_einsum_with_a_parameter_is_a_linear() -> None:
    class Proj(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(16, 24))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.einsum("bld,de->ble", x, self.w)

    assert from_torch(Proj(), torch.randn(2, 5, 16)).layers == (Linear("einsum", 16, 24, 10),)


@pytest.mark.parametrize(("equation", "shapes", "reason"), [
    ("ij,ij->ij", ((3, 4), (3, 4)), "contracts no index"),
    ("ij,jk->i", ((3, 4), (4, 5)), "one operand alone"),
    ("ii,ij->ij", ((3, 3), (3, 4)), "repeats an index"),
    ("ij,jk,kl->il", ((3, 4), (4, 5), (5, 6)), "has 3 operand"),
])
def test_other_einsums_are_unsupported_with_the_equation(
        equation: str, shapes: tuple[tuple[int, ...], ...], reason: str) -> None:
    tensors = tuple(torch.randn(s) for s in shapes)
    model = Einsum(equation) if len(shapes) == 2 else _Three(equation)
    with pytest.raises(UnsupportedOpError) as info:
        from_torch(model, tensors)
    ((op, where),) = info.value.ops
    assert op.startswith(f"torch.einsum({equation!r})") and reason in op
    assert "node 'einsum'" in where and "test_torch_thirdparty.py" in where


class _Three(nn.Module):
    def __init__(self, equation: str) -> None:
        super().__init__()
        self.equation = equation

    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.einsum(self.equation, a, b, c)


def test_einsum_gemm_splits_indices() -> None:
    g = einsum_gemm("bhid,bhjd->bhij", (2, 4, 10, 8), (2, 4, 12, 8))
    assert (g.batch, g.m, g.n, g.k) == ((2, 4), 10, 12, 8)
    # a leading dim of one operand only is a free index of it: 9 stacked B's are 63 columns
    g = einsum_gemm("...ij,...jk->...ik", (5, 6), (9, 6, 7))
    assert (g.batch, g.m, g.n, g.k) == ((), 5, 9 * 7, 6)
    g = einsum_gemm("...ij,...jk->...ik", (1, 5, 6), (9, 6, 7))  # broadcast size-1 dim
    assert (g.batch, g.m, g.n, g.k) == ((9,), 5, 7, 6)


# -- 4. transformer encoder, leaf top modules ---------------------------------------------------


def encoder_macs(d: int, heads: int, ff: int, seq: int, batch: int, layers: int) -> int:
    tokens = seq * batch
    projections = 4 * tokens * d * d            # q, k, v, out
    attention = 2 * batch * heads * seq * seq * (d // heads)   # scores and context
    feed_forward = 2 * tokens * d * ff
    return layers * (projections + attention + feed_forward)


def test_transformer_encoder_inside_a_model() -> None:
    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(32, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.encoder(x).mean(1))

    w = from_torch(Classifier().eval(), torch.randn(2, 10, 32))
    assert macs(w) == encoder_macs(32, 4, 64, 10, 2, 2) + 2 * 32 * 3
    assert encoder_macs(32, 4, 64, 10, 2, 2) == 2 * (81920 + 12800 + 81920)
    names = w.layer_names
    assert names[:8] == tuple(f"encoder.layers.0.{n}" for n in (
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.scores",
        "self_attn.context", "self_attn.out_proj", "linear1", "linear2"))
    assert names[-1] == "head" and len(names) == 17
    assert w.layers[3] == MatMul("encoder.layers.0.self_attn.scores", 10, 10, 8, 4, 2)
    assert w.layers[6] == Linear("encoder.layers.0.linear1", 32, 64, tokens=20)
    edges = set(w.edges or ())
    assert {(6, 7), (7, 8), (5, 8), (15, 16)} <= edges  # layer 0 feeds layer 1, layer 1 the head


def test_bare_transformer_encoder_layer_sequence_first() -> None:
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=48).eval()
    w = from_torch(layer, torch.randn(7, 3, 16))  # (seq, batch, d_model)
    assert macs(w) == encoder_macs(16, 2, 48, 7, 3, 1)
    assert w.layer_names[0] == "self_attn.q_proj" and w.layer_names[-1] == "linear2"


def test_bare_transformer_encoder_as_top_module() -> None:
    layer = nn.TransformerEncoderLayer(24, 3, dim_feedforward=40, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False).eval()
    w = from_torch(encoder, torch.randn(4, 6, 24))
    assert macs(w) == encoder_macs(24, 3, 40, 6, 4, 3)
    assert w.layer_names[0] == "layers.0.self_attn.q_proj"
    assert w.layer_names[-1] == "layers.2.linear2"


def test_bare_lstm_and_linear_as_top_module() -> None:
    w = from_torch(nn.LSTM(20, 32, num_layers=2), torch.randn(9, 4, 20))
    assert w.layers == (LstmCell("l0", 20, 32, steps=9, batch=4),
                        LstmCell("l1", 32, 32, steps=9, batch=4))
    assert w.edges == ((0, 1),)
    # per step and sample: [x; h] (20+32, then 32+32) onto 4 gates of 32
    assert macs(w) == 9 * 4 * ((20 + 32) + (32 + 32)) * 4 * 32
    (layer,) = from_torch(nn.Linear(8, 4), torch.randn(3, 8)).layers
    assert layer == Linear("Linear", 8, 4, tokens=3)


def test_bare_multihead_attention_as_top_module() -> None:
    mha = nn.MultiheadAttention(32, 4, batch_first=True)
    x = torch.randn(2, 10, 32)
    w = from_torch(mha, (x, x, x))
    assert w.layer_names == ("q_proj", "k_proj", "v_proj", "scores", "context", "out_proj")
    assert macs(w) == 4 * 20 * 32 * 32 + 2 * 2 * 4 * 10 * 10 * 8


# -- 5. functions hidden with torch.fx.wrap -----------------------------------------------------


class SwinBlock(nn.Module):
    def __init__(self, dim: int = 32, heads: int = 4, window: int = 4) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Linear(dim, 2 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = window_attention(self.norm(x), self.qkv.weight, self.qkv.bias, self.proj.weight,
                             self.proj.bias, self.window, self.heads)
        x = x + stochastic_depth(y, 0.1, "row", self.training)
        return self.mlp(x)


def test_wrapped_window_attention_keeps_its_gemms() -> None:
    b, h, w_, c, heads, window = 2, 8, 8, 32, 4, 4
    model = SwinBlock(c, heads, window).eval()
    w = from_torch(model, torch.randn(b, h, w_, c))
    tokens, n = b * h * w_, window * window                 # 128 tokens, 16 per window
    windows = tokens // n
    hand = (tokens * c * 3 * c                               # qkv
            + 2 * windows * heads * n * n * (c // heads)     # scores and context
            + tokens * c * c                                 # proj
            + tokens * c * 2 * c)                            # mlp
    assert hand == 393216 + 2 * 65536 + 131072 + 262144
    assert macs(w) == hand
    base = "window_attention"
    assert w.layers == (
        Linear(f"{base}.linear", c, 3 * c, tokens),
        MatMul(f"{base}.scores", n, n, c // heads, batch=windows * heads),
        MatMul(f"{base}.context", n, c // heads, n, batch=windows * heads),
        Linear(f"{base}.linear_1", c, c, tokens),
        Linear("mlp", c, 2 * c, tokens),
    )
    assert w.edges == ((0, 1), (1, 2), (2, 3), (3, 4))
    assert from_torch(model, torch.randn(b, h, w_, c)) == w  # traced twice: same


def test_wrapped_conv_and_sdpa() -> None:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(8, 3, 3, 3))
            self.head = nn.Linear(4, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(conv_then_sdpa(x, self.weight))

    w = from_torch(M(), torch.randn(2, 3, 6, 6))
    conv = 2 * 36 * (3 * 9) * 8                 # pixels x (c_in k k) x c_out
    attention = 2 * 2 * 2 * 36 * 36 * 4         # scores + context, 2 heads of 4
    assert macs(w) == conv + attention + 2 * 2 * 36 * 4 * 5
    assert w.layer_names[:3] == ("conv_then_sdpa.conv2d", "conv_then_sdpa.sdpa.scores",
                                 "conv_then_sdpa.sdpa.context")


def test_wrapped_function_with_an_op_not_modelled_is_reported() -> None:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(3, 4, 2, 2))
            self.fc = nn.Linear(7, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(transposed_conv(x, self.weight))

    with pytest.raises(UnsupportedOpError, match="transposed") as info:
        from_torch(M(), torch.randn(1, 3, 6, 6))
    ((op, where),) = info.value.ops
    assert "transposed_conv" in op and "node 'transposed_conv'" in where
    w = from_torch(M(), torch.randn(1, 3, 6, 6), skip_unsupported=True)
    assert w.layers == (Linear("fc", 7, 2, tokens=4 * 7),)


def test_unsupported_leaf_top_module_is_located() -> None:
    with pytest.raises(UnsupportedOpError) as info:
        from_torch(nn.Conv1d(3, 4, 3), torch.randn(1, 3, 8))
    assert info.value.ops == [("torch.nn.Conv1d", "the top module (called as a whole)")]


def test_module_that_cannot_be_copied_is_still_traced() -> None:
    import threading

    class Locked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lock = threading.Lock()  # deepcopy fails on it
            self.fc = nn.Linear(6, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    model = Locked()
    assert from_torch(model, torch.randn(5, 6)).layers == (Linear("fc", 6, 4, tokens=5),)


def test_a_traced_deit_takes_the_zoo_deit_s_design(tmp_path):
    """A timm-style DeiT-S (patch embedding, 12 blocks of qkv / q@k^T / attn@v / proj and an
    MLP, a head) traces to the zoo's layer names and GEMMs, so a design file written for
    ``deit-s`` applies to it."""
    import cost_models as cm
    from hwsim.ir import zoo

    class Attention(nn.Module):
        def __init__(self, dim: int, heads: int) -> None:
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, t, c = x.shape
            qkv = self.qkv(x).reshape(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            attn = (q @ k.transpose(-2, -1) * (c // self.heads) ** -0.5).softmax(dim=-1)
            return self.proj((attn @ v).transpose(1, 2).reshape(b, t, c))

    class Mlp(nn.Module):
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(nn.functional.gelu(self.fc1(x)))

    class Block(nn.Module):
        def __init__(self, dim: int, heads: int) -> None:
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.attn, self.mlp = Attention(dim, heads), Mlp(dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class PatchEmbed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Conv2d(3, 384, 16, stride=16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(x).flatten(2).transpose(1, 2)

    class DeiT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch_embed = PatchEmbed()
            self.cls_token = nn.Parameter(torch.zeros(1, 1, 384))
            self.blocks = nn.Sequential(*(Block(384, 6) for _ in range(12)))
            self.norm = nn.LayerNorm(384)
            self.head = nn.Linear(384, 1000)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.patch_embed(x)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
            return self.head(self.norm(self.blocks(x))[:, 0])

    traced = from_torch(DeiT().eval(), torch.randn(1, 3, 224, 224), name="deit-s")
    zoo_deit = zoo.get("deit-s")
    assert traced.layer_names == zoo_deit.layer_names
    assert traced.macs == zoo_deit.macs
    path = tmp_path / "d.toml"
    cm.uniform_design(zoo_deit, 6, 6).save(path)
    design = cm.load_design(path, traced)
    assert cm.evaluate(traced, "n3h-zcu102", design).latency_ms == pytest.approx(
        cm.evaluate(zoo_deit, "n3h-zcu102", design).latency_ms)
