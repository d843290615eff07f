"""SVD (Eckart-Young) and Tucker-2 (HOSVD) factors, and the layers built from them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from rl_search.accuracy.compress import (
    svd_factors,
    tucker2_bases,
    tucker2_factors,
    tucker2_reconstruct,
)


@settings(max_examples=40, deadline=None)
@given(out=st.integers(1, 24), inp=st.integers(1, 24), seed=st.integers(0, 2**31 - 1),
       data=st.data())
def test_svd_truncation_error_is_the_eckart_young_optimum(out, inp, seed, data):
    rank = data.draw(st.integers(1, min(out, inp)))
    w = torch.from_numpy(np.random.default_rng(seed).standard_normal((out, inp)))
    first, second = svd_factors(w, rank)
    assert first.shape == (rank, inp) and second.shape == (out, rank)
    sigma = np.linalg.svd(w.numpy(), compute_uv=False)
    optimum = np.sqrt(np.sum(sigma[rank:] ** 2))
    assert float(torch.linalg.norm(w - second @ first)) == pytest.approx(optimum, abs=1e-9)
    # ... and no other rank-r matrix does better (a few random competitors)
    rng = np.random.default_rng(seed + 1)
    for _ in range(3):
        other = rng.standard_normal((out, rank)) @ rng.standard_normal((rank, inp))
        assert np.linalg.norm(w.numpy() - other) >= optimum - 1e-9


@pytest.mark.parametrize(("c_out", "c_in", "k"), [(8, 3, 3), (4, 16, 3), (6, 6, 1), (5, 2, 5)])
def test_tucker2_reconstructs_a_conv_kernel_exactly_at_full_ranks(c_out, c_in, k):
    w = torch.randn(c_out, c_in, k, k, dtype=torch.float64)
    first, core, last = tucker2_factors(w, c_in, c_out)
    assert first.shape == (c_in, c_in, 1, 1)
    assert core.shape == (c_out, c_in, k, k)
    assert last.shape == (c_out, c_out, 1, 1)
    assert torch.allclose(tucker2_reconstruct(first, core, last), w, atol=1e-10)


def test_tucker2_truncation_error_is_the_discarded_core_energy():
    w = torch.randn(12, 10, 3, 3, dtype=torch.float64)
    u_out, u_in = tucker2_bases(w)
    assert torch.allclose(u_out.T @ u_out, torch.eye(12, dtype=torch.float64), atol=1e-10)
    full_core = torch.einsum("oikl,or,is->rskl", w, u_out, u_in)
    for r_in, r_out in ((1, 1), (4, 7), (10, 5)):
        approx = tucker2_reconstruct(*tucker2_factors(w, r_in, r_out))
        kept = float((full_core[:r_out, :r_in] ** 2).sum())
        err = float(((w - approx) ** 2).sum())
        assert err == pytest.approx(float((w ** 2).sum()) - kept, rel=1e-8, abs=1e-10)


def test_tucker2_convolutions_compute_the_original_conv_at_full_rank():
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=False).double()
    first, core, last = tucker2_factors(conv.weight, 3, 5)
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    y = nn.functional.conv2d(x, first)
    y = nn.functional.conv2d(y, core, stride=2, padding=1)
    y = nn.functional.conv2d(y, last)
    assert torch.allclose(y, conv(x), atol=1e-10)
