"""Table targets on tables generated here (no timing involved): the table file format and its
errors, ``table:`` and ``haq-table:`` targets against sums done by hand, HAQ export read back,
and the predictor against a known latency law."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cost_models import Design, evaluate, get_target, uniform_design
from cost_models.tables import LatencyTable, Row, TableError, layer_key, load_table
from cost_models.tables.haq import export_haq, sidecar
from cost_models.tables.predict import (
    evaluate_predictor,
    kernels,
    layer_from_key,
)
from hwsim.errors import CodesignError
from hwsim.ir import zoo
from hwsim.ir.layers import Conv2d, Linear
from hwsim.ir.lowrank import apply_ranks


def _law_ms(layer) -> float:
    """A made-up device: 1 ms per 10^8 MACs plus 20 us per kernel."""
    return sum(k.macs / 1e8 + 0.02 for k in kernels(layer))


def _row(layer, ms: float | None = None, sample: bool = False) -> Row:
    ms = _law_ms(layer) if ms is None else ms
    return Row(layer_key(layer), layer.kind, "fp32", ms, ms * 0.98, ms * 1.03, 10,
               layer.macs, sample)


def _table(layers, tmp_path: Path, name: str = "t.table", extra=()) -> Path:
    rows = {layer_key(layer): _row(layer) for layer in layers}
    rows.update({r.key: r for r in extra})
    table = LatencyTable({"device": "cpu", "device_name": "test", "torch": "0", "threads": 1},
                         tuple(rows.values()))
    return table.save(tmp_path / name)


def _samples(n: int, seed: int = 0) -> list[Row]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        c_in, c_out = (int(v) for v in rng.choice([8, 16, 32, 64, 128, 256, 512], 2))
        hw = int(rng.choice([7, 14, 28, 56]))
        k = int(rng.choice([1, 3]))
        out.append(_row(Conv2d("s", c_in, c_out, hw, hw, k, k, padding=k // 2), sample=True))
        f_in, f_out, tok = (int(v) for v in rng.choice([16, 64, 256, 1024], 3))
        out.append(_row(Linear("s", f_in, f_out, tok), sample=True))
    return out


def test_table_round_trips_and_sums_its_rows(tmp_path):
    wl = zoo.get("resnet20")
    path = _table(wl.layers, tmp_path)
    table = load_table(path)
    assert table == load_table(table.save(tmp_path / "again.table")).__class__(
        table.metadata, table.rows, table.networks, table.path)
    report = evaluate(wl, f"table:{path}")
    assert report.latency_ms == pytest.approx(sum(_law_ms(layer) for layer in wl.layers))
    assert {layer.details["source"] for layer in report.layers} == {"measured"}
    assert report.fidelity == "table"


def test_unmeasured_ranks_are_predicted_from_kernels_and_samples(tmp_path):
    wl = zoo.get("resnet20")
    path = _table(wl.layers, tmp_path, extra=_samples(60))
    ranks = [16 if layer.kind == "conv2d" and layer.macs > 1e6 else None for layer in wl.layers]
    ranked = apply_ranks(wl, ranks)
    design = Design(wl.layer_names, (8,) * len(wl.layers), (8,) * len(wl.layers),
                    rank=tuple(ranks))
    report = evaluate(wl, f"table:{path}", design)
    sources = [layer.details["source"] for layer in report.layers]
    assert "predicted" in sources and "measured" in sources
    # the law is smooth in MACs: the forest, trained on 120 samples, lands near it
    for layer, got in zip(ranked.layers, report.layers, strict=True):
        assert got.cycles / 1e3 == pytest.approx(_law_ms(layer), rel=0.5)
    batch = get_target(f"table:{path}").evaluate_batch(
        wl, get_target(f"table:{path}").design_batch([design]))
    assert batch.latency_ms[0] == pytest.approx(report.latency_ms)


def test_predictor_reports_rmspe_and_within_10pct(tmp_path):
    table = load_table(_table([], tmp_path, extra=_samples(100)))
    scores = evaluate_predictor(table, "fp32")
    n = len(table.rows)  # distinct shapes among the 200 drawn
    assert scores["test_rows"] == round(0.25 * n) and scores["train_rows"] == n - round(0.25 * n)
    assert 0 <= scores["rmspe"] < 0.5 and 0 <= scores["within_10pct"] <= 1


def test_layer_keys_rebuild_their_layers():
    for name in ("resnet18", "mobilenetv2", "deit-s"):
        for layer in zoo.get(name).layers:
            assert layer_key(layer_from_key(layer_key(layer), layer.name)) == layer_key(layer)


def test_missing_rows_without_samples_name_the_layer(tmp_path):
    wl = zoo.get("resnet20")
    path = _table(wl.layers[:1], tmp_path)
    with pytest.raises(CodesignError, match="has no row for"):
        evaluate(wl, f"table:{path}")


@pytest.mark.parametrize(("edit", "field"), [
    (lambda d: d.update(format="other"), "format"),
    (lambda d: d["rows"][0].update(median_ms=-1.0), "rows[0].median_ms"),
    (lambda d: d["rows"][0].update(dtype="fp64"), "rows[0].dtype"),
    (lambda d: d["rows"][0].update(extra=1), "rows[0]"),
    (lambda d: d.update(rows=[]), "rows"),
])
def test_bad_table_files_name_the_file_and_field(tmp_path, edit, field):
    path = _table(zoo.get("resnet20").layers[:2], tmp_path)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(TableError) as info:
        load_table(path)
    assert str(path) in str(info.value) and field in str(info.value)


def test_unreadable_tables_raise_clear_errors(tmp_path):
    with pytest.raises(CodesignError, match="does not exist"):
        load_table(tmp_path / "none.table")
    (tmp_path / "bad.table").write_text("{not json")
    with pytest.raises(CodesignError, match="not a readable JSON"):
        load_table(tmp_path / "bad.table")
    with pytest.raises(CodesignError, match="give the table's path"):
        get_target("table:")


# --- HAQ's layout --------------------------------------------------------------------------------

def test_haq_mobilenetv2_table_sums_as_by_hand(tmp_path):
    wl = zoo.get("mobilenetv2")
    assert len(wl.layers) == 53
    values = np.random.default_rng(0).uniform(0.01, 1.0, (53, 8, 8))
    path = tmp_path / "latency.npy"
    np.save(path, values)
    tgt = get_target(f"haq-table:{path}")
    rng = np.random.default_rng(1)
    wb, ab = rng.integers(1, 9, 53), rng.integers(1, 9, 53)
    design = Design(wl.layer_names, tuple(int(v) for v in wb), tuple(int(v) for v in ab))
    by_hand = sum(values[i, wb[i] - 1, ab[i] - 1] for i in range(53))
    assert tgt.evaluate(wl, design).latency_ms == pytest.approx(by_hand, rel=1e-12)
    batch = tgt.evaluate_batch(wl, tgt.design_batch([design]))
    assert batch.latency_ms[0] == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize(("target", "workload"), [("n3h-zcu102", "resnet18"),
                                                  ("systolic-32x32", "resnet20")])
def test_exported_haq_table_reads_back_the_targets_latencies(tmp_path, target, workload):
    wl = zoo.get(workload)
    path = export_haq(wl, target, tmp_path / "t.npy")
    assert sidecar(path).exists()
    tgt = get_target(f"haq-table:{path}")
    rng = np.random.default_rng(2)
    n = len(wl.layers)
    for _ in range(3):
        d = Design(wl.layer_names, tuple(int(v) for v in rng.integers(2, 9, n)),
                   tuple(int(v) for v in rng.integers(2, 9, n)))
        assert tgt.evaluate(wl, d).latency_ms == pytest.approx(
            evaluate(wl, target, d).latency_ms, rel=1e-12)


def test_haq_table_layer_mismatch_names_the_first_differing_layer(tmp_path):
    path = export_haq(zoo.get("resnet20"), "systolic-32x32", tmp_path / "r20.npy")
    wl18 = zoo.get("resnet18")
    tgt = get_target(f"haq-table:{path}")
    with pytest.raises(CodesignError, match=r"lists 22 layers; workload 'resnet18' has 21"):
        tgt.evaluate(wl18, uniform_design(wl18, 8, 8))
    # same count, one layer changed: the sidecar names it
    wl = zoo.get("resnet20")
    changed = list(wl.layers)
    changed[5] = Conv2d(changed[5].name, 16, 16, 32, 32, 5, 5, padding=2)
    from hwsim.ir import Workload

    bad = Workload("resnet20-edit", tuple(changed), wl.edges)
    with pytest.raises(CodesignError, match=rf"layer 5 is {wl.layers[5].name!r}"):
        tgt.evaluate(bad, uniform_design(bad, 8, 8))


def test_bad_haq_arrays_are_refused(tmp_path):
    np.save(tmp_path / "flat.npy", np.ones((53, 8)))
    with pytest.raises(TableError, match="shape"):
        get_target(f"haq-table:{tmp_path / 'flat.npy'}")
    np.save(tmp_path / "neg.npy", -np.ones((2, 8, 8)))
    with pytest.raises(TableError, match="finite number > 0"):
        get_target(f"haq-table:{tmp_path / 'neg.npy'}")


def test_the_documented_example_table_loads(tmp_path):
    import re

    text = (Path(__file__).resolve().parents[3] / "docs" / "file-formats.md").read_text()
    example = re.search(r"A complete file.*?```json\n(.*?)```", text, re.S)
    assert example is not None
    path = tmp_path / "doc.table"
    path.write_text(example.group(1))
    table = load_table(path)
    assert table.rows[0].kind == "linear" and table.networks[0].workload == "tiny"


@pytest.mark.parametrize("env_id", ["codesign/LowRank-v0", "codesign/MixedPrecision-v0"])
def test_env_presets_run_on_a_table_target(tmp_path, env_id, env_episode):
    wl = zoo.get("resnet20")
    path = _table(wl.layers, tmp_path, extra=_samples(40))
    info = env_episode(env_id, workload="resnet20", target=f"table:{path}")
    assert info["latency_ms"] > 0


def test_haq_space_searches_a_haq_table(tmp_path):
    from rl_search.runs.config import RunConfig
    from rl_search.runs.explore import explore, load_run

    path = export_haq(zoo.get("resnet20"), "n3h-zcu102", tmp_path / "r20.npy")
    explore(RunConfig(workload="resnet20", target=f"haq-table:{path}", space="haq",
                      searcher="genetic", budget=60), tmp_path / "run", progress=False)
    _, records = load_run(tmp_path / "run")
    tgt = get_target("n3h-zcu102")
    wl = zoo.get("resnet20")
    for r in records[:5]:  # the table's latency is the exporting target's
        d = Design(wl.layer_names, tuple(r["weight_bits"]), tuple(r["act_bits"]))
        assert r["latency_ms"] == pytest.approx(tgt.evaluate(wl, d).latency_ms, rel=1e-9)
