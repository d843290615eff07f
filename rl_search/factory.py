"""Build a :class:`~rl_search.problem.Problem` from names: what the CLI, the registered
Gymnasium environments and the benchmarks all call, so they agree on defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cost_models import Target, get_target
from hwsim.errors import CodesignError
from hwsim.ir import Workload, zoo
from rl_search import defaults
from rl_search.problem import Objective, Problem
from rl_search.spaces import make_space


def resolve_workload(workload: str | Path | Workload) -> Workload:
    if isinstance(workload, Workload):
        return workload
    text = str(workload)
    if text.endswith(".toml") or Path(text).exists():
        from hwsim.ir.toml_workload import load_workload_toml

        return load_workload_toml(text)
    return zoo.get(text)


def default_oracle(workload: Workload) -> str:
    """The oracle a workload gets when none is named: ``tensor-lstm`` (the digits stand-in
    measured at each TT / HT rank, :mod:`rl_search.accuracy.tensor_lstm`) for a workload with a
    TT or HT layer, whose ranks the weight-free prior has no model of; else the prior."""
    from hwsim.ir.layers import HTLinear, TTLinear

    if any(isinstance(layer, TTLinear | HTLinear) for layer in workload.layers):
        return "tensor-lstm"
    return defaults.ORACLE


def resolve_oracle(oracle: Any, workload: Workload) -> Any:
    """An oracle spec (``"prior"``, ``"prior:qat"``, ``"prior:ptq"``, ``"tensor-lstm"``; see
    :mod:`rl_search.accuracy.units`), an oracle object, or ``None`` for
    :func:`default_oracle`."""
    if oracle is None:
        oracle = default_oracle(workload)
    if isinstance(oracle, str) and oracle == "tensor-lstm":
        from rl_search.accuracy.tensor_lstm import TensorLstmOracle

        return TensorLstmOracle(workload)
    if isinstance(oracle, str):
        from rl_search.accuracy.units import prior_regime

        regime = prior_regime(oracle)
        if regime is None:
            raise CodesignError(f"unknown oracle {oracle!r}; pass 'prior', 'prior:qat', "
                                "'prior:ptq', 'tensor-lstm' or an oracle object")
        from rl_search.accuracy.proxy import ProxyOracle

        return ProxyOracle.prior(workload, regime=regime)
    return oracle


def make_problem(workload: str | Path | Workload = defaults.WORKLOAD,
                 target: str | Path | Target = defaults.TARGET, space: str = defaults.SPACE, *,
                 oracle: Any = None, objective: Objective | None = None,
                 **space_options: Any) -> Problem:
    """A problem from names: zoo workload (or TOML path), target preset, space preset, oracle.

    ``space_options`` go to :func:`~rl_search.spaces.make_space` (``weight_bits``, ``act_bits``,
    ``split``, ``pin_edges``, ``rank_step``, ...).
    """
    wl = resolve_workload(workload)
    tgt = get_target(target)
    sp = make_space(space, wl, tgt, **space_options)
    return Problem(sp, tgt, resolve_oracle(oracle, wl), objective or Objective())
