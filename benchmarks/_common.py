"""What every benchmark script shares: its command line from an ``Args`` dataclass, and the
machine it ran on (printed beside every figure)."""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def parse_args(args_class: type[T], doc: str | None) -> T:
    """``args_class`` (a dataclass whose fields have defaults) from the command line: one
    ``--field-name`` option per field, typed as its default."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    for f in fields(args_class):  # type: ignore[arg-type]
        default: Any = f.default
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(default), default=default)
    return args_class(**vars(parser.parse_args()))


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` timed calls of ``run`` (seconds): the least-disturbed run on a
    shared machine."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best
