"""``codesign tables``: build measured latency tables with torch, show them, export them in
other tools' layouts (:mod:`cost_models.tables`)."""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import time
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError
from rl_search.cli_common import _table, load_workload


def parse_ranks(text: str) -> list[int | str | None]:
    """``16,32,64,full`` -> ``[16, 32, 64, None]``; ``space`` stays ``'space'``."""
    out: list[int | str | None] = []
    for item in (s.strip() for s in text.split(",")):
        if item in ("full", "dense"):
            out.append(None)
        elif item == "space":
            out.append("space")
        else:
            try:
                value = int(item)
            except ValueError:
                value = 0
            if value < 1:
                raise CodesignError(f"--ranks {text!r}: {item!r} is not 'full', 'space' or an "
                                    f"int >= 1")
            out.append(value)
    if not out:
        raise CodesignError("--ranks needs at least one entry")
    return list(dict.fromkeys(out))


def _ranks_label(ranks: Any) -> str:
    if ranks is None:
        return "dense"
    values = {r for r in ranks if r is not None}
    if not values:
        return "dense"
    # a uniform rank r is clipped to each layer's full rank: the largest is r
    return f"rank {max(values)}" if len(values) == 1 else f"rank <={max(values)}"


def short_key(key: str) -> str:
    """A row key as its layer's shape string (``conv2d 64x56x56 -> 64x56x56 k3x3 s1 p1``),
    or the key cut to 70 characters when it does not parse."""
    from hwsim.ir.layers import LAYER_TYPES

    kind, _, fields = key.partition("|")
    try:
        values: dict[str, Any] = {}
        for part in fields.split(","):
            name, _, raw = part.partition("=")
            values[name] = ast.literal_eval(raw)
        layer = LAYER_TYPES[kind]("x", **values)  # type: ignore[call-arg]
        return f"{kind} {layer.shape_str()}"
    except Exception:  # tuples hold commas; anything odd: the raw key, cut
        return key if len(key) <= 70 else key[:67] + "..."


def _spread_summary(rows: Any) -> dict[str, float]:
    spreads = sorted(r.spread for r in rows)
    if not spreads:
        return {}
    return {"median": statistics.median(spreads),
            "p90": spreads[min(len(spreads) - 1, int(0.9 * len(spreads)))],
            "max": spreads[-1]}


def _network_lines(table: Any) -> list[str]:
    return [f"{n.workload} ({_ranks_label(n.ranks)}, {n.dtype}): measured {n.measured_ms:.3f} ms, "
            f"sum of layers {n.sum_ms:.3f} ms, gap {100 * n.gap:+.1f} %"
            for n in table.networks]


def cmd_tables_build(args: argparse.Namespace) -> int:
    from cost_models.tables.measure import Protocol, build_table

    workloads = [load_workload(w) for w in args.workload]
    ranks = parse_ranks(args.ranks)
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    base = Protocol()
    fields: dict[str, Any] = {}
    if args.repeats is not None:
        fields["repeats"] = args.repeats
        fields["max_repeats"] = max(base.max_repeats, args.repeats)
        fields["rounds"] = min(base.rounds, args.repeats)
    if args.warmup is not None:
        fields["warmup"] = args.warmup
    if args.min_seconds is not None:
        fields["min_seconds"] = args.min_seconds
    if args.rounds is not None:
        fields["rounds"] = args.rounds
    protocol = Protocol(**{**{k: getattr(base, k) for k in ("warmup", "repeats", "min_seconds",
                                                            "max_repeats", "rounds")},
                           **fields})
    started = time.perf_counter()
    table = build_table(workloads, device=args.device, ranks=ranks, dtypes=dtypes,
                        threads=args.threads, protocol=protocol, samples=args.samples,
                        seed=args.seed, progress=not args.quiet)
    took = time.perf_counter() - started
    path = table.save(args.out)
    n_samples = sum(r.sample for r in table.rows)
    spread = _spread_summary(table.rows)
    print(f"wrote {path}")
    text = (f"{len(table.rows)} rows ({len(table.rows) - n_samples} from networks, {n_samples} "
            f"samples) on {table.metadata['device']} ({table.metadata['device_name']}, "
            f"{args.threads} thread(s)) in {took:.1f} s; median row spread (p75-p25)/median "
            f"{100 * spread['median']:.1f} %.")
    lines = _network_lines(table)
    if lines:
        text += " Networks (GEMM layers only, glue ops untimed): " + "; ".join(lines) + "."
    print(text)
    return 0


def cmd_tables_show(args: argparse.Namespace) -> int:
    from cost_models.tables import load_table

    table = load_table(args.table)
    counts: dict[str, dict[str, int]] = {}
    for r in table.rows:
        c = counts.setdefault(r.dtype, {"rows": 0, "network": 0, "sample": 0})
        c["rows"] += 1
        c["sample" if r.sample else "network"] += 1
    spread = _spread_summary(table.rows)
    rows = table.rows if args.rows is None else table.rows[:max(0, args.rows)]
    if args.json:
        data = table.to_dict()
        data["networks"] = [{**n, "gap": table.networks[i].gap}
                            for i, n in enumerate(data["networks"])]
        data["rows"] = data["rows"][:len(rows)]
        print(json.dumps({"path": str(args.table), **data, "counts": counts,
                          "spread": spread, "rows_total": len(table.rows)}, indent=2))
        return 0
    meta = table.metadata
    print(f"{args.table}: latency table of {meta.get('device', '?')} "
          f"({meta.get('device_name', '?')}), torch {meta.get('torch', '?')}, "
          f"{meta.get('threads', '?')} thread(s), created {meta.get('created', '?')} on "
          f"{meta.get('host', '?')}")
    print(f"workloads {', '.join(meta.get('workloads', [])) or '-'}; ranks "
          f"{', '.join('full' if r is None else str(r) for r in meta.get('ranks', []))}; "
          f"protocol {json.dumps(meta.get('protocol', {}))}")
    for dtype, c in counts.items():
        print(f"{dtype}: {c['rows']} rows ({c['network']} from networks, {c['sample']} samples)")
    if spread:
        print(f"row spread (p75-p25)/median: median {100 * spread['median']:.1f} %, "
              f"p90 {100 * spread['p90']:.1f} %, max {100 * spread['max']:.1f} %")
    for line in _network_lines(table):
        print(line)
    print()
    print(_table(["layer", "dtype", "median ms", "p25-p75 ms", "repeats", "MACs", "sample"],
                 [(short_key(r.key), r.dtype, r.median_ms, f"{r.p25_ms:.4g}-{r.p75_ms:.4g}",
                   r.repeats, r.macs, "yes" if r.sample else "") for r in rows]))
    if len(rows) < len(table.rows):
        print(f"... {len(table.rows) - len(rows)} more rows (--rows to show more)")
    return 0


def cmd_tables_export(args: argparse.Namespace) -> int:
    if args.format != "haq":
        raise CodesignError(f"--format {args.format!r}: only 'haq' is supported")
    from cost_models.tables.haq import export_haq

    workload = load_workload(args.workload)
    written = export_haq(workload, args.target, Path(args.out))
    print(f"wrote {written} and {written}.layers.json (HAQ latency table of {workload.name} "
          f"on {args.target}: {len(workload.layers)} layers x 8 weight bits x 8 activation "
          f"bits, ms)")
    return 0


def add_parser(sub: Any) -> None:
    """The ``tables`` subcommand and its own subcommands."""
    tables = sub.add_parser("tables", help="measured latency tables: build with torch, show, "
                                           "export")
    tsub = tables.add_subparsers(dest="tables_command", required=True)
    p = tsub.add_parser("build", help="time every layer shape of workloads (and whole "
                                      "networks) with torch")
    p.add_argument("--workload", action="append", required=True,
                   help="a zoo name or workload TOML file (repeat for several)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--ranks", default="full",
                   help="comma list: full (dense), ints (uniform rank), space (every rank of "
                        "the rank design space); default full")
    p.add_argument("--dtypes", default="fp32", help="comma list of fp32, bf16, fp16")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--samples", type=int, default=0,
                   help="also N random conv2d and N linear shapes for the latency predictor")
    p.add_argument("--repeats", type=int, help="timed calls per layer at least (default 30)")
    p.add_argument("--warmup", type=int, help="untimed calls per round (default 3)")
    p.add_argument("--min-seconds", type=float,
                   help="timed seconds per layer at least (default 0.5)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="the .table file to write")
    p.set_defaults(func=cmd_tables_build)
    p = tsub.add_parser("show", help="metadata, networks, spread and rows of a table")
    p.add_argument("table", help="a .table file")
    p.add_argument("--rows", type=int, help="show the first N rows only")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tables_show)
    p = tsub.add_parser("export", help="a workload's latency table in another tool's layout")
    p.add_argument("--workload", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--format", default="haq", choices=("haq",))
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_tables_export)


__all__ = ["add_parser", "parse_ranks", "short_key"]
