"""Model zoo: every network the seed papers measure, built from its published definition.

Length: over 600 lines on purpose. It is a catalogue of a dozen independent builders, each
citing its source; one file keeps the registry and every entry in one place to read.

``names()`` lists the entries, ``get(name, **params)`` builds one, ``entry(name)`` /
``entries()`` give each entry's one-line description and its parameters (name, default, accepted
values, help). Builders are plain functions registered with ``@register``; their keyword-only
parameters (with defaults and ``:param:`` lines) are the entry's parameters.

Conventions shared by every builder:

* Batch 1, the lowering of ``hwsim.ir.layers``. Layer names follow the reference implementation
  (torchvision, timm, Hugging Face) so a traced model maps onto the zoo layer by layer.
* Only GEMM-bearing operators are layers. Pooling, normalisation, activations, softmax, rotary
  embeddings, token concatenation and embedding lookups are not; their effect on shapes is
  applied (a 3x3/2 max-pool halves the feature map before the next conv).
* A residual add is not a layer either. The tensor it makes is represented by the set of layers
  whose outputs it sums, and every consumer of that tensor gets an edge from each of them: the
  shortcut edge runs from the block input's producer(s) to the consumer(s) of the block output.
  Behind a chain of identity blocks the set grows (``x + f1 + f2 + ...``), which is exactly the
  dependence of the consumer on the earlier branches.
* ``Workload.weight_params`` counts GEMM weights only: no biases, no normalisation parameters, no
  positional/class embeddings, no token-embedding table. Tests reconcile it with the published
  totals term by term.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeVar, Union, get_args, get_origin

from hwsim.errors import Checker, Problem, UnknownNameError, WorkloadError
from hwsim.ir.layers import (
    Conv2d,
    HTLinear,
    Layer,
    Linear,
    LstmCell,
    MatMul,
    MoEExperts,
    TTLinear,
)
from hwsim.ir.workload import Workload

# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

Builder = TypeVar("Builder", bound=Callable[..., Workload])


@dataclass(frozen=True, slots=True)
class ZooParam:
    """One parameter of a zoo entry: its default, the values it accepts (as text), and help."""

    name: str
    default: object
    accepts: str
    help: str


@dataclass(frozen=True, slots=True)
class ZooEntry:
    """A registered model: its name, one-line description, parameters and builder.

    ``annotations`` holds each parameter's type annotation, in ``params`` order; ``get`` checks
    values against them.
    """

    name: str
    description: str
    params: tuple[ZooParam, ...]
    builder: Callable[..., Workload]
    annotations: tuple[object, ...] = dataclasses.field(repr=False)

    @property
    def defaults(self) -> dict[str, object]:
        return {p.name: p.default for p in self.params}


_REGISTRY: dict[str, ZooEntry] = {}
_PARAM_DOC = re.compile(r":param (\w+):(.*?)(?=\n\s*:param |\n\s*\n|\Z)", re.DOTALL)


def register(name: str) -> Callable[[Builder], Builder]:
    """Register ``builder`` under ``name``.

    The description is the first line of the builder's docstring; each keyword-only parameter
    must have a default, a type annotation (``int``, ``str``, ``Literal[...]``, ``None`` and
    unions of them) and a ``:param name:`` line in the docstring.
    """

    def decorate(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"zoo entry {name!r} is registered twice")
        doc = inspect.getdoc(builder) or ""
        helps = {k: " ".join(v.split()) for k, v in _PARAM_DOC.findall(doc)}
        params, kinds = [], []
        for p in inspect.signature(builder, eval_str=True).parameters.values():
            if p.kind is not p.KEYWORD_ONLY or p.default is p.empty or p.name not in helps:
                raise TypeError(f"zoo builder {builder.__name__}: parameter {p.name!r} must be "
                                "keyword-only, with a default and a ':param:' docstring line")
            params.append(ZooParam(p.name, p.default, _describe_type(p.annotation), helps[p.name]))
            kinds.append(p.annotation)
        _REGISTRY[name] = ZooEntry(name, doc.split("\n", 1)[0].strip(), tuple(params), builder,
                                   tuple(kinds))
        return builder

    return decorate


def names() -> list[str]:
    """Names of every zoo entry, sorted."""
    return sorted(_REGISTRY)


def entry(name: str) -> ZooEntry:
    """The registered entry ``name`` (description, parameters); UnknownNameError if none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("workload", name, list(_REGISTRY)) from None


def entries() -> list[ZooEntry]:
    """Every entry, sorted by name."""
    return [_REGISTRY[n] for n in names()]


def get(name: str, **params: object) -> Workload:
    """Build zoo entry ``name`` with ``params`` overriding its defaults.

    Raises UnknownNameError for an unknown name (listing the known ones) and WorkloadError for
    an unknown parameter (listing the accepted ones) or a value of the wrong type or range (naming
    the parameter and what it accepts). Every problem is reported at once. When ``params`` differ
    from the defaults they are appended to the workload's name, e.g. ``lstm-ucf(variant=tt)``.
    """
    zoo_entry = entry(name)
    accepted = {p.name: (p, kind) for p, kind in zip(zoo_entry.params, zoo_entry.annotations,
                                                     strict=True)}
    problems: list[Problem] = []
    for key, value in params.items():
        if key not in accepted:
            listing = ", ".join(accepted) if accepted else "none"
            problems.append(Problem(key, value, f"unknown parameter; accepted: {listing}"))
            continue
        param, kind = accepted[key]
        if not _accepts(kind, value):
            problems.append(Problem(key, value, f"must be {param.accepts}"))
        elif isinstance(value, int) and not isinstance(value, bool) and value < 1:
            problems.append(Problem(key, value, "must be >= 1 (it counts something)"))
    if problems:
        raise WorkloadError(f"parameters of zoo entry {name!r}", problems)
    workload = zoo_entry.builder(**params)
    changed = {k: v for k, v in params.items() if v != zoo_entry.defaults[k]}
    if changed:
        suffix = ",".join(f"{k}={v}" for k, v in changed.items())
        workload = dataclasses.replace(workload, name=f"{name}({suffix})")
    return workload


def _accepts(kind: object, value: object) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if kind is None or kind is type(None):
        return value is None
    origin = get_origin(kind)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in get_args(kind))
    if origin in (Union, types.UnionType):
        return any(_accepts(arm, value) for arm in get_args(kind))
    raise TypeError(f"zoo parameters cannot be of type {kind!r}")


def _describe_type(kind: object) -> str:
    if kind is int:
        return "an int"
    if kind is str:
        return "a string"
    if kind is None or kind is type(None):
        return "None"
    origin = get_origin(kind)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(kind))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe_type(arm) for arm in get_args(kind))
    raise TypeError(f"zoo parameters cannot be of type {kind!r}")


# ---------------------------------------------------------------------------------------------
# Graph building
# ---------------------------------------------------------------------------------------------

Tensor = frozenset[int]
"""The layers whose outputs sum into a tensor (one layer, or several behind residual adds)."""

INPUT: Tensor = frozenset()
"""The network input: produced by no layer."""


class _Graph:
    """Collects layers in execution order and the edges from the tensors each one reads."""

    def __init__(self) -> None:
        self.layers: list[Layer] = []
        self.edges: dict[tuple[int, int], None] = {}

    def add(self, layer: Layer, *inputs: Tensor) -> Tensor:
        index = len(self.layers)
        self.layers.append(layer)
        for tensor in inputs:
            for producer in sorted(tensor):
                self.edges[(producer, index)] = None
        return frozenset({index})

    def workload(self, name: str, description: str, source: str) -> Workload:
        return Workload(name, tuple(self.layers), tuple(self.edges), description, source)


class _Fmap(NamedTuple):
    """A square feature map: the tensor, its channels and its side in pixels."""

    tensor: Tensor
    channels: int
    size: int


def _conv(g: _Graph, name: str, x: _Fmap, c_out: int, kernel: int, stride: int = 1,
          groups: int = 1) -> _Fmap:
    """Square conv with 'same' padding (kernel // 2), as every zoo CNN uses."""
    layer = Conv2d(name, x.channels, c_out, x.size, x.size, kernel, kernel, stride, kernel // 2,
                   groups=groups)
    return _Fmap(g.add(layer, x.tensor), c_out, layer.out_height)


def _pool(x: _Fmap, kernel: int, stride: int, padding: int = 0) -> _Fmap:
    """Max/avg pooling: not a layer (no GEMM), only a change of size (PyTorch's formula)."""
    return x._replace(size=(x.size + 2 * padding - kernel) // stride + 1)


def _sum(branch: _Fmap, shortcut: _Fmap) -> _Fmap:
    """Residual add of two same-shaped maps (not a layer: see the module docstring)."""
    return branch._replace(tensor=branch.tensor | shortcut.tensor)


def _classifier(g: _Graph, name: str, x: _Fmap, classes: int) -> None:
    """Global average pool (not a layer) then the fully connected classifier."""
    g.add(Linear(name, x.channels, classes), x.tensor)


# ---------------------------------------------------------------------------------------------
# CNNs
# ---------------------------------------------------------------------------------------------


def _basic_block(g: _Graph, prefix: str, x: _Fmap, planes: int, stride: int) -> _Fmap:
    """ResNet basic block: 3x3 (stride), 3x3, 1x1 projection shortcut when the shape changes."""
    out = _conv(g, f"{prefix}.conv1", x, planes, 3, stride)
    out = _conv(g, f"{prefix}.conv2", out, planes, 3)
    if stride != 1 or x.channels != planes:
        x = _conv(g, f"{prefix}.downsample.0", x, planes, 1, stride)
    return _sum(out, x)


def _bottleneck(g: _Graph, prefix: str, x: _Fmap, planes: int, stride: int) -> _Fmap:
    """ResNet v1.5 bottleneck (torchvision): 1x1, 3x3 carrying the stride, 1x1 to 4*planes."""
    out = _conv(g, f"{prefix}.conv1", x, planes, 1)
    out = _conv(g, f"{prefix}.conv2", out, planes, 3, stride)
    out = _conv(g, f"{prefix}.conv3", out, 4 * planes, 1)
    if stride != 1 or x.channels != 4 * planes:
        x = _conv(g, f"{prefix}.downsample.0", x, 4 * planes, 1, stride)
    return _sum(out, x)


def _imagenet_resnet(name: str, bottleneck: bool, blocks: tuple[int, ...], description: str,
                     source: str) -> Workload:
    g = _Graph()
    x = _conv(g, "conv1", _Fmap(INPUT, 3, 224), 64, 7, 2)
    x = _pool(x, 3, 2, 1)  # maxpool 3x3/2: 112 -> 56
    block = _bottleneck if bottleneck else _basic_block
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            x = block(g, f"layer{stage + 1}.{i}", x, planes, stride)
    _classifier(g, "fc", x, 1000)
    return g.workload(name, description, source)


@register("resnet18")
def resnet18() -> Workload:
    """ResNet-18, ImageNet 224x224 (He et al. CVPR'16; torchvision's definition): 1.81 G MACs.

    Lowers to the 21 GEMMs of N3H-Core's ResNet-18 (REFERENCE.md section 1): conv1, the 16 block
    convs with the three 1x1 downsample convs after the second conv of each stage's first block
    (torchvision's execution order), and the fc.
    """
    return _imagenet_resnet(
        "resnet18", False, (2, 2, 2, 2),
        "ResNet-18, ImageNet 224x224, 21 GEMMs, 1.81 G MACs, 11.7 M parameters",
        "He, Zhang, Ren, Sun, 'Deep Residual Learning for Image Recognition', CVPR 2016, "
        "Table 1; torchvision.models.resnet18",
    )


@register("resnet50")
def resnet50() -> Workload:
    """ResNet-50 v1.5, ImageNet 224x224 (He et al. CVPR'16; torchvision): 4.09 G MACs.

    torchvision's v1.5 puts the stride on the 3x3 conv of the bottleneck (the paper's v1 on the
    first 1x1); the MACs differ by about 0.1 G and torchvision's figures are the ones quoted.
    """
    return _imagenet_resnet(
        "resnet50", True, (3, 4, 6, 3),
        "ResNet-50 v1.5, ImageNet 224x224, 4.09 G MACs, 25.6 M parameters",
        "He, Zhang, Ren, Sun, 'Deep Residual Learning for Image Recognition', CVPR 2016, "
        "Table 1; torchvision.models.resnet50 (v1.5: stride on the 3x3 conv)",
    )


@register("mobilenetv2")
def mobilenetv2() -> Workload:
    """MobileNetV2 1.0, ImageNet 224x224 (Sandler et al. CVPR'18; torchvision): 0.30 G MACs.

    Inverted residuals (t, c, n, s) of the paper's Table 2; expansion 1x1, depthwise 3x3
    (groups == channels), linear 1x1 projection; residual when stride 1 and channels match;
    last 1x1 conv to 1280, classifier 1280 -> 1000.
    """
    g = _Graph()
    x = _conv(g, "features.0.0", _Fmap(INPUT, 3, 224), 32, 3, 2)
    settings = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))
    index = 1
    for expand, channels, repeats, first_stride in settings:
        for i in range(repeats):
            stride = first_stride if i == 0 else 1
            prefix = f"features.{index}.conv"
            hidden = x.channels * expand
            out, j = x, 0
            if expand != 1:
                out, j = _conv(g, f"{prefix}.0.0", out, hidden, 1), 1
            out = _conv(g, f"{prefix}.{j}.0", out, hidden, 3, stride, groups=hidden)
            out = _conv(g, f"{prefix}.{j + 1}", out, channels, 1)
            x = _sum(out, x) if stride == 1 and x.channels == channels else out
            index += 1
    x = _conv(g, f"features.{index}.0", x, 1280, 1)
    _classifier(g, "classifier.1", x, 1000)
    return g.workload(
        "mobilenetv2", "MobileNetV2 1.0, ImageNet 224x224, 0.30 G MACs, 3.5 M parameters",
        "Sandler, Howard, Zhu, Zhmoginov, Chen, 'MobileNetV2: Inverted Residuals and Linear "
        "Bottlenecks', CVPR 2018, Table 2; torchvision.models.mobilenet_v2",
    )


@register("resnet20")
def resnet20() -> Workload:
    """ResNet-20, CIFAR-10 32x32 (He et al. CVPR'16 section 4.2), option-B shortcuts: 41 M MACs.

    3x3 conv to 16 channels, three stages of three basic blocks (16, 32, 64 channels at 32, 16, 8
    pixels), global average pool, fc 64 -> 10. The paper's CIFAR nets use option A (zero-padded
    identity shortcuts, no weights); here the two shortcuts that change shape are 1x1 stride-2
    projection convs (option B), adding 0.26 M MACs and 2,560 weights, so a hardware model sees
    them as GEMMs.
    """
    g = _Graph()
    x = _conv(g, "conv1", _Fmap(INPUT, 3, 32), 16, 3)
    for stage, planes in enumerate((16, 32, 64)):
        for i in range(3):
            stride = 2 if stage > 0 and i == 0 else 1
            x = _basic_block(g, f"layer{stage + 1}.{i}", x, planes, stride)
    _classifier(g, "fc", x, 10)
    return g.workload(
        "resnet20", "ResNet-20 (option-B shortcuts), CIFAR-10 32x32, 41 M MACs, 0.27 M parameters",
        "He, Zhang, Ren, Sun, 'Deep Residual Learning for Image Recognition', CVPR 2016, "
        "section 4.2 (n = 3); 1x1 projection shortcuts (option B, section 3.3)",
    )


@register("vgg16")
def vgg16() -> Workload:
    """VGG-16 with BN, CIFAR-10 32x32 (the common CIFAR variant): 0.31 G MACs.

    Configuration D of Simonyan & Zisserman (13 3x3 convs, five 2x2 max-pools) on 32x32 inputs,
    leaving a 1x1x512 map; one fc 512 -> 10 as in kuangliu/pytorch-cifar's VGG('VGG16'). Layer
    names follow that model's ``features`` indices (conv, BN, ReLU per conv; one index per pool).
    Li et al. (ICLR'17, Table 1) report 3.13e8 FLOPs for their CIFAR VGG-16, whose extra
    512 x 512 fc adds only 0.26 M.
    """
    cfg: tuple[int | None, ...] = (64, 64, None, 128, 128, None, 256, 256, 256, None,
                                   512, 512, 512, None, 512, 512, 512, None)
    g = _Graph()
    x, index = _Fmap(INPUT, 3, 32), 0
    for width in cfg:
        if width is None:
            x, index = _pool(x, 2, 2), index + 1
        else:
            x, index = _conv(g, f"features.{index}", x, width, 3), index + 3
    _classifier(g, "classifier", x, 10)
    return g.workload(
        "vgg16", "VGG-16 (BN), CIFAR-10 32x32, 13 convs + fc 512->10, 0.31 G MACs, 14.7 M params",
        "Simonyan & Zisserman, 'Very Deep Convolutional Networks for Large-Scale Image "
        "Recognition', ICLR 2015, configuration D; CIFAR variant of kuangliu/pytorch-cifar "
        "models/vgg.py; Li et al., 'Pruning Filters for Efficient ConvNets', ICLR 2017, Table 1",
    )


# ---------------------------------------------------------------------------------------------
# Vision transformers
# ---------------------------------------------------------------------------------------------


def _deit(name: str, embed: int, heads: int, mlp: int, description: str) -> Workload:
    depth, patch, image = 12, 16, 224
    head_dim = embed // heads
    g = _Graph()
    # A patch embedding is a 16x16 stride-16 conv with no padding (not _conv's 'same' rule).
    proj = Conv2d("patch_embed.proj", 3, embed, image, image, patch, patch, patch, 0)
    x = g.add(proj, INPUT)
    tokens = proj.out_height * proj.out_width + 1  # + class token: 197 at 224 px
    for i in range(depth):
        p = f"blocks.{i}"
        qkv = g.add(Linear(f"{p}.attn.qkv", embed, 3 * embed, tokens), x)
        scores = g.add(MatMul(f"{p}.attn.scores", tokens, tokens, head_dim, heads), qkv)
        context = g.add(MatMul(f"{p}.attn.context", tokens, head_dim, tokens, heads), scores, qkv)
        x = x | g.add(Linear(f"{p}.attn.proj", embed, embed, tokens), context)
        hidden = g.add(Linear(f"{p}.mlp.fc1", embed, mlp, tokens), x)
        x = x | g.add(Linear(f"{p}.mlp.fc2", mlp, embed, tokens), hidden)
    g.add(Linear("head", embed, 1000), x)  # on the class token only
    return g.workload(
        name, description,
        "Touvron et al., 'Training data-efficient image transformers & distillation through "
        "attention', ICML 2021, Table 1 (DeiT); Dosovitskiy et al., ICLR 2021 (ViT); timm "
        "vision_transformer.py",
    )


@register("deit-s")
def deit_s() -> Workload:
    """DeiT-S, ImageNet 224x224, 197 tokens (Touvron et al. ICML'21): 4.6 G MACs, 22 M params.

    Patch embedding (16x16 stride-16 conv 3 -> 384), 12 blocks of: qkv Linear 384 -> 1152,
    scores MatMul (6 heads, 197 x 197, k = 64), context MatMul (6 heads, 197 x 64, k = 197), proj
    Linear 384 -> 384, fc1 384 -> 1536, fc2 1536 -> 384; head Linear 384 -> 1000 on the class
    token. LayerNorm, softmax, GELU and the class/position embeddings are not GEMMs.
    """
    return _deit("deit-s", 384, 6, 1536,
                 "DeiT-S (ViT-S/16), ImageNet 224x224, 197 tokens, 4.6 G MACs, 22 M parameters")


@register("deit-b")
def deit_b() -> Workload:
    """DeiT-B, ImageNet 224x224, 197 tokens (Touvron et al. ICML'21): 17.6 G MACs, 86 M params.

    As DeiT-S with embed 768, 12 heads of 64, MLP 3072.
    """
    return _deit("deit-b", 768, 12, 3072,
                 "DeiT-B (ViT-B/16), ImageNet 224x224, 197 tokens, 17.6 G MACs, 86 M parameters")


# ---------------------------------------------------------------------------------------------
# Video LSTMs (TT-RNN shapes; TIE and FDHT-LSTM)
# ---------------------------------------------------------------------------------------------

_LSTM_INPUT = 160 * 120 * 3  # one RGB frame, flattened: 57,600
_LSTM_HIDDEN = 256
_LSTM_OUT_MODES = (16, 4, 4, 4)  # 4 gates x 256 = 1024, the gates folded into the first mode
_LSTM_TT_RANKS = (1, 4, 4, 4, 1)
_LSTM_HT_RANK = 4
_LSTM_SOURCE = (
    "Yang, Krompass, Tresp, 'Tensor-Train Recurrent Neural Networks for Video Classification', "
    "ICML 2017 (shapes, TT ranks); Deng et al., 'TIE: Energy-efficient Tensor Train-based "
    "Inference Engine for Deep Neural Network', ISCA 2019; Yin et al., 'Towards Extremely "
    "Compact RNNs for Video Recognition with Fully Decomposed Hierarchical Tucker Structure', "
    "CVPR 2021, and FDHT-LSTM, IEEE TC 2022"
)


def _lstm(name: str, in_modes: tuple[int, ...], classes: int, variant: str, steps: int,
          dataset: str) -> Workload:
    """Video LSTM: input 57,600 (160x120x3 frames), hidden 256, PyTorch gate order.

    ``variant``:

    * ``dense``: one ``LstmCell`` (the fused ``[x; h] -> 4*256`` gate GEMM, once per step).
    * ``tt``: the input-to-gates matrix 57,600 -> 1,024 as a ``TTLinear`` with ``in_modes``,
      output modes (16, 4, 4, 4) (the 4 gates folded into the first mode) and TT ranks
      (1, 4, 4, 4, 1): TIE's workload. The hidden-to-gates product stays dense, a ``Linear``
      256 -> 1,024 (0.26 M MACs per step).
    * ``ht``: the same matrix as an ``HTLinear`` with the same modes and rank 4 (FDHT-LSTM), and
      the same dense ``Linear`` 256 -> 1,024 for the recurrent product. FDHT-LSTM's
      integrate-then-decompose folds h into the HT modes; it is kept separate here so that TT
      and HT are compared on the same matrix.

    The classifier (``Linear`` 256 -> classes) reads the last hidden state. The recurrence across
    steps is folded inside the layers, so in the ``tt`` / ``ht`` graphs the two products are both
    sources (one reads x, the other h): those graphs have two sources.
    """
    g = _Graph()
    if variant == "dense":
        gates = g.add(LstmCell("lstm", _LSTM_INPUT, _LSTM_HIDDEN, steps), INPUT)
    else:
        # The input-to-gates product does not depend on h, so all steps form one batch (tokens).
        # The recurrent product runs once per step on m = 1 in the real network; it is a Linear
        # over `steps` rows here, the same MACs, so a cost model sees it batched (optimistic).
        w_ih: Layer = (
            TTLinear("lstm.w_ih", in_modes, _LSTM_OUT_MODES, _LSTM_TT_RANKS, steps)
            if variant == "tt"
            else HTLinear("lstm.w_ih", in_modes, _LSTM_OUT_MODES, _LSTM_HT_RANK, steps)
        )
        gates = g.add(w_ih, INPUT)
        gates |= g.add(Linear("lstm.w_hh", _LSTM_HIDDEN, 4 * _LSTM_HIDDEN, steps), INPUT)
    g.add(Linear("classifier", _LSTM_HIDDEN, classes), gates)
    kind = {"dense": "dense", "tt": "TT (TIE)", "ht": "HT rank 4 (FDHT)"}[variant]
    return g.workload(
        name, f"LSTM on {dataset} frames (57,600 -> 256 hidden, {classes} classes), {kind} "
        f"input-to-gates weights, {steps} step(s)", _LSTM_SOURCE)


@register("lstm-ucf")
def lstm_ucf(*, variant: Literal["dense", "tt", "ht"] = "dense", steps: int = 1,
             classes: int = 11) -> Workload:
    """Video LSTM on UCF11 (TT-RNN / TIE / FDHT-LSTM workload), dense, TT or HT weights.

    Input modes (8, 20, 20, 18): TT 3,360 weights and 1.94 M MACs per step (TIE), HT rank 4
    1,584 weights and 1.86 M MACs per step. Details of the variants in ``_lstm``.

    :param variant: 'dense' LstmCell, 'tt' TTLinear (TIE) or 'ht' HTLinear (FDHT-LSTM)
        input-to-gates weights
    :param steps: time steps (frames) unrolled
    :param classes: classifier outputs (UCF11 has 11 actions)
    """
    return _lstm("lstm-ucf", (8, 20, 20, 18), classes, variant, steps, "UCF11")


@register("lstm-youtube")
def lstm_youtube(*, variant: Literal["dense", "tt", "ht"] = "dense", steps: int = 1,
                 classes: int = 47) -> Workload:
    """Video LSTM on Youtube Celebrities Faces (TT-RNN / TIE / FDHT-LSTM workload).

    Input modes (4, 20, 20, 36): TT 3,392 weights and 1.43 M MACs per step (TIE). Details of
    the variants in ``_lstm``.

    :param variant: 'dense' LstmCell, 'tt' TTLinear (TIE) or 'ht' HTLinear (FDHT-LSTM)
        input-to-gates weights
    :param steps: time steps (frames) unrolled
    :param classes: classifier outputs (Youtube Celebrities Faces has 47 people)
    """
    return _lstm("lstm-youtube", (4, 20, 20, 36), classes, variant, steps,
                 "Youtube Celebrities Faces")


def _lstm_variant(base: str, variant: str) -> None:
    """Register ``<base>-<variant>``: the ``lstm-*`` entry with its ``variant`` fixed."""
    fmt = {"tt": "tensor-train (TIE)", "ht": "hierarchical-Tucker rank 4 (FDHT-LSTM)"}[variant]
    dataset = "UCF11" if base == "lstm-ucf" else "Youtube Celebrities Faces"
    modes = (8, 20, 20, 18) if base == "lstm-ucf" else (4, 20, 20, 36)

    def entry(*, steps: int = 1, classes: int = 11 if base == "lstm-ucf" else 47) -> Workload:
        return _lstm(f"{base}-{variant}", modes, classes, variant, steps, dataset)

    entry.__doc__ = (f"Video LSTM on {dataset} with {fmt} input-to-gates weights (= {base} "
                     f"with variant={variant}).\n\n:param steps: time steps (frames) unrolled\n"
                     f":param classes: classifier outputs\n")
    entry.__annotations__ = {"steps": "int", "classes": "int", "return": "Workload"}
    register(f"{base}-{variant}")(entry)


for _base in ("lstm-ucf", "lstm-youtube"):
    for _variant in ("tt", "ht"):
        _lstm_variant(_base, _variant)


# ---------------------------------------------------------------------------------------------
# MoE language models (MoE-I2's targets)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Mla:
    """DeepSeek-V2 multi-head latent attention without query compression (q_lora_rank null)."""

    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int


@dataclass(frozen=True, slots=True)
class _Decoder:
    """A decoder-only MoE transformer, as its Hugging Face config.json describes it."""

    name: str
    depth: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    experts: int
    top_k: int
    expert_ffn: int
    moe_module: str
    shared_experts: int = 0
    shared_ffn: int = 0
    shared_expert_gate: bool = False
    dense_layers: int = 0
    dense_ffn: int = 0
    mla: _Mla | None = None


def _attention(g: _Graph, cfg: _Decoder, p: str, x: Tensor, tokens: int, context: int) -> Tensor:
    """Projections on the ``tokens`` new tokens, score/context MatMuls against ``context``."""
    mla = cfg.mla
    if mla is None:
        q_dim, v_dim = cfg.head_dim, cfg.head_dim
        # q, k and v fused into one GEMM, as vLLM (QKVParallelLinear) and timm do.
        width = (cfg.heads + 2 * cfg.kv_heads) * cfg.head_dim
        q = k = v = g.add(Linear(f"{p}.qkv_proj", cfg.hidden, width, tokens), x)
    else:
        q_dim, v_dim = mla.qk_nope_head_dim + mla.qk_rope_head_dim, mla.v_head_dim
        q = g.add(Linear(f"{p}.q_proj", cfg.hidden, cfg.heads * q_dim, tokens), x)
        latent = g.add(Linear(f"{p}.kv_a_proj_with_mqa", cfg.hidden,
                              mla.kv_lora_rank + mla.qk_rope_head_dim, tokens), x)
        v = g.add(Linear(f"{p}.kv_b_proj", mla.kv_lora_rank,
                         cfg.heads * (mla.qk_nope_head_dim + v_dim), tokens), latent)
        k = v | latent  # k = [k_nope from kv_b_proj; k_rope shared by all heads, from kv_a]
    scores = g.add(MatMul(f"{p}.scores", tokens, context, q_dim, cfg.heads), q | k)
    ctx = g.add(MatMul(f"{p}.context", tokens, v_dim, context, cfg.heads), scores, v)
    return g.add(Linear(f"{p}.o_proj", cfg.heads * v_dim, cfg.hidden, tokens), ctx)


def _ffn(g: _Graph, cfg: _Decoder, index: int, x: Tensor, tokens: int) -> Tensor:
    if index < cfg.dense_layers:
        p = f"layers.{index}.mlp"
        gate = g.add(Linear(f"{p}.gate_proj", cfg.hidden, cfg.dense_ffn, tokens), x)
        up = g.add(Linear(f"{p}.up_proj", cfg.hidden, cfg.dense_ffn, tokens), x)
        return g.add(Linear(f"{p}.down_proj", cfg.dense_ffn, cfg.hidden, tokens), gate, up)
    p = f"layers.{index}.{cfg.moe_module}"
    gate = INPUT
    if cfg.shared_expert_gate:
        # Qwen2-MoE scales the shared expert's output by sigmoid(Linear(hidden -> 1)) inside
        # the MoE block, so the gate feeds the block's output.
        gate = g.add(Linear(f"{p}.shared_expert_gate", cfg.hidden, 1, tokens), x)
    return g.add(MoEExperts(p, cfg.hidden, cfg.expert_ffn, cfg.experts, cfg.top_k, tokens,
                            cfg.shared_experts, cfg.shared_ffn), x, gate)


def _decoder(cfg: _Decoder, layers: str | int, tokens: int, context: int | None,
             description: str, source: str) -> Workload:
    """Decoder layers of ``cfg`` on ``tokens`` new tokens attending over ``context`` positions.

    Simplifications, the same for every MoE model:

    * Keys and values of the ``context - tokens`` earlier positions are assumed cached; only the
      new tokens are projected. The cache's size and traffic are not modelled.
    * Causal masking saves nothing: the score and context MatMuls are full ``tokens x context``.
    * RMSNorm, rotary embeddings, softmax, SiLU, top-k selection and the embedding lookup are not
      GEMMs and are not layers. The embedding table is not counted in ``weight_params``.
    * Routing is balanced (``MoEExperts``'s assumption).
    * The LM head (``Linear`` hidden -> vocab on every new token) is included only for the whole
      stack (``layers="all"`` or the full depth as an int).
    """
    c = Checker()
    depth_ok = layers in ("one", "all") or (
        isinstance(layers, int) and not isinstance(layers, bool) and 1 <= layers <= cfg.depth)
    c.require(depth_ok, "layers", layers, f"must be 'one', 'all' or an int in [1, {cfg.depth}]")
    c.require(context is None or context >= tokens, "context", context,
              f"must be >= tokens ({tokens}): the new tokens are part of the context")
    c.raise_if_any(WorkloadError, f"parameters of zoo entry {cfg.name!r}")
    if layers == "one":
        # A representative MoE layer: the first one (DeepSeek-V2-Lite's layer 0 is dense).
        indices = range(cfg.dense_layers, cfg.dense_layers + 1)
    else:
        indices = range(cfg.depth if layers == "all" else int(layers))
    context = tokens if context is None else context
    g = _Graph()
    x = INPUT
    for i in indices:
        x = x | _attention(g, cfg, f"layers.{i}.self_attn", x, tokens, context)
        x = x | _ffn(g, cfg, i, x, tokens)
    if len(indices) == cfg.depth:
        g.add(Linear("lm_head", cfg.hidden, cfg.vocab, tokens), x)
    scope = {"one": "one MoE decoder layer", "all": "whole stack + LM head"}.get(
        str(layers), f"first {layers} decoder layer(s)")
    return g.workload(cfg.name, f"{description}; {scope}, {tokens} token(s), context {context}",
                      source)


_MIXTRAL = _Decoder(
    name="mixtral-8x7b", depth=32, hidden=4096, heads=32, kv_heads=8, head_dim=128, vocab=32000,
    experts=8, top_k=2, expert_ffn=14336, moe_module="block_sparse_moe",
)

_QWEN_MOE = _Decoder(
    name="qwen1.5-moe-a2.7b", depth=24, hidden=2048, heads=16, kv_heads=16, head_dim=128,
    vocab=151936, experts=60, top_k=4, expert_ffn=1408, moe_module="mlp",
    shared_experts=4, shared_ffn=1408, shared_expert_gate=True,
)

_DEEPSEEK_V2_LITE = _Decoder(
    name="deepseek-v2-lite", depth=27, hidden=2048, heads=16, kv_heads=16, head_dim=128,
    vocab=102400, experts=64, top_k=6, expert_ffn=1408, moe_module="mlp",
    shared_experts=2, shared_ffn=1408, dense_layers=1, dense_ffn=10944,
    mla=_Mla(kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128),
)


@register("mixtral-8x7b")
def mixtral_8x7b(*, tokens: int = 1, layers: Literal["one", "all"] | int = "one",
                 context: int | None = None) -> Workload:
    """Mixtral-8x7B (Jiang et al. 2024): 32 layers, 8 experts top-2, 46.7 B params, 12.9 B active.

    config.json: hidden 4096, 32 query heads and 8 KV heads of 128 (grouped-query attention),
    SwiGLU experts of 14,336, vocabulary 32,000, untied LM head. Attention is one fused
    ``qkv_proj`` (4096 -> 6144), the score and context MatMuls (32 heads), ``o_proj``; the MoE
    block is ``MoEExperts`` (router + experts). Simplifications in ``_decoder``.

    :param tokens: new tokens processed (1 = one decode step; the prompt length for prefill)
    :param layers: 'one' representative MoE decoder layer, 'all' for the whole stack with the
        LM head, or an int n for the first n decoder layers
    :param context: positions attended over (None = tokens: a prefill with no cache)
    """
    return _decoder(_MIXTRAL, layers, tokens, context, "Mixtral-8x7B (8 experts, top-2)",
                    "Jiang et al., 'Mixtral of Experts', arXiv 2401.04088, 2024; Hugging Face "
                    "mistralai/Mixtral-8x7B-v0.1 config.json")


@register("qwen1.5-moe-a2.7b")
def qwen15_moe_a27b(*, tokens: int = 1, layers: Literal["one", "all"] | int = "one",
                    context: int | None = None) -> Workload:
    """Qwen1.5-MoE-A2.7B (Qwen team 2024): 24 layers, 60 experts top-4 + shared, 14.3 B params.

    config.json: hidden 2048, 16 heads of 128 (MHA), 60 routed experts of 1,408 with 4 active,
    a shared expert of 5,632 gated by ``shared_expert_gate`` (Linear 2048 -> 1), vocabulary
    151,936, untied LM head. The shared expert is modelled as 4 x 1,408 (the Qwen blog's "4
    shared experts", REFERENCE.md's table); ``MoEExperts`` fuses shared experts into one
    5,632-wide FFN, so the GEMMs are those of the single 5,632 expert either way. Attention
    biases are ignored. Simplifications in ``_decoder``.

    :param tokens: new tokens processed (1 = one decode step; the prompt length for prefill)
    :param layers: 'one' representative MoE decoder layer, 'all' for the whole stack with the
        LM head, or an int n for the first n decoder layers
    :param context: positions attended over (None = tokens: a prefill with no cache)
    """
    return _decoder(_QWEN_MOE, layers, tokens, context,
                    "Qwen1.5-MoE-A2.7B (60 experts top-4 + 4 shared)",
                    "Qwen team, 'Qwen1.5-MoE: Matching 7B Model Performance with 1/3 Activated "
                    "Parameters', blog, March 2024; Hugging Face Qwen/Qwen1.5-MoE-A2.7B "
                    "config.json")


@register("deepseek-v2-lite")
def deepseek_v2_lite(*, tokens: int = 1, layers: Literal["one", "all"] | int = "one",
                     context: int | None = None) -> Workload:
    """DeepSeek-V2-Lite (DeepSeek-AI 2024): 27 layers, MLA, 64 experts top-6 + 2 shared.

    config.json: hidden 2048, 16 heads; multi-head latent attention with kv_lora_rank 512,
    qk_nope_head_dim 128, qk_rope_head_dim 64, v_head_dim 128 and no query compression
    (q_lora_rank null): ``q_proj`` 2048 -> 3072, ``kv_a_proj_with_mqa`` 2048 -> 576 (latent +
    shared rotary key), ``kv_b_proj`` 512 -> 4096 (per-head k_nope and v), scores over k = 192,
    context over v = 128, ``o_proj`` 2048 -> 2048. Layer 0 is a dense SwiGLU FFN of 10,944;
    layers 1-26 are MoE with 64 routed experts of 1,408 (top-6) and 2 shared ones. Vocabulary
    102,400, untied LM head. 15.7 B params, 2.4 B active. ``q_proj`` and ``kv_a_proj_with_mqa``
    both read the layer input, so the graph has two sources. Simplifications in ``_decoder``;
    the projections are applied as in Hugging Face's implementation (k and v decompressed for
    the new tokens, no weight absorption).

    :param tokens: new tokens processed (1 = one decode step; the prompt length for prefill)
    :param layers: 'one' representative MoE decoder layer, 'all' for the whole stack with the
        LM head, or an int n for the first n decoder layers
    :param context: positions attended over (None = tokens: a prefill with no cache)
    """
    return _decoder(_DEEPSEEK_V2_LITE, layers, tokens, context,
                    "DeepSeek-V2-Lite (MLA, 64 experts top-6 + 2 shared)",
                    "DeepSeek-AI, 'DeepSeek-V2: A Strong, Economical, and Efficient "
                    "Mixture-of-Experts Language Model', arXiv 2405.04434, 2024, section 4 "
                    "and appendix (Lite); Hugging Face deepseek-ai/DeepSeek-V2-Lite config.json")

