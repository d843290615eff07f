"""The discrete-event engine on its own: toy pipelines whose cycle counts are worked out by hand.

Every expected number below is derived in the comments from the model in
``hwsim/engine/events.py``'s docstring (an op takes its tokens, spends ``fixed`` cycles, moves
its bytes at its share of the port, then signals), not printed by the code. All sizes are
chosen so that every rate and time is exact in binary floating point.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from hwsim.engine import events
from hwsim.engine.events import (
    MAX_DEPS,
    NO_QUEUE,
    DeadlockError,
    EngineRun,
    OpTable,
    Pipeline,
    set_op,
    simulate,
    stage_runs,
)


def _producer_consumer(depth: int, n: int = 3, produce: float = 2.0,
                       consume: float = 3.0) -> Pipeline:
    """A producer filling a buffer of ``depth`` regions that a consumer drains: the producer
    waits for a "free" token (``depth`` of them at first) and signals "full"; the consumer
    waits for "full" and hands the region back by signalling "free"."""
    p = Pipeline()
    full, free = p.queue("full"), p.queue("free", tokens=depth)
    prod, cons = p.stage("producer"), p.stage("consumer")
    for _ in range(n):
        p.op(prod, fixed=produce, wait=[free], signal=[full])
        p.op(cons, fixed=consume, wait=[full], signal=[free])
    return p


# ---------------------------------------------------------------------------------------------
# token queues
# ---------------------------------------------------------------------------------------------


def test_queue_of_depth_1_serialises_producer_and_consumer() -> None:
    # One region: the producer cannot refill it until the consumer has drained it.
    # P1 0..2, C1 2..5, P2 5..7, C2 7..10, P3 10..12, C3 12..15: n*(2+3) = 15 cycles.
    run = _producer_consumer(depth=1).run()
    assert run.cycles == 15.0
    prod, cons = run.stage("producer"), run.stage("consumer")
    assert prod.finish_cycle == 12.0 and cons.finish_cycle == 15.0
    assert prod.busy_cycles == 6.0 and cons.busy_cycles == 9.0  # 3*2, 3*3
    # the producer waits 3 cycles before P2 and P3 (C1, C2) and is done 3 early: 15 - 6 = 9;
    # the consumer waits 2 before C1, C2 and C3 (P1, P2, P3): 15 - 9 = 6
    assert prod.stall_cycles(run.cycles) == 9.0 and cons.stall_cycles(run.cycles) == 6.0
    assert prod.ops == cons.ops == 3
    # one event per distinct op end: 2, 5, 7, 10, 12, 15
    assert run.events == 6


def test_queue_of_depth_2_overlaps_producer_and_consumer() -> None:
    # Two regions (double buffering): P1 0..2, P2 2..4 (the second free token), then P3 waits
    # for C1 to free a region. C1 2..5 (P1's token), P3 5..7, C2 5..8 (P2's token, ready at 4),
    # C3 8..11 (P3's token at 7, consumer free at 8): 2 + n*3 = 11 cycles, consumer bound.
    run = _producer_consumer(depth=2).run()
    assert run.cycles == 11.0
    assert run.stage("producer").finish_cycle == 7.0
    assert run.stage("consumer").busy_cycles == 9.0
    assert run.stage("consumer").stall_cycles(run.cycles) == 2.0  # only the wait for P1
    # op ends at 2, 4, 5, 7, 8, 11
    assert run.events == 6


def test_a_deeper_queue_does_not_beat_the_slower_stage() -> None:
    # Depth 3: the producer runs 0..6 unhindered, the consumer 2..11 back to back: still
    # produce + n*consume = 11. With the producer the slower one (5 vs 3 cycles) and depth 2:
    # P 0..5, 5..10, 10..15, each C right after its P, the last 15..18 = n*5 + 3.
    assert _producer_consumer(depth=3).run().cycles == 11.0
    slow = _producer_consumer(depth=2, produce=5.0, consume=3.0).run()
    assert slow.cycles == 18.0
    assert slow.stage("producer").stall_cycles(slow.cycles) == 3.0  # done while C3 runs


def test_instantaneous_ops_pass_tokens_on_at_once() -> None:
    # The consumer is declared first and waits for a token that an op of no length in a later
    # stage signals at cycle 0; it must still start at 0 (the engine retries within the
    # instant), so its 3 cycles end at 3.
    p = Pipeline()
    go = p.queue("go")
    cons, prod = p.stage("consumer"), p.stage("producer")
    p.op(cons, fixed=3.0, wait=[go])
    p.op(prod, signal=[go])
    run = p.run()
    assert run.cycles == 3.0
    assert run.stage("producer").finish_cycle == 0.0
    assert run.stage("producer").busy_cycles == 0.0


def test_a_token_that_never_comes_is_a_deadlock() -> None:
    p = Pipeline()
    never = p.queue("never")
    s = p.stage("s")
    p.op(s, fixed=1.0)
    p.op(s, fixed=1.0, wait=[never])
    with pytest.raises(DeadlockError):
        p.run()


# ---------------------------------------------------------------------------------------------
# the shared port
# ---------------------------------------------------------------------------------------------


def _two_transfers(port: float, bytes_a: float = 100.0, bytes_b: float = 100.0,
                   width_a: float = 10.0, width_b: float = 10.0) -> EngineRun:
    p = Pipeline()
    a, b = p.stage("a"), p.stage("b")
    p.op(a, nbytes=bytes_a, width=width_a)
    p.op(b, nbytes=bytes_b, width=width_b)
    return p.run(port)


def test_two_stages_share_the_port_at_half_bandwidth_each() -> None:
    # Two 100-byte transfers of engines 10 bytes/cycle wide on a 10-byte port: 5 bytes/cycle
    # each, so both end at 100/5 = 20 instead of 100/10 = 10 alone. Contention: the integral
    # of 1 - rate/solo_rate = 20*(1 - 5/10) = 10 cycles each, all of it inside busy time.
    run = _two_transfers(port=10.0)
    for name in "ab":
        st = run.stage(name)
        assert st.finish_cycle == 20.0
        assert st.busy_cycles == 20.0
        assert st.contention_cycles == 10.0
        assert st.dram_bytes == 100.0
    assert run.events == 1  # both end at the same instant


@pytest.mark.parametrize("port", [20.0, 64.0, math.inf])
def test_a_port_as_wide_as_both_engines_adds_no_contention(port: float) -> None:
    # Each engine at its own 10 bytes/cycle: 100/10 = 10 cycles, nothing lost.
    run = _two_transfers(port=port)
    assert run.cycles == 10.0
    assert run.stage("a").contention_cycles == run.stage("b").contention_cycles == 0.0


def test_when_one_transfer_ends_the_other_gets_the_whole_port() -> None:
    # 100 and 50 bytes on a 10-byte port: 5 bytes/cycle each until b's 50 bytes end at 10;
    # a has 50 left and the port to itself, 50/10 = 5 more cycles: 15. Contention: 10 cycles
    # at half rate, 10*(1 - 1/2) = 5, for each.
    run = _two_transfers(port=10.0, bytes_b=50.0)
    assert run.stage("b").finish_cycle == 10.0
    assert run.stage("a").finish_cycle == 15.0
    assert run.stage("a").contention_cycles == run.stage("b").contention_cycles == 5.0


def test_max_min_fair_share_gives_a_narrow_engines_leftover_to_the_wide_one() -> None:
    # Port 8, engines 2 and 10 wide: an equal share would be 4 each, but the narrow engine
    # takes only its 2, so the wide one gets 8 - 2 = 6. a: 20 bytes at 2 = 10 cycles, its solo
    # rate, no contention; b: 60 bytes at 6 = 10 cycles, solo rate min(10, 8) = 8, so
    # contention 10*(1 - 6/8) = 2.5.
    run = _two_transfers(port=8.0, bytes_a=20.0, bytes_b=60.0, width_a=2.0, width_b=10.0)
    assert run.stage("a").finish_cycle == run.stage("b").finish_cycle == 10.0
    assert run.stage("a").contention_cycles == 0.0
    assert run.stage("b").contention_cycles == 2.5


def test_a_setup_uses_no_bandwidth() -> None:
    # a: 10 cycles of setup, then 40 bytes; b: 40 bytes at once; both 8 wide on an 8-byte port.
    # b has the port alone during a's setup: 40/8 = 5, ends at 5; a transfers 10..15 alone.
    p = Pipeline()
    a, b = p.stage("a"), p.stage("b")
    p.op(a, fixed=10.0, nbytes=40.0, width=8.0)
    p.op(b, nbytes=40.0, width=8.0)
    run = p.run(8.0)
    assert run.stage("b").finish_cycle == 5.0
    assert run.stage("a").finish_cycle == 15.0
    assert run.stage("a").busy_cycles == 15.0  # setup and transfer are both busy time
    assert run.stage("a").contention_cycles == run.stage("b").contention_cycles == 0.0


def test_a_stage_starts_no_op_before_its_start_time() -> None:
    # A launch of 238 cycles, then a DMA of 46 cycles' setup and 64 bytes at 8 bytes/cycle:
    # 238 + 46 + 64/8 = 292. Busy 54; the launch counts as stall: 292 - 54 = 238.
    p = Pipeline()
    s = p.stage("fetch", start=238.0)
    p.op(s, fixed=46.0, nbytes=64.0, width=8.0)
    run = p.run(16.0)
    assert run.cycles == 292.0
    assert run.stage("fetch").busy_cycles == 54.0
    assert run.stage("fetch").stall_cycles(run.cycles) == 238.0


def test_loader_feeding_compute_while_two_loaders_share_the_port() -> None:
    # Two loaders, each double buffered in front of its own compute stage (4 cycles a tile),
    # each loading two 16-byte tiles at up to 8 bytes/cycle over one 8-byte port.
    # Tile 1 of both loaders: 4 bytes/cycle each, 0..4. Tile 2: again shared, 4..8.
    # Each compute: tile 1 4..8, tile 2 8..12. Both cores end at 12; each loader lost
    # 8*(1 - 4/8) = 4 cycles to the other. On a 16-byte port: loads 0..2, 2..4,
    # computes 2..6, 6..10: 10 cycles, no contention.
    def build() -> Pipeline:
        p = Pipeline()
        for core in ("x", "y"):
            full, free = p.queue(f"{core}.full"), p.queue(f"{core}.free", tokens=2)
            load, comp = p.stage(f"{core}.load"), p.stage(f"{core}.compute")
            for _ in range(2):
                p.op(load, nbytes=16.0, width=8.0, wait=[free], signal=[full])
                p.op(comp, fixed=4.0, wait=[full], signal=[free])
        return p

    shared = build().run(8.0)
    assert shared.cycles == 12.0
    for core in ("x", "y"):
        assert shared.stage(f"{core}.load").finish_cycle == 8.0
        assert shared.stage(f"{core}.load").contention_cycles == 4.0
        assert shared.stage(f"{core}.compute").stall_cycles(shared.cycles) == 4.0
    wide = build().run(16.0)
    assert wide.cycles == 10.0
    assert all(st.contention_cycles == 0.0 for st in wide.stages)


# ---------------------------------------------------------------------------------------------
# the kernel interface and the builder's checks
# ---------------------------------------------------------------------------------------------


def test_the_kernel_interface_matches_the_builder() -> None:
    # The depth-1 producer/consumer written straight into an OpTable, as a numba schedule
    # builder would: queue 0 "full", queue 1 "free" (1 token); stage 0 runs ops 0..2, stage 1
    # ops 3..5.
    table = OpTable.empty(6, 2)
    table.queue_init[1] = 1
    for i in range(3):
        set_op(i, 2.0, 0.0, 1.0, 1, NO_QUEUE, NO_QUEUE, 0, NO_QUEUE, NO_QUEUE,
               table.fixed, table.nbytes, table.cap, table.wait, table.signal)
        set_op(3 + i, 3.0, 0.0, 1.0, 0, NO_QUEUE, NO_QUEUE, 1, NO_QUEUE, NO_QUEUE,
               table.fixed, table.nbytes, table.cap, table.wait, table.signal)
    first, last = np.array([0, 3]), np.array([3, 6])
    busy, contention, finish, n_events, stuck = simulate(
        first, last, np.zeros(2), table.fixed, table.nbytes, table.cap, table.wait,
        table.signal, table.queue_init, math.inf)
    assert not stuck
    runs = stage_runs(("producer", "consumer"), first, last, table.nbytes, busy, contention,
                      finish)
    assert EngineRun(runs, int(n_events)) == _producer_consumer(depth=1).run()


@pytest.mark.skipif(not hasattr(simulate, "py_func"), reason="NUMBA_DISABLE_JIT: no jit")
def test_plain_python_matches_the_jitted_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    p = _producer_consumer(depth=2, n=5, produce=2.5, consume=1.75)
    loader = p.stage("loader", start=3.0)
    for k in range(4):
        p.op(loader, fixed=1.0, nbytes=10.0 + k, width=3.0)
    other = p.stage("other")
    p.op(other, nbytes=30.0, width=5.0)
    jitted = p.run(4.0)
    for name in ("simulate", "finish_op"):
        monkeypatch.setattr(events, name, getattr(events, name).py_func)
    assert p.run(4.0) == jitted
    assert jitted.stage("loader").contention_cycles > 0


def test_the_builder_rejects_malformed_ops() -> None:
    p = Pipeline()
    q = p.queue("q")
    s = p.stage("s")
    with pytest.raises(ValueError, match="width"):
        p.op(s, nbytes=8.0, width=0.0)
    with pytest.raises(ValueError, match="twice"):
        p.op(s, wait=[q, q])
    with pytest.raises(ValueError, match="at most"):
        p.op(s, signal=[q] * (MAX_DEPS + 1))
    with pytest.raises(ValueError, match="no queue"):
        p.op(s, wait=[q + 1])
    with pytest.raises(ValueError, match="fixed"):
        p.op(s, fixed=-1.0)
    with pytest.raises(ValueError, match="declared twice"):
        p.stage("s")
    with pytest.raises(ValueError, match="port"):
        p.run(0.0)
    with pytest.raises(ValueError, match="tokens"):
        p.queue("bad", tokens=-1)


def test_the_engine_imports_no_hardware_family() -> None:
    code = "import hwsim.engine, sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True)
    assert not [m for m in out.stdout.split() if m.startswith("hwsim.fpga")]
