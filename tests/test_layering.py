"""Imports point one way (DESIGN.md): hwsim must not pull in torch, gymnasium or SB3."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "gymnasium", "stable_baselines3")


def _loaded_after(statement: str) -> set[str]:
    code = f"{statement}; import sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_import_hwsim_loads_no_heavy_framework():
    loaded = _loaded_after("import hwsim, hwsim.ir, hwsim.spec, hwsim.ir.zoo")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_cost_models_loads_no_rl_framework():
    loaded = _loaded_after("import cost_models")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
