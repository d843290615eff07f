"""Gymnasium registration of the co-design environments (one class, presets by kwargs).

``import rl_search`` registers them; then ``gymnasium.make("codesign/HeteroFPGA-v0",
workload="mobilenetv2", target="n3h-pynq-z2", mode="repair", latency_budget_ms=40)``. Any
:class:`~rl_search.env.CoDesignEnv` argument given to ``make`` overrides the preset's.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from rl_search import defaults

ENTRY_POINT = "rl_search.env:CoDesignEnv"
VECTOR_ENTRY_POINT = "rl_search.vec_env:CoDesignVectorEnv"
"""``gymnasium.make_vec(id, num_envs=..., vectorization_mode="vector_entry_point")``: every
sub-environment's design evaluated in one batch call."""
PRESETS: dict[str, dict[str, Any]] = {
    # N3H-Core's space (core sizes, buffer depths, per-layer bits) on its paper's network.
    "codesign/HeteroFPGA-v0": {"space": "n3h", "workload": defaults.WORKLOAD,
                               "target": defaults.TARGET},
    # HAQ's per-layer weight and activation bits on the target's fixed cores (any target:
    # pass target=...).
    "codesign/MixedPrecision-v0": {"space": "haq", "workload": defaults.WORKLOAD,
                                   "target": defaults.TARGET},
    # HALOC's per-layer ranks; ResNet-20 (CIFAR) keeps episodes short (14 rank knobs).
    "codesign/LowRank-v0": {"space": "rank", "workload": "resnet20", "target": defaults.TARGET},
}


def register_envs() -> None:
    """Register :data:`PRESETS` with Gymnasium (idempotent)."""
    for env_id, kwargs in PRESETS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=ENTRY_POINT, kwargs=dict(kwargs),
                               vector_entry_point=VECTOR_ENTRY_POINT)
