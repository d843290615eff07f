"""Latency tables: measured per-layer latencies of a device (:mod:`.table`, the file format;
:mod:`.measure`, building one with torch), a predictor for shapes not measured
(:mod:`.predict`), HAQ's ``.npy`` table layout in and out (:mod:`.haq`)."""

from cost_models.tables.table import (
    DTYPES,
    LatencyTable,
    NetworkRow,
    Row,
    TableError,
    layer_key,
    load_table,
)

__all__ = ["DTYPES", "LatencyTable", "NetworkRow", "Row", "TableError", "layer_key",
           "load_table"]
