"""Lowering of every layer record to GEMMs: direct formulas, properties, validation."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.errors import WorkloadError
from hwsim.ir import (
    Conv2d,
    Gemm,
    HTLinear,
    Linear,
    LstmCell,
    MatMul,
    MoEExperts,
    SvdLinear,
    TTLinear,
    Tucker2Conv,
    Workload,
)


def direct_conv_macs(c_in, c_out, h, w, kh, kw, stride, pad, dil, groups, batch=1):
    """MACs of a convolution counted output element by output element (no lowering)."""
    h_out = math.floor((h + 2 * pad - dil * (kh - 1) - 1) / stride) + 1
    w_out = math.floor((w + 2 * pad - dil * (kw - 1) - 1) / stride) + 1
    per_output = (c_in // groups) * kh * kw
    return batch * c_out * h_out * w_out * per_output


@st.composite
def conv_shapes(draw):
    groups = draw(st.sampled_from([1, 1, 2, 4]))
    depthwise = draw(st.booleans())
    if depthwise:
        c = draw(st.integers(1, 64))
        c_in = c_out = groups = c
    else:
        c_in = groups * draw(st.integers(1, 16))
        c_out = groups * draw(st.integers(1, 16))
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    dil = draw(st.integers(1, 3))
    pad = draw(st.integers(0, 3))
    h = draw(st.integers(dil * (kh - 1) + 1, 40))
    w = draw(st.integers(dil * (kw - 1) + 1, 40))
    stride = draw(st.integers(1, 4))
    batch = draw(st.integers(1, 3))
    return c_in, c_out, h, w, kh, kw, stride, pad, dil, groups, batch


@given(conv_shapes())
def test_conv_macs_equal_direct_formula(shape):
    c_in, c_out, h, w, kh, kw, stride, pad, dil, groups, batch = shape
    conv = Conv2d("c", c_in, c_out, h, w, kh, kw, stride, pad, dil, groups, batch)
    assert conv.macs == direct_conv_macs(*shape)
    (gemm,) = conv.gemms()
    assert gemm.count == groups
    assert gemm.m == conv.out_height * conv.out_width * batch
    assert gemm.k == c_in // groups * kh * kw


def test_depthwise_conv_is_channels_gemms_of_one_column():
    dw = Conv2d("dw", 32, 32, 112, 112, 3, 3, stride=1, padding=1, groups=32)
    assert dw.is_depthwise
    assert dw.gemms() == (Gemm(112 * 112, 1, 9, 32),)
    assert not Conv2d("g", 32, 64, 8, 8, 3, 3, groups=2).is_depthwise


def test_resnet_stem_lowering_matches_n3h_convention():
    # REFERENCE.md section 1: first GEMM of ResNet-18 is m=12544, k=147, n=64.
    assert Conv2d("conv1", 3, 64, 224, 224, 7, 7, 2, 3).gemms() == (Gemm(12544, 64, 147),)


@given(st.integers(1, 512), st.integers(1, 512), st.integers(1, 64), st.data())
def test_svd_linear_fewer_macs_below_break_even(n_in, n_out, tokens, data):
    dense = Linear("fc", n_in, n_out, tokens)
    full = min(n_in, n_out)
    rank = data.draw(st.integers(1, full))
    svd = SvdLinear("fc", n_in, n_out, rank, tokens)
    assert svd.macs == tokens * rank * (n_in + n_out)
    if rank < dense.break_even_rank:
        assert svd.macs < dense.macs
    elif rank > dense.break_even_rank:
        assert svd.macs > dense.macs


@settings(max_examples=200)
@given(conv_shapes().filter(lambda s: s[9] == 1), st.data())
def test_tucker2_fewer_macs_below_break_even(shape, data):
    c_in, c_out, h, w, kh, kw, stride, pad, dil, _groups, batch = shape
    dense = Conv2d("c", c_in, c_out, h, w, kh, kw, stride, pad, dil, 1, batch)
    r = data.draw(st.integers(1, min(c_in, c_out)))
    tucker = Tucker2Conv("c", c_in, c_out, h, w, kh, kw, r, r, stride, pad, dil, batch)
    assert tucker.out_height == dense.out_height and tucker.out_width == dense.out_width
    # The break-even rank is solved in closed form, independently of gemms().
    if r < tucker.break_even_rank() - 1e-9:
        assert tucker.macs < dense.macs
    elif r > tucker.break_even_rank() + 1e-9:
        assert tucker.macs > dense.macs


def test_tucker2_rank_monotone():
    macs = [Tucker2Conv("c", 64, 64, 16, 16, 3, 3, r, r, padding=1).macs for r in range(1, 65)]
    assert macs == sorted(macs) and len(set(macs)) == len(macs)


def test_tt_lstm_ucf_and_youtube_match_tie_figures():
    # REFERENCE.md section 4: 3,360 / 3,392 parameters, 1.94 M / 1.43 M multiplications per step.
    ucf = TTLinear("tt", (8, 20, 20, 18), (16, 4, 4, 4), (1, 4, 4, 4, 1))
    yt = TTLinear("tt", (4, 20, 20, 36), (16, 4, 4, 4), (1, 4, 4, 4, 1))
    assert ucf.weight_params == 3360 and yt.weight_params == 3392
    assert ucf.in_features == 57600 == yt.in_features and ucf.out_features == 1024
    assert round(ucf.macs / 1e6, 2) == 1.94
    assert round(yt.macs / 1e6, 2) == 1.43


def test_tt_full_rank_chain_shapes_compose():
    tt = TTLinear("tt", (2, 3, 5), (7, 11, 13), (1, 2, 3, 1), tokens=4)
    stages = tt.gemms()
    # Each stage's output (rows x cols) is the next stage's input (rows x inner).
    for a, b in itertools.pairwise(stages):
        assert a.m * a.n == b.m * b.k
    assert stages[0].m * stages[0].k == 4 * 2 * 3 * 5
    assert stages[-1].m * stages[-1].n == 4 * 7 * 11 * 13


def test_ht_lstm_ucf_stages_match_optimal_order():
    # REFERENCE.md section 4: 921,600 / 737,280 / 163,840 / 32,768 MACs, 1.86 M in total.
    ht = HTLinear("ht", (8, 20, 20, 18), (16, 4, 4, 4), 4)
    assert [g.macs for g in ht.gemms()] == [921_600, 737_280, 163_840, 32_768]
    d, r = 4, 4
    assert ht.weight_params == sum(i * o * r for i, o in zip((8, 20, 20, 18), (16, 4, 4, 4),
                                                            strict=True)) + (d - 2) * r**3 + r**2


def test_lstm_cell_lowering():
    cell = LstmCell("lstm", 57600, 256, steps=6)
    # the time steps depend on each other: they cannot be spread over cores
    assert cell.gemms() == (Gemm(1, 1024, 57856, 6, independent=False),)
    assert Gemm(1, 1024, 57856, 6).independent  # groups, heads, experts: the default
    assert cell.weight_params == 57856 * 1024


def test_matmul_counts_heads():
    scores = MatMul("attn.scores", 197, 197, 64, heads=6)
    assert scores.gemms() == (Gemm(197, 197, 64, 6),) and scores.weight_params == 0


def test_moe_balanced_routing():
    moe = MoEExperts("moe", hidden=4096, expert_ffn=14336, experts=8, top_k=2, tokens=16)
    router, up, down = moe.gemms()
    assert router == Gemm(16, 8, 4096)
    assert up == Gemm(4, 14336, 4096, 16) and down == Gemm(4, 4096, 14336, 8)
    one = MoEExperts("moe", hidden=4096, expert_ffn=14336, experts=8, top_k=2, tokens=1)
    # One token touches exactly top_k experts.
    assert one.active_experts == 2 and one.gemms()[2].count == 2
    assert one.weight_params == 4096 * 8 + 8 * 3 * 4096 * 14336


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: Conv2d("c", 3, 8, 32, 32, 3, 3, stride=0), "stride"),
        (lambda: Conv2d("c", 6, 8, 32, 32, 3, 3, groups=4), "groups"),
        (lambda: Conv2d("c", 3, 8, 2, 2, 5, 5), "kernel_h"),
        (lambda: Conv2d("", 3, 8, 32, 32, 3, 3), "name"),
        (lambda: Linear("fc", 0, 10), "in_features"),
        (lambda: Linear("fc", 10, 10, tokens=True), "tokens"),
        (lambda: SvdLinear("fc", 16, 8, 9), "rank"),
        (lambda: Tucker2Conv("c", 16, 8, 8, 8, 3, 3, 17, 4), "rank_in"),
        (lambda: TTLinear("tt", (2, 2), (2, 2), (1, 2, 2)), "ranks"),
        (lambda: TTLinear("tt", (2, 2), (2,), (1, 2, 1)), "out_modes"),
        (lambda: HTLinear("ht", (4,), (4,), 2), "in_modes"),
        (lambda: MoEExperts("m", 8, 8, experts=2, top_k=3), "top_k"),
        (lambda: MoEExperts("m", 8, 8, 2, 1, shared_experts=1), "shared_ffn"),
        (lambda: Gemm(0, 1, 1), "m"),
        (lambda: Gemm(1, 1, 1, 2, independent=1), "independent"),  # type: ignore[arg-type]
    ],
)
def test_invalid_layers_name_the_field(factory, field):
    with pytest.raises(WorkloadError) as err:
        factory()
    assert any(p.field == field for p in err.value.problems), str(err.value)


def test_every_problem_reported_at_once():
    with pytest.raises(WorkloadError) as err:
        Conv2d("c", 0, -1, 32, 32, 3, 3, stride=0, padding=-2)
    fields = {p.field for p in err.value.problems}
    assert {"in_channels", "out_channels", "stride", "padding"} <= fields


def test_workload_arrays_and_graph():
    layers = (
        Conv2d("a", 3, 8, 8, 8, 3, 3, padding=1),
        Conv2d("b", 8, 8, 8, 8, 3, 3, padding=1),
        Conv2d("c", 8, 8, 8, 8, 3, 3, padding=1),
        SvdLinear("fc", 512, 10, 4),
    )
    wl = Workload("toy", layers, edges=((0, 1), (1, 2), (0, 2), (2, 3)))
    arrays = wl.to_arrays()
    assert len(arrays) == 5  # the SVD layer lowers to two GEMMs
    assert arrays.layer.tolist() == [0, 1, 2, 3, 3]
    assert arrays.first_gemm.tolist() == [0, 1, 2, 3, 5]
    assert int(arrays.macs.sum()) == wl.macs == sum(layer.macs for layer in layers)
    assert arrays.m.dtype.name == "int64" and not arrays.m.flags.writeable
    assert arrays.independent.tolist() == [1] * 5 and not arrays.independent.flags.writeable
    lstm = Workload("rnn", (LstmCell("lstm", 20, 32, steps=7), Linear("head", 32, 5)))
    assert lstm.to_arrays().independent.tolist() == [0, 1]
    graph = wl.to_networkx()
    assert set(graph.predecessors(2)) == {0, 1}
    assert graph.nodes[3]["name"] == "fc"
    chain = Workload("chain", layers)
    assert chain.edges == ((0, 1), (1, 2), (2, 3))


def test_workload_rejects_duplicates_and_bad_edges():
    a = Linear("fc", 4, 4)
    with pytest.raises(WorkloadError) as err:
        Workload("w", (a, a), edges=((1, 0),))
    fields = {p.field for p in err.value.problems}
    assert fields == {"layers[1].name", "edges"}
    with pytest.raises(WorkloadError):
        Workload("w", ())
