"""The proxy's per-layer error tables, from a model's actual weights and calibration inputs.

Every term is measured (in float32) at the layer's output on the calibration batch ``X``
(data-aware, as in the output-reconstruction objectives of AdaRound, Nagel et al. ICML'20, and of
data-aware low-rank compression): a perturbation ``dW`` of the weights or ``dX`` of the input
counts as ``||f(X, dW)||^2 / ||f(X, W)||^2`` or ``||f(dX, W)||^2 / ||f(X, W)||^2``, ``f`` the
layer's GEMM without bias. Weight directions the data never excites then cost nothing, which
is what makes discarded singular values and quantisation noise comparable across layers.

See :mod:`rl_search.accuracy.proxy` for how the terms combine.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwsim.ir.lowrank import full_rank
from rl_search.accuracy.compress import (
    Compressor,
    LayerBinding,
    quantize_activations,
    quantize_rows,
    relative_errors,
    tucker2_factors,
)
from rl_search.accuracy.layer_errors import MAX_BITS, LayerErrors

RANK_POINTS = 16
"""Ranks measured exactly per layer; the rest of a longer rank table is interpolated."""

MEASURED_BITS = 8
"""Activation bit-widths measured for factorised layers; wider ones are extrapolated."""


def layer_inputs(compressor: Compressor) -> dict[int, torch.Tensor]:
    """The float model's input to every bound module, on the calibration batch."""
    found: dict[int, torch.Tensor] = {}
    hooks = []
    for b in compressor.bindings:
        module = compressor.model.get_submodule(b.module_path)

        def grab(_: nn.Module, args: tuple[torch.Tensor, ...], index: int = b.index) -> None:
            found[index] = args[0].detach()

        hooks.append(module.register_forward_pre_hook(grab))
    was_training = compressor.model.training
    try:
        compressor.model.eval()
        with torch.no_grad():
            compressor.model(compressor.calib_batch)
    finally:
        for h in hooks:
            h.remove()
        compressor.model.train(was_training)
    return found


Gemm = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``f(input, weight) -> output`` with output channels on dim 1 (or last for 2-D inputs)."""


def _gemm_for(compressor: Compressor, b: LayerBinding,
              x: torch.Tensor) -> tuple[Gemm, torch.Tensor, Callable[[int], torch.Tensor]]:
    """``(f, data, act_delta)``: the layer's GEMM as a function of its weight, the input it
    applies to, and the input perturbation that ``a``-bit activation quantisation causes."""
    module = compressor.model.get_submodule(b.module_path)
    x = x.float()
    if b.kind == "conv":
        assert isinstance(module, nn.Conv2d)
        shape = module.weight.shape

        def conv(inp: torch.Tensor, w2d: torch.Tensor) -> torch.Tensor:
            return module._conv_forward(inp, w2d.reshape(shape), None)

        return conv, x, lambda a: quantize_activations(x, a) - x
    if b.kind == "linear":
        return (lambda inp, w2d: F.linear(inp, w2d)), x, \
            lambda a: quantize_activations(x, a) - x
    # LSTM: the fused gate GEMM reads [x_t; h_{t-1}]; the hidden states come from running the
    # float LSTM (one level, forward direction); deeper levels and the reverse direction use
    # the weights alone (an identity input covariance).
    assert isinstance(module, nn.LSTM)
    if not b.quantise_input or module.num_layers != 1:
        eye = torch.eye(compressor.weight_matrix(b).shape[1])
        return (lambda inp, w2d: inp @ w2d.T), eye, lambda a: torch.zeros_like(eye)
    with torch.no_grad():
        out, _ = copy.deepcopy(module).float()(x)
    if not module.batch_first:
        x, out = x.transpose(0, 1), out.transpose(0, 1)
    hidden = out[..., : module.hidden_size]
    prev = torch.cat([torch.zeros_like(hidden[:, :1]), hidden[:, :-1]], dim=1)
    z = torch.cat([x, prev], dim=-1).reshape(-1, x.shape[-1] + module.hidden_size)
    n_in = x.shape[-1]

    def delta(a: int) -> torch.Tensor:
        dx = quantize_activations(x, a) - x
        return torch.cat([dx.reshape(-1, n_in), torch.zeros_like(z[:, n_in:])], dim=1)

    return (lambda inp, w2d: inp @ w2d.T), z, delta


def _channel_energy(y: torch.Tensor) -> torch.Tensor:
    """Energy per output channel (dim 1 of an N-D conv output, last dim otherwise)."""
    if y.ndim == 4:
        return (y ** 2).sum(dim=(0, 2, 3))
    return (y ** 2).reshape(-1, y.shape[-1]).sum(dim=0)


def _tables_for(compressor: Compressor, b: LayerBinding, x: torch.Tensor,
                full: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f, data, act_delta = _gemm_for(compressor, b, x)
    w = compressor.weight_matrix(b).float()
    with torch.no_grad():
        per_channel = _channel_energy(f(data, w))
        signal = float(per_channel.sum()) or 1.0
        at8 = _channel_energy(f(data, w - quantize_rows(w, 8))).numpy()
        weight = np.zeros((MAX_BITS + 1, w.shape[0] + 1))
        for bits in range(1, MAX_BITS + 1):
            order = torch.argsort(relative_errors(w, bits), stable=True).numpy()
            err = _channel_energy(f(data, w - quantize_rows(w, bits))).numpy()
            low = np.concatenate([[0.0], np.cumsum(err[order])])
            high = np.concatenate([[0.0], np.cumsum(at8[order])])
            weight[bits] = (low + (high[-1] - high)) / signal
        act = np.zeros(MAX_BITS + 1)
        if b.quantise_input:
            for bits in range(1, MAX_BITS + 1):
                act[bits] = float(_channel_energy(f(act_delta(bits), w)).sum()) / signal
        rank = _rank_table(compressor, b, x, f(data, w), signal, full)
    return weight, act, rank


def _rank_table(compressor: Compressor, b: LayerBinding, x: torch.Tensor,
                reference: torch.Tensor, signal: float, full: int) -> np.ndarray:
    """``[full + 1, MAX_BITS + 1]``: output error of the factorised layer at rank ``r`` with its
    intermediate activations quantised at ``a`` bits (column 0: not quantised), relative to the
    dense layer's output energy; row 0 (dense) is 0.

    Measured on up to :data:`RANK_POINTS` ranks (interpolated linearly in between) and for
    1..:data:`MEASURED_BITS` bits; above that the quantisation part is extrapolated with the
    uniform-noise law (a quarter per extra bit, Widrow; Jacob et al. 2018).
    """
    table = np.zeros((full + 1, MAX_BITS + 1))
    if not full:
        return table
    x = x.float()
    points = np.unique(np.linspace(1, full, min(full, RANK_POINTS)).round().astype(int))
    measured = np.zeros((len(points), MAX_BITS + 1))
    with torch.no_grad():
        for row, r in enumerate(points):
            stages = _factor_stages(compressor, b, int(r))
            for bits in range(MEASURED_BITS + 1):
                y = stages[0](x)
                for stage in stages[1:]:
                    y = stage(quantize_activations(y, bits) if bits else y)
                measured[row, bits] = float(((y - reference) ** 2).sum()) / signal
    extra = np.arange(MEASURED_BITS + 1, MAX_BITS + 1) - MEASURED_BITS
    quant = np.maximum(measured[:, MEASURED_BITS] - measured[:, 0], 0.0)
    measured[:, MEASURED_BITS + 1:] = measured[:, :1] + quant[:, None] * 0.25 ** extra[None, :]
    for bits in range(MAX_BITS + 1):
        table[1:, bits] = np.interp(np.arange(1, full + 1), points, measured[:, bits])
    return table


def _factor_stages(compressor: Compressor, b: LayerBinding,
                   r: int) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """The factorised layer at rank ``r`` as bias-free float32 stages, as the compressor
    builds it."""
    module = compressor.model.get_submodule(b.module_path)
    if b.kind == "linear":
        u, s, vh = compressor.basis(b)
        root = s[:r].sqrt()
        first = (root[:, None] * vh[:r]).float()
        second = (u[:, :r] * root[None, :]).float()
        return [lambda t: F.linear(t, first), lambda t: F.linear(t, second)]
    assert isinstance(module, nn.Conv2d)
    weight = module.weight.detach().float()
    c_out, c_in = weight.shape[:2]
    first, core, last = tucker2_factors(weight, min(r, c_in), min(r, c_out),
                                        compressor.basis(b))
    return [lambda t: F.conv2d(t, first), lambda t: module._conv_forward(t, core, None),
            lambda t: F.conv2d(t, last)]


def model_tables(compressor: Compressor) -> list[LayerErrors]:
    """Error tables for every layer of the compressor's workload; layers left uncompressed
    (skipped as unsupported) get zero tables."""
    inputs = layer_inputs(compressor)
    bound = {b.index: b for b in compressor.bindings}
    tables = []
    for index, layer in enumerate(compressor.workload.layers):
        b = bound.get(index)
        full = full_rank(layer) or 0
        if b is None:
            n = int(layer.out_channels_total)
            tables.append(LayerErrors(layer.name, np.zeros((MAX_BITS + 1, n + 1)),
                                      np.zeros(MAX_BITS + 1),
                                      np.zeros((full + 1, MAX_BITS + 1))))
            continue
        if b.kind == "conv" and compressor.model.get_submodule(b.module_path).groups != 1:
            full = 0
        weight, act, rank = _tables_for(compressor, b, inputs[index], full)
        tables.append(LayerErrors(layer.name, weight, act, rank))
    return tables
