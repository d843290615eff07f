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
"""The weight-free accuracy prior (zoo workloads carry no weights) in its default regime,
``qat``: top-1 points lost after quantisation-aware fine-tuning, as HAQ and N3H-Core score
their designs (:mod:`rl_search.accuracy.units`)."""
BUDGET = 1000
"""Design evaluations of an exploration."""
SEARCHER = "genetic"
"""The searcher of an exploration: the layer-wise genetic search, anchored at the
highest-precision design, improves on what it finds (ResNet-18 on n3h-zcu102, default budget,
seed 0: best feasible design 16.8 ms against random search's 29.3 ms)."""
MAX_ACCURACY_DROP = 0.01
"""Accuracy-drop budget of an exploration, a fraction of 1: one point of top-1 with the prior
(``codesign explore --max-accuracy-drop`` takes it in points: 1)."""
