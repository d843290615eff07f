"""Oracle specs and the units accuracy budgets are written in, in one place.

An oracle spec (``RunConfig.oracle``, ``codesign explore --oracle``) is ``prior`` (the
weight-free prior in its default regime, ``qat``), ``prior:qat`` or ``prior:ptq``, or an import
path ``module:function`` returning an oracle for the workload (a module named ``prior`` is not
reachable that way).

Inside the library every accuracy is a fraction of 1 and every drop ``baseline - accuracy``
too: 0.01 is one point of top-1 (for the prior, whose accuracy is top-1; for a user's oracle,
one point of whatever it measures). On the command line ``--max-accuracy-drop`` is in **top-1
points** for the prior and a **fraction** for other oracles; the helpers below convert and
label.
"""

from __future__ import annotations

from hwsim.errors import CodesignError
from rl_search.accuracy.published import DEFAULT_REGIME, REGIMES

PRIOR = "prior"


def prior_regime(spec: str) -> str | None:
    """The regime of a prior spec (``"prior"`` -> the default), ``None`` for any other spec.

    :raises CodesignError: ``prior:`` with an unknown regime.
    """
    if spec == PRIOR:
        return DEFAULT_REGIME
    head, sep, regime = spec.partition(":")
    if head != PRIOR or not sep:
        return None
    if regime not in REGIMES:
        raise CodesignError(f"oracle {spec!r}: unknown prior regime {regime!r}; use "
                            + ", ".join(f"'prior:{r}'" for r in REGIMES))
    return regime


def drop_unit(spec: str) -> str:
    """``"points"`` (top-1 points, the prior) or ``"fraction"`` (other oracles): the unit of
    ``--max-accuracy-drop`` and of the drops the command line prints."""
    return "points" if prior_regime(spec) is not None else "fraction"


def drop_to_fraction(value: float, spec: str) -> float:
    """A budget given on the command line, in the spec's unit, as the library's fraction."""
    return value / 100.0 if drop_unit(spec) == "points" else value


def format_drop(fraction: float, spec: str) -> str:
    """A drop (a fraction of 1) as the command line prints it for ``spec``."""
    if drop_unit(spec) == "points":
        return f"{100.0 * fraction:.2f} points of top-1"
    return f"{fraction:.4f} (fraction)"


def format_accuracy(fraction: float, spec: str) -> str:
    """An accuracy (a fraction of 1) as the command line prints it for ``spec``."""
    if drop_unit(spec) == "points":
        return f"top-1 {100.0 * fraction:.2f} %"
    return f"{fraction:.4f}"


def accuracy_label(spec: str) -> str:
    """What a run's accuracies are, for titles, axes and summaries."""
    regime = prior_regime(spec)
    if regime is not None:
        return (f"top-1 (weight-free prior, {regime} regime: predicted from published results, "
                "not measured)")
    return f"accuracy (oracle {spec}, fraction)"


def accuracy_summary(spec: str) -> dict[str, str | None]:
    """What a run folder's accuracies are (``summary.json``'s ``accuracy`` entry)."""
    return {"oracle": spec, "regime": prior_regime(spec), "label": accuracy_label(spec),
            "values": "accuracy and accuracy_drop are fractions of 1 (0.01 = one point)",
            "command_line_drop_unit": drop_unit(spec)}


__all__ = ["PRIOR", "accuracy_label", "accuracy_summary", "drop_to_fraction", "drop_unit",
           "format_accuracy", "format_drop", "prior_regime"]
