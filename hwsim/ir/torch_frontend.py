"""Torch front end: trace an ``nn.Module`` with torch.fx into a :class:`~hwsim.ir.Workload`.

Length: over 600 lines on purpose. The tracer, the per-op handlers and the graph-to-DAG
conversion share one graph walk and its state; split, each piece would need the others.

The model is traced with ``torch.fx`` (symbolic tracing) and run once on the example input with
``torch.fx.passes.shape_prop.ShapeProp`` so every tensor has a concrete shape. Each graph node is
then one of three things:

* a **GEMM layer** we model (lowering convention of :mod:`hwsim.ir.layers`):

  - ``nn.Conv2d`` and ``F.conv2d`` -> :class:`Conv2d` (any groups, stride, dilation; padding as
    an int, a pair, ``"valid"`` or ``"same"``). Unequal strides or dilations along H and W, and
    a ``"same"`` padding that torch has to apply asymmetrically, are reported as unsupported.
    Unequal but symmetric paddings (``(3, 0)`` of a 7x1 kernel) are folded into the input size:
    the record gets ``padding = min(ph, pw)`` and the extra rows or columns on ``in_height`` /
    ``in_width``, which keeps the GEMM (and the output size) exact;
  - ``nn.Linear`` -> :class:`Linear` with ``tokens`` = product of the input's leading dims;
  - ``torch.matmul`` / ``mm`` / ``bmm`` / ``@`` / ``addmm`` / ``baddbmm`` / ``F.linear``: a
    :class:`Linear` when one operand is a parameter (or derived from parameters only) of at most
    two dims, else a :class:`MatMul` whose ``batch`` is the first broadcast leading dim and
    ``heads`` the product of the others;
  - ``torch.einsum`` with two operands and a GEMM-shaped equation (every index either in both
    operands, or in one operand and the output; at least one summed index), e.g.
    ``'bhid,bhjd->bhij'``, ``'...ij,...jk->...ik'``: a :class:`MatMul` (``batch`` the first
    index in both operands and the output, ``heads`` the product of the others), or a
    :class:`Linear` when one operand is a parameter and there is no batch index. MACs = the
    product of all index sizes. Other equations are unsupported, the equation named;
  - ``F.scaled_dot_product_attention`` -> two :class:`MatMul` (``.scores`` and ``.context``);
  - ``nn.MultiheadAttention`` -> ``q_proj``, ``k_proj``, ``v_proj`` (:class:`Linear`),
    ``scores``, ``context`` (:class:`MatMul`), ``out_proj`` (:class:`Linear`);
  - ``nn.TransformerEncoderLayer`` -> its ``self_attn`` records as above, then ``linear1`` and
    ``linear2`` (:class:`Linear`); ``nn.TransformerEncoder`` -> those of each of its
    ``layers.<i>`` in turn;
  - ``nn.LSTM`` -> one :class:`LstmCell` per layer and direction (``<name>.l0``,
    ``<name>.l0_reverse``, ...), ``steps`` = sequence length, ``batch_first`` respected; a
    layer above the first reads ``hidden_size * num_directions`` features. ``proj_size > 0`` is
    reported as unsupported (the record has no projection).

* a call of a **function hidden from fx** with ``torch.fx.wrap`` (torchvision's Swin
  ``shifted_window_attention``, ...): while shapes are propagated the call runs under a
  ``TorchDispatchMode`` that logs its aten ``mm`` / ``addmm`` (a :class:`Linear` when the second
  operand is a view of a parameter or buffer, else a :class:`MatMul`), ``bmm`` / ``baddbmm``
  (:class:`MatMul`), ``convolution`` (:class:`Conv2d`; transposed or non-2-D ones are
  unsupported) and fused ``scaled_dot_product`` kernels (``.sdpa.scores`` / ``.sdpa.context``).
  The records are named ``<scope>.<node>.linear``, ``.matmul_1``, ... and chained in call order
  (fx cannot see the data flow inside). torchvision's ``stochastic_depth`` is shape-only;

* a **shape-only op** on an explicit allow-list (activations, norms, pooling, dropout, residual
  add, cat, view/reshape/flatten/permute/swapaxes/movedim, getitem, size, softmax, element-wise
  maths, ``torch._assert``, ...): no
  layer, but data flows through it, so edges between GEMM layers follow the real dependencies
  (a residual add gives edges from both producers to the next consumer);

* anything else is **unsupported**: every such node is collected with its op name and location
  (node, module path, source line) and :class:`~hwsim.errors.UnsupportedOpError` lists them all.
  With ``skip_unsupported=True`` they are treated as pass-through and returned in
  :attr:`TraceResult.skipped`.

Layer names are the fx targets: the module's qualified name (``layer1.0.conv1``) for module
calls, ``<enclosing module>.<fx node name>`` (``blocks.0.attn.matmul``) for function calls. A
module called more than once gets ``:1``, ``:2`` ... on its later calls. Layers are in execution
order.

Notes and limits:

* torch modules are traced as leaves (torch.fx's default), so a ``torch.nn`` module not listed
  above (``nn.Embedding``, ``nn.Conv1d``, ``nn.GRU``, ``nn.TransformerDecoderLayer``, ...) is
  reported as unsupported by its class name; user modules are traced through. A leaf passed as
  the top module (a bare ``nn.LSTM`` or ``nn.TransformerEncoder``) is not traced into but
  handled as one call; its records carry its own qualified names (``l0``, ``layers.0.linear1``;
  a bare ``nn.Linear`` or ``nn.Conv2d`` is named by its class).
* The user's module is left as it was: the trace runs on a deep copy that shares the
  parameters (so a ``forward`` that caches tensors on ``self``, like timm's LeViT attention-bias
  cache, or updates a buffer in place, changes only the copy), and tracing twice gives the same
  workload.
* The graph is traced in the module's current mode (call ``model.eval()`` first for an inference
  graph if ``forward`` branches on ``self.training``); shape propagation runs in eval mode under
  ``torch.no_grad()`` and restores every submodule's mode afterwards, so BatchNorm statistics
  are not touched.
* A multi-layer op (LSTM, attention) hands its output on from its last layer(s) only, e.g. an
  LSTM's ``h_n`` is attributed to the top layer.
* ``example_input``: one tensor, or a tuple / list of tensors passed as positional arguments.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import itertools
import logging
import math
import os
import re
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hwsim.errors import Problem, UnsupportedOpError, WorkloadError
from hwsim.ir.layers import Conv2d, Layer, Linear, LstmCell, MatMul
from hwsim.ir.workload import Workload

if TYPE_CHECKING:
    from torch import fx, nn

log = logging.getLogger(__name__)

_SHAPE_MODULES = (
    "Identity", "Flatten", "Unflatten",
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
    "Sigmoid", "Tanh", "Hardtanh", "Hardswish", "Hardsigmoid", "Hardshrink", "Softshrink",
    "Tanhshrink", "Softplus", "Softsign", "LogSigmoid", "Threshold", "GLU",
    "Softmax", "Softmax2d", "LogSoftmax", "Softmin",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LayerNorm", "GroupNorm",
    "RMSNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "LPPool1d", "LPPool2d",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle",
    "ChannelShuffle", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d",
    "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d",
    "CircularPad1d", "CircularPad2d", "CircularPad3d",
)
"""``torch.nn`` classes (by name) that only move, reshape or element-wise transform data."""

_SHAPE_FUNCTIONS = (
    "builtins.getattr",
    *(f"operator.{op}" for op in (
        "add", "sub", "mul", "truediv", "floordiv", "mod", "neg", "pos", "pow", "getitem",
        "iadd", "isub", "imul", "itruediv", "eq", "ne", "lt", "le", "gt", "ge", "and_", "or_",
        "invert")),
    *(f"torch.{op}" for op in (
        "add", "sub", "rsub", "mul", "div", "true_divide", "neg", "pow", "exp", "log", "sqrt",
        "rsqrt", "abs", "erf", "sin", "cos", "clamp", "clip", "maximum", "minimum", "where",
        "relu", "sigmoid", "tanh", "softmax", "log_softmax", "flatten", "reshape", "cat", "concat",
        "stack", "chunk", "split", "unbind", "transpose", "permute", "t", "squeeze", "unsqueeze",
        "narrow", "roll", "flip", "tile", "broadcast_to", "repeat_interleave", "mean", "sum",
        "amax", "amin", "max", "min", "cumsum", "tril", "triu", "masked_fill", "zeros", "ones",
        "full", "zeros_like", "ones_like", "full_like", "arange", "_assert", "swapaxes",
        "swapdims", "moveaxis", "movedim")),
    *(f"torch.nn.functional.{op}" for op in (
        "relu", "relu6", "leaky_relu", "prelu", "elu", "selu", "celu", "gelu", "silu", "mish",
        "sigmoid", "tanh", "hardtanh", "hardswish", "hardsigmoid", "softplus", "softsign",
        "logsigmoid", "glu", "softmax", "log_softmax", "softmin", "dropout", "dropout1d",
        "dropout2d", "dropout3d", "alpha_dropout", "batch_norm", "layer_norm", "group_norm",
        "instance_norm", "rms_norm", "local_response_norm", "normalize", "max_pool1d",
        "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
        "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
        "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "interpolate",
        "upsample", "pad", "pixel_shuffle", "pixel_unshuffle")),
)
"""Functions (dotted paths) that are shape-only ops; resolved when a trace runs."""

_SHAPE_METHODS = frozenset((
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "permute", "transpose",
    "t", "contiguous", "size", "dim", "numel", "chunk", "split", "split_with_sizes", "unbind",
    "squeeze", "unsqueeze", "expand", "expand_as", "repeat", "repeat_interleave", "narrow", "flip",
    "roll", "mean", "sum", "amax", "amin", "max", "min", "softmax", "log_softmax", "relu", "relu_",
    "sigmoid", "sigmoid_", "tanh", "tanh_", "exp", "log", "sqrt", "rsqrt", "pow", "abs", "clamp",
    "clamp_", "neg", "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "masked_fill",
    "masked_fill_", "tril", "triu", "float", "half", "double", "bfloat16", "bool", "int", "long",
    "to", "type", "type_as", "detach", "clone", "fill_", "zero_", "new_zeros", "new_ones",
    "new_full", "new_empty", "swapaxes", "swapdims", "moveaxis", "movedim",
))
"""Tensor methods that are shape-only ops."""

_MATMUL_FUNCTIONS = ("operator.matmul", "torch.matmul", "torch.mm", "torch.bmm")
_MATMUL_METHODS = frozenset(("matmul", "mm", "bmm"))
_ADDMM_FUNCTIONS = ("torch.addmm", "torch.baddbmm")  # (bias, a, b)
_ADDMM_METHODS = frozenset(("addmm", "baddbmm"))
_LINEAR_FUNCTIONS = ("torch.nn.functional.linear",)
_CONV_FUNCTIONS = ("torch.nn.functional.conv2d", "torch.conv2d")
_SDPA_FUNCTIONS = ("torch.nn.functional.scaled_dot_product_attention",)
_EINSUM_FUNCTIONS = ("torch.einsum", "torch.functional.einsum")
_IDENTITY_WRAPPED = frozenset(("stochastic_depth",))
"""Names of ``torch.fx.wrap`` functions that are shape-only (torchvision's stochastic depth)."""

_PUBLIC_NAMESPACES = ("torch.fft", "torch.linalg", "torch.special", "torch.nn.functional",
                      "torch", "operator")
"""Searched, in order, for the public name of an unsupported function (error path only)."""

_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')


@dataclass(frozen=True, slots=True)
class TraceResult:
    """What :func:`trace` found.

    ``skipped`` holds ``(op_name, location)`` for every unsupported op passed over (empty unless
    ``skip_unsupported=True``), in graph order.
    """

    workload: Workload
    skipped: tuple[tuple[str, str], ...] = ()


class _Unsupported(Exception):
    """A known op in a configuration we do not model; becomes one unsupported-op entry."""

    def __init__(self, op: str) -> None:
        super().__init__(op)
        self.op = op


@dataclass(frozen=True, slots=True)
class _Emit:
    """One layer produced by a graph node.

    ``reads``: graph nodes whose data the layer consumes (``None``: all inputs of the node);
    ``after``: positions of earlier layers of the same node that it consumes; ``exit``: whether
    the node's output comes from this layer.
    """

    layer: Layer
    reads: tuple[fx.Node, ...] | None = None
    after: tuple[int, ...] = ()
    exit: bool = True


def from_torch(module: nn.Module, example_input: Any, *, name: str | None = None,
               skip_unsupported: bool = False) -> Workload:
    """Trace ``module`` on ``example_input`` into a :class:`~hwsim.ir.Workload`.

    :param module: the ``torch.nn.Module`` to trace (it is not modified).
    :param example_input: a tensor, or a tuple / list of tensors given as positional arguments;
        its shapes (batch included) fix every layer's size.
    :param name: the workload's name; defaults to the module's class name.
    :param skip_unsupported: pass over unsupported ops (logged as one warning) instead of
        raising; :func:`trace` returns them.
    :raises UnsupportedOpError: listing every unsupported op with its location.
    :raises WorkloadError: the model cannot be traced or run, or has no GEMM layer.
    """
    result = trace(module, example_input, name=name, skip_unsupported=skip_unsupported)
    if result.skipped:
        listing = "\n".join(f"  - {op} at {where}" for op, where in result.skipped)
        log.warning("workload %r: skipped %d unsupported op(s):\n%s", result.workload.name,
                    len(result.skipped), listing)
    return result.workload


def trace(module: nn.Module, example_input: Any, *, name: str | None = None,
          skip_unsupported: bool = False) -> TraceResult:
    """Like :func:`from_torch`, but also returns the skipped ops; see the module docstring."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch needs a torch.nn.Module, got {type(module).__name__}")
    args = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    cls = type(module)
    label = name or cls.__name__
    model = _private_copy(module)
    gm = _symbolic_trace(model, label, len(args))
    _propagate_shapes(model, gm, args, label)
    builder = _Builder(gm)
    for node in gm.graph.nodes:
        builder.visit(node)
    if builder.unsupported and not skip_unsupported:
        raise UnsupportedOpError(builder.unsupported)
    if not builder.layers:
        raise WorkloadError(f"torch model {label!r}", [Problem(
            "module", cls.__name__,
            "has no GEMM layer (Conv2d, Linear, matmul, attention, LSTM) to cost; its graph "
            f"holds only shape-only or skipped ops ({builder.op_count} call(s))")])
    shapes = ", ".join("x".join(str(d) for d in a.shape) if isinstance(a, torch.Tensor)
                       else type(a).__name__ for a in args)
    workload = Workload(label, _attention_names(builder.layers), tuple(sorted(builder.edges)),
                        description=f"torch.fx trace of {cls.__name__} at input {shapes}",
                        source=f"{cls.__module__}.{cls.__qualname__}")
    return TraceResult(workload, tuple(builder.unsupported))


_MATMUL_NAME = re.compile(r"^(?P<scope>.+)\.matmul(_\d+)?$")
_SDPA_NAME = re.compile(r"^(?P<scope>.+)\.scaled_dot_product_attention\.(?P<part>scores|context)$")


def _attention_names(layers: list[Any]) -> tuple[Any, ...]:
    """Attention products named as the zoo names them, so that a design written for a zoo
    network applies to the same network traced: inside a module, two activation products in a
    row that have the shapes of ``q @ k^T`` and ``attn @ v`` (same heads and batch, the first's
    ``n`` the second's ``k``, the first's ``k`` the second's ``n``) become ``<module>.scores``
    and ``<module>.context``; a fused ``scaled_dot_product_attention`` inside a module becomes
    the same pair. A name already taken is left alone."""
    out = list(layers)
    taken = {layer.name for layer in out}

    def rename(i: int, new: str) -> None:
        if new not in taken:
            taken.discard(out[i].name)
            taken.add(new)
            out[i] = dataclasses.replace(out[i], name=new)

    products = [(i, _MATMUL_NAME.match(layer.name)) for i, layer in enumerate(out)
                if isinstance(layer, MatMul)]
    for (i, a), (j, b) in itertools.pairwise(products):
        if a is None or b is None or a.group("scope") != b.group("scope"):
            continue
        s, c = out[i], out[j]
        if (s.heads, s.batch, s.m) == (c.heads, c.batch, c.m) and s.n == c.k and s.k == c.n:
            rename(i, f"{a.group('scope')}.scores")
            rename(j, f"{a.group('scope')}.context")
    for i, layer in enumerate(out):
        match = _SDPA_NAME.match(layer.name)
        if match is not None:
            rename(i, f"{match.group('scope')}.{match.group('part')}")
    return tuple(out)


def _private_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` that shares its parameters, for tracing without touching it.

    Tracing runs ``forward`` on proxies: a module that caches a tensor attribute in ``forward``
    (timm's LeViT attention-bias cache) would otherwise keep a proxy of this trace, and break the
    next one. Buffers and plain attributes are copied (shape propagation may update buffers in
    place); parameters are shared, not copied. A module that cannot be deep-copied is traced as
    it is.
    """
    import copy

    memo: dict[int, Any] = {id(p): p for p in module.parameters()}
    try:
        return copy.deepcopy(module, memo)
    except Exception as exc:  # an attribute that cannot be copied (a lock, a file, ...)
        log.debug("tracing %s in place: deepcopy failed (%s)", type(module).__name__, exc)
        return module


_TOP = "top"
"""Attribute name of a leaf top module (``nn.LSTM``, ...) inside the one-node graph built for it."""


def _symbolic_trace(module: nn.Module, label: str, inputs_count: int) -> fx.GraphModule:
    import torch
    from torch import fx

    tracer = fx.Tracer()
    if tracer.is_leaf_module(module, ""):
        # a torch.nn module is a leaf: do not trace its forward (often data-dependent), call it
        graph = fx.Graph()
        inputs = [graph.placeholder(f"input_{i}") for i in range(inputs_count)]
        graph.output(graph.call_module(_TOP, tuple(inputs)))
        root = torch.nn.Module()
        root.add_module(_TOP, module)
        gm = fx.GraphModule(root, graph, type(module).__name__)
        gm.meta[_TOP] = True
        return gm
    tracer.record_stack_traces = True  # gives unsupported ops a source line
    try:
        graph = tracer.trace(module)
    except Exception as exc:
        at = _user_line(exc)
        raise WorkloadError(f"torch model {label!r}", [Problem(
            "module", type(module).__name__,
            f"torch.fx could not trace it{at}: {type(exc).__name__}: {exc}. Symbolic tracing "
            "cannot follow Python control flow on tensor values (if/while on a tensor, "
            "len() or iteration of a tensor, converting a tensor to a Python number); rewrite "
            "that part without data-dependent branches or trace a wrapper around the "
            "traceable part")]) from exc
    return fx.GraphModule(tracer.root, graph, type(module).__name__)


def _user_line(exc: BaseException) -> str:
    """`` at file.py:12 (code)`` for the innermost traceback frame in user code, or ''."""
    import torch

    skip = (os.path.dirname(torch.__file__), os.path.dirname(os.path.abspath(__file__)))
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(skip)]
    if not frames:
        return ""
    last = frames[-1]
    return f" at {os.path.basename(last.filename)}:{last.lineno} ({(last.line or '').strip()})"


def _propagate_shapes(module: nn.Module, gm: fx.GraphModule, args: tuple[Any, ...],
                      label: str) -> None:
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    from hwsim.ir.torch_calls import gemm_logger

    class _ShapeProp(ShapeProp):  # remembers the node being run, for the error message
        current: fx.Node | None = None

        def run_node(self, n: fx.Node) -> Any:
            self.current = n
            if n.op != "call_function" or not _is_wrapped(n.target):
                return super().run_node(n)
            with gemm_logger(weights) as logger:  # a function fx cannot see into
                result = super().run_node(n)
            n.meta[_GEMM_CALLS] = tuple(logger.calls)
            return result

    weights = frozenset(t.untyped_storage().data_ptr()
                        for t in (*gm.parameters(), *gm.buffers()))
    prop = _ShapeProp(gm)
    modes = [(m, m.training) for m in module.modules()]
    gm.eval()  # the graph module shares its submodules: keep BatchNorm statistics untouched
    try:
        with torch.no_grad():
            prop.propagate(*args)
    except Exception as exc:
        cause = exc.__cause__ or exc  # ShapeProp wraps the model's own error
        at = f" at {_where(prop.current)}" if prop.current is not None else ""
        raise WorkloadError(f"torch model {label!r}", [Problem(
            "example_input", _describe(args),
            f"running the traced model on it failed{at}: {type(cause).__name__}: {cause}")]
        ) from exc
    finally:
        for m, training in modes:
            m.training = training


_GEMM_CALLS = "hwsim_gemm_calls"
"""``node.meta`` key: the :class:`~hwsim.ir.torch_calls.GemmCall` list of a wrapped function."""


def _is_wrapped(target: Any) -> bool:
    """A Python function from outside torch called as one graph node: ``torch.fx.wrap`` hid it."""
    module = str(getattr(target, "__module__", None) or "")
    return inspect.isfunction(target) and not (module == "torch" or module.startswith("torch."))


def _describe(args: tuple[Any, ...]) -> str:
    return ", ".join(f"{type(a).__name__}{tuple(getattr(a, 'shape', ()))}" for a in args)


@functools.cache
def _resolve(dotted: tuple[str, ...]) -> frozenset[Any]:
    """The objects at the given dotted paths (paths this torch version lacks are left out)."""
    out = set()
    for path in dotted:
        module_name, _, attr = path.rpartition(".")
        obj = getattr(importlib.import_module(module_name), attr, None)
        if obj is not None:
            out.add(obj)
    return frozenset(out)


@functools.cache
def _shape_module_types() -> tuple[type, ...]:
    import torch

    return tuple(t for n in _SHAPE_MODULES if isinstance(t := getattr(torch.nn, n, None), type))


def _public_name(target: Any) -> str:
    """``torch.fft.fft`` rather than ``torch._C._fft.fft_fft``."""
    for ns_name in _PUBLIC_NAMESPACES:
        ns = importlib.import_module(ns_name)
        for attr in dir(ns):
            if not attr.startswith("_") and getattr(ns, attr, None) is target:
                return f"{ns_name}.{attr}"
    from torch.fx.node import _get_qualified_name

    try:
        return _get_qualified_name(target)
    except Exception:
        return repr(target)


def _class_name(cls: type) -> str:
    import torch

    if getattr(torch.nn, cls.__name__, None) is cls:
        return f"torch.nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _scope(node: fx.Node) -> str:
    """Qualified name of the innermost module whose ``forward`` created ``node`` ('' at root)."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    return str(next(reversed(stack.values()))[0])


def _user_frame(stack_trace: str | None) -> str:
    """``file.py:12: code`` of the innermost frame outside torch, from an fx stack trace."""
    if not stack_trace:
        return ""
    import torch

    torch_dir = os.path.dirname(torch.__file__)
    lines = stack_trace.splitlines()
    found = ""
    for i, line in enumerate(lines):
        match = _FRAME.search(line)
        if match and not match["file"].startswith(torch_dir):
            code = lines[i + 1].strip() if i + 1 < len(lines) else ""
            found = f"{os.path.basename(match['file'])}:{match['line']}"
            found += f": {code}" if code and not _FRAME.search(code) else ""
    return found


def _where(node: fx.Node) -> str:
    gm = node.graph.owning_module
    if node.op == "call_module" and node.target == _TOP and gm is not None and gm.meta.get(_TOP):
        return "the top module (called as a whole)"
    parts = [f"node {node.name!r}"]
    if node.op == "call_module":
        parts.append(f"module {node.target!r}")
    elif scope := _scope(node):
        parts.append(f"in module {scope!r}")
    frame = _user_frame(node.stack_trace)
    return ", ".join(parts) + (f" ({frame})" if frame else "")


def _join(base: str, suffix: str) -> str:
    return f"{base}.{suffix}" if base else suffix


def _arg(node: fx.Node, index: int, key: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(key, default)


def _shape(arg: Any) -> tuple[int, ...]:
    from torch.fx.passes.shape_prop import TensorMetadata

    meta = getattr(arg, "meta", {}).get("tensor_meta")
    if not isinstance(meta, TensorMetadata):
        raise _Unsupported(f"operand {arg!r} that is not a single tensor")
    return tuple(int(d) for d in meta.shape)


def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    if isinstance(value, Sequence) and len(value) == 1 and isinstance(value[0], int):
        return int(value[0]), int(value[0])
    raise _Unsupported(f"{what} {value!r} (expected an int or a pair of ints)")


def _conv(name: str, op: str, x: tuple[int, ...], w: tuple[int, ...], stride: Any,
          padding: Any, dilation: Any, groups: Any, out: tuple[int, ...]) -> Conv2d:
    """A Conv2d record from torch's conv2d arguments; see the module docstring for padding."""
    if len(x) not in (3, 4) or len(w) != 4 or not isinstance(groups, int):
        raise _Unsupported(f"{op} on input {x} with weight {w}")
    batch, (channels, height, width) = (x[0] if len(x) == 4 else 1), x[-3:]
    sh, sw = _pair(stride, f"{op} stride")
    dh, dw = _pair(dilation, f"{op} dilation")
    if sh != sw:
        raise _Unsupported(f"{op} with stride {(sh, sw)} (unequal strides are not modelled)")
    if dh != dw:
        raise _Unsupported(f"{op} with dilation {(dh, dw)} (unequal dilations are not modelled)")
    kh, kw = w[2], w[3]
    if padding == "valid":
        ph = pw = 0
    elif padding == "same":
        # torch pads dilation*(k-1) in total, the odd one on the far side
        th, tw = dh * (kh - 1), dw * (kw - 1)
        if th % 2 or tw % 2:
            raise _Unsupported(f"{op} with padding='same' and kernel {(kh, kw)}, dilation "
                               f"{dh}: torch pads asymmetrically, which is not modelled")
        ph, pw = th // 2, tw // 2
    else:
        ph, pw = _pair(padding, f"{op} padding")
    pad = min(ph, pw)
    layer = Conv2d(name, channels, w[0], height + 2 * (ph - pad), width + 2 * (pw - pad), kh, kw,
                   stride=sh, padding=pad, dilation=dh, groups=groups, batch=batch)
    if (layer.out_height, layer.out_width) != out[-2:]:
        raise _Unsupported(f"{op} whose output {out} does not match the modelled "
                           f"{layer.out_height}x{layer.out_width}")
    return layer


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    import torch

    return tuple(torch.broadcast_shapes(a, b))


class _Builder:
    """Walks the shape-annotated graph once, in order, collecting layers, edges and problems."""

    def __init__(self, gm: fx.GraphModule) -> None:
        self.gm = gm
        self.layers: list[Layer] = []
        self.edges: set[tuple[int, int]] = set()
        self.unsupported: list[tuple[str, str]] = []
        self.op_count = 0
        self._producers: dict[fx.Node, frozenset[int]] = {}
        self._param: dict[fx.Node, bool] = {}
        self._names: set[str] = set()
        self._matmul = _resolve(_MATMUL_FUNCTIONS)
        self._addmm = _resolve(_ADDMM_FUNCTIONS)
        self._linear = _resolve(_LINEAR_FUNCTIONS)
        self._conv = _resolve(_CONV_FUNCTIONS)
        self._sdpa = _resolve(_SDPA_FUNCTIONS)
        self._einsum = _resolve(_EINSUM_FUNCTIONS)
        self._shape_fns = _resolve(_SHAPE_FUNCTIONS)

    # -- graph walk -------------------------------------------------------------------------

    def visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            self._producers[node], self._param[node] = frozenset(), False
        elif node.op == "get_attr":
            self._producers[node], self._param[node] = frozenset(), True
        elif node.op in ("call_module", "call_function", "call_method"):
            self.op_count += 1
            try:
                emits = self._emits(node)
            except _Unsupported as exc:
                self.unsupported.append((exc.op, _where(node)))
                emits = []
            if emits:
                self._add(node, emits)
            else:
                self._pass_through(node)

    def _emits(self, node: fx.Node) -> list[_Emit]:
        """Layers for a GEMM node, ``[]`` for a shape-only node; raises for anything else."""
        if node.op == "call_module":
            return self._module_emits(node)
        target = node.target
        if node.op == "call_method":
            assert isinstance(target, str)
            if target in _MATMUL_METHODS:
                return self._matmul_emits(node, node.args[0], node.args[1])
            if target in _ADDMM_METHODS:
                return self._matmul_emits(node, node.args[1], node.args[2])
            if target in _SHAPE_METHODS:
                return []
            raise _Unsupported(f"Tensor.{target}")
        if target in self._matmul:
            return self._matmul_emits(node, _arg(node, 0, "input"), _arg(node, 1, "other"))
        if target in self._addmm:
            return self._matmul_emits(node, _arg(node, 1, "mat1"), _arg(node, 2, "mat2"))
        if target in self._linear:
            return self._linear_emits(node)
        if target in self._conv:
            return self._conv_fn_emits(node)
        if target in self._sdpa:
            return self._sdpa_emits(node)
        if target in self._einsum:
            return self._einsum_emits(node)
        if target in self._shape_fns:
            return []
        if _is_wrapped(target):
            if getattr(target, "__name__", "") in _IDENTITY_WRAPPED:
                return []
            return self._wrapped_emits(node)
        raise _Unsupported(_public_name(target))

    def _pass_through(self, node: fx.Node) -> None:
        inputs = node.all_input_nodes
        carries = node.meta.get("tensor_meta") is not None
        # size(), shape and other non-tensor results carry no data between layers
        self._producers[node] = frozenset().union(
            *(self._producers.get(n, frozenset()) for n in inputs)) if carries else frozenset()
        self._param[node] = bool(inputs) and all(self._param.get(n, False) for n in inputs)

    def _add(self, node: fx.Node, emits: list[_Emit]) -> None:
        first = len(self.layers)
        for i, emit in enumerate(emits):
            index = first + i
            reads = node.all_input_nodes if emit.reads is None else emit.reads
            sources = set().union(*(self._producers.get(n, frozenset()) for n in reads))
            sources.update(first + a for a in emit.after)
            self.edges.update((s, index) for s in sources)
            self.layers.append(emit.layer)
        self._producers[node] = frozenset(first + i for i, e in enumerate(emits) if e.exit)
        self._param[node] = False

    def _name(self, base: str) -> str:
        name, calls = base, 0
        while name in self._names:
            calls += 1
            name = f"{base}:{calls}"
        self._names.add(name)
        return name

    def _fn_name(self, node: fx.Node, suffix: str = "") -> str:
        scope = _scope(node)
        return self._name(f"{scope}.{node.name}{suffix}" if scope else f"{node.name}{suffix}")

    # -- modules ----------------------------------------------------------------------------

    def _module_emits(self, node: fx.Node) -> list[_Emit]:
        import torch

        assert isinstance(node.target, str)
        mod = self.gm.get_submodule(node.target)
        # a leaf top module is called as one node: its records carry its own qualified names
        base = "" if node.target == _TOP and self.gm.meta.get(_TOP) else node.target
        if isinstance(mod, torch.nn.Conv2d):
            x = _arg(node, 0, "input")
            layer = _conv(self._name(base or type(mod).__name__), _class_name(type(mod)),
                          _shape(x), tuple(mod.weight.shape), mod.stride, mod.padding,
                          mod.dilation, mod.groups, _shape(node))
            return [_Emit(layer)]
        if isinstance(mod, torch.nn.Linear):
            x = _shape(_arg(node, 0, "input"))
            tokens = math.prod(x[:-1])
            return [_Emit(Linear(self._name(base or type(mod).__name__), mod.in_features,
                                 mod.out_features, tokens))]
        if isinstance(mod, torch.nn.LSTM):
            return self._lstm_emits(node, base, mod)
        if isinstance(mod, torch.nn.MultiheadAttention):
            return self._mha_emits(node, base, mod)
        if isinstance(mod, torch.nn.TransformerEncoderLayer):
            return self._encoder_emits(node, [(base, mod)])
        if isinstance(mod, torch.nn.TransformerEncoder):
            return self._encoder_emits(node, [(_join(base, f"layers.{i}"), layer)
                                              for i, layer in enumerate(mod.layers)])
        if isinstance(mod, _shape_module_types()):
            return []
        raise _Unsupported(_class_name(type(mod)))

    def _lstm_emits(self, node: fx.Node, base: str, mod: nn.LSTM) -> list[_Emit]:
        if mod.proj_size:
            raise _Unsupported(f"torch.nn.LSTM with proj_size={mod.proj_size} "
                               "(LstmCell has no projection)")
        x_node = _arg(node, 0, "input")
        x = _shape(x_node)
        if len(x) == 3:
            batch, steps = (x[0], x[1]) if mod.batch_first else (x[1], x[0])
        elif len(x) == 2:
            batch, steps = 1, x[0]
        else:
            raise _Unsupported(f"torch.nn.LSTM on a {len(x)}-D input {x}")
        directions = 2 if mod.bidirectional else 1
        state = tuple(n for n in node.all_input_nodes if n is not x_node)
        emits: list[_Emit] = []
        for level in range(mod.num_layers):
            in_size = mod.input_size if level == 0 else mod.hidden_size * directions
            below = tuple(range(len(emits) - directions, len(emits))) if level else ()
            for direction in range(directions):
                suffix = f"l{level}" + ("_reverse" if direction else "")
                layer = LstmCell(self._name(_join(base, suffix)), in_size, mod.hidden_size,
                                 steps=steps, batch=batch)
                reads = state if level else (x_node, *state)
                emits.append(_Emit(layer, reads, below, exit=level == mod.num_layers - 1))
        return emits

    def _attention(self, base: str, mod: nn.MultiheadAttention, sizes: tuple[int, int, int],
                   reads: tuple[tuple[fx.Node, ...], ...], first: int,
                   before: tuple[int, ...] = ()) -> list[_Emit]:
        """The six records of multi-head attention; ``sizes`` = (batch, q_len, kv_len),
        ``reads`` = nodes read by q, k, v and the scores (masks); ``first``: position of the
        first record among the node's records; ``before``: earlier records q, k, v read."""
        batch, q_len, kv_len = sizes
        kv_len += (mod.bias_k is not None) + bool(mod.add_zero_attn)
        heads, embed = mod.num_heads, mod.embed_dim
        head_dim = embed // heads
        q, k, v, o = first, first + 1, first + 2, first + 3
        return [
            _Emit(Linear(self._name(_join(base, "q_proj")), embed, embed, q_len * batch),
                  reads[0], before, exit=False),
            _Emit(Linear(self._name(_join(base, "k_proj")), mod.kdim, embed, kv_len * batch),
                  reads[1], before, exit=False),
            _Emit(Linear(self._name(_join(base, "v_proj")), mod.vdim, embed, kv_len * batch),
                  reads[2], before, exit=False),
            _Emit(MatMul(self._name(_join(base, "scores")), q_len, kv_len, head_dim, heads,
                         batch), reads[3], (q, k), exit=False),
            _Emit(MatMul(self._name(_join(base, "context")), q_len, head_dim, kv_len, heads,
                         batch), (), (v, o), exit=False),
            _Emit(Linear(self._name(_join(base, "out_proj")), embed, embed, q_len * batch),
                  (), (first + 4,)),
        ]

    def _mha_emits(self, node: fx.Node, base: str, mod: nn.MultiheadAttention) -> list[_Emit]:
        q_node, k_node, v_node = (_arg(node, 0, "query"), _arg(node, 1, "key"),
                                  _arg(node, 2, "value"))
        q, k = _shape(q_node), _shape(k_node)
        if len(q) == 3:
            batch, q_len = (q[0], q[1]) if mod.batch_first else (q[1], q[0])
            kv_len = k[1] if mod.batch_first else k[0]
        else:
            batch, q_len, kv_len = 1, q[0], k[0]
        masks = tuple(n for n in node.all_input_nodes if n not in (q_node, k_node, v_node))
        return self._attention(base, mod, (batch, q_len, kv_len),
                               ((q_node,), (k_node,), (v_node,), masks), 0)

    def _encoder_emits(self, node: fx.Node,
                       layers: list[tuple[str, nn.TransformerEncoderLayer]]) -> list[_Emit]:
        """Self-attention, ``linear1`` and ``linear2`` of each encoder layer, in order."""
        x_node = _arg(node, 0, "src")
        x = _shape(x_node)
        masks = tuple(n for n in node.all_input_nodes if n is not x_node)
        emits: list[_Emit] = []
        for i, (base, layer) in enumerate(layers):
            attn = layer.self_attn
            if len(x) == 3:
                batch, seq = (x[0], x[1]) if attn.batch_first else (x[1], x[0])
            elif len(x) == 2:
                batch, seq = 1, x[0]
            else:
                raise _Unsupported(f"{_class_name(type(layer))} on a {len(x)}-D input {x}")
            first = len(emits)
            reads = (x_node,) if i == 0 else ()
            # the previous layer's output is its linear2 plus the residual through out_proj
            before = (first - 3, first - 1) if i else ()
            emits += self._attention(_join(base, "self_attn"), attn, (batch, seq, seq),
                                     (reads, reads, reads, masks), first, before)
            tokens = seq * batch
            emits.append(_Emit(Linear(self._name(_join(base, "linear1")),
                                      layer.linear1.in_features, layer.linear1.out_features,
                                      tokens), (), (first + 5,), exit=False))
            emits.append(_Emit(Linear(self._name(_join(base, "linear2")),
                                      layer.linear2.in_features, layer.linear2.out_features,
                                      tokens), (), (first + 6,), exit=i == len(layers) - 1))
        return emits

    # -- functions --------------------------------------------------------------------------

    def _is_param(self, arg: Any) -> bool:
        return bool(self._param.get(arg, False))

    def _matmul_emits(self, node: fx.Node, a_node: Any, b_node: Any) -> list[_Emit]:
        a, b = _shape(a_node), _shape(b_node)
        if self._is_param(b_node) and not self._is_param(a_node) and len(b) <= 2:
            out = b[-1] if len(b) == 2 else 1
            tokens = math.prod(a[:-1])
            return [_Emit(Linear(self._fn_name(node), b[0], out, tokens))]
        if self._is_param(a_node) and not self._is_param(b_node) and len(a) <= 2:
            # W (M x K) @ x (... x K x N) is x^T W^T: N * leading tokens, K -> M features
            out = a[0] if len(a) == 2 else 1
            tokens = math.prod(b[:-2]) * b[-1] if len(b) >= 2 else 1
            return [_Emit(Linear(self._fn_name(node), a[-1], out, tokens))]
        m = a[-2] if len(a) >= 2 else 1
        n = b[-1] if len(b) >= 2 else 1
        leading = _broadcast(a[:-2], b[:-2])
        batch = leading[0] if leading else 1
        heads = math.prod(leading[1:])
        return [_Emit(MatMul(self._fn_name(node), m, n, a[-1], heads, batch))]

    def _linear_emits(self, node: fx.Node) -> list[_Emit]:
        x_node, w_node = _arg(node, 0, "input"), _arg(node, 1, "weight")
        x, w = _shape(x_node), _shape(w_node)
        out = w[0] if len(w) == 2 else 1
        tokens = math.prod(x[:-1])
        if self._is_param(w_node):
            return [_Emit(Linear(self._fn_name(node), w[-1], out, tokens))]
        return [_Emit(MatMul(self._fn_name(node), tokens, out, w[-1]))]

    def _conv_fn_emits(self, node: fx.Node) -> list[_Emit]:
        layer = _conv(self._fn_name(node), _public_name(node.target),
                      _shape(_arg(node, 0, "input")), _shape(_arg(node, 1, "weight")),
                      _arg(node, 3, "stride", 1), _arg(node, 4, "padding", 0),
                      _arg(node, 5, "dilation", 1), _arg(node, 6, "groups", 1), _shape(node))
        return [_Emit(layer)]

    def _sdpa_emits(self, node: fx.Node) -> list[_Emit]:
        q_node, k_node, v_node = (_arg(node, 0, "query"), _arg(node, 1, "key"),
                                  _arg(node, 2, "value"))
        q, k, v = _shape(q_node), _shape(k_node), _shape(v_node)
        q_len, kv_len = q[-2], k[-2]
        leading = q[:-2]
        batch = leading[0] if leading else 1
        heads = math.prod(leading[1:])
        masks = tuple(n for n in node.all_input_nodes if n not in (q_node, k_node, v_node))
        return [
            _Emit(MatMul(self._fn_name(node, ".scores"), q_len, kv_len, q[-1], heads, batch),
                  (q_node, k_node, *masks), exit=False),
            _Emit(MatMul(self._fn_name(node, ".context"), q_len, v[-1], kv_len, heads, batch),
                  (v_node,), (0,)),
        ]

    def _einsum_emits(self, node: fx.Node) -> list[_Emit]:
        from hwsim.ir.torch_calls import einsum_gemm

        equation = _arg(node, 0, "equation")
        operands = tuple(node.args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = tuple(operands[0])
        if not isinstance(equation, str):
            raise _Unsupported(f"torch.einsum with equation {equation!r} (not a constant string)")
        try:
            if len(operands) != 2:
                raise ValueError(f"has {len(operands)} operand(s); a GEMM has two")
            a_node, b_node = operands
            g = einsum_gemm(equation, _shape(a_node), _shape(b_node))
        except ValueError as exc:
            raise _Unsupported(f"torch.einsum({equation!r}): {exc}; only two-operand "
                               "GEMM-shaped equations (batch, row, column and summed indices) "
                               "are modelled") from exc
        name = self._fn_name(node)
        if not g.batch and self._is_param(b_node) and not self._is_param(a_node):
            return [_Emit(Linear(name, g.k, g.n, g.m))]
        if not g.batch and self._is_param(a_node) and not self._is_param(b_node):
            return [_Emit(Linear(name, g.k, g.m, g.n))]
        batch = g.batch[0] if g.batch else 1
        return [_Emit(MatMul(name, g.m, g.n, g.k, math.prod(g.batch[1:]), batch))]

    def _wrapped_emits(self, node: fx.Node) -> list[_Emit]:
        """Records of the GEMMs a ``torch.fx.wrap`` function ran during shape propagation,
        chained in call order (fx cannot see the data flow inside the function)."""
        fn = _public_name(node.target)
        scope = _scope(node)
        base = f"{scope}.{node.name}" if scope else node.name
        seen: Counter[str] = Counter()

        def name(kind: str) -> str:
            seen[kind] += 1
            return self._name(f"{base}.{kind}" + (f"_{seen[kind] - 1}" if seen[kind] > 1 else ""))

        layers: list[Layer] = []
        for call in node.meta.get(_GEMM_CALLS, ()):
            shapes = call.shapes
            if call.op in ("mm", "addmm"):
                (m, k), (_, n) = shapes
                layers.append(Linear(name("linear"), k, n, m) if call.weight
                              else MatMul(name("matmul"), m, n, k))
            elif call.op in ("bmm", "baddbmm"):
                (b, m, k), (_, _, n) = shapes
                layers.append(MatMul(name("matmul"), m, n, k, batch=b))
            elif call.op == "convolution":
                x, w, out = shapes
                stride, padding, dilation, transposed, groups = call.conv
                if transposed or len(w) != 4:
                    raise _Unsupported(f"{fn}, which runs aten.convolution on input {x} with "
                                       f"weight {w}{' (transposed)' if transposed else ''}: "
                                       "only 2-D convolutions are modelled")
                layers.append(_conv(name("conv2d"), f"aten.convolution in {fn}", x, w, stride,
                                    padding, dilation, groups, out))
            else:  # a fused scaled_dot_product kernel: scores, then context
                q, k_, v = shapes
                lead = q[:-2]
                batch, heads = (lead[0] if lead else 1), math.prod(lead[1:])
                layers.append(MatMul(name("sdpa.scores"), q[-2], k_[-2], q[-1], heads, batch))
                layers.append(MatMul(name("sdpa.context"), q[-2], v[-1], k_[-2], heads, batch))
        last = len(layers) - 1
        return [_Emit(layer, None if i == 0 else (), (i - 1,) if i else (), exit=i == last)
                for i, layer in enumerate(layers)]

__all__ = ["TraceResult", "from_torch", "trace"]
