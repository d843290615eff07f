"""Measured latency tables (:mod:`cost_models.tables.measure`) and ``codesign tables``.

CPU only but for one CUDA smoke test; small protocols so that the file runs in well under a
minute. No absolute wall time is asserted (the machine may be shared): only shapes, parameter
counts, table structure, and loose relative bands on timings.
"""

from __future__ import annotations

import argparse
import json
import math

import pytest
import torch

from cost_models.tables import LatencyTable, TableError, layer_key, load_table
from cost_models.tables.measure import (
    Protocol,
    build_table,
    measure_layer,
    rank_candidates,
    sample_layers,
    torch_layer,
)
from hwsim.errors import CodesignError
from hwsim.ir import Workload, zoo
from hwsim.ir.layers import (
    Conv2d,
    Linear,
    LstmCell,
    MatMul,
    SvdLinear,
    TTLinear,
    Tucker2Conv,
)

FAST = Protocol(warmup=1, repeats=3, min_seconds=0.0, max_repeats=3, rounds=1)
"""Structure tests: as few calls as a row needs."""


def tiny_workload() -> Workload:
    return Workload("tiny", (
        Conv2d("conv1", 3, 16, 16, 16, 3, 3, 1, 1),
        Conv2d("conv2", 16, 16, 16, 16, 3, 3, 1, 1),
        Conv2d("conv3", 16, 16, 16, 16, 3, 3, 1, 1),  # same shape as conv2
        Conv2d("dw", 16, 16, 16, 16, 3, 3, 2, 1, 1, 16),
        Linear("fc", 16 * 8 * 8, 40),
    ))


def _out_shape(module: torch.nn.Module, x: torch.Tensor) -> tuple[int, ...]:
    with torch.inference_mode():
        return tuple(module(x).shape)


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------ modules


@pytest.mark.parametrize("layer", [
    Conv2d("c", 8, 12, 15, 13, 3, 3, 2, 1),
    Conv2d("dil", 8, 8, 20, 20, 3, 5, 1, 2, 2),
    Conv2d("dw", 16, 16, 9, 9, 3, 3, 1, 1, 1, 16),
    Conv2d("grouped", 8, 16, 9, 9, 1, 1, 1, 0, 1, 4, 2),
])
def test_conv2d_module_matches_the_record(layer):
    module, x = torch_layer(layer, "fp32")
    assert tuple(x.shape) == (layer.batch, layer.in_channels, layer.in_height, layer.in_width)
    assert _out_shape(module, x) == (layer.batch, layer.out_channels, layer.out_height,
                                     layer.out_width)
    assert _params(module) == layer.weight_params
    # MACs of a conv = output elements x (C_in/groups * kh * kw)
    out_elems = layer.batch * layer.out_channels * layer.out_height * layer.out_width
    assert out_elems * (layer.in_channels // layer.groups) * layer.kernel_h * layer.kernel_w \
        == sum(g.macs for g in layer.gemms())
    assert not module.training


def test_linear_and_svd_modules_match_the_records():
    lin = Linear("fc", 64, 10, tokens=7)
    module, x = torch_layer(lin, "fp32")
    assert tuple(x.shape) == (7, 64) and _out_shape(module, x) == (7, 10)
    assert _params(module) == lin.weight_params
    svd = SvdLinear("fc", 64, 40, 8, tokens=5)
    module, x = torch_layer(svd, "fp32")
    assert _out_shape(module, x) == (5, 40)
    assert _params(module) == svd.weight_params
    layers = list(module)
    assert [(m.in_features, m.out_features) for m in layers] == [(64, 8), (8, 40)]
    assert 5 * (64 * 8 + 8 * 40) == svd.macs


def test_tucker2_module_matches_the_record():
    layer = Tucker2Conv("t", 32, 48, 14, 14, 3, 3, rank_in=8, rank_out=12, stride=2, padding=1)
    module, x = torch_layer(layer, "fp32")
    assert _out_shape(module, x) == (1, 48, layer.out_height, layer.out_width)
    assert _params(module) == layer.weight_params
    first, core, last = module
    assert (first.kernel_size, core.kernel_size, last.kernel_size) == ((1, 1), (3, 3), (1, 1))
    assert core.stride == (2, 2) and core.padding == (1, 1)
    pix_in, pix_out = 14 * 14, layer.out_height * layer.out_width
    assert pix_in * 32 * 8 + pix_out * 8 * 12 * 9 + pix_out * 12 * 48 == layer.macs


def test_matmul_module_and_dtypes():
    layer = MatMul("scores", m=6, n=5, k=4, heads=3, batch=2)
    module, x = torch_layer(layer, "fp32")
    assert _out_shape(module, x) == (2, 3, 6, 5)
    assert 2 * 3 * 6 * 5 * 4 == layer.macs
    module, x = torch_layer(Linear("fc", 8, 4), "bf16")
    assert x.dtype == torch.bfloat16 and next(module.parameters()).dtype == torch.bfloat16


def test_weights_are_seeded():
    layer = Conv2d("c", 4, 4, 6, 6, 3, 3)
    (a, xa), (b, xb) = torch_layer(layer, "fp32", seed=3), torch_layer(layer, "fp32", seed=3)
    assert torch.equal(a.weight, b.weight) and torch.equal(xa, xb)
    c, _ = torch_layer(layer, "fp32", seed=4)
    assert not torch.equal(a.weight, c.weight)


@pytest.mark.parametrize("layer", [
    LstmCell("lstm", 8, 8, 4),
    TTLinear("tt", (2, 2), (2, 2), (1, 2, 1)),
])
def test_unsupported_kinds_raise_naming_the_layer(layer):
    with pytest.raises(TableError, match=rf"{layer.name}.*{layer.kind}"):
        torch_layer(layer, "fp32")
    with pytest.raises(CodesignError, match=layer.kind):
        build_table([Workload("w", (Linear("fc", 4, 4), layer))], protocol=FAST, progress=False)


def test_bad_dtype_device_and_protocol_raise():
    with pytest.raises(CodesignError, match="dtypes"):
        build_table([tiny_workload()], dtypes=("fp8",), protocol=FAST, progress=False)
    with pytest.raises(CodesignError, match="device"):
        build_table([tiny_workload()], device="tpu", protocol=FAST, progress=False)
    with pytest.raises(TableError, match="repeats"):
        Protocol(repeats=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_request_without_a_gpu_raises():
    with pytest.raises(CodesignError, match="no CUDA GPU"):
        build_table([tiny_workload()], device="cuda", protocol=FAST, progress=False)
    with pytest.raises(CodesignError, match="no CUDA GPU"):
        measure_layer(Linear("fc", 4, 4), "fp32", "cuda:0", FAST)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_smoke():
    table = build_table([tiny_workload()], device="cuda", dtypes=("fp32", "fp16"),
                        protocol=FAST, progress=False)
    assert table.device.startswith("cuda:")
    assert table.metadata["device_name"] == torch.cuda.get_device_name(0)
    assert table.metadata["protocol"]["timer"] == "cuda events"
    assert all(r.median_ms > 0 for r in table.rows)
    assert {n.dtype for n in table.networks} == {"fp32", "fp16"}


# ------------------------------------------------------------------------------ tables


@pytest.fixture(scope="module")
def tiny_table() -> LatencyTable:
    return build_table([tiny_workload()], ranks=(None, 4, 8), dtypes=("fp32", "bf16"),
                       protocol=FAST, samples=2, seed=1, progress=False, threads=1)


def test_rows_are_deduplicated_and_cover_every_layer(tiny_table):
    keys = [(r.key, r.dtype) for r in tiny_table.rows]
    assert len(keys) == len(set(keys))
    wl = tiny_workload()
    for dtype in ("fp32", "bf16"):
        for layer in wl.layers:
            row = tiny_table.get(layer, dtype)
            assert row is not None and row.macs == sum(g.macs for g in layer.gemms())
            assert row.repeats == 3 and row.p25_ms <= row.median_ms <= row.p75_ms
    # conv2 and conv3 share one row
    assert layer_key(wl.layers[1]) == layer_key(wl.layers[2])
    dense = [r for r in tiny_table.rows if r.dtype == "fp32" and not r.sample
             and r.kind in ("conv2d", "linear")]
    assert len(dense) == 4


def test_ranks_give_the_low_rank_rows(tiny_table):
    keys = {r.key for r in tiny_table.rows if r.dtype == "fp32"}
    assert any(k.startswith("svd_linear|") and "rank=4," in k for k in keys)
    assert any(k.startswith("svd_linear|") and "rank=8," in k for k in keys)
    tucker = [k for k in keys if k.startswith("tucker2_conv|")]
    # conv1 (3 -> 16) clips rank_in to 3; the depthwise conv is not factorised
    assert any("in_channels=3," in k and "rank_in=3,rank_out=4" in k for k in tucker)
    assert any("rank_in=8,rank_out=8" in k for k in tucker)
    assert not any("groups=16" in k for k in keys if k.startswith("tucker2_conv"))


def test_network_rows(tiny_table):
    nets = tiny_table.networks
    assert len(nets) == 3 * 2  # three rank specs, two dtypes
    for n in nets:
        assert n.workload == "tiny" and n.measured_ms > 0 and math.isfinite(n.gap)
    fp32 = [n for n in nets if n.dtype == "fp32"]
    assert fp32[0].ranks is None
    assert fp32[1].ranks == (4, 4, 4, None, 4)  # min(r, full rank); depthwise stays dense
    wl = tiny_workload()
    rows = {(r.key, r.dtype): r for r in tiny_table.rows}
    assert fp32[0].sum_ms == pytest.approx(sum(rows[(layer_key(la), "fp32")].median_ms
                                               for la in wl.layers))


def test_samples_and_metadata(tiny_table):
    samples = [r for r in tiny_table.rows if r.sample and r.dtype == "fp32"]
    assert sorted(r.kind for r in samples) == ["conv2d", "conv2d", "linear", "linear"]
    drawn = sample_layers(50, seed=0)
    assert all(1 <= getattr(la, "in_features", 8) <= 4096 for la in drawn)
    convs = [la for la in drawn if isinstance(la, Conv2d)]
    assert all(8 <= la.in_channels <= 1024 and 7 <= la.in_height <= 112
               and la.kernel_h in (1, 3, 5, 7) and la.stride in (1, 2) for la in convs)
    meta = tiny_table.metadata
    assert meta["device"] == "cpu" and meta["threads"] == 1 and meta["torch"] == torch.__version__
    assert meta["dtypes"] == ["fp32", "bf16"] and meta["workloads"] == ["tiny"]
    assert meta["ranks"] == [None, 4, 8] and meta["protocol"]["repeats"] == 3
    assert meta["protocol"]["statistic"] == "median" and meta["device_name"]
    for name in ("created", "host", "python"):
        assert meta[name]


def test_threads_are_restored():
    before = torch.get_num_threads()
    build_table([Workload("one", (Linear("fc", 8, 8),))], threads=1, protocol=FAST,
                progress=False)
    assert torch.get_num_threads() == before


def test_table_round_trips_through_its_file(tiny_table, tmp_path):
    path = tiny_table.save(tmp_path / "tiny.table")
    loaded = load_table(path)
    assert loaded.rows == tiny_table.rows
    assert loaded.networks == tiny_table.networks
    assert json.loads(json.dumps(tiny_table.metadata)) == dict(loaded.metadata)
    assert loaded.to_dict() == tiny_table.to_dict()


def test_space_ranks_match_the_rank_design_space():
    from rl_search.spaces import _rank_knobs

    wl = zoo.get("resnet20")
    knobs = {k.name: k.choices for k in _rank_knobs(wl, 16, 16)}
    for layer in wl.layers:
        assert rank_candidates(layer) == knobs.get(f"{layer.name}.rank", (None,))
    big = Linear("fc", 2048, 1000)
    assert len(rank_candidates(big)) == 16 and rank_candidates(big)[-1] is None


def test_space_build_has_every_variant_and_no_network_row():
    wl = Workload("w", (Conv2d("c", 16, 48, 8, 8, 3, 3, 1, 1), Linear("fc", 40, 20)))
    table = build_table([wl], ranks=("space",), protocol=FAST, progress=False)
    keys = {r.key for r in table.rows}
    assert len(keys) == len(rank_candidates(wl.layers[0])) + len(rank_candidates(wl.layers[1]))
    assert {r.kind for r in table.rows} == {"conv2d", "tucker2_conv", "linear", "svd_linear"}
    assert table.networks == ()


def test_remeasuring_a_layer_stays_within_a_loose_band():
    """Two measurements of one layer: the second median within the first's p25..p75 widened
    by a factor 2 either way (a loaded shared machine moves medians by tens of percent; the
    band only catches a broken timer, e.g. one that times nothing or times many calls)."""
    layer = Conv2d("c", 32, 32, 16, 16, 3, 3, 1, 1)
    protocol = Protocol(warmup=2, repeats=15, min_seconds=0.05, rounds=3)
    first = measure_layer(layer, "fp32", "cpu", protocol)
    second = measure_layer(layer, "fp32", "cpu", protocol)
    assert first.p25_ms / 2 <= second.median_ms <= first.p75_ms * 2
    assert first.repeats >= 15
    # a layer with ~64x the MACs takes clearly longer than the small one
    bigger = measure_layer(Conv2d("c", 128, 128, 32, 32, 3, 3, 1, 1), "fp32", "cpu", protocol)
    assert bigger.median_ms > 4 * first.median_ms


# ------------------------------------------------------------------------------ CLI


def _cli(*argv: str) -> int:
    from rl_search.cli_tables import add_parser

    parser = argparse.ArgumentParser(prog="codesign")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_build_show_and_json(tmp_path, capsys):
    out = tmp_path / "r20.table"
    assert _cli("tables", "build", "--workload", "resnet20", "--ranks", "full,16",
                "--repeats", "3", "--min-seconds", "0", "--warmup", "1", "--quiet",
                "--out", str(out)) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "rows" in text and "gap" in text
    table = load_table(out)
    assert table.metadata["workloads"] == ["resnet20"] and len(table.networks) == 2
    assert any(r.kind == "tucker2_conv" for r in table.rows)

    assert _cli("tables", "show", str(out), "--rows", "3") == 0
    text = capsys.readouterr().out
    assert "resnet20 (dense, fp32): measured" in text and "resnet20 (rank <=16, fp32)" in text
    assert "conv2d 3x32x32 -> 16x32x32 k3x3 s1 p1" in text and "more rows" in text

    assert _cli("tables", "show", str(out), "--json", "--rows", "2") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "codesign-latency-table" and len(data["rows"]) == 2
    assert data["rows_total"] == len(table.rows) and data["counts"]["fp32"]["sample"] == 0
    assert all(math.isfinite(n["gap"]) for n in data["networks"])


def test_cli_rejects_bad_ranks():
    from rl_search.cli_tables import parse_ranks

    assert parse_ranks("16,32,full,space") == [16, 32, None, "space"]
    with pytest.raises(CodesignError, match="--ranks"):
        parse_ranks("16,zero")
