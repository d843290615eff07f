"""Inputs that kill mutants of the analytic kernels the random tests in test_analytic.py let live.

Each case was found by ``benchmarks/mutation_hunt.py`` (a random search for inputs on which a
surviving cosmic-ray mutant of ``hwsim/fpga/analytic.py`` and the original disagree, README
"Mutation testing") and is checked here against the plain-Python references of
``tests/naive.py``, never against the kernel itself. The comment of each case names the mutant
it kills.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from hwsim.fpga import analytic as an


def _load_naive():  # tests/ is not a package; load tests/naive.py by path
    path = Path(__file__).resolve().parents[2] / "naive.py"
    spec = importlib.util.spec_from_file_location("codesign_tests_naive_mutants", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


naive = _load_naive()

# (m, n, k, count, independent, w_bits, a_bits, lut (Dm, Dk, Dn, LMEM, f), dsp (Dl, Dr, pack),
#  valid_only)
BALANCE_CASES = [
    # `if status == 2` -> `== 1` (the verbatim release's R < 3 handed to the bisection): with
    # R < 3 L_LUT is not monotone in the LUT core's channels, and the tile search picks another
    # split
    (196, 96, 618, 1, False, 8, 7, (60, 128, 16, 38, 64), (26544, 11885, 8), False),
    (7694, 32, 2718, 1, True, 6, 6, (34, 192, 6, 108, 64), (95737, 1024, 8), False),
    # `f & (f - 1) == 0` -> `f & (f + 1) == 0` (f = 7 taken for a power of two): C_Lf as
    # X * (1/7) instead of X / 7 is one ulp off
    (16, 237, 1970, 1, False, 2, 6, (62, 64, 21, 609013, 7), (24576, 43, 8), False),
]


@pytest.mark.parametrize("case", BALANCE_CASES)
def test_balance_solve_matches_the_full_scan(case: tuple) -> None:
    """The fast solve's split and cycles are the plain full scan's, bitwise."""
    m, n, k, count, indep, w, a, lut, dsp, valid_only = case
    want = naive.scan_balance(m, n, k, w, a, lut, dsp, valid_only, count, indep)
    assert an._balance_one(m, n, k, count, indep, w, a, lut, dsp, valid_only)[:2] == want
    assert an._exact_one(m, n, k, count, indep, w, a, lut, dsp, valid_only) == want
