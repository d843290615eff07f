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
  - ``F.scaled_dot_product_attention`` -> two :class:`MatMul` (``.scores`` and ``.context``);
  - ``nn.MultiheadAttention`` -> ``q_proj``, ``k_proj``, ``v_proj`` (:class:`Linear`),
    ``scores``, ``context`` (:class:`MatMul`), ``out_proj`` (:class:`Linear`);
  - ``nn.LSTM`` -> one :class:`LstmCell` per layer and direction (``<name>.l0``,
    ``<name>.l0_reverse``, ...), ``steps`` = sequence length, ``batch_first`` respected; a
    layer above the first reads ``hidden_size * num_directions`` features. ``proj_size > 0`` is
    reported as unsupported (the record has no projection).

* a **shape-only op** on an explicit allow-list (activations, norms, pooling, dropout, residual
  add, cat, view/reshape/flatten/permute, getitem, size, softmax, element-wise maths, ...): no
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
  above (``nn.Embedding``, ``nn.Conv1d``, ``nn.GRU``, ``nn.TransformerEncoderLayer``, ...) is
  reported as unsupported by its class name; user modules are traced through.
* The graph is traced in the module's current mode (call ``model.eval()`` first for an inference
  graph if ``forward`` branches on ``self.training``); shape propagation runs in eval mode under
  ``torch.no_grad()`` and restores every submodule's mode afterwards, so BatchNorm statistics
  are not touched.
* A multi-layer op (LSTM, attention) hands its output on from its last layer(s) only, e.g. an
  LSTM's ``h_n`` is attributed to the top layer.
* ``example_input``: one tensor, or a tuple / list of tensors passed as positional arguments.
"""

from __future__ import annotations

import functools
import importlib
import logging
import math
import os
import re
import traceback
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
        "full", "zeros_like", "ones_like", "full_like", "arange")),
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
    "new_full", "new_empty",
))
"""Tensor methods that are shape-only ops."""

_MATMUL_FUNCTIONS = ("operator.matmul", "torch.matmul", "torch.mm", "torch.bmm")
_MATMUL_METHODS = frozenset(("matmul", "mm", "bmm"))
_ADDMM_FUNCTIONS = ("torch.addmm", "torch.baddbmm")  # (bias, a, b)
_ADDMM_METHODS = frozenset(("addmm", "baddbmm"))
_LINEAR_FUNCTIONS = ("torch.nn.functional.linear",)
_CONV_FUNCTIONS = ("torch.nn.functional.conv2d", "torch.conv2d")
_SDPA_FUNCTIONS = ("torch.nn.functional.scaled_dot_product_attention",)

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
    gm = _symbolic_trace(module, label)
    _propagate_shapes(module, gm, args, label)
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
    workload = Workload(label, tuple(builder.layers), tuple(sorted(builder.edges)),
                        description=f"torch.fx trace of {cls.__name__} at input {shapes}",
                        source=f"{cls.__module__}.{cls.__qualname__}")
    return TraceResult(workload, tuple(builder.unsupported))


def _symbolic_trace(module: nn.Module, label: str) -> fx.GraphModule:
    from torch import fx

    tracer = fx.Tracer()
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

    class _ShapeProp(ShapeProp):  # remembers the node being run, for the error message
        current: fx.Node | None = None

        def run_node(self, n: fx.Node) -> Any:
            self.current = n
            return super().run_node(n)

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
    parts = [f"node {node.name!r}"]
    if node.op == "call_module":
        parts.append(f"module {node.target!r}")
    elif scope := _scope(node):
        parts.append(f"in module {scope!r}")
    frame = _user_frame(node.stack_trace)
    return ", ".join(parts) + (f" ({frame})" if frame else "")


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
        if target in self._shape_fns:
            return []
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
        if isinstance(mod, torch.nn.Conv2d):
            x = _arg(node, 0, "input")
            layer = _conv(self._name(node.target), _class_name(type(mod)), _shape(x),
                          tuple(mod.weight.shape), mod.stride, mod.padding, mod.dilation,
                          mod.groups, _shape(node))
            return [_Emit(layer)]
        if isinstance(mod, torch.nn.Linear):
            x = _shape(_arg(node, 0, "input"))
            tokens = math.prod(x[:-1])
            return [_Emit(Linear(self._name(node.target), mod.in_features, mod.out_features,
                                 tokens))]
        if isinstance(mod, torch.nn.LSTM):
            return self._lstm_emits(node, mod)
        if isinstance(mod, torch.nn.MultiheadAttention):
            return self._mha_emits(node, mod)
        if isinstance(mod, _shape_module_types()):
            return []
        raise _Unsupported(_class_name(type(mod)))

    def _lstm_emits(self, node: fx.Node, mod: nn.LSTM) -> list[_Emit]:
        assert isinstance(node.target, str)
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
                suffix = f".l{level}" + ("_reverse" if direction else "")
                layer = LstmCell(self._name(node.target + suffix), in_size, mod.hidden_size,
                                 steps=steps, batch=batch)
                reads = state if level else (x_node, *state)
                emits.append(_Emit(layer, reads, below, exit=level == mod.num_layers - 1))
        return emits

    def _mha_emits(self, node: fx.Node, mod: nn.MultiheadAttention) -> list[_Emit]:
        assert isinstance(node.target, str)
        q_node, k_node, v_node = (_arg(node, 0, "query"), _arg(node, 1, "key"),
                                  _arg(node, 2, "value"))
        q, k = _shape(q_node), _shape(k_node)
        if len(q) == 3:
            batch, q_len = (q[0], q[1]) if mod.batch_first else (q[1], q[0])
            kv_len = k[1] if mod.batch_first else k[0]
        else:
            batch, q_len, kv_len = 1, q[0], k[0]
        kv_len += (mod.bias_k is not None) + bool(mod.add_zero_attn)
        heads, embed = mod.num_heads, mod.embed_dim
        head_dim = embed // heads
        masks = tuple(n for n in node.all_input_nodes if n not in (q_node, k_node, v_node))
        base = node.target
        return [
            _Emit(Linear(self._name(f"{base}.q_proj"), embed, embed, q_len * batch),
                  (q_node,), exit=False),
            _Emit(Linear(self._name(f"{base}.k_proj"), mod.kdim, embed, kv_len * batch),
                  (k_node,), exit=False),
            _Emit(Linear(self._name(f"{base}.v_proj"), mod.vdim, embed, kv_len * batch),
                  (v_node,), exit=False),
            _Emit(MatMul(self._name(f"{base}.scores"), q_len, kv_len, head_dim, heads, batch),
                  masks, (0, 1), exit=False),
            _Emit(MatMul(self._name(f"{base}.context"), q_len, head_dim, kv_len, heads, batch),
                  (), (2, 3), exit=False),
            _Emit(Linear(self._name(f"{base}.out_proj"), embed, embed, q_len * batch),
                  (), (4,)),
        ]

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


__all__ = ["TraceResult", "from_torch", "trace"]
