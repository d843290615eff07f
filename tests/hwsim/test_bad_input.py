"""Every class of bad input to the hardware and workload loaders is one clear project error.

Classes: values out of range (NaN, infinities, absurdly large numbers), files that are not TOML
text (directories, devices, binary, not UTF-8), TOML of the wrong shape, layer sizes whose
products overflow int64; and a hypothesis fuzz of both loaders over random TOML documents.
"""

from __future__ import annotations

import math
import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.errors import CodesignError, Problem, RecordError, SpecError, WorkloadError
from hwsim.ir.layers import (
    LAYER_TYPES,
    MAX_DIM,
    MAX_MACS,
    Conv2d,
    Gemm,
    Linear,
    MoEExperts,
    TTLinear,
)
from hwsim.ir.toml_workload import load_workload_toml, loads_workload_toml
from hwsim.ir.toml_workload import toml_value as write_value
from hwsim.spec import COMPONENTS, DspCore, FpgaDevice, Gpu, LstmAccelerator, SystolicArray
from hwsim.spec.loader import MAX_FILE_BYTES, load_hardware
from hwsim.spec.records import (
    MAX_ARRAY_DIM,
    MAX_CLOCK_MHZ,
    MAX_COUNT,
    MAX_DRAM_BYTES_PER_CYCLE,
)

PRESET = '[preset]\nname = "mine"\n'
FPGA = {"part": "XC7Z020", "lut": 53200, "ff": 106400, "dsp": 220, "bram36": 140}

WORKLOAD = '[workload]\nname = "w"\n'
LAYERS: dict[str, dict[str, Any]] = {
    "conv2d": {"in_channels": 3, "out_channels": 8, "in_height": 8, "in_width": 8,
               "kernel_h": 3, "kernel_w": 3},
    "linear": {"in_features": 8, "out_features": 4},
    "matmul": {"m": 4, "n": 4, "k": 4},
    "lstm": {"input_size": 4, "hidden_size": 4},
    "tt_linear": {"in_modes": [2, 2], "out_modes": [2, 2], "ranks": [1, 2, 1]},
    "ht_linear": {"in_modes": [2, 2], "out_modes": [2, 2], "rank": 2},
    "moe": {"hidden": 8, "expert_ffn": 16, "experts": 4, "top_k": 2},
    "svd_linear": {"in_features": 8, "out_features": 8, "rank": 2},
    "tucker2_conv": {"in_channels": 8, "out_channels": 8, "in_height": 8, "in_width": 8,
                     "kernel_h": 3, "kernel_w": 3, "rank_in": 2, "rank_out": 2},
}

DATE = object()  # stands for a TOML date: a value of a type no record field takes


def toml_value(value: object) -> str:
    """Any nested dict / list / scalar as one TOML inline value: the project's writer for
    scalars, dates and inline tables here (the project writes neither)."""
    if value is DATE:
        return "1979-05-27"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}"
                               for k, v in value.items()) + "}"
    return write_value(value)


def toml_document(document: dict[str, object]) -> str:
    return "".join(f"{toml_value(k)} = {toml_value(v)}\n" for k, v in document.items())


def spec_problems(path: Path) -> list[Problem]:
    with pytest.raises(SpecError) as info:
        load_hardware(path)
    assert path.name in str(info.value)
    return info.value.problems


def workload_problems(text: str) -> list[Problem]:
    with pytest.raises(WorkloadError) as info:
        loads_workload_toml(text, "net.toml")
    assert "net.toml" in str(info.value)
    assert all(p.where.startswith("net.toml") for p in info.value.problems)
    return info.value.problems


# --------------------------------------------------------------------------------------------
# 1. Hardware values that are not finite or absurdly large
# --------------------------------------------------------------------------------------------

BAD_HARDWARE = [
    ("fpga", "clock_mhz", "nan", f"(0, {MAX_CLOCK_MHZ:g}]"),
    ("fpga", "clock_mhz", "1e30", f"(0, {MAX_CLOCK_MHZ:g}]"),
    ("fpga", "clock_mhz", "-inf", f"(0, {MAX_CLOCK_MHZ:g}]"),
    ("fpga", "dram_bytes_per_cycle", "inf", f"(0, {MAX_DRAM_BYTES_PER_CYCLE:g}]"),
    ("fpga", "dram_bytes_per_cycle", "1e30", f"(0, {MAX_DRAM_BYTES_PER_CYCLE:g}]"),
    ("fpga", "dram_bytes_per_cycle", str(10**400), f"(0, {MAX_DRAM_BYTES_PER_CYCLE:g}]"),
    ("fpga", "lut", str(2**70), f"[1, {MAX_COUNT}]"),
    ("fpga", "uram", str(2**63), f"[0, {MAX_COUNT}]"),
    ("dsp_core", "input_buffer_depth", str(2**63), f"[1, {MAX_COUNT}]"),
    ("dsp_core", "block_rows", str(2**40), f"[1, {MAX_ARRAY_DIM}]"),
    ("lut_core", "rows", str(2**20), f"[1, {MAX_ARRAY_DIM}]"),
    ("lut_core", "act_buffer_depth", str(10**30), f"[1, {MAX_COUNT}]"),
    ("systolic_array", "cols", str(10**30), f"[1, {MAX_ARRAY_DIM}]"),
    ("systolic_array", "ifmap_sram_kib", str(2**62), f"[1, {MAX_COUNT}]"),
    ("gpu", "memory_gbps", "nan", "(0, "),
    ("gpu", "peak_tflops", "inf", "(0, "),
    ("lstm_accelerator", "area_mm2", "1e30", "(0, "),
    ("lstm_accelerator", "pes", str(2**64), f"[1, {MAX_ARRAY_DIM}]"),
]


@pytest.mark.parametrize(("section", "key", "value", "accepted"), BAD_HARDWARE)
def test_hardware_value_out_of_range(tmp_path, section, key, value, accepted):
    def table(fields: dict[str, object]) -> str:
        return "".join(f"{k} = {toml_value(v)}\n" for k, v in fields.items() if k != key)

    base = "[fpga]\n" + table(FPGA)
    if section == "fpga":
        base += f"{key} = {value}\n"
    else:
        base += f"[{section}]\n{table(COMPONENT_BASE.get(section, {}))}{key} = {value}\n"
    path = tmp_path / "board.toml"
    path.write_text(PRESET + base)
    (problem,) = spec_problems(path)
    assert problem.where == f"board.toml: [{section}] {key}"
    assert accepted in problem.message
    assert str(problem).endswith(f"(got {problem.value!r})")
    parsed = tomllib.loads(f"x = {value}")["x"]
    assert problem.value == parsed or (math.isnan(parsed) and math.isnan(problem.value))


@pytest.mark.parametrize(("cls", "kwargs", "field"), [
    (FpgaDevice, {**FPGA, "clock_mhz": math.nan}, "clock_mhz"),
    (FpgaDevice, {**FPGA, "dram_bytes_per_cycle": math.inf}, "dram_bytes_per_cycle"),
    (FpgaDevice, {**FPGA, "clock_mhz": 1e30}, "clock_mhz"),
    (FpgaDevice, {**FPGA, "dsp": 2**63}, "dsp"),
    (DspCore, {"weight_buffer_depth": 2**40}, "weight_buffer_depth"),
    (DspCore, {"weight_bits": 8.5}, "weight_bits"),
    (SystolicArray, {"rows": 2**17}, "rows"),
    (Gpu, {"model": "g", "peak_tflops": 1.0, "memory_gbps": math.nan, "memory_gib": 1.0},
     "memory_gbps"),
    (LstmAccelerator, {"clock_mhz": math.inf}, "clock_mhz"),
])
def test_records_refuse_out_of_range_values(cls, kwargs, field):
    with pytest.raises(SpecError) as info:
        cls(**kwargs)
    assert [p.field for p in info.value.problems] == [field]


def test_bounds_leave_real_hardware_alone():
    FpgaDevice(**{**FPGA, "lut": 18_500_000, "clock_mhz": MAX_CLOCK_MHZ,
                  "dram_bytes_per_cycle": MAX_DRAM_BYTES_PER_CYCLE})
    SystolicArray(rows=256, cols=256, clock_mhz=940.0)
    Gpu("H200", peak_tflops=1979.0, memory_gbps=4800.0, memory_gib=141.0, sm_count=132)


# --------------------------------------------------------------------------------------------
# 2. Files that are not TOML text, and TOML of the wrong shape
# --------------------------------------------------------------------------------------------


def _bad_files(tmp_path: Path) -> list[tuple[Path, str]]:
    directory = tmp_path / "dir.toml"
    directory.mkdir()
    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(256)))
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('[preset]\nname = "caf\u00e9"\n'.encode("latin-1"))
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    big = tmp_path / "big.toml"
    with big.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    nested = tmp_path / "nested.toml"
    nested.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    return [(directory, "is a directory"), (binary, "not UTF-8"), (latin1, "not UTF-8"),
            (fifo, "not a regular file"), (big, "bytes"), (Path("/dev/zero"), "regular file"),
            (nested, "nested too deeply"), (tmp_path / "missing.toml", "no such file"),
            (tmp_path / "nul\x00.toml", "not a valid path")]


@pytest.mark.parametrize("loader", ["hardware", "workload"])
def test_files_that_are_not_toml_text(tmp_path, loader):
    for path, reason in _bad_files(tmp_path):
        error = SpecError if loader == "hardware" else WorkloadError
        with pytest.raises(error) as info:
            (load_hardware if loader == "hardware" else load_workload_toml)(path)
        message = str(info.value)
        assert reason in message, (path, message)
        assert path.name.replace("\x00", "\\x00") in message, (path, message)


HARDWARE_SHAPES = [
    ("fpga = 5\n", "board.toml: [fpga]", "must be a table"),
    ("fpga = [{part = 'x'}]\n", "board.toml: [fpga]", "must be a table"),
    ("preset = 5\n", "board.toml: [preset]", "must be a table"),
    ("preset = [1, 2]\n", "board.toml: [preset]", "must be a table"),
    ("[fpga]\nlut = [[1]]\n", "board.toml: [fpga] lut", "must be an integer"),
    ("[fpga]\nclock_mhz = [1.0]\n", "board.toml: [fpga] clock_mhz", "must be a number"),
    ("[fpga]\npart = {a = 1}\n", "board.toml: [fpga] part", "must be a string"),
    ("[fpga]\nlut = 1979-05-27\n", "board.toml: [fpga] lut", "must be an integer"),
    ("[fpga.lut]\nx = 1\n", "board.toml: [fpga] lut", "must be an integer"),
]


@pytest.mark.parametrize(("text", "where", "message"), HARDWARE_SHAPES)
def test_hardware_toml_of_the_wrong_shape(tmp_path, text, where, message):
    path = tmp_path / "board.toml"
    if text.startswith("preset"):
        path.write_text(text)
    elif text.startswith("["):
        path.write_text(PRESET + text)
    else:  # a top-level key: before any table
        path.write_text(text + PRESET)
    problems = spec_problems(path)
    assert any(p.where == where and message in p.message for p in problems), problems


WORKLOAD_SHAPES = [
    ("layers = [1, 2]\n" + WORKLOAD, "net.toml: [[layers]]", "array of tables"),
    ('layers = ["conv"]\n' + WORKLOAD, "net.toml: [[layers]]", "array of tables"),
    ("layers = 5\n" + WORKLOAD, "net.toml: [[layers]]", "array of tables"),
    (WORKLOAD + "[layers]\nkind = 'linear'\n", "net.toml: [[layers]]", "array of tables"),
    ("workload = 5\n[[layers]]\nkind = 'matmul'\nname = 'a'\nm = 1\nn = 1\nk = 1\n",
     "net.toml: [workload]", "must be a table"),
    (WORKLOAD + "[[layers]]\nkind = ['linear']\n", "net.toml: layers[0] kind", "unknown"),
    (WORKLOAD + "[[layers]]\nkind = 'linear'\nname = 'fc'\nin_features = [[8]]\n"
     "out_features = 2\n", "net.toml: layers[0] 'fc' in_features", "must be an integer"),
    (WORKLOAD + "[[layers]]\nkind = 'tt_linear'\nname = 't'\nin_modes = [[2]]\n"
     "out_modes = [2]\nranks = [1, 1]\n", "net.toml: layers[0] 't' in_modes", "array of"),
    (WORKLOAD + "[[layers]]\nkind = 'linear'\nname = 5\nin_features = 1\nout_features = 1\n",
     "net.toml: layers[0] name", "must be a string"),
    (WORKLOAD + "[[layers]]\nkind = 'linear'\nname = 'a'\nin_features = 1\nout_features = 1\n"
     "inputs = 'b'\n", "net.toml: layers[0] 'a' inputs", "array of layer names"),
    (WORKLOAD + "[[layers]]\nkind = 'linear'\nname = 'a'\nin_features = 1\nout_features = 1\n"
     "[layers.inputs]\nx = 1\n", "net.toml: layers[0] 'a' inputs", "array of layer names"),
]


@pytest.mark.parametrize(("text", "where", "message"), WORKLOAD_SHAPES)
def test_workload_toml_of_the_wrong_shape(tmp_path, text, where, message):
    problems = workload_problems(text)
    assert any(p.where == where and message in p.message for p in problems), problems
    path = tmp_path / "net.toml"
    path.write_text(text)
    with pytest.raises(WorkloadError, match=r"net\.toml"):
        load_workload_toml(path)


def test_loads_workload_toml_with_a_lone_surrogate():
    problems = workload_problems(WORKLOAD + '[[layers]]\nkind = "\ud800"\n')
    assert "surrogate" in problems[0].message


# --------------------------------------------------------------------------------------------
# 3. Layer sizes that overflow int64
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "field"), [
    (lambda: Conv2d("c", 2**40, 8, 8, 8, 3, 3), "in_channels"),
    (lambda: Conv2d("c", 8, 8, 2**70, 8, 3, 3), "in_height"),
    (lambda: Linear("l", 8, 8, tokens=2**63), "tokens"),
    (lambda: TTLinear("t", (2**40, 2), (2, 2), (1, 2, 1)), "in_modes"),
    (lambda: TTLinear("t", (2, 2), (2, 2), (1, 2**40, 1)), "ranks"),
    (lambda: MoEExperts("m", 8, 16, 2**31 + 1, 2), "experts"),
    # every size in range, the product is not
    (lambda: Conv2d("c", 2**20, 2**20, 2**20, 2**20, 1, 1), "macs"),
    (lambda: Linear("l", MAX_DIM, MAX_DIM, tokens=MAX_DIM), "macs"),
    (lambda: TTLinear("t", (2**31,) * 4, (2**31,) * 4, (1, 2, 2, 2, 1)), "macs"),
    (lambda: MoEExperts("m", 2**30, 2**30, 64, 8, tokens=2**20), "macs"),
])
def test_layer_sizes_that_overflow(make, field):
    with pytest.raises(WorkloadError) as info:
        make()
    assert [p.field for p in info.value.problems] == [field]


def test_gemm_refuses_beyond_int64():
    for kwargs in ({"m": 2**63, "n": 1, "k": 1}, {"m": 2**32, "n": 2**32, "k": 1}):
        with pytest.raises(WorkloadError):
            Gemm(**kwargs)


def test_largest_layer_fits_int64():
    layer = Linear("l", 2**17, 2**18, tokens=2**18)
    assert layer.macs == MAX_MACS


def test_huge_layer_in_a_file_names_file_layer_and_key():
    (problem,) = workload_problems(WORKLOAD + "[[layers]]\nkind = 'linear'\nname = 'fc'\n"
                                   f"in_features = 8\nout_features = 8\ntokens = {10**30}\n")
    assert problem.where == "net.toml: layers[0] 'fc' tokens"
    assert f"[1, {MAX_DIM}]" in problem.message


def test_layers_whose_total_macs_overflow_int64():
    layer = ("[[layers]]\nkind = 'linear'\nname = 'l{i}'\nin_features = 131072\n"
             "out_features = 262144\ntokens = 262144\n")
    text = WORKLOAD + "".join(layer.format(i=i) for i in range(1025))
    (problem,) = workload_problems(text)
    assert problem.where == "net.toml: [[layers]]"
    assert "int64" in problem.message


# --------------------------------------------------------------------------------------------
# 4. Fuzz: random TOML documents raise only the project's errors, naming the file
# --------------------------------------------------------------------------------------------

KEYS = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=6),
                 st.sampled_from(["name", "kind", "inputs", "part", "lut", "rows"]))
_INTS = st.sampled_from([0, -1, 1, 2, 16, 64, 2**16 + 1, 2**20, 2**31, 2**31 + 1, 2**53, 2**63,
                         -(2**63), 10**30, 10**400])
NUMBERS = st.one_of(
    st.integers(), _INTS, _INTS, st.integers(min_value=1, max_value=2**31),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e30, 1e7, 0.5]),
)
SCALARS = st.one_of(
    NUMBERS,
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
    st.sampled_from([*sorted(LAYER_TYPES), "ws", "tie", "fdht", ""]),
    st.booleans(),
    st.just(DATE),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(KEYS, inner, max_size=3), max_leaves=6)


def _mutated(
    base: dict[str, Any], names: list[str], others: tuple[str, ...] = ()
) -> st.SearchStrategy[dict[str, Any]]:
    """A valid table with a few keys dropped, replaced or added: mostly a record field set to a
    bad scalar (to reach the records' range checks), sometimes anything."""
    numeric = [n for n in names if n not in ("name", "model", "part")] or names
    edits = st.one_of(st.dictionaries(st.sampled_from(numeric), NUMBERS, max_size=2),
                      st.dictionaries(st.sampled_from(numeric), NUMBERS, max_size=2),
                      st.dictionaries(st.sampled_from(names), SCALARS, max_size=2),
                      st.dictionaries(st.sampled_from([*names, *others, "bogus"]) | KEYS,
                                      VALUES, max_size=2))
    drops = st.just(set()) | st.sets(st.sampled_from(sorted(base) or ["_"]), max_size=1)
    return st.builds(lambda e, d: {**{k: v for k, v in base.items() if k not in d}, **e},
                     edits, drops)


def _fields(cls: type) -> list[str]:
    return [name for name in cls.__dataclass_fields__ if not name.startswith("_")]


COMPONENT_BASE: dict[str, dict[str, Any]] = {
    "preset": {"name": "p"}, "fpga": FPGA,
    "gpu": {"model": "g", "peak_tflops": 1.0, "memory_gbps": 1.0, "memory_gib": 1.0},
}
SECTIONS = {name: _mutated(COMPONENT_BASE.get(name, {}), _fields(cls))
            for name, cls in COMPONENTS.items()}
SECTIONS["preset"] = _mutated(COMPONENT_BASE["preset"], ["name", "description", "source"])
_STRUCTURED_HARDWARE = st.fixed_dictionaries(
    {"preset": SECTIONS["preset"]},
    optional={n: s for n, s in SECTIONS.items() if n != "preset"})
HARDWARE_DOCS = st.one_of(
    _STRUCTURED_HARDWARE, _STRUCTURED_HARDWARE, _STRUCTURED_HARDWARE,
    st.fixed_dictionaries({}, optional={n: s | VALUES for n, s in SECTIONS.items()}),
    st.dictionaries(KEYS, VALUES, max_size=4),
)

LAYER_TABLES = st.one_of(*(
    _mutated({"kind": kind, "name": f"l{i}", **fields}, _fields(LAYER_TYPES[kind]),
             ("kind", "inputs"))
    for i, (kind, fields) in enumerate(LAYERS.items())))
_STRUCTURED_WORKLOAD = st.fixed_dictionaries({
    "workload": st.just({"name": "w"}),
    "layers": st.lists(LAYER_TABLES, min_size=1, max_size=4)})
WORKLOAD_DOCS = st.one_of(
    _STRUCTURED_WORKLOAD, _STRUCTURED_WORKLOAD, _STRUCTURED_WORKLOAD,
    st.fixed_dictionaries({}, optional={
        "workload": _mutated({"name": "w"}, ["name", "description", "source"]) | VALUES,
        "layers": st.lists(LAYER_TABLES | VALUES, max_size=4) | VALUES}),
    st.dictionaries(KEYS, VALUES, max_size=4),
)

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _check_error(err: CodesignError, filename: str) -> None:
    assert filename in str(err)
    if isinstance(err, RecordError):
        assert err.problems
        assert all(p.where.startswith(filename) for p in err.problems), err


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def _load_hardware_text(data: bytes, folder: Path) -> None:
    path = folder / "fuzz_board.toml"
    path.write_bytes(data)
    try:
        load_hardware(path)
    except CodesignError as err:
        _check_error(err, "fuzz_board.toml")


def _load_workload_text(data: bytes, folder: Path) -> None:
    path = folder / "fuzz_net.toml"
    path.write_bytes(data)
    try:
        workload = load_workload_toml(path)
    except CodesignError as err:
        _check_error(err, "fuzz_net.toml")
    else:
        assert (workload.to_arrays().macs >= 1).all()  # nothing wrapped in int64
        assert 1 <= workload.macs < 2**63


def test_fuzz_bases_are_valid(scratch):
    for kind, fields in LAYERS.items():
        text = toml_document({"workload": {"name": "w"},
                              "layers": [{"kind": kind, "name": "x", **fields}]})
        assert len(loads_workload_toml(text)) == 1
    path = scratch / "base.toml"
    path.write_text(toml_document({"preset": {"name": "p"}, "fpga": FPGA}))
    assert load_hardware(path).fpga is not None


@FUZZ
@given(document=HARDWARE_DOCS)
def test_fuzz_hardware_documents(scratch, document):
    _load_hardware_text(toml_document(document).encode(), scratch)


@FUZZ
@given(document=WORKLOAD_DOCS)
def test_fuzz_workload_documents(scratch, document):
    text = toml_document(document)
    _load_workload_text(text.encode(), scratch)
    try:
        loads_workload_toml(text, "fuzz.toml")
    except CodesignError as err:
        _check_error(err, "fuzz.toml")


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=64) | st.text(max_size=32).map(lambda t: t.encode("utf-8",
                                                                                 "surrogatepass")))
def test_fuzz_raw_bytes(scratch, data):
    _load_hardware_text(data, scratch)
    _load_workload_text(data, scratch)
    try:
        loads_workload_toml(data.decode("utf-8", "surrogatepass"), "fuzz.toml")
    except UnicodeDecodeError:
        pass  # not text: loads_workload_toml takes a str
    except CodesignError as err:
        _check_error(err, "fuzz.toml")


def test_a_workload_whose_total_macs_overflow_int64_is_refused():
    from hwsim.errors import WorkloadError
    from hwsim.ir import Workload
    from hwsim.ir.layers import Linear

    layers = tuple(Linear(f"l{i}", 2**20, 2**20, tokens=2**13) for i in range(1100))
    with pytest.raises(WorkloadError, match="exceed int64"):
        Workload("huge", layers)
