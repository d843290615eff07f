"""The banked working memory against the theory of REFERENCE.md section 4 (on generated access
patterns, with hypothesis) and against a plain-Python count of bank hits; and the claims the
issue asks to show: per-stage mappings conflict-free on every HT stage, the plain interleave
with the conflicts the theory predicts, and no single fixed skew serving every HT stage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.errors import CodesignError
from hwsim.ir import zoo
from hwsim.lstm import banks as bk
from hwsim.lstm.accel import run_layer
from hwsim.lstm.plan import plan_layer
from hwsim.spec import load_hardware

FDHT = load_hardware("fdht").lstm_accelerator
TIE = load_hardware("tie").lstm_accelerator


def _matrix(rows: int, cols: int) -> bk.Buffer:
    return bk.Buffer(("r", "c"), {"r": rows, "c": cols}, 1)


def _cycles(mapping: bk.BankMapping, buf: bk.Buffer, r: np.ndarray, c: np.ndarray,
            ports: int = 1) -> int:
    idx = {"r": r[None, :], "c": c[None, :]}
    return int(bk.group_cycles(mapping.bank(buf, idx), np.ones((1, r.size), bool),
                               mapping.banks, ports)[0])


powers = st.sampled_from([2, 4, 8, 16, 32])


@pytest.mark.parametrize("along", ["row", "column"])
@settings(max_examples=200, deadline=None)
@given(st.integers(2, 24), st.integers(0, 40), st.integers(0, 40), st.integers(0, 30),
       st.integers(0, 30))
def test_skew_conflict_free_on_rows_iff_gcd_b_B_and_on_columns_iff_gcd_a_B(along, B, a, b,
                                                                         fixed, start):
    buf = _matrix(128, 128)
    walk, still = np.arange(start, start + B), np.full(B, fixed)
    rows, cols = (still, walk) if along == "row" else (walk, still)
    free = _cycles(bk.skew(B, a, b), buf, rows, cols) == 1
    assert free == (math.gcd(b if along == "row" else a, B) == 1)


@settings(max_examples=100, deadline=None)
@given(powers, st.integers(0, 7), st.integers(0, 7), st.integers(0, 63))
def test_xor_serves_aligned_rows_and_columns(B, row_block, col_block, k):
    buf = _matrix(8 * 32, 8 * 32)
    lane = np.arange(B)
    assert _cycles(bk.xor(B), buf, np.full(B, k), col_block * B + lane) == 1
    assert _cycles(bk.xor(B), buf, row_block * B + lane, np.full(B, k)) == 1


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 32), st.integers(1, 64), st.integers(0, 20))
def test_interleave_column_reads_take_gcd_of_row_length_and_banks(B, row_len, j):
    # a row-major matrix read down a column: addresses j, j+L, j+2L, ...: B / gcd(L, B) banks,
    # each hit gcd(L, B) times (the TT corner turn: L = 4, B = 16 -> 4x slower)
    buf = _matrix(B, row_len)
    col = j % row_len
    assert _cycles(bk.interleave(B), buf, np.arange(B), np.full(B, col)) == math.gcd(row_len, B)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 20), st.integers(1, 4), st.integers(1, 16),
       st.lists(st.integers(0, 10**6), min_size=1, max_size=40), st.integers(1, 8))
def test_group_cycles_equal_a_plain_count(banks, ports, lanes, seeds, groups):
    rng = np.random.default_rng(seeds[0])
    bank = rng.integers(0, banks, (groups, lanes))
    valid = rng.random((groups, lanes)) < 0.8
    got = bk.group_cycles(bank, valid, banks, ports)
    for g in range(groups):
        hits = [0] * banks
        for lane in range(lanes):
            if valid[g, lane]:
                hits[bank[g, lane]] += 1
        assert got[g] == max(1, max(-(-h // ports) for h in hits))


def test_ports_divide_the_conflicts():
    buf = _matrix(16, 16)
    rows, col = np.arange(16), np.zeros(16, dtype=np.int64)
    assert _cycles(bk.interleave(16), buf, rows, col, ports=1) == 16
    assert _cycles(bk.interleave(16), buf, rows, col, ports=4) == 4


def test_xor_needs_a_power_of_two_and_names_unknown_mappings():
    with pytest.raises(CodesignError, match="power-of-two"):
        bk.xor(12)
    with pytest.raises(CodesignError, match="unknown fixed mapping"):
        bk.fixed_mapping("diagonal", 16)


# --- the workloads --------------------------------------------------------------------------------

WORKLOADS = ["lstm-ucf", "lstm-youtube"]


@pytest.mark.parametrize("name", WORKLOADS)
@pytest.mark.parametrize("variant", ["ht", "tt"])
def test_per_stage_mapping_has_zero_conflict_cycles_on_every_stage(name, variant):
    layer = zoo.get(name, variant=variant).layers[0]
    run = run_layer(layer, FDHT, fidelity="cycle", mapping="per-stage")
    assert len(run.stages) == 4
    for s in run.stages:
        assert (s.read_conflict_cycles, s.write_conflict_cycles) == (0, 0), s
        assert s.cycles == s.compute_cycles


@pytest.mark.parametrize("name", WORKLOADS)
def test_interleave_makes_the_tt_corner_turn_4x_slower(name):
    # REFERENCE: with 16 single-port banks a plain interleave makes the TT corner-turn 4x slower.
    # Stage 1 reads the result of stage 0 down its columns of 4 (the output mode); the stages
    # after it read strides that are multiples of 4 too.
    run = run_layer(zoo.get(name, variant="tt").layers[0], FDHT, fidelity="cycle",
                    mapping="interleave")
    for s in run.stages[1:]:
        assert s.compute_cycles + s.read_conflict_cycles == 4 * s.compute_cycles


@pytest.mark.parametrize("name", WORKLOADS)
def test_no_single_fixed_skew_serves_every_ht_stage(name):
    # REFERENCE: for HT stages one fixed skew is not enough; the mapping must be chosen per stage
    plan = plan_layer(zoo.get(name, variant="ht").layers[0])
    dims, buffers = plan.network.dims, bk.stage_buffers(plan)
    streams = []
    for s, stage in enumerate(plan.stages):
        streams.append((buffers[s], bk.read_groups(stage, dims, 16)))
        streams.append((buffers[s + 1], bk.write_groups(stage, dims, 16, stagger=True)))
    for a in range(16):
        for b in range(16):
            m = bk.skew(16, a, b)
            assert sum(bk.stream_cost(m, buf, x).conflict_cycles for buf, x in streams) > 0


def test_the_searched_mapping_is_never_worse_than_the_interleave():
    plan = plan_layer(zoo.get("lstm-ucf", variant="ht").layers[0])
    dims, buffers = plan.network.dims, bk.stage_buffers(plan)
    for s, stage in enumerate(plan.stages):
        read = bk.read_groups(stage, dims, 8)
        found = bk.search_mapping(buffers[s], [read], 8)
        assert bk.stream_cost(found, buffers[s], read).cycles <= \
            bk.stream_cost(bk.interleave(8), buffers[s], read).cycles


def test_streams_cover_every_element_once():
    plan = plan_layer(zoo.get("lstm-ucf", variant="ht").layers[0])
    dims = plan.network.dims
    for stage in plan.stages:
        for (idx, valid), names, total in (
                (bk.read_groups(stage, dims, 16), stage.layout, stage.in_elems),
                (bk.write_groups(stage, dims, 16, stagger=True), stage.out_layout,
                 stage.out_elems)):
            flat = np.zeros(valid.shape, dtype=np.int64)
            for n in names:
                flat = flat * dims[n] + idx[n]
            seen = np.sort(flat[valid])
            np.testing.assert_array_equal(seen, np.arange(total))


def test_tie_pays_a_transform_pass_fdht_does_not():
    layer = zoo.get("lstm-ucf", variant="tt").layers[0]
    tie = run_layer(layer, TIE)
    fdht = run_layer(layer, FDHT)
    assert [s.transform_cycles for s in tie.stages] == [0, 3200, 640, 128]
    assert all(s.transform_cycles == 0 for s in fdht.stages)
