"""Compress a torch model as a design says: fake quantisation, SVD / Tucker-2, N3H-Core's split.

One design, one network, two views: :func:`compress_model` builds the model whose GEMMs
``hwsim`` costs for the same design (``design.apply_to(from_torch(model, x))``); tracing the
compressed model with :func:`hwsim.ir.from_torch` gives the same GEMM multiset.

Transforms, per design layer (matched to the model by the names :func:`~hwsim.ir.from_torch`
gives, e.g. ``conv1``, ``layer1.0.conv1``, ``lstm.l0``):

* **Weights**: per-output-channel symmetric uniform quantisation with the scale set by the row's
  largest magnitude (Jacob et al., CVPR'18, restricted symmetric range; Krishnamoorthi 2018 for
  per-channel scales). ``b >= 2`` bits: ``q = s * clamp(round(w/s), -Q, Q)``, ``Q = 2^(b-1)-1``,
  ``s = max|w|/Q``; ``b = 1``: the two levels ``+-max|w|/2`` (a mid-rise grid, so every element
  is within half a step of its level). The grid is fixed when the model is compressed; under
  fine-tuning the weights stay float and are re-quantised on every forward, the gradient passing
  straight through the rounding (STE, Bengio, Leonard and Courville 2013), via
  ``torch.nn.utils.parametrize``.
* **N3H-Core's channel assignment** (Gong et al., FPGA'22; REFERENCE.md section 1): the
  ``n_L = round(n * lut_fraction)`` output channels whose weights quantise best at
  ``weight_bits`` (smallest relative error ``||w_c - Q(w_c)||^2 / ||w_c||^2``) go to the LUT core
  at ``weight_bits``; the others stay on the DSP core at 8 bits.
* **Activations**: the input of every GEMM (and of every factor of a low-rank layer) is
  quantised per tensor at ``act_bits``, with the range calibrated on a batch (min/max, as
  Jacob et al.): unsigned ``[0, max]`` when the calibration batch has no negative value, else
  symmetric like the weights. An LSTM's input is quantised; its recurrent state stays float
  (``nn.LSTM`` is one fused op), so the ``act_bits`` of layers above the first have no effect.
* **Low rank** (REFERENCE.md section 5): ``Linear`` by truncated SVD into ``in -> r -> out``,
  the singular values split evenly between the two factors (optimal in Frobenius norm,
  Eckart-Young 1936); dense ``Conv2d`` by Tucker-2 on the channel modes (Kim et al., ICLR'16),
  the factors from the HOSVD (De Lathauwer, De Moor and Vandewalle, SIMAX 2000), ranks
  ``r_in = min(r, C_in)``, ``r_out = min(r, C_out)`` as :mod:`hwsim.ir.lowrank`: a 1x1 conv
  ``C_in -> r_in``, the kxk core ``r_in -> r_out`` with the original stride/padding/dilation, a 1x1
  conv ``r_out -> C_out`` carrying the bias. Each factor is then quantised like a layer, with
  ``round(n_factor * lut_fraction)`` of its channels on the LUT core, as the cost model splits
  every GEMM of the layer.

Supported layers: ``nn.Conv2d`` (any groups; rank only for dense ones), ``nn.Linear``, ``nn.LSTM``
(every layer and direction; no ``proj_size``). GEMMs that come from functional calls, weight-less
matrix products (attention scores), ``nn.MultiheadAttention`` and modules called more than once
(one weight cannot take two designs) are reported by :class:`UnsupportedLayerError`, or left
uncompressed with ``skip_unsupported=True``.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from cost_models.design import Design
from hwsim.errors import CodesignError
from hwsim.ir import Conv2d, Linear, LstmCell, Workload
from hwsim.ir.lowrank import full_rank
from hwsim.ir.torch_frontend import trace
from rl_search.accuracy.base import lut_channels, resolve_fractions

log = logging.getLogger(__name__)

DSP_WEIGHT_BITS = 8
"""The DSP core keeps 8-bit weights (N3H-Core)."""

_LSTM_LEVEL = re.compile(r"^(?P<path>.+)\.l(?P<level>\d+)(?P<reverse>_reverse)?$")


class UnsupportedLayerError(CodesignError):
    """GEMM layers of a model that the transforms cannot handle.

    ``layers`` holds ``(layer_name, reason)`` pairs.
    """

    def __init__(self, layers: list[tuple[str, str]]) -> None:
        self.layers = list(layers)
        lines = "\n".join(f"  - {name}: {why}" for name, why in self.layers)
        super().__init__(f"{len(self.layers)} layer(s) cannot be compressed:\n{lines}\n"
                         "pass skip_unsupported=True to leave them uncompressed")


# ----------------------------------------------------------------------------- quantisers

def quant_grid(bits: Any, signed: Any = True) -> tuple[Any, Any, Any, Any, Any]:
    """``(levels, offset, lo, hi, shift)`` of the uniform grid for ``bits`` (array or int).

    A value ``x`` with step ``s`` quantises to ``s * (clamp(floor(x/s + offset), lo, hi) + shift)``.
    Signed ``b >= 2``: mid-tread, integers ``-Q..Q``, ``Q = 2^(b-1)-1`` (``levels = Q``, so
    ``s = max/Q``); signed ``b = 1``: mid-rise, ``+-1/2`` with ``s = max``; unsigned: integers
    ``0..2^b-1`` with ``s = max/(2^b-1)``.
    """
    b = np.asarray(bits, dtype=np.float64)
    sgn = np.asarray(signed, dtype=bool)
    two = b >= 2
    q_signed = np.where(two, 2.0 ** (b - 1) - 1, 1.0)
    levels = np.where(sgn, q_signed, 2.0 ** b - 1)
    offset = np.where(sgn & ~two, 0.0, 0.5)
    lo = np.where(sgn, np.where(two, -q_signed, -1.0), 0.0)
    hi = np.where(sgn, np.where(two, q_signed, 0.0), levels)
    shift = 0.5 - offset
    return levels, offset, lo, hi, shift


_Grid = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _row_grid(w2d: torch.Tensor, bits: torch.Tensor) -> _Grid:
    """Per-row ``(scale, offset, lo, hi, shift)`` column tensors for symmetric quantisation."""
    levels, offset, lo, hi, shift = (torch.as_tensor(v, dtype=w2d.dtype)
                                     for v in quant_grid(bits.cpu().numpy(), True))
    peak = w2d.detach().abs().amax(dim=1)
    scale = torch.where(peak > 0, peak / levels, torch.ones_like(peak))
    return (scale.reshape(-1, 1), offset.reshape(-1, 1), lo.reshape(-1, 1), hi.reshape(-1, 1),
            shift.reshape(-1, 1))


def quantize_rows(w2d: torch.Tensor, bits: int | torch.Tensor) -> torch.Tensor:
    """Per-row symmetric fake quantisation of a 2-D weight matrix (rows = output channels) at
    ``bits`` (one int, or one per row); see the module docstring."""
    b = torch.as_tensor(bits, dtype=torch.int64)
    scale, offset, lo, hi, shift = _row_grid(w2d, b.expand(w2d.shape[0]) if b.ndim == 0 else b)
    q = torch.clamp(torch.floor(w2d / scale + offset), lo, hi)
    return (q + shift) * scale


def row_step(w2d: torch.Tensor, bits: int) -> torch.Tensor:
    """The quantisation step of every row at ``bits`` (``s`` in the module docstring)."""
    return _row_grid(w2d, torch.full((w2d.shape[0],), bits))[0].reshape(-1)


def relative_errors(w2d: torch.Tensor, bits: int) -> torch.Tensor:
    """``||w_c - Q_bits(w_c)||^2 / ||w_c||^2`` per row (0 for an all-zero row), float64."""
    w = w2d.detach().double()
    err = ((w - quantize_rows(w, bits)) ** 2).sum(dim=1)
    energy = (w ** 2).sum(dim=1)
    return torch.where(energy > 0, err / energy.clamp_min(1e-300), torch.zeros_like(err))


def assign_rows(w2d: torch.Tensor, weight_bits: int, n_lut: int) -> torch.Tensor:
    """Per-row bits after N3H-Core's assignment: the ``n_lut`` rows with the smallest relative
    error at ``weight_bits`` get ``weight_bits``, the rest 8 (ties: lower index first)."""
    bits = torch.full((w2d.shape[0],), DSP_WEIGHT_BITS, dtype=torch.int64)
    if n_lut:
        order = torch.argsort(relative_errors(w2d, weight_bits), stable=True)
        bits[order[:n_lut]] = weight_bits
    return bits


class WeightFakeQuant(nn.Module):
    """Parametrization: per-row fake quantisation on a fixed grid with a straight-through
    gradient (Bengio et al. 2013). The grid is per output row; an LSTM's ``W_ih`` and ``W_hh``
    get copies of one grid, so each row of the fused ``[W_ih | W_hh]`` GEMM weight has one
    scale."""

    scale: torch.Tensor
    offset: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    shift: torch.Tensor

    def __init__(self, scale: torch.Tensor, offset: torch.Tensor, lo: torch.Tensor,
                 hi: torch.Tensor, shift: torch.Tensor, ndim: int) -> None:
        super().__init__()
        shape = (-1,) + (1,) * (ndim - 1)
        for name, t in (("scale", scale), ("offset", offset), ("lo", lo), ("hi", hi),
                        ("shift", shift)):
            self.register_buffer(name, t.reshape(shape).clone())

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        q = torch.clamp(torch.floor(w / self.scale + self.offset), self.lo, self.hi)
        q = (q + self.shift) * self.scale
        return w + (q - w).detach()


def _quantise_params(module: nn.Module, names: Sequence[str], bits: torch.Tensor) -> None:
    """Register :class:`WeightFakeQuant` on ``module.<name>`` for each name; the parameters'
    rows are concatenated along dim 1 to form the GEMM's weight rows (one grid per row)."""
    mats = [getattr(module, n).detach().reshape(getattr(module, n).shape[0], -1) for n in names]
    grid = _row_grid(torch.cat(mats, dim=1), bits)
    for n in names:
        ndim = getattr(module, n).ndim
        parametrize.register_parametrization(module, n, WeightFakeQuant(*grid, ndim=ndim))


class ActQuant(nn.Module):
    """Per-tensor activation fake quantisation at ``bits``, range calibrated by observation.

    While :attr:`observing` it passes data through and records min/max; :meth:`freeze` fixes the
    grid. The forward uses only ops the torch front end treats as shape-only (``floor`` written as
    ``y - y % 1``), so a traced compressed model shows exactly the GEMMs it runs.
    """

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = int(bits)
        self.observing = True
        self.low = float("inf")
        self.high = float("-inf")
        self.scale = 1.0
        self.offset = 0.5
        self.lo = 0.0
        self.hi = 1.0
        self.shift = 0.0

    def observe(self, x: torch.Tensor) -> None:
        self.low = min(self.low, float(x.detach().min()))
        self.high = max(self.high, float(x.detach().max()))

    def freeze(self) -> None:
        if self.low > self.high:
            raise CodesignError("ActQuant.freeze: no calibration data went through this "
                                "quantiser; run a calibration batch first")
        signed = self.low < 0
        levels, offset, lo, hi, shift = (float(v) for v in quant_grid(self.bits, signed))
        peak = max(abs(self.low), abs(self.high)) if signed else self.high
        self.scale = peak / levels if peak > 0 else 1.0
        self.offset, self.lo, self.hi, self.shift = offset, lo, hi, shift
        self.observing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing:
            self.observe(x)
            return x
        y = x / self.scale + self.offset
        y = torch.clamp(y - y % 1.0, self.lo, self.hi)
        y = (y + self.shift) * self.scale
        return x + (y - x).detach()

    def extra_repr(self) -> str:
        return f"bits={self.bits}, scale={self.scale:.4g}, range=[{self.lo}, {self.hi}]"


def quantize_activations(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``x`` through an :class:`ActQuant` calibrated on ``x`` itself."""
    q = ActQuant(bits)
    q.observe(x)
    q.freeze()
    return q(x)


class QuantInput(nn.Module):
    """``op(act(x), *rest)``: a GEMM module with its input quantised."""

    def __init__(self, act: ActQuant, op: nn.Module) -> None:
        super().__init__()
        self.act = act
        self.op = op

    def forward(self, x: torch.Tensor, *rest: Any) -> Any:
        return self.op(self.act(x), *rest)


# ----------------------------------------------------------------------------- low rank

def svd_factors(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Truncated SVD of an ``out x in`` matrix: ``(first, second)`` with ``first`` ``r x in`` and
    ``second`` ``out x r``, ``second @ first`` the best rank-``r`` approximation in Frobenius norm
    (Eckart-Young), error ``sqrt(sum_{i>r} sigma_i^2)``; ``sqrt(sigma)`` goes to each factor."""
    u, s, vh = torch.linalg.svd(weight.detach().double(), full_matrices=False)
    root = s[:rank].sqrt()
    first = root[:, None] * vh[:rank]
    second = u[:, :rank] * root[None, :]
    return first.to(weight.dtype), second.to(weight.dtype)


def _eigenbasis(unfolding: torch.Tensor) -> torch.Tensor:
    """Left singular vectors of ``unfolding`` (all of them, square), by decreasing singular
    value: the eigenvectors of ``A A^T``."""
    _, vecs = torch.linalg.eigh(unfolding @ unfolding.T)
    return vecs.flip(1)


def tucker2_bases(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """HOSVD bases ``(U_out, U_in)`` (``C_out x C_out``, ``C_in x C_in``, float64) of a conv
    kernel's output- and input-channel modes (De Lathauwer et al. 2000)."""
    w = weight.detach().double()
    c_out, c_in = w.shape[:2]
    u_out = _eigenbasis(w.reshape(c_out, -1))
    u_in = _eigenbasis(w.transpose(0, 1).reshape(c_in, -1))
    return u_out, u_in


def tucker2_factors(weight: torch.Tensor, rank_in: int, rank_out: int,
                    bases: tuple[torch.Tensor, torch.Tensor] | None = None,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tucker-2 of a ``C_out x C_in x kh x kw`` kernel (truncated HOSVD on the channel modes):
    ``(first, core, last)`` as conv weights ``r_in x C_in x 1 x 1``, ``r_out x r_in x kh x kw``,
    ``C_out x r_out x 1 x 1``. Exact when ``rank_in = C_in`` and ``rank_out = C_out``."""
    u_out, u_in = tucker2_bases(weight) if bases is None else bases
    u_out, u_in = u_out[:, :rank_out], u_in[:, :rank_in]
    core = torch.einsum("oikl,or,is->rskl", weight.detach().double(), u_out, u_in)
    c_out, c_in = weight.shape[:2]
    first = u_in.T.reshape(rank_in, c_in, 1, 1)
    last = u_out.reshape(c_out, rank_out, 1, 1)
    return first.to(weight.dtype), core.to(weight.dtype), last.to(weight.dtype)


def tucker2_reconstruct(first: torch.Tensor, core: torch.Tensor,
                        last: torch.Tensor) -> torch.Tensor:
    """The dense kernel the three Tucker-2 convolutions compute."""
    return torch.einsum("rskl,or,si->oikl", core, last[:, :, 0, 0], first[:, :, 0, 0])


# ----------------------------------------------------------------------------- the compressor

@dataclass(frozen=True, slots=True)
class LayerBinding:
    """Where design layer ``index`` lives in the model.

    ``kind``: ``"conv"``, ``"linear"`` or ``"lstm"``; ``params``: the weight parameters whose
    concatenated rows are the GEMM's weight rows; ``quantise_input``: whether this layer owns the
    quantiser of the module's input (an LSTM's first layer).
    """

    index: int
    name: str
    kind: str
    module_path: str
    params: tuple[str, ...]
    quantise_input: bool = True


class Compressor:
    """Compresses one model for many designs; the trace, factorisations and per-channel errors
    are computed once.

    :param model: the float model (never modified).
    :param calib_batch: a batch of inputs for activation-range calibration (one tensor).
    :param example_input: the input to trace with (default: the first sample of
        ``calib_batch``); designs are written for ``from_torch(model, example_input)``.
    :param skip_unsupported: leave layers the transforms cannot handle (and ops the front end
        cannot trace) uncompressed instead of raising.
    :raises UnsupportedLayerError: listing every layer that cannot be compressed.
    """

    def __init__(self, model: nn.Module, calib_batch: torch.Tensor, *,
                 example_input: Any = None, skip_unsupported: bool = False) -> None:
        self.model = model
        self.calib_batch = calib_batch
        example = calib_batch[:1] if example_input is None else example_input
        result = trace(model, example, skip_unsupported=skip_unsupported)
        self.workload: Workload = result.workload
        self.bindings, self.unsupported = _bind(model, self.workload)
        if self.unsupported:
            if not skip_unsupported:
                raise UnsupportedLayerError(self.unsupported)
            log.warning("left %d layer(s) uncompressed: %s", len(self.unsupported),
                        ", ".join(name for name, _ in self.unsupported))
        self._bases: dict[int, Any] = {}
        self._orders: dict[tuple[int, int], torch.Tensor] = {}

    @property
    def layer_names(self) -> tuple[str, ...]:
        return self.workload.layer_names

    def weight_matrix(self, binding: LayerBinding, model: nn.Module | None = None) -> torch.Tensor:
        """The GEMM's weight rows (output channels) as a 2-D matrix."""
        module = (model or self.model).get_submodule(binding.module_path)
        mats = [getattr(module, n).detach() for n in binding.params]
        return torch.cat([m.reshape(m.shape[0], -1) for m in mats], dim=1)

    def basis(self, binding: LayerBinding) -> Any:
        """``(U, S, Vh)`` of a Linear weight or the HOSVD bases of a conv kernel (cached)."""
        if binding.index not in self._bases:
            weight = _weight(self.model.get_submodule(binding.module_path))
            self._bases[binding.index] = (
                torch.linalg.svd(weight.double(), full_matrices=False)
                if binding.kind == "linear" else tucker2_bases(weight))
        return self._bases[binding.index]

    def _row_bits(self, binding: LayerBinding, w2d: torch.Tensor, weight_bits: int,
                  fraction: float, dense: bool) -> torch.Tensor:
        n_lut = lut_channels(w2d.shape[0], fraction)
        if not dense or n_lut == 0:
            return assign_rows(w2d, weight_bits, n_lut)
        key = (binding.index, weight_bits)
        if key not in self._orders:
            self._orders[key] = torch.argsort(relative_errors(w2d, weight_bits), stable=True)
        bits = torch.full((w2d.shape[0],), DSP_WEIGHT_BITS, dtype=torch.int64)
        bits[self._orders[key][:n_lut]] = weight_bits
        return bits

    def compress(self, design: Design, *, fractions: Sequence[float] | None = None) -> nn.Module:
        """A new module implementing ``design`` (the original is untouched), activation ranges
        calibrated on :attr:`calib_batch`, in eval mode.

        :raises DesignError: the design names layers the model does not have (in the traced
            order), asks a rank above a layer's full rank or of a layer that cannot be
            factorised, or leaves a ``lut_fraction`` unset without ``fractions``.
        """
        design.check_against(self.workload)
        fracs = resolve_fractions(design, fractions)
        model = copy.deepcopy(self.model).eval()
        wrapped: set[str] = set()
        for b in self.bindings:
            i = b.index
            wb, ab, frac = design.weight_bits[i], design.act_bits[i], fracs[i]
            rank = None if design.rank is None else design.rank[i]
            module = model.get_submodule(b.module_path)
            if rank is None:
                w2d = self.weight_matrix(b, model)
                _quantise_params(module, b.params, self._row_bits(b, w2d, wb, frac, True))
                if b.quantise_input and b.module_path not in wrapped:
                    _replace(model, b.module_path, QuantInput(ActQuant(ab), module))
                    wrapped.add(b.module_path)
            else:
                _replace(model, b.module_path, self._low_rank(b, module, rank, wb, ab, frac))
        calibrate_activations(model, self.calib_batch)
        return model

    def _low_rank(self, b: LayerBinding, module: nn.Module, rank: int, wb: int, ab: int,
                  frac: float) -> nn.Sequential:
        factors: list[nn.Module]
        if b.kind == "linear":
            assert isinstance(module, nn.Linear)
            u, s, vh = self.basis(b)
            root = s[:rank].sqrt()
            dtype = module.weight.dtype
            first_w = (root[:, None] * vh[:rank]).to(dtype)
            second_w = (u[:, :rank] * root[None, :]).to(dtype)
            down = nn.Linear(module.in_features, rank, bias=False)
            up = nn.Linear(rank, module.out_features, bias=module.bias is not None)
            down.weight.data.copy_(first_w)
            up.weight.data.copy_(second_w)
            if module.bias is not None:
                up.bias.data.copy_(module.bias.detach())
            factors = [down, up]
        else:
            assert isinstance(module, nn.Conv2d)
            c_out, c_in = module.out_channels, module.in_channels
            r_in, r_out = min(rank, c_in), min(rank, c_out)
            first_w, core_w, last_w = tucker2_factors(module.weight, r_in, r_out, self.basis(b))
            first = nn.Conv2d(c_in, r_in, 1, bias=False, padding_mode=module.padding_mode)
            core = nn.Conv2d(r_in, r_out, module.kernel_size,  # type: ignore[arg-type]
                             module.stride,  # type: ignore[arg-type]
                             module.padding,  # type: ignore[arg-type]
                             module.dilation,  # type: ignore[arg-type]
                             bias=False, padding_mode=module.padding_mode)
            last = nn.Conv2d(r_out, c_out, 1, bias=module.bias is not None)
            for conv, w in ((first, first_w), (core, core_w), (last, last_w)):
                conv.weight.data.copy_(w)
            if module.bias is not None:
                last.bias.data.copy_(module.bias.detach())  # type: ignore[union-attr]
            factors = [first, core, last]
        seq: list[nn.Module] = []
        for factor in factors:
            factor.to(module.weight.device)
            weight = _weight(factor)
            w2d = weight.reshape(weight.shape[0], -1)
            _quantise_params(factor, ("weight",),
                             self._row_bits(b, w2d, wb, frac, dense=False))
            seq += [ActQuant(ab), factor]
        return nn.Sequential(*seq)


def calibrate_activations(model: nn.Module, calib_batch: Any) -> None:
    """Run ``calib_batch`` through ``model`` with every :class:`ActQuant` observing, then fix
    their grids."""
    quantisers = [m for m in model.modules() if isinstance(m, ActQuant)]
    for q in quantisers:
        q.observing = True
        q.low, q.high = float("inf"), float("-inf")
    was_training = model.training
    model.eval()
    args = tuple(calib_batch) if isinstance(calib_batch, (tuple, list)) else (calib_batch,)
    with torch.no_grad():
        model(*args)
    for q in quantisers:
        q.freeze()
    model.train(was_training)


def compress_model(model: nn.Module, design: Design, calib_batch: torch.Tensor, *,
                   fractions: Sequence[float] | None = None, example_input: Any = None,
                   skip_unsupported: bool = False) -> nn.Module:
    """``model`` compressed as ``design`` says (a new module; ``model`` is untouched).

    See the module docstring for the transforms. The design is written for
    ``from_torch(model, example_input)``'s workload (layer names and order).

    :param calib_batch: inputs used to calibrate activation ranges.
    :param fractions: per-layer ``lut_fraction`` overriding the design's (required when the
        design leaves them to the balance point).
    :param skip_unsupported: leave layers the transforms cannot handle uncompressed.
    :raises DesignError: the design does not fit the model (the message names the layer).
    :raises UnsupportedLayerError: layers that cannot be compressed, unless skipped.
    """
    compressor = Compressor(model, calib_batch, example_input=example_input,
                            skip_unsupported=skip_unsupported)
    return compressor.compress(design, fractions=fractions)


def _weight(module: nn.Module) -> torch.Tensor:
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return weight.detach()


def _replace(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, new)


def _bind(model: nn.Module, workload: Workload,
          ) -> tuple[list[LayerBinding], list[tuple[str, str]]]:
    modules = dict(model.named_modules())
    bindings: list[LayerBinding] = []
    unsupported: list[tuple[str, str]] = []
    repeated = {name.split(":")[0] for name in workload.layer_names if ":" in name}
    for index, layer in enumerate(workload.layers):
        name = layer.name
        base = name.split(":")[0]
        if base in repeated or (isinstance(layer, LstmCell) and _lstm_path(base) in repeated):
            unsupported.append((name, "module called more than once; one weight cannot take "
                                      "two designs"))
            continue
        module = modules.get(name)
        if isinstance(layer, Conv2d) and isinstance(module, nn.Conv2d):
            bindings.append(LayerBinding(index, name, "conv", name, ("weight",)))
        elif isinstance(layer, Linear) and isinstance(module, nn.Linear):
            bindings.append(LayerBinding(index, name, "linear", name, ("weight",)))
        elif isinstance(layer, LstmCell) and (match := _LSTM_LEVEL.match(name)) \
                and isinstance(modules.get(match["path"]), nn.LSTM):
            sfx = f"_l{match['level']}" + ("_reverse" if match["reverse"] else "")
            bindings.append(LayerBinding(
                index, name, "lstm", match["path"], (f"weight_ih{sfx}", f"weight_hh{sfx}"),
                quantise_input=match["level"] == "0" and not match["reverse"]))
        else:
            unsupported.append((name, _why(layer, name, modules)))
    return bindings, unsupported


def _lstm_path(name: str) -> str:
    match = _LSTM_LEVEL.match(name)
    return match["path"] if match else name


def _why(layer: Any, name: str, modules: dict[str, nn.Module]) -> str:
    if layer.weight_params == 0:
        return f"a {layer.kind} layer multiplies two activations; it has no weights to compress"
    module = modules.get(name)
    if module is not None:
        return f"{type(module).__name__} modules are not supported"
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        owner = modules.get(".".join(parts[:cut]))
        if isinstance(owner, nn.MultiheadAttention | nn.LSTM):
            return f"part of a {type(owner).__name__} in a configuration that is not supported"
    return (f"a {layer.kind} GEMM from a functional call (F.linear, F.conv2d, matmul with a "
            "parameter); only nn.Conv2d, nn.Linear and nn.LSTM modules are compressed")


def layer_full_ranks(workload: Workload) -> np.ndarray:
    """Per-layer largest rank (0 where a layer cannot be factorised)."""
    return np.array([full_rank(layer) or 0 for layer in workload.layers], dtype=np.int64)


__all__ = ["DSP_WEIGHT_BITS", "ActQuant", "Compressor", "LayerBinding", "QuantInput",
           "UnsupportedLayerError", "WeightFakeQuant", "assign_rows", "calibrate_activations",
           "compress_model", "layer_full_ranks", "quant_grid", "quantize_activations",
           "quantize_rows", "relative_errors", "row_step", "svd_factors", "tucker2_bases",
           "tucker2_factors", "tucker2_reconstruct"]
