"""The systolic cycle tier (hwsim.asic.cycle) against independent references: cycle counts
worked out by hand for tiny arrays and GEMMs, and a plain-Python transcription of the schedule
the module notes document (per-fold tiles from the operands' reuse, oversize tiles in chunks,
four in-order stages on double-buffered queues, one DRAM interface per operand).

The hand timings use the documented schedule: a DMA op starts when its stage is free and a free
region of its buffer exists (two regions, the array hands one back at the end of each fold),
the array starts fold ``i`` once fold ``i - 1`` is done, both input tiles of fold ``i`` are in
and an ofmap region is free, and the ofmap DMA drains fold ``i`` after the array is done with it.
A fold takes ``L`` cycles on the array (os: ``k + rows + cols - 2``; ws: ``m + 2*rows + cols
- 2``; is: ``n + 2*rows + cols - 2``), the last one ``L - 1``; a transfer of ``b`` bytes on an
interface of ``bw`` bytes/cycle takes ``b / bw`` cycles."""

from __future__ import annotations

import itertools
import math

import pytest

from hwsim.asic import cycle
from hwsim.errors import CodesignError

OS, WS, IS = 0, 1, 2


def sim(m, n, k, rows, cols, flow, *, words=(1e6, 1e6, 1e6), nbytes=(1.0, 1.0, 1.0),  # type: ignore[no-untyped-def]
        bw=1.0, **kw):
    return cycle.simulate_gemm(m, n, k, rows, cols, flow, ifmap_words=words[0],
                               filter_words=words[1], ofmap_words=words[2],
                               ifmap_bytes=nbytes[0], filter_bytes=nbytes[1],
                               ofmap_bytes=nbytes[2], dram_bytes_per_cycle=bw, **kw)


# ---------------------------------------------------------------------------------------------
# the plain-Python reference
# ---------------------------------------------------------------------------------------------


def ref_schedule(m, n, k, rows, cols, flow, words, nbytes, bw):  # type: ignore[no-untyped-def]
    """Per op (fold chunk): ifmap / filter bytes loaded, array cycles, ofmap bytes stored; and
    the fold count. Written from the module notes, loop by loop."""
    half_i, half_f, half_o = (w / 2 for w in words)
    if flow == OS:
        s_r, s_c, lines = m, n, k + rows + cols - 2
    elif flow == WS:
        s_r, s_c, lines = k, n, m + 2 * rows + cols - 2
    else:
        s_r, s_c, lines = k, m, n + 2 * rows + cols - 2
    f_r = (s_r + rows - 1) // rows
    f_c = (s_c + cols - 1) // cols
    folds = []
    for jc in range(f_c):  # column folds outer
        for ir in range(f_r):  # row folds inner
            u_r = min(rows, s_r - ir * rows)
            u_c = min(cols, s_c - jc * cols)
            if flow == OS:
                # ifmap streamed: re-read each column fold unless it all fits half its SRAM
                i_w = u_r * k if (jc == 0 or m * k > half_i) else 0
                f_w = k * u_c if ir == 0 else 0  # a filter block at each column fold's start
                o_w = u_r * u_c
            elif flow == WS:
                f_w = u_r * u_c  # stationary: each tile once
                i_w = m * u_r if (jc == 0 or m * k > half_i) else 0
                o_w = m * u_c  # partial sums of every row fold
            else:
                i_w = u_r * u_c
                f_w = n * u_r if (jc == 0 or k * n > half_f) else 0
                o_w = n * u_c
            folds.append((i_w, f_w, o_w))
    # the largest tile a fold holds, per operand
    r_, c_ = min(rows, s_r), min(cols, s_c)
    if flow == OS:
        hold = (r_ * k, k * c_, r_ * c_)
    elif flow == WS:
        hold = (m * r_, r_ * c_, m * c_)
    else:
        hold = (r_ * c_, n * r_, n * c_)
    chunks = 1
    for h, half in zip(hold, (half_i, half_f, half_o), strict=False):
        chunks = max(chunks, math.ceil(h / max(half, 1.0)))
    ops = []
    for i_w, f_w, o_w in folds:
        for _ in range(chunks):
            ops.append([i_w / chunks * nbytes[0], f_w / chunks * nbytes[1], lines / chunks,
                        o_w / chunks * nbytes[2]])
    ops[-1][2] -= 1.0
    return ops, len(folds)


def ref_run(m, n, k, rows, cols, flow, *, words=(1e6, 1e6, 1e6), nbytes=(1.0, 1.0, 1.0),  # type: ignore[no-untyped-def]
            bw=1.0):
    """Cycles, per-stage busy cycles, compute cycles, DRAM bytes and folds by the recurrence of
    the double-buffered pipeline (one DRAM interface per operand, so no sharing)."""
    ops, folds = ref_schedule(m, n, k, rows, cols, flow, words, nbytes, bw)
    end_i, end_f, end_a, end_o = [], [], [], []

    def at(lst, j):  # type: ignore[no-untyped-def]
        return lst[j] if j >= 0 else 0.0

    for j, (bi, bf, c, bo) in enumerate(ops):
        # the DMA needs a free region: two regions, freed when the array ends fold j - 2
        end_i.append(max(at(end_i, j - 1), at(end_a, j - 2)) + bi / bw)
        end_f.append(max(at(end_f, j - 1), at(end_a, j - 2)) + bf / bw)
        start = max(at(end_a, j - 1), end_i[j], end_f[j], at(end_o, j - 2))
        end_a.append(start + max(c, 0.0))
        end_o.append(max(at(end_o, j - 1), end_a[j]) + bo / bw)
    busy = {"ifmap_dma": sum(o[0] for o in ops) / bw, "filter_dma": sum(o[1] for o in ops) / bw,
            "array": sum(max(o[2], 0.0) for o in ops), "ofmap_dma": sum(o[3] for o in ops) / bw}
    return dict(cycles=max(end_i[-1], end_f[-1], end_a[-1], end_o[-1]),
                compute=sum(o[2] for o in ops), busy=busy,
                dram=sum(o[0] + o[1] + o[3] for o in ops), folds=folds,
                words=tuple(sum(o[q] for o in ops) / nbytes[p] for p, q in enumerate((0, 1, 3))))


def check(m, n, k, rows, cols, flow, **kw):  # type: ignore[no-untyped-def]
    got = sim(m, n, k, rows, cols, flow, **kw)
    ref = ref_run(m, n, k, rows, cols, flow, **kw)
    where = (m, n, k, rows, cols, flow, kw)
    assert got.cycles == pytest.approx(ref["cycles"], rel=1e-9, abs=1e-9), where
    assert got.compute_cycles == pytest.approx(ref["compute"], rel=1e-12, abs=1e-12), where
    assert got.dram_bytes == pytest.approx(ref["dram"], rel=1e-12, abs=1e-12), where
    assert got.folds == ref["folds"], where
    assert set(got.busy) == set(ref["busy"]), where
    for s, b in ref["busy"].items():
        assert got.busy[s] == pytest.approx(b, rel=1e-9, abs=1e-9), (where, s)
    return got, ref


# ---------------------------------------------------------------------------------------------
# hand-worked cases
# ---------------------------------------------------------------------------------------------


def test_one_fold_on_a_2x2_array_by_hand():
    """os, 2x2x2 on 2x2, 1 byte/cycle per interface: one fold, L = 2 + 2 + 2 - 2 = 4, the last
    fold L - 1 = 3. ifmap tile 2x2 = 4 bytes: 0-4; filter tile 4 bytes: 0-4 (own interface);
    array 4-7; ofmap 4 bytes 7-11. Total 11."""
    r = sim(2, 2, 2, 2, 2, OS)
    assert r.cycles == 11.0
    assert r.compute_cycles == 3.0
    assert r.folds == 1
    assert r.dram_bytes == 12.0
    assert r.busy == {"ifmap_dma": 4.0, "filter_dma": 4.0, "array": 3.0, "ofmap_dma": 4.0}


def test_operand_bytes_and_bandwidth_by_hand():
    """The same GEMM with 2-byte ifmap, 3-byte filter, 5-byte ofmap words at 2 bytes/cycle:
    ifmap 8 bytes 0-4, filter 12 bytes 0-6, array 6-9, ofmap 20 bytes 9-19."""
    r = sim(2, 2, 2, 2, 2, OS, nbytes=(2.0, 3.0, 5.0), bw=2.0)
    assert r.cycles == 19.0
    assert r.dram_bytes == 40.0
    assert r.busy == {"ifmap_dma": 4.0, "filter_dma": 6.0, "array": 3.0, "ofmap_dma": 10.0}


def test_two_row_folds_os_by_hand():
    """os, m=4, n=2, k=1 on 2x2: F_r = 2, F_c = 1, L = 1 + 2 + 2 - 2 = 3.
    ifmap tiles 2x1 = 2 bytes: I0 0-2, I1 2-4. filter: a 1x2 block at row fold 0 only: F0 0-2,
    F1 empty (at 2). A0 2-5; A1 (the last fold, 2 cycles) 5-7. ofmap tiles 2x2 = 4 bytes:
    O0 5-9, O1 9-13. Total 13; DRAM 2+2+2+4+4 = 14."""
    r = sim(4, 2, 1, 2, 2, OS)
    assert r.cycles == 13.0
    assert r.compute_cycles == 5.0
    assert r.folds == 2
    assert r.dram_bytes == 14.0
    assert r.busy == {"ifmap_dma": 4.0, "filter_dma": 2.0, "array": 5.0, "ofmap_dma": 8.0}


def test_double_buffering_lets_the_dma_run_two_folds_ahead_by_hand():
    """os, m=6, n=1, k=1 on a 2x1 array with slow ofmap drains: F_r = 3, L = 1 + 2 + 1 - 2 = 2.
    ifmap 2 bytes/fold at 1 byte/cycle: I0 0-2, I1 2-4, I2 needs region 0 back (A0's end, 4):
    4-6. filter 1 byte at fold 0: 0-1. A0 2-4, A1 4-6, A2 (last, 1 cycle) 6-7.
    ofmap 2 words x 4 bytes = 8 bytes a fold: O0 4-12, O1 12-20, O2 20-28. Total 28."""
    r = sim(6, 1, 1, 2, 1, OS, nbytes=(1.0, 1.0, 4.0))
    assert r.cycles == 28.0
    assert r.busy["array"] == 5.0


def test_ofmap_regions_throttle_the_array_by_hand():
    """os, m=8, n=1, k=1 on 2x1 (F = 4, L = 2), ofmap 10 bytes a fold: the array needs a free
    ofmap region. I: 0-2, 2-4, 4-6, 6-8; A0 2-4, A1 4-6; O0 4-14, O1 14-24; A2 waits for O0's
    region: 14-16; A3 (1 cycle) waits for O1: 24-25; O2 24-34, O3 34-44. Total 44."""
    r = sim(8, 1, 1, 2, 1, OS, nbytes=(1.0, 1.0, 5.0))
    assert r.cycles == 44.0
    assert r.busy["array"] == 7.0


def test_ws_and_is_one_fold_by_hand():
    """ws, m=3, n=2, k=2 on 2x2: one fold, L = 3 + 4 + 2 - 2 = 7, compute 6. filter tile 2x2 = 4
    bytes 0-4, ifmap m x k = 6 bytes 0-6, array 6-12, ofmap m x n = 6 bytes 12-18.
    is, m=2, n=3, k=2 on 2x2: L = 3 + 4 + 2 - 2 = 7; ifmap tile 2x2 = 4, filter n x k = 6,
    ofmap n x m = 6: the same 18."""
    ws = sim(3, 2, 2, 2, 2, WS)
    assert (ws.cycles, ws.compute_cycles, ws.dram_bytes) == (18.0, 6.0, 16.0)
    assert ws.busy == {"ifmap_dma": 6.0, "filter_dma": 4.0, "array": 6.0, "ofmap_dma": 6.0}
    is_ = sim(2, 3, 2, 2, 2, IS)
    assert (is_.cycles, is_.compute_cycles, is_.dram_bytes) == (18.0, 6.0, 16.0)
    assert is_.busy == {"ifmap_dma": 4.0, "filter_dma": 6.0, "array": 6.0, "ofmap_dma": 6.0}


def test_streamed_operand_is_reloaded_per_column_fold_unless_it_fits_half_by_hand():
    """os, m=2, n=4, k=1 on 2x2: F_c = 2. The ifmap (m*k = 2 words) fits half of a 4-word
    SRAM (2 <= 2): loaded once, 2 words; with a 3-word SRAM (half 1.5) it is re-read: 4 words.
    filter 1x2 block per column fold: 4; ofmap 2x2 a fold: 8."""
    fits = sim(2, 4, 1, 2, 2, OS, words=(4.0, 1e6, 1e6))
    assert fits.dram_bytes == 2 + 4 + 8
    reread = sim(2, 4, 1, 2, 2, OS, words=(3.0, 1e6, 1e6))
    assert reread.dram_bytes == 4 + 4 + 8
    # is: the filter (k*n = 2 words, n=2, k=1, m=4 on 2x2: F_c = 2) likewise
    fits = sim(4, 2, 1, 2, 2, IS, words=(1e6, 4.0, 1e6))
    reread = sim(4, 2, 1, 2, 2, IS, words=(1e6, 3.0, 1e6))
    # ifmap tiles 1x2 per fold: 4; ofmap n x u_c = 2x2 per fold: 8
    assert fits.dram_bytes == 4 + 2 + 8
    assert reread.dram_bytes == 4 + 4 + 8


def test_oversize_tile_is_loaded_in_chunks_by_hand():
    """os, 2x2x2 on 2x2 with a 2-word ifmap SRAM (half 1): the 4-word ifmap tile goes in 4
    chunks of 1 byte, each with L/4 = 1 cycle of compute (the last 0): every stage moves a
    quarter per chunk. I: 0-1, 1-2, then waits for A0's region. F chunks 1 byte: same.
    A0 1-2, I2 2-3, A1 2-3... ; ofmap 1 byte a chunk after each: A: 1-2, 2-3, 3-4, (4-4);
    O: 2-3, 3-4, 4-5, 5-6. Total 6; compute 3."""
    r = sim(2, 2, 2, 2, 2, OS, words=(2.0, 1e6, 1e6))
    assert r.cycles == 6.0
    assert r.compute_cycles == 3.0
    assert r.folds == 1
    assert r.dram_bytes == 12.0


def test_shared_port_by_hand():
    """The one-fold 2x2 case on a shared port of 1 byte/cycle (interfaces of 1 byte/cycle):
    ifmap and filter load together at 1/2 each: both end at 8; array 8-11; ofmap 11-15."""
    r = sim(2, 2, 2, 2, 2, OS, port=1.0)
    assert r.cycles == 15.0
    # an unlimited port is the default: one interface per operand
    assert sim(2, 2, 2, 2, 2, OS).cycles == 11.0
    assert sim(2, 2, 2, 2, 2, OS, port=math.inf).cycles == 11.0


# ---------------------------------------------------------------------------------------------
# the transcription, over a grid
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flow", [OS, WS, IS])
def test_schedule_matches_the_transcription(flow):
    shapes = [(1, 1, 1, 1, 1), (3, 5, 2, 2, 2), (5, 3, 4, 2, 3), (7, 2, 5, 3, 2),
              (4, 6, 3, 2, 4), (6, 4, 7, 4, 2)]
    srams = [(1e6, 1e6, 1e6), (8.0, 1e6, 1e6), (1e6, 6.0, 1e6), (1e6, 1e6, 5.0),
             (1.0, 1e6, 1e6), (12.0, 10.0, 1e6), (3.0, 40.0, 7.0)]
    rates = [((1.0, 1.0, 1.0), 1.0), ((2.0, 3.0, 5.0), 2.0), ((1.0, 4.0, 0.5), 0.5)]
    for (m, n, k, r, c), words, (nb, bw) in itertools.product(shapes, srams, rates):
        check(m, n, k, r, c, flow, words=words, nbytes=nb, bw=bw)


@pytest.mark.parametrize("flow", [OS, WS, IS])
def test_reuse_threshold_is_half_the_sram(flow):
    """The streamed operand fits exactly half its SRAM (words = 2*m*k or 2*k*n), and one word
    less; F_c > 1 so the difference shows."""
    m, n, k, r, c = 4, 5, 3, 2, 2
    for w in (2 * m * k, 2 * m * k - 1, 2 * k * n, 2 * k * n - 1):
        check(m, n, k, r, c, flow, words=(float(w), 1e6, 1e6))
        check(m, n, k, r, c, flow, words=(1e6, float(w), 1e6))


# ---------------------------------------------------------------------------------------------
# dram_words: the closed form of the same traffic
# ---------------------------------------------------------------------------------------------


def test_dram_words_by_hand():
    """os 2x4x1 on 2x2 (F_c = 2): ifmap 2 words once if it fits half (2 <= 2), else twice;
    filter 4 words once; ofmap 8 once. ws 4x3x5 on 2x2 (s = k x n = 5 x 3: F_r = 3, F_c = 2):
    ifmap m*k = 20 (x2 unless it fits), filter 15, ofmap m*n*F_r = 36. is 3x4x5 on 2x2
    (s = k x m: F_r = 3, F_c = 2): ifmap 15, filter k*n = 20 (x2 unless it fits),
    ofmap 12*3 = 36."""
    def w(*a):  # type: ignore[no-untyped-def]
        return tuple(float(x) for x in cycle.dram_words(*a))
    assert w(2, 4, 1, 2, 2, OS, 1.0, 1.0) == (4.0, 4.0, 8.0)
    assert w(2, 4, 1, 2, 2, OS, 2.0, 1.0) == (2.0, 4.0, 8.0)
    assert w(2, 4, 1, 2, 2, OS, 1.9, 100.0) == (4.0, 4.0, 8.0)
    assert w(4, 3, 5, 2, 2, WS, 19.0, 100.0) == (40.0, 15.0, 36.0)
    assert w(4, 3, 5, 2, 2, WS, 20.0, 0.0) == (20.0, 15.0, 36.0)
    assert w(3, 4, 5, 2, 2, IS, 100.0, 19.0) == (15.0, 40.0, 36.0)
    assert w(3, 4, 5, 2, 2, IS, 0.0, 20.0) == (15.0, 20.0, 36.0)


def test_dram_words_is_the_transcriptions_traffic():
    for flow, (m, n, k, r, c), (hi, hf) in itertools.product(
            (OS, WS, IS), [(3, 5, 2, 2, 2), (7, 2, 5, 3, 2), (6, 4, 7, 4, 2), (5, 9, 3, 2, 3)],
            [(1.0, 1.0), (1e6, 1e6), (6.0, 10.0), (15.0, 15.0)]):
        words = (2 * hi, 2 * hf, 1e6)
        ref = ref_run(m, n, k, r, c, flow, words=words)["words"]
        got = cycle.dram_words(m, n, k, r, c, flow, hi, hf)
        assert tuple(float(x) for x in got) == pytest.approx(ref, rel=1e-12), (flow, m, n, k)


def test_dram_words_broadcasts():
    got = cycle.dram_words([2, 2], 4, 1, 2, 2, [OS, OS], [1.0, 2.0], 1.0)
    assert [list(map(float, g)) for g in got] == [[4.0, 2.0], [4.0, 4.0], [8.0, 8.0]]


# ---------------------------------------------------------------------------------------------
# the fold limits
# ---------------------------------------------------------------------------------------------


def test_fold_limit_message_names_the_gemm():
    # os, 2,000,001 x 1 x 1 on 1x1: 2,000,001 folds, one over the limit
    with pytest.raises(CodesignError) as err:
        sim(2_000_001, 1, 1, 1, 1, OS)
    msg = str(err.value)
    assert "over 2,000,000 folds" in msg and "GEMM 2000001x1x1 on 1x1" in msg
    assert "use the analytic tier" in msg


def test_chunk_limit_message_names_the_gemm():
    # os, 1,000,001 x 1 x 2 on 1x1 with a 2-word ifmap SRAM (half 1): 1,000,001 folds, each
    # ifmap tile of k = 2 words in 2 chunks: 2,000,002 fold chunks
    with pytest.raises(CodesignError) as err:
        sim(1_000_001, 1, 2, 1, 1, OS, words=(2.0, 1e6, 1e6))
    msg = str(err.value)
    assert "2,000,002 fold chunks for GEMM 1000001x1x2 on 1x1 (limit 2,000,000)" in msg
    assert "use the analytic tier" in msg
    assert cycle.MAX_SIMULATED_FOLDS == 2_000_000


@pytest.mark.parametrize(("gemm", "text"), [
    # ws folds the k x n filter: k = 1, n = 2,000,001 on 1x1 is 2,000,001 folds
    ((1, 2_000_001, 1, 1, 1, WS), "GEMM 1x2000001x1 on 1x1"),
    # ws: k = 2,000,001, n = 1
    ((1, 1, 2_000_001, 1, 1, WS), "GEMM 1x1x2000001 on 1x1"),
    # is folds the k x m ifmap: m = 2,000,001
    ((2_000_001, 1, 1, 1, 1, IS), "GEMM 2000001x1x1 on 1x1"),
    # os, m = 3 on 2 rows (2 row folds, not 1.5) times n = 1,000,001 column folds: 2,000,002
    ((3, 1_000_001, 1, 2, 1, OS), "GEMM 3x1000001x1 on 2x1"),
    # and the other way round
    ((1_000_001, 3, 1, 1, 2, OS), "GEMM 1000001x3x1 on 1x2"),
])
def test_fold_limit_counts_the_folds_of_each_dataflow(gemm, text):
    with pytest.raises(CodesignError) as err:
        sim(*gemm)
    msg = str(err.value)
    assert "over 2,000,000 folds" in msg and text in msg, msg


def test_exactly_the_fold_limit_is_allowed_and_checked_in_chunks():
    """os, 2,000,000 x 1 x 2 on 1x1: exactly 2,000,000 folds pass the fold check; with a 2-word
    ifmap SRAM each fold is 2 chunks, 4,000,000 fold chunks: refused by the chunk check."""
    with pytest.raises(CodesignError) as err:
        sim(2_000_000, 1, 2, 1, 1, OS, words=(2.0, 1e6, 1e6))
    assert "4,000,000 fold chunks" in str(err.value)


def test_exactly_the_chunk_limit_is_simulated():
    """os, 1,000,000 x 1 x 2 on 1x1, 2-word ifmap SRAM: 1,000,000 folds of 2 chunks, exactly the
    limit of 2,000,000 fold chunks (N = 2m): simulated. By hand: chunk j loads 1 ifmap byte
    (I_j ends j + 1, the DMA two chunks ahead at most), computes L/2 = (2 + 1 + 1 - 2)/2 = 1
    cycle (A_j: j+1 to j+2; the last chunk 0 cycles, at N), drains 1/2 byte (O_j: j+2 to j+2.5);
    the last drain waits for O_{N-2} (ends N + 1/2) and ends at N + 1 = 2,000,001."""
    small = ref_run(5, 1, 2, 1, 1, OS, words=(2.0, 1e6, 1e6))
    assert small["cycles"] == 2 * 5 + 1
    r = sim(1_000_000, 1, 2, 1, 1, OS, words=(2.0, 1e6, 1e6))
    assert r.cycles == pytest.approx(2_000_001.0)
    assert r.folds == 1_000_000


def test_dram_words_counts_in_floats():
    """2**32 x 2**32 outputs: 2**64 words, past int64."""
    ifmap, _filt, ofmap = cycle.dram_words(2**32, 2**32, 1, 1, 1, OS, 1.0, 1.0)
    assert float(ofmap) == 2.0**64
    assert float(ifmap) == 2.0**32 * 2**32  # re-read once per column fold


def test_runs_cleanly_in_a_fresh_interpreter():
    """The schedule stays inside its op table (a crash of the numba kernel would kill the test
    process itself): the one-fold 2x2 case of 11 cycles, in a child interpreter."""
    import subprocess
    import sys
    code = ("from hwsim.asic import cycle; print(cycle.simulate_gemm(2, 2, 2, 2, 2, 0, "
            "ifmap_words=64.0, filter_words=64.0, ofmap_words=64.0, ifmap_bytes=1.0, "
            "filter_bytes=1.0, ofmap_bytes=1.0, dram_bytes_per_cycle=1.0).cycles)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "11.0"
