"""The model zoo: exact lowerings, published MAC and parameter figures, graphs, the registry."""

from __future__ import annotations

import networkx as nx
import pytest

from hwsim.errors import UnknownNameError, WorkloadError
from hwsim.ir import Conv2d, HTLinear, Linear, MatMul, MoEExperts, TTLinear, Workload, zoo

LLMS = ("mixtral-8x7b", "qwen1.5-moe-a2.7b", "deepseek-v2-lite")


def _layer(workload: Workload, name: str):
    return workload.layers[workload.index(name)]


def _convs(workload: Workload) -> list[Conv2d]:
    return [layer for layer in workload.layers if isinstance(layer, Conv2d)]


def _every_build() -> list[tuple[str, dict[str, object]]]:
    builds: list[tuple[str, dict[str, object]]] = []
    for name in zoo.names():
        builds.append((name, {}))
        if name in ("lstm-ucf", "lstm-youtube"):
            builds += [(name, {"variant": v, "steps": 3}) for v in ("tt", "ht")]
        if name in LLMS:
            builds += [(name, {"layers": "all"}), (name, {"layers": 2, "tokens": 8}),
                       (name, {"tokens": 4, "context": 64})]
    return builds


# --- ResNet-18: N3H-Core's 21 GEMMs ------------------------------------------------------------

# REFERENCE.md section 1 (N3H-Core, FPGA'22): ResNet-18 / ImageNet GEMMs in execution order.
RESNET18_M = [12544] + [3136] * 4 + [784] * 5 + [196] * 5 + [49] * 5 + [1]
RESNET18_K = [147, 576, 576, 576, 576, 576, 1152, 64, 1152, 1152, 1152, 2304, 128, 2304, 2304,
              2304, 4608, 256, 4608, 4608, 512]
RESNET18_N = [64] * 5 + [128] * 5 + [256] * 5 + [512] * 5 + [1000]


def test_resnet18_lowers_to_the_21_n3h_gemms_in_order():
    arrays = zoo.get("resnet18").to_arrays()
    assert len(arrays) == 21
    assert arrays.m.tolist() == RESNET18_M
    assert arrays.k.tolist() == RESNET18_K
    assert arrays.n.tolist() == RESNET18_N
    assert arrays.count.tolist() == [1] * 21


def test_resnet18_shortcut_edges():
    w = zoo.get("resnet18")
    edges = {(w.layers[a].name, w.layers[b].name) for a, b in w.edges or ()}
    # identity shortcut: the block input (conv1, after the max-pool) reaches the next block
    assert ("conv1", "layer1.1.conv1") in edges
    # projection shortcut: the 1x1 downsample conv is a layer of its own, fed by the block input
    assert ("layer1.1.conv2", "layer2.0.downsample.0") in edges
    assert ("layer2.0.downsample.0", "layer2.1.conv1") in edges
    # behind an identity block the consumer still depends on the earlier branch (x + f1 + f2)
    assert ("layer2.0.downsample.0", "layer3.0.conv1") in edges
    fc_inputs = {a for a, b in edges if b == "fc"}
    assert fc_inputs == {"layer4.1.conv2", "layer4.0.conv2", "layer4.0.downsample.0"}


# --- Published MACs ----------------------------------------------------------------------------

# (entry, params, published MACs, relative tolerance, where the figure is published)
PUBLISHED_MACS = [
    ("resnet18", {}, 1.81e9, 0.01, "torchvision model docs, resnet18: 1.81 GFLOPS (MACs)"),
    ("resnet50", {}, 4.09e9, 0.01, "torchvision model docs, resnet50: 4.09 GFLOPS (MACs)"),
    ("mobilenetv2", {}, 300e6, 0.01, "Sandler et al. CVPR'18 Table 4: 300 M multiply-adds"),
    # He et al. give no FLOPs for ResNet-20; 41 M (40.55 M with option-A shortcuts) is the figure
    # the CIFAR pruning literature quotes; option B adds 2 x 0.13 M for the two 1x1 convs.
    ("resnet20", {}, 41e6, 0.02, "He et al. CVPR'16 sec. 4.2 net, 41 M MACs as usually quoted"),
    ("vgg16", {}, 313e6, 0.01, "Li et al. ICLR'17 Table 1, VGG-16 CIFAR-10: 3.13e8 FLOPs"),
    ("deit-s", {}, 4.6e9, 0.01, "Touvron et al. ICML'21 / Liu et al. (Swin) ICCV'21 Table 1"),
    ("deit-b", {}, 17.6e9, 0.01, "Touvron et al. ICML'21: 17.6 G (Swin Table 1 lists 17.5 G)"),
]


@pytest.mark.parametrize(("name", "params", "macs", "rtol", "citation"), PUBLISHED_MACS,
                         ids=[row[0] for row in PUBLISHED_MACS])
def test_macs_match_published_figures(name, params, macs, rtol, citation):
    assert zoo.get(name, **params).macs == pytest.approx(macs, rel=rtol), citation


def test_resnet20_option_a_count_is_the_classic_40_55m():
    w = zoo.get("resnet20")
    shortcuts = sum(layer.macs for layer in w.layers if "downsample" in layer.name)
    assert shortcuts == 16 * 16 * 16 * 32 + 8 * 8 * 32 * 64
    assert w.macs - shortcuts == 40_551_040


# --- Published parameter counts ----------------------------------------------------------------

# torchvision's num_params (model docs / weight metadata). Every conv there is followed by a
# BatchNorm (weight + bias = 2 * out_channels parameters) and the classifier has a bias; the zoo
# counts GEMM weights only, so the totals must reconcile exactly.
TORCHVISION_PARAMS = [("resnet18", 11_689_512), ("resnet50", 25_557_032),
                      ("mobilenetv2", 3_504_872)]


@pytest.mark.parametrize(("name", "total"), TORCHVISION_PARAMS)
def test_cnn_weights_reconcile_exactly_with_torchvision(name, total):
    w = zoo.get(name)
    batchnorm = sum(2 * conv.out_channels for conv in _convs(w))
    assert w.weight_params + batchnorm + 1000 == total


def test_resnet18_weights_without_bn_and_bias():
    assert zoo.get("resnet18").weight_params == 11_678_912  # ~11.68 M


def test_cifar_cnn_parameters():
    # He et al. CVPR'16 Table 6: ResNet-20 0.27 M (option A); option B adds 512 + 2048 weights.
    assert zoo.get("resnet20").weight_params == 268_336 + 2_560
    assert zoo.get("resnet20").weight_params == pytest.approx(0.27e6, rel=0.01)
    # Li et al. ICLR'17 Table 1: VGG-16 CIFAR-10 1.5e7 (with an extra 512x512 fc: 0.26 M)
    assert zoo.get("vgg16").weight_params == pytest.approx(15.0e6, rel=0.03)


@pytest.mark.parametrize(("name", "embed", "total"),
                         [("deit-s", 384, 22_050_664), ("deit-b", 768, 86_567_656)])
def test_deit_weights_reconcile_exactly_with_timm(name, embed, total):
    """timm deit_{small,base}_patch16_224 (= torchvision vit_b_16 for B): 22 M / 86 M.

    Beyond the GEMM weights: per block the qkv, proj, fc1, fc2 biases (9E) and two LayerNorms
    (4E); the patch-embedding bias, class token, 197 position embeddings, final LayerNorm (2E);
    the head bias (1000).
    """
    extra = 12 * 13 * embed + embed + embed + 197 * embed + 2 * embed + 1000
    assert zoo.get(name).weight_params + extra == total


def test_mixtral_whole_stack_reconciles_with_46_7b():
    """Mixtral-8x7B: 46,702,792,704 parameters (Hugging Face safetensors total; 46.7 B in Jiang
    et al. 2024). Beyond the GEMM weights: the 32000 x 4096 embedding table and the RMSNorm
    weights (two per layer and a final one)."""
    w = zoo.get("mixtral-8x7b", layers="all")
    embedding, norms = 32000 * 4096, (2 * 32 + 1) * 4096
    assert w.weight_params + embedding + norms == 46_702_792_704


@pytest.mark.parametrize(("name", "vocab", "total", "active"), [
    # Qwen blog / model card: 14.3 B total, 2.7 B activated (incl. embeddings)
    ("qwen1.5-moe-a2.7b", 151936, 14.3e9, 2.7e9),
    # DeepSeek-V2 paper (Lite): 15.7 B total, 2.4 B activated (our count: LM head, no embedding)
    ("deepseek-v2-lite", 102400, 15.7e9, 2.4e9),
    # Jiang et al. 2024 / Mistral: 46.7 B total, 12.9 B active (incl. embeddings)
    ("mixtral-8x7b", 32000, 46.7e9, 12.9e9),
])
def test_moe_totals_and_active_parameters(name, vocab, total, active):
    w = zoo.get(name, layers="all")
    embedding = vocab * _layer(w, "lm_head").in_features
    assert w.weight_params + embedding == pytest.approx(total, rel=0.005)
    # One decode token with a one-position context: every active weight is used once.
    active_macs = w.macs + (0 if name == "deepseek-v2-lite" else embedding)
    assert active_macs == pytest.approx(active, rel=0.025)


# --- LSTMs (REFERENCE.md section 4) ------------------------------------------------------------


@pytest.mark.parametrize(("name", "tt_params", "tt_macs"),
                         [("lstm-ucf", 3_360, 1_937_408), ("lstm-youtube", 3_392, 1_429_504)])
def test_tt_lstm_parameters_and_macs_per_step(name, tt_params, tt_macs):
    w = zoo.get(name, variant="tt")
    tt = _layer(w, "lstm.w_ih")
    assert isinstance(tt, TTLinear)
    assert tt.in_features == 57_600 and tt.out_features == 1_024
    assert tt.weight_params == tt_params
    assert tt.macs == tt_macs  # TIE (ISCA'19): 1.94 M (UCF) / 1.43 M (Youtube) per step
    classes = _layer(w, "classifier").out_features
    assert w.macs == tt_macs + 256 * 1024 + 256 * classes


def test_ht_lstm_ucf_macs_per_step():
    ht = _layer(zoo.get("lstm-ucf", variant="ht"), "lstm.w_ih")
    assert isinstance(ht, HTLinear) and ht.rank == 4
    assert [g.macs for g in ht.gemms()] == [921_600, 737_280, 163_840, 32_768]  # 1.86 M
    assert ht.weight_params == 8 * 16 * 4 + 2 * 20 * 4 * 4 + 18 * 4 * 4 + 2 * 4**3 + 4**2


def test_dense_lstm_and_steps():
    w = zoo.get("lstm-youtube")
    assert w.weight_params == (57_600 + 256) * 1024 + 256 * 47
    for variant in ("dense", "tt", "ht"):
        one = zoo.get("lstm-ucf", variant=variant)
        five = zoo.get("lstm-ucf", variant=variant, steps=5)
        head = 256 * 11
        assert five.macs - head == 5 * (one.macs - head)


# --- Transformers ------------------------------------------------------------------------------


def test_deit_block_shapes():
    w = zoo.get("deit-s")
    assert _layer(w, "patch_embed.proj").gemms()[0].m == 196
    assert _layer(w, "blocks.0.attn.qkv") == Linear("blocks.0.attn.qkv", 384, 1152, 197)
    assert _layer(w, "blocks.3.attn.scores") == MatMul("blocks.3.attn.scores", 197, 197, 64, 6)
    assert _layer(w, "blocks.3.attn.context") == MatMul("blocks.3.attn.context", 197, 64, 197, 6)
    assert _layer(w, "head").gemms()[0].m == 1
    graph = w.to_networkx()
    assert graph.in_degree(w.index("head")) == 1 + 2 * 12  # the whole residual stream


@pytest.mark.parametrize("name", LLMS)
def test_llm_tokens_context_and_layers(name):
    w = zoo.get(name, tokens=4, context=100)
    scores = next(layer for layer in w.layers if layer.name.endswith(".scores"))
    assert (scores.m, scores.n) == (4, 100)
    assert "lm_head" not in w.layer_names
    assert "lm_head" in zoo.get(name, layers="all").layer_names
    depth = {"mixtral-8x7b": 32, "qwen1.5-moe-a2.7b": 24, "deepseek-v2-lite": 27}[name]
    assert zoo.get(name, layers=depth).layer_names == zoo.get(name, layers="all").layer_names
    assert "lm_head" not in zoo.get(name, layers=2).layer_names


def test_mixtral_decode_layer():
    w = zoo.get("mixtral-8x7b")
    assert _layer(w, "layers.0.self_attn.qkv_proj").out_features == (32 + 2 * 8) * 128
    moe = _layer(w, "layers.0.block_sparse_moe")
    assert isinstance(moe, MoEExperts) and moe.active_experts == 2


def test_deepseek_lite_layers():
    one = zoo.get("deepseek-v2-lite")
    assert all(name.startswith("layers.1.") for name in one.layer_names)  # first MoE layer
    assert _layer(one, "layers.1.self_attn.scores").k == 192
    assert _layer(one, "layers.1.self_attn.kv_b_proj").out_features == 16 * 256
    stack = zoo.get("deepseek-v2-lite", layers=2)
    assert _layer(stack, "layers.0.mlp.down_proj").in_features == 10944
    assert isinstance(_layer(stack, "layers.1.mlp"), MoEExperts)


# --- Every entry: builds, DAG -------------------------------------------------------------------

# Graphs with more than one source, as the builders document: the TT/HT LSTMs read x and h in
# two layers; DeepSeek's q_proj and kv_a_proj_with_mqa both read the layer input.
SOURCES = {"deepseek-v2-lite": 2, **{f"lstm-{d}-{v}": 2 for d in ("ucf", "youtube")
                                     for v in ("tt", "ht")}}


@pytest.mark.parametrize(("name", "params"), _every_build(),
                         ids=lambda v: v if isinstance(v, str) else repr(v))
def test_every_entry_builds_a_connected_dag(name, params):
    w = zoo.get(name, **params)
    graph = w.to_networkx()
    assert nx.is_directed_acyclic_graph(graph)
    assert nx.is_weakly_connected(graph)
    sources = [v for v in graph if graph.in_degree(v) == 0]
    sinks = [v for v in graph if graph.out_degree(v) == 0]
    two_sources = name in SOURCES or params.get("variant") in ("tt", "ht")
    assert len(sources) == (2 if two_sources else 1)
    assert sinks == [len(w) - 1]  # the last layer in execution order is the only output
    assert all(a < b for a, b in w.edges or ())
    assert w.macs > 0 and w.source and w.description


def test_mobilenetv2_residuals_and_depthwise():
    w = zoo.get("mobilenetv2")
    depthwise = [c for c in _convs(w) if c.is_depthwise]
    assert len(depthwise) == 17
    assert all(c.groups == c.in_channels for c in depthwise)
    graph = w.to_networkx()
    first = {}
    for index, name in enumerate(w.layer_names):
        first.setdefault(int(name.split(".")[1]) if name.startswith("features.") else 19, index)
    # A block is residual iff the layer after it reads more than the block's last conv (its
    # input skips ahead); 10 of the 17 inverted residuals keep stride 1 and width (Table 2).
    residual = [i for i in range(1, 18) if graph.in_degree(first[i + 1]) > 1]
    assert residual == [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]
    assert _layer(w, "features.18.0").out_channels == 1280


# --- Registry ----------------------------------------------------------------------------------


def test_names_cover_the_seed_papers():
    assert zoo.names() == sorted(
        ["resnet18", "resnet50", "mobilenetv2", "resnet20", "vgg16", "deit-s", "deit-b",
         "lstm-ucf", "lstm-youtube", *LLMS,
         *(f"lstm-{d}-{v}" for d in ("ucf", "youtube") for v in ("tt", "ht"))])


def test_unknown_name_lists_known_names():
    with pytest.raises(UnknownNameError) as info:
        zoo.get("resnet19")
    message = str(info.value)
    assert "resnet19" in message
    assert all(name in message for name in zoo.names())
    with pytest.raises(KeyError):
        zoo.entry("nope")


def test_unknown_and_invalid_params_are_all_named():
    with pytest.raises(WorkloadError) as info:
        zoo.get("lstm-ucf", variant="cp", stepz=3, classes=0)
    message = str(info.value)
    assert "stepz: unknown parameter; accepted: variant, steps, classes" in message
    assert "variant: must be one of 'dense', 'tt', 'ht'" in message
    assert "classes: must be >= 1" in message
    assert "3 problem(s)" in message
    with pytest.raises(WorkloadError, match="accepted: none"):
        zoo.get("resnet18", classes=10)


@pytest.mark.parametrize(("params", "field"), [
    ({"layers": 33}, "layers"), ({"layers": True}, "layers"), ({"layers": "half"}, "layers"),
    ({"tokens": 8, "context": 4}, "context"), ({"tokens": 2.0}, "tokens"),
    ({"context": 0}, "context"),
])
def test_llm_param_checks(params, field):
    with pytest.raises(WorkloadError, match=rf"- {field}: "):
        zoo.get("mixtral-8x7b", **params)


def test_entries_describe_themselves():
    for e in zoo.entries():
        assert e.description and "\n" not in e.description
        assert all(p.help and p.accepts for p in e.params)
        assert zoo.get(e.name).name == e.name
    lstm = zoo.entry("lstm-ucf")
    assert lstm.defaults == {"variant": "dense", "steps": 1, "classes": 11}
    assert zoo.entry("deepseek-v2-lite").defaults == {"tokens": 1, "layers": "one",
                                                      "context": None}
    assert "an int" in zoo.entry("mixtral-8x7b").params[1].accepts


def test_lstm_variant_entries_equal_the_base_entry_with_the_variant():
    for base in ("lstm-ucf", "lstm-youtube"):
        for v in ("tt", "ht"):
            alias, full = zoo.get(f"{base}-{v}", steps=2), zoo.get(base, variant=v, steps=2)
            assert alias.layers == full.layers and alias.edges == full.edges
            assert alias.name == f"{base}-{v}(steps=2)"


def test_non_default_params_name_the_workload():
    assert zoo.get("lstm-ucf", variant="tt", steps=1).name == "lstm-ucf(variant=tt)"
    assert zoo.get("lstm-ucf", variant="dense").name == "lstm-ucf"


def test_builders_are_plain_functions():
    assert zoo.resnet18().layer_names == zoo.get("resnet18").layer_names
    assert zoo.lstm_ucf(variant="ht").macs == zoo.get("lstm-ucf", variant="ht").macs
