"""Systolic-array analytic model against SCALE-Sim 3.0.0's recorded figures and the plain-Python
fold-by-fold reference.

The recorded figures (tests/data/scalesim_3.0.0.json) regenerate with
``/tmp/peers/bin/python benchmarks/record_scalesim.py`` (any Python with scalesim==3.0.0);
these tests do not need SCALE-Sim. The memory bands are stated in docs/asic.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hwsim.asic import (
    DATAFLOWS,
    compute_cycles,
    dataflow_codes,
    gemm_cycles,
    layer_costs,
    memory_costs,
    utilisation,
)
from hwsim.asic import analytic as an
from hwsim.asic import reference as ref
from hwsim.errors import RecordError

RECORD = json.loads((Path(__file__).resolve().parents[2] / "data" / "scalesim_3.0.0.json")
                    .read_text())
CASES = RECORD["cases"]
FULL = [c for c in CASES if c["mode"] == "full"]

# memory bands (docs/asic.md, "How close to SCALE-Sim"); the recorded worst cases in comments
FITS_TOTAL_REL = 0.01  # both inputs resident, the ofmap drains stall (0.7 %)
SAME_TRAFFIC_TOTAL_REL = 0.05  # inputs streamed, SCALE-Sim refetched no more than we count (1.9 %)
SAME_TRAFFIC_REL = 0.01  # "refetched no more": DRAM reads within 1 %
OFMAP_DRAM_REL = 0.002  # SCALE-Sim counts a few null slots of partly filled drain lines


def _cid(case: dict) -> str:
    sram = case.get("sram", "compute")
    return f"{case['name']}-{case['rows']}x{case['cols']}-{case['dataflow']}-{sram}"


def _ours(case: dict) -> an.SystolicCosts:
    g = case["gemm"]
    return memory_costs([g["m"]], [g["n"]], [g["k"]], [g["count"]], case["rows"], case["cols"],
                        case["dataflow"], case["ifmap_sram_kib"], case["filter_sram_kib"],
                        case["ofmap_sram_kib"], word_bytes=case["word_bytes"],
                        dram_bytes_per_cycle=case["dram_words_per_cycle"])


def _same_traffic(case: dict, ours: an.SystolicCosts) -> bool:
    s = case["scalesim"]
    return all(abs(s[f"{op}_dram_reads"] - int(getattr(ours, f"{op}_dram_reads")[0, 0]))
               <= SAME_TRAFFIC_REL * s[f"{op}_dram_reads"] for op in ("ifmap", "filter"))


# --------------------------------------------------------------------------------------------
# compute cycles: exact on every recorded case
# --------------------------------------------------------------------------------------------


def test_record_covers_the_brief() -> None:
    names = {c["name"] for c in CASES}
    assert {"odd.1x1x1", "odd.7x13x29", "odd.33x65x17", "deit_s.qkv"} <= names
    assert any(n.startswith("resnet18.") for n in names)
    assert any(n.startswith("resnet50.") for n in names)
    assert any(c["depthwise"] and c["mode"] == "full" for c in CASES)
    arrays = {(c["rows"], c["cols"]) for c in CASES}
    assert {(32, 32), (8, 8), (12, 14)} <= arrays
    assert {c["dataflow"] for c in CASES} == set(DATAFLOWS)
    fits = [c for c in FULL if _ours(c).ifmap_fits[0, 0] and _ours(c).filter_fits[0, 0]]
    assert fits and len(fits) < len(FULL)


@pytest.mark.parametrize("case", CASES, ids=_cid)
def test_compute_cycles_equal_scalesim(case: dict) -> None:
    g, s = case["gemm"], case["scalesim"]
    one = compute_cycles(g["m"], g["n"], g["k"], case["rows"], case["cols"], case["dataflow"])
    assert g["count"] * one == s["compute_cycles"]
    mapping, util = utilisation(g["m"], g["n"], g["k"], case["rows"], case["cols"],
                                case["dataflow"])
    assert 100 * mapping == pytest.approx(s["mapping_efficiency_pct"], rel=1e-9)
    assert 100 * util == pytest.approx(s["compute_util_pct"], rel=1e-9)


def test_batch_equals_scalesim_on_all_cases() -> None:
    """One [n_designs, n_gemms] call: design d runs every GEMM on case d's array and dataflow."""
    gemms = np.array([[c["gemm"][f] for f in ("m", "n", "k", "count")] for c in CASES]).T
    rows = np.array([c["rows"] for c in CASES])
    cols = np.array([c["cols"] for c in CASES])
    flows = np.array([c["dataflow"] for c in CASES])
    table = gemm_cycles(*gemms, rows, cols, flows)
    assert table.shape == (len(CASES), len(CASES))
    assert np.diagonal(table).tolist() == [c["scalesim"]["compute_cycles"] for c in CASES]
    per_gemm = gemm_cycles(*gemms, rows[:, None].repeat(len(CASES), 1),
                           cols[:, None].repeat(len(CASES), 1), dataflow_codes(flows)[:, None])
    np.testing.assert_array_equal(per_gemm, table)
    np.testing.assert_array_equal(gemm_cycles(*gemms, rows, cols, flows, parallel=True), table)


@pytest.mark.parametrize("case", CASES, ids=_cid)
def test_sram_accesses_equal_scalesim(case: dict) -> None:
    """SCALE-Sim's os ofmap counter adds rows + cols per fold (systolic_compute_os.py,
    ``self.ofmap_writes += this_fold_demand.shape[0] + this_fold_demand.shape[1]``); we count
    the outputs written."""
    g, s = case["gemm"], case["scalesim"]
    r = ref.compute(g["m"], g["n"], g["k"], case["rows"], case["cols"], case["dataflow"])
    ours = memory_costs([g["m"]], [g["n"]], [g["k"]], [g["count"]], case["rows"], case["cols"],
                        case["dataflow"], 64, 64, 64, word_bytes=1, dram_bytes_per_cycle=10)
    assert ours.ifmap_sram_reads[0, 0] == s["ifmap_sram_reads"]
    assert ours.filter_sram_reads[0, 0] == s["filter_sram_reads"]
    assert ours.ofmap_sram_writes[0, 0] == g["count"] * r["ofmap_sram_writes"]
    assert g["count"] * r["scalesim_ofmap_sram_writes"] == s["ofmap_sram_writes"]


def test_depthwise_layer_is_count_repetitions() -> None:
    """SCALE-Sim runs a DP row as C single-channel layers; their sum is our count = C GEMM."""
    dp = [c for c in FULL if c["depthwise"]]
    assert dp
    for case in dp:
        g = case["gemm"]
        assert case["scalesim"]["identical_layers"]
        assert g["n"] == 1 and g["count"] == case["conv"]["channels"] > 1
        ours = _ours(case)
        for field in ("total_cycles", "stall_cycles", "ifmap_dram_reads", "filter_dram_reads"):
            assert int(getattr(ours, field)[0, 0]) == case["scalesim"][field], field


# --------------------------------------------------------------------------------------------
# memory: the bands of docs/asic.md
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", FULL, ids=_cid)
def test_memory_against_scalesim(case: dict) -> None:
    s, ours = case["scalesim"], _ours(case)
    total = int(ours.total_cycles[0, 0])
    assert int(ours.compute_cycles[0, 0]) == s["compute_cycles"]
    assert ours.ofmap_dram_writes[0, 0] == pytest.approx(s["ofmap_dram_writes"],
                                                         rel=OFMAP_DRAM_REL)
    overall = 100 * float(ours.overall_utilisation[0, 0])
    if ours.ifmap_fits[0, 0] and ours.filter_fits[0, 0]:
        # resident inputs: read once before cycle 0, as SCALE-Sim's prefetch_active_buffer
        assert ours.ifmap_dram_reads[0, 0] == s["ifmap_dram_reads"]
        assert ours.filter_dram_reads[0, 0] == s["filter_dram_reads"]
        if s["stall_cycles"] == 0:
            assert total == s["total_cycles"]
        assert total == pytest.approx(s["total_cycles"], rel=FITS_TOTAL_REL)
    elif _same_traffic(case, ours):
        assert total == pytest.approx(s["total_cycles"], rel=SAME_TRAFFIC_TOTAL_REL)
    else:
        # SCALE-Sim refetched around its ring (docs/asic.md): this model is a lower bound
        for op in ("ifmap", "filter"):
            assert int(getattr(ours, f"{op}_dram_reads")[0, 0]) <= s[f"{op}_dram_reads"]
        assert total <= s["total_cycles"] * (1 + SAME_TRAFFIC_TOTAL_REL)
    if total == s["total_cycles"]:
        assert overall == pytest.approx(s["overall_util_pct"], rel=1e-9)


def test_memory_bands_are_not_empty() -> None:
    """Each band of docs/asic.md holds recorded cases, and most non-resident ones refetch."""
    fits = same = refetch = 0
    for case in FULL:
        ours = _ours(case)
        if ours.ifmap_fits[0, 0] and ours.filter_fits[0, 0]:
            fits += 1
        elif _same_traffic(case, ours):
            same += 1
        else:
            refetch += 1
    assert fits >= 50 and same >= 10 and refetch >= 10


# --------------------------------------------------------------------------------------------
# closed form == fold-by-fold reference == numba kernels, on random shapes
# --------------------------------------------------------------------------------------------

sizes = st.one_of(st.integers(1, 4), st.integers(1, 70), st.integers(1, 400))
edges = st.integers(1, 24)
flows = st.sampled_from(DATAFLOWS)


@settings(max_examples=400, deadline=None)
@given(sizes, sizes, sizes, edges, edges, flows)
def test_compute_closed_form_equals_reference(m: int, n: int, k: int, rows: int, cols: int,
                                              flow: str) -> None:
    s_r, s_c = {"os": (m, n), "ws": (k, n), "is": (k, m)}[flow]
    assume(math.ceil(s_r / rows) * math.ceil(s_c / cols) <= 3000)  # the reference is slow
    r = ref.compute(m, n, k, rows, cols, flow)
    assert compute_cycles(m, n, k, rows, cols, flow) == r["compute_cycles"]
    code = int(dataflow_codes(flow))
    assert an._compute_one(m, n, k, rows, cols, code) == r["compute_cycles"]
    mapping, util = utilisation(m, n, k, rows, cols, flow)
    assert mapping == pytest.approx(r["mapping_efficiency"], rel=1e-9)  # floats per fold
    assert util == pytest.approx(r["compute_utilisation"], rel=1e-9)  # the reference sums
    batch = gemm_cycles([m, n], [n, k], [k, m], [3, 1], rows, cols, flow)
    assert batch.tolist() == [[3 * r["compute_cycles"],
                               compute_cycles(n, k, m, rows, cols, flow)]]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 120), st.integers(1, 120), st.integers(1, 160), edges, edges, flows,
       st.lists(st.integers(0, 3000), min_size=3, max_size=3),
       st.sampled_from([0.5, 1.0, 2.0, 3.7, 10.0]))
def test_memory_kernel_equals_reference(m: int, n: int, k: int, rows: int, cols: int, flow: str,
                                        extra: list[int], bw: float) -> None:
    words = [2 * max(rows, cols) + e for e in extra]
    out = np.zeros(len(an._INT_FIELDS), dtype=np.int64)
    an._memory_one(m, n, k, rows, cols, int(dataflow_codes(flow)), *words, bw, out)
    r = ref.memory(m, n, k, rows, cols, flow, *words, bw)
    assert {f: int(v) for f, v in zip(an._INT_FIELDS, out, strict=True)} == {
        f: int(r[f]) for f in an._INT_FIELDS}


@settings(max_examples=100, deadline=None)
@given(sizes, sizes, sizes, st.integers(1, 5), edges, edges, flows)
def test_count_repeats_everything(m: int, n: int, k: int, count: int, rows: int, cols: int,
                                  flow: str) -> None:
    args = (rows, cols, flow, 2, 2, 2)
    one = memory_costs([m], [n], [k], [1], *args, word_bytes=1, dram_bytes_per_cycle=3.0)
    many = memory_costs([m], [n], [k], [count], *args, word_bytes=1, dram_bytes_per_cycle=3.0)
    for field in an._INT_FIELDS[:9]:
        assert getattr(many, field)[0, 0] == count * getattr(one, field)[0, 0], field
    np.testing.assert_array_equal(many.overall_utilisation, one.overall_utilisation)


def test_compute_cycles_any_size_in_python_ints() -> None:
    big = 10**30
    assert compute_cycles(big, 3, 5, 7, 9, "os") == -(-big // 7) * 1 * (5 + 7 + 9 - 2) - 1
    assert compute_cycles(1, 1, 1, 1, 1, "ws") == 1  # one fold of m + 2 + 1 - 2 = 2 lines


def test_words_and_bandwidth_scale_with_word_size() -> None:
    """Two-byte words: half the words in the same KiB, half the words per cycle."""
    one = memory_costs([197], [64], [64], [1], 12, 14, "ws", 16, 16, 16, word_bytes=1,
                       dram_bytes_per_cycle=4)
    two = memory_costs([197], [64], [64], [1], 12, 14, "ws", 32, 32, 32, word_bytes=2,
                       dram_bytes_per_cycle=8)
    for field in an._INT_FIELDS:
        np.testing.assert_array_equal(getattr(one, field), getattr(two, field))


def test_design_arrays_broadcast_and_parallel_is_bitwise() -> None:
    rng = np.random.default_rng(1)
    m, n, k = (rng.integers(1, 300, 40) for _ in range(3))
    count = rng.integers(1, 4, 40)
    rows = rng.integers(1, 33, 70)  # [n_designs]
    cols = rng.integers(1, 33, 70)
    flow = rng.integers(0, 3, (70, 40))  # [n_designs, n_gemms]
    kib = rng.choice([4, 16, 64], (70, 1))
    bw = rng.choice([2.0, 10.0], 70)
    serial, par = (memory_costs(m, n, k, count, rows, cols, flow, kib, kib, 8, word_bytes=1,
                                dram_bytes_per_cycle=bw, parallel=p) for p in (False, True))
    assert serial.total_cycles.shape == (70, 40)
    for field in (*an._INT_FIELDS, "mapping_efficiency", "compute_utilisation",
                  "overall_utilisation"):
        np.testing.assert_array_equal(getattr(par, field), getattr(serial, field))
    np.testing.assert_array_equal(serial.compute_cycles,
                                  gemm_cycles(m, n, k, count, rows, cols, flow))
    d, g = 5, 7
    one = memory_costs(m[g:g + 1], n[g:g + 1], k[g:g + 1], count[g:g + 1], rows[d], cols[d],
                       flow[d, g], kib[d, 0], kib[d, 0], 8, word_bytes=1,
                       dram_bytes_per_cycle=bw[d])
    assert one.total_cycles[0, 0] == serial.total_cycles[d, g]


@settings(max_examples=200, deadline=None)
@given(sizes, sizes, sizes, st.integers(1, 5), edges, edges, flows,
       st.sampled_from([1, 4, 64]), st.sampled_from([1, 2]), st.sampled_from([1.0, 3.0, 16.0]))
def test_layer_costs_is_memory_costs_of_one(m: int, n: int, k: int, count: int, rows: int,
                                            cols: int, flow: str, kib: int, word: int,
                                            bw: float) -> None:
    one = layer_costs(m, n, k, count, rows, cols, flow, kib, kib, kib, word_bytes=word,
                      dram_bytes_per_cycle=bw)
    batch = memory_costs([m], [n], [k], [count], rows, cols, flow, kib, kib, kib,
                         word_bytes=word, dram_bytes_per_cycle=bw)
    for field in (*an._INT_FIELDS, "mapping_efficiency", "compute_utilisation",
                  "overall_utilisation"):
        np.testing.assert_array_equal(getattr(one, field), getattr(batch, field))


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("m", 0), ("n", -3), ("k", 0), ("rows", 0),
                                              ("cols", -1)])
def test_compute_cycles_rejects_non_positive_sizes(field: str, value: int) -> None:
    args = {"m": 4, "n": 4, "k": 4, "rows": 2, "cols": 2, "dataflow": "os", field: value}
    with pytest.raises(RecordError, match=rf"{field}: must be an integer >= 1 \(got {value}\)"):
        compute_cycles(**args)


@pytest.mark.parametrize("flow", ["rs", "OS", 3, -1, 1.5])
def test_unknown_dataflow_is_named(flow: object) -> None:
    with pytest.raises(RecordError, match=r"dataflow: must be one of \('os', 'ws', 'is'\)"):
        compute_cycles(4, 4, 4, 2, 2, flow)  # type: ignore[arg-type]
    with pytest.raises(RecordError, match="dataflow"):
        gemm_cycles([4], [4], [4], [1], 2, 2, [flow])


def test_batch_reports_every_problem_at_once() -> None:
    with pytest.raises(RecordError) as err:
        memory_costs([4, 0], [4, 4], [4, -2], [1, 1], 0, 2, "xs", 64, -1, 64, word_bytes=1,
                     dram_bytes_per_cycle=float("nan"))
    text = str(err.value)
    for needle in ("m: must be integers in [1,", "(got 0)", "k: must be integers", "(got -2)",
                   "rows: must be integers", "dataflow: must be one of", "(got 'xs')",
                   "filter_sram_kib: must be finite numbers", "dram_bytes_per_cycle"):
        assert needle in text, needle


def test_sram_smaller_than_one_row_per_half_is_refused() -> None:
    message = (r"ofmap_sram_kib: holds 32 words of 2 byte\(s\); each half must hold one array "
               r"row, so at least 2\*max\(rows, cols\) = 64 words \(got 0.0625\)")
    with pytest.raises(RecordError, match=message):
        memory_costs([8], [8], [8], [1], 32, 16, "ws", 64, 64, 0.0625, word_bytes=2,
                     dram_bytes_per_cycle=4)
    with pytest.raises(RecordError, match=message):
        layer_costs(8, 8, 8, 1, 32, 16, "ws", 64, 64, 0.0625, word_bytes=2,
                    dram_bytes_per_cycle=4)


def test_layer_costs_names_every_problem() -> None:
    with pytest.raises(RecordError) as err:
        layer_costs(0, 4, 4, 1, 2, 2, "xs", 64, 64, -1, word_bytes=1,
                    dram_bytes_per_cycle=float("inf"))
    text = str(err.value)
    assert "invalid layer_costs input: 4 problem(s)" in text
    for needle in ("m: must be integers in [1,", "dataflow: must be one of", "(got 'xs')",
                   "ofmap_sram_kib: must be finite numbers", "dram_bytes_per_cycle"):
        assert needle in text, needle


def test_shapes_are_checked() -> None:
    with pytest.raises(RecordError, match="1-D arrays of one length"):
        gemm_cycles([4, 4], [4], [4], [1], 2, 2, "os")
    with pytest.raises(RecordError, match=r"rows: must be a scalar, \[n_designs\]"):
        gemm_cycles([4, 4], [4, 4], [4, 4], [1, 1], np.ones((2, 3), dtype=int), 2, "os")
    with pytest.raises(RecordError, match="int64"):
        gemm_cycles([2**40], [2**20], [2**10], [1], 1, 1, "os")
