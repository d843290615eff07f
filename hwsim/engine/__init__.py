"""The hardware-agnostic discrete-event engine the cycle tiers build their schedules on.

``events``: in-order stages running ops, token queues between them, one DRAM port shared max-min
fairly, and busy / stall / contention accounting (see its module notes for the model). The FPGA
cycle tier (:mod:`hwsim.fpga.cycle`) is built on it; nothing here knows about a particular
hardware family.
"""

from hwsim.engine.events import (
    MAX_DEPS,
    NO_QUEUE,
    DeadlockError,
    EngineRun,
    OpTable,
    Pipeline,
    StageRun,
    finish_op,
    set_op,
    simulate,
    stage_runs,
)

__all__ = [
    "MAX_DEPS",
    "NO_QUEUE",
    "DeadlockError",
    "EngineRun",
    "OpTable",
    "Pipeline",
    "StageRun",
    "finish_op",
    "set_op",
    "simulate",
    "stage_runs",
]
