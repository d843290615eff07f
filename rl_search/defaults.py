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
SEARCHER = "genetic"
"""The searcher of an exploration: the layer-wise genetic search, anchored at the
highest-precision design, finds feasible designs at the default budget where random search
finds none (ResNet-18 on n3h-zcu102: 0 of 1,000 random designs meet the 1 % accuracy budget)."""
MAX_ACCURACY_DROP = 0.01
"""Accuracy-drop budget of an exploration (fraction of float accuracy)."""
