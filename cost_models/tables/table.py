"""``LatencyTable``: measured per-layer latencies of one device, its metadata, and the file that
keeps them (JSON, extension ``.table``).

A row is one layer *shape* (the layer record without its name: :func:`layer_key`) at one dtype,
with the median of its timed runs and their spread (25th and 75th percentiles), so any workload
whose layers have those shapes can be costed from it, whatever they are called. Rows marked
``sample`` were measured on shapes drawn for the predictor (:mod:`cost_models.tables.predict`),
not taken from a network.

The metadata says what was measured and how: device (``cpu``, ``cuda:0``), its name, torch
version, threads, dtypes, the timing protocol (warm-up, repeats, statistic), date, the host;
``network`` rows hold whole-network measurements (the layers run back to back) beside the sum of
their rows, so the table states how far the sum of layers is from the network.

File format (a complete example is in ``docs/file-formats.md``)::

    {"format": "codesign-latency-table", "version": 1,
     "metadata": {"device": "cpu", "device_name": "...", "torch": "2.13.0", "threads": 1,
                  "dtypes": ["fp32"], "protocol": {"warmup": 5, "repeats": 30, ...},
                  "created": "2026-12-01T01:00:00+00:00", "host": "...", "workloads": [...]},
     "rows": [{"key": "conv|in_channels=64,...", "kind": "conv", "dtype": "fp32",
               "median_ms": 0.41, "p25_ms": 0.40, "p75_ms": 0.43, "repeats": 30,
               "macs": 115605504, "sample": false}, ...],
     "networks": [{"workload": "resnet18", "ranks": null, "dtype": "fp32",
                   "measured_ms": 31.2, "sum_ms": 30.8}]}
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError, Problem, RecordError
from hwsim.ir.layers import Layer

FORMAT = "codesign-latency-table"
VERSION = 1
DTYPES = ("fp32", "bf16", "fp16")
"""The dtypes a table may hold rows for (torch's float32, bfloat16, float16)."""


class TableError(RecordError):
    """A latency table file (or a row of one) is malformed; every problem is listed."""


def layer_key(layer: Layer) -> str:
    """The shape of ``layer`` as a string: its kind and every field but the name, in field
    order, e.g. ``linear|in_features=512,out_features=1000,tokens=1``. Two layers with the same
    key cost the same on a device."""
    parts = [f"{f.name}={getattr(layer, f.name)!r}".replace(" ", "")
             for f in dataclasses.fields(layer)  # type: ignore[arg-type]
             if f.name != "name"]
    return f"{layer.kind}|{','.join(parts)}"


@dataclass(frozen=True, slots=True)
class Row:
    """One measured layer shape at one dtype (times in milliseconds)."""

    key: str
    kind: str
    dtype: str
    median_ms: float
    p25_ms: float
    p75_ms: float
    repeats: int
    macs: int
    sample: bool = False

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        for name in ("key", "kind"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                problems.append(Problem(name, getattr(self, name), "must be a non-empty string"))
        if self.dtype not in DTYPES:
            problems.append(Problem("dtype", self.dtype, f"must be one of {DTYPES}"))
        for name in ("median_ms", "p25_ms", "p75_ms"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) \
                    or v <= 0:
                problems.append(Problem(name, v, "must be a finite number > 0 (milliseconds)"))
        if not problems and not self.p25_ms <= self.median_ms <= self.p75_ms:
            problems.append(Problem("median_ms", self.median_ms,
                                    f"must lie between p25_ms {self.p25_ms} and p75_ms "
                                    f"{self.p75_ms}"))
        for name in ("repeats", "macs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (1 if name == "repeats"
                                                                     else 0):
                problems.append(Problem(name, v, "must be an int >= "
                                        + ("1" if name == "repeats" else "0")))
        if not isinstance(self.sample, bool):
            problems.append(Problem("sample", self.sample, "must be true or false"))
        if problems:
            raise TableError("latency table row", problems)

    @property
    def spread(self) -> float:
        """Interquartile range over the median (0.05 = the middle half within 5 %)."""
        return (self.p75_ms - self.p25_ms) / self.median_ms


@dataclass(frozen=True, slots=True)
class NetworkRow:
    """A whole network timed end to end beside the sum of its layers' rows."""

    workload: str
    dtype: str
    measured_ms: float
    sum_ms: float
    ranks: tuple[int | None, ...] | None = None

    @property
    def gap(self) -> float:
        """``sum_ms / measured_ms - 1``: how far the sum of layers is from the network."""
        return self.sum_ms / self.measured_ms - 1.0


@dataclass(frozen=True)
class LatencyTable:
    """Rows, whole-network rows and metadata; see the module docstring."""

    metadata: Mapping[str, Any]
    rows: tuple[Row, ...]
    networks: tuple[NetworkRow, ...] = ()
    path: str = ""
    _index: dict[tuple[str, str], Row] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], Row] = {}
        for row in self.rows:
            index[(row.key, row.dtype)] = row
        object.__setattr__(self, "_index", index)

    @property
    def device(self) -> str:
        return str(self.metadata.get("device", "?"))

    @property
    def dtypes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.dtype for r in self.rows))

    def get(self, layer: Layer | str, dtype: str) -> Row | None:
        """The row of ``layer`` (or a :func:`layer_key`) at ``dtype``, or None."""
        key = layer if isinstance(layer, str) else layer_key(layer)
        return self._index.get((key, dtype))

    def network_rows(self) -> tuple[Row, ...]:
        """Rows measured from networks (not predictor samples)."""
        return tuple(r for r in self.rows if not r.sample)

    def merged(self, other: LatencyTable) -> LatencyTable:
        """This table with ``other``'s rows added (``other`` wins on equal keys)."""
        rows = {(r.key, r.dtype): r for r in self.rows}
        rows.update({(r.key, r.dtype): r for r in other.rows})
        return dataclasses.replace(self, rows=tuple(rows.values()),
                                   networks=self.networks + other.networks)

    # ------------------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "metadata": dict(self.metadata),
                "rows": [dataclasses.asdict(r) for r in self.rows],
                "networks": [{**dataclasses.asdict(n),
                              "ranks": None if n.ranks is None else list(n.ranks)}
                             for n in self.networks]}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path


def _rows(items: Iterable[Any], where: str) -> tuple[list[Row], list[Problem]]:
    rows, problems = [], []
    names = {f.name for f in dataclasses.fields(Row)}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(Problem(f"rows[{i}]", item, "must be a table (JSON object)", where))
            continue
        unknown = sorted(set(item) - names)
        missing = sorted(n for n in names - set(item) if n != "sample")
        if unknown or missing:
            problems.append(Problem(f"rows[{i}]", sorted(item), f"unknown fields {unknown}, "
                                    f"missing {missing}", where))
            continue
        try:
            rows.append(Row(**item))
        except TableError as exc:
            problems += [Problem(f"rows[{i}].{p.field}", p.value, p.message, where)
                         for p in exc.problems]
    return rows, problems


def load_table(path: str | Path) -> LatencyTable:
    """Read a ``.table`` file; raises :class:`TableError` naming the file, the field and the
    value of every problem, or :class:`~hwsim.errors.CodesignError` when it cannot be read."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CodesignError(f"latency table {path} does not exist (build one with "
                            f"`codesign tables build`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodesignError(f"latency table {path}: not a readable JSON file ({exc})") from None
    where = str(path)
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise TableError(where, [Problem("(file)", type(data).__name__,
                                         "must be a JSON object", where)])
    if data.get("format") != FORMAT:
        problems.append(Problem("format", data.get("format"), f"must be {FORMAT!r}", where))
    if data.get("version") != VERSION:
        problems.append(Problem("version", data.get("version"),
                                f"this codesign reads version {VERSION}", where))
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        problems.append(Problem("metadata", metadata, "must be a table (JSON object)", where))
        metadata = {}
    items = data.get("rows")
    if not isinstance(items, list) or not items:
        problems.append(Problem("rows", items, "must be a non-empty list of rows", where))
        items = []
    rows, row_problems = _rows(items, where)
    problems += row_problems
    networks = []
    for i, n in enumerate(data.get("networks") or []):
        try:
            ranks = n.get("ranks")
            networks.append(NetworkRow(str(n["workload"]), str(n["dtype"]),
                                       float(n["measured_ms"]), float(n["sum_ms"]),
                                       None if ranks is None else tuple(ranks)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(Problem(f"networks[{i}]", n, f"malformed ({exc})", where))
    if problems:
        raise TableError(where, [dataclasses.replace(p, where=f"{where}: {p.field}")
                                 for p in problems])
    return LatencyTable(metadata, tuple(rows), tuple(networks), str(path))


def table_from_rows(rows: Sequence[Row], metadata: Mapping[str, Any],
                    networks: Sequence[NetworkRow] = ()) -> LatencyTable:
    return LatencyTable(dict(metadata), tuple(rows), tuple(networks))


__all__ = ["DTYPES", "FORMAT", "VERSION", "LatencyTable", "NetworkRow", "Row", "TableError",
           "layer_key", "load_table", "table_from_rows"]
