"""Targets registry: a target turns (workload, design, fidelity) into a :class:`CostReport`.

A target is built from a hardware preset (``hwsim.spec``); which target class serves a preset is
decided by the components the preset holds. Later targets (systolic arrays, GPU tables, LSTM
accelerators) register a factory the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cost_models.design import Design
from cost_models.report import CostReport
from hwsim.errors import CodesignError, UnknownNameError
from hwsim.ir import Workload
from hwsim.spec import Hardware, list_hardware, load_hardware


class Target(ABC):
    """Base of every target: one hardware preset, ``evaluate`` at some fidelities, a cache."""

    fidelities: tuple[str, ...] = ("analytic",)
    cache_size = 4096

    def __init__(self, hardware: Hardware) -> None:
        self.hardware = hardware
        self.name = hardware.name
        self._cache: OrderedDict[tuple[Any, ...], CostReport] = OrderedDict()
        self.cache_hits = 0

    def evaluate(self, workload: Workload, design: Design | None = None,
                 fidelity: str = "analytic") -> CostReport:
        """Cost of ``design`` (the target's default design when ``None``) of ``workload``.

        Results are cached per (workload, design, fidelity); designs are frozen and hashable.
        """
        if fidelity not in self.fidelities:
            raise CodesignError(f"target {self.name!r} offers fidelity {self.fidelities}, "
                                f"not {fidelity!r}")
        if design is None:
            design = self.default_design(workload)
        design.check_against(workload)
        key = (workload, design, fidelity)
        cached = self._cache.get(key)
        if cached is not None:
            self.cache_hits += 1
            self._cache.move_to_end(key)
            return cached
        report = self._evaluate(workload, design, fidelity)
        self._cache[key] = report
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return report

    @abstractmethod
    def _evaluate(self, workload: Workload, design: Design, fidelity: str) -> CostReport: ...

    @abstractmethod
    def default_design(self, workload: Workload) -> Design: ...


TargetFactory = Callable[[Hardware], Target]
_FACTORIES: list[tuple[Callable[[Hardware], bool], TargetFactory, str]] = []
_INSTANCES: dict[str, Target] = {}


def register_target(accepts: Callable[[Hardware], bool], factory: TargetFactory,
                    description: str) -> None:
    """Register ``factory`` for every hardware preset that ``accepts`` says it can cost."""
    _FACTORIES.append((accepts, factory, description))


def _factory_for(hw: Hardware) -> TargetFactory:
    for accepts, factory, _ in _FACTORIES:
        if accepts(hw):
            return factory
    components = [n for n in ("fpga", "dsp_core", "lut_core", "systolic_array", "gpu",
                              "lstm_accelerator") if getattr(hw, n) is not None]
    kinds = "; ".join(desc for _, _, desc in _FACTORIES)
    raise CodesignError(f"no cost model yet for hardware {hw.name!r} "
                        f"(components: {', '.join(components)}); available: {kinds}")


def target_names() -> list[str]:
    """Shipped presets that some registered target can cost."""
    names = []
    for name in list_hardware():
        hw = load_hardware(name)
        if any(accepts(hw) for accepts, _, _ in _FACTORIES):
            names.append(name)
    return names


def get_target(target: str | Path | Hardware | Target) -> Target:
    """A target from a preset name, a hardware TOML path, a ``Hardware`` record or a target.

    Targets built from preset names are shared, so their caches are too.
    """
    if isinstance(target, Target):
        return target
    if isinstance(target, Hardware):
        return _factory_for(target)(target)
    key = str(target)
    if key in _INSTANCES:
        return _INSTANCES[key]
    is_path = key.endswith(".toml") or Path(key).exists()
    if not is_path and key not in list_hardware():
        raise UnknownNameError("target", key, target_names())
    hw = load_hardware(target)
    instance = _factory_for(hw)(hw)
    if not is_path:
        _INSTANCES[key] = instance
    return instance
