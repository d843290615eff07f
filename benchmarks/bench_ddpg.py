"""HAQ's DDPG (``ddpg-haq``): seconds per episode with SB3's own update loop and with the lean
one (the default), the same seed, the same episodes; and whether they end with bitwise the same
networks.

Run: ``python benchmarks/bench_ddpg.py [--episodes 40 --workload resnet20]``. The first 20
episodes are HAQ's random warm-up (no updates), so use more than 20.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import torch
from _common import cpu_model, parse_args

from rl_search.factory import make_problem
from rl_search.problem import Objective
from rl_search.searchers.base import EvaluationBudget
from rl_search.searchers.registry import make_searcher


@dataclass
class Args:
    episodes: int = 40
    """episodes (= evaluations) per run"""
    workload: str = "resnet20"
    """zoo workload (haq space on n3h-zcu102)"""


args = parse_args(Args, __doc__)
problem = make_problem(args.workload, "n3h-zcu102", "haq", oracle="prior",
                       objective=Objective(minimise="latency", max_accuracy_drop=0.01))
seconds, params = {}, {}
for lean in (False, True):
    searcher = make_searcher("ddpg-haq", 0, form="sequential", lean=lean)
    t0 = time.perf_counter()
    searcher.run(problem, EvaluationBudget(problem, args.episodes))
    seconds[lean] = (time.perf_counter() - t0) / args.episodes
    assert searcher.model is not None
    params[lean] = torch.cat([p.detach().flatten() for p in searcher.model.policy.parameters()])
print(f"machine: {platform.platform()}, {cpu_model()}, torch {torch.__version__}")
print(f"ddpg-haq on {args.workload} (haq space), {args.episodes} episodes, seed 0")
print(f"  SB3's update loop   {seconds[False]:.3f} s/episode")
ratio = seconds[False] / seconds[True]
print(f"  lean update loop    {seconds[True]:.3f} s/episode   ({ratio:.2f}x)")
print(f"  networks bitwise equal: {torch.equal(params[False], params[True])}")
