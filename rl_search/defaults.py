"""The defaults every door of the tool shares (CLI, ``make_problem``, the environments, run
configs), in one place so that they cannot drift apart."""

from __future__ import annotations

WORKLOAD = "resnet18"
"""N3H-Core's and HAQ's network."""
TARGET = "n3h-zcu102"
"""N3H-Core's largest board, with its heterogeneous DSP + LUT cores."""
SPACE = "n3h"
"""The target's hardware knobs plus per-layer bits (N3H-Core's space)."""
ORACLE = "prior"
"""The weight-free accuracy prior (zoo workloads carry no weights)."""
BUDGET = 1000
"""Design evaluations of an exploration."""
