"""rl_search.accuracy.units against hand-written expectations: the oracle specs, the drop unit
of each, and the exact strings the command line and summary.json carry (mutation-tested, see
the README's "Mutation testing")."""

from __future__ import annotations

import pytest

from hwsim.errors import CodesignError
from rl_search.accuracy.units import (
    PRIOR,
    accuracy_label,
    accuracy_summary,
    drop_to_fraction,
    drop_unit,
    format_accuracy,
    format_drop,
    prior_regime,
)

USER = "mypackage.oracles:measured"


def test_prior_specs_and_their_regimes():
    assert PRIOR == "prior"
    assert prior_regime("prior") == "qat"  # the default regime
    assert prior_regime("prior:qat") == "qat"
    assert prior_regime("prior:ptq") == "ptq"


@pytest.mark.parametrize("spec", [USER, "priors", "prior_x:qat", "other:qat", "qat"])
def test_other_specs_are_not_the_prior(spec):
    assert prior_regime(spec) is None
    assert drop_unit(spec) == "fraction"


@pytest.mark.parametrize("spec", ["prior:", "prior:fp32", "prior:QAT", "prior:qat:extra"])
def test_unknown_prior_regime_names_the_choices(spec):
    with pytest.raises(CodesignError) as err:
        prior_regime(spec)
    assert str(err.value) == (f"oracle {spec!r}: unknown prior regime {spec[6:]!r}; use "
                              "'prior:qat', 'prior:ptq'")


def test_drop_units_and_conversion():
    for spec in ("prior", "prior:qat", "prior:ptq"):
        assert drop_unit(spec) == "points"
        assert drop_to_fraction(1.5, spec) == pytest.approx(0.015)
        assert drop_to_fraction(100.0, spec) == 1.0
    assert drop_to_fraction(0.02, USER) == 0.02


def test_printed_drops_and_accuracies():
    assert format_drop(0.0123, "prior") == "1.23 points of top-1"
    assert format_drop(0.0123, USER) == "0.0123 (fraction)"
    assert format_accuracy(0.70125, "prior:ptq") == "top-1 70.12 %"
    assert format_accuracy(0.70125, USER) == "0.7013"


def test_labels_and_summary():
    assert accuracy_label("prior:ptq") == ("top-1 (weight-free prior, ptq regime: predicted from "
                                           "published results, not measured)")
    assert accuracy_label(USER) == f"accuracy (oracle {USER}, fraction)"
    assert accuracy_summary("prior") == {
        "oracle": "prior", "regime": "qat",
        "label": ("top-1 (weight-free prior, qat regime: predicted from published results, "
                  "not measured)"),
        "values": "accuracy and accuracy_drop are fractions of 1 (0.01 = one point)",
        "command_line_drop_unit": "points"}
    assert accuracy_summary(USER) == {
        "oracle": USER, "regime": None, "label": f"accuracy (oracle {USER}, fraction)",
        "values": "accuracy and accuracy_drop are fractions of 1 (0.01 = one point)",
        "command_line_drop_unit": "fraction"}
