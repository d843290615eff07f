"""Helpers of the torch front end: einsum equations as GEMMs, and GEMM calls logged at run time.

* :func:`einsum_gemm` splits a two-operand einsum equation into batch, row (``m``), column
  (``n``) and contracted (``k``) indices; pure Python.
* :class:`GemmCall` and :func:`gemm_logger` record the GEMM-shaped aten ops (``mm``, ``bmm``,
  ``addmm``, ``baddbmm``, ``convolution``, the fused ``scaled_dot_product`` kernels) that a
  function hidden from torch.fx (``torch.fx.wrap``) runs, through a
  ``torch.utils._python_dispatch.TorchDispatchMode``. torch is imported inside the functions, so
  importing this module does not import torch.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EinsumGemm:
    """The GEMM of a two-operand einsum: index sizes grouped by role.

    ``batch``: in both operands and the output; ``m``: in the first operand and the output;
    ``n``: in the second operand and the output; ``k``: in both operands, summed.
    MACs = product of all of them.
    """

    batch: tuple[int, ...]
    m: int
    n: int
    k: int


def _expand(term: str, rank: int, ell: str) -> str:
    if term.count("...") > 1 or "." in term.replace("...", ""):
        raise ValueError(f"malformed term {term!r}")
    if "..." not in term:
        if len(term) != rank:
            raise ValueError(f"term {term!r} does not match an operand of rank {rank}")
        return term
    free = rank - (len(term) - 3)
    if free < 0:
        raise ValueError(f"term {term!r} does not match an operand of rank {rank}")
    return term.replace("...", ell[len(ell) - free:] if free else "")


def einsum_gemm(equation: str, a: tuple[int, ...], b: tuple[int, ...]) -> EinsumGemm:
    """Split ``equation`` on operands of shapes ``a`` and ``b`` into a GEMM.

    :raises ValueError: the equation is not GEMM-shaped (not two operands, an index repeated
        within an operand, an index summed over in one operand alone, no contracted index); the
        message says why.
    """
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != 2:
        raise ValueError(f"has {len(terms)} operand(s); a GEMM has two")
    spare = [c for c in string.ascii_letters if c not in eq]
    ell_rank = max((len(s) - (len(t) - 3) for t, s in zip(terms, (a, b), strict=True)
                    if "..." in t), default=0)
    ell = "".join(spare[:max(ell_rank, 0)])
    ta, tb = (_expand(t, len(s), ell) for t, s in zip(terms, (a, b), strict=True))
    for term in (ta, tb):
        if len(set(term)) != len(term):
            raise ValueError(f"repeats an index within operand {term!r} (a diagonal)")
    if arrow:
        to = out.replace("...", ell) if "..." in out else out
    else:  # implicit output: broadcast dims, then the indices seen once, sorted
        once = sorted(c for c in set(ta + tb) if (ta + tb).count(c) == 1 and c not in ell)
        to = ell + "".join(once)
    if len(set(to)) != len(to) or any(c not in ta + tb for c in to):
        raise ValueError(f"has an invalid output {to!r}")
    sizes: dict[str, int] = {}
    for term, shape in ((ta, a), (tb, b)):
        for c, d in zip(term, shape, strict=True):
            sizes[c] = max(sizes.get(c, 1), int(d))
    batch: list[int] = []
    m: list[int] = []
    n: list[int] = []
    k: list[int] = []
    for c in dict.fromkeys(to + ta + tb):
        in_a, in_b, in_out = c in ta, c in tb, c in to
        if in_a and in_b:
            (batch if in_out else k).append(sizes[c])
        elif in_out:
            (m if in_a else n).append(sizes[c])
        else:
            raise ValueError(f"sums index {c!r} of one operand alone (not a GEMM)")
    if not k:
        raise ValueError("contracts no index (an element-wise or outer product, not a GEMM)")
    return EinsumGemm(tuple(batch), math.prod(m), math.prod(n), math.prod(k))


@dataclass(frozen=True, slots=True)
class GemmCall:
    """One GEMM-shaped aten op seen while a function ran.

    ``op``: the aten op's name (``mm``, ``bmm``, ``addmm``, ``baddbmm``, ``convolution``, or a
    ``_scaled_dot_product_*`` kernel); ``shapes``: the shapes of its tensor operands in order
    (bias excluded: ``(a, b)`` for the products, ``(input, weight, output)`` for convolution,
    ``(q, k, v)`` for attention); ``weight``: whether the second operand of a product is (a view
    of) a parameter or buffer; ``conv``: ``(stride, padding, dilation, transposed, groups)`` of a
    convolution.
    """

    op: str
    shapes: tuple[tuple[int, ...], ...]
    weight: bool = False
    conv: tuple[Any, ...] = ()


_PRODUCTS = {"mm": (0, 1), "bmm": (0, 1), "addmm": (1, 2), "baddbmm": (1, 2)}


def gemm_logger(weight_storages: frozenset[int]) -> Any:
    """A dispatch mode whose ``calls`` list fills with a :class:`GemmCall` per GEMM-shaped op.

    ``weight_storages``: ``untyped_storage().data_ptr()`` of the model's parameters and buffers,
    to tell a weight operand from an activation.
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    def shape(t: Any) -> tuple[int, ...]:
        return tuple(int(d) for d in t.shape)

    def is_weight(t: Any) -> bool:
        return isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() in weight_storages

    class _GemmLogger(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[GemmCall] = []

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            name = func.overloadpacket.__name__
            if name in _PRODUCTS:
                i, j = _PRODUCTS[name]
                self.calls.append(GemmCall(name, (shape(args[i]), shape(args[j])),
                                           is_weight(args[j]) and not is_weight(args[i])))
            elif name == "convolution":
                self.calls.append(GemmCall(name, (shape(args[0]), shape(args[1]), shape(out)),
                                           conv=(args[3], args[4], args[5], args[6], args[8])))
            elif "scaled_dot_product" in name and "backward" not in name:
                self.calls.append(GemmCall(name, tuple(shape(t) for t in args[:3])))
            return out

    return _GemmLogger()


__all__ = ["EinsumGemm", "GemmCall", "einsum_gemm", "gemm_logger"]
