"""``topoact anomalies RUN [--layers L1,L2] [--top K] --out FILE.csv [--format topoact|cleanlab|fiftyone]``."""
from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_anomalies_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="run directory")
    parser.add_argument("--layers", help="comma-separated layers (default: all stored layers)")
    parser.add_argument("--top", type=int, help="keep only the K rows with the highest label_issue")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--format", choices=["topoact", "cleanlab", "fiftyone"], default="topoact",
                        help="column names: topoact's, cleanlab Datalab's or FiftyOne Brain's (see README)")
    parser.add_argument("--k", type=int, default=10, help="neighbours for the deep k-NN distance (default 10)")
    parser.add_argument("--label-threshold", type=float, help="flag label_issue from this score (default 0.5)")
    parser.add_argument("--outlier-threshold", type=float, help="flag outlier from this score (default 0.95)")
    parser.add_argument("--duplicate-threshold", type=float, help="flag duplicate from this score (default 0.995)")


def run_anomalies_command(args) -> int:
    from ..store import open_run
    from .export import FORMATS
    from .finder import anomalies, run_kinds

    if args.top is not None and args.top < 1:
        raise ValueError(f"--top must be at least 1, got {args.top}")
    thresholds = {kind: value for kind, value in (("label_issue", args.label_threshold),
                                                  ("outlier", args.outlier_threshold),
                                                  ("duplicate", args.duplicate_threshold)) if value is not None}
    run = open_run(args.run_dir)
    kinds = run_kinds(run)
    if "label_issue" not in kinds:
        print("label issues left out: the data set's classes were not matched onto the model's")
    table = anomalies(run, args.layers, kinds=kinds, k=args.k, thresholds=thresholds)
    if args.top is not None:
        table = table.head(args.top)
    FORMATS[args.format](table).to_csv(args.out, index=False)
    flagged = {name: int(table[f"is_{name}"].sum()) for name in ("label_issue", "outlier", "duplicate")}
    print(f"{len(table)} rows written to {args.out} ({args.format} columns); flagged: "
          + ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in flagged.items()))
    return 0
