"""Quantisers: the half-step bound, the grids, N3H-Core's channel assignment, the STE."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rl_search.accuracy.compress import (
    ActQuant,
    WeightFakeQuant,
    _row_grid,
    assign_rows,
    quant_grid,
    quantize_activations,
    quantize_rows,
    relative_errors,
    row_step,
)


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(1, 16), rows=st.integers(1, 6), cols=st.integers(1, 40),
       seed=st.integers(0, 2**31 - 1), spread=st.floats(1e-3, 1e3))
def test_weight_quantiser_error_is_at_most_half_a_step(bits, rows, cols, seed, spread):
    w = torch.from_numpy(np.random.default_rng(seed).standard_normal((rows, cols)) * spread)
    q = quantize_rows(w, bits)
    step = row_step(w, bits)
    assert torch.all((w - q).abs() <= step[:, None] / 2 * (1 + 1e-9))
    levels = {round(v, 6) for v in (q / step[:, None]).flatten().tolist()}
    assert len(levels) <= (2 if bits == 1 else 2 ** bits - 1)


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(1, 12), seed=st.integers(0, 2**31 - 1), signed=st.booleans())
def test_activation_quantiser_error_is_at_most_half_a_step(bits, seed, signed):
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal(500))
    x = x if signed else x.abs()
    q = ActQuant(bits)
    q.observe(x)
    q.freeze()
    y = q(x)
    assert torch.all((y - x).abs() <= q.scale / 2 * (1 + 1e-9))
    # the straight-through form x + (q - x) leaves rounding noise far below a step
    assert len(torch.unique(torch.round(y / q.scale * 1e6))) <= 2 ** bits


def test_grids():
    levels, offset, lo, hi, shift = quant_grid(np.array([1, 2, 4, 8]), True)
    assert list(levels) == [1, 1, 7, 127]
    assert list(lo) == [-1, -1, -7, -127] and list(hi) == [0, 1, 7, 127]
    assert list(offset + shift) == [0.5] * 4
    levels, _, lo, hi, _ = quant_grid(np.array([1, 4]), False)
    assert list(levels) == [1, 15] and list(lo) == [0, 0] and list(hi) == [1, 15]


def test_quantiser_is_exact_on_its_grid_and_on_zero_rows():
    w = torch.tensor([[0.0, 0.0, 0.0], [-1.0, 0.5, 1.0]])
    assert torch.equal(quantize_rows(w, 2), torch.tensor([[0.0, 0.0, 0.0], [-1.0, 1.0, 1.0]]))
    assert torch.equal(relative_errors(w, 8)[0], torch.tensor(0.0, dtype=torch.float64))
    grid = torch.tensor([[-3.0, -1.0, 0.0, 2.0, 3.0]])
    assert torch.equal(quantize_rows(grid, 3), grid)


def test_n3h_assignment_puts_the_best_quantising_channels_on_the_lut_core():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(16, 32, generator=gen)
    w[3] = torch.sign(w[3])  # exactly representable at 2 bits: zero error
    w[7] = 0.5  # halfway between the 2-bit levels 0 and max: the worst row there is
    w[7, 0] = 1.0
    err = relative_errors(w, 2)
    bits = assign_rows(w, 2, n_lut=5)
    lut = set(torch.nonzero(bits == 2).flatten().tolist())
    assert len(lut) == 5 and 3 in lut and 7 not in lut
    assert set(torch.argsort(err)[:5].tolist()) == lut
    assert torch.all(bits[bits != 2] == 8)
    assert torch.all(assign_rows(w, 2, 0) == 8) and torch.all(assign_rows(w, 2, 16) == 2)


def test_fake_quant_passes_gradients_straight_through():
    w = torch.randn(4, 6, requires_grad=True)
    fq = WeightFakeQuant(*_row_grid(w.detach(), torch.full((4,), 2)), ndim=2)
    out = fq(w)
    assert torch.allclose(out, quantize_rows(w.detach(), 2))
    (out * torch.arange(24.0).reshape(4, 6)).sum().backward()
    assert torch.equal(w.grad, torch.arange(24.0).reshape(4, 6))


def test_act_quant_needs_calibration():
    from hwsim.errors import CodesignError

    with pytest.raises(CodesignError, match="calibration"):
        ActQuant(4).freeze()
    x = torch.linspace(0, 1, 11)
    assert torch.allclose(quantize_activations(x, 16), x, atol=1e-4)
