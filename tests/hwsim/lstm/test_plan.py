"""The TT / HT contraction planner against REFERENCE.md's figures, a brute force over orders, and a
numpy execution of every plan against the dense matrix the network represents."""

from __future__ import annotations

import itertools
import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.errors import CodesignError
from hwsim.ir import zoo
from hwsim.ir.layers import HTLinear, TTLinear
from hwsim.lstm.plan import (
    Network,
    Plan,
    ht_network,
    leaf_first_plan,
    optimal_plan,
    plan_from_groups,
    plan_layer,
    tie_plan,
    tt_network,
)


def _w_ih(name: str, variant: str):
    return zoo.get(name, variant=variant).layers[0]


# --- REFERENCE.md section 4 -----------------------------------------------------------------------

def test_ht_ucf_rank4_optimal_order_is_the_published_1_86_m_in_four_stages():
    plan = plan_layer(_w_ih("lstm-ucf", "ht"), "optimal")
    assert [s.macs for s in plan.stages] == [921_600, 737_280, 163_840, 32_768]
    assert plan.macs == 1_855_488


def test_ht_ucf_rank4_naive_post_order_is_the_published_15_5_m():
    plan = plan_layer(_w_ih("lstm-ucf", "ht"), "leaf-first")
    assert plan.macs == 15_466_496  # REFERENCE: 15.5 M
    assert len(plan.stages) == 7


@pytest.mark.parametrize(("name", "macs"),
                         [("lstm-ucf", 1_937_408), ("lstm-youtube", 1_429_504)])
def test_tie_order_gives_the_published_tt_multiplications(name, macs):
    # REFERENCE: TT multiplications per step UCF 1.94 M, Youtube 1.43 M (TIE)
    layer = _w_ih(name, "tt")
    assert plan_layer(layer, "tie").macs == macs
    assert sum(g.macs for g in layer.gemms()) == macs


@pytest.mark.parametrize("name", ["lstm-ucf", "lstm-youtube"])
@pytest.mark.parametrize("variant", ["tt", "ht"])
def test_network_parameters_equal_the_layer_formula(name, variant):
    layer = _w_ih(name, variant)
    assert plan_layer(layer).network.weight_params == layer.weight_params


def test_youtube_ht_optimum_beats_the_fixed_order_of_htlinear():
    # HTLinear.gemms() uses one fixed order; on Youtube's modes the planner finds a cheaper one
    layer = _w_ih("lstm-youtube", "ht")
    assert plan_layer(layer).macs == 1_429_504 < sum(g.macs for g in layer.gemms()) == 1_757_184


# --- optimality against a brute force -------------------------------------------------------------

def _all_partition_orders(w: int):
    """Every ordered partition of range(w) into groups (the plans a brute force tries)."""
    def parts(items):
        if not items:
            yield []
            return
        for r in range(1, len(items) + 1):
            for first in itertools.combinations(items, r):
                rest = [i for i in items if i not in first]
                for tail in parts(rest):
                    yield [list(first), *tail]
    yield from parts(list(range(w)))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=2, max_size=3),
       st.lists(st.integers(1, 5), min_size=3, max_size=3), st.integers(1, 4))
def test_dp_optimum_equals_the_brute_force_minimum(ins, outs, rank):
    outs = outs[:len(ins)]
    tt_ranks = (1, *[rank] * (len(ins) - 1), 1)
    for net in (ht_network(ins, outs, rank), tt_network(ins, outs, tt_ranks)):
        best = min(plan_from_groups(net, groups, "x").macs
                   for groups in _all_partition_orders(len(net.weights)))
        assert optimal_plan(net).macs == best


# --- every plan computes the matrix ---------------------------------------------------------------

def _letters(net: Network) -> dict[str, str]:
    names = list(net.dims)
    return dict(zip(names, string.ascii_letters[:len(names)], strict=True))


def _dense(net: Network, tensors: dict[str, np.ndarray]) -> np.ndarray:
    """The output for input X by one einsum over the whole network (the reference)."""
    L = _letters(net)
    spec = ",".join("".join(L[i] for i in t.indices) for t in (net.x, *net.weights))
    out = "".join(L[i] for i in net.outputs)
    return np.einsum(f"{spec}->{out}", tensors["X"], *(tensors[t.name] for t in net.weights))


def _execute(plan: Plan, tensors: dict[str, np.ndarray]) -> np.ndarray:
    """Run the plan as its stages say: merge each stage's weights offline, lay the intermediate
    out as (rows x inner) in the stage's index order, one matrix product, next layout."""
    net = plan.network
    L = _letters(net)
    current = tensors["X"]
    layout = net.x.indices
    by_name = {t.name: t for t in net.weights}
    for stage in plan.stages:
        group = [by_name[n] for n in stage.weights]
        opn = (*stage.inner_indices, *stage.col_indices)
        spec = ",".join("".join(L[i] for i in t.indices) for t in group)
        w = np.einsum(f"{spec}->{''.join(L[i] for i in opn)}",
                      *(tensors[t.name] for t in group))
        assert w.size == stage.weight_elems
        order = (*stage.row_indices, *stage.inner_indices)
        src, dst = "".join(L[i] for i in layout), "".join(L[i] for i in order)
        a = np.einsum(f"{src}->{dst}", current)
        res = a.reshape(stage.rows, stage.inner) @ w.reshape(stage.inner, stage.cols)
        current = res.reshape([net.dims[i] for i in stage.out_layout])
        layout = stage.out_layout
    return np.einsum(f"{''.join(L[i] for i in layout)}->{''.join(L[i] for i in net.outputs)}",
                     current)


def _random(net: Network, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {"X": rng.standard_normal([net.dims[i] for i in net.x.indices])}
    for t in net.weights:
        out[t.name] = rng.standard_normal([net.dims[i] for i in t.indices])
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 5), st.integers(1, 3), st.integers(1, 2), st.integers(0, 2**16))
def test_every_order_of_a_plan_computes_the_network(d, rank, tokens, seed):
    rng = np.random.default_rng(seed)
    ins = [int(v) for v in rng.integers(1, 4, d)]
    outs = [int(v) for v in rng.integers(1, 4, d)]
    for net in (ht_network(ins, outs, rank, tokens),
                tt_network(ins, outs, (1, *[rank] * (d - 1), 1), tokens)):
        tensors = _random(net, seed)
        want = _dense(net, tensors)
        plans = [optimal_plan(net), leaf_first_plan(net)]
        if net.fmt == "tt":
            plans.append(tie_plan(net))
        for plan in plans:
            np.testing.assert_allclose(_execute(plan, tensors), want, rtol=1e-9, atol=1e-9)


def test_ht_edge_ranks_can_differ_per_edge():
    net = ht_network((2, 3, 4), (2, 2, 2), {"e1": 2, "e2": 3, "e3": 1, "e12": 2})
    assert net.ranks == {"e1": 2, "e2": 3, "e12": 2, "e3": 1}
    tensors = _random(net, 0)
    np.testing.assert_allclose(_execute(optimal_plan(net), tensors), _dense(net, tensors))


def test_bad_networks_raise_naming_the_problem():
    with pytest.raises(CodesignError, match="ranks starting and ending with 1"):
        tt_network((2, 3), (2, 3), (2, 2, 1))
    with pytest.raises(CodesignError, match="e2"):
        ht_network((2, 3), (2, 3), {"e1": 2})
    with pytest.raises(CodesignError, match="unknown contraction order"):
        plan_layer(TTLinear("t", (2, 3), (2, 3), (1, 2, 1)), "fastest")
    with pytest.raises(CodesignError, match="tie_plan"):
        tie_plan(ht_network((2, 3), (2, 3), 2))
    with pytest.raises(CodesignError, match="only tt_linear and ht_linear"):
        plan_layer(zoo.get("lstm-ucf").layers[0])
    net = ht_network((2, 3), (2, 3), 2)
    with pytest.raises(CodesignError, match="cover every weight tensor"):
        plan_from_groups(net, [[0]], "partial")
    with pytest.raises(CodesignError, match="empty or repeats"):
        plan_from_groups(net, [[0], [0, 1]], "repeat")


def test_plan_to_dict_round_trips_the_figures():
    plan = plan_layer(HTLinear("h", (8, 20, 20, 18), (16, 4, 4, 4), 4))
    d = plan.to_dict()
    assert d["macs"] == plan.macs == sum(s["macs"] for s in d["stages"])
    assert d["format"] == "ht" and d["order"] == "optimal"
