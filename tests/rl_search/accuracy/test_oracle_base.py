"""The oracle interface: AccuracyEstimate and the AccuracyOracle template."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from cost_models.design import Design, DesignError
from rl_search.accuracy import AccuracyEstimate, AccuracyOracle
from rl_search.accuracy.base import check_layers, resolve_fractions


class CountingOracle(AccuracyOracle):
    """Accuracy = mean weight bits / 10; counts calls."""

    kind = "proxy"

    def __init__(self) -> None:
        self.calls = 0

    @property
    def layer_names(self) -> tuple[str, ...]:
        return ("a", "b")

    @property
    def baseline(self) -> float:
        return 0.9

    def estimate(
        self, design: Design, *, fractions: Sequence[float] | None = None
    ) -> AccuracyEstimate:
        check_layers(design, self.layer_names, "the counting oracle")
        resolve_fractions(design, fractions)
        self.calls += 1
        return AccuracyEstimate(sum(design.weight_bits) / 20, self.baseline, self.kind)


def test_estimate_fields_and_delta():
    e = AccuracyEstimate(0.8, 0.9, "real", {"seconds": 1.0})
    assert e.delta == pytest.approx(-0.1)
    with pytest.raises(TypeError):
        e.details["seconds"] = 2.0  # type: ignore[index]
    for bad in (
        {"accuracy": 1.5},
        {"accuracy": float("nan")},
        {"baseline": -0.1},
        {"kind": "guess"},
    ):
        kwargs = {"accuracy": 0.5, "baseline": 0.9, "kind": "real", **bad}
        with pytest.raises(DesignError):
            AccuracyEstimate(**kwargs)


def test_default_batch_loops_and_names_are_checked():
    oracle = CountingOracle()
    acc = oracle.estimate_batch(
        [[2, 4], [8, 8]],
        [[8, 8], [8, 8]],
        [[0.5, 0.5], [1.0, 0.0]],
        rank=np.zeros((2, 2), dtype=int),
    )
    assert np.allclose(acc, [0.3, 0.8]) and oracle.calls == 2
    assert (
        oracle(Design(("a", "b"), (4, 4), (4, 4), mapping={"lut_fraction": (0.5, 0.5)})).accuracy
        == 0.4
    )
    with pytest.raises(DesignError, match="unknown layer here"):
        oracle.estimate(Design(("a", "c"), (4, 4), (4, 4), mapping={"lut_fraction": (0.5, 0.5)}))
    with pytest.raises(DesignError, match=r"b\.lut_fraction.*solve_mapping"):
        oracle.estimate(Design(("a", "b"), (4, 4), (4, 4), mapping={"lut_fraction": (0.5, None)}))
    assert (
        oracle.estimate(
            Design(("a", "b"), (4, 4), (4, 4), mapping={"lut_fraction": (0.5, None)}),
            fractions=(0.5, 0.25),
        ).accuracy
        == 0.4
    )
    with pytest.raises(DesignError, match=r"a\.lut_fraction"):
        oracle.estimate(
            Design(("a", "b"), (4, 4), (4, 4), mapping={"lut_fraction": (0.5, 0.5)}),
            fractions=(1.5, 0.0),
        )


def test_the_interface_is_abstract():
    with pytest.raises(TypeError):
        AccuracyOracle()  # type: ignore[abstract]
